/*
 * routes.c - THE route table, and the checks every request passes before
 * its handler runs: route, method, token, body size, media type, JSON.
 */
#include "server/routes.h"

#include <assert.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/limits.h"
#include "common/strcopy.h"
#include "domain/audit.h"
#include "domain/auth.h"
#include "server/api.h"
#include "server/background.h"
#include "server/read-journal.h"
#include "server/ratelimit.h"
#include "server/writer.h"

/* THE route table. Successful audited operations are recorded by the
 * domain inside their transaction; a failure of a route with an audit
 * action is recorded here, as the reply goes out (of a read, ROUTE_DENIALS,
 * only a denial, 403). Routes that write when they succeed (ROUTE_WRITE)
 * run on the group-commit writer; /resolve reads on the worker and journals
 * its audit records (read-journal.h) or writes them on the writer
 * (ROUTE_READ_RECORD); those that may change what tokens may do
 * (ROUTE_AUTH) close the journal while they are queued; readers of the
 * audit log wait for journaled records to be in it (ROUTE_AFTER_RECORDS);
 * a key rotation and an
 * audit verification are checked here and run on the background thread
 * (api_request.background). */
static const struct route routes[] = {
	{EVHTTP_REQ_GET, "/healthz", api_health, ROUTE_PUBLIC, NULL},

	{EVHTTP_REQ_POST, "/v2/workspaces", api_workspaces_create, ROUTE_BODY | ROUTE_WRITE, "workspace.create"},
	{EVHTTP_REQ_GET, "/v2/workspaces", api_workspaces_list, ROUTE_DENIALS, "workspace.list"},
	{EVHTTP_REQ_GET, "/v2/workspaces/{ws}", api_workspaces_get, ROUTE_DENIALS, "workspace.get"},
	{EVHTTP_REQ_DELETE, "/v2/workspaces/{ws}", api_workspaces_delete, ROUTE_WRITE | ROUTE_AUTH, "workspace.delete"},

	{EVHTTP_REQ_POST, "/v2/workspaces/{ws}/secrets", api_secrets_create, ROUTE_BODY | ROUTE_WRITE, "secret.create",
	 api_secrets_create_prepare},
	{EVHTTP_REQ_GET, "/v2/workspaces/{ws}/secrets", api_secrets_list, ROUTE_DENIALS, "secret.list"},
	{EVHTTP_REQ_GET, "/v2/workspaces/{ws}/secrets/{name}", api_secrets_get, ROUTE_DENIALS, "secret.get"},
	{EVHTTP_REQ_PATCH, "/v2/workspaces/{ws}/secrets/{name}", api_secrets_patch, ROUTE_BODY | ROUTE_WRITE, "secret.update"},
	{EVHTTP_REQ_PUT, "/v2/workspaces/{ws}/secrets/{name}", api_secrets_put, ROUTE_BODY | ROUTE_WRITE, "secret.update"},
	{EVHTTP_REQ_DELETE, "/v2/workspaces/{ws}/secrets/{name}", api_secrets_delete, ROUTE_WRITE, "secret.delete"},
	{EVHTTP_REQ_GET, "/v2/workspaces/{ws}/secrets/{name}/access", api_secrets_access, ROUTE_WRITE, "secret.access"},
	{EVHTTP_REQ_GET, "/v2/workspaces/{ws}/secrets/{name}/versions", api_secrets_versions, ROUTE_DENIALS,
	 "secret.versions"},
	{EVHTTP_REQ_POST, "/v2/workspaces/{ws}/secrets:batch", api_secrets_batch, ROUTE_BODY | ROUTE_WRITE, NULL},
	{EVHTTP_REQ_POST, "/v2/workspaces/{ws}/resolve", api_resolve, ROUTE_BODY | ROUTE_READ_RECORD, "secret.resolve"},

	{EVHTTP_REQ_PUT, "/v2/workspaces/{ws}/members/{principal}", api_members_put, ROUTE_BODY | ROUTE_WRITE | ROUTE_AUTH,
	 "member.put"},
	{EVHTTP_REQ_GET, "/v2/workspaces/{ws}/members", api_members_list, ROUTE_DENIALS, "member.list"},
	{EVHTTP_REQ_DELETE, "/v2/workspaces/{ws}/members/{principal}", api_members_delete, ROUTE_WRITE | ROUTE_AUTH,
	 "member.delete"},

	{EVHTTP_REQ_POST, "/v2/principals", api_principals_create, ROUTE_BODY | ROUTE_WRITE, "principal.create"},
	{EVHTTP_REQ_GET, "/v2/principals", api_principals_list, ROUTE_DENIALS, "principal.list"},
	{EVHTTP_REQ_DELETE, "/v2/principals/{name}", api_principals_delete, ROUTE_WRITE | ROUTE_AUTH, "principal.delete"},

	{EVHTTP_REQ_POST, "/v2/tokens", api_tokens_create, ROUTE_BODY | ROUTE_BODY_OPTIONAL | ROUTE_WRITE, "token.create"},
	{EVHTTP_REQ_GET, "/v2/tokens", api_tokens_list, ROUTE_DENIALS, "token.list"},
	{EVHTTP_REQ_DELETE, "/v2/tokens/{id}", api_tokens_delete, ROUTE_WRITE | ROUTE_AUTH, "token.delete"},

	{EVHTTP_REQ_POST, "/v2/secrets/rotate-encryption-keys", api_keys_rotate, ROUTE_BODY | ROUTE_BODY_OPTIONAL,
	 "keys.rotate"},
	{EVHTTP_REQ_GET, "/v2/secrets/rotate-encryption-keys", api_keys_status, ROUTE_DENIALS, "keys.status"},
	{EVHTTP_REQ_POST, "/v2/rotate-encryption-keys", api_keys_rotate, ROUTE_BODY | ROUTE_BODY_OPTIONAL, "keys.rotate"},
	{EVHTTP_REQ_GET, "/v2/rotate-encryption-keys", api_keys_status, ROUTE_DENIALS, "keys.status"},

	{EVHTTP_REQ_GET, "/v2/audit", api_audit_list, ROUTE_DENIALS | ROUTE_AFTER_RECORDS, "audit.list"},
	{EVHTTP_REQ_GET, "/v2/audit/verify", api_audit_verify, ROUTE_DENIALS | ROUTE_AFTER_RECORDS,
	 "audit.verify"},
};

