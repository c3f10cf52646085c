/*
 * output.c - tables, JSON, messages and exit codes of the command line.
 *
 * output_exit_code is the only place that turns an HTTP status into an exit
 * code; errors found without asking the server carry a tr_status, which
 * goes through the same table by way of tr_status_http.
 */
#include "cli/output.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define LINE_MAX_BYTES 2048

/* Exit codes (docs/cli.md). 1, the usage error, is cli.h's CLI_EXIT_USAGE. */
enum {
	EXIT_CODE_OK = 0,
	EXIT_CODE_NOT_FOUND = 2,
	EXIT_CODE_CONFLICT = 3,
	EXIT_CODE_DENIED = 4,
	EXIT_CODE_INVALID = 5,
	EXIT_CODE_SERVER = 6,
	EXIT_CODE_TOO_MANY = 7,
	EXIT_CODE_VERIFY_FAILED = 8,
};

struct output_table {
	size_t ncols;
	size_t nrows;  /* rows after the header */
	size_t cap;    /* rows that fit in cells */
	char **header; /* ncols strings */
	char **cells;  /* nrows * ncols strings */
};

/* ---- exit codes ---- */

int output_exit_code(long http_status)
{
	if (http_status >= 200 && http_status < 300)
		return EXIT_CODE_OK;
	switch (http_status) {
	case 404: return EXIT_CODE_NOT_FOUND;
	case 409: return EXIT_CODE_CONFLICT;
	case 401:
	case 403: return EXIT_CODE_DENIED;
	case 400:
	case 413:
	case 415:
	case 422: return EXIT_CODE_INVALID;
	case 429: return EXIT_CODE_TOO_MANY;
	default: break;
	}
	/* Other 4xx (405, …): our request was wrong. Anything else: the server. */
	if (http_status >= 400 && http_status < 500)
		return EXIT_CODE_INVALID;
	return EXIT_CODE_SERVER;
}

int output_exit_verify_failed(void)
{
	return EXIT_CODE_VERIFY_FAILED;
}

/* ---- text ---- */

/* Replaces control characters in place, so the text cannot drive a terminal. */
static void sanitize(char *text)
{
	unsigned char *p;

	for (p = (unsigned char *)text; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
}

/* A sanitized copy of text; NULL when out of memory. */
static char *sanitized_copy(const char *text)
{
	char *copy = strdup(text);

	if (copy)
		sanitize(copy);
	return copy;
}

/* Characters on screen: UTF-8 continuation bytes do not count. */
static size_t display_width(const char *text)
{
	const unsigned char *p;
	size_t n = 0;

	for (p = (const unsigned char *)text; *p; p++) {
		if ((*p & 0xc0) != 0x80)
			n++;
	}
	return n;
}

static void print_padded(const char *text, size_t width)
{
	size_t n = display_width(text);

	fputs(text, stdout);
	while (n++ < width)
		putchar(' ');
}

/* ---- messages ---- */

static void error_vprint(const char *prefix, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void error_vprint(const char *prefix, const char *fmt, va_list ap)
{
	char line[LINE_MAX_BYTES];

	vsnprintf(line, sizeof(line), fmt, ap);
	sanitize(line);
	fflush(stdout);
	fprintf(stderr, "tresor: %s%s\n", prefix, line);
}

void output_errorf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vprint("", fmt, ap);
	va_end(ap);
}

int output_error(const struct tr_error *err)
{
	output_errorf("%s", err->message[0] ? err->message : tr_status_code(err->status));
	return output_exit_code(tr_status_http(err->status));
}

int output_no_memory(void)
{
	struct tr_error err = {0};

	tr_error_set(&err, TR_EINTERNAL, "out of memory");
	return output_error(&err);
}

int output_http_error(long status, const json_t *response)
{
	const json_t *error = json_object_get(response, "error");
	const char *message = output_str(error, "message", NULL);

	if (message)
		output_errorf("%s", message);
	else
		output_errorf("tresor answered HTTP %ld", status);
	return output_exit_code(status);
}

void output_warnings(const json_t *response)
{
	const json_t *warnings = json_object_get(response, "warnings");
	const json_t *w;
	size_t i;

	json_array_foreach (warnings, i, w) {
		if (json_is_string(w))
			output_errorf("warning: %s", json_string_value(w));
	}
}

void output_json(const json_t *value)
{
	if (!value)
		return;
	json_dumpf(value, stdout, JSON_INDENT(2));
	putchar('\n');
}

void output_line(const char *fmt, ...)
{
	char line[LINE_MAX_BYTES];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	sanitize(line);
	puts(line);
}

/* ---- JSON fields ---- */

const char *output_str(const json_t *obj, const char *key, const char *fallback)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : fallback;
}

const char *output_int(const json_t *obj, const char *key, char buf[OUTPUT_INT_MAX])
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v))
		return "-";
	snprintf(buf, OUTPUT_INT_MAX, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	return buf;
}

