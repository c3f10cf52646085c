/*
 * cmd-principals.c - `tresor principals create|list|delete`, over
 * /v2/principals (docs/api.md, Principals): users and service accounts,
 * managed by platform admins.
 */
#include <stdbool.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"

enum {
	OPT_KIND = CLI_OPT_VERB_FIRST,
	OPT_PLATFORM_ADMIN,
};

struct principal_args {
	const char *kind;    /* --kind, or NULL: the server's default (user) */
	bool platform_admin; /* --platform-admin */
};

/* /v2/principals/{name} */
static void principal_path(struct client_path *path, const char *name)
{
	client_path_init(path, "/v2/principals");
	client_path_segment(path, name, strlen(name));
}

static const char *yes_no(const json_t *obj, const char *key)
{
	return json_is_true(json_object_get(obj, key)) ? "yes" : "no";
}

static int create_option(struct cli_ctx *ctx, void *state, int opt, const char *arg)
{
	struct principal_args *a = state;

	switch (opt) {
	case OPT_KIND: a->kind = arg; return CLI_CONTINUE;
	case OPT_PLATFORM_ADMIN: a->platform_admin = true; return CLI_CONTINUE;
	default: return cli_usage_error(ctx, "unknown option");
	}
}

static enum tr_status create_body(const char *name, const struct principal_args *a, json_t *body, struct tr_error *err)
{
	enum tr_status st;

	st = cli_json_set_string(body, "name", name, err);
	if (st == TR_OK)
		st = cli_json_set_string(body, "kind", a->kind, err);
	if (st == TR_OK && a->platform_admin && json_object_set_new(body, "platform_admin", json_true()) < 0)
		st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	return st;
}

/* "created user alice", "created service account ci-bot (platform admin)". */
static void created_print(const json_t *p, const char *name)
{
	const char *kind = output_str(p, "kind", "principal");

	output_line("created %s %s%s", strcmp(kind, "service") == 0 ? "service account" : kind,
		    output_str(p, "name", name),
		    json_is_true(json_object_get(p, "platform_admin")) ? " (platform admin)" : "");
}

int cmd_principals_create(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
	    {"kind", required_argument, NULL, OPT_KIND},
	    {"platform-admin", no_argument, NULL, OPT_PLATFORM_ADMIN},
	    {NULL, 0, NULL, 0},
	};
	struct principal_args a = {0};
	struct tr_error err = {0};
	struct client_path path;
	json_t *body = NULL;
	json_t *resp = NULL;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, options, create_option, &a, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	body = json_object();
	if (!body) {
		rc = output_no_memory();
		goto out;
	}
	if (create_body(args[0], &a, body, &err) != TR_OK) {
		rc = output_error(&err);
		goto out;
	}
	client_path_init(&path, "/v2/principals");
	rc = cli_request(ctx, "POST", &path, body, NULL, &resp);
	if (rc != CLI_CONTINUE)
		goto out;
	if (ctx->format == CLI_FORMAT_JSON)
		output_json(resp);
	else
		created_print(resp, args[0]);
	rc = CLI_EXIT_OK;
out:
	json_decref(body);
	json_decref(resp);
	return rc;
}

static void principal_row(const json_t *p, const char **cells, char *scratch)
{
	(void)scratch;

	cells[0] = output_str(p, "name", NULL);
	cells[1] = output_str(p, "kind", NULL);
	cells[2] = yes_no(p, "platform_admin");
	cells[3] = output_str(p, "created_at", NULL);
}

static enum tr_status principals_table(const json_t *list)
{
	static const char *const headers[] = {"NAME", "KIND", "PLATFORM ADMIN", "CREATED"};

	return output_list_table(list, 4, headers, principal_row);
}

int cmd_principals_list(struct cli_ctx *ctx, int argc, char **argv)
{
	struct client_path path;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, NULL, NULL, NULL, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	client_path_init(&path, "/v2/principals");
	return cli_get_and_print(ctx, &path, principals_table);
}

int cmd_principals_delete(struct cli_ctx *ctx, int argc, char **argv)
{
	struct client_path path;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, NULL, NULL, NULL, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	principal_path(&path, args[0]);
	rc = cli_request(ctx, "DELETE", &path, NULL, NULL, NULL);
	if (rc != CLI_CONTINUE)
		return rc;
	if (ctx->format == CLI_FORMAT_TABLE)
		output_line("deleted principal %s", args[0]);
	return CLI_EXIT_OK;
}