#define ROUTE_COUNT (sizeof(routes) / sizeof(routes[0]))

static const struct {
	enum evhttp_cmd_type method;
	const char *name;
} method_names[] = {
	{EVHTTP_REQ_GET, "GET"},       {EVHTTP_REQ_POST, "POST"},   {EVHTTP_REQ_PUT, "PUT"},
	{EVHTTP_REQ_PATCH, "PATCH"},   {EVHTTP_REQ_DELETE, "DELETE"}, {EVHTTP_REQ_HEAD, "HEAD"},
	{EVHTTP_REQ_OPTIONS, "OPTIONS"},
};

unsigned routes_allowed_methods(void)
{
	unsigned mask = 0;

	for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
		mask |= (unsigned)method_names[i].method;
	return mask;
}

/* --- matching ------------------------------------------------------------ */

static void free_params(char *params[ROUTE_MAX_PARAMS])
{
	for (int i = 0; i < ROUTE_MAX_PARAMS; i++) {
		free(params[i]);
		params[i] = NULL;
	}
}

/* Length of the segment at s (up to '/' or the end). */
static size_t segment_len(const char *s)
{
	size_t n = 0;

	while (s[n] && s[n] != '/')
		n++;
	return n;
}

/* Decodes one %-encoded path segment; NULL if it is empty or malformed.
 * libevent's block is malloc's (its allocator, wipemem, is malloc with a
 * wiping free), so free() releases it. */
static char *decode_segment(const char *s, size_t n)
{
	char *raw = strndup(s, n);
	char *dec;

	if (!raw)
		return NULL;
	dec = evhttp_uridecode(raw, 0, NULL);
	free(raw);
	if (dec && (!*dec || strlen(dec) > 1024)) {
		free(dec);
		return NULL;
	}
	return dec;
}

bool routes_match(const char *pattern, const char *path, char *params[ROUTE_MAX_PARAMS])
{
	char *caps[ROUTE_MAX_PARAMS] = {0};
	int ncap = 0;

	while (*pattern == '/' && *path == '/') {
		size_t pn = segment_len(++pattern), sn = segment_len(++path);

		if (pattern[0] == '{') {
			if (sn == 0 || ncap == ROUTE_MAX_PARAMS)
				goto fail;
			if (params && !(caps[ncap] = decode_segment(path, sn)))
				goto fail;
			ncap++;
		} else if (pn != sn || memcmp(pattern, path, pn) != 0) {
			goto fail;
		}
		pattern += pn;
		path += sn;
	}
	if (*pattern || *path)
		goto fail;
	if (params)
		memcpy(params, caps, sizeof(caps));
	return true;
fail:
	free_params(caps);
	return false;
}

