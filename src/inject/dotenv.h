/*
 * dotenv.h - .env files: the writer of `tresor export --format env` and the
 * reader of `tresor import --format env`.
 *
 * Every value is written quoted so that a POSIX shell (`set -a; . ./.env`)
 * and python-dotenv read back the same bytes:
 *
 *   NAME='value'   when the value holds no "'", no "\\" pair and does not
 *                  end in "\" (both read single-quoted text as it is);
 *   NAME="value"   otherwise, with '"' and '\' escaped by '\', when the value
 *                  holds no '`' and no '$' that a shell would expand, and
 *                  does not end in '\';
 *
 * and a value that fits neither form (it holds "'" or '\' as well as '`' or
 * an expanding '$', or it ends in '\'), or holds a NUL byte or a carriage return (python-dotenv
 * reads files with universal newlines), or is not UTF-8, is refused.
 * python-dotenv also expands ${NAME} inside values unless it is called with
 * interpolate=False (docs/injection.md).
 *
 * A line "# tresor: secret=NAME key=KEY [type=TYPE]" before a variable
 * records which secret and key it came from, so that import can put it back;
 * both readers take it for a comment.
 *
 * The reader follows python-dotenv's grammar (export prefix, quoted and
 * unquoted keys and values, escapes in double quotes, inline comments
 * after unquoted values, multi-line quoted values).
 */
#ifndef TRESOR_INJECT_DOTENV_H
#define TRESOR_INJECT_DOTENV_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"
#include "inject/sbuf.h"

#define DOTENV_ANNOTATION "# tresor:"

/* True for a name a POSIX shell accepts: [A-Za-z_][A-Za-z0-9_]*. */
bool dotenv_name_valid(const char *name);

/*
 * Appends value (len bytes), quoted as above, to out. TR_EINVAL when no
 * quoting reads back the same in both; then *why (if not NULL) says why,
 * without the value.
 */
enum tr_status dotenv_quote(const char *value, size_t len, struct sbuf *out, const char **why);

/* Appends "NAME=<quoted value>\n"; errors name the variable, never the value. */
enum tr_status dotenv_write(struct sbuf *out, const char *name, const char *value, size_t len, struct tr_error *err);

/* One variable read from a file. */
struct dotenv_entry {
	char *name;
	char *value; /* NUL-terminated, value_len bytes; wiped when cleared */
	size_t value_len;
	char *annotation; /* the text after "# tresor:" of the last such comment
			     since the previous variable, or NULL */
	int line;         /* where the variable starts, from 1 */
};

struct dotenv {
	struct dotenv_entry *items;
	size_t count;
};

/*
 * Reads text (len bytes). A line that python-dotenv could not parse, or a
 * variable without '=', is TR_EINVAL naming the line. out must be empty; it
 * is left empty on failure.
 */
enum tr_status dotenv_parse(const char *text, size_t len, struct dotenv *out, struct tr_error *err);
/* Wipes every value and frees; leaves d empty. */
void dotenv_clear(struct dotenv *d);

#endif
