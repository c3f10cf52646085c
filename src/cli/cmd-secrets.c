/*
 * cmd-secrets.c - `tresor secrets create|list|get|update|set|delete|reveal|
 * versions|batch`, over /v2/workspaces/{ws}/secrets (docs/api.md).
 *
 * A secret is named WORKSPACE/NAME (split on the first '/') or NAME in the
 * workspace of -w/--workspace (default "default"). Values come from
 * --value, --from-file or --data; the ones read from files or standard
 * input are read with read(2), not stdio, into one buffer that is wiped as
 * soon as the value is in the request (whose JSON is wiped when freed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/fdread.h"
#include "common/limits.h"

#define DEFAULT_WORKSPACE "default"

enum {
	OPT_PROJECT = CLI_OPT_VERB_FIRST,
	OPT_CLUSTER,
	OPT_VALUE,
	OPT_FROM_FILE,
	OPT_DATA,
	OPT_TYPE,
	OPT_DESCRIPTION,
	OPT_TAG,
	OPT_VISIBILITY,
	OPT_EXPIRES_IN,
	OPT_SEARCH,
	OPT_CREATED_BY,
	OPT_SORT,
	OPT_PAGE,
	OPT_PAGE_SIZE,
	OPT_PAGE_TOKEN,
	OPT_FILE,
};

#define BATCH_MAX_FILE (1024 * 1024) /* the server's body limit */

/* Every option of every secrets verb; each verb accepts only its own. */
struct secret_args {
	const char *workspace;         /* -w, or NULL */
	const char *project;           /* --project */
	const char *cluster;           /* --cluster */
	const char *value;             /* --value ("-": standard input) */
	const char *from_file;         /* --from-file */
	const char *data[TR_MAX_KEYS]; /* --data KEY=VALUE|KEY=@FILE|KEY=-, as given */
	int ndata;
	const char *type;              /* --type */
	const char *description;       /* --description */
	const char *visibility;        /* --visibility */
	const char *tags[TR_TAGS_MAX]; /* --tag */
	int ntags;
	long long expires_in;   /* --expires-in, or 0 */
	const char *search;     /* list: --search */
	const char *created_by; /* list: --created-by */
	const char *sort;       /* list: --sort */
	long long page;         /* list: --page, or 0 */
	long long page_size;    /* list: --page-size, or 0 */
	const char *page_token; /* list: --page-token */
	const char *file;       /* batch: -f, --file */
};

/* The secret named on the command line. */
struct secret_ref {
	const char *workspace; /* not NUL-terminated: workspace_len bytes */
	size_t workspace_len;
	const char *name;
};

/* The option tables read best one option a line. */
/* clang-format off */
#define OPTIONS_END {NULL, 0, NULL, 0}
#define OPTION_WORKSPACE {"workspace", required_argument, NULL, 'w'}
#define OPTIONS_SCOPE \
	{"project", required_argument, NULL, OPT_PROJECT}, \
	{"cluster", required_argument, NULL, OPT_CLUSTER}

static const struct option scope_options[] = {
	OPTION_WORKSPACE,
	OPTIONS_SCOPE,
	OPTIONS_END,
};

static const struct option write_options[] = {
	OPTION_WORKSPACE,
	OPTIONS_SCOPE,
	{"value", required_argument, NULL, OPT_VALUE},
	{"from-file", required_argument, NULL, OPT_FROM_FILE},
	{"data", required_argument, NULL, OPT_DATA},
	{"type", required_argument, NULL, OPT_TYPE},
	{"description", required_argument, NULL, OPT_DESCRIPTION},
	{"tag", required_argument, NULL, OPT_TAG},
	{"visibility", required_argument, NULL, OPT_VISIBILITY},
	{"expires-in", required_argument, NULL, OPT_EXPIRES_IN},
	OPTIONS_END,
};

static const struct option list_options[] = {
	OPTION_WORKSPACE,
	OPTIONS_SCOPE,
	{"search", required_argument, NULL, OPT_SEARCH},
	{"type", required_argument, NULL, OPT_TYPE},
	{"tag", required_argument, NULL, OPT_TAG},
	{"created-by", required_argument, NULL, OPT_CREATED_BY},
	{"visibility", required_argument, NULL, OPT_VISIBILITY},
	{"sort", required_argument, NULL, OPT_SORT},
	{"page", required_argument, NULL, OPT_PAGE},
	{"page-size", required_argument, NULL, OPT_PAGE_SIZE},
	{"page-token", required_argument, NULL, OPT_PAGE_TOKEN},
	OPTIONS_END,
};