/* --- checks before the handler ------------------------------------------ */

static const char *method_name(enum evhttp_cmd_type m)
{
	for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
		if (method_names[i].method == m)
			return method_names[i].name;
	return "?";
}

/* Finds the route for (method, path). Returns NULL and fills allow with the
 * methods the path does support (empty when the path is unknown). The
 * captures are decoded only for the route that matches. */
static const struct route *find_route(enum evhttp_cmd_type method, const char *path, char *params[],
                                      char *allow, size_t allow_len)
{
	allow[0] = '\0';
	for (size_t i = 0; i < ROUTE_COUNT; i++)
		if (routes[i].method == method && routes_match(routes[i].pattern, path, NULL))
			return routes_match(routes[i].pattern, path, params) ? &routes[i] : NULL;
	for (size_t i = 0; i < ROUTE_COUNT; i++) {
		if (!routes_match(routes[i].pattern, path, NULL))
			continue;
		if (allow[0])
			strncat(allow, ", ", allow_len - strlen(allow) - 1);
		strncat(allow, method_name(routes[i].method), allow_len - strlen(allow) - 1);
	}
	return NULL;
}

/* A token was presented and refused: count it against the address; the
 * reply records it (http.c), on the writer (routes_dispatch). */
static enum tr_status authentication_failed(struct api_request *r, struct tr_error *err)
{
	ratelimit_note_failure(r->actor.client, domain_now());
	r->token_refused = true;
	return tr_error_set(err, TR_EUNAUTH, "invalid or expired token");
}

static enum tr_status authenticate(struct api_request *r, struct tr_error *err)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
	int64_t retry_after = 0;
	enum tr_status st;

	if (ratelimit_blocked(r->actor.client, domain_now(), &retry_after)) {
		char seconds[24];

		snprintf(seconds, sizeof(seconds), "%lld", (long long)retry_after);
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", seconds);
		return tr_error_set(err, TR_ETOOMANY, "too many failed authentications from this address; "
		                                      "retry in %lld seconds", (long long)retry_after);
	}
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return tr_error_set(err, TR_EUNAUTH, "missing bearer token (Authorization: Bearer trs_...)");
	h += 7;
	while (*h == ' ')
		h++;
	st = auth_authenticate(r->domain, h, &r->actor, err);
	return st == TR_EUNAUTH ? authentication_failed(r, err) : st;
}

