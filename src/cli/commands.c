/*
 * commands.c - the one command table of `tresor`, global options, help,
 * and dispatch.
 *
 * cli_main parses the global options that come before the command, finds
 * the command (and its verb) in commands[], and runs it. Global options may
 * also follow the command: cli_parse_args, which every command function
 * calls, knows them as well as the command's own options, answers --help,
 * and checks the argument count against the table. A command never parses
 * argv itself.
 */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/output.h"
#include "common/fdread.h"
#include "common/jsonmem.h"
#include "server/server.h"

#ifndef TRESOR_VERSION
#define TRESOR_VERSION "0.1.0"
#endif

/* Help texts and the command table read best as written. */
/* clang-format off */
#define MAIN_USAGE \
	"tresor [--addr URL] [--token-file PATH] [--cacert PATH] [-o table|json] COMMAND [VERB] [OPTIONS] [ARGS]"

/* ---- help texts ---- */

#define HELP_WORKSPACE \
	"  -w, --workspace W     the workspace of a NAME without WORKSPACE/ (default: default)\n"
#define HELP_SCOPE \
	"  --project P           the secret in project P's scope\n" \
	"  --cluster C           the secret in cluster C's scope\n"
#define HELP_VALUES \
	"  --value V             the single value of an opaque secret (key 'value')\n" \
	"  --value -             read that value from standard input (one trailing\n" \
	"                        newline is dropped)\n" \
	"  --from-file PATH      read that value from a file, byte for byte\n" \
	"  --data KEY=VALUE      one data key; repeatable\n" \
	"  --data KEY=@FILE      one data key read from a file, byte for byte\n" \
	"  --data KEY=-          one data key read from standard input (one key at most)\n"
#define HELP_FIELDS \
	"  --type T              opaque (default), huggingface, s3, database,\n" \
	"                        container_registry, api_key, ssh\n" \
	"  --description D       free text, up to 1024 bytes\n" \
	"  --visibility V        private (default) or public\n" \
	"  --expires-in SECONDS  the secret expires this many seconds from now\n"

static const char secrets_write_details[] =
	HELP_WORKSPACE HELP_VALUES HELP_FIELDS
	"  --tag T               a label; repeatable, up to 16\n"
	"  --project P           put the secret in project P's scope\n"
	"  --cluster C           put the secret in cluster C's scope\n";

static const char secrets_update_details[] =
	HELP_WORKSPACE HELP_VALUES HELP_FIELDS
	"  --tag T               a label; repeatable; replaces all tags\n"
	HELP_SCOPE
	"A new value makes a new version; without one only the metadata changes.\n";

static const char secrets_scope_details[] = HELP_WORKSPACE HELP_SCOPE;

static const char secrets_reveal_details[] =
	HELP_WORKSPACE HELP_SCOPE
	"Prints a single value followed by a newline, or KEY=VALUE lines for several\n"
	"keys; with -o json the server's JSON. Only platform admins may reveal values.\n";

static const char secrets_list_details[] =
	HELP_WORKSPACE
	"  --search S            substring of the name, description or a tag\n"
	"  --type T              this type only (aliases allowed)\n"
	"  --tag T               secrets with this tag\n"
	"  --project P           secrets in project P's scope\n"
	"  --cluster C           secrets in cluster C's scope\n"
	"  --created-by P        secrets created by principal P\n"
	"  --visibility V        private or public\n"
	"  --sort S              name (default), created_at or updated_at; prefix '-'\n"
	"                        for descending\n"
	"  --page N              the page to show, from 1\n"
	"  --page-size N         secrets per page, 1 to 1000 (default 100)\n"
	"  --page-token T        the page after the one that printed this token (keyset\n"
	"                        paging: same filters and sort)\n";

static const char workspaces_delete_details[] =
	"  --force               delete the workspace with the secrets it holds\n";

static const char tokens_create_details[] =
	"  --principal P         the token's principal (default: yourself)\n"
	"  --expires-in SECONDS  the token expires this many seconds from now\n"
	"  --description D       what the token is for\n"
	"The token is printed once; it cannot be shown again.\n";

static const char principals_create_details[] =
	"  --kind KIND           user (default) or service (a service account, for workloads)\n"
	"  --platform-admin      make the user a platform admin (users only)\n"
	"Only platform admins manage principals.\n";

static const char principals_delete_details[] =
	"The principal's tokens and role bindings are deleted with it.\n";

