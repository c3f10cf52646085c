/*
 * cmd-export.c - `tresor export` and `tresor import`: secrets as a .env
 * file, Kubernetes Secret manifests or a Docker config, and back
 * (docs/injection.md; the formats live in src/inject/).
 *
 * Values can leave the server two ways, and export uses whichever the
 * token may (--via, default auto):
 *   resolve  one POST …/resolve for every named secret (a service token;
 *            scope precedence and version pins apply);
 *   access   GET …/access per secret (a platform admin), each picked by
 *            the same precedence: --project's scope, then --cluster's, then
 *            the workspace's. With no secret named, every secret of the
 *            workspace (and of --project/--cluster) is exported.
 * auto tries resolve when secrets are named and falls back to access when
 * the server says 403 (that refusal stays in the audit log); with no
 * secret named it uses access. Both are audited by the server.
 *
 * The exported text is built in a wiped buffer and written with write(2),
 * not stdio, so no copy of it outlives the command.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/limits.h"
#include "common/wipemem.h"
#include "inject/dockercfg.h"
#include "inject/dotenv.h"
#include "inject/k8s.h"
#include "inject/sbuf.h"

#define DEFAULT_WORKSPACE "default"
#define IMPORT_MAX        (8 * 1024 * 1024) /* bytes of an imported file */
#define EXPORT_ITEMS_MAX  256
#define EXIT_DENIED       4 /* docs/cli.md */

enum {
	OPT_FORMAT = CLI_OPT_VERB_FIRST,
	OPT_PROJECT,
	OPT_CLUSTER,
	OPT_VIA,
	OPT_OUT,
};

enum format { FORMAT_NONE, FORMAT_ENV, FORMAT_K8S, FORMAT_DOCKERCONFIG };
enum via { VIA_AUTO, VIA_RESOLVE, VIA_ACCESS };

/* One [VAR=]SECRET[@VERSION][#KEY] of the command line. */
struct export_item {
	char *var;         /* VAR, or NULL: derived from the names */
	char *secret;      /* SECRET[@VERSION] */
	char *name;        /* SECRET */
	long long version; /* the pin, or 0 */
	char *key;         /* KEY, or NULL: every key (access) / the only key (resolve) */
};

/* One exported value. */
struct export_entry {
	char *name;        /* its secret */
	char *type;        /* NULL when unknown (resolve) */
	long long version; /* 0 when unknown */
	char *key;         /* KEY_UNKNOWN when resolved without naming one */
	json_t *value;     /* a string; wiped when freed */
	const char *var;   /* VAR of the command line (an item owns it), or NULL */
};

/* The key of a value resolved without naming one: the secret's only key,
 * whose name the resolve answer does not tell ("" is never a key name). */
#define KEY_UNKNOWN ""

struct export_args {
	const char *workspace;
	const char *project;
	const char *cluster;
	enum format format;
	enum via via;
	const char *out; /* --out FILE */
	struct export_item items[EXPORT_ITEMS_MAX];
	size_t nitems;
	struct export_entry *entries;
	size_t nentries;
};

/* clang-format off */
static const struct option export_options[] = {
	{"format", required_argument, NULL, OPT_FORMAT},
	{"workspace", required_argument, NULL, 'w'},
	{"project", required_argument, NULL, OPT_PROJECT},
	{"cluster", required_argument, NULL, OPT_CLUSTER},
	{"via", required_argument, NULL, OPT_VIA},
	{"out", required_argument, NULL, OPT_OUT},
	{NULL, 0, NULL, 0},
};

static const struct option import_options[] = {
	{"format", required_argument, NULL, OPT_FORMAT},
	{"workspace", required_argument, NULL, 'w'},
	{"project", required_argument, NULL, OPT_PROJECT},
	{"cluster", required_argument, NULL, OPT_CLUSTER},
	{NULL, 0, NULL, 0},
};
/* clang-format on */

/* ---- options ---- */

