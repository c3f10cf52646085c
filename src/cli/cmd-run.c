/*
 * cmd-run.c - `tresor run` and `tresor explain`: a command with secrets
 * injected (SPEC §6, docs/injection.md), and where each variable would
 * come from.
 *
 * Both read the same mappings: a recipe file in the AI Blueprints shape,
 * -s VAR=SECRET[@VERSION][#KEY] and -e VAR=secret:SECRET[@VERSION][#KEY]
 * (secrets), -e VAR=VALUE (a plain value). A mapping given on the command
 * line replaces the recipe's for the same variable. Everything is resolved
 * by one POST …/resolve (a service token's call); no value is ever
 * printed. `run` then builds the child's environment (or its credential
 * files), expands $(VAR) in its arguments and hands it to src/inject/run.c
 * with a mask of every value. Values are wiped as soon as the child has
 * them: the resolve answer and every string made from it are wiped when
 * freed, and the client (and the token) is closed before the child starts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/limits.h"
#include "inject/dockercfg.h"
#include "inject/expand.h"
#include "inject/mask.h"
#include "inject/privdir.h"
#include "inject/run.h"
#include "inject/sbuf.h"

#define DEFAULT_WORKSPACE "default"
#define RECIPE_MAX        (1024 * 1024) /* bytes of a recipe file */
#define MAPPINGS_MAX      256           /* as many as one /resolve takes */
#define SECRET_PREFIX     "secret:"     /* -e VAR=secret:NAME (Paperspace) */

enum {
	OPT_PROJECT = CLI_OPT_VERB_FIRST,
	OPT_CLUSTER,
	OPT_RECIPE,
	OPT_FILES,
	OPT_NO_MASK,
};

/* Where a variable's mapping came from. */
enum var_origin {
	FROM_RECIPE,
	FROM_SECRET_OPTION, /* -s */
	FROM_ENV_OPTION,    /* -e */
};

/* One variable of the child's. */
struct run_var {
	char *name;
	bool is_secret;
	char *secret;      /* SECRET[@VERSION] when is_secret */
	char *key;         /* KEY, or NULL: the secret's only key */
	const char *plain; /* the value of a plain -e (in argv) */
	enum var_origin origin;
	bool replaced;       /* it replaced the recipe's mapping of the same name */
	const json_t *found; /* its entry of the resolve answer, once resolved */
};

/* What the options and the recipe say. */
struct run_args {
	const char *workspace;          /* -w, default "default" */
	const char *project;            /* --project */
	const char *cluster;            /* --cluster */
	const char *recipe;             /* --recipe FILE */
	const char *files;              /* --files DIR: the parent of the private directory */
	bool no_mask;                   /* --no-mask */
	const char *maps[MAPPINGS_MAX]; /* -s and -e arguments, in order */
	char map_opts[MAPPINGS_MAX];    /* 's' or 'e' for each */
	size_t nmaps;
	struct run_var vars[MAPPINGS_MAX];
	size_t nvars;
	char *registry;      /* the container registry secret, or NULL */
	json_t *recipe_json; /* the recipe, kept while its strings are used */
	json_t *recipe_args; /* its recipe_container_command_args, or NULL */
};

/* The child's environment: ours (wiped) first, then the inherited ones. */
struct env_list {
	char **items; /* NULL-terminated */
	size_t n;
	size_t owned; /* items[0..owned) were made here and hold values */
	size_t cap;
};

/* clang-format off */
static const struct option run_options[] = {
	{"workspace", required_argument, NULL, 'w'},
	{"project", required_argument, NULL, OPT_PROJECT},
	{"cluster", required_argument, NULL, OPT_CLUSTER},
	{"recipe", required_argument, NULL, OPT_RECIPE},
	{"secret", required_argument, NULL, 's'},
	{"env", required_argument, NULL, 'e'},
	{"files", required_argument, NULL, OPT_FILES},
	{"no-mask", no_argument, NULL, OPT_NO_MASK},
	{NULL, 0, NULL, 0},
};
/* clang-format on */

/* ---- variables ---- */

