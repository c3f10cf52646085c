/*
 * api-secrets.c - /v2/workspaces/{ws}/secrets: the wire format of secrets.
 *
 * Turns request bodies into struct secret_input (values go straight into a
 * struct secdata, wiped after use) and metadata into JSON. Responses carry
 * key names, never values; only /access returns values, to platform admins,
 * in a reply that is wiped once sent.
 */
#include "server/api.h"

#include <stdlib.h>
#include <string.h>

#include "domain/secrets.h"
#include "domain/types.h"
#include "server/body.h"
#include "server/page-token.h"
#include "server/secret-input.h"

/* --- addressing ---------------------------------------------------------- */

static struct secret_ref ref_of(const struct api_request *r)
{
	struct secret_ref ref = {
		.workspace = r->params[0],
		.project = http_query(r, "project"),
		.cluster = http_query(r, "cluster"),
		.name = r->params[1],
	};
	return ref;
}

/* --- rendering ----------------------------------------------------------- */

/* Most secrets have no tags and one value: "[]" is not parsed. */
static json_t *json_array_from_text(const char *text)
{
	json_t *arr;

	if (!text || strcmp(text, "[]") == 0)
		return json_array();
	arr = json_loads(text, 0, NULL);
	if (!json_is_array(arr)) {
		json_decref(arr);
		return json_array();
	}
	return arr;
}

static json_t *nullable_string(const char *s)
{
	return *s ? json_string(s) : json_null();
}

static json_t *secret_json(const struct store_secret *m)
{
	json_t *obj = json_object();

	json_object_set_new(obj, "name", json_string(m->name));
	json_object_set_new(obj, "workspace", json_string(m->workspace));
	json_object_set_new(obj, "project", nullable_string(m->project));
	json_object_set_new(obj, "cluster", nullable_string(m->cluster));
	json_object_set_new(obj, "type", json_string(m->type));
	json_object_set_new(obj, "description", json_string(m->description));
	json_object_set_new(obj, "visibility", json_string(m->visibility));
	json_object_set_new(obj, "tags", json_array_from_text(m->tags_json));
	json_object_set_new(obj, "keys", json_array_from_text(m->keys_json));
	json_object_set_new(obj, "version", json_integer(m->version));
	http_json_set_time(obj, "created_at", m->created_at);
	http_json_set_time(obj, "updated_at", m->updated_at);
	json_object_set_new(obj, "created_by", json_string(m->created_by));
	json_object_set_new(obj, "updated_by", json_string(m->updated_by));
	http_json_set_time(obj, "expires_at", m->expires_at);
	json_object_set_new(obj, "expired", json_boolean(m->expires_at != 0 && m->expires_at <= domain_now()));
	return obj;
}

/* A created or changed secret's reply, made on the worker as it is sent:
 * the writer only hands over the metadata. */
struct secret_reply {
	struct store_secret m;
	struct warnings *w; /* NULL: none */
};

static json_t *render_secret(void *arg)
{
	const struct secret_reply *sr = arg;
	json_t *obj = secret_json(&sr->m);

	if (sr->w) {
		json_t *arr = json_array();

		for (size_t i = 0; i < sr->w->count; i++)
			json_array_append_new(arr, json_string(sr->w->items[i]));
		json_object_set_new(obj, "warnings", arr);
	}
	return obj;
}

static void secret_reply_free(void *arg)
{
	struct secret_reply *sr = arg;

	store_secret_clear(&sr->m);
	free(sr->w);
	free(sr);
}

/* Replies with m, which it takes over (m is left empty). */
static void reply_secret(struct api_request *r, int status, struct store_secret *m, const struct warnings *w)
{
	struct secret_reply *sr = calloc(1, sizeof(*sr));

	if (!sr || (w && w->count > 0 && !(sr->w = malloc(sizeof(*w))))) {
		free(sr);
		http_reply_status(r, TR_EINTERNAL, "out of memory");
		return;
	}
	if (sr->w)
		*sr->w = *w;
	sr->m = *m;
	memset(m, 0, sizeof(*m));
	http_reply_rendered(r, status, render_secret, sr, secret_reply_free);
}

