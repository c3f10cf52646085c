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

#include "common/timefmt.h"
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

/* A stored JSON array (tags, keys) as it was written; "[]", the common
 * case, is not parsed, and anything but an array reads as []. */
static void write_array_text(struct jsonw *w, const char *key, const char *text)
{
	json_t *arr = text && strcmp(text, "[]") != 0 ? json_loads(text, 0, NULL) : NULL;

	jsonw_key(w, key);
	if (json_is_array(arr)) {
		jsonw_value(w, arr);
	} else {
		jsonw_array_begin(w);
		jsonw_array_end(w);
	}
	json_decref(arr);
}

static void write_string(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_string(w, s);
}

/* "" is written as null. */
static void write_nullable(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_string_or_null(w, s);
}

/* RFC 3339, or null for 0. */
static void write_time(struct jsonw *w, const char *key, int64_t t)
{
	char text[TIMEFMT_LEN];

	if (t != 0)
		timefmt_rfc3339(t, text);
	write_string(w, key, t != 0 ? text : NULL);
}

/*
 * A secret's metadata, written straight into the reply's text: a jansson
 * tree of it cost a GET a quarter of its instructions (an allocation per
 * member, wiped when freed, then the walk to encode it). The object is left
 * open for what a reply adds.
 */
static void write_secret_members(struct jsonw *w, const struct store_secret *m)
{
	jsonw_object_begin(w);
	write_string(w, "name", m->name);
	write_string(w, "workspace", m->workspace);
	write_nullable(w, "project", m->project);
	write_nullable(w, "cluster", m->cluster);
	write_string(w, "type", m->type);
	write_string(w, "description", m->description);
	write_string(w, "visibility", m->visibility);
	write_array_text(w, "tags", m->tags_json);
	write_array_text(w, "keys", m->keys_json);
	jsonw_key(w, "version");
	jsonw_integer(w, m->version);
	write_time(w, "created_at", m->created_at);
	write_time(w, "updated_at", m->updated_at);
	write_string(w, "created_by", m->created_by);
	write_string(w, "updated_by", m->updated_by);
	write_time(w, "expires_at", m->expires_at);
	jsonw_key(w, "expired");
	jsonw_bool(w, m->expires_at != 0 && m->expires_at <= domain_now());
}

static void write_secret(struct jsonw *w, const struct store_secret *m)
{
	write_secret_members(w, m);
	jsonw_object_end(w);
}

/* A created or changed secret's reply, made on the worker as it is sent:
 * the writer only hands over the metadata. */
struct secret_reply {
	struct store_secret m;
	struct warnings *w; /* NULL: none */
};