/* Kubernetes' rule for variable names, less "." and "..", which cannot be files. */
static bool var_name_valid(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	if (name[0] >= '0' && name[0] <= '9')
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

static void var_clear(struct run_var *v)
{
	free(v->name);
	free(v->secret);
	free(v->key);
	memset(v, 0, sizeof(*v));
}

static struct run_var *var_find(struct run_args *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->nvars; i++) {
		if (strcmp(a->vars[i].name, name) == 0)
			return &a->vars[i];
	}
	return NULL;
}

/* Splits SECRET[@VERSION][#KEY] into v->secret and v->key. */
static bool secret_ref_split(struct run_var *v, const char *ref)
{
	const char *hash = strchr(ref, '#');
	size_t len = hash ? (size_t)(hash - ref) : strlen(ref);

	if (len == 0 || (hash && hash[1] == '\0'))
		return false;
	v->secret = strndup(ref, len);
	v->key = hash ? strdup(hash + 1) : NULL;
	v->is_secret = true;
	return v->secret && (!hash || v->key);
}

/*
 * Adds a variable; one from the command line replaces the recipe's of the
 * same name, two from the command line are a usage error.
 */
static int var_add(struct cli_ctx *ctx, struct run_args *a, struct run_var *v)
{
	struct run_var *old = var_find(a, v->name);

	if (old && old->origin != FROM_RECIPE) {
		cli_usage_error(ctx, "the variable '%s' is given twice", v->name);
		var_clear(v);
		return CLI_EXIT_USAGE;
	}
	if (old) {
		var_clear(old);
		v->replaced = true;
		*old = *v;
		return CLI_CONTINUE;
	}
	if (a->nvars == MAPPINGS_MAX) {
		cli_usage_error(ctx, "at most %d variables", MAPPINGS_MAX);
		var_clear(v);
		return CLI_EXIT_USAGE;
	}
	a->vars[a->nvars++] = *v;
	return CLI_CONTINUE;
}

/* -s VAR=SECRET[@VERSION][#KEY] or -e VAR=secret:…|VALUE */
static int mapping_option(struct cli_ctx *ctx, struct run_args *a, int opt, const char *arg)
{
	const char *eq = strchr(arg, '=');
	const char *rhs = eq ? eq + 1 : NULL;
	struct run_var v = {0};
	bool ok;

	if (!eq || !var_name_valid(arg, (size_t)(eq - arg)))
		return cli_usage_error(ctx, "-%c needs VAR=%s with a variable name ([A-Za-z_.-][A-Za-z0-9_.-]*)", opt,
				       opt == 's' ? "SECRET[@VERSION][#KEY]" : "VALUE or VAR=secret:SECRET[#KEY]");
	v.name = strndup(arg, (size_t)(eq - arg));
	v.origin = opt == 's' ? FROM_SECRET_OPTION : FROM_ENV_OPTION;
	if (opt == 's')
		ok = secret_ref_split(&v, rhs);
	else if (strncmp(rhs, SECRET_PREFIX, strlen(SECRET_PREFIX)) == 0)
		ok = secret_ref_split(&v, rhs + strlen(SECRET_PREFIX));
	else
		ok = (v.plain = rhs) != NULL;
	if (!v.name || !ok) {
		var_clear(&v);
		return cli_usage_error(ctx, "'%s' does not name a secret as SECRET[@VERSION][#KEY]", arg);
	}
	return var_add(ctx, a, &v);
}

static int run_option(struct cli_ctx *ctx, void *state, int opt, const char *arg)
{
	struct run_args *a = state;

	switch (opt) {
	case 'w': a->workspace = arg; return CLI_CONTINUE;
	case OPT_PROJECT: a->project = arg; return CLI_CONTINUE;
	case OPT_CLUSTER: a->cluster = arg; return CLI_CONTINUE;
	case OPT_RECIPE: a->recipe = arg; return CLI_CONTINUE;
	case OPT_FILES: a->files = arg; return CLI_CONTINUE;
	case OPT_NO_MASK: a->no_mask = true; return CLI_CONTINUE;
	case 's':
	case 'e':
		if (a->nmaps == MAPPINGS_MAX)
			return cli_usage_error(ctx, "at most %d -s and -e options", MAPPINGS_MAX);
		a->map_opts[a->nmaps] = (char)opt;
		a->maps[a->nmaps++] = arg;
		return CLI_CONTINUE;
	default: return cli_usage_error(ctx, "unknown option");
	}
}