/* --- handlers ------------------------------------------------------------ */

void api_secrets_create(struct api_request *r)
{
	struct parsed_input p = {0};
	struct store_secret m = {0};
	struct warnings w = {0};
	struct tr_error err = {0};

	if (secret_input_parse(r->body, SECRET_INPUT_CREATE, &p, &err) == TR_OK &&
	    secrets_create(r->domain, &r->actor, r->params[0], &p.in, &m, &w, &err) == TR_OK)
		reply_secret(r, 201, &m, &w);
	else
		http_reply_error(r, &err);
	parsed_input_clear(&p);
	store_secret_clear(&m);
}

void api_secrets_get(struct api_request *r)
{
	struct secret_ref ref = ref_of(r);
	struct store_secret m = {0};
	struct tr_error err = {0};

	if (secrets_get(r->domain, &r->actor, &ref, &m, &err) == TR_OK) {
		json_t *obj = secret_json(&m);

		http_reply_json_etag(r, obj);
		json_decref(obj);
	} else {
		http_reply_error(r, &err);
	}
	store_secret_clear(&m);
}

static void append_version(void *ctx, const struct store_version *v)
{
	json_t *obj = json_pack("{s:I,s:s}", "version", (json_int_t)v->version, "created_by", v->created_by);

	http_json_set_time(obj, "created_at", v->created_at);
	json_array_append_new(ctx, obj);
}

static void mark_current(json_t *versions, int64_t current)
{
	size_t i;
	json_t *v;

	json_array_foreach(versions, i, v)
		json_object_set_new(v, "current", json_boolean(json_integer_value(json_object_get(v, "version")) == current));
}

void api_secrets_versions(struct api_request *r)
{
	struct secret_ref ref = ref_of(r);
	struct tr_error err = {0};
	json_t *data = json_array();
	int64_t current = 0;

	if (secrets_versions(r->domain, &r->actor, &ref, append_version, data, &current, &err) == TR_OK) {
		mark_current(data, current);
		http_reply_list(r, data);
	} else {
		http_reply_error(r, &err);
	}
	json_decref(data);
}

void api_secrets_patch(struct api_request *r)
{
	struct secret_ref ref = ref_of(r);
	struct parsed_input p = {0};
	struct store_secret m = {0};
	struct warnings w = {0};
	struct tr_error err = {0};

	if (secret_input_parse(r->body, SECRET_INPUT_PATCH, &p, &err) == TR_OK &&
	    secrets_update(r->domain, &r->actor, &ref, &p.in, &m, &w, &err) == TR_OK)
		reply_secret(r, 200, &m, &w);
	else
		http_reply_error(r, &err);
	parsed_input_clear(&p);
	store_secret_clear(&m);
}

/* PUT names the secret in the path; a body may repeat it but not differ. */
static enum tr_status parse_put(const struct api_request *r, const struct secret_ref *ref,
                                struct parsed_input *p, struct tr_error *err)
{
	enum tr_status st = secret_input_parse(r->body, SECRET_INPUT_CREATE, p, err);

	if (st != TR_OK)
		return st;
	if (p->in.name && strcmp(p->in.name, ref->name) != 0)
		return tr_error_set(err, TR_EVALIDATION, "field 'name': must match the name in the path");
	if (p->in.project || p->in.cluster)
		return tr_error_set(err, TR_EVALIDATION,
		                    "fields 'project' and 'cluster': address the scope with ?project= or ?cluster=");
	p->in.name = ref->name;
	p->in.project = ref->project;
	p->in.cluster = ref->cluster;
	return TR_OK;
}