static bool is_json_media_type(const char *ct)
{
	size_t n = strlen("application/json");

	if (!ct || strncasecmp(ct, "application/json", n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* Parses the body where it lies, in one piece, then zeroes it: it may hold
 * secret values (its buffer is wiped again when freed, wipemem.h). */
static enum tr_status load_body(struct evbuffer *in, size_t len, json_t **body, struct tr_error *err)
{
	unsigned char *text = NULL;
	json_error_t jerr;

	if (len > 0 && !(text = evbuffer_pullup(in, -1)))
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	*body = json_loadb(text ? (const char *)text : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (text)
		sodium_memzero(text, len);
	/* jerr.text may quote the input, which may be a secret: never echo it. */
	if (!*body)
		return tr_error_set(err, TR_EINVAL, "malformed JSON at line %d, column %d", jerr.line, jerr.column);
	return TR_OK;
}

static enum tr_status parse_body(struct api_request *r, unsigned flags, struct tr_error *err)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(in);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Content-Type");
	enum tr_status st;

	if (len > TR_MAX_BODY)
		return tr_error_set(err, TR_ETOOLARGE, "request body exceeds %d bytes", TR_MAX_BODY);
	if (len == 0 && (flags & ROUTE_BODY_OPTIONAL)) {
		r->body = json_object();
		return TR_OK;
	}
	if (!is_json_media_type(ct))
		return tr_error_set(err, TR_EMEDIA, "request body must be sent as Content-Type: application/json");
	if ((st = load_body(in, len, &r->body, err)) != TR_OK)
		return st;
	if (!json_is_object(r->body))
		return tr_error_set(err, TR_EINVAL, "request body must be a JSON object");
	return TR_OK;
}

static enum tr_status prepare(struct api_request *r, const struct route *route, const char *query,
                              struct tr_error *err)
{
	enum tr_status st;

	if (evhttp_parse_query_str(query ? query : "", &r->query) != 0)
		return tr_error_set(err, TR_EINVAL, "malformed query string");
	if (!(route->flags & ROUTE_PUBLIC) && (st = authenticate(r, err)) != TR_OK)
		return st;
	if ((route->flags & ROUTE_BODY) && (st = parse_body(r, route->flags, err)) != TR_OK)
		return st;
	return TR_OK;
}

/*
 * A request id: 16 hex digits, a random half drawn once per process and a
 * counter, so ids are unique across restarts (almost surely) and within a
 * run (certainly, for 2^32 requests) without a system call per request.
 * Ids only need to be unique, never secret.
 */
static uint32_t request_id_process_half;
static pthread_once_t request_id_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast32_t request_id_counter;

static void draw_process_half(void)
{
	request_id_process_half = randombytes_random();
}

/* Eight lowercase hex digits of v, as "%08x" writes them (no NUL). */
static void put_hex32(char out[8], uint32_t v)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 7; i >= 0; i--, v >>= 4)
		out[i] = digits[v & 0xf];
}

static void next_request_id(char out[17])
{
	uint32_t n;

	pthread_once(&request_id_once, draw_process_half);
	n = (uint32_t)atomic_fetch_add_explicit(&request_id_counter, 1, memory_order_relaxed);
	put_hex32(out, request_id_process_half);
	put_hex32(out + 8, n);
	out[16] = '\0';
}

/* Where the request comes from, and its id (also sent as X-Request-Id). */
static void identify(struct api_request *r)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (conn)
		evhttp_connection_get_peer(conn, &addr, &port);
	str_copy(r->actor.client, sizeof(r->actor.client), addr ? addr : "");
	next_request_id(r->actor.request_id);
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "X-Request-Id", r->actor.request_id);
}

/* What failure records of this route name: the workspace and secret of
 * the path, when the pattern has them. */
static void set_audit_subject(struct api_request *r, const struct route *route)
{
	r->audit_action = route->audit;
	r->audit_denials_only = route->flags & ROUTE_DENIALS;
	if (strncmp(route->pattern, "/v2/workspaces/{ws}", 19) == 0)
		r->audit_workspace = r->params[0];
	if (strstr(route->pattern, "/secrets/{name}"))
		r->audit_secret = r->params[1];
	if (strstr(route->pattern, "{principal}"))
		r->audit_target = r->params[1];
	else if (strstr(route->pattern, "/principals/{name}") || strstr(route->pattern, "/tokens/{id}"))
		r->audit_target = r->params[0];
}

/* What the writer does with a request handed to it. */
enum writer_part {
	RUN_HANDLER, /* ROUTE_WRITE: the whole handler */
	RUN_RECORD,  /* ROUTE_READ_RECORD: what the handler left to record */
	RUN_FAILURE, /* only record the failure the request already has */
};

/* A request between the worker and the writer. */
struct dispatch {
	struct api_request r;
	const struct route *route; /* NULL until matched */
	enum writer_part part;
	const struct routes_worker *worker; /* the worker's: its helpers are NULL once they stopped */
};

static void release(struct dispatch *dp)
{
	struct api_request *r = &dp->r;

	http_drop_deferred(r);
	if (r->record_arg_free)
		r->record_arg_free(r->record_arg);
	if (r->prepared_free)
		r->prepared_free(r->prepared);
	free_params(r->params);
	evhttp_clear_headers(&r->query);
	json_decref(r->body);
	sodium_memzero(&r->actor, sizeof(r->actor));
	free(dp);
}

/* What a ROUTE_READ_RECORD handler left to record; a failure replaces
 * its answer. */
static void record_now(struct domain *d, struct api_request *r)
{
	struct tr_error err = {0};

	if (r->failed || !r->record)
		return;
	if (r->record(d, r, r->record_arg, &err) != TR_OK) {
		r->failure = err;
		r->failed = true;
	}
}

/* Before a handler runs on the writer, again if the writer runs its group
 * again (writer_run_fn): an earlier run's answer and failure go, as its
 * store work went. A record keeps its failure: the worker's, or one of
 * the earlier run (only a storage failure makes a record fail), which is
 * then answered without trying the records again. */
