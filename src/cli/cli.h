/*
 * cli.h - the `tresor` command line: what the cli files share.
 *
 * cli_main parses the global options, finds the command in the one command
 * table (commands.c) and runs it. A command function receives argv with its
 * verb at argv[0] ("create", ...), parses its own options with
 * cli_parse_args (which also knows the global ones, --help and the command's
 * argument count), talks to the server only through cli_request (or
 * cli_request_any), and prints
 * only through output.h. It returns the process exit code.
 *
 * Adding a command: write cmd_<command>_<verb> in cmd-<command>.c, declare it
 * below, add its line to commands[] in commands.c, describe it in
 * docs/cli.md, and cover it in the tests.
 */
#ifndef TRESOR_CLI_CLI_H
#define TRESOR_CLI_CLI_H

#include <getopt.h>
#include <jansson.h>

#include "cli/client.h"
#include "common/status.h"

#define CLI_EXIT_OK    0
#define CLI_EXIT_USAGE 1

/* Returned by the parsing helpers when the command should go on; every
 * other value is an exit code to return at once. */
#define CLI_CONTINUE (-1)

enum cli_format {
	CLI_FORMAT_TABLE, /* for people (default) */
	CLI_FORMAT_JSON,  /* the server's JSON, for scripts */
};

/* Long-only option ids start here; the globals' come first. */
enum {
	CLI_OPT_ADDR = 0x100,
	CLI_OPT_TOKEN_FILE,
	CLI_OPT_CACERT,
	CLI_OPT_VERSION,
	CLI_OPT_VERB_FIRST, /* commands number their own long-only options from here */
};

struct cli_command;

/* What one run of the program knows. */
struct cli_ctx {
	const char *addr;              /* --addr, or NULL: TRESOR_ADDR, then the default */
	const char *token_file;        /* --token-file, or NULL */
	const char *cacert;            /* --cacert, or NULL: TRESOR_CACERT, then the system's */
	enum cli_format format;        /* -o/--output */
	const struct cli_command *cmd; /* the command being run */
	struct client *client;         /* opened on first use by cli_connect */
};

/* A command: argv[0] is its verb (or its name when it has no verbs). */
typedef int cli_fn(struct cli_ctx *ctx, int argc, char **argv);

/* Flags of a command table entry. */
#define CLI_CLIENT     0x1 /* talks to a server: JSON memory is wiped when freed */
#define CLI_ARGS_AFTER 0x2 /* options end at the first argument (`run CMD -x`: -x is CMD's) */

struct cli_command {
	const char *name; /* "secrets" */
	const char *verb; /* "create", or NULL for a command without verbs */
	cli_fn *fn;       /* runs it */
	int min_args;     /* positional arguments, checked by cli_parse_args */
	int max_args;
	unsigned flags;      /* CLI_* */
	const char *usage;   /* what follows "tresor secrets create " in the usage line */
	const char *summary; /* one line for the command list */
	const char *details; /* the options, for --help; may be NULL */
};

/*
 * Called by cli_parse_args for each option that is not a global one, with
 * the option's id (its short letter or a CLI_OPT_VERB_FIRST+ id) and its
 * argument. Returns CLI_CONTINUE, or an exit code (after printing why).
 */
typedef int cli_option_fn(struct cli_ctx *ctx, void *state, int opt, const char *arg);

/*
 * Parses a command's argv (argv[0] is the verb): its own options (ended by
 * a zeroed entry; NULL for none) plus the global ones. On success returns
 * CLI_CONTINUE and points *args at the *nargs positional arguments, whose
 * count ctx->cmd allows. --help prints the command's help and returns 0; a
 * usage error is printed and returns CLI_EXIT_USAGE.
 */
int cli_parse_args(struct cli_ctx *ctx, int argc, char **argv, const struct option *options, cli_option_fn *on_option,
		   void *state, char ***args, int *nargs);

/* Prints "tresor: <message>" and the command's usage line to stderr;
 * returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens the client (address and token) unless it is open. Returns
 * CLI_CONTINUE, or prints the error and returns the exit code. */
int cli_connect(struct cli_ctx *ctx);

/*
 * Sends one request (connecting first if needed). On a 2xx answer returns
 * CLI_CONTINUE, stores the HTTP status in *status and the parsed body (NULL
 * when empty) in *response; both pointers may be NULL. On any other answer
 * or failure prints the error and returns the exit code.
 */
int cli_request(struct cli_ctx *ctx, const char *method, const struct client_path *path, json_t *body, long *status,
		json_t **response);