void api_secrets_put(struct api_request *r)
{
	struct secret_ref ref = ref_of(r);
	struct parsed_input p = {0};
	struct store_secret m = {0};
	struct warnings w = {0};
	struct tr_error err = {0};
	bool created = false;

	if (parse_put(r, &ref, &p, &err) == TR_OK &&
	    secrets_put(r->domain, &r->actor, &ref, &p.in, &m, &created, &w, &err) == TR_OK)
		reply_secret(r, created ? 201 : 200, &m, &w);
	else
		http_reply_error(r, &err);
	parsed_input_clear(&p);
	store_secret_clear(&m);
}

void api_secrets_delete(struct api_request *r)
{
	struct secret_ref ref = ref_of(r);
	struct tr_error err = {0};

	if (secrets_delete(r->domain, &r->actor, &ref, &err) == TR_OK)
		http_reply_empty(r, 204);
	else
		http_reply_error(r, &err);
}

/* --- listing ------------------------------------------------------------- */

static enum tr_status parse_sort(const char *s, struct store_secret_query *q, struct tr_error *err)
{
	if (!s)
		return TR_OK;
	q->descending = (*s == '-');
	if (*s == '-' || *s == '+')
		s++;
	if (strcmp(s, "name") == 0)
		q->sort = STORE_SORT_NAME;
	else if (strcmp(s, "created_at") == 0)
		q->sort = STORE_SORT_CREATED;
	else if (strcmp(s, "updated_at") == 0)
		q->sort = STORE_SORT_UPDATED;
	else
		return tr_error_set(err, TR_EINVAL, "query parameter 'sort' must be name, created_at or updated_at, "
		                                    "optionally prefixed with '-'");
	return TR_OK;
}

static enum tr_status parse_type_filter(const struct api_request *r, struct store_secret_query *q,
                                        struct tr_error *err)
{
	const char *t = http_query(r, "type");

	if (!t)
		t = http_query(r, "use_case");
	if (!t || !*t)
		return TR_OK;
	if (!(q->type = secret_type_canonical(t)))
		return tr_error_set(err, TR_EINVAL, "query parameter 'type': unknown type");
	return TR_OK;
}

/* Filters, sort and position of a listing. name_buf holds the page token's
 * name (q->after_name points into it). */
static enum tr_status parse_query(const struct api_request *r, struct store_secret_query *q, int64_t *page,
                                  char *name_buf, size_t name_len, struct tr_error *err)
{
	const char *token = http_query(r, "page_token");
	bool include_expired = false;
	enum tr_status st;

	q->workspace = r->params[0];
	q->search = http_query(r, "search");
	q->tag = http_query(r, "tag");
	q->project = http_query(r, "project");
	q->cluster = http_query(r, "cluster");
	q->created_by = http_query(r, "created_by");
	q->visibility = http_query(r, "visibility");
	if (q->visibility && strcmp(q->visibility, "private") != 0 && strcmp(q->visibility, "public") != 0)
		return tr_error_set(err, TR_EINVAL, "query parameter 'visibility' must be private or public");
	if ((st = parse_type_filter(r, q, err)) != TR_OK || (st = parse_sort(http_query(r, "sort"), q, err)) != TR_OK ||
	    (st = http_query_bool(r, "include_expired", &include_expired, err)) != TR_OK)
		return st;
	q->hide_expired = !include_expired;
	q->now = domain_now();
	if ((st = http_query_int(r, "page", 1, 1, INT32_MAX, page, err)) != TR_OK ||
	    (st = http_query_int(r, "page_size", TR_PAGE_SIZE_DEFAULT, 1, TR_PAGE_SIZE_MAX, &q->limit, err)) != TR_OK)
		return st;
	q->offset = (*page - 1) * q->limit;
	if (token && *token) {
		*page = 0;
		return page_token_apply(token, q, name_buf, name_len, err);
	}
	return TR_OK;
}

/* Collects one page; the store is asked for one row more than the page
 * holds, and that extra row only says that a next page exists. */
