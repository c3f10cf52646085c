/*
 * cmd-members.c - `tresor members set|list|delete`, over
 * /v2/workspaces/{ws}/members (docs/api.md, Members): a principal's role in
 * a workspace, for a service account optionally limited to one project or
 * cluster. The server checks roles and scopes; the command only refuses
 * what cannot be meant (no --role, both --project and --cluster).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/limits.h"

enum {
	OPT_ROLE = CLI_OPT_VERB_FIRST,
	OPT_PROJECT,
	OPT_CLUSTER,
};

struct member_args {
	const char *role;    /* --role */
	const char *project; /* --project */
	const char *cluster; /* --cluster */
};

/* /v2/workspaces/{ws}/members[/{principal}] (principal may be NULL). */
static void members_path(struct client_path *path, const char *workspace, const char *principal)
{
	client_path_init(path, "/v2/workspaces");
	client_path_segment(path, workspace, strlen(workspace));
	client_path_literal(path, "/members");
	if (principal)
		client_path_segment(path, principal, strlen(principal));
}

static int set_option(struct cli_ctx *ctx, void *state, int opt, const char *arg)
{
	struct member_args *a = state;

	switch (opt) {
	case OPT_ROLE: a->role = arg; return CLI_CONTINUE;
	case OPT_PROJECT: a->project = arg; return CLI_CONTINUE;
	case OPT_CLUSTER: a->cluster = arg; return CLI_CONTINUE;
	default: return cli_usage_error(ctx, "unknown option");
	}
}

static int set_check(const struct cli_ctx *ctx, const struct member_args *a)
{
	if (!a->role)
		return cli_usage_error(ctx, "--role is required (admin, editor, viewer or service)");
	if (a->project && a->cluster)
		return cli_usage_error(ctx, "--project and --cluster are mutually exclusive");
	return CLI_CONTINUE;
}

static enum tr_status set_body(const struct member_args *a, json_t *body, struct tr_error *err)
{
	enum tr_status st;

	st = cli_json_set_string(body, "role", a->role, err);
	if (st == TR_OK)
		st = cli_json_set_string(body, "project", a->project, err);
	if (st == TR_OK)
		st = cli_json_set_string(body, "cluster", a->cluster, err);
	return st;
}

/* "alice is editor in team-a", "ci-bot is service in team-a (project:p1)". */
static void member_set_print(const json_t *m, const char *workspace, const char *principal)
{
	char scope[TR_SCOPE_NAME_MAX + 16];
	char limit[TR_SCOPE_NAME_MAX + 20] = "";

	if (strcmp(output_scope(m, scope, sizeof(scope)), "workspace") != 0)
		snprintf(limit, sizeof(limit), " (%s)", scope);
	output_line("%s is %s in %s%s", output_str(m, "principal", principal), output_str(m, "role", "?"),
		    output_str(m, "workspace", workspace), limit);
}

int cmd_members_set(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
	    {"role", required_argument, NULL, OPT_ROLE},
	    {"project", required_argument, NULL, OPT_PROJECT},
	    {"cluster", required_argument, NULL, OPT_CLUSTER},
	    {NULL, 0, NULL, 0},
	};
	struct member_args a = {0};
	struct tr_error err = {0};
	struct client_path path;
	json_t *body = NULL;
	json_t *resp = NULL;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, options, set_option, &a, &args, &nargs);
	if (rc == CLI_CONTINUE)
		rc = set_check(ctx, &a);
	if (rc != CLI_CONTINUE)
		return rc;
	body = json_object();
	if (!body) {
		rc = output_no_memory();
		goto out;
	}
	if (set_body(&a, body, &err) != TR_OK) {
		rc = output_error(&err);
		goto out;
	}
	members_path(&path, args[0], args[1]);
	rc = cli_request(ctx, "PUT", &path, body, NULL, &resp);
	if (rc != CLI_CONTINUE)
		goto out;
	if (ctx->format == CLI_FORMAT_JSON)
		output_json(resp);
	else
		member_set_print(resp, args[0], args[1]);
	rc = CLI_EXIT_OK;
out:
	json_decref(body);
	json_decref(resp);
	return rc;
}

static void member_row(const json_t *m, const char **cells, char *scratch)
{
	cells[0] = output_str(m, "principal", NULL);
	cells[1] = output_str(m, "role", NULL);
	cells[2] = output_scope(m, scratch, OUTPUT_SCRATCH);
	cells[3] = output_str(m, "created_at", NULL);
	cells[4] = output_str(m, "created_by", NULL);
}

static enum tr_status members_table(const json_t *list)
{
	static const char *const headers[] = {"PRINCIPAL", "ROLE", "SCOPE", "CREATED", "CREATED BY"};

	return output_list_table(list, 5, headers, member_row);
}

int cmd_members_list(struct cli_ctx *ctx, int argc, char **argv)
{
	struct client_path path;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, NULL, NULL, NULL, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	members_path(&path, args[0], NULL);
	return cli_get_and_print(ctx, &path, members_table);
}

int cmd_members_delete(struct cli_ctx *ctx, int argc, char **argv)
{
	struct client_path path;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, NULL, NULL, NULL, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	members_path(&path, args[0], args[1]);
	rc = cli_request(ctx, "DELETE", &path, NULL, NULL, NULL);
	if (rc != CLI_CONTINUE)
		return rc;
	if (ctx->format == CLI_FORMAT_TABLE)
		output_line("removed %s from %s", args[1], args[0]);
	return CLI_EXIT_OK;
}