static const char members_set_details[] =
	"  --role ROLE           admin, editor, viewer (users) or service (service accounts)\n"
	"  --project P           limit a service binding to project P\n"
	"  --cluster C           limit a service binding to cluster C\n"
	"Creates the binding or replaces the principal's role in WORKSPACE.\n";

static const char audit_list_details[] =
	"  -w, --workspace W     records of workspace W (required for a workspace admin)\n"
	"  --secret S            records about secret S\n"
	"  --actor P             records of principal P's requests\n"
	"  --action A            one action: secret.create, secret.access, auth, ...\n"
	"  --outcome O           success, denied or failure\n"
	"  --since T             records at or after T (RFC 3339 or Unix seconds)\n"
	"  --until T             records at or before T\n"
	"  --after N             records after sequence number N (see the end of the table)\n"
	"  --limit N             at most N records, 1 to 1000 (default 100)\n"
	"Oldest first. Platform admins see every record; a workspace admin their workspace's.\n";

static const char audit_verify_details[] =
	"Checks the hash chain of the whole audit log (platform admins). Prints\n"
	"'audit log intact: N records' and exits 0, or 'audit log broken at record N:\n"
	"PROBLEM' and exits 8.\n";

#define HELP_MAPPINGS \
	"  -w, --workspace W     resolve in workspace W (default: default)\n" \
	"  --project P           the workload runs in project P (its secrets come first)\n" \
	"  --cluster C           the workload runs on cluster C\n" \
	"  --recipe FILE         an AI Blueprints recipe (JSON): recipe_environment_secrets,\n" \
	"                        recipe_container_secret_name, recipe_container_command_args\n" \
	"  -s, --secret VAR=SECRET[@VERSION][#KEY]\n" \
	"                        VAR gets the key of a secret (KEY may be left out when\n" \
	"                        the secret has one key); repeatable\n" \
	"  -e, --env VAR=VALUE   VAR gets VALUE; VAR=secret:SECRET[@VERSION][#KEY] is a\n" \
	"                        secret as with -s; repeatable\n"

static const char run_details[] =
	HELP_MAPPINGS
	"  --files DIR           secrets as 0400 files in a private directory made under\n"
	"                        DIR, named by $CREDENTIALS_DIRECTORY, not in the environment\n"
	"  --no-mask             pass the command's output through untouched\n"
	"Everything is resolved by one request with a service token. The command gets\n"
	"the variables, $(VAR) in its arguments is expanded, a registry secret becomes\n"
	"$DOCKER_CONFIG/config.json, and every value (6 bytes or more) and its encoded\n"
	"forms are replaced by *** in its output. Recipe args follow CMD's arguments, or\n"
	"are the command when none is given. tresor exits with the command's status\n"
	"(128+N for signal N). See docs/injection.md.\n";

static const char explain_details[] =
	HELP_MAPPINGS
	"Shows, for each variable, the secret, key, scope and version that supply it and\n"
	"what it overrode; never a value. Needs a service token, like run.\n";

static const char export_details[] =
	"  --format F            env (a .env file), k8s (Secret manifests) or dockerconfig\n"
	"  -w, --workspace W     the workspace (default: default)\n"
	"  --project P           as a workload in project P sees them (its secrets first)\n"
	"  --cluster C           as a workload on cluster C sees them\n"
	"  --via HOW             auto (default), resolve (a service token) or access (a\n"
	"                        platform admin); auto tries resolve, then access on 403\n"
	"  --out FILE            write FILE (mode 0600) instead of standard output\n"
	"Each argument is [VAR=]SECRET[@VERSION][#KEY] (VAR= for env only). Without\n"
	"arguments a platform admin exports every secret of the workspace. Audited.\n";

static const char import_details[] =
	"  --format F            env or k8s\n"
	"  -w, --workspace W     the workspace (default: default)\n"
	"  --project P           put the secrets in project P's scope\n"
	"  --cluster C           put the secrets in cluster C's scope\n"
	"Creates or replaces (PUT) each secret FILE holds ('-': standard input). A .env\n"
	"variable becomes the secret its '# tresor:' comment names, else a secret of its\n"
	"own name with the key 'value'.\n";

static const char secrets_versions_details[] =
	HELP_WORKSPACE HELP_SCOPE
	"Lists the kept versions, newest first: VERSION, CREATED, CREATED-BY, CURRENT.\n";

