/*
 * api-audit.c - GET /v2/audit (filtered, paged by seq) and
 * GET /v2/audit/verify (walk the hash chain, on the background thread).
 */
#include "server/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domain/audit.h"
#include "domain/policy.h"

static json_t *record_json(const struct store_audit *a)
{
	char hex[STORE_AUDIT_HASH_BYTES * 2 + 1];
	json_t *obj;

	for (int i = 0; i < STORE_AUDIT_HASH_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", a->hash[i]);
	obj = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s}", "seq", (json_int_t)a->seq, "actor", a->actor,
	                "action", a->action, "workspace", a->workspace, "secret", a->secret, "scope", a->scope,
	                "outcome", a->outcome, "status", a->status, "client", a->client, "request_id",
	                a->request_id, "hash", hex);
	json_object_set_new(obj, "target", json_string(a->target));
	http_json_set_time(obj, "time", a->time);
	return obj;
}

/* A time parameter: Unix seconds or RFC 3339 UTC ("2026-11-23T05:40:32Z"). */
static enum tr_status query_time(const struct api_request *r, const char *name, int64_t *out, struct tr_error *err)
{
	const char *v = http_query(r, name);
	struct tm tm = {0};
	const char *end;
	char *num_end;

	*out = 0;
	if (!v || !*v)
		return TR_OK;
	errno = 0;
	*out = strtoll(v, &num_end, 10);
	if (!errno && *num_end == '\0')
		return TR_OK;
	end = strptime(v, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return tr_error_set(err, TR_EINVAL, "query parameter '%s' must be RFC 3339 UTC or Unix seconds", name);
	*out = (int64_t)timegm(&tm);
	return TR_OK;
}

static enum tr_status parse_query(const struct api_request *r, struct store_audit_query *q, struct tr_error *err)
{
	enum tr_status st;

	q->workspace = http_query(r, "workspace");
	q->secret = http_query(r, "secret");
	q->actor = http_query(r, "actor");
	q->action = http_query(r, "action");
	q->outcome = http_query(r, "outcome");
	if ((st = query_time(r, "since", &q->since, err)) != TR_OK || (st = query_time(r, "until", &q->until, err)) != TR_OK)
		return st;
	if ((st = http_query_int(r, "after", 0, 0, INT64_MAX, &q->after, err)) != TR_OK)
		return st;
	return http_query_int(r, "page_size", TR_PAGE_SIZE_DEFAULT, 1, TR_PAGE_SIZE_MAX, &q->limit, err);
}

static void append_record(void *ctx, const struct store_audit *a)
{
	json_array_append_new(ctx, record_json(a));
}

void api_audit_list(struct api_request *r)
{
	struct store_audit_query q = {0};
	struct tr_error err = {0};
	json_t *data = json_array();

	if (parse_query(r, &q, &err) == TR_OK && audit_list(r->domain, &r->actor, &q, append_record, data, &err) == TR_OK) {
		size_t n = json_array_size(data);
		json_t *last = n ? json_object_get(json_array_get(data, n - 1), "seq") : NULL;
		json_t *body = json_pack("{s:O,s:o}", "data", data, "next_after",
		                         (int64_t)n == q.limit && last ? json_copy(last) : json_null());

		http_reply_json(r, 200, body, false);
		json_decref(body);
	} else {
		http_reply_error(r, &err);
	}
	json_decref(data);
}

/* On the background thread (routes.c, background.h): the walk reads the
 * whole log, about a second per million records, in one snapshot (as it
 * did in the worker's read transaction): the count is the log's at one
 * moment, and records appended meanwhile are not chased. */
static void verify_in_background(struct api_request *r)
{
	struct audit_verdict v;
	struct tr_error err = {0};
	enum tr_status st;

	domain_read_begin(r->domain);
	st = audit_verify(r->domain, &r->actor, &v, &err);
	domain_read_end(r->domain);
	if (st == TR_OK) {
		json_t *body = json_pack("{s:b,s:I,s:o,s:o}", "ok", v.ok, "records", (json_int_t)v.records,
		                         "first_bad_seq", v.ok ? json_null() : json_integer(v.first_bad_seq), "problem",
		                         v.ok ? json_null() : json_string(v.problem));

		http_reply_json(r, 200, body, false);
		json_decref(body);
	} else {
		http_reply_error(r, &err);
	}
}

/* On the worker: a caller who may not is refused at once; the walk goes to
 * the background thread, so that this worker serves its other connections
 * meanwhile. */
void api_audit_verify(struct api_request *r)
{
	struct tr_error err = {0};

	if (policy_check_global(&r->actor, ACT_AUDIT_VERIFY, &err) != TR_OK) {
		http_reply_error(r, &err);
		return;
	}
	r->background = verify_in_background;
}