static int format_option(struct cli_ctx *ctx, struct export_args *a, const char *arg, bool importing)
{
	if (strcmp(arg, "env") == 0)
		a->format = FORMAT_ENV;
	else if (strcmp(arg, "k8s") == 0)
		a->format = FORMAT_K8S;
	else if (strcmp(arg, "dockerconfig") == 0 && !importing)
		a->format = FORMAT_DOCKERCONFIG;
	else
		return cli_usage_error(ctx, "unknown format '%s' (%s)", arg,
				       importing ? "env or k8s" : "env, k8s or dockerconfig");
	return CLI_CONTINUE;
}

static int via_option(struct cli_ctx *ctx, struct export_args *a, const char *arg)
{
	if (strcmp(arg, "auto") == 0)
		a->via = VIA_AUTO;
	else if (strcmp(arg, "resolve") == 0)
		a->via = VIA_RESOLVE;
	else if (strcmp(arg, "access") == 0)
		a->via = VIA_ACCESS;
	else
		return cli_usage_error(ctx, "--via takes auto, resolve or access, not '%s'", arg);
	return CLI_CONTINUE;
}

static int common_option(struct cli_ctx *ctx, struct export_args *a, int opt, const char *arg, bool importing)
{
	switch (opt) {
	case OPT_FORMAT: return format_option(ctx, a, arg, importing);
	case 'w': a->workspace = arg; return CLI_CONTINUE;
	case OPT_PROJECT: a->project = arg; return CLI_CONTINUE;
	case OPT_CLUSTER: a->cluster = arg; return CLI_CONTINUE;
	default: return cli_usage_error(ctx, "unknown option");
	}
}

static int export_option(struct cli_ctx *ctx, void *state, int opt, const char *arg)
{
	struct export_args *a = state;

	if (opt == OPT_VIA)
		return via_option(ctx, a, arg);
	if (opt == OPT_OUT) {
		a->out = arg;
		return CLI_CONTINUE;
	}
	return common_option(ctx, a, opt, arg, false);
}

static int import_option(struct cli_ctx *ctx, void *state, int opt, const char *arg)
{
	return common_option(ctx, state, opt, arg, true);
}

/* [VAR=]SECRET[@VERSION][#KEY] */
static int item_parse(struct cli_ctx *ctx, struct export_args *a, const char *arg)
{
	struct export_item *it = &a->items[a->nitems];
	const char *eq = strchr(arg, '=');
	const char *ref = eq ? eq + 1 : arg;
	const char *hash = strchr(ref, '#');
	size_t len = hash ? (size_t)(hash - ref) : strlen(ref);
	const char *at = memchr(ref, '@', len);
	char *end = NULL;

	if (a->nitems == EXPORT_ITEMS_MAX)
		return cli_usage_error(ctx, "at most %d secrets", EXPORT_ITEMS_MAX);
	if (len == 0 || (at && at == ref) || (hash && !hash[1]) || (eq && eq == arg))
		return cli_usage_error(ctx, "'%s' is not [VAR=]SECRET[@VERSION][#KEY]", arg);
	if (at) {
		errno = 0;
		it->version = strtoll(at + 1, &end, 10);
		if (errno || end != ref + len || it->version < 1)
			return cli_usage_error(ctx, "'%s' has a bad version pin", arg);
	}
	it->var = eq ? strndup(arg, (size_t)(eq - arg)) : NULL;
	it->secret = strndup(ref, len);
	it->name = strndup(ref, at ? (size_t)(at - ref) : len);
	it->key = hash ? strdup(hash + 1) : NULL;
	a->nitems++;
	if ((eq && !it->var) || !it->secret || !it->name || (hash && !it->key))
		return output_no_memory();
	if (it->var && a->format != FORMAT_ENV)
		return cli_usage_error(ctx, "VAR= names a variable of --format env only");
	return CLI_CONTINUE;
}

static void export_args_clear(struct export_args *a)
{
	size_t i;

	for (i = 0; i < a->nitems; i++) {
		free(a->items[i].var);
		free(a->items[i].secret);
		free(a->items[i].name);
		free(a->items[i].key);
	}
	for (i = 0; i < a->nentries; i++) {
		free(a->entries[i].name);
		free(a->entries[i].type);
		free(a->entries[i].key);
		json_decref(a->entries[i].value);
	}
	free(a->entries);
}

