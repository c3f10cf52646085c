/*
 * cmd-tokens.c - `tresor tokens create|list|delete`, over /v2/tokens
 * (docs/api.md).
 *
 * `tokens create` is the one place a token is printed: the server shows it
 * once. Its response is wiped when freed (the command table calls
 * jsonmem_init for every client command).
 */
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"

enum {
	OPT_PRINCIPAL = CLI_OPT_VERB_FIRST,
	OPT_EXPIRES_IN,
	OPT_DESCRIPTION,
};

struct token_args {
	const char *principal;   /* --principal, or NULL: the caller */
	const char *description; /* --description */
	long long expires_in;    /* --expires-in, or 0: never */
};

static int create_option(struct cli_ctx *ctx, void *state, int opt, const char *arg)
{
	struct token_args *a = state;

	switch (opt) {
	case OPT_PRINCIPAL: a->principal = arg; return CLI_CONTINUE;
	case OPT_DESCRIPTION: a->description = arg; return CLI_CONTINUE;
	case OPT_EXPIRES_IN: return cli_parse_positive(ctx, "--expires-in", arg, &a->expires_in);
	default: return cli_usage_error(ctx, "unknown option");
	}
}

static enum tr_status create_body(const struct token_args *a, json_t *body, struct tr_error *err)
{
	enum tr_status st;

	st = cli_json_set_string(body, "principal", a->principal, err);
	if (st == TR_OK)
		st = cli_json_set_string(body, "description", a->description, err);
	if (st == TR_OK && a->expires_in > 0 &&
	    json_object_set_new(body, "expires_in", json_integer(a->expires_in)) < 0)
		st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	return st;
}

/* A one-row table: the new token's id and text. */
static int created_print(const json_t *resp)
{
	static const char *const headers[] = {"ID", "TOKEN"};
	const char *row[] = {output_str(resp, "id", NULL), output_str(resp, "token", NULL)};
	struct output_table *t = output_table_new(2, headers);

	if (!t || output_table_add(t, row) != TR_OK) {
		output_table_free(t);
		return output_no_memory();
	}
	output_table_print(t);
	output_table_free(t);
	output_errorf("this token is shown only once: store it now");
	return CLI_EXIT_OK;
}

int cmd_tokens_create(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
	    {"principal", required_argument, NULL, OPT_PRINCIPAL},
	    {"expires-in", required_argument, NULL, OPT_EXPIRES_IN},
	    {"description", required_argument, NULL, OPT_DESCRIPTION},
	    {NULL, 0, NULL, 0},
	};
	struct token_args a = {0};
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
	if (create_body(&a, body, &err) != TR_OK) {
		rc = output_error(&err);
		goto out;
	}
	client_path_init(&path, "/v2/tokens");
	rc = cli_request(ctx, "POST", &path, body, NULL, &resp);
	if (rc != CLI_CONTINUE)
		goto out;
	if (ctx->format == CLI_FORMAT_JSON) {
		output_json(resp);
		rc = CLI_EXIT_OK;
	} else {
		rc = created_print(resp);
	}
out:
	json_decref(body);
	json_decref(resp);
	return rc;
}

static void token_row(const json_t *tok, const char **cells, char *scratch)
{
	(void)scratch;

	cells[0] = output_str(tok, "id", NULL);
	cells[1] = output_str(tok, "principal", NULL);
	cells[2] = output_str(tok, "description", "");
	cells[3] = output_str(tok, "created_at", NULL);
	cells[4] = output_str(tok, "created_by", NULL);
	cells[5] = output_str(tok, "expires_at", "never");
}

static enum tr_status tokens_table(const json_t *list)
{
	static const char *const headers[] = {"ID", "PRINCIPAL", "DESCRIPTION", "CREATED", "CREATED BY", "EXPIRES"};

	return output_list_table(list, 6, headers, token_row);
}

int cmd_tokens_list(struct cli_ctx *ctx, int argc, char **argv)
{
	struct client_path path;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, NULL, NULL, NULL, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	client_path_init(&path, "/v2/tokens");
	return cli_get_and_print(ctx, &path, tokens_table);
}

int cmd_tokens_delete(struct cli_ctx *ctx, int argc, char **argv)
{
	struct client_path path;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, NULL, NULL, NULL, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	client_path_init(&path, "/v2/tokens");
	client_path_segment(&path, args[0], strlen(args[0]));
	rc = cli_request(ctx, "DELETE", &path, NULL, NULL, NULL);
	if (rc != CLI_CONTINUE)
		return rc;
	if (ctx->format == CLI_FORMAT_TABLE)
		output_line("deleted token %s", args[0]);
	return CLI_EXIT_OK;
}
