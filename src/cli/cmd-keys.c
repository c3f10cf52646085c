/*
 * cmd-keys.c - `tresor keys rotate|status`, over
 * /v2/secrets/rotate-encryption-keys (docs/api.md, Key rotation): re-wrap
 * every data key under the current provider, and see how far that is.
 *
 * POST answers once its rotation is over. With --wait the command then
 * polls GET until no rotation runs (one started elsewhere, answered 409
 * here, is waited for too), drawing a progress bar on stderr when that is
 * a terminal.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/output.h"

#define ROTATE_PATH "/v2/secrets/rotate-encryption-keys"
#define POLL_MS     500
#define BAR_WIDTH   30
#define EXIT_SERVER 6 /* docs/cli.md: a rotation that left failures */

enum {
	OPT_REENCRYPT = CLI_OPT_VERB_FIRST,
	OPT_WAIT,
};

struct keys_args {
	bool reencrypt; /* --reencrypt: new data keys, values sealed again */
	bool wait;      /* --wait */
};

/* clang-format off */
static const struct option rotate_options[] = {
	{"reencrypt", no_argument, NULL, OPT_REENCRYPT},
	{"wait", no_argument, NULL, OPT_WAIT},
	{NULL, 0, NULL, 0},
};
/* clang-format on */

static int rotate_option(struct cli_ctx *ctx, void *state, int opt, const char *arg)
{
	struct keys_args *a = state;

	(void)arg;
	switch (opt) {
	case OPT_REENCRYPT: a->reencrypt = true; return CLI_CONTINUE;
	case OPT_WAIT: a->wait = true; return CLI_CONTINUE;
	default: return cli_usage_error(ctx, "unknown option");
	}
}

/* ---- progress ---- */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* "rotating [#########.........]  300/1000" on one line of stderr. */
static void bar_draw(const json_t *status)
{
	json_int_t total = json_integer_value(json_object_get(status, "total"));
	json_int_t done = json_integer_value(json_object_get(status, "done"));
	char bar[BAR_WIDTH + 1];
	int filled = total > 0 ? (int)(done * BAR_WIDTH / total) : 0;
	int i;

	if (filled > BAR_WIDTH)
		filled = BAR_WIDTH;
	for (i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[BAR_WIDTH] = '\0';
	fprintf(stderr, "\rrotating [%s] %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT, bar, done, total);
	fflush(stderr);
}

/* GET until running is false; the last answer in *last. */
static int wait_done(struct cli_ctx *ctx, json_t **last)
{
	bool bar = isatty(STDERR_FILENO);
	struct client_path path;
	json_t *status = NULL;
	int rc;

	client_path_init(&path, ROTATE_PATH);
	for (;;) {
		rc = cli_request(ctx, "GET", &path, NULL, NULL, &status);
		if (rc != CLI_CONTINUE)
			break;
		if (bar)
			bar_draw(status);
		if (!json_is_true(json_object_get(status, "running")))
			break;
		json_decref(status);
		status = NULL;
		sleep_ms(POLL_MS);
	}
	if (bar)
		fputc('\n', stderr);
	*last = status;
	return rc;
}

/* ---- printing ---- */

static void rotated_print(const json_t *resp)
{
	char rotated[OUTPUT_INT_MAX], failed[OUTPUT_INT_MAX];

	output_line("rotated %s secret versions, %s failed", output_int(resp, "rotated_secrets", rotated),
		    output_int(resp, "failed", failed));
}

/* After --wait: where the stored versions stand now. */
static void finished_print(const json_t *status)
{
	char done[OUTPUT_INT_MAX], total[OUTPUT_INT_MAX];

	output_line("%s of %s secret versions are under the current provider %s", output_int(status, "done", done),
		    output_int(status, "total", total), output_str(status, "current_provider", "-"));
}

static enum tr_status providers_table(const json_t *status)
{
	static const char *const headers[] = {"PROVIDER", "VERSIONS", "CURRENT"};
	struct output_table *t = output_table_new(3, headers);
	const char *current = output_str(status, "current_provider", "");
	enum tr_status st = t ? TR_OK : TR_EINTERNAL;
	char count[OUTPUT_INT_MAX];
	const char *name;
	json_t *n;

	json_object_foreach (json_object_get(status, "providers"), name, n) {
		const char *row[] = {name, output_int(json_object_get(status, "providers"), name, count),
				     strcmp(name, current) == 0 ? "yes" : "no"};

		(void)n;
		if (st == TR_OK)
			st = output_table_add(t, row);
	}
	if (st == TR_OK)
		output_table_print(t);
	output_table_free(t);
	return st;
}

/* `keys status`: the rotation's state, then versions per provider. */
static enum tr_status status_print(const json_t *status)
{
	char total[OUTPUT_INT_MAX], done[OUTPUT_INT_MAX], remaining[OUTPUT_INT_MAX];
	const struct output_pair pairs[] = {
	    {"rotation", json_is_true(json_object_get(status, "running")) ? "running" : "idle"},
	    {"current provider", output_str(status, "current_provider", NULL)},
	    {"versions", output_int(status, "total", total)},
	    {"done", output_int(status, "done", done)},
	    {"remaining", output_int(status, "remaining", remaining)},
	};

	output_pairs(pairs, sizeof(pairs) / sizeof(pairs[0]));
	output_line("%s", "");
	return providers_table(status);
}

/* ---- the verbs ---- */

/* POST; 409 (a rotation runs already) counts as started when waiting. */
static int rotate_post(struct cli_ctx *ctx, const struct keys_args *a, json_t **resp)
{
	struct client_path path;
	json_t *body = a->reencrypt ? json_pack("{s:b}", "reencrypt", 1) : NULL;
	long status = 0;
	int rc = CLI_CONTINUE;

	client_path_init(&path, ROTATE_PATH);
	*resp = NULL;
	rc = cli_request_any(ctx, "POST", &path, body, &status, resp);
	json_decref(body);
	if (rc != CLI_CONTINUE || (status >= 200 && status < 300))
		return rc;
	if (status == 409 && a->wait) {
		json_decref(*resp);
		*resp = NULL;
		return CLI_CONTINUE;
	}
	rc = output_http_error(status, *resp);
	json_decref(*resp);
	*resp = NULL;
	return rc;
}

int cmd_keys_rotate(struct cli_ctx *ctx, int argc, char **argv)
{
	struct keys_args a = {0};
	json_t *resp = NULL;
	json_t *last = NULL;
	bool failed;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, rotate_options, rotate_option, &a, &args, &nargs);
	if (rc == CLI_CONTINUE)
		rc = rotate_post(ctx, &a, &resp);
	if (rc == CLI_CONTINUE && a.wait)
		rc = wait_done(ctx, &last);
	if (rc != CLI_CONTINUE) {
		json_decref(resp);
		return rc;
	}
	failed = resp && !json_is_true(json_object_get(resp, "success"));
	if (ctx->format == CLI_FORMAT_JSON) {
		output_json(resp ? resp : last);
	} else {
		if (resp)
			rotated_print(resp);
		if (last)
			finished_print(last);
	}
	json_decref(resp);
	json_decref(last);
	return failed ? EXIT_SERVER : CLI_EXIT_OK;
}

int cmd_keys_status(struct cli_ctx *ctx, int argc, char **argv)
{
	struct client_path path;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, NULL, NULL, NULL, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	client_path_init(&path, ROTATE_PATH);
	return cli_get_and_print(ctx, &path, status_print);
}