/* ---- collecting secrets ---- */

/* Adds one value to export. */
static enum tr_status entry_add(struct export_args *a, const struct export_item *it, const char *type,
				long long version, const char *key, json_t *value)
{
	struct export_entry *grown = realloc(a->entries, (a->nentries + 1) * sizeof(*grown));
	struct export_entry *e;

	if (!grown)
		return TR_EINTERNAL;
	a->entries = grown;
	e = &a->entries[a->nentries++];
	memset(e, 0, sizeof(*e));
	e->name = strdup(it->name);
	e->type = type ? strdup(type) : NULL;
	e->version = version;
	e->key = strdup(key);
	e->value = json_incref(value);
	e->var = it->var;
	if (!e->name || (type && !e->type) || !e->key)
		return TR_EINTERNAL;
	return TR_OK;
}

static void workspace_path(struct client_path *p, const struct export_args *a, const char *suffix)
{
	client_path_init(p, "/v2/workspaces");
	client_path_segment(p, a->workspace, strlen(a->workspace));
	client_path_literal(p, suffix);
}

/* The key a dockerconfig export reads, when none is named. */
static const char *item_key(const struct export_args *a, const struct export_item *it)
{
	if (!it->key && a->format == FORMAT_DOCKERCONFIG)
		return ".dockerconfigjson";
	return it->key;
}

static json_t *resolve_body(const struct export_args *a)
{
	json_t *env = json_array();
	json_t *body = json_pack("{s:o}", "env", env);
	char var[32];
	size_t i;

	for (i = 0; body && i < a->nitems; i++) {
		snprintf(var, sizeof(var), "EXPORT_%zu", i);
		if (json_array_append_new(
			env, json_pack("{s:s,s:s}", "envvar_name", var, "secret_name", a->items[i].secret)) < 0 ||
		    (item_key(a, &a->items[i]) && json_object_set_new(json_array_get(env, i), "secret_key",
								      json_string(item_key(a, &a->items[i]))) < 0)) {
			json_decref(body);
			return NULL;
		}
	}
	if (body && (cli_json_set_string(body, "project", a->project, NULL) != TR_OK ||
		     cli_json_set_string(body, "cluster", a->cluster, NULL) != TR_OK)) {
		json_decref(body);
		return NULL;
	}
	return body;
}

/* One resolved value. */
static enum tr_status resolved_add(struct export_args *a, const struct export_item *it, const json_t *e)
{
	const char *key = item_key(a, it);
	json_t *value = json_object_get(e, "value");

	if (!json_is_string(value))
		return TR_EINTERNAL;
	return entry_add(a, it, NULL, json_integer_value(json_object_get(e, "version")), key ? key : KEY_UNKNOWN,
			 value);
}

/*
 * The resolve path. Returns CLI_CONTINUE, an exit code, or (in auto mode)
 * EXIT_DENIED quietly for the caller to fall back.
 */
static int collect_resolve(struct cli_ctx *ctx, struct export_args *a, bool quiet_403)
{
	struct client_path path;
	json_t *body = resolve_body(a);
	json_t *resp = NULL;
	long status = 0;
	size_t i;
	int rc;

	if (!body)
		return output_no_memory();
	workspace_path(&path, a, "/resolve");
	rc = cli_request_any(ctx, "POST", &path, body, &status, &resp);
	json_decref(body);
	if (rc == CLI_CONTINUE && status == 403 && quiet_403)
		rc = EXIT_DENIED;
	else if (rc == CLI_CONTINUE && (status < 200 || status >= 300))
		rc = output_http_error(status, resp);
	for (i = 0; rc == CLI_CONTINUE && i < a->nitems; i++) {
		if (resolved_add(a, &a->items[i], json_array_get(json_object_get(resp, "env"), i)) != TR_OK)
			rc = output_no_memory();
	}
	json_decref(resp);
	return rc;
}