static const struct option batch_options[] = {
	OPTION_WORKSPACE,
	{"file", required_argument, NULL, 'f'},
	OPTIONS_END,
};
/* clang-format on */

/* ---- options ---- */

static int data_option(struct cli_ctx *ctx, struct secret_args *a, const char *arg)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg)
		return cli_usage_error(ctx, "--data needs KEY=VALUE, KEY=@FILE or KEY=-, not '%s'", arg);
	if (a->ndata == TR_MAX_KEYS)
		return cli_usage_error(ctx, "at most %d --data options", TR_MAX_KEYS);
	a->data[a->ndata++] = arg;
	return CLI_CONTINUE;
}

static int tag_option(struct cli_ctx *ctx, struct secret_args *a, const char *arg)
{
	if (a->ntags == TR_TAGS_MAX)
		return cli_usage_error(ctx, "at most %d --tag options", TR_TAGS_MAX);
	a->tags[a->ntags++] = arg;
	return CLI_CONTINUE;
}

static int secret_option(struct cli_ctx *ctx, void *state, int opt, const char *arg)
{
	struct secret_args *a = state;

	switch (opt) {
	case 'w': a->workspace = arg; break;
	case OPT_PROJECT: a->project = arg; break;
	case OPT_CLUSTER: a->cluster = arg; break;
	case OPT_VALUE: a->value = arg; break;
	case OPT_FROM_FILE: a->from_file = arg; break;
	case OPT_DATA: return data_option(ctx, a, arg);
	case OPT_TYPE: a->type = arg; break;
	case OPT_DESCRIPTION: a->description = arg; break;
	case OPT_TAG: return tag_option(ctx, a, arg);
	case OPT_VISIBILITY: a->visibility = arg; break;
	case OPT_EXPIRES_IN: return cli_parse_positive(ctx, "--expires-in", arg, &a->expires_in);
	case OPT_SEARCH: a->search = arg; break;
	case OPT_CREATED_BY: a->created_by = arg; break;
	case OPT_SORT: a->sort = arg; break;
	case OPT_PAGE: return cli_parse_positive(ctx, "--page", arg, &a->page);
	case OPT_PAGE_SIZE: return cli_parse_positive(ctx, "--page-size", arg, &a->page_size);
	case OPT_PAGE_TOKEN: a->page_token = arg; break;
	case 'f': a->file = arg; break;
	default: return cli_usage_error(ctx, "unknown option");
	}
	return CLI_CONTINUE;
}

/* A secret lives in one scope: --project and --cluster exclude each other
 * (except as list filters). */
static int scope_check(const struct cli_ctx *ctx, const struct secret_args *a)
{
	if (a->project && a->cluster)
		return cli_usage_error(ctx, "--project and --cluster are mutually exclusive");
	return CLI_CONTINUE;
}

/* The data key of a --data argument (the bytes before '='). */
static size_t data_key_len(const char *spec)
{
	return (size_t)(strchr(spec, '=') - spec);
}

static const char *data_value(const char *spec)
{
	return strchr(spec, '=') + 1;
}

/* The value options make sense together: one source, one stdin read, no key twice. */
static int values_check(const struct cli_ctx *ctx, const struct secret_args *a)
{
	int sources = (a->value != NULL) + (a->from_file != NULL) + (a->ndata > 0);
	int stdin_reads = a->value && strcmp(a->value, "-") == 0;
	size_t len;
	int i, j;

	if (sources > 1)
		return cli_usage_error(ctx, "--value, --from-file and --data are mutually exclusive");
	for (i = 0; i < a->ndata; i++) {
		len = data_key_len(a->data[i]);
		if (strcmp(data_value(a->data[i]), "-") == 0)
			stdin_reads++;
		for (j = 0; j < i; j++) {
			if (data_key_len(a->data[j]) == len && strncmp(a->data[i], a->data[j], len) == 0)
				return cli_usage_error(ctx, "the key '%.*s' is given twice", (int)len, a->data[i]);
		}
	}
	if (stdin_reads > 1)
		return cli_usage_error(ctx, "only one value can be read from standard input");
	return CLI_CONTINUE;
}