struct page_collector {
	const struct store_secret_query *q;
	json_t *data;
	int64_t wanted; /* the page size */
	int64_t shown;
	struct store_secret last; /* key fields of the last row shown */
	char next[PAGE_TOKEN_MAX];
};

static void collect_secret(void *ctx, const struct store_secret *m)
{
	struct page_collector *c = ctx;

	if (c->shown == c->wanted) {
		page_token_make(c->q, &c->last, c->next);
		return;
	}
	json_array_append_new(c->data, secret_json(m));
	c->shown++;
	c->last.id = m->id;
	c->last.created_at = m->created_at;
	c->last.updated_at = m->updated_at;
	snprintf(c->last.name, sizeof(c->last.name), "%s", m->name);
}

/* total < 0: not counted (keyset pages). */
static json_t *pagination_json(int64_t page, int64_t page_size, const struct page_collector *c, int64_t total)
{
	return json_pack("{s:o,s:I,s:I,s:o,s:o,s:o}", "page", page ? json_integer(page) : json_null(), "page_size",
	                 (json_int_t)page_size, "current_page_size", (json_int_t)c->shown, "total_pages",
	                 total < 0 ? json_null() : json_integer((total + page_size - 1) / page_size), "total_results",
	                 total < 0 ? json_null() : json_integer(total), "next_page_token",
	                 c->next[0] ? json_string(c->next) : json_null());
}

void api_secrets_list(struct api_request *r)
{
	struct store_secret_query q = {0};
	struct page_collector c = {.q = &q, .data = json_array()};
	char after_name[TR_SECRET_NAME_MAX + 1];
	struct tr_error err = {0};
	int64_t page = 1, total = 0;
	enum tr_status st = parse_query(r, &q, &page, after_name, sizeof(after_name), &err);

	if (st == TR_OK) {
		/* Keyset pages skip the count: it grows with the workspace, and
		 * deep pages must stay fast (total_results is null then). */
		c.wanted = q.limit++;
		st = secrets_list(r->domain, &r->actor, &q, collect_secret, &c, q.has_after ? NULL : &total, &err);
		q.limit--;
	}
	if (st == TR_OK) {
		json_t *body = json_pack("{s:O,s:o}", "data", c.data, "pagination",
		                         pagination_json(page, q.limit, &c, q.has_after ? -1 : total));

		http_reply_json_etag(r, body);
		json_decref(body);
	} else {
		http_reply_error(r, &err);
	}
	json_decref(c.data);
}

/* --- values -------------------------------------------------------------- */

static bool is_single_value(const struct store_secret *m, const struct secdata *d)
{
	return strcmp(m->type, "opaque") == 0 && d->count == 1 && strcmp(d->items[0].key, "value") == 0;
}

static json_t *values_json(const struct store_secret *m, const struct secdata *d)
{
	json_t *obj = json_pack("{s:s,s:s}", "name", m->name, "workspace", m->workspace);
	json_t *data;

	if (is_single_value(m, d)) {
		json_object_set_new(obj, "value", json_stringn((const char *)d->items[0].value.data, d->items[0].value.len));
		return obj;
	}
	data = json_object();
	for (size_t i = 0; i < d->count; i++)
		json_object_set_new(data, d->items[i].key,
		                    json_stringn((const char *)d->items[i].value.data, d->items[i].value.len));
	json_object_set_new(obj, "data", data);
	return obj;
}

void api_secrets_access(struct api_request *r)
{
	struct secret_ref ref = ref_of(r);
	struct store_secret m = {0};
	struct secdata d = {0};
	struct tr_error err = {0};

	if (secrets_reveal(r->domain, &r->actor, &ref, &m, &d, &err) == TR_OK) {
		json_t *obj = values_json(&m, &d);

		http_reply_json(r, 200, obj, true);
		json_decref(obj);
	} else {
		http_reply_error(r, &err);
	}
	secdata_clear(&d);
	store_secret_clear(&m);
}