/* GET of a secret's metadata (suffix "") or value ("/access") in one scope. */
static void scoped_path(struct client_path *p, const struct export_args *a, const char *name, const char *suffix,
			const char *project, const char *cluster)
{
	workspace_path(p, a, "/secrets");
	client_path_segment(p, name, strlen(name));
	client_path_literal(p, suffix);
	client_path_query(p, "project", project);
	client_path_query(p, "cluster", cluster);
}

/*
 * The secret called name as the workload would see it: --project's scope,
 * then --cluster's, then the workspace's. *meta gets its metadata and
 * *project and *cluster the scope it was found in.
 */
static int access_pick(struct cli_ctx *ctx, const struct export_args *a, const char *name, json_t **meta,
		       const char **project, const char **cluster)
{
	const char *scopes[3][2] = {{a->project, NULL}, {NULL, a->cluster}, {NULL, NULL}};
	struct client_path path;
	long status = 0;
	int rc = CLI_CONTINUE;
	int i;

	for (i = 0; i < 3; i++) {
		if (i < 2 && !scopes[i][0] && !scopes[i][1])
			continue;
		scoped_path(&path, a, name, "", scopes[i][0], scopes[i][1]);
		rc = cli_request_any(ctx, "GET", &path, NULL, &status, meta);
		if (rc != CLI_CONTINUE)
			return rc;
		if (status == 200) {
			*project = scopes[i][0];
			*cluster = scopes[i][1];
			return CLI_CONTINUE;
		}
		if (status != 404 || i == 2)
			rc = output_http_error(status, *meta);
		json_decref(*meta);
		*meta = NULL;
		if (rc != CLI_CONTINUE)
			return rc;
	}
	return rc;
}

/* The values of an /access answer, as an object key -> value. */
static json_t *access_data(const json_t *resp)
{
	const json_t *value = json_object_get(resp, "value");

	if (json_is_string(value))
		return json_pack("{s:O}", "value", value);
	return json_incref(json_object_get(resp, "data"));
}

/* The keys of one accessed secret (only it->key when named). */
static enum tr_status accessed_add(struct export_args *a, const struct export_item *it, const json_t *meta,
				   const json_t *data)
{
	const char *type = output_str(meta, "type", "opaque");
	long long version = json_integer_value(json_object_get(meta, "version"));
	const char *key = item_key(a, it);
	enum tr_status st = TR_OK;
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)data, k, v) {
		if (st == TR_OK && (!key || strcmp(k, key) == 0))
			st = entry_add(a, it, type, version, k, v);
	}
	return st;
}

static int access_one(struct cli_ctx *ctx, struct export_args *a, const struct export_item *it)
{
	struct tr_error err = {0};
	const char *project = NULL, *cluster = NULL;
	struct client_path path;
	json_t *meta = NULL, *resp = NULL, *data = NULL;
	const char *key = item_key(a, it);
	int rc;

	rc = access_pick(ctx, a, it->name, &meta, &project, &cluster);
	if (rc == CLI_CONTINUE && it->version && it->version != json_integer_value(json_object_get(meta, "version"))) {
		tr_error_set(&err, TR_ENOTFOUND, "'%s': only the current version can be read with --via access",
			     it->secret);
		rc = output_error(&err);
	}
	if (rc == CLI_CONTINUE) {
		scoped_path(&path, a, it->name, "/access", project, cluster);
		rc = cli_request(ctx, "GET", &path, NULL, NULL, &resp);
	}
	if (rc == CLI_CONTINUE && !(data = access_data(resp)))
		rc = output_no_memory();
	if (rc == CLI_CONTINUE && key && !json_object_get(data, key)) {
		tr_error_set(&err, TR_ENOTFOUND, "Secret '%s/%s' has no key '%s'", a->workspace, it->name, key);
		rc = output_error(&err);
	}
	if (rc == CLI_CONTINUE && accessed_add(a, it, meta, data) != TR_OK)
		rc = output_no_memory();
	json_decref(data);
	json_decref(resp);
	json_decref(meta);
	return rc;
}