/* On the heap: ~25 KiB, most of it room for MAPPINGS_MAX variables that a
 * run rarely uses, is better not zeroed on the stack. */
static struct run_args *run_args_new(void)
{
	struct run_args *a = calloc(1, sizeof(*a));

	if (a)
		a->workspace = DEFAULT_WORKSPACE;
	return a;
}

static void run_args_free(struct run_args *a)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < a->nvars; i++)
		var_clear(&a->vars[i]);
	free(a->registry);
	json_decref(a->recipe_json);
	free(a);
}

/* ---- the recipe ---- */

/* One entry of recipe_environment_secrets. */
static enum tr_status recipe_env_add(struct run_args *a, const json_t *e, size_t i, struct tr_error *err)
{
	const char *name = json_string_value(json_object_get(e, "envvar_name"));
	const char *secret = json_string_value(json_object_get(e, "secret_name"));
	const json_t *key = json_object_get(e, "secret_key");
	struct run_var v = {.origin = FROM_RECIPE, .is_secret = true};

	if (!name || !var_name_valid(name, strlen(name)) || !secret || !*secret ||
	    (key && !json_is_null(key) && !json_is_string(key)))
		return tr_error_set(err, TR_EINVAL,
				    "recipe_environment_secrets[%zu] needs envvar_name (a variable name) and "
				    "secret_name, and secret_key is a string",
				    i);
	if (var_find(a, name))
		return tr_error_set(err, TR_EINVAL, "the recipe maps '%s' twice", name);
	if (a->nvars == MAPPINGS_MAX)
		return tr_error_set(err, TR_EINVAL, "the recipe maps more than %d variables", MAPPINGS_MAX);
	v.name = strdup(name);
	v.secret = strdup(secret);
	v.key = json_string_value(key) && *json_string_value(key) ? strdup(json_string_value(key)) : NULL;
	a->vars[a->nvars++] = v;
	if (!v.name || !v.secret || (json_string_value(key) && *json_string_value(key) && !v.key))
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	return TR_OK;
}

static enum tr_status recipe_args_check(const json_t *args, struct tr_error *err)
{
	const json_t *s;
	size_t i;

	if (!args || json_is_null(args))
		return TR_OK;
	if (!json_is_array(args))
		return tr_error_set(err, TR_EINVAL, "recipe_container_command_args is not an array");
	json_array_foreach (args, i, s) {
		if (!json_is_string(s))
			return tr_error_set(err, TR_EINVAL, "recipe_container_command_args[%zu] is not a string", i);
	}
	return TR_OK;
}

/* Reads recipe_environment_secrets, recipe_container_secret_name and
 * recipe_container_command_args; other fields of the recipe are not ours. */
static enum tr_status recipe_apply(struct run_args *a, json_t *r, struct tr_error *err)
{
	const json_t *env = json_object_get(r, "recipe_environment_secrets");
	const json_t *registry = json_object_get(r, "recipe_container_secret_name");
	const json_t *e;
	enum tr_status st = TR_OK;
	size_t i;

	if (env && !json_is_null(env) && !json_is_array(env))
		return tr_error_set(err, TR_EINVAL, "recipe_environment_secrets is not an array");
	json_array_foreach (env, i, e) {
		if (st == TR_OK)
			st = recipe_env_add(a, e, i, err);
	}
	if (st == TR_OK && registry && !json_is_null(registry) && !json_is_string(registry))
		st = tr_error_set(err, TR_EINVAL, "recipe_container_secret_name is not a string");
	if (st == TR_OK && json_string_value(registry) && *json_string_value(registry) &&
	    !(a->registry = strdup(json_string_value(registry))))
		st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	a->recipe_args = json_object_get(r, "recipe_container_command_args");
	if (st == TR_OK)
		st = recipe_args_check(a->recipe_args, err);
	return st;
}

static enum tr_status recipe_load(struct run_args *a, struct tr_error *err)
{
	json_error_t jerr;
	enum tr_status st;
	size_t len = 0;
	char *text = NULL;