static const char secrets_batch_details[] =
	HELP_WORKSPACE
	"  -f, --file FILE       the payload: {\"secrets_payload\":[{\"name\",\"action\",\"type\",\n"
	"                        \"data\"}...], \"atomic\":false} ('-': standard input)\n"
	"Sends the file as it is to POST .../secrets:batch and prints each item's result:\n"
	"ACTION, NAME, STATUS, CODE, MESSAGE. Exits 0 when every item succeeded, 5 when\n"
	"one failed.\n";

static const char keys_rotate_details[] =
	"  --reencrypt           also replace the data keys and seal every value again\n"
	"  --wait                then wait until no rotation runs (one already running is\n"
	"                        waited for), with a progress bar on a terminal\n"
	"Re-wraps every data key under the current provider (platform admins). Exits 6\n"
	"when some versions failed.\n";

static const char global_details[] =
	"  --addr URL            the server (TRESOR_ADDR, default " CLIENT_DEFAULT_ADDR ")\n"
	"  --token-file PATH     a file holding the API token (else TRESOR_TOKEN, else\n"
	"                        $TRESOR_DATA_DIR/admin.token, else ./tresor-data/admin.token)\n"
	"  --cacert PATH         CA certificates (PEM) for an https:// server (TRESOR_CACERT,\n"
	"                        default: the system's); the server is always verified\n"
	"  -o, --output FORMAT   table (default) or json\n"
	"  -h, --help            show help\n";

/* ---- the command table ---- */

static int cmd_server(struct cli_ctx *ctx, int argc, char **argv);

