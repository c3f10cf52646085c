/*
 * cmd-workspaces.c - `tresor workspaces create|list|get|delete`, over
 * /v2/workspaces (docs/api.md).
 */
#include <stdbool.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"

enum {
	OPT_FORCE = CLI_OPT_VERB_FIRST,
};

/* /v2/workspaces/{name} */
static void workspace_path(struct client_path *path, const char *name)
{
	client_path_init(path, "/v2/workspaces");
	client_path_segment(path, name, strlen(name));
}

static enum tr_status workspace_print(const json_t *ws)
{
	const struct output_pair pairs[] = {
	    {"name", output_str(ws, "name", NULL)},
	    {"created", output_str(ws, "created_at", NULL)},
	    {"created by", output_str(ws, "created_by", NULL)},
	};

	output_pairs(pairs, sizeof(pairs) / sizeof(pairs[0]));
	return TR_OK;
}

int cmd_workspaces_create(struct cli_ctx *ctx, int argc, char **argv)
{
	struct tr_error err = {0};
	struct client_path path;
	json_t *body = NULL;
	json_t *resp = NULL;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, NULL, NULL, NULL, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	body = json_object();
	if (!body) {
		rc = output_no_memory();
		goto out;
	}
	if (cli_json_set_string(body, "name", args[0], &err) != TR_OK) {
		rc = output_error(&err);
		goto out;
	}
	client_path_init(&path, "/v2/workspaces");
	rc = cli_request(ctx, "POST", &path, body, NULL, &resp);
	if (rc != CLI_CONTINUE)
		goto out;
	if (ctx->format == CLI_FORMAT_JSON)
		output_json(resp);
	else
		output_line("created workspace %s", output_str(resp, "name", args[0]));
	rc = CLI_EXIT_OK;
out:
	json_decref(body);
	json_decref(resp);
	return rc;
}

static void workspace_row(const json_t *ws, const char **cells, char *scratch)
{
	(void)scratch;

	cells[0] = output_str(ws, "name", NULL);
	cells[1] = output_str(ws, "created_at", NULL);
	cells[2] = output_str(ws, "created_by", NULL);
}

static enum tr_status workspaces_table(const json_t *list)
{
	static const char *const headers[] = {"NAME", "CREATED", "CREATED BY"};

	return output_list_table(list, 3, headers, workspace_row);
}

int cmd_workspaces_list(struct cli_ctx *ctx, int argc, char **argv)
{
	struct client_path path;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, NULL, NULL, NULL, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	client_path_init(&path, "/v2/workspaces");
	return cli_get_and_print(ctx, &path, workspaces_table);
}

int cmd_workspaces_get(struct cli_ctx *ctx, int argc, char **argv)
{
	struct client_path path;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, NULL, NULL, NULL, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	workspace_path(&path, args[0]);
	return cli_get_and_print(ctx, &path, workspace_print);
}

static int delete_option(struct cli_ctx *ctx, void *state, int opt, const char *arg)
{
	bool *force = state;

	(void)arg;
	if (opt != OPT_FORCE)
		return cli_usage_error(ctx, "unknown option");
	*force = true;
	return CLI_CONTINUE;
}

int cmd_workspaces_delete(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
	    {"force", no_argument, NULL, OPT_FORCE},
	    {NULL, 0, NULL, 0},
	};
	struct client_path path;
	bool force = false;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, options, delete_option, &force, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	workspace_path(&path, args[0]);
	client_path_query(&path, "force", force ? "true" : NULL);
	rc = cli_request(ctx, "DELETE", &path, NULL, NULL, NULL);
	if (rc != CLI_CONTINUE)
		return rc;
	if (ctx->format == CLI_FORMAT_TABLE)
		output_line("deleted workspace %s", args[0]);
	return CLI_EXIT_OK;
}