static char *render_secret(void *arg, size_t *len)
{
	const struct secret_reply *sr = arg;
	struct jsonw w;

	jsonw_init(&w, 1);
	write_secret_members(&w, &sr->m);
	if (sr->w) {
		jsonw_key(&w, "warnings");
		jsonw_array_begin(&w);
		for (size_t i = 0; i < sr->w->count; i++)
			jsonw_string(&w, sr->w->items[i]);
		jsonw_array_end(&w);
	}
	jsonw_object_end(&w);
	return http_jsonw_text(&w, len);
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

/* What a create's worker leaves its writer: the body parsed, and the value
 * sealed ahead when the input was valid. */
struct prepared_create {
	struct parsed_input p;
	struct secret_presealed sealed;
};

static void prepared_create_free(void *arg)
{
	struct prepared_create *pc = arg;

	parsed_input_clear(&pc->p);
	secrets_presealed_clear(&pc->sealed);
	free(pc);
}

/* On the worker, before the writer: parses the body and seals the value
 * (the writer's seal was a tenth of its work per create). A body that does
 * not parse leaves nothing; a caller who may not create, or a value that
 * does not validate, no seal: the handler reports either. */
void api_secrets_create_prepare(struct api_request *r)
{
	struct prepared_create *pc = calloc(1, sizeof(*pc));

	if (!pc || secret_input_parse(r->body, SECRET_INPUT_CREATE, &pc->p, NULL) != TR_OK) {
		if (pc)
			prepared_create_free(pc);
		return;
	}
	if (secrets_preseal(r->domain, &r->actor, r->params[0], &pc->p.in, &pc->sealed, NULL) == TR_OK)
		pc->p.in.presealed = &pc->sealed;
	r->prepared = pc;
	r->prepared_free = prepared_create_free;
}

void api_secrets_create(struct api_request *r)
{
	struct prepared_create *pc = r->prepared;
	struct parsed_input own = {0};
	struct parsed_input *p = pc ? &pc->p : &own;
	struct store_secret m = {0};
	struct warnings w = {0};
	struct tr_error err = {0};

	if ((pc || secret_input_parse(r->body, SECRET_INPUT_CREATE, &own, &err) == TR_OK) &&
	    secrets_create(r->domain, &r->actor, r->params[0], &p->in, &m, &w, &err) == TR_OK)
		reply_secret(r, 201, &m, &w);
	else
		http_reply_error(r, &err);
	parsed_input_clear(&own);
	store_secret_clear(&m);
}

void api_secrets_get(struct api_request *r)
{
	struct secret_ref ref = ref_of(r);
	struct store_secret m = {0};
	struct tr_error err = {0};

	if (secrets_get(r->domain, &r->actor, &ref, &m, &err) == TR_OK) {
		struct jsonw w;
		size_t len = 0;
		char *text;

		jsonw_init(&w, 1);
		write_secret(&w, &m);
		text = http_jsonw_text(&w, &len);
		http_reply_text_etag(r, text, len);
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

/* Writes one page's items into its reply as the store hands them over;
 * the store is asked for one row more than the page holds, and that extra
 * row only says that a next page exists. */
struct page_collector {
	const struct store_secret_query *q;
	struct jsonw *w; /* inside the "data" array */
	int64_t wanted;  /* the page size */
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
	write_secret(c->w, m);
	c->shown++;
	c->last.id = m->id;
	c->last.created_at = m->created_at;
	c->last.updated_at = m->updated_at;
	snprintf(c->last.name, sizeof(c->last.name), "%s", m->name);
}

static void write_count(struct jsonw *w, const char *key, bool known, int64_t n)
{
	jsonw_key(w, key);
	if (known)
		jsonw_integer(w, n);
	else
		jsonw_null(w);
}

/* total < 0: not counted (keyset pages). */
static void write_pagination(struct jsonw *w, int64_t page, int64_t page_size, const struct page_collector *c,
                             int64_t total)
{
	jsonw_key(w, "pagination");
	jsonw_object_begin(w);
	write_count(w, "page", page != 0, page);
	write_count(w, "page_size", true, page_size);
	write_count(w, "current_page_size", true, c->shown);
	write_count(w, "total_pages", total >= 0, total >= 0 ? (total + page_size - 1) / page_size : 0);
	write_count(w, "total_results", total >= 0, total);
	write_string(w, "next_page_token", c->next[0] ? c->next : NULL);
	jsonw_object_end(w);
}

void api_secrets_list(struct api_request *r)
{
	struct store_secret_query q = {0};
	struct jsonw w;
	struct page_collector c = {.q = &q, .w = &w};
	char after_name[TR_SECRET_NAME_MAX + 1];
	struct tr_error err = {0};
	int64_t page = 1, total = 0;
	size_t len = 0;
	char *text;
	enum tr_status st = parse_query(r, &q, &page, after_name, sizeof(after_name), &err);

	if (st != TR_OK) {
		http_reply_error(r, &err);
		return;
	}
	jsonw_init(&w, 1);
	jsonw_object_begin(&w);
	jsonw_key(&w, "data");
	jsonw_array_begin(&w);
	/* Keyset pages skip the count: it grows with the workspace, and deep
	 * pages must stay fast (total_results is null then). */
	c.wanted = q.limit++;
	st = secrets_list(r->domain, &r->actor, &q, collect_secret, &c, q.has_after ? NULL : &total, &err);
	q.limit--;
	if (st != TR_OK) {
		jsonw_discard(&w);
		http_reply_error(r, &err);
		return;
	}
	jsonw_array_end(&w);
	write_pagination(&w, page, q.limit, &c, q.has_after ? -1 : total);
	jsonw_object_end(&w);
	text = http_jsonw_text(&w, &len);
	http_reply_text_etag(r, text, len);
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