static const struct cli_command commands[] = {
	{"server", NULL, cmd_server, 0, -1, 0,
	 "[--listen HOST:PORT] [--data-dir DIR] [--config FILE] [--workers N] "
	 "[--log-level debug|info|warn|error]",
	 "run the tresor daemon (see 'tresor server --help')", NULL},

	{"workspaces", "create", cmd_workspaces_create, 1, 1, CLI_CLIENT,
	 "NAME", "create a workspace", NULL},
	{"workspaces", "list", cmd_workspaces_list, 0, 0, CLI_CLIENT,
	 "", "list workspaces", NULL},
	{"workspaces", "get", cmd_workspaces_get, 1, 1, CLI_CLIENT,
	 "NAME", "show a workspace", NULL},
	{"workspaces", "delete", cmd_workspaces_delete, 1, 1, CLI_CLIENT,
	 "NAME [--force]", "delete a workspace", workspaces_delete_details},

	{"secrets", "create", cmd_secrets_create, 1, 1, CLI_CLIENT,
	 "NAME [VALUE OPTIONS] [--type T] [--description D] [--tag T]... "
	 "[--visibility private|public] [--project P | --cluster C] [--expires-in SECONDS]",
	 "create a secret", secrets_write_details},
	{"secrets", "list", cmd_secrets_list, 0, 0, CLI_CLIENT,
	 "[--search S] [--type T] [--tag T] [--project P] [--cluster C] [--created-by P] "
	 "[--visibility V] [--sort S] [--page N | --page-token T] [--page-size N]",
	 "list the secrets of a workspace (metadata only)", secrets_list_details},
	{"secrets", "get", cmd_secrets_get, 1, 1, CLI_CLIENT,
	 "NAME [--project P | --cluster C]",
	 "show a secret's metadata", secrets_scope_details},
	{"secrets", "update", cmd_secrets_update, 1, 1, CLI_CLIENT,
	 "NAME [VALUE OPTIONS] [--type T] [--description D] [--tag T]... [--visibility V] "
	 "[--expires-in S] [--project P | --cluster C]",
	 "change a secret's value or metadata", secrets_update_details},
	{"secrets", "set", cmd_secrets_set, 1, 1, CLI_CLIENT,
	 "NAME [VALUE OPTIONS] [--type T] [--description D] [--tag T]... "
	 "[--visibility private|public] [--project P | --cluster C] [--expires-in SECONDS]",
	 "create a secret or replace its value", secrets_write_details},
	{"secrets", "delete", cmd_secrets_delete, 1, 1, CLI_CLIENT,
	 "NAME [--project P | --cluster C]",
	 "delete a secret", secrets_scope_details},
	{"secrets", "reveal", cmd_secrets_reveal, 1, 1, CLI_CLIENT,
	 "NAME [--project P | --cluster C]",
	 "print a secret's value (platform admins)", secrets_reveal_details},
	{"secrets", "versions", cmd_secrets_versions, 1, 1, CLI_CLIENT,
	 "NAME [--project P | --cluster C]",
	 "list the kept versions of a secret", secrets_versions_details},
	{"secrets", "batch", cmd_secrets_batch, 0, 0, CLI_CLIENT,
	 "-f FILE [-w W]",
	 "create, update and delete secrets in one AI Blueprints batch", secrets_batch_details},

	{"tokens", "create", cmd_tokens_create, 0, 0, CLI_CLIENT,
	 "[--principal P] [--expires-in SECONDS] [--description D]",
	 "create an API token", tokens_create_details},
	{"tokens", "list", cmd_tokens_list, 0, 0, CLI_CLIENT,
	 "", "list API tokens", NULL},
	{"tokens", "delete", cmd_tokens_delete, 1, 1, CLI_CLIENT,
	 "ID", "revoke an API token", NULL},

	{"principals", "create", cmd_principals_create, 1, 1, CLI_CLIENT,
	 "NAME [--kind user|service] [--platform-admin]",
	 "create a user or service account (platform admins)", principals_create_details},
	{"principals", "list", cmd_principals_list, 0, 0, CLI_CLIENT,
	 "", "list users and service accounts (platform admins)", NULL},
	{"principals", "delete", cmd_principals_delete, 1, 1, CLI_CLIENT,
	 "NAME", "delete a principal, its tokens and bindings", principals_delete_details},

	{"members", "set", cmd_members_set, 2, 2, CLI_CLIENT,
	 "WORKSPACE PRINCIPAL --role admin|editor|viewer|service [--project P | --cluster C]",
	 "give a principal a role in a workspace", members_set_details},
	{"members", "list", cmd_members_list, 1, 1, CLI_CLIENT,
	 "WORKSPACE", "list the members of a workspace", NULL},
	{"members", "delete", cmd_members_delete, 2, 2, CLI_CLIENT,
	 "WORKSPACE PRINCIPAL", "remove a principal from a workspace", NULL},

	{"audit", "list", cmd_audit_list, 0, 0, CLI_CLIENT,
	 "[-w W] [--secret S] [--actor P] [--action A] [--outcome O] [--since T] [--until T] "
	 "[--after N] [--limit N]",
	 "list audit records", audit_list_details},
	{"audit", "verify", cmd_audit_verify, 0, 0, CLI_CLIENT,
	 "", "check that the audit log is intact (platform admins)", audit_verify_details},

	{"keys", "rotate", cmd_keys_rotate, 0, 0, CLI_CLIENT,
	 "[--reencrypt] [--wait]",
	 "re-wrap every data key under the current provider (platform admins)", keys_rotate_details},
	{"keys", "status", cmd_keys_status, 0, 0, CLI_CLIENT,
	 "", "show key providers and rotation progress (platform admins)", NULL},

	{"run", NULL, cmd_run, 0, -1, CLI_CLIENT | CLI_ARGS_AFTER,
	 "[-w W] [--project P] [--cluster C] [--recipe FILE] [-s VAR=SECRET[@VERSION][#KEY]]... "
	 "[-e VAR=VALUE]... [--files DIR] [--no-mask] -- CMD [ARGS...]",
	 "run a command with secrets injected (service token)", run_details},
	{"explain", NULL, cmd_explain, 0, 0, CLI_CLIENT,
	 "[-w W] [--project P] [--cluster C] [--recipe FILE] [-s VAR=SECRET[@VERSION][#KEY]]... "
	 "[-e VAR=VALUE]...",
	 "show where each variable of a run comes from, without values", explain_details},
	{"export", NULL, cmd_export, 0, -1, CLI_CLIENT,
	 "--format env|k8s|dockerconfig [-w W] [--project P] [--cluster C] [--via auto|resolve|access] "
	 "[--out FILE] [[VAR=]SECRET[@VERSION][#KEY]]...",
	 "write secrets as a .env file, Kubernetes Secrets or a Docker config", export_details},
	{"import", NULL, cmd_import, 1, 1, CLI_CLIENT,
	 "--format env|k8s [-w W] [--project P | --cluster C] FILE",
	 "create or replace the secrets of a .env file or Kubernetes Secrets", import_details},
};
/* clang-format on */

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static int cmd_server(struct cli_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	/* The server parses its own options: let its getopt start afresh. */
	optind = 0;
	return server_main(argc, argv);
}

/* The entry for name and verb, or the first entry for name when verb is NULL. */
static const struct cli_command *command_find(const char *name, const char *verb)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i].name, name) != 0)
			continue;
		if (!verb || (commands[i].verb && strcmp(commands[i].verb, verb) == 0))
			return &commands[i];
	}
	return NULL;
}

