/*
 * cmd-audit.c - `tresor audit list|verify`, over /v2/audit and
 * /v2/audit/verify (docs/api.md, Audit).
 *
 * `audit verify` is the one command whose success depends on what the
 * server found rather than on the HTTP status: a chain that does not hold
 * exits with output_exit_verify_failed(), in table and JSON form alike.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"

enum {
	OPT_SECRET = CLI_OPT_VERB_FIRST,
	OPT_ACTOR,
	OPT_ACTION,
	OPT_OUTCOME,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_AFTER,
	OPT_LIMIT,
};

/* The filters of `audit list`, as given (the server checks them). */
struct audit_args {
	const char *workspace; /* -w, --workspace */
	const char *secret;    /* --secret */
	const char *actor;     /* --actor */
	const char *action;    /* --action */
	const char *outcome;   /* --outcome */
	const char *since;     /* --since: RFC 3339 or Unix seconds */
	const char *until;     /* --until */
	long long after;       /* --after: records after this seq, or 0 */
	long long limit;       /* --limit: page_size, or 0 for the server's default */
};

/* --after takes 0 (from the start) as well as a seq. */
static int after_option(struct cli_ctx *ctx, struct audit_args *a, const char *arg)
{
	if (strcmp(arg, "0") == 0) {
		a->after = 0;
		return CLI_CONTINUE;
	}
	return cli_parse_positive(ctx, "--after", arg, &a->after);
}

static int list_option(struct cli_ctx *ctx, void *state, int opt, const char *arg)
{
	struct audit_args *a = state;

	switch (opt) {
	case 'w': a->workspace = arg; return CLI_CONTINUE;
	case OPT_SECRET: a->secret = arg; return CLI_CONTINUE;
	case OPT_ACTOR: a->actor = arg; return CLI_CONTINUE;
	case OPT_ACTION: a->action = arg; return CLI_CONTINUE;
	case OPT_OUTCOME: a->outcome = arg; return CLI_CONTINUE;
	case OPT_SINCE: a->since = arg; return CLI_CONTINUE;
	case OPT_UNTIL: a->until = arg; return CLI_CONTINUE;
	case OPT_AFTER: return after_option(ctx, a, arg);
	case OPT_LIMIT: return cli_parse_positive(ctx, "--limit", arg, &a->limit);
	default: return cli_usage_error(ctx, "unknown option");
	}
}

static void list_query(struct client_path *p, const struct audit_args *a)
{
	char after[OUTPUT_INT_MAX];
	char limit[OUTPUT_INT_MAX];

	snprintf(after, sizeof(after), "%lld", a->after);
	snprintf(limit, sizeof(limit), "%lld", a->limit);
	client_path_query(p, "workspace", a->workspace);
	client_path_query(p, "secret", a->secret);
	client_path_query(p, "actor", a->actor);
	client_path_query(p, "action", a->action);
	client_path_query(p, "outcome", a->outcome);
	client_path_query(p, "since", a->since);
	client_path_query(p, "until", a->until);
	client_path_query(p, "after", a->after ? after : NULL);
	client_path_query(p, "page_size", a->limit ? limit : NULL);
}

/* obj[key] when it is a non-empty string, else NULL (a table shows "-"). */
static const char *text_or_none(const json_t *obj, const char *key)
{
	const char *s = output_str(obj, key, NULL);

	return s && s[0] ? s : NULL;
}

static enum tr_status record_row_add(struct output_table *t, const json_t *r)
{
	char seq[OUTPUT_INT_MAX];
	char status[OUTPUT_INT_MAX];
	const char *row[] = {
	    output_int(r, "seq", seq),       text_or_none(r, "time"),      text_or_none(r, "actor"),
	    text_or_none(r, "action"),       text_or_none(r, "workspace"), text_or_none(r, "secret"),
	    text_or_none(r, "target"),       text_or_none(r, "scope"),     text_or_none(r, "outcome"),
	    output_int(r, "status", status), text_or_none(r, "client"),
	};

	return output_table_add(t, row);
}

/* The records, then where the next page starts when there is one. */
static enum tr_status records_table(const json_t *page)
{
	static const char *const headers[] = {"SEQ",    "TIME",  "ACTOR",   "ACTION", "WORKSPACE", "SECRET",
					      "TARGET", "SCOPE", "OUTCOME", "STATUS", "CLIENT"};
	struct output_table *t = output_table_new(11, headers);
	enum tr_status st = t ? TR_OK : TR_EINTERNAL;
	char next[OUTPUT_INT_MAX];
	const json_t *r;
	size_t i;

	json_array_foreach (json_object_get(page, "data"), i, r) {
		if (st == TR_OK)
			st = record_row_add(t, r);
	}
	if (st == TR_OK) {
		output_table_print(t);
		if (json_is_integer(json_object_get(page, "next_after")))
			output_line("more records follow; see --after %s", output_int(page, "next_after", next));
	}
	output_table_free(t);
	return st;
}

/* clang-format off */
static const struct option list_options[] = {
	{"workspace", required_argument, NULL, 'w'},
	{"secret", required_argument, NULL, OPT_SECRET},
	{"actor", required_argument, NULL, OPT_ACTOR},
	{"action", required_argument, NULL, OPT_ACTION},
	{"outcome", required_argument, NULL, OPT_OUTCOME},
	{"since", required_argument, NULL, OPT_SINCE},
	{"until", required_argument, NULL, OPT_UNTIL},
	{"after", required_argument, NULL, OPT_AFTER},
	{"limit", required_argument, NULL, OPT_LIMIT},
	{NULL, 0, NULL, 0},
};
/* clang-format on */

int cmd_audit_list(struct cli_ctx *ctx, int argc, char **argv)
{
	struct audit_args a = {0};
	struct client_path path;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, list_options, list_option, &a, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	client_path_init(&path, "/v2/audit");
	list_query(&path, &a);
	return cli_get_and_print(ctx, &path, records_table);
}

/* "audit log intact: N records", or "audit log broken at record N: why". */
static void verdict_print(const json_t *resp, bool ok)
{
	char n[OUTPUT_INT_MAX];

	if (ok)
		output_line("audit log intact: %s records", output_int(resp, "records", n));
	else
		output_line("audit log broken at record %s: %s", output_int(resp, "first_bad_seq", n),
			    output_str(resp, "problem", "no reason given"));
}

int cmd_audit_verify(struct cli_ctx *ctx, int argc, char **argv)
{
	struct client_path path;
	json_t *resp = NULL;
	char **args;
	int nargs;
	bool ok;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, NULL, NULL, NULL, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	client_path_init(&path, "/v2/audit/verify");
	rc = cli_request(ctx, "GET", &path, NULL, NULL, &resp);
	if (rc != CLI_CONTINUE)
		return rc;
	/* Anything but an explicit "ok": true is a failed verification. */
	ok = json_is_true(json_object_get(resp, "ok"));
	if (ctx->format == CLI_FORMAT_JSON)
		output_json(resp);
	else
		verdict_print(resp, ok);
	json_decref(resp);
	return ok ? CLI_EXIT_OK : output_exit_verify_failed();
}
