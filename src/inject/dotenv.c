/*
 * dotenv.c - the .env writer and reader (dotenv.h).
 *
 * The reader is a port of python-dotenv's parser (dotenv/parser.py), regex
 * by regex, so that what it accepts and how it reads each value is what
 * python-dotenv does, including its quirk in quoted values: a backslash
 * before the quote character does not end the value, and when the text ends
 * before a closing quote the last such backslash-quote closes it instead
 * (the regex engine's backtracking). The writer never produces either case.
 */
#include "inject/dotenv.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* ---- characters ---- */

/* Python's \s on ASCII. */
static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || (c >= 0x1c && c <= 0x1f);
}

/* [^\S\r\n]: white space within a line. */
static bool is_hspace(char c)
{
	return is_space(c) && c != '\n' && c != '\r';
}

static bool is_alpha_(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool dotenv_name_valid(const char *name)
{
	size_t i;

	if (!is_alpha_(name[0]))
		return false;
	for (i = 1; name[i]; i++) {
		if (!is_alpha_(name[i]) && !is_digit(name[i]))
			return false;
	}
	return true;
}

static bool utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0, n, k;

	while (i < len) {
		n = s[i] < 0x80             ? 1
		    : (s[i] & 0xe0) == 0xc0 ? 2
		    : (s[i] & 0xf0) == 0xe0 ? 3
		    : (s[i] & 0xf8) == 0xf0 ? 4
					    : 0;
		if (n == 0 || i + n > len || (n == 2 && s[i] < 0xc2))
			return false;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		}
		i += n;
	}
	return true;
}

/* ---- the writer ---- */

/* A '$' that a shell expands inside double quotes, at v[i]. */
static bool shell_expands(const char *v, size_t len, size_t i)
{
	return v[i] == '$' && i + 1 < len &&
	       (is_alpha_(v[i + 1]) || is_digit(v[i + 1]) || strchr("{(@*#?$!-[", v[i + 1]));
}

/* NAME='value': no "'", no "\\" pair, no trailing '\'. */
static bool single_quotes_fit(const char *v, size_t len)
{
	size_t i;

	if (len > 0 && v[len - 1] == '\\')
		return false;
	for (i = 0; i < len; i++) {
		if (v[i] == '\'' || (v[i] == '\\' && i + 1 < len && v[i + 1] == '\\'))
			return false;
	}
	return true;
}

/* NAME="value": no '`', no expanding '$', no trailing '\'. */
static bool double_quotes_fit(const char *v, size_t len)
{
	size_t i;

	if (len > 0 && v[len - 1] == '\\')
		return false;
	for (i = 0; i < len; i++) {
		if (v[i] == '`' || shell_expands(v, len, i))
			return false;
	}
	return true;
}

static enum tr_status quote_double(const char *v, size_t len, struct sbuf *out)
{
	enum tr_status st = sbuf_addc(out, '"');
	size_t i;

	for (i = 0; i < len && st == TR_OK; i++) {
		if (v[i] == '"' || v[i] == '\\')
			st = sbuf_addc(out, '\\');
		if (st == TR_OK)
			st = sbuf_addc(out, v[i]);
	}
	if (st == TR_OK)
		st = sbuf_addc(out, '"');
	return st;
}

static enum tr_status quote_single(const char *v, size_t len, struct sbuf *out)
{
	enum tr_status st = sbuf_addc(out, '\'');

	if (st == TR_OK)
		st = sbuf_add(out, v, len);
	if (st == TR_OK)
		st = sbuf_addc(out, '\'');
	return st;
}

enum tr_status dotenv_quote(const char *value, size_t len, struct sbuf *out, const char **why)
{
	const char *reason = NULL;