/* ---- help ---- */

static void main_help(FILE *out)
{
	char label[64];
	size_t i;

	fprintf(out, "usage: %s\n\nCommands:\n", MAIN_USAGE);
	for (i = 0; i < NCOMMANDS; i++) {
		snprintf(label, sizeof(label), "%s %s", commands[i].name, commands[i].verb ? commands[i].verb : "");
		fprintf(out, "  %-20s %s\n", label, commands[i].summary);
	}
	fprintf(out, "\nGlobal options (before or after the command):\n%s", global_details);
	fprintf(out, "  --version             print the version\n");
	fprintf(out, "\nRun 'tresor COMMAND --help' or 'tresor COMMAND VERB --help' for more.\n");
}

static void usage_line(FILE *out, const struct cli_command *cmd)
{
	fprintf(out, "usage: tresor %s", cmd->name);
	if (cmd->verb)
		fprintf(out, " %s", cmd->verb);
	if (cmd->usage[0])
		fprintf(out, " %s", cmd->usage);
	fputc('\n', out);
}

/* Every verb of the command that cmd belongs to. */
static void command_help(FILE *out, const struct cli_command *cmd)
{
	size_t i;

	fprintf(out, "usage: tresor %s VERB [OPTIONS] [ARGS]\n\nVerbs:\n", cmd->name);
	for (i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i].name, cmd->name) != 0)
			continue;
		fprintf(out, "  %-8s %s\n", commands[i].verb, commands[i].summary);
	}
	fprintf(out, "\nRun 'tresor %s VERB --help' for a verb's options.\n", cmd->name);
}

static void verb_help(FILE *out, const struct cli_command *cmd)
{
	usage_line(out, cmd);
	fprintf(out, "\n%c%s.\n", toupper((unsigned char)cmd->summary[0]), cmd->summary + 1);
	if (cmd->details)
		fprintf(out, "\nOptions:\n%s", cmd->details);
	fprintf(out, "\nGlobal options:\n%s", global_details);
}

int cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	output_errorf("%s", message);
	if (ctx->cmd) {
		usage_line(stderr, ctx->cmd);
		fprintf(stderr, "Try 'tresor %s %s --help'.\n", ctx->cmd->name, ctx->cmd->verb ? ctx->cmd->verb : "");
	} else {
		fprintf(stderr, "usage: %s\nTry 'tresor --help'.\n", MAIN_USAGE);
	}
	return CLI_EXIT_USAGE;
}

/* ---- options ---- */

static const struct option global_options[] = {
    {"addr", required_argument, NULL, CLI_OPT_ADDR},
    {"token-file", required_argument, NULL, CLI_OPT_TOKEN_FILE},
    {"cacert", required_argument, NULL, CLI_OPT_CACERT},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The options accepted before the command: the global ones and --version. */
static const struct option leading_options[] = {
    {"addr", required_argument, NULL, CLI_OPT_ADDR},
    {"token-file", required_argument, NULL, CLI_OPT_TOKEN_FILE},
    {"cacert", required_argument, NULL, CLI_OPT_CACERT},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, CLI_OPT_VERSION},
    {NULL, 0, NULL, 0},
};

#define GLOBAL_SHORT "o:h"

/* Applies --addr, --token-file, --cacert or -o; returns CLI_CONTINUE or an exit code. */
static int global_option(struct cli_ctx *ctx, int opt, const char *arg)
{
	switch (opt) {
	case CLI_OPT_ADDR: ctx->addr = arg; return CLI_CONTINUE;
	case CLI_OPT_TOKEN_FILE: ctx->token_file = arg; return CLI_CONTINUE;
	case CLI_OPT_CACERT: ctx->cacert = arg; return CLI_CONTINUE;
	case 'o':
		if (strcmp(arg, "table") == 0)
			ctx->format = CLI_FORMAT_TABLE;
		else if (strcmp(arg, "json") == 0)
			ctx->format = CLI_FORMAT_JSON;
		else
			return cli_usage_error(ctx, "unknown output format '%s' (table or json)", arg);
		return CLI_CONTINUE;
	default: return cli_usage_error(ctx, "unknown option");
	}
}

/* Reports what getopt_long refused ('?' or ':'). */
static int option_error(const struct cli_ctx *ctx, int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return cli_usage_error(ctx, "option '%s' needs an argument", arg);
	if (strncmp(arg, "--", 2) != 0 && optopt > 0 && optopt < 0x80 && isgraph(optopt))
		return cli_usage_error(ctx, "invalid option '-%c'", optopt);
	return cli_usage_error(ctx, "invalid option '%s'", arg);
}