/*
 * Like cli_request, but any HTTP status is an answer: on CLI_CONTINUE
 * *status and *response (NULL when empty) hold it, 4xx and 5xx included, and
 * nothing is printed. For commands that act on a particular status (a 403 to
 * fall back from, a 400 that still carries results). Only a failure to talk
 * to the server is printed and returned as an exit code.
 */
int cli_request_any(struct cli_ctx *ctx, const char *method, const struct client_path *path, json_t *body, long *status,
		    json_t **response);

/* Prints a successful answer for people (a table or a listing). */
typedef enum tr_status (*cli_print_fn)(const json_t *resp);

/* GETs path and prints the answer: as JSON with -o json, else with print.
 * Returns the exit code. */
int cli_get_and_print(struct cli_ctx *ctx, const struct client_path *path, cli_print_fn print);

/* Parses arg, the argument of option, as a positive decimal integer into
 * *out. Returns CLI_CONTINUE, or prints a usage error and returns its code. */
int cli_parse_positive(const struct cli_ctx *ctx, const char *option, const char *arg, long long *out);

/*
 * Reads the file at path ("-": standard input) into a fresh buffer (NUL
 * after the bytes, not counted in *len) of at most max bytes. The caller
 * wipes and frees it. TR_EINVAL when it cannot be read, TR_ETOOLARGE when
 * it is larger; err names the file.
 */
enum tr_status cli_read_file(const char *path, size_t max, char **out, size_t *len, struct tr_error *err);

/* Sets obj[key] to a copy of value (nothing when value is NULL). TR_EINVAL
 * when value is not UTF-8 text, TR_EINTERNAL when out of memory. */
enum tr_status cli_json_set_string(json_t *obj, const char *key, const char *value, struct tr_error *err);

/* The command functions (cmd-*.c); commands.c lists them in commands[]. */
int cmd_workspaces_create(struct cli_ctx *ctx, int argc, char **argv);
int cmd_workspaces_list(struct cli_ctx *ctx, int argc, char **argv);
int cmd_workspaces_get(struct cli_ctx *ctx, int argc, char **argv);
int cmd_workspaces_delete(struct cli_ctx *ctx, int argc, char **argv);

int cmd_secrets_create(struct cli_ctx *ctx, int argc, char **argv);
int cmd_secrets_list(struct cli_ctx *ctx, int argc, char **argv);
int cmd_secrets_get(struct cli_ctx *ctx, int argc, char **argv);
int cmd_secrets_update(struct cli_ctx *ctx, int argc, char **argv);
int cmd_secrets_set(struct cli_ctx *ctx, int argc, char **argv);
int cmd_secrets_delete(struct cli_ctx *ctx, int argc, char **argv);
int cmd_secrets_reveal(struct cli_ctx *ctx, int argc, char **argv);
int cmd_secrets_versions(struct cli_ctx *ctx, int argc, char **argv);
int cmd_secrets_batch(struct cli_ctx *ctx, int argc, char **argv);

int cmd_tokens_create(struct cli_ctx *ctx, int argc, char **argv);
int cmd_tokens_list(struct cli_ctx *ctx, int argc, char **argv);
int cmd_tokens_delete(struct cli_ctx *ctx, int argc, char **argv);

int cmd_principals_create(struct cli_ctx *ctx, int argc, char **argv);
int cmd_principals_list(struct cli_ctx *ctx, int argc, char **argv);
int cmd_principals_delete(struct cli_ctx *ctx, int argc, char **argv);

int cmd_members_set(struct cli_ctx *ctx, int argc, char **argv);
int cmd_members_list(struct cli_ctx *ctx, int argc, char **argv);
int cmd_members_delete(struct cli_ctx *ctx, int argc, char **argv);

int cmd_audit_list(struct cli_ctx *ctx, int argc, char **argv);
int cmd_audit_verify(struct cli_ctx *ctx, int argc, char **argv);

int cmd_run(struct cli_ctx *ctx, int argc, char **argv);
int cmd_explain(struct cli_ctx *ctx, int argc, char **argv);
int cmd_export(struct cli_ctx *ctx, int argc, char **argv);

int cmd_keys_rotate(struct cli_ctx *ctx, int argc, char **argv);
int cmd_keys_status(struct cli_ctx *ctx, int argc, char **argv);

int cmd_import(struct cli_ctx *ctx, int argc, char **argv);

/* The entry point: runs one command line and returns the exit code. */
int cli_main(int argc, char **argv);

#endif