/* Splits WORKSPACE/NAME, or takes NAME in -w's workspace. */
static int secret_ref_parse(const struct cli_ctx *ctx, const char *arg, const char *workspace, struct secret_ref *ref)
{
	const char *slash = strchr(arg, '/');

	if (!slash) {
		ref->workspace = workspace ? workspace : DEFAULT_WORKSPACE;
		ref->workspace_len = strlen(ref->workspace);
		ref->name = arg;
	} else {
		ref->workspace = arg;
		ref->workspace_len = (size_t)(slash - arg);
		ref->name = slash + 1;
	}
	if (ref->workspace_len == 0 || ref->name[0] == '\0')
		return cli_usage_error(ctx, "'%s' is not a secret name (NAME or WORKSPACE/NAME)", arg);
	if (slash && workspace &&
	    (strlen(workspace) != ref->workspace_len || strncmp(workspace, arg, ref->workspace_len) != 0))
		return cli_usage_error(ctx, "'%s' is in workspace '%.*s', but --workspace says '%s'", arg,
				       (int)ref->workspace_len, arg, workspace);
	return CLI_CONTINUE;
}

/* ---- paths ---- */

/* /v2/workspaces/{ws}/secrets */
static void secrets_path(struct client_path *p, const struct secret_ref *ref)
{
	client_path_init(p, "/v2/workspaces");
	client_path_segment(p, ref->workspace, ref->workspace_len);
	client_path_literal(p, "/secrets");
}

/* /v2/workspaces/{ws}/secrets/{name}{suffix}?project=|cluster= */
static void secret_path(struct client_path *p, const struct secret_ref *ref, const char *suffix,
			const struct secret_args *a)
{
	secrets_path(p, ref);
	client_path_segment(p, ref->name, strlen(ref->name));
	client_path_literal(p, suffix);
	client_path_query(p, "project", a->project);
	client_path_query(p, "cluster", a->cluster);
}

/* ---- values ---- */

/*
 * Reads the value of key from path, or from standard input when path is
 * NULL (then one trailing newline is dropped), and stores it in obj[key].
 * Values over TR_MAX_DATA bytes are refused: the server would refuse them.
 */
static enum tr_status value_read_into(json_t *obj, const char *key, const char *path, struct tr_error *err)
{
	const char *source = path ? path : "standard input";
	char *buf = malloc(TR_MAX_DATA + 1);
	enum tr_status st = TR_OK;
	json_t *value = NULL;
	ssize_t n;
	int fd = STDIN_FILENO;

	if (!buf)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	if (path)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	else if (isatty(STDIN_FILENO))
		output_errorf("reading the value of '%s' from standard input (end with Ctrl-D)", key);
	n = fd < 0 ? -1 : fd_read_up_to(fd, buf, TR_MAX_DATA + 1);
	if (n < 0)
		st = tr_error_set(err, TR_EINVAL, "cannot read '%s': %s", source, strerror(errno));
	else if (n > TR_MAX_DATA)
		st = tr_error_set(err, TR_ETOOLARGE, "the value of '%s' from '%s' is larger than %d KiB", key, source,
				  TR_MAX_DATA / 1024);
	if (path && fd >= 0)
		close(fd);
	if (st == TR_OK && !path && n > 0 && buf[n - 1] == '\n')
		n -= (n > 1 && buf[n - 2] == '\r') ? 2 : 1;
	if (st == TR_OK) {
		value = json_stringn(buf, (size_t)n);
		if (!value)
			st = tr_error_set(err, TR_EINVAL, "the value of '%s' from '%s' is not UTF-8 text", key, source);
	}
	if (st == TR_OK && json_object_set_new(obj, key, value) < 0)
		st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	sodium_memzero(buf, TR_MAX_DATA + 1);
	free(buf);
	return st;
}

/* Adds one --data KEY=VALUE|KEY=@FILE|KEY=- to data. */
static enum tr_status data_add(json_t *data, const char *spec, struct tr_error *err)
{
	const char *value = data_value(spec);
	char *key = strndup(spec, data_key_len(spec));
	enum tr_status st = TR_OK;
	json_t *s;

	if (!key)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	if (strcmp(value, "-") == 0) {
		st = value_read_into(data, key, NULL, err);
	} else if (value[0] == '@') {
		st = value_read_into(data, key, value + 1, err);
	} else {
		s = json_string(value);
		if (!s)
			st = tr_error_set(err, TR_EINVAL, "the value of '%s' is not UTF-8 text", key);
		else if (json_object_set_new(data, key, s) < 0)
			st = tr_error_set(err, TR_EINVAL, "the key '%s' is not UTF-8 text", key);
	}
	free(key);
	return st;
}