/* Adds the names of one page of the listing to the items to export. */
static int add_listed(struct export_args *a, const json_t *page)
{
	const json_t *s;
	size_t i;

	json_array_foreach (json_object_get(page, "data"), i, s) {
		const char *name = output_str(s, "name", NULL);
		size_t k;

		for (k = 0; k < a->nitems && name && strcmp(a->items[k].name, name) != 0; k++)
			;
		if (!name || k < a->nitems || a->nitems == EXPORT_ITEMS_MAX)
			continue;
		a->items[a->nitems].name = strdup(name);
		a->items[a->nitems].secret = strdup(name);
		if (!a->items[a->nitems++].secret)
			return output_no_memory();
	}
	return CLI_CONTINUE;
}

/* Every secret name of the workspace, as items to export: the listing
 * page by page, each asking for the page after the last (page_token),
 * which needs no total and neither repeats nor skips a secret. */
static int list_all(struct cli_ctx *ctx, struct export_args *a)
{
	struct client_path path;
	json_t *resp = NULL;
	char *token = NULL;
	int rc = CLI_CONTINUE;

	do {
		const char *next;

		workspace_path(&path, a, "/secrets");
		client_path_query(&path, "page_size", "1000");
		client_path_query(&path, "page_token", token);
		if (a->format == FORMAT_DOCKERCONFIG)
			client_path_query(&path, "type", "container_registry");
		free(token);
		token = NULL;
		if ((rc = cli_request(ctx, "GET", &path, NULL, NULL, &resp)) != CLI_CONTINUE)
			break;
		rc = add_listed(a, resp);
		next = json_string_value(json_object_get(json_object_get(resp, "pagination"), "next_page_token"));
		if (rc == CLI_CONTINUE && next && *next && !(token = strdup(next)))
			rc = output_no_memory();
		json_decref(resp);
		resp = NULL;
	} while (rc == CLI_CONTINUE && token);
	free(token);
	return rc;
}

static int collect_access(struct cli_ctx *ctx, struct export_args *a)
{
	size_t i;
	int rc = cli_connect(ctx);

	if (rc == CLI_CONTINUE && a->nitems == 0)
		rc = list_all(ctx, a);
	for (i = 0; i < a->nitems && rc == CLI_CONTINUE; i++)
		rc = access_one(ctx, a, &a->items[i]);
	return rc;
}

static int collect(struct cli_ctx *ctx, struct export_args *a)
{
	int rc;

	if (a->via == VIA_ACCESS || (a->via == VIA_AUTO && a->nitems == 0))
		return collect_access(ctx, a);
	if (a->nitems == 0) {
		output_errorf("name the secrets to export: --via resolve cannot list a workspace");
		return CLI_EXIT_USAGE;
	}
	rc = collect_resolve(ctx, a, a->via == VIA_AUTO);
	if (rc == EXIT_DENIED && a->via == VIA_AUTO)
		rc = collect_access(ctx, a);
	return rc;
}

/* ---- formats ---- */

/* upper(text) with everything but letters and digits as '_'. */
static void var_part(struct sbuf *b, const char *text)
{
	for (; *text; text++) {
		char c = *text;

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			c = '_';
		sbuf_addc(b, c);
	}
}

/* The variable of an entry: as given, else NAME_KEY (NAME for "value" or an
 * unknown key). */
static char *var_name(const struct export_entry *e)
{
	struct sbuf b = {0};

	if (e->var)
		return strdup(e->var);
	if (e->name[0] >= '0' && e->name[0] <= '9')
		sbuf_addc(&b, '_');
	var_part(&b, e->name);
	if (strcmp(e->key, KEY_UNKNOWN) != 0 && strcmp(e->key, "value") != 0) {
		sbuf_addc(&b, '_');
		var_part(&b, e->key);
	}
	return sbuf_take(&b);
}

/* "# tresor: secret=NAME key=KEY type=T" before each variable. */
static enum tr_status env_annotation(struct sbuf *out, const struct export_entry *e)
{
	enum tr_status st = sbuf_addf(out, DOTENV_ANNOTATION " secret=%s", e->name);

