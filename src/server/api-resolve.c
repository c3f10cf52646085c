/*
 * api-resolve.c - POST /v2/workspaces/{ws}/resolve: values for workloads.
 *
 * The request names env mappings (AI Blueprints' recipe_environment_secrets
 * shape) and optionally a container registry secret; the reply carries the
 * values, which scope and version supplied each, and what they overrode.
 * It is sent with Cache-Control: no-store and wiped once written.
 */
#include "server/api.h"

#include <stdlib.h>
#include <string.h>

#include "domain/resolve.h"
#include "server/body.h"

static const char *const resolve_fields[] = {"project", "cluster", "env", "container_secret_name", NULL};
static const char *const env_fields[] = {"envvar_name", "secret_name", "secret_key", NULL};

static enum tr_status parse_env_item(json_t *entry, struct resolve_item *it, struct tr_error *err)
{
	enum tr_status st;

	if (!json_is_object(entry))
		return tr_error_set(err, TR_EVALIDATION, "field 'env': entries must be objects");
	if ((st = body_only_fields(entry, env_fields, err)) != TR_OK ||
	    (st = body_string(entry, "envvar_name", &it->envvar_name, err)) != TR_OK ||
	    (st = body_string(entry, "secret_name", &it->secret_name, err)) != TR_OK ||
	    (st = body_string(entry, "secret_key", &it->secret_key, err)) != TR_OK)
		return st;
	if (!it->envvar_name || !*it->envvar_name)
		return tr_error_set(err, TR_EVALIDATION, "field 'env.envvar_name': required");
	if (!it->secret_name || !*it->secret_name)
		return tr_error_set(err, TR_EVALIDATION, "field 'env.secret_name': required");
	return TR_OK;
}

/* Fills req from the body; req->items is calloc'd (the caller frees it). */
static enum tr_status parse_request(const json_t *body, struct resolve_request *req, struct tr_error *err)
{
	json_t *env = json_object_get(body, "env");
	const char *container = NULL;
	size_t n, i;
	json_t *entry;
	enum tr_status st;

	if ((st = body_only_fields(body, resolve_fields, err)) != TR_OK ||
	    (st = body_string(body, "project", &req->project, err)) != TR_OK ||
	    (st = body_string(body, "cluster", &req->cluster, err)) != TR_OK ||
	    (st = body_string(body, "container_secret_name", &container, err)) != TR_OK)
		return st;
	if (!json_is_array(env))
		return tr_error_set(err, TR_EVALIDATION, "field 'env': required, an array (it may be empty)");
	n = json_array_size(env);
	if (n > RESOLVE_MAX_ITEMS)
		return tr_error_set(err, TR_EVALIDATION, "field 'env': at most %d entries", RESOLVE_MAX_ITEMS);
	if (!(req->items = calloc(n + 1, sizeof(*req->items))))
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	json_array_foreach(env, i, entry)
		if ((st = parse_env_item(entry, &req->items[i], err)) != TR_OK)
			return st;
	req->count = n;
	req->container_index = -1;
	if (container && *container) {
		req->items[n].secret_name = container;
		req->container_index = (long)n;
		req->count++;
	}
	return TR_OK;
}

static void write_overrode(struct jsonw *w, unsigned overrode)
{
	jsonw_array_begin(w);
	for (int s = SCOPE_PROJECT; s >= SCOPE_WORKSPACE; s--)
		if (overrode & (1u << s))
			jsonw_string(w, resolve_scope_name((enum resolve_scope)s));
	jsonw_array_end(w);
}

/* The provenance of an item: secret, scope, version, what it overrode. */
static void write_provenance(struct jsonw *w, const struct resolve_request *req, const struct resolve_item *it)
{
	jsonw_key(w, "secret_name");
	jsonw_string(w, it->secret_name);
	jsonw_key(w, "scope");
	jsonw_string(w, resolve_scope_name(it->scope));
	jsonw_key(w, "project");
	jsonw_string_or_null(w, it->scope == SCOPE_PROJECT ? req->project : NULL);
	jsonw_key(w, "cluster");
	jsonw_string_or_null(w, it->scope == SCOPE_CLUSTER ? req->cluster : NULL);
	jsonw_key(w, "version");
	jsonw_integer(w, it->version);
	jsonw_key(w, "overrode");
	write_overrode(w, it->overrode);
}

static void write_env_item(struct jsonw *w, const struct resolve_request *req, const struct resolve_item *it)
{
	jsonw_object_begin(w);
	write_provenance(w, req, it);
	jsonw_key(w, "envvar_name");
	jsonw_string(w, it->envvar_name);
	jsonw_key(w, "secret_key");
	jsonw_string_or_null(w, it->secret_key);
	jsonw_key(w, "value");
	jsonw_stringn(w, (const char *)it->value.data, it->value.len);
	jsonw_object_end(w);
}

static void write_container(struct jsonw *w, const struct resolve_request *req)
{
	const struct resolve_item *it;

	if (req->container_index < 0) {
		jsonw_null(w);
		return;
	}
	it = &req->items[req->container_index];
	jsonw_object_begin(w);
	write_provenance(w, req, it);
	jsonw_key(w, "dockerconfigjson");
	jsonw_stringn(w, (const char *)it->value.data, it->value.len);
	jsonw_object_end(w);
}

/* The answer's text, values included (wiped when freed or sent); NULL if
 * it cannot be made. */
static char *response_text(const struct resolve_request *req, size_t *len)
{
	struct jsonw w;

	jsonw_init(&w, 1);
	jsonw_object_begin(&w);
	jsonw_key(&w, "env");
	jsonw_array_begin(&w);
	for (size_t i = 0; i < req->count; i++)
		if ((long)i != req->container_index)
			write_env_item(&w, req, &req->items[i]);
	jsonw_array_end(&w);
	jsonw_key(&w, "container_secret");
	write_container(&w, req);
	jsonw_object_end(&w);
	return http_jsonw_text(&w, len);
}

static void request_free(void *arg)
{
	struct resolve_request *req = arg;

	resolve_items_clear(req->items, req->count);
	free(req->items);
	free(req);
}

/* On the writer: the audit records, before the values may leave. */
static enum tr_status record(struct domain *d, struct api_request *r, void *arg, struct tr_error *err)
{
	return resolve_record(d, &r->actor, arg, err);
}

/* On the worker, for its journal: the same records, once routes.c knows
 * that nothing resolve_record would check again has changed. */
static struct store_audit *records(const struct api_request *r, void *arg, size_t *n)
{
	return resolve_audit_records(&r->actor, arg, n);
}

/* Reads and decrypts on the worker (ROUTE_READ_RECORD); the answer, which
 * holds the values, leaves once their records are journaled or have
 * committed. */
void api_resolve(struct api_request *r)
{
	struct resolve_request *req = calloc(1, sizeof(*req));
	struct tr_error err = {0};
	size_t len = 0;
	char *text;

	if (!req) {
		http_reply_status(r, TR_EINTERNAL, "out of memory");
		return;
	}
	req->workspace = r->params[0];
	if (parse_request(r->body, req, &err) != TR_OK || resolve_read(r->domain, &r->actor, req, &err) != TR_OK) {
		http_reply_error(r, &err);
		request_free(req);
		return;
	}
	text = response_text(req, &len);
	http_reply_text(r, 200, text, len, true);
	/* The values live on in the answer alone. */
	resolve_items_clear(req->items, req->count);
	http_reply_once_recorded(r, record, records, req, request_free);
}