static enum tr_status body_set_data(const struct secret_args *a, json_t *body, struct tr_error *err)
{
	json_t *data = json_object();
	enum tr_status st = TR_OK;
	int i;

	if (!data || json_object_set_new(body, "data", data) < 0)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	for (i = 0; i < a->ndata && st == TR_OK; i++)
		st = data_add(data, a->data[i], err);
	return st;
}

/* body.value or body.data from the value options, if any. */
static enum tr_status body_set_values(const struct secret_args *a, json_t *body, struct tr_error *err)
{
	if (a->value && strcmp(a->value, "-") == 0)
		return value_read_into(body, "value", NULL, err);
	if (a->value)
		return cli_json_set_string(body, "value", a->value, err);
	if (a->from_file)
		return value_read_into(body, "value", a->from_file, err);
	if (a->ndata > 0)
		return body_set_data(a, body, err);
	return TR_OK;
}

/* ---- request bodies ---- */

static enum tr_status body_set_tags(const struct secret_args *a, json_t *body, struct tr_error *err)
{
	json_t *tags;
	int i;

	if (a->ntags == 0)
		return TR_OK;
	tags = json_array();
	if (!tags || json_object_set_new(body, "tags", tags) < 0)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	for (i = 0; i < a->ntags; i++) {
		if (json_array_append_new(tags, json_string(a->tags[i])) < 0)
			return tr_error_set(err, TR_EINVAL, "the tag '%s' is not UTF-8 text", a->tags[i]);
	}
	return TR_OK;
}

/* type, description, visibility, tags and expires_in, when given. */
static enum tr_status body_set_fields(const struct secret_args *a, json_t *body, struct tr_error *err)
{
	enum tr_status st;

	st = cli_json_set_string(body, "type", a->type, err);
	if (st == TR_OK)
		st = cli_json_set_string(body, "description", a->description, err);
	if (st == TR_OK)
		st = cli_json_set_string(body, "visibility", a->visibility, err);
	if (st == TR_OK)
		st = body_set_tags(a, body, err);
	if (st == TR_OK && a->expires_in > 0 &&
	    json_object_set_new(body, "expires_in", json_integer(a->expires_in)) < 0)
		st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	return st;
}

/*
 * The body of create (POST) and set (PUT): name, fields, values, and for
 * create the scope. set, like every per-secret route, addresses the scope
 * with ?project= or ?cluster= instead (docs/api.md, Routes).
 */
static enum tr_status body_for_write(const struct secret_args *a, const struct secret_ref *ref, bool scope_in_body,
				     json_t **out, struct tr_error *err)
{
	json_t *body = json_object();
	enum tr_status st;

	if (!body)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	st = cli_json_set_string(body, "name", ref->name, err);
	if (st == TR_OK && scope_in_body)
		st = cli_json_set_string(body, "project", a->project, err);
	if (st == TR_OK && scope_in_body)
		st = cli_json_set_string(body, "cluster", a->cluster, err);
	if (st == TR_OK)
		st = body_set_fields(a, body, err);
	if (st == TR_OK)
		st = body_set_values(a, body, err);
	if (st != TR_OK) {
		json_decref(body);
		return st;
	}
	*out = body;
	return TR_OK;
}

/* The body of update (PATCH): only what was given; the scope is in the query. */
static enum tr_status body_for_update(const struct secret_args *a, json_t **out, struct tr_error *err)
{
	json_t *body = json_object();
	enum tr_status st;

	if (!body)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	st = body_set_fields(a, body, err);
	if (st == TR_OK)
		st = body_set_values(a, body, err);
	if (st != TR_OK) {
		json_decref(body);
		return st;
	}
	*out = body;
	return TR_OK;
}

/* ---- printing ---- */