static void start_afresh(struct dispatch *dp)
{
	struct api_request *r = &dp->r;

	if (dp->part != RUN_HANDLER)
		return;
	http_drop_deferred(r);
	r->failed = false;
	memset(&r->failure, 0, sizeof(r->failure));
}

/* A handler on the writer. One that changes what tokens may do must be
 * marked ROUTE_AUTH: while it is queued, reads may not answer before the
 * writer has checked their caller again (read-journal.h). */
static void run_handler_on_writer(struct domain *d, struct dispatch *dp)
{
	bool changed_before = d->auth_changed;

	dp->route->handler(&dp->r);
	assert(changed_before || !d->auth_changed || (dp->route->flags & ROUTE_AUTH));
	(void)changed_before;
}

/* On the writer thread, inside the group's transaction: the request's
 * writing part — its whole handler (ROUTE_WRITE) or what its handler left
 * to record (ROUTE_READ_RECORD) — is one unit, undone if it fails; then the
 * failure is recorded. If the unit could not be undone, the transaction is
 * lost, and the writer runs the request again or answers 503. */
static void run_on_writer(struct domain *d, void *arg)
{
	struct dispatch *dp = arg;
	struct api_request *r = &dp->r;
	struct tr_error err = {0};
	bool kept;

	start_afresh(dp);
	r->domain = d;
	if (domain_group_enter(d, &err) != TR_OK) {
		http_drop_deferred(r);
		http_reply_error(r, &err);
		return;
	}
	r->hold_failure = true;
	if (dp->part == RUN_HANDLER)
		run_handler_on_writer(d, dp);
	else if (dp->part == RUN_RECORD)
		record_now(d, r);
	r->hold_failure = false;
	if (!r->replied)
		tr_error_set(&r->failure, TR_EINTERNAL, "the request was not answered");
	kept = domain_group_leave(d, r->replied && !r->failed);
	if (!domain_group_intact(d))
		return;
	if (!r->replied || r->failed) {
		http_drop_deferred(r);
		http_reply_error(r, &r->failure);
	} else if (!kept) {
		http_drop_deferred(r);
		http_reply_status(r, TR_EUNAVAIL, "storage unavailable; nothing was changed");
	}
}

/* Back on the worker once the group is over: sends the reply, or 503 when
 * the group was not committed. */
static void finish_on_worker(void *arg, bool committed)
{
	struct dispatch *dp = arg;
	struct api_request *r = &dp->r;
	struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);

	r->domain = dp->worker->domain; /* the writer's is the writer's again */
	if (committed) {
		http_send_deferred(r);
	} else {
		http_drop_deferred(r);
		r->deferred = false;
		http_reply_status(r, TR_EUNAVAIL, "storage unavailable; nothing was changed");
	}
	release(dp);
	http_write_at_once(evcon);
}

/* Hands a request to the writer for `part`; false if it could not. Only
 * a handler changes state; the other parts append the audit records of a
 * read or of a failure, which may reach the disk just after the reply
 * (writer.h). */
static bool defer_to_writer(struct dispatch *dp, enum writer_part part, struct tr_error *err)
{
	struct writer *writer = dp->worker->writer;
	struct evhttp_connection *conn = evhttp_request_get_connection(dp->r.req);
	enum store_durability durability = part == RUN_HANDLER ? STORE_DURABLE : STORE_FLUSH_LATER;
	unsigned flags = part == RUN_HANDLER && (dp->route->flags & ROUTE_AUTH) ? WRITER_CHANGES_AUTH : 0;

	if (!writer || !conn)
		return false;
	dp->part = part;
	dp->r.deferred = true;
	if (writer_submit(writer, evhttp_connection_get_base(conn), run_on_writer, finish_on_worker, dp, durability,
	                  flags, err) == TR_OK)
		return true;
	dp->r.deferred = false;
	return false;
}

/*
 * The records of a ROUTE_READ_RECORD handler's answer go to the worker's
 * journal, and the answer leaves now; false when the journal may not or
 * could not take them (read-journal.h).
 */
static bool answer_journaled(struct dispatch *dp)
{
	struct api_request *r = &dp->r;
	struct store_audit *recs;
	size_t n = 0;

	if (!dp->worker->journal || !r->records || !(recs = r->records(r, r->record_arg, &n)))
		return false;
	if (!read_journal_submit(dp->worker->journal, r->actor.auth_generation, recs, n))
		return false;
	http_send_deferred(r);
	return true;
}