	st = cli_read_file(a->recipe, RECIPE_MAX, &text, &len, err);
	if (st != TR_OK)
		return st;
	a->recipe_json = json_loadb(text, len, 0, &jerr);
	free(text);
	/* Never jerr.text: it quotes the input (the rule for every file we parse). */
	if (!a->recipe_json)
		return tr_error_set(err, TR_EINVAL, "the recipe '%s' is not valid JSON (line %d, column %d)", a->recipe,
				    jerr.line, jerr.column);
	if (!json_is_object(a->recipe_json))
		return tr_error_set(err, TR_EINVAL, "the recipe '%s' is not a JSON object", a->recipe);
	return recipe_apply(a, a->recipe_json, err);
}

/*
 * Parses the options, reads the recipe, then applies -s and -e, which
 * replace the recipe's mappings of the same variables.
 */
static int args_parse(struct cli_ctx *ctx, int argc, char **argv, struct run_args *a, char ***args, int *nargs)
{
	struct tr_error err = {0};
	size_t i;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, run_options, run_option, a, args, nargs);
	if (rc == CLI_CONTINUE && a->recipe && recipe_load(a, &err) != TR_OK)
		rc = output_error(&err);
	for (i = 0; i < a->nmaps && rc == CLI_CONTINUE; i++)
		rc = mapping_option(ctx, a, a->map_opts[i], a->maps[i]);
	if (rc == CLI_CONTINUE && a->registry && var_find(a, "DOCKER_CONFIG"))
		rc = cli_usage_error(ctx, "DOCKER_CONFIG is set by the registry secret; do not map it too");
	if (rc == CLI_CONTINUE && a->files && var_find(a, "CREDENTIALS_DIRECTORY"))
		rc = cli_usage_error(ctx, "CREDENTIALS_DIRECTORY is set by --files; do not map it too");
	return rc;
}

/* ---- resolving ---- */

static bool has_secrets(const struct run_args *a)
{
	size_t i;

	for (i = 0; i < a->nvars; i++) {
		if (a->vars[i].is_secret)
			return true;
	}
	return a->registry != NULL;
}

static enum tr_status env_entry_add(json_t *env, const struct run_var *v)
{
	json_t *e = json_object();

	if (!e || json_array_append_new(env, e) < 0)
		return TR_EINTERNAL;
	if (json_object_set_new(e, "envvar_name", json_string(v->name)) < 0 ||
	    json_object_set_new(e, "secret_name", json_string(v->secret)) < 0)
		return TR_EINTERNAL;
	if (v->key && json_object_set_new(e, "secret_key", json_string(v->key)) < 0)
		return TR_EINTERNAL;
	return TR_OK;
}

static enum tr_status resolve_body(const struct run_args *a, json_t **out, struct tr_error *err)
{
	json_t *body = json_object();
	json_t *env = json_array();
	enum tr_status st = TR_OK;
	size_t i;

	if (!body || !env || json_object_set_new(body, "env", env) < 0) {
		json_decref(body);
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	for (i = 0; i < a->nvars && st == TR_OK; i++) {
		if (a->vars[i].is_secret)
			st = env_entry_add(env, &a->vars[i]);
	}
	if (st != TR_OK)
		tr_error_set(err, TR_EINVAL, "a name in the mappings is not UTF-8 text");
	if (st == TR_OK)
		st = cli_json_set_string(body, "project", a->project, err);
	if (st == TR_OK)
		st = cli_json_set_string(body, "cluster", a->cluster, err);
	if (st == TR_OK)
		st = cli_json_set_string(body, "container_secret_name", a->registry, err);
	if (st != TR_OK) {
		json_decref(body);
		return st;
	}
	*out = body;
	return TR_OK;
}

/* Points each secret variable at its entry of the answer (same order). */
static enum tr_status answer_match(struct run_args *a, const json_t *resp, struct tr_error *err)
{
	const json_t *env = json_object_get(resp, "env");
	const json_t *e;
	size_t i, k = 0;