/* "created secret default/hf-token (version 1)", or the JSON; warnings on stderr. */
static int written_print(const struct cli_ctx *ctx, const json_t *resp, const struct secret_ref *ref, const char *done)
{
	char version[OUTPUT_INT_MAX];
	char scope[2 * TR_SCOPE_NAME_MAX];

	output_warnings(resp);
	if (ctx->format == CLI_FORMAT_JSON) {
		output_json(resp);
		return CLI_EXIT_OK;
	}
	output_scope(resp, scope, sizeof(scope));
	if (strcmp(scope, "workspace") == 0)
		scope[0] = '\0';
	output_line("%s secret %.*s/%s%s%s (version %s)", done, (int)ref->workspace_len, ref->workspace, ref->name,
		    scope[0] ? " in " : "", scope, output_int(resp, "version", version));
	return CLI_EXIT_OK;
}

static enum tr_status secret_row_add(struct output_table *t, const json_t *s)
{
	char version[OUTPUT_INT_MAX];
	char scope[2 * TR_SCOPE_NAME_MAX];
	const char *row[] = {
	    output_str(s, "name", NULL),       output_str(s, "type", NULL),       output_scope(s, scope, sizeof(scope)),
	    output_str(s, "visibility", NULL), output_int(s, "version", version), output_str(s, "updated_at", NULL),
	    output_str(s, "created_by", NULL),
	};

	return output_table_add(t, row);
}

/* "page 1 of 3 (250 secrets)" under the table when there is more than one
 * page, and the token of the next page when there is one. */
static void pages_print(const json_t *page)
{
	const json_t *p = json_object_get(page, "pagination");
	json_int_t total_pages = json_integer_value(json_object_get(p, "total_pages"));
	const char *next = output_str(p, "next_page_token", NULL);

	if (next && *next)
		output_line("more secrets follow; see --page-token %s", next);
	if (total_pages <= 1 || (next && *next))
		return;
	output_line("page %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT
		    " secrets); see --page",
		    json_integer_value(json_object_get(p, "page")), total_pages,
		    json_integer_value(json_object_get(p, "total_results")));
}

static enum tr_status secrets_table(const json_t *page)
{
	static const char *const headers[] = {"NAME",    "TYPE",    "SCOPE",     "VISIBILITY",
					      "VERSION", "UPDATED", "CREATED BY"};
	struct output_table *t = output_table_new(7, headers);
	enum tr_status st = t ? TR_OK : TR_EINTERNAL;
	const json_t *s;
	size_t i;

	json_array_foreach (json_object_get(page, "data"), i, s) {
		if (st == TR_OK)
			st = secret_row_add(t, s);
	}
	if (st == TR_OK) {
		output_table_print(t);
		pages_print(page);
	}
	output_table_free(t);
	return st;
}

/* The metadata of one secret as "label: value" lines. */
static enum tr_status secret_print(const json_t *s)
{
	char version[OUTPUT_INT_MAX];
	char scope[2 * TR_SCOPE_NAME_MAX];
	char *tags = output_join(json_object_get(s, "tags"), ", ");
	char *keys = output_join(json_object_get(s, "keys"), ", ");
	const struct output_pair pairs[] = {
	    {"name", output_str(s, "name", NULL)},
	    {"workspace", output_str(s, "workspace", NULL)},
	    {"scope", output_scope(s, scope, sizeof(scope))},
	    {"type", output_str(s, "type", NULL)},
	    {"description", output_str(s, "description", "")},
	    {"visibility", output_str(s, "visibility", NULL)},
	    {"tags", tags},
	    {"keys", keys},
	    {"version", output_int(s, "version", version)},
	    {"created", output_str(s, "created_at", NULL)},
	    {"created by", output_str(s, "created_by", NULL)},
	    {"updated", output_str(s, "updated_at", NULL)},
	    {"updated by", output_str(s, "updated_by", NULL)},
	    {"expires", output_str(s, "expires_at", "never")},
	};
	enum tr_status st = TR_EINTERNAL;

	if (tags && keys) {
		output_pairs(pairs, sizeof(pairs) / sizeof(pairs[0]));
		st = TR_OK;
	}
	free(tags);
	free(keys);
	return st;
}

static void value_write(const json_t *value)
{
	fwrite(json_string_value(value), 1, json_string_length(value), stdout);
}

/* A single value and a newline, or KEY=VALUE lines for several keys. */
static enum tr_status revealed_print(const json_t *resp)
{
	const json_t *value = json_object_get(resp, "value");
	const json_t *data = json_object_get(resp, "data");
	const char *key;
	json_t *v;

	if (json_is_string(value)) {
		value_write(value);
		putchar('\n');
		return TR_OK;
	}
	if (!json_is_object(data))
		return TR_EINTERNAL;
	json_object_foreach ((json_t *)data, key, v) {
		if (!json_is_string(v))
			continue;
		if (json_object_size(data) > 1)
			printf("%s=", key);
		value_write(v);
		putchar('\n');
	}
	return TR_OK;
}