/*
 * getopt_long accepts any unambiguous prefix of a long option ("--tok" for
 * "--token-file"). tresor does not: a mistyped option must not quietly
 * become another one (and carry, say, a token into an error message).
 * Returns true when the option getopt just matched (index idx) was spelt
 * out in full.
 */
static bool long_option_spelt_out(char **argv, const struct option *all, int idx)
{
	const char *text;
	size_t n;

	if (idx < 0)
		return true;
	if (all[idx].has_arg != no_argument && optarg && optind >= 2 && optarg == argv[optind - 1])
		text = argv[optind - 2];
	else
		text = argv[optind - 1];
	if (strncmp(text, "--", 2) != 0)
		return true;
	text += 2;
	n = strcspn(text, "=");
	return strlen(all[idx].name) == n && strncmp(all[idx].name, text, n) == 0;
}

static int abbreviated_option(const struct cli_ctx *ctx, const struct option *all, int idx)
{
	return cli_usage_error(ctx, "invalid option: spell out '--%s' in full", all[idx].name);
}

static size_t options_count(const struct option *options)
{
	size_t n = 0;

	while (options && options[n].name)
		n++;
	return n;
}

/* The command's options followed by the global ones, in a fresh array. */
static struct option *options_merge(const struct option *options)
{
	size_t n = options_count(options);
	size_t g = options_count(global_options);
	struct option *all = calloc(n + g + 1, sizeof(*all));

	if (!all)
		return NULL;
	if (n)
		memcpy(all, options, n * sizeof(*all));
	memcpy(all + n, global_options, g * sizeof(*all));
	return all;
}

/* ":" (we report errors), each short letter of options, the global ones;
 * with a leading "+" when options end at the first argument. */
static char *shortopts_make(const struct option *options, bool args_after)
{
	size_t n = options_count(options);
	char *s = malloc(2 * n + sizeof(GLOBAL_SHORT) + 2);
	size_t len = 0;
	size_t i;

	if (!s)
		return NULL;
	if (args_after)
		s[len++] = '+';
	s[len++] = ':';
	for (i = 0; i < n; i++) {
		if (options[i].val <= 0 || options[i].val >= 0x80 || !isalnum(options[i].val))
			continue;
		s[len++] = (char)options[i].val;
		if (options[i].has_arg == required_argument)
			s[len++] = ':';
	}
	memcpy(s + len, GLOBAL_SHORT, sizeof(GLOBAL_SHORT));
	return s;
}

static int options_loop(struct cli_ctx *ctx, int argc, char **argv, const struct option *all, const char *shortopts,
			cli_option_fn *on_option, void *state)
{
	int rc = CLI_CONTINUE;
	int c, idx = -1;

	optind = 0;
	opterr = 0;
	while (rc == CLI_CONTINUE && (c = getopt_long(argc, argv, shortopts, all, &idx)) != -1) {
		if (c != '?' && c != ':' && !long_option_spelt_out(argv, all, idx)) {
			rc = abbreviated_option(ctx, all, idx);
			break;
		}
		idx = -1;
		switch (c) {
		case 'h':
			verb_help(stdout, ctx->cmd);
			rc = CLI_EXIT_OK;
			break;
		case CLI_OPT_ADDR:
		case CLI_OPT_TOKEN_FILE:
		case CLI_OPT_CACERT:
		case 'o': rc = global_option(ctx, c, optarg); break;
		case '?':
		case ':': rc = option_error(ctx, c, argv); break;
		default: rc = on_option ? on_option(ctx, state, c, optarg) : CLI_CONTINUE; break;
		}
	}
	return rc;
}

int cli_parse_args(struct cli_ctx *ctx, int argc, char **argv, const struct option *options, cli_option_fn *on_option,
		   void *state, char ***args, int *nargs)
{
	struct option *all = options_merge(options);
	char *shortopts = shortopts_make(options, (ctx->cmd->flags & CLI_ARGS_AFTER) != 0);
	const struct cli_command *cmd = ctx->cmd;
	int rc;

	if (!all || !shortopts) {
		free(all);
		free(shortopts);
		return output_no_memory();
	}
	rc = options_loop(ctx, argc, argv, all, shortopts, on_option, state);
	free(all);
	free(shortopts);
	if (rc != CLI_CONTINUE)
		return rc;
	*args = argv + optind;
	*nargs = argc - optind;
	if (*nargs < cmd->min_args)
		return cli_usage_error(ctx, "missing argument");
	if (cmd->max_args >= 0 && *nargs > cmd->max_args)
		return cli_usage_error(ctx, "unexpected argument '%s'", (*args)[cmd->max_args]);
	return CLI_CONTINUE;
}