	for (i = 0; i < a->nvars; i++) {
		if (!a->vars[i].is_secret)
			continue;
		e = json_array_get(env, k++);
		if (!json_is_string(json_object_get(e, "value")) ||
		    strcmp(output_str(e, "envvar_name", ""), a->vars[i].name) != 0)
			return tr_error_set(err, TR_EINTERNAL, "the resolve answer does not match the request");
		a->vars[i].found = e;
	}
	if (a->registry &&
	    !json_is_string(json_object_get(json_object_get(resp, "container_secret"), "dockerconfigjson")))
		return tr_error_set(err, TR_EINTERNAL, "the resolve answer has no registry secret");
	return TR_OK;
}

/*
 * POSTs the one /resolve of this run (nothing when no secret is mapped: then
 * *resp stays NULL). Returns CLI_CONTINUE or an exit code.
 */
static int resolve(struct cli_ctx *ctx, struct run_args *a, json_t **resp)
{
	struct tr_error err = {0};
	struct client_path path;
	json_t *body = NULL;
	int rc;

	*resp = NULL;
	if (!has_secrets(a))
		return CLI_CONTINUE;
	if (resolve_body(a, &body, &err) != TR_OK)
		return output_error(&err);
	client_path_init(&path, "/v2/workspaces");
	client_path_segment(&path, a->workspace, strlen(a->workspace));
	client_path_literal(&path, "/resolve");
	rc = cli_request(ctx, "POST", &path, body, NULL, resp);
	json_decref(body);
	if (rc != CLI_CONTINUE)
		return rc;
	if (answer_match(a, *resp, &err) != TR_OK) {
		json_decref(*resp);
		*resp = NULL;
		return output_error(&err);
	}
	return CLI_CONTINUE;
}

/* ---- the child's environment ---- */

static enum tr_status env_push(struct env_list *e, char *item)
{
	size_t cap = e->cap ? 2 * e->cap : 64;
	char **grown;

	if (e->n + 2 > e->cap) {
		grown = realloc(e->items, cap * sizeof(*grown));
		if (!grown)
			return TR_EINTERNAL;
		e->items = grown;
		e->cap = cap;
	}
	e->items[e->n++] = item;
	e->items[e->n] = NULL;
	return TR_OK;
}

/* Adds NAME=value (len bytes) as one of ours. */
static enum tr_status env_set(struct env_list *e, const char *name, const char *value, size_t len, struct tr_error *err)
{
	struct sbuf b = {0};
	enum tr_status st;
	char *item;

	if (memchr(value, '\0', len))
		return tr_error_set(err, TR_EINVAL, "the value of %s holds a NUL byte: use --files", name);
	st = sbuf_adds(&b, name);
	if (st == TR_OK)
		st = sbuf_addc(&b, '=');
	if (st == TR_OK)
		st = sbuf_add(&b, value, len);
	item = st == TR_OK ? sbuf_take(&b) : NULL;
	sbuf_clear(&b);
	if (!item || env_push(e, item) != TR_OK) {
		inject_wipe_free(item);
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	e->owned++;
	return TR_OK;
}

/* Ours hold "name=…" already. */
static bool env_owns(const struct env_list *e, const char *item)
{
	size_t len = strcspn(item, "=");
	size_t i;

	for (i = 0; i < e->owned; i++) {
		if (strncmp(e->items[i], item, len) == 0 && e->items[i][len] == '=')
			return true;
	}
	return false;
}

/* tresor's own environment, less TRESOR_TOKEN and what we set. */
static enum tr_status env_inherit(struct env_list *e, struct tr_error *err)
{
	extern char **environ;
	char **p;