const char *output_scope(const json_t *obj, char *buf, size_t size)
{
	const char *project = output_str(obj, "project", NULL);
	const char *cluster = output_str(obj, "cluster", NULL);

	if (project && project[0])
		snprintf(buf, size, "project:%s", project);
	else if (cluster && cluster[0])
		snprintf(buf, size, "cluster:%s", cluster);
	else
		snprintf(buf, size, "workspace");
	return buf;
}

char *output_join(const json_t *array, const char *sep)
{
	const json_t *item;
	size_t len = 1;
	size_t i;
	char *text;

	json_array_foreach (array, i, item) {
		if (json_is_string(item))
			len += json_string_length(item) + strlen(sep);
	}
	text = malloc(len);
	if (!text)
		return NULL;
	text[0] = '\0';
	json_array_foreach (array, i, item) {
		if (!json_is_string(item))
			continue;
		if (text[0])
			strcat(text, sep);
		strcat(text, json_string_value(item));
	}
	return text;
}

/* ---- tables ---- */

static void cells_free(char **cells, size_t n)
{
	size_t i;

	if (!cells)
		return;
	for (i = 0; i < n; i++) {
		if (cells[i])
			sodium_memzero(cells[i], strlen(cells[i]));
		free(cells[i]);
	}
	free(cells);
}

/* Sanitized copies of n cells; NULL when out of memory. */
static char **cells_copy(const char *const *cells, size_t n)
{
	char **copy = calloc(n, sizeof(*copy));
	size_t i;

	if (!copy)
		return NULL;
	for (i = 0; i < n; i++) {
		copy[i] = sanitized_copy(cells[i] ? cells[i] : "-");
		if (!copy[i]) {
			cells_free(copy, n);
			return NULL;
		}
	}
	return copy;
}

struct output_table *output_table_new(size_t ncols, const char *const *headers)
{
	struct output_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ncols = ncols;
	t->header = cells_copy(headers, ncols);
	if (!t->header) {
		free(t);
		return NULL;
	}
	return t;
}

enum tr_status output_table_add(struct output_table *t, const char *const *cells)
{
	char **row = cells_copy(cells, t->ncols);
	char **grown;
	size_t cap;

	if (!row)
		return TR_EINTERNAL;
	if (t->nrows == t->cap) {
		cap = t->cap ? t->cap * 2 : 16;
		grown = realloc(t->cells, cap * t->ncols * sizeof(*grown));
		if (!grown) {
			cells_free(row, t->ncols);
			return TR_EINTERNAL;
		}
		t->cells = grown;
		t->cap = cap;
	}
	memcpy(t->cells + t->nrows * t->ncols, row, t->ncols * sizeof(*row));
	free(row);
	t->nrows++;
	return TR_OK;
}

enum tr_status output_list_table(const json_t *resp, size_t ncols, const char *const *headers, output_row_fn row)
{
	struct output_table *t = output_table_new(ncols, headers);
	enum tr_status st = t ? TR_OK : TR_EINTERNAL;
	char scratch[OUTPUT_SCRATCH];
	const char *cells[16] = {0};
	const json_t *item;
	size_t i;

	if (ncols > sizeof(cells) / sizeof(cells[0]))
		st = TR_EINTERNAL;
	json_array_foreach (json_object_get(resp, "data"), i, item) {
		if (st != TR_OK)
			break;
		row(item, cells, scratch);
		st = output_table_add(t, cells);
	}
	if (st == TR_OK)
		output_table_print(t);
	output_table_free(t);
	return st;
}

/* Prints one row; the last column is not padded. */
static void row_print(char *const *row, const size_t *widths, size_t ncols)
{
	size_t c;

	for (c = 0; c < ncols; c++) {
		if (c + 1 < ncols) {
			print_padded(row[c], widths[c]);
			fputs("  ", stdout);
		} else {
			fputs(row[c], stdout);
		}
	}
	putchar('\n');
}

void output_table_print(const struct output_table *t)
{
	size_t *widths = calloc(t->ncols, sizeof(*widths));
	size_t r, c, w;

	if (!widths)
		return;
	for (c = 0; c < t->ncols; c++)
		widths[c] = display_width(t->header[c]);
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			w = display_width(t->cells[r * t->ncols + c]);
			if (w > widths[c])
				widths[c] = w;
		}
	}
	row_print(t->header, widths, t->ncols);
	for (r = 0; r < t->nrows; r++)
		row_print(t->cells + r * t->ncols, widths, t->ncols);
	free(widths);
}

void output_table_free(struct output_table *t)
{
	if (!t)
		return;
	cells_free(t->header, t->ncols);
	cells_free(t->cells, t->nrows * t->ncols);
	free(t);
}

/* ---- key/value listings ---- */

void output_pairs(const struct output_pair *pairs, size_t n)
{
	size_t width = 0;
	size_t i, w;
	char *value;

	for (i = 0; i < n; i++) {
		w = display_width(pairs[i].label) + 1;
		if (w > width)
			width = w;
	}
	for (i = 0; i < n; i++) {
		value = sanitized_copy(pairs[i].value ? pairs[i].value : "-");
		fputs(pairs[i].label, stdout);
		putchar(':');
		print_padded("", width - display_width(pairs[i].label) - 1);
		fputs("  ", stdout);
		puts(value ? value : "?");
		free(value);
	}
}