/* ---- the verbs ---- */

/*
 * What create, set and update do before building the body: parse and check
 * the options and NAME, then connect (so a missing token is reported
 * before anything is read from standard input).
 */
static int write_prepare(struct cli_ctx *ctx, int argc, char **argv, struct secret_args *a, struct secret_ref *ref)
{
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, write_options, secret_option, a, &args, &nargs);
	if (rc == CLI_CONTINUE)
		rc = scope_check(ctx, a);
	if (rc == CLI_CONTINUE)
		rc = values_check(ctx, a);
	if (rc == CLI_CONTINUE)
		rc = secret_ref_parse(ctx, args[0], a->workspace, ref);
	if (rc == CLI_CONTINUE)
		rc = cli_connect(ctx);
	return rc;
}

/* create (POST) and set (PUT) share everything but the request. */
static int secret_write(struct cli_ctx *ctx, int argc, char **argv, bool upsert)
{
	struct secret_args a = {0};
	struct tr_error err = {0};
	struct secret_ref ref;
	struct client_path path;
	json_t *body = NULL;
	json_t *resp = NULL;
	long status = 0;
	int rc;

	rc = write_prepare(ctx, argc, argv, &a, &ref);
	if (rc != CLI_CONTINUE)
		return rc;
	if (body_for_write(&a, &ref, !upsert, &body, &err) != TR_OK)
		return output_error(&err);
	if (upsert)
		secret_path(&path, &ref, "", &a);
	else
		secrets_path(&path, &ref);
	rc = cli_request(ctx, upsert ? "PUT" : "POST", &path, body, &status, &resp);
	json_decref(body);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = written_print(ctx, resp, &ref, upsert && status == 200 ? "replaced" : "created");
	json_decref(resp);
	return rc;
}

int cmd_secrets_create(struct cli_ctx *ctx, int argc, char **argv)
{
	return secret_write(ctx, argc, argv, false);
}

int cmd_secrets_set(struct cli_ctx *ctx, int argc, char **argv)
{
	return secret_write(ctx, argc, argv, true);
}

int cmd_secrets_update(struct cli_ctx *ctx, int argc, char **argv)
{
	struct secret_args a = {0};
	struct tr_error err = {0};
	struct secret_ref ref;
	struct client_path path;
	json_t *body = NULL;
	json_t *resp = NULL;
	int rc;

	rc = write_prepare(ctx, argc, argv, &a, &ref);
	if (rc != CLI_CONTINUE)
		return rc;
	if (body_for_update(&a, &body, &err) != TR_OK)
		return output_error(&err);
	secret_path(&path, &ref, "", &a);
	rc = cli_request(ctx, "PATCH", &path, body, NULL, &resp);
	json_decref(body);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = written_print(ctx, resp, &ref, "updated");
	json_decref(resp);
	return rc;
}

static void list_query(struct client_path *p, const struct secret_args *a)
{
	char page[OUTPUT_INT_MAX];
	char page_size[OUTPUT_INT_MAX];

	snprintf(page, sizeof(page), "%lld", a->page);
	snprintf(page_size, sizeof(page_size), "%lld", a->page_size);
	client_path_query(p, "search", a->search);
	client_path_query(p, "type", a->type);
	client_path_query(p, "tag", a->ntags ? a->tags[0] : NULL);
	client_path_query(p, "project", a->project);
	client_path_query(p, "cluster", a->cluster);
	client_path_query(p, "created_by", a->created_by);
	client_path_query(p, "visibility", a->visibility);
	client_path_query(p, "sort", a->sort);
	client_path_query(p, "page", a->page ? page : NULL);
	client_path_query(p, "page_size", a->page_size ? page_size : NULL);
	client_path_query(p, "page_token", a->page_token);
}

int cmd_secrets_list(struct cli_ctx *ctx, int argc, char **argv)
{
	struct secret_args a = {0};
	struct secret_ref ref;
	struct client_path path;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, list_options, secret_option, &a, &args, &nargs);
	if (rc != CLI_CONTINUE)
		return rc;
	if (a.ntags > 1)
		return cli_usage_error(ctx, "secrets list takes one --tag");
	if (a.page && a.page_token)
		return cli_usage_error(ctx, "--page and --page-token are mutually exclusive");
	ref.workspace = a.workspace ? a.workspace : DEFAULT_WORKSPACE;
	ref.workspace_len = strlen(ref.workspace);
	ref.name = "";
	secrets_path(&path, &ref);
	list_query(&path, &a);
	return cli_get_and_print(ctx, &path, secrets_table);
}