/* Options before the command. */
static int parse_leading(struct cli_ctx *ctx, int argc, char **argv)
{
	int c, idx = -1;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:" GLOBAL_SHORT, leading_options, &idx)) != -1) {
		if (c != '?' && c != ':' && !long_option_spelt_out(argv, leading_options, idx))
			return abbreviated_option(ctx, leading_options, idx);
		idx = -1;
		switch (c) {
		case 'h': main_help(stdout); return CLI_EXIT_OK;
		case CLI_OPT_VERSION: puts("tresor " TRESOR_VERSION); return CLI_EXIT_OK;
		case '?':
		case ':': return option_error(ctx, c, argv);
		default:
			if (global_option(ctx, c, optarg) != CLI_CONTINUE)
				return CLI_EXIT_USAGE;
			break;
		}
	}
	return CLI_CONTINUE;
}

/* ---- dispatch ---- */

/* True for a global option whose value is the next argument. */
static bool takes_next(const char *arg)
{
	return strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0 || strcmp(arg, "--addr") == 0 ||
	       strcmp(arg, "--token-file") == 0 || strcmp(arg, "--cacert") == 0;
}

#define VERB_HELP (-2)
#define VERB_NONE (-1)

/* Where the verb is in argv (argv[0] is the command), skipping global
 * options; VERB_HELP when --help comes first, VERB_NONE when there is none. */
static int verb_index(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return VERB_HELP;
		if (strcmp(argv[i], "--") == 0)
			return VERB_NONE;
		if (argv[i][0] != '-' || argv[i][1] == '\0')
			return i;
		if (takes_next(argv[i]))
			i++;
	}
	return VERB_NONE;
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
	ctx->cmd = cmd;
	if (cmd->flags & CLI_CLIENT)
		jsonmem_init(); /* JSON that held values or tokens is wiped when freed */
	return cmd->fn(ctx, argc, argv);
}

/*
 * Runs the verb at argv[v] with argv reordered as the verb, then whatever
 * came between command and verb (global options), then the rest.
 */
static int run_verb(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv, int v)
{
	char **vargv = calloc((size_t)argc, sizeof(*vargv));
	int n = 0;
	int i;
	int rc;

	if (!vargv)
		return output_no_memory();
	vargv[n++] = argv[v];
	for (i = 1; i < argc; i++) {
		if (i != v)
			vargv[n++] = argv[i];
	}
	rc = run(ctx, cmd, n, vargv);
	free(vargv);
	return rc;
}

static int dispatch_verb(struct cli_ctx *ctx, const struct cli_command *first, int argc, char **argv)
{
	const struct cli_command *cmd;
	int v = verb_index(argc, argv);

	if (v == VERB_HELP) {
		command_help(stdout, first);
		return CLI_EXIT_OK;
	}
	if (v == VERB_NONE) {
		output_errorf("'%s' needs a verb", first->name);
		command_help(stderr, first);
		return CLI_EXIT_USAGE;
	}
	cmd = command_find(first->name, argv[v]);
	if (!cmd) {
		output_errorf("unknown command '%s %s'", first->name, argv[v]);
		command_help(stderr, first);
		return CLI_EXIT_USAGE;
	}
	return run_verb(ctx, cmd, argc, argv, v);
}

/* argv[0] is the command. */
static int dispatch(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_command *cmd = command_find(argv[0], NULL);

	if (!cmd) {
		output_errorf("unknown command '%s'", argv[0]);
		fprintf(stderr, "usage: %s\nTry 'tresor --help'.\n", MAIN_USAGE);
		return CLI_EXIT_USAGE;
	}
	if (!cmd->verb)
		return run(ctx, cmd, argc, argv);
	return dispatch_verb(ctx, cmd, argc, argv);
}

/* ---- shared by the commands ---- */

int cli_connect(struct cli_ctx *ctx)
{
	struct tr_error err = {0};

	if (ctx->client)
		return CLI_CONTINUE;
	if (client_open(&ctx->client, ctx->addr, ctx->token_file, ctx->cacert, &err) != TR_OK)
		return output_error(&err);
	return CLI_CONTINUE;
}