	if (memchr(value, '\0', len))
		reason = "it holds a NUL byte";
	else if (memchr(value, '\r', len))
		reason = "it holds a carriage return, which python-dotenv reads as a newline";
	else if (!utf8_valid((const unsigned char *)value, len))
		reason = "it is not UTF-8 text";
	else if (single_quotes_fit(value, len))
		return quote_single(value, len, out);
	else if (double_quotes_fit(value, len))
		return quote_double(value, len, out);
	else if (len > 0 && value[len - 1] == '\\')
		reason = "it ends in a backslash, which python-dotenv takes for an escaped closing quote";
	else
		reason =
		    "it holds ' or \\ as well as ` or $, which no quoting reads alike in a shell and python-dotenv";
	if (why)
		*why = reason;
	return TR_EINVAL;
}

enum tr_status dotenv_write(struct sbuf *out, const char *name, const char *value, size_t len, struct tr_error *err)
{
	const char *why = NULL;
	size_t mark = out->len;
	enum tr_status st;

	if (!dotenv_name_valid(name))
		return tr_error_set(err, TR_EINVAL,
				    "'%s' is not a variable name for a .env file ([A-Za-z_][A-Za-z0-9_]*)", name);
	st = sbuf_adds(out, name);
	if (st == TR_OK)
		st = sbuf_addc(out, '=');
	if (st == TR_OK)
		st = dotenv_quote(value, len, out, &why);
	if (st == TR_OK)
		st = sbuf_addc(out, '\n');
	if (st == TR_EINVAL) {
		sodium_memzero(out->data + mark, out->len - mark);
		out->len = mark;
		return tr_error_set(err, TR_EINVAL, "the value of %s cannot be written to a .env file: %s", name, why);
	}
	if (st != TR_OK)
		return tr_error_set(err, st, "out of memory");
	return TR_OK;
}

/* ---- the reader ---- */

struct reader {
	const char *s; /* the text, newlines made "\n" */
	size_t n;
	size_t pos;
	int line;
};

static void advance(struct reader *r, size_t count)
{
	size_t end = r->pos + count;

	for (; r->pos < end; r->pos++) {
		if (r->s[r->pos] == '\n')
			r->line++;
	}
}

static char peek(const struct reader *r)
{
	return r->pos < r->n ? r->s[r->pos] : '\0';
}

static bool at_end(const struct reader *r)
{
	return r->pos >= r->n;
}

static void skip_hspace(struct reader *r)
{
	while (!at_end(r) && is_hspace(peek(r)))
		advance(r, 1);
}

/* (?:export[^\S\r\n]+)? */
static void skip_export(struct reader *r)
{
	size_t k = r->pos + 6;

	if (r->n - r->pos > 6 && memcmp(r->s + r->pos, "export", 6) == 0 && is_hspace(r->s[k])) {
		advance(r, 6);
		skip_hspace(r);
	}
}

/* A binding being read: slices of the text, decoded later. */
struct binding {
	bool comment;    /* the line is a comment (no key) */
	const char *key; /* not NUL-terminated */
	size_t key_len;
	bool has_value;
	char quote;      /* '\'', '"' or 0 for unquoted */
	const char *raw; /* the value as written, without quotes */
	size_t raw_len;
	const char *remark; /* a comment's text after '#' */
	size_t remark_len;
};

/* '([^']+)' or ([^=\#\s]+). Returns false when neither matches. */
static bool read_key(struct reader *r, struct binding *b)
{
	const char *close;
	size_t i = r->pos;

	if (peek(r) == '\'') {
		close = memchr(r->s + i + 1, '\'', r->n - i - 1);
		if (!close || close == r->s + i + 1)
			return false;
		b->key = r->s + i + 1;
		b->key_len = (size_t)(close - b->key);
		advance(r, b->key_len + 2);
		return true;
	}
	while (i < r->n && r->s[i] != '=' && r->s[i] != '#' && !is_space(r->s[i]))
		i++;
	if (i == r->pos)
		return false;
	b->key = r->s + r->pos;
	b->key_len = i - r->pos;
	advance(r, b->key_len);
	return true;
}

/*
 * '((?:\\'|[^'])*)' (or with '"'), as Python's backtracking regex matches
 * it. Returns false when there is no closing quote.
 */
