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

static const char *const create_fields[] = {"name",       "value",   "data",    "type",       "description",
                                            "visibility", "tags",    "project", "cluster",    "expires_in",
                                            NULL};
static const char *const patch_fields[] = {"value",      "data", "type",       "description",
                                           "visibility", "tags", "expires_in", NULL};

/* --- request parsing ----------------------------------------------------- */

struct parsed_input {
	struct secret_input in;
	const char *tags[TR_TAGS_MAX];
};

static enum tr_status parse_value(const json_t *body, struct secret_input *in, struct tr_error *err)
{
	json_t *v = json_object_get(body, "value");

	if (!v)
		return TR_OK;
	if (!json_is_string(v) || json_string_length(v) == 0)
		return tr_error_set(err, TR_EVALIDATION, "field 'value': must be a non-empty string");
	if (json_object_get(body, "data"))
		return tr_error_set(err, TR_EVALIDATION, "fields 'value' and 'data': give one, not both");
	in->has_data = true;
	return secdata_add(&in->data, "value", json_string_value(v), json_string_length(v));
}

static enum tr_status parse_data(const json_t *body, struct secret_input *in, struct tr_error *err)
{
	json_t *data = json_object_get(body, "data");
	const char *key;
	json_t *v;

	if (!data)
		return TR_OK;
	if (!json_is_object(data))
		return tr_error_set(err, TR_EVALIDATION, "field 'data': must be an object of strings");
	if (json_object_size(data) > TR_MAX_KEYS)
		return tr_error_set(err, TR_EVALIDATION, "field 'data': at most %d keys", TR_MAX_KEYS);
	json_object_foreach(data, key, v) {
		if (!json_is_string(v))
			return tr_error_set(err, TR_EVALIDATION, "field 'data.%.64s': must be a string", key);
		if (secdata_add(&in->data, key, json_string_value(v), json_string_length(v)) != TR_OK)
			return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	in->has_data = true;
	return TR_OK;
}

static enum tr_status parse_tags(const json_t *body, struct parsed_input *p, struct tr_error *err)
{
	json_t *tags = json_object_get(body, "tags");
	size_t i;
	json_t *t;

	if (!tags)
		return TR_OK;
	if (!json_is_array(tags))
		return tr_error_set(err, TR_EVALIDATION, "field 'tags': must be an array of strings");
	if (json_array_size(tags) > TR_TAGS_MAX)
		return tr_error_set(err, TR_EVALIDATION, "field 'tags': at most %d tags", TR_TAGS_MAX);
	json_array_foreach(tags, i, t) {
		if (!json_is_string(t))
			return tr_error_set(err, TR_EVALIDATION, "field 'tags': must be an array of strings");
		p->tags[i] = json_string_value(t);
	}
	p->in.tags = p->tags;
	p->in.tag_count = json_array_size(tags);
	p->in.has_tags = true;
	return TR_OK;
}

/* Reads the optional metadata fields shared by create, patch and put. */
static enum tr_status parse_metadata(const json_t *body, struct parsed_input *p, struct tr_error *err)
{
	struct secret_input *in = &p->in;
	enum tr_status st;

	if ((st = body_string(body, "type", &in->type, err)) != TR_OK ||
	    (st = body_string(body, "description", &in->description, err)) != TR_OK ||
	    (st = body_string(body, "visibility", &in->visibility, err)) != TR_OK ||
	    (st = body_int(body, "expires_in", &in->expires_in, &in->has_expires_in, err)) != TR_OK)
		return st;
	in->has_description = json_object_get(body, "description") != NULL;
	in->has_visibility = in->visibility != NULL;
	if ((st = parse_tags(body, p, err)) != TR_OK)
		return st;
	if ((st = parse_value(body, in, err)) != TR_OK)
		return st;
	return parse_data(body, in, err);
}

static enum tr_status parse_create(const json_t *body, struct parsed_input *p, struct tr_error *err)
{
	enum tr_status st;