	for (p = environ; *p; p++) {
		if (strncmp(*p, "TRESOR_TOKEN=", 13) == 0 || env_owns(e, *p))
			continue;
		if (env_push(e, *p) != TR_OK)
			return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	return TR_OK;
}

static void env_clear(struct env_list *e)
{
	size_t i;

	for (i = 0; i < e->owned; i++)
		inject_wipe_free(e->items[i]);
	free(e->items);
	memset(e, 0, sizeof(*e));
}

/* $(VAR) looks only at the variables tresor sets for the child. */
static const char *env_lookup(void *ctx, const char *name, size_t len, size_t *value_len)
{
	const struct env_list *e = ctx;
	size_t i;

	for (i = 0; i < e->owned; i++) {
		if (strncmp(e->items[i], name, len) == 0 && e->items[i][len] == '=') {
			*value_len = strlen(e->items[i] + len + 1);
			return e->items[i] + len + 1;
		}
	}
	return NULL;
}

/* ---- what run prepares ---- */

struct run_prep {
	struct env_list env;
	struct mask *mask;     /* NULL with --no-mask */
	struct privdir files;  /* --files */
	struct privdir docker; /* DOCKER_CONFIG */
	char **argv;           /* expanded, NULL-terminated; wiped */
	size_t argc;
};

static void prep_clear(struct run_prep *p)
{
	size_t i;

	env_clear(&p->env);
	mask_free(p->mask);
	p->mask = NULL;
	privdir_remove(&p->files);
	privdir_remove(&p->docker);
	for (i = 0; p->argv && i < p->argc; i++)
		inject_wipe_free(p->argv[i]);
	free(p->argv);
	p->argv = NULL;
}

static const char *found_value(const struct run_var *v, size_t *len)
{
	const json_t *value = json_object_get(v->found, "value");

	*len = json_string_length(value);
	return json_string_value(value);
}

static enum tr_status mask_values(struct run_prep *p, const struct run_args *a, const json_t *resp,
				  struct tr_error *err)
{
	const json_t *cfg = json_object_get(json_object_get(resp, "container_secret"), "dockerconfigjson");
	const char *value;
	size_t i, len;

	p->mask = mask_new();
	if (!p->mask)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	for (i = 0; i < a->nvars; i++) {
		if (!a->vars[i].is_secret)
			continue;
		value = found_value(&a->vars[i], &len);
		if (mask_add_value(p->mask, value, len) != TR_OK)
			return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	if (cfg)
		return dockercfg_mask(p->mask, json_string_value(cfg), json_string_length(cfg), err);
	return TR_OK;
}

/* --files: each secret as a 0400 file named after its variable. */
static enum tr_status files_write(struct run_prep *p, const struct run_args *a, struct tr_error *err)
{
	enum tr_status st;
	const char *value;
	size_t i, len;

	st = privdir_make(&p->files, a->files, "tresor-credentials-", err);
	for (i = 0; i < a->nvars && st == TR_OK; i++) {
		if (!a->vars[i].is_secret)
			continue;
		value = found_value(&a->vars[i], &len);
		st = privdir_write(&p->files, a->vars[i].name, value, len, 0400, err);
	}
	if (st == TR_OK)
		st = privdir_chmod(&p->files, 0500, err);
	if (st == TR_OK)
		st = env_set(&p->env, "CREDENTIALS_DIRECTORY", p->files.path, strlen(p->files.path), err);
	return st;
}

/* The registry secret as config.json in a private DOCKER_CONFIG directory. */
static enum tr_status docker_write(struct run_prep *p, const struct run_args *a, const json_t *resp,
				   struct tr_error *err)
{
	const json_t *cfg = json_object_get(json_object_get(resp, "container_secret"), "dockerconfigjson");
	enum tr_status st;

	if (!cfg)
		return TR_OK;
	st = privdir_make(&p->docker, a->files, "tresor-docker-", err);
	if (st == TR_OK)
		st = privdir_write(&p->docker, "config.json", json_string_value(cfg), json_string_length(cfg), 0600,
				   err);
	if (st == TR_OK)
		st = env_set(&p->env, "DOCKER_CONFIG", p->docker.path, strlen(p->docker.path), err);
	return st;
}

/* The variables: secrets (unless --files) and plain values. */
static enum tr_status vars_set(struct run_prep *p, const struct run_args *a, struct tr_error *err)
{
	const struct run_var *v;
	enum tr_status st = TR_OK;
	const char *value;
	size_t i, len;

	for (i = 0; i < a->nvars && st == TR_OK; i++) {
		v = &a->vars[i];
		if (v->is_secret && a->files)
			continue;
		if (v->is_secret)
			value = found_value(v, &len);
		else
			len = strlen(value = v->plain);
		st = env_set(&p->env, v->name, value, len, err);
	}
	return st;
}

/* The command line: CMD ARGS… then the recipe's args; or the recipe's alone. */
static enum tr_status argv_build(struct run_prep *p, const struct run_args *a, char **cmd, int ncmd,
				 struct tr_error *err)
{
	size_t nrecipe = json_array_size(a->recipe_args);
	size_t i;
	const char *arg;