/*
 * get, delete and reveal: parse NAME and the scope into *a and *ref, send
 * method to the secret's path plus suffix. On success returns CLI_CONTINUE
 * with the answer in *resp (NULL for 204).
 */
static int secret_fetch(struct cli_ctx *ctx, int argc, char **argv, const char *method, const char *suffix,
			struct secret_args *a, struct secret_ref *ref, json_t **resp)
{
	struct client_path path;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, scope_options, secret_option, a, &args, &nargs);
	if (rc == CLI_CONTINUE)
		rc = scope_check(ctx, a);
	if (rc == CLI_CONTINUE)
		rc = secret_ref_parse(ctx, args[0], a->workspace, ref);
	if (rc != CLI_CONTINUE)
		return rc;
	secret_path(&path, ref, suffix, a);
	return cli_request(ctx, method, &path, NULL, NULL, resp);
}

int cmd_secrets_get(struct cli_ctx *ctx, int argc, char **argv)
{
	struct secret_args a = {0};
	struct secret_ref ref;
	json_t *resp = NULL;
	int rc;

	rc = secret_fetch(ctx, argc, argv, "GET", "", &a, &ref, &resp);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = CLI_EXIT_OK;
	if (ctx->format == CLI_FORMAT_JSON)
		output_json(resp);
	else if (secret_print(resp) != TR_OK)
		rc = output_no_memory();
	json_decref(resp);
	return rc;
}

int cmd_secrets_delete(struct cli_ctx *ctx, int argc, char **argv)
{
	struct secret_args a = {0};
	struct secret_ref ref;
	json_t *resp = NULL;
	int rc;

	rc = secret_fetch(ctx, argc, argv, "DELETE", "", &a, &ref, &resp);
	if (rc != CLI_CONTINUE)
		return rc;
	json_decref(resp);
	if (ctx->format == CLI_FORMAT_TABLE)
		output_line("deleted secret %.*s/%s%s%s%s", (int)ref.workspace_len, ref.workspace, ref.name,
			    a.project   ? " in project:"
			    : a.cluster ? " in cluster:"
					: "",
			    a.project ? a.project : "", a.cluster ? a.cluster : "");
	return CLI_EXIT_OK;
}

int cmd_secrets_reveal(struct cli_ctx *ctx, int argc, char **argv)
{
	struct secret_args a = {0};
	struct tr_error err = {0};
	struct secret_ref ref;
	json_t *resp = NULL;
	int rc;

	rc = secret_fetch(ctx, argc, argv, "GET", "/access", &a, &ref, &resp);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = CLI_EXIT_OK;
	if (ctx->format == CLI_FORMAT_JSON) {
		output_json(resp);
	} else if (revealed_print(resp) != TR_OK) {
		tr_error_set(&err, TR_EINTERNAL, "the answer for secret '%.*s/%s' has no value", (int)ref.workspace_len,
			     ref.workspace, ref.name);
		rc = output_error(&err);
	}
	json_decref(resp);
	return rc;
}

/* ---- versions ---- */

static enum tr_status version_row_add(struct output_table *t, const json_t *v)
{
	char version[OUTPUT_INT_MAX];
	const char *row[] = {
	    output_int(v, "version", version),
	    output_str(v, "created_at", NULL),
	    output_str(v, "created_by", NULL),
	    json_is_true(json_object_get(v, "current")) ? "yes" : "no",
	};

	return output_table_add(t, row);
}

static enum tr_status versions_table(const json_t *resp)
{
	static const char *const headers[] = {"VERSION", "CREATED", "CREATED-BY", "CURRENT"};
	struct output_table *t = output_table_new(4, headers);
	enum tr_status st = t ? TR_OK : TR_EINTERNAL;
	const json_t *v;
	size_t i;

	json_array_foreach (json_object_get(resp, "data"), i, v) {
		if (st == TR_OK)
			st = version_row_add(t, v);
	}
	if (st == TR_OK)
		output_table_print(t);
	output_table_free(t);
	return st;
}