	if (st == TR_OK && strcmp(e->key, KEY_UNKNOWN) != 0)
		st = sbuf_addf(out, " key=%s", e->key);
	if (st == TR_OK && e->type)
		st = sbuf_addf(out, " type=%s", e->type);
	if (st == TR_OK)
		st = sbuf_addc(out, '\n');
	return st;
}

static enum tr_status env_entry(struct sbuf *out, const struct export_entry *e, json_t *seen, struct tr_error *err)
{
	char *var = var_name(e);
	enum tr_status st = TR_OK;

	if (!var)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	if (json_object_get(seen, var))
		st = tr_error_set(err, TR_EINVAL, "two values become the variable %s: name one VAR=SECRET#KEY", var);
	if (st == TR_OK && json_object_set_new(seen, var, json_true()) < 0)
		st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	if (st == TR_OK && env_annotation(out, e) != TR_OK)
		st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	if (st == TR_OK)
		st = dotenv_write(out, var, json_string_value(e->value), json_string_length(e->value), err);
	free(var);
	return st;
}

static enum tr_status format_env(const struct export_args *a, struct sbuf *out, struct tr_error *err)
{
	json_t *seen = json_object();
	enum tr_status st = seen ? TR_OK : tr_error_set(err, TR_EINTERNAL, "out of memory");
	size_t i;

	for (i = 0; i < a->nentries && st == TR_OK; i++)
		st = env_entry(out, &a->entries[i], seen, err);
	json_decref(seen);
	return st;
}

/* The entries of the secret of entries[first], as key -> value. */
static enum tr_status secret_data(const struct export_args *a, size_t first, json_t *data, struct tr_error *err)
{
	const struct export_entry *e;
	size_t i;

	for (i = first; i < a->nentries; i++) {
		e = &a->entries[i];
		if (strcmp(e->name, a->entries[first].name) != 0)
			continue;
		if (strcmp(e->key, KEY_UNKNOWN) == 0)
			return tr_error_set(err, TR_EINVAL,
					    "name the key of '%s' (SECRET#KEY): a resolved secret's key names are "
					    "not known",
					    e->name);
		if (json_object_set(data, e->key, e->value) < 0)
			return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	return TR_OK;
}

/* Whether an earlier entry belongs to the same secret (already written). */
static bool secret_seen(const struct export_args *a, size_t i)
{
	size_t k;

	for (k = 0; k < i; k++) {
		if (strcmp(a->entries[k].name, a->entries[i].name) == 0)
			return true;
	}
	return false;
}

/* One manifest per secret, in the order they first appear. */
static enum tr_status format_k8s(const struct export_args *a, struct sbuf *out, struct tr_error *err)
{
	enum tr_status st = TR_OK;
	json_t *data;
	size_t i;

	for (i = 0; i < a->nentries && st == TR_OK; i++) {
		struct k8s_secret ks = {
		    .name = a->entries[i].name,
		    .workspace = a->workspace,
		    .type = a->entries[i].type,
		    .version = a->entries[i].version,
		};

		if (secret_seen(a, i))
			continue;
		data = json_object();
		if (!data)
			return tr_error_set(err, TR_EINTERNAL, "out of memory");
		ks.data = data;
		st = secret_data(a, i, data, err);
		if (st == TR_OK)
			st = k8s_write(out, &ks, err);
		json_decref(data);
	}
	return st;
}

static enum tr_status format_dockerconfig(const struct export_args *a, struct sbuf *out, struct tr_error *err)
{
	json_t *auths = json_object();
	json_t *root = json_pack("{s:o}", "auths", auths);
	enum tr_status st = root ? TR_OK : tr_error_set(err, TR_EINTERNAL, "out of memory");
	const struct export_entry *e;
	char *text;
	size_t i;