	if ((st = body_only_fields(body, create_fields, err)) != TR_OK ||
	    (st = body_string(body, "name", &p->in.name, err)) != TR_OK ||
	    (st = body_string(body, "project", &p->in.project, err)) != TR_OK ||
	    (st = body_string(body, "cluster", &p->in.cluster, err)) != TR_OK)
		return st;
	return parse_metadata(body, p, err);
}

static void parsed_input_clear(struct parsed_input *p)
{
	secdata_clear(&p->in.data);
}

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

static json_t *json_array_from_text(const char *text)
{
	json_t *arr = text ? json_loads(text, 0, NULL) : NULL;

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

static void reply_secret(struct api_request *r, int status, const struct store_secret *m,
                         const struct warnings *w)
{
	json_t *obj = secret_json(m);

	if (w && w->count > 0) {
		json_t *arr = json_array();

		for (size_t i = 0; i < w->count; i++)
			json_array_append_new(arr, json_string(w->items[i]));
		json_object_set_new(obj, "warnings", arr);
	}
	http_reply_json(r, status, obj, false);
	json_decref(obj);
}

/* --- handlers ------------------------------------------------------------ */

void api_secrets_create(struct api_request *r)
{
	struct parsed_input p = {0};
	struct store_secret m = {0};
	struct warnings w = {0};
	struct tr_error err = {0};

	if (parse_create(r->body, &p, &err) == TR_OK &&
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

	if (secrets_get(r->domain, &r->actor, &ref, &m, &err) == TR_OK)
		reply_secret(r, 200, &m, NULL);
	else
		http_reply_error(r, &err);
	store_secret_clear(&m);
}

void api_secrets_patch(struct api_request *r)
{
	struct secret_ref ref = ref_of(r);
	struct parsed_input p = {0};
	struct store_secret m = {0};
	struct warnings w = {0};
	struct tr_error err = {0};

	if (body_only_fields(r->body, patch_fields, &err) == TR_OK && parse_metadata(r->body, &p, &err) == TR_OK &&
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
	enum tr_status st = parse_create(r->body, p, err);

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

static enum tr_status parse_query(const struct api_request *r, struct store_secret_query *q, int64_t *page,
                                  struct tr_error *err)
{
	enum tr_status st;

	q->workspace = r->params[0];
	q->search = http_query(r, "search");
	q->tag = http_query(r, "tag");
	q->project = http_query(r, "project");
	q->cluster = http_query(r, "cluster");
	q->created_by = http_query(r, "created_by");
	q->visibility = http_query(r, "visibility");
	if ((st = parse_type_filter(r, q, err)) != TR_OK || (st = parse_sort(http_query(r, "sort"), q, err)) != TR_OK)
		return st;
	if ((st = http_query_int(r, "page", 1, 1, INT32_MAX, page, err)) != TR_OK ||
	    (st = http_query_int(r, "page_size", TR_PAGE_SIZE_DEFAULT, 1, TR_PAGE_SIZE_MAX, &q->limit, err)) != TR_OK)
		return st;
	q->offset = (*page - 1) * q->limit;
	return TR_OK;
}

static void append_secret(void *ctx, const struct store_secret *m)
{
	json_array_append_new(ctx, secret_json(m));
}

static json_t *pagination_json(int64_t page, int64_t page_size, size_t current, int64_t total)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:n}", "page", (json_int_t)page, "page_size", (json_int_t)page_size,
	                 "current_page_size", (json_int_t)current, "total_pages",
	                 (json_int_t)((total + page_size - 1) / page_size), "total_results", (json_int_t)total,
	                 "next_page_token");
}

void api_secrets_list(struct api_request *r)
{
	struct store_secret_query q = {0};
	struct tr_error err = {0};
	json_t *data = json_array();
	int64_t page = 1, total = 0;

	if (parse_query(r, &q, &page, &err) == TR_OK &&
	    secrets_list(r->domain, &r->actor, &q, append_secret, data, &total, &err) == TR_OK) {
		json_t *body = json_pack("{s:O,s:o}", "data", data, "pagination",
		                         pagination_json(page, q.limit, json_array_size(data), total));

		http_reply_json(r, 200, body, false);
		json_decref(body);
	} else {
		http_reply_error(r, &err);
	}
	json_decref(data);
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