	p->argv = calloc((size_t)ncmd + nrecipe + 1, sizeof(*p->argv));
	if (!p->argv)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	for (i = 0; i < (size_t)ncmd + nrecipe; i++) {
		arg = i < (size_t)ncmd ? cmd[i] : json_string_value(json_array_get(a->recipe_args, i - (size_t)ncmd));
		if (expand_vars(arg, env_lookup, &p->env, &p->argv[i]) != TR_OK)
			return tr_error_set(err, TR_EINTERNAL, "out of memory");
		p->argc++;
	}
	return TR_OK;
}

static enum tr_status prepare(struct run_prep *p, const struct run_args *a, const json_t *resp, char **cmd, int ncmd,
			      struct tr_error *err)
{
	enum tr_status st = TR_OK;

	if (!a->no_mask && resp)
		st = mask_values(p, a, resp, err);
	if (st == TR_OK && a->files && resp)
		st = files_write(p, a, err);
	if (st == TR_OK && resp)
		st = docker_write(p, a, resp, err);
	if (st == TR_OK)
		st = vars_set(p, a, err);
	if (st == TR_OK)
		st = argv_build(p, a, cmd, ncmd, err);
	if (st == TR_OK)
		st = env_inherit(&p->env, err);
	return st;
}

static int run_child(struct run_prep *p)
{
	struct run_options o = {.argv = p->argv, .envp = p->env.items, .mask = p->mask};
	struct run_result res;
	struct tr_error err = {0};

	if (run_command(&o, &res, &err) != TR_OK)
		return output_error(&err);
	if (res.exec_errno)
		output_errorf("cannot run '%s': %s", p->argv[0], strerror(res.exec_errno));
	return res.exit_code;
}

int cmd_run(struct cli_ctx *ctx, int argc, char **argv)
{
	struct run_args *a = run_args_new();
	struct run_prep p = {0};
	struct tr_error err = {0};
	json_t *resp = NULL;
	char **cmd;
	int ncmd;
	int rc;

	if (!a)
		return output_no_memory();
	rc = args_parse(ctx, argc, argv, a, &cmd, &ncmd);
	if (rc == CLI_CONTINUE && ncmd == 0 && json_array_size(a->recipe_args) == 0)
		rc = cli_usage_error(ctx, "no command: give one after '--'");
	if (rc == CLI_CONTINUE)
		rc = resolve(ctx, a, &resp);
	if (rc == CLI_CONTINUE && prepare(&p, a, resp, cmd, ncmd, &err) != TR_OK)
		rc = output_error(&err);
	/* The child gets its copies: the answer and the token go now. */
	json_decref(resp);
	client_close(ctx->client);
	ctx->client = NULL;
	if (rc == CLI_CONTINUE)
		rc = run_child(&p);
	prep_clear(&p);
	run_args_free(a);
	return rc;
}

/* ---- explain ---- */

static const char *origin_name(enum var_origin o)
{
	switch (o) {
	case FROM_RECIPE: return "recipe";
	case FROM_SECRET_OPTION: return "-s";
	case FROM_ENV_OPTION: return "-e";
	}
	return "-";
}

/* The scopes an entry overrode, and "recipe" when it replaced the recipe's. */
static char *overrode_text(const json_t *entry, bool replaced)
{
	char *scopes = output_join(json_object_get(entry, "overrode"), ", ");
	struct sbuf b = {0};
	char *text;

	if (!scopes)
		return NULL;
	sbuf_adds(&b, scopes);
	if (replaced)
		sbuf_adds(&b, b.len ? ", recipe" : "recipe");
	free(scopes);
	text = b.len ? sbuf_take(&b) : strdup("-");
	sbuf_clear(&b);
	return text;
}

/* One row: VARIABLE SECRET KEY SCOPE VERSION OVERRODE FROM. */
static enum tr_status explain_row(struct output_table *t, const char *name, const json_t *entry, const char *secret,
				  const char *key, bool replaced, const char *from)
{
	char version[OUTPUT_INT_MAX];
	char scope[2 * TR_SCOPE_NAME_MAX];
	char *overrode = entry ? overrode_text(entry, replaced) : strdup(replaced ? "recipe" : "-");
	const char *row[] = {
	    name,
	    secret,
	    key,
	    entry ? output_scope(entry, scope, sizeof(scope)) : "command line",
	    entry ? output_int(entry, "version", version) : "-",
	    overrode,
	    from,
	};
	enum tr_status st;

	st = overrode ? output_table_add(t, row) : TR_EINTERNAL;
	free(overrode);
	return st;
}

static enum tr_status explain_table(const struct run_args *a, const json_t *resp)
{
	static const char *const headers[] = {"VARIABLE", "SECRET", "KEY", "SCOPE", "VERSION", "OVERRODE", "FROM"};
	struct output_table *t = output_table_new(7, headers);
	const json_t *registry = json_object_get(resp, "container_secret");
	enum tr_status st = t ? TR_OK : TR_EINTERNAL;
	const struct run_var *v;
	size_t i;