	for (i = 0; i < a->nentries && st == TR_OK; i++) {
		e = &a->entries[i];
		if (strcmp(e->key, ".dockerconfigjson") != 0)
			st = tr_error_set(err, TR_EINVAL, "'%s#%s' is not a Docker config", e->name, e->key);
		else
			st = dockercfg_merge(auths, json_string_value(e->value), json_string_length(e->value), e->name,
					     err);
	}
	text = st == TR_OK ? json_dumps(root, JSON_INDENT(2)) : NULL;
	if (st == TR_OK && (!text || sbuf_adds(out, text) != TR_OK || sbuf_addc(out, '\n') != TR_OK))
		st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	wipe_free(text); /* json_dumps text: jansson allocates with malloc */
	json_decref(root);
	return st;
}

/* ---- output ---- */

static int write_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* stdout, or --out FILE made 0600. */
static enum tr_status output_write(const char *path, const struct sbuf *text, struct tr_error *err)
{
	int fd = STDOUT_FILENO;

	if (path) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return tr_error_set(err, TR_EINVAL, "cannot write '%s': %s", path, strerror(errno));
		if (fchmod(fd, 0600) < 0) {
			close(fd);
			return tr_error_set(err, TR_EINVAL, "cannot write '%s': %s", path, strerror(errno));
		}
	}
	fflush(stdout);
	if (write_all(fd, text->data ? text->data : "", text->len) < 0 || (path && close(fd) < 0)) {
		if (path)
			close(fd);
		return tr_error_set(err, TR_EINTERNAL, "cannot write the output: %s", strerror(errno));
	}
	return TR_OK;
}

int cmd_export(struct cli_ctx *ctx, int argc, char **argv)
{
	struct export_args a = {.workspace = DEFAULT_WORKSPACE};
	struct tr_error err = {0};
	struct sbuf out = {0};
	enum tr_status st;
	char **args;
	int nargs, i;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, export_options, export_option, &a, &args, &nargs);
	if (rc == CLI_CONTINUE && a.format == FORMAT_NONE)
		rc = cli_usage_error(ctx, "--format is required (env, k8s or dockerconfig)");
	for (i = 0; i < nargs && rc == CLI_CONTINUE; i++)
		rc = item_parse(ctx, &a, args[i]);
	if (rc == CLI_CONTINUE)
		rc = collect(ctx, &a);
	if (rc == CLI_CONTINUE) {
		st = a.format == FORMAT_ENV   ? format_env(&a, &out, &err)
		     : a.format == FORMAT_K8S ? format_k8s(&a, &out, &err)
					      : format_dockerconfig(&a, &out, &err);
		if (st == TR_OK)
			st = output_write(a.out, &out, &err);
		rc = st == TR_OK ? CLI_EXIT_OK : output_error(&err);
	}
	sbuf_clear(&out);
	export_args_clear(&a);
	return rc;
}

/* ---- import ---- */

/* One secret read from the file. */
struct import_secret {
	const char *name;
	const char *type; /* NULL: the server's default (opaque), or the existing type */
	json_t *data;
};

/* "secret=NAME key=KEY type=T" of an annotation; fields missing stay NULL. */
static void annotation_field(const char *text, const char *field, char *out, size_t size)
{
	size_t flen = strlen(field);
	const char *p = text;
	size_t n;

	out[0] = '\0';
	while ((p = strstr(p, field)) != NULL) {
		if ((p == text || p[-1] == ' ') && p[flen] == '=') {
			n = strcspn(p + flen + 1, " \t");
			if (n < size) {
				memcpy(out, p + flen + 1, n);
				out[n] = '\0';
			}
			return;
		}
		p += flen;
	}
}

/* The .env variables grouped into secrets: {"name":{"type":T,"data":{…}}}. */
static enum tr_status env_secrets(const struct dotenv *d, json_t *secrets, struct tr_error *err)
{
	char name[TR_SECRET_NAME_MAX + 1], key[TR_KEY_NAME_MAX + 1], type[TR_TYPE_NAME_MAX + 1];
	json_t *s, *value;
	size_t i;