/*
 * ROUTE_READ_RECORD: the handler runs here, in the read transaction, its
 * answer and any failure kept; what it leaves to record goes to the
 * journal, and the answer leaves at once, or else, as does its failure (to
 * be recorded), to the writer, and the answer leaves after. True when the
 * request now belongs to the writer. The read transaction stays open for
 * the rest of the loop iteration, as a GET's does: its pages stay cached
 * for the next request, which the writer's commits of records would
 * otherwise make each one read again.
 */
static bool read_then_record(struct dispatch *dp, struct tr_error *err)
{
	struct api_request *r = &dp->r;

	r->deferred = true;
	r->hold_failure = true;
	dp->route->handler(r);
	r->hold_failure = false;
	if (!r->replied) {
		tr_error_set(&r->failure, TR_EINTERNAL, "the request was not answered");
		r->failed = r->replied = true;
	}
	if (!r->failed && r->record && answer_journaled(dp))
		return false;
	if ((r->failed || r->record) && defer_to_writer(dp, RUN_RECORD, err))
		return true;
	domain_read_end(r->domain);
	/* Nothing to record, or no writer: record (a transaction of its own)
	 * and answer here. */
	record_now(r->domain, r);
	r->deferred = false;
	if (r->failed) {
		http_drop_deferred(r);
		http_reply_error(r, &r->failure);
	} else {
		http_send_deferred(r);
	}
	return false;
}

/* A failure before the handler that must be recorded (a refused token, a
 * bad body from an authenticated caller on an audited route) is recorded
 * on the writer: a write on the worker's own connection would wait for the
 * writer's lock with the worker's loop stopped. */
static bool defer_failure(struct dispatch *dp, const struct tr_error *err)
{
	struct api_request *r = &dp->r;
	struct tr_error submit_err = {0};

	if (!dp->route || !http_failure_recorded(r, err->status == TR_OK ? TR_EINTERNAL : err->status))
		return false;
	r->failure = *err;
	r->failed = true;
	r->replied = true;
	if (defer_to_writer(dp, RUN_FAILURE, &submit_err))
		return true;
	r->failed = false;
	r->replied = false;
	return false;
}

/* Runs a handler on the worker. Its failure is not answered here but
 * handed back in *err: routes_dispatch records it on the writer, if it is
 * one to record, before answering. */
static void run_here(struct api_request *r, const struct route *route, struct tr_error *err)
{
	r->hold_failure = true;
	route->handler(r);
	r->hold_failure = false;
	if (r->failed) {
		*err = r->failure;
		r->failed = r->replied = false;
	}
}

/* On the background thread, with its domain: a handler's long part, or
 * 503 when the server stops before it started. A failure is recorded and
 * answered there (http_reply_error), on the thread's own connection:
 * nothing waits for it. */
static void run_in_background(struct domain *d, void *arg, bool cancelled)
{
	struct dispatch *dp = arg;
	struct api_request *r = &dp->r;

	r->domain = d;
	if (cancelled)
		http_reply_status(r, TR_EUNAVAIL, "the server is stopping");
	else
		r->background(r);
	if (!r->replied)
		http_reply_status(r, TR_EINTERNAL, "the request was not answered");
}

/* Back on the worker once the long part is over: sends its answer, as
 * after a committed group. */
static void finish_from_background(void *arg)
{
	finish_on_worker(arg, true);
}

/* Hands what the handler left to run long (api_request.background) to
 * the background thread; true when the request now belongs to it. There is
 * none once the server stops: the long part never runs on a worker, whose
 * loop it would hold. */
static bool continue_in_background(struct dispatch *dp, struct tr_error *err)
{
	struct api_request *r = &dp->r;
	struct evhttp_connection *conn = evhttp_request_get_connection(r->req);

	if (!dp->worker->background || !conn) {
		tr_error_set(err, TR_EUNAVAIL, "the server is stopping");
		return false;
	}
	r->deferred = true;
	if (background_submit(dp->worker->background, evhttp_connection_get_base(conn), run_in_background,
	                      finish_from_background, dp, err) == TR_OK)
		return true;
	r->deferred = false;
	return false;
}

