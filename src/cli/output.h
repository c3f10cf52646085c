/*
 * output.h - everything the command line prints: tables and key/value
 * listings for people, indented JSON for scripts, errors and warnings on
 * stderr as "tresor: <message>", and the one mapping from an HTTP status
 * (or a struct tr_error) to the exit code (docs/cli.md).
 *
 * Text that came from the server or the user is printed with control
 * characters replaced by '?', so it cannot drive the terminal. Secret
 * values (`secrets reveal`) are the exception and are printed by the
 * command itself, byte for byte.
 */
#ifndef TRESOR_CLI_OUTPUT_H
#define TRESOR_CLI_OUTPUT_H

#include <stddef.h>

#include <jansson.h>

#include "common/status.h"

/* The exit code for an HTTP status: 0 for 2xx, else the table of docs/cli.md. */
int output_exit_code(long http_status);
/* The exit code of a check that ran and found a problem (`audit verify`). */
int output_exit_verify_failed(void);

/* Prints "tresor: <message>" to stderr. */
void output_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints err's message; returns the exit code for its status. */
int output_error(const struct tr_error *err);
/* Prints "tresor: out of memory"; returns the exit code for TR_EINTERNAL. */
int output_no_memory(void);
/* Prints the server's error.message for a non-2xx answer (response may be
 * NULL); returns the exit code for status. */
int output_http_error(long status, const json_t *response);
/* Prints each string of response.warnings as "tresor: warning: <text>". */
void output_warnings(const json_t *response);

/* Prints value to stdout as JSON indented by two spaces; nothing for NULL. */
void output_json(const json_t *value);
/* Prints one line to stdout. */
void output_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* obj[key] when it is a string, else fallback (obj may be NULL). */
const char *output_str(const json_t *obj, const char *key, const char *fallback);
#define OUTPUT_INT_MAX 24
/* obj[key] in decimal when it is an integer, else "-"; written into buf. */
const char *output_int(const json_t *obj, const char *key, char buf[OUTPUT_INT_MAX]);
/* "workspace", "project:P" or "cluster:C" from obj's project and cluster,
 * written into buf. */
const char *output_scope(const json_t *obj, char *buf, size_t size);
/* The strings of array joined by sep, in a fresh string to free(); "" for
 * an empty or missing array; NULL when out of memory. */
char *output_join(const json_t *array, const char *sep);

/* A table with a header row; columns are aligned when it is printed. */
struct output_table;

/* A table of ncols columns named by headers. NULL when out of memory. */
struct output_table *output_table_new(size_t ncols, const char *const *headers);
/* Adds a row of ncols cells (copied; NULL prints as "-"). */
enum tr_status output_table_add(struct output_table *t, const char *const *cells);
/* Prints the table to stdout. */
void output_table_print(const struct output_table *t);
/* Wipes the cells (a table may show a new token) and frees; NULL is fine. */
void output_table_free(struct output_table *t);

#define OUTPUT_SCRATCH 128
/* Fills the cells of one table row from one item of a listing; scratch
 * (OUTPUT_SCRATCH bytes) may back a cell that must be formatted. */
typedef void (*output_row_fn)(const json_t *item, const char **cells, char *scratch);
/* Prints the array resp["data"] as a table, a row per item. */
enum tr_status output_list_table(const json_t *resp, size_t ncols, const char *const *headers, output_row_fn row);

/* One line of a key/value listing (`secrets get`). */
struct output_pair {
	const char *label;
	const char *value; /* NULL prints as "-" */
};

/* Prints "label:  value" lines with the values aligned. */
void output_pairs(const struct output_pair *pairs, size_t n);

#endif