int cli_request(struct cli_ctx *ctx, const char *method, const struct client_path *path, json_t *body, long *status,
		json_t **response)
{
	struct tr_error err = {0};
	json_t *json = NULL;
	long code = 0;
	int rc;

	rc = cli_connect(ctx);
	if (rc != CLI_CONTINUE)
		return rc;
	if (client_request(ctx->client, method, path, body, &code, &json, &err) != TR_OK)
		return output_error(&err);
	if (code < 200 || code >= 300) {
		rc = output_http_error(code, json);
		json_decref(json);
		return rc;
	}
	if (status)
		*status = code;
	if (response)
		*response = json;
	else
		json_decref(json);
	return CLI_CONTINUE;
}

int cli_request_any(struct cli_ctx *ctx, const char *method, const struct client_path *path, json_t *body, long *status,
		    json_t **response)
{
	struct tr_error err = {0};
	int rc;

	rc = cli_connect(ctx);
	if (rc != CLI_CONTINUE)
		return rc;
	if (client_request(ctx->client, method, path, body, status, response, &err) != TR_OK)
		return output_error(&err);
	return CLI_CONTINUE;
}

int cli_get_and_print(struct cli_ctx *ctx, const struct client_path *path, cli_print_fn print)
{
	json_t *resp = NULL;
	int rc = cli_request(ctx, "GET", path, NULL, NULL, &resp);

	if (rc != CLI_CONTINUE)
		return rc;
	rc = CLI_EXIT_OK;
	if (ctx->format == CLI_FORMAT_JSON)
		output_json(resp);
	else if (print(resp) != TR_OK)
		rc = output_no_memory();
	json_decref(resp);
	return rc;
}

int cli_parse_positive(const struct cli_ctx *ctx, const char *option, const char *arg, long long *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(arg, &end, 10);
	if (!isdigit((unsigned char)arg[0]) || *end != '\0' || errno != 0 || n <= 0)
		return cli_usage_error(ctx, "%s needs a positive whole number, not '%s'", option, arg);
	*out = n;
	return CLI_CONTINUE;
}

enum tr_status cli_read_file(const char *path, size_t max, char **out, size_t *len, struct tr_error *err)
{
	bool from_stdin = strcmp(path, "-") == 0;
	const char *name = from_stdin ? "standard input" : path;
	int fd = from_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	ssize_t n;
	int saved;

	if (fd < 0)
		return tr_error_set(err, TR_EINVAL, "cannot read '%s': %s", name, strerror(errno));
	buf = malloc(max + 1);
	if (!buf) {
		if (!from_stdin)
			close(fd);
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	n = fd_read_up_to(fd, buf, max + 1);
	saved = errno;
	if (!from_stdin)
		close(fd);
	if (n < 0 || (size_t)n > max) {
		sodium_memzero(buf, max + 1);
		free(buf);
		if (n < 0)
			return tr_error_set(err, TR_EINVAL, "cannot read '%s': %s", name, strerror(saved));
		return tr_error_set(err, TR_ETOOLARGE, "'%s' is larger than %zu KiB", name, max / 1024);
	}
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	return TR_OK;
}

enum tr_status cli_json_set_string(json_t *obj, const char *key, const char *value, struct tr_error *err)
{
	json_t *s;

	if (!value)
		return TR_OK;
	s = json_string(value);
	if (!s)
		return tr_error_set(err, TR_EINVAL, "the %s is not valid UTF-8 text", key);
	if (json_object_set_new(obj, key, s) < 0)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	return TR_OK;
}

/* ---- main ---- */

/* Reports a failure to write stdout (a full disk, a closed pipe). */
static int finish(int rc)
{
	struct tr_error err = {0};

	if (fflush(stdout) != 0 || ferror(stdout)) {
		tr_error_set(&err, TR_EINTERNAL, "cannot write the output");
		if (rc == CLI_EXIT_OK)
			rc = output_error(&err);
	}
	return rc;
}

int cli_main(int argc, char **argv)
{
	struct cli_ctx ctx = {.format = CLI_FORMAT_TABLE};
	int first;
	int rc;

	rc = parse_leading(&ctx, argc, argv);
	if (rc != CLI_CONTINUE)
		return finish(rc);
	first = optind;
	if (first >= argc)
		return cli_usage_error(&ctx, "missing command");
	rc = dispatch(&ctx, argc - first, argv + first);
	client_close(ctx.client);
	return finish(rc);
}