int cmd_secrets_versions(struct cli_ctx *ctx, int argc, char **argv)
{
	struct secret_args a = {0};
	struct secret_ref ref;
	struct client_path path;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, scope_options, secret_option, &a, &args, &nargs);
	if (rc == CLI_CONTINUE)
		rc = scope_check(ctx, &a);
	if (rc == CLI_CONTINUE)
		rc = secret_ref_parse(ctx, args[0], a.workspace, &ref);
	if (rc != CLI_CONTINUE)
		return rc;
	secret_path(&path, &ref, "/versions", &a);
	return cli_get_and_print(ctx, &path, versions_table);
}

/* ---- batch ---- */

static enum tr_status result_row_add(struct output_table *t, const json_t *r)
{
	char code[OUTPUT_INT_MAX];
	const char *row[] = {
	    output_str(r, "action", NULL), output_str(r, "name", NULL),    output_str(r, "status", NULL),
	    output_int(r, "code", code),   output_str(r, "message", NULL),
	};

	return output_table_add(t, row);
}

static enum tr_status results_table(const json_t *resp)
{
	static const char *const headers[] = {"ACTION", "NAME", "STATUS", "CODE", "MESSAGE"};
	struct output_table *t = output_table_new(5, headers);
	enum tr_status st = t ? TR_OK : TR_EINTERNAL;
	const json_t *r;
	size_t i;

	json_array_foreach (json_object_get(resp, "results"), i, r) {
		if (st == TR_OK)
			st = result_row_add(t, r);
	}
	if (st == TR_OK)
		output_table_print(t);
	output_table_free(t);
	return st;
}

/* The payload file: a JSON object, sent as it is. */
static int batch_payload(const char *file, json_t **out)
{
	struct tr_error err = {0};
	json_error_t jerr;
	char *text = NULL;
	size_t len = 0;

	if (cli_read_file(file, BATCH_MAX_FILE, &text, &len, &err) != TR_OK)
		return output_error(&err);
	*out = json_loadb(text, len, 0, &jerr);
	sodium_memzero(text, len);
	free(text);
	if (!json_is_object(*out)) {
		/* Never jerr.text: it may quote the file, which holds secret values. */
		if (*out)
			tr_error_set(&err, TR_EINVAL, "'%s' is not a JSON object", file);
		else
			tr_error_set(&err, TR_EINVAL, "'%s' is not valid JSON (line %d, column %d)", file, jerr.line,
				     jerr.column);
		json_decref(*out);
		*out = NULL;
		return output_error(&err);
	}
	return CLI_CONTINUE;
}

/*
 * The answer of a batch: 200 when every item succeeded, 400 (with the same
 * results) when one failed. Either way the results are printed; anything
 * else is an ordinary error.
 */
static int batch_answer(const struct cli_ctx *ctx, long status, const json_t *resp)
{
	if ((status != 200 && status != 400) || !json_is_array(json_object_get(resp, "results")))
		return output_http_error(status, resp);
	if (ctx->format == CLI_FORMAT_JSON)
		output_json(resp);
	else if (results_table(resp) != TR_OK)
		return output_no_memory();
	return output_exit_code(status);
}

int cmd_secrets_batch(struct cli_ctx *ctx, int argc, char **argv)
{
	struct secret_args a = {0};
	struct secret_ref ref;
	struct client_path path;
	json_t *body = NULL;
	json_t *resp = NULL;
	long status = 0;
	char **args;
	int nargs;
	int rc;

	rc = cli_parse_args(ctx, argc, argv, batch_options, secret_option, &a, &args, &nargs);
	if (rc == CLI_CONTINUE && !a.file)
		rc = cli_usage_error(ctx, "-f/--file is required");
	if (rc == CLI_CONTINUE)
		rc = cli_connect(ctx);
	if (rc == CLI_CONTINUE)
		rc = batch_payload(a.file, &body);
	if (rc != CLI_CONTINUE)
		return rc;
	ref.workspace = a.workspace ? a.workspace : DEFAULT_WORKSPACE;
	ref.workspace_len = strlen(ref.workspace);
	secrets_path(&path, &ref);
	client_path_literal(&path, ":batch");
	rc = cli_request_any(ctx, "POST", &path, body, &status, &resp);
	if (rc == CLI_CONTINUE)
		rc = batch_answer(ctx, status, resp);
	json_decref(body);
	json_decref(resp);
	return rc;
}