static bool read_quoted(struct reader *r, char q, struct binding *b)
{
	size_t start = r->pos + 1;
	size_t i = start;
	size_t last_cross = 0;
	bool crossed = false;

	while (i < r->n && r->s[i] != q) {
		if (r->s[i] == '\\' && i + 1 < r->n && r->s[i + 1] == q) {
			last_cross = i;
			crossed = true;
			i += 2;
			continue;
		}
		i++;
	}
	if (i >= r->n) {
		if (!crossed)
			return false;
		i = last_cross + 1; /* backtracking: that backslash ends the value */
	}
	b->quote = q;
	b->raw = r->s + start;
	b->raw_len = i - start;
	advance(r, i + 1 - r->pos);
	return true;
}

/* ([^\r\n]*), less an inline comment (\s+#.*), right-stripped. */
static void read_unquoted(struct reader *r, struct binding *b)
{
	size_t i = r->pos;
	size_t end, k;

	while (i < r->n && r->s[i] != '\n')
		i++;
	end = i;
	for (k = r->pos + 1; k < i; k++) {
		if (r->s[k] == '#' && is_space(r->s[k - 1])) {
			end = k - 1;
			while (end > r->pos && is_space(r->s[end - 1]))
				end--;
			break;
		}
	}
	while (end > r->pos && is_space(r->s[end - 1]))
		end--;
	b->quote = 0;
	b->raw = r->s + r->pos;
	b->raw_len = end - r->pos;
	advance(r, i - r->pos);
}

static bool read_value(struct reader *r, struct binding *b)
{
	char c = peek(r);

	b->has_value = true;
	if (c == '\'' || c == '"')
		return read_quoted(r, c, b);
	if (at_end(r) || c == '\n') {
		b->raw = r->s + r->pos;
		b->raw_len = 0;
		return true;
	}
	read_unquoted(r, b);
	return true;
}

/* (?:[^\S\r\n]*#[^\r\n]*)? then [^\S\r\n]*(?:\n|$). */
static bool read_line_end(struct reader *r, struct binding *b)
{
	size_t mark = r->pos;
	int line = r->line;

	skip_hspace(r);
	if (peek(r) == '#') {
		b->remark = r->s + r->pos + 1;
		while (!at_end(r) && peek(r) != '\n')
			advance(r, 1);
		b->remark_len = (size_t)(r->s + r->pos - b->remark);
	} else {
		r->pos = mark;
		r->line = line;
	}
	skip_hspace(r);
	if (at_end(r))
		return true;
	if (peek(r) != '\n')
		return false;
	advance(r, 1);
	return true;
}

/* One binding; false on a parse error (the rest of the line is skipped). */
static bool read_binding(struct reader *r, struct binding *b)
{
	bool ok;

	skip_export(r);
	if (peek(r) == '#') {
		b->comment = true;
		ok = true;
	} else {
		ok = read_key(r, b);
	}
	if (ok && !b->comment) {
		skip_hspace(r);
		if (peek(r) == '=') {
			advance(r, 1);
			skip_hspace(r);
			ok = read_value(r, b);
		}
	}
	if (ok)
		ok = read_line_end(r, b);
	if (!ok) {
		while (!at_end(r) && peek(r) != '\n')
			advance(r, 1);
		if (!at_end(r))
			advance(r, 1);
	}
	return ok;
}

/* The value with its escapes decoded: \\ \' in single quotes; those, \" and
 * \a \b \f \n \r \t \v in double quotes. */
static enum tr_status value_decode(const struct binding *b, struct sbuf *out)
{
	const char *set = b->quote == '\'' ? "\\'" : "\\'\"abfnrtv";
	const char *to = b->quote == '\'' ? "\\'" : "\\'\"\a\b\f\n\r\t\v";
	enum tr_status st = sbuf_add(out, NULL, 0);
	const char *hit;
	size_t i = 0;

	while (i < b->raw_len && st == TR_OK) {
		if (b->quote && b->raw[i] == '\\' && i + 1 < b->raw_len && (hit = strchr(set, b->raw[i + 1])) && *hit) {
			st = sbuf_addc(out, to[hit - set]);
			i += 2;
			continue;
		}
		st = sbuf_addc(out, b->raw[i]);
		i++;
	}
	return st;
}