	for (i = 0; i < a->nvars && st == TR_OK; i++) {
		v = &a->vars[i];
		if (v->is_secret)
			st = explain_row(t, v->name, v->found, v->secret, v->key ? v->key : "-", v->replaced,
					 origin_name(v->origin));
		else
			st = explain_row(t, v->name, NULL, "-", "-", v->replaced, origin_name(v->origin));
	}
	if (st == TR_OK && a->registry)
		st = explain_row(t, "DOCKER_CONFIG", registry, a->registry, ".dockerconfigjson", false,
				 a->recipe ? "recipe" : "-");
	if (st == TR_OK)
		output_table_print(t);
	output_table_free(t);
	return st;
}

/* The provenance of an answer entry, without its value. */
static json_t *explain_entry(const char *name, const json_t *entry, const struct run_var *v)
{
	json_t *o = entry ? json_deep_copy(entry) : json_object();

	if (!o)
		return NULL;
	json_object_del(o, "value");
	json_object_del(o, "dockerconfigjson");
	json_object_set_new(o, "envvar_name", json_string(name));
	json_object_set_new(o, "from", json_string(v ? origin_name(v->origin) : "recipe"));
	json_object_set_new(o, "replaced_recipe", json_boolean(v && v->replaced));
	if (v && !v->is_secret)
		json_object_set_new(o, "secret_name", json_null());
	return o;
}

static enum tr_status explain_json(const struct run_args *a, const json_t *resp)
{
	json_t *vars = json_array();
	json_t *out = json_pack("{s:o}", "variables", vars);
	enum tr_status st = out ? TR_OK : TR_EINTERNAL;
	const struct run_var *v;
	size_t i;

	for (i = 0; i < a->nvars && st == TR_OK; i++) {
		v = &a->vars[i];
		if (json_array_append_new(vars, explain_entry(v->name, v->found, v)) < 0)
			st = TR_EINTERNAL;
	}
	if (st == TR_OK && a->registry &&
	    json_array_append_new(vars,
				  explain_entry("DOCKER_CONFIG", json_object_get(resp, "container_secret"), NULL)) < 0)
		st = TR_EINTERNAL;
	if (st == TR_OK)
		output_json(out);
	json_decref(out);
	return st;
}

int cmd_explain(struct cli_ctx *ctx, int argc, char **argv)
{
	struct run_args *a = run_args_new();
	json_t *resp = NULL;
	char **args;
	int nargs;
	int rc;

	if (!a)
		return output_no_memory();
	rc = args_parse(ctx, argc, argv, a, &args, &nargs);
	if (rc == CLI_CONTINUE)
		rc = resolve(ctx, a, &resp);
	if (rc == CLI_CONTINUE) {
		rc = CLI_EXIT_OK;
		if ((ctx->format == CLI_FORMAT_JSON ? explain_json(a, resp) : explain_table(a, resp)) != TR_OK)
			rc = output_no_memory();
	}
	json_decref(resp);
	run_args_free(a);
	return rc;
}