	for (i = 0; i < d->count; i++) {
		const struct dotenv_entry *e = &d->items[i];

		annotation_field(e->annotation ? e->annotation : "", "secret", name, sizeof(name));
		annotation_field(e->annotation ? e->annotation : "", "key", key, sizeof(key));
		annotation_field(e->annotation ? e->annotation : "", "type", type, sizeof(type));
		if (!name[0])
			snprintf(name, sizeof(name), "%s", e->name);
		if (!key[0])
			snprintf(key, sizeof(key), "value");
		s = json_object_get(secrets, name);
		if (!s && (json_object_set_new(secrets, name, json_pack("{s:{}}", "data")) < 0 ||
			   !(s = json_object_get(secrets, name))))
			return tr_error_set(err, TR_EINTERNAL, "out of memory");
		if (type[0])
			json_object_set_new(s, "type", json_string(type));
		value = json_stringn(e->value, e->value_len);
		if (!value)
			return tr_error_set(err, TR_EINVAL, "line %d: the value of %s is not UTF-8 text", e->line,
					    e->name);
		if (json_object_set_new(json_object_get(s, "data"), key, value) < 0)
			return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	return TR_OK;
}

/* The file's secrets as {"name":{"type":T,"data":{…}}}. */
static enum tr_status import_read(enum format format, const char *text, size_t len, json_t **out, struct tr_error *err)
{
	struct dotenv d = {0};
	json_t *list = NULL;
	json_t *item;
	enum tr_status st;
	size_t i;

	*out = json_object();
	if (!*out)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	if (format == FORMAT_ENV) {
		st = dotenv_parse(text, len, &d, err);
		if (st == TR_OK)
			st = env_secrets(&d, *out, err);
		dotenv_clear(&d);
		return st;
	}
	st = k8s_read(text, len, &list, err);
	json_array_foreach (list, i, item) {
		if (st == TR_OK && json_object_set(*out, json_string_value(json_object_get(item, "name")), item) < 0)
			st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	json_decref(list);
	return st;
}

/* PUT one secret; prints "created/replaced secret ws/name (version N)". */
static int import_put(struct cli_ctx *ctx, const struct export_args *a, const char *name, const json_t *secret)
{
	json_t *body = json_pack("{s:O}", "data", json_object_get(secret, "data"));
	struct client_path path;
	json_t *resp = NULL;
	char version[OUTPUT_INT_MAX];
	long status = 0;
	int rc;

	if (!body ||
	    (json_object_get(secret, "type") && json_object_set(body, "type", json_object_get(secret, "type")) < 0)) {
		json_decref(body);
		return output_no_memory();
	}
	scoped_path(&path, a, name, "", a->project, a->cluster);
	rc = cli_request(ctx, "PUT", &path, body, &status, &resp);
	json_decref(body);
	if (rc != CLI_CONTINUE)
		return rc;
	output_warnings(resp);
	if (ctx->format == CLI_FORMAT_JSON)
		output_json(resp);
	else
		output_line("%s secret %s/%s (version %s)", status == 201 ? "created" : "replaced", a->workspace, name,
			    output_int(resp, "version", version));
	json_decref(resp);
	return CLI_CONTINUE;
}

int cmd_import(struct cli_ctx *ctx, int argc, char **argv)
{
	struct export_args a = {.workspace = DEFAULT_WORKSPACE};
	struct tr_error err = {0};
	json_t *secrets = NULL;
	const char *name;
	json_t *secret;
	char *text = NULL;
	size_t len = 0;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, import_options, import_option, &a, &args, &nargs);
	if (rc == CLI_CONTINUE && a.format == FORMAT_NONE)
		rc = cli_usage_error(ctx, "--format is required (env or k8s)");
	if (rc == CLI_CONTINUE && a.project && a.cluster)
		rc = cli_usage_error(ctx, "--project and --cluster are mutually exclusive");
	if (rc == CLI_CONTINUE)
		rc = cli_connect(ctx);
	if (rc == CLI_CONTINUE && (cli_read_file(args[0], IMPORT_MAX, &text, &len, &err) != TR_OK ||
				   import_read(a.format, text, len, &secrets, &err) != TR_OK))
		rc = output_error(&err);
	json_object_foreach (secrets, name, secret) {
		if (rc == CLI_CONTINUE)
			rc = import_put(ctx, &a, name, secret);
	}
	if (text) {
		sodium_memzero(text, len);
		free(text);
	}
	json_decref(secrets);
	export_args_clear(&a);
	return rc == CLI_CONTINUE ? CLI_EXIT_OK : rc;
}