/* ---- entries ---- */

static enum tr_status entries_grow(struct dotenv *d)
{
	struct dotenv_entry *grown;

	if (d->count % 16 != 0)
		return TR_OK;
	grown = realloc(d->items, (d->count + 16) * sizeof(*grown));
	if (!grown)
		return TR_EINTERNAL;
	d->items = grown;
	return TR_OK;
}

/* Adds the binding as an entry; takes *annotation. */
static enum tr_status entry_add(struct dotenv *d, const struct binding *b, int line, char **annotation)
{
	struct sbuf value = {0};
	struct dotenv_entry *e;

	if (entries_grow(d) != TR_OK || value_decode(b, &value) != TR_OK) {
		sbuf_clear(&value);
		return TR_EINTERNAL;
	}
	e = &d->items[d->count];
	memset(e, 0, sizeof(*e));
	e->name = strndup(b->key, b->key_len);
	e->value_len = value.len;
	e->value = sbuf_take(&value);
	e->line = line;
	e->annotation = *annotation;
	*annotation = NULL;
	d->count++;
	if (!e->name || !e->value)
		return TR_EINTERNAL;
	return TR_OK;
}

/* The text of a "# tresor:" comment, in a fresh string; NULL for others. */
static char *annotation_of(const struct binding *b)
{
	size_t skip = strlen(DOTENV_ANNOTATION) - 1; /* the '#' is not in remark */

	if (b->remark_len < skip || memcmp(b->remark, DOTENV_ANNOTATION + 1, skip) != 0)
		return NULL;
	return strndup(b->remark + skip, b->remark_len - skip);
}

/* Universal newlines, as Python's text mode reads a file. */
static char *newlines_normalize(const char *text, size_t len, size_t *out_len)
{
	char *s = malloc(len + 1);
	size_t i, n = 0;

	if (!s)
		return NULL;
	for (i = 0; i < len; i++) {
		if (text[i] == '\r') {
			s[n++] = '\n';
			if (i + 1 < len && text[i + 1] == '\n')
				i++;
			continue;
		}
		s[n++] = text[i];
	}
	s[n] = '\0';
	*out_len = n;
	return s;
}

static enum tr_status parse_all(struct reader *r, struct dotenv *out, struct tr_error *err)
{
	char *annotation = NULL;
	enum tr_status st = TR_OK;
	struct binding b;
	char *remark;
	int line;

	while (st == TR_OK) {
		while (!at_end(r) && is_space(peek(r)))
			advance(r, 1);
		if (at_end(r))
			break;
		memset(&b, 0, sizeof(b));
		line = r->line;
		if (!read_binding(r, &b))
			st = tr_error_set(err, TR_EINVAL, "line %d: not a .env binding", line);
		else if (b.comment && (remark = annotation_of(&b)) != NULL) {
			free(annotation);
			annotation = remark;
		} else if (!b.comment && !b.has_value)
			st = tr_error_set(err, TR_EINVAL, "line %d: %.*s has no value (no '=')", line, (int)b.key_len,
					  b.key);
		else if (!b.comment && entry_add(out, &b, line, &annotation) != TR_OK)
			st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	free(annotation);
	return st;
}

enum tr_status dotenv_parse(const char *text, size_t len, struct dotenv *out, struct tr_error *err)
{
	struct reader r = {0};
	char *norm = newlines_normalize(text, len, &r.n);
	enum tr_status st;

	if (!norm)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	r.s = norm;
	r.line = 1;
	st = parse_all(&r, out, err);
	sodium_memzero(norm, r.n);
	free(norm);
	if (st != TR_OK)
		dotenv_clear(out);
	return st;
}

void dotenv_clear(struct dotenv *d)
{
	size_t i;

	for (i = 0; i < d->count; i++) {
		free(d->items[i].name);
		if (d->items[i].value) {
			sodium_memzero(d->items[i].value, d->items[i].value_len);
			free(d->items[i].value);
		}
		free(d->items[i].annotation);
	}
	free(d->items);
	d->items = NULL;
	d->count = 0;
}