/*
 * Checks the request and runs its route: authentication and the reads of
 * a GET or a /resolve share one read transaction (with the other requests
 * of the loop iteration);
 * a ROUTE_WRITE handler runs on the writer, a ROUTE_READ_RECORD one here
 * and then on the writer, any other here with no transaction open (and
 * what it leaves to run long on the background thread). True when the
 * request now belongs to the writer or the background thread.
 */
static bool run_route(struct dispatch *dp, const char *query, struct tr_error *err)
{
	struct api_request *r = &dp->r;
	struct domain *d = r->domain; /* the worker's: once handed off, r is the writer's */
	const struct route *route = dp->route;

	domain_read_begin(d);
	if (prepare(r, route, query, err) != TR_OK) {
		domain_read_end(d);
		return false;
	}
	if (route->flags & ROUTE_READ_RECORD)
		return read_then_record(dp, err);
	if (route->method != EVHTTP_REQ_GET || (route->flags & ROUTE_WRITE))
		domain_read_end(d);
	if ((route->flags & ROUTE_WRITE) && dp->worker->writer && route->prepare)
		route->prepare(r);
	if ((route->flags & ROUTE_WRITE) && defer_to_writer(dp, RUN_HANDLER, err))
		return true;
	if (err->status == TR_OK)
		run_here(r, route, err);
	if (err->status == TR_OK && !r->replied && r->background)
		return continue_in_background(dp, err);
	/* A GET's read transaction stays open for the other requests of this
	 * loop iteration (as a /resolve's does, read_then_record); the worker
	 * ends it when the iteration is over (server.c, worker_main). */
	return false;
}

/* Runs the matched route (or answers that there is none), and answers
 * what is answered here. */
static void run_matched(struct dispatch *dp, struct tr_error *err)
{
	struct api_request *r = &dp->r;
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));

	if (err->status == TR_OK && run_route(dp, query, err))
		return;
	if (!r->replied && defer_failure(dp, err))
		return;
	if (!r->replied)
		http_reply_error(r, err);
	release(dp);
}

/* Back on the worker once the writer has moved what was journaled before:
 * the route runs now (its read sees those records). */
static void run_after_records(void *arg, bool committed)
{
	struct dispatch *dp = arg;
	struct tr_error err = {0};

	(void)committed; /* an empty group: the records are in or never will be */
	/* A read transaction of this loop iteration may have begun before the
	 * writer's commit: this request reads in one of its own. */
	domain_read_end(dp->worker->domain);
	run_matched(dp, &err);
}

/* ROUTE_AFTER_RECORDS: when journaled records may not be in the log yet,
 * the route runs once the writer has moved them (an empty job behind them
 * in its queue); true when it will. Either way it reads in a transaction
 * of its own: one this loop iteration began may be older than the move of
 * records whose answers left before this request was sent. */
static bool wait_for_records(struct dispatch *dp)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(dp->r.req);
	struct tr_error err = {0};

	if (!(dp->route->flags & ROUTE_AFTER_RECORDS))
		return false;
	domain_read_end(dp->worker->domain);
	if (!dp->worker->writer || !conn || !read_journal_pending())
		return false;
	return writer_submit(dp->worker->writer, evhttp_connection_get_base(conn), NULL, run_after_records, dp,
	                     STORE_FLUSH_LATER, 0, &err) == TR_OK;
}

void routes_dispatch(struct evhttp_request *req, const struct routes_worker *worker)
{
	struct dispatch *dp = calloc(1, sizeof(*dp));
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct tr_error err = {0};
	struct api_request *r;
	const struct route *route;
	char allow[64];

	if (!dp) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	r = &dp->r;
	r->req = req;
	r->domain = worker->domain;
	dp->worker = worker;
	TAILQ_INIT(&r->query);
	identify(r);
	route = find_route(evhttp_request_get_command(req), path ? path : "", r->params, allow, sizeof(allow));
	dp->route = route;
	if (route)
		set_audit_subject(r, route);
	if (!route && allow[0]) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
		tr_error_set(&err, TR_EMETHOD, "method %s is not allowed here; use %s",
		             method_name(evhttp_request_get_command(req)), allow);
	} else if (!route) {
		tr_error_set(&err, TR_ENOTFOUND, "no route for %s", path ? path : "");
	} else if (wait_for_records(dp)) {
		return;
	}
	run_matched(dp, &err);
}
