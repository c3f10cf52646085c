/*
 * http.c - replies, errors and query helpers for route handlers.
 */
#include "server/http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jsonmem.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/wipemem.h"
#include "domain/audit.h"

static void free_wiped(const void *data, size_t len, void *arg)
{
	(void)arg;
	sodium_memzero((void *)data, len);
	free((void *)data);
}

static void free_plain(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

void http_use_wiping_memory(void)
{
	event_set_mem_functions(wipe_malloc, wipe_realloc, wipe_free);
}

/* Replies are written to the socket at once (http_write_at_once); set
 * before the workers start, never with TLS: there the bufferevent
 * encrypts, and the raw socket must not be written to. */
static bool write_replies_at_once;

void http_write_replies_at_once(bool on)
{
	write_replies_at_once = on;
}

void http_write_at_once(struct evhttp_connection *evcon)
{
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	struct evbuffer *out;

	if (!write_replies_at_once || !bev || bufferevent_getfd(bev) < 0)
		return;
	out = bufferevent_get_output(bev);
	if (evbuffer_get_length(out) == 0) /* no reply queued */
		return;
	if (evbuffer_write(out, bufferevent_getfd(bev)) < 0 || evbuffer_get_length(out) > 0)
		return;
	bufferevent_trigger(bev, EV_WRITE, 0);
}

/* Serialises obj into a fresh malloc'd buffer, with a final newline. */
static char *dump_json(const json_t *obj, size_t *len)
{
	struct jsonw w;

	jsonw_init(&w, 1);
	jsonw_value(&w, obj);
	return http_jsonw_text(&w, len);
}

/* The Date header's text for now. evhttp formats one with gmtime for
 * every reply that has none; each thread here makes one a second. The
 * server never sets a locale: %a and %b are English, as HTTP wants. */
static const char *date_now(void)
{
	static _Thread_local time_t made_at = -1;
	static _Thread_local char text[40];
	time_t now = time(NULL);
	struct tm tm;

	if (now != made_at && gmtime_r(&now, &tm) && strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &tm))
		made_at = now;
	return made_at == now ? text : NULL;
}

/* Sends status with text (may be NULL) now; text is taken over. */
static void send_now(struct api_request *r, int status, char *text, size_t len, bool sensitive)
{
	struct evkeyvalq *headers = evhttp_request_get_output_headers(r->req);
	const char *date = date_now();

	if (date)
		evhttp_add_header(headers, "Date", date);

	if (status == 401)
		evhttp_add_header(headers, "WWW-Authenticate", "Bearer");
	if (text) {
		evhttp_add_header(headers, "Content-Type", "application/json");
		if (sensitive)
			evhttp_add_header(headers, "Cache-Control", "no-store");
		evbuffer_add_reference(evhttp_request_get_output_buffer(r->req), text, len,
		                       sensitive ? free_wiped : free_plain, NULL);
	}
	evhttp_send_reply(r->req, status, NULL, NULL);
	r->replied = true;
}

/* The request's work is done (or it only read), but its answer cannot be
 * made (out of memory): 500, and no record of a failure that did not
 * happen, which on a worker would also wait for the writer's lock. */
static void send_unmade(struct api_request *r)
{
	json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", tr_status_code(TR_EINTERNAL), "message",
	                         "cannot make the response");
	size_t len = 0;
	char *text = body ? dump_json(body, &len) : NULL;

	json_decref(body);
	log_error("%s: cannot make the response", evhttp_request_get_uri(r->req));
	send_now(r, 500, text, len, false);
}

/* Encodes obj and sends it now. */
static void send_json_now(struct api_request *r, int status, const json_t *obj, bool sensitive)
{
	size_t len = 0;
	char *text = dump_json(obj, &len);

	if (!text) {
		send_unmade(r);
		return;
	}
	send_now(r, status, text, len, sensitive);
}

/* A deferred request's reply is answered: the worker sends what the
 * caller keeps in r->reply (http_send_deferred). */
static void keep_reply(struct api_request *r, int status, bool sensitive)
{
	r->reply.status = status;
	r->reply.sensitive = sensitive;
	r->replied = true;
}

/* Sends the reply, or keeps it for the worker when the request runs on the
 * writer thread (evhttp is not to be touched from there). obj may be NULL
 * (no body). */
static void reply_out(struct api_request *r, int status, json_t *obj, bool sensitive)
{
	if (!r->deferred) {
		if (obj)
			send_json_now(r, status, obj, sensitive);
		else
			send_now(r, status, NULL, 0, false);
		return;
	}
	keep_reply(r, status, sensitive);
	r->reply.body = obj ? json_incref(obj) : NULL;
}

/* Sends what render(arg) makes now, and lets arg go. */
static void send_rendered(struct api_request *r, int status, http_render_fn render, void *arg,
                          void (*free_arg)(void *arg))
{
	size_t len = 0;
	char *text = render(arg, &len);

	if (text)
		send_now(r, status, text, len, false);
	else
		send_unmade(r);
	if (free_arg)
		free_arg(arg);
}

void http_reply_text(struct api_request *r, int status, char *text, size_t len, bool sensitive)
{
	if (!text) { /* nothing was done that a failure would misreport */
		http_reply_status(r, TR_EINTERNAL, "cannot make the response");
		return;
	}
	if (!r->deferred) {
		send_now(r, status, text, len, sensitive);
		return;
	}
	keep_reply(r, status, sensitive);
	r->reply.text = text;
	r->reply.text_len = len;
}

/* Takes the text made for the reply out of r, if there is one. */
static char *take_text(struct api_request *r, size_t *len)
{
	char *text = r->reply.text;

	*len = r->reply.text_len;
	r->reply.text = NULL;
	r->reply.text_len = 0;
	return text;
}

char *http_jsonw_text(struct jsonw *w, size_t *len)
{
	char *text = jsonw_finish(w, len);

	if (text)
		text[(*len)++] = '\n';
	return text;
}

void http_reply_rendered(struct api_request *r, int status, http_render_fn render, void *arg,
                         void (*free_arg)(void *arg))
{
	if (!r->deferred) {
		send_rendered(r, status, render, arg, free_arg);
		return;
	}
	keep_reply(r, status, false);
	r->reply.render = render;
	r->reply.render_arg = arg;
	r->reply.render_arg_free = free_arg;
}

/* Takes the rendered reply out of r (render is NULL if there is none). */
static void take_rendered(struct api_request *r, http_render_fn *render, void **arg, void (**free_arg)(void *arg))
{
	*render = r->reply.render;
	*arg = r->reply.render_arg;
	*free_arg = r->reply.render_arg_free;
	r->reply.render = NULL;
	r->reply.render_arg = NULL;
	r->reply.render_arg_free = NULL;
}

void http_send_deferred(struct api_request *r)
{
	json_t *body = r->reply.body;
	http_render_fn render;
	void *arg;
	void (*free_arg)(void *arg);
	size_t len;
	char *text = take_text(r, &len);

	if (text) {
		r->deferred = false;
		send_now(r, r->reply.status, text, len, r->reply.sensitive);
		return;
	}
	take_rendered(r, &render, &arg, &free_arg);
	if (render) {
		r->deferred = false;
		send_rendered(r, r->reply.status, render, arg, free_arg);
		return;
	}

	r->reply.body = NULL;
	r->deferred = false;
	reply_out(r, r->reply.status, body, r->reply.sensitive);
	json_decref(body);
}

void http_drop_deferred(struct api_request *r)
{
	http_render_fn render;
	void *arg;
	void (*free_arg)(void *arg);
	size_t len;
	char *text = take_text(r, &len);

	if (text)
		free_wiped(text, len, NULL);
	take_rendered(r, &render, &arg, &free_arg);
	if (render && free_arg)
		free_arg(arg);
	json_decref(r->reply.body); /* a sensitive one is wiped by the allocator */
	r->reply.body = NULL;
	r->replied = false;
}

void http_reply_once_recorded(struct api_request *r, http_record_fn fn, http_records_fn records, void *arg,
                              void (*free_arg)(void *arg))
{
	r->record = fn;
	r->records = records;
	r->record_arg = arg;
	r->record_arg_free = free_arg;
}

void http_reply_json(struct api_request *r, int status, json_t *obj, bool sensitive)
{
	reply_out(r, status, obj, sensitive);
}

/* Whether an If-None-Match header value names etag ("*" names any). */
static bool etag_matches(const char *header, const char *etag)
{
	size_t n = strlen(etag);

	if (!header)
		return false;
	if (strcmp(header, "*") == 0)
		return true;
	for (const char *p = strstr(header, etag); p; p = strstr(p + 1, etag))
		if ((p == header || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/') &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return true;
	return false;
}

void http_reply_json_etag(struct api_request *r, const json_t *obj)
{
	size_t len = 0;
	char *text = dump_json(obj, &len);

	http_reply_text_etag(r, text, len);
}

void http_reply_text_etag(struct api_request *r, char *text, size_t len)
{
	struct evkeyvalq *out_headers = evhttp_request_get_output_headers(r->req);
	unsigned char hash[16];
	char etag[2 * sizeof(hash) + 3];

	if (!text) {
		send_unmade(r);
		return;
	}
	crypto_generichash(hash, sizeof(hash), (const unsigned char *)text, len, NULL, 0);
	etag[0] = '"';
	sodium_bin2hex(etag + 1, sizeof(etag) - 2, hash, sizeof(hash));
	strcat(etag, "\"");
	evhttp_add_header(out_headers, "ETag", etag);
	if (etag_matches(evhttp_find_header(evhttp_request_get_input_headers(r->req), "If-None-Match"), etag)) {
		free(text);
		send_now(r, 304, NULL, 0, false);
		return;
	}
	send_now(r, 200, text, len, false);
}

void http_reply_list(struct api_request *r, json_t *items)
{
	json_t *body = json_pack("{s:O}", "data", items);

	http_reply_json(r, 200, body, false);
	json_decref(body);
}

void http_reply_empty(struct api_request *r, int status)
{
	reply_out(r, status, NULL, false);
}

bool http_failure_recorded(const struct api_request *r, enum tr_status st)
{
	if (r->token_refused)
		return true;
	if (r->audit_denials_only && st != TR_EDENIED)
		return false;
	return r->audit_action && r->actor.name[0] && st != TR_EUNAUTH && st != TR_ETOOMANY;
}

/* Records a failed request, if http_failure_recorded: a refused token as
 * "auth", any other failure under the route's action. */
static enum tr_status audit_failure(struct api_request *r, enum tr_status st, struct tr_error *audit_err)
{
	struct audit_event ev = {
		.action = r->token_refused ? "auth" : r->audit_action,
		.workspace = r->audit_workspace,
		.secret = r->audit_secret,
		.target = r->token_refused ? NULL : r->audit_target,
		.project = r->token_refused ? NULL : http_query(r, "project"),
		.cluster = r->token_refused ? NULL : http_query(r, "cluster"),
		.outcome = r->token_refused ? AUDIT_FAILURE : audit_outcome_of(st),
		.status = tr_status_http(st),
	};

	if (!http_failure_recorded(r, st))
		return TR_OK;
	return audit_record(r->domain, &r->actor, &ev, audit_err);
}

void http_reply_error(struct api_request *r, const struct tr_error *err)
{
	struct tr_error audit_err = {0};
	json_t *body;
	enum tr_status st = err->status == TR_OK ? TR_EINTERNAL : err->status;
	int http;

	if (r->hold_failure) {
		/* On the writer thread: the failure is recorded and answered only
		 * after the request's own work is undone (routes.c). */
		r->failure = *err;
		r->failure.status = st;
		r->failed = true;
		r->replied = true;
		return;
	}
	if (audit_failure(r, st, &audit_err) != TR_OK) {
		err = &audit_err;
		st = audit_err.status;
	}
	http = tr_status_http(st);

	if (http >= 500)
		log_error("%s: %s", evhttp_request_get_uri(r->req), err->message);
	body = json_pack("{s:{s:s,s:s}}", "error", "code", tr_status_code(st), "message",
	                 err->message[0] ? err->message : tr_status_code(st));
	http_reply_json(r, http, body, false);
	json_decref(body);
}

void http_reply_status(struct api_request *r, enum tr_status status, const char *fmt, ...)
{
	struct tr_error err = {.status = status};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	http_reply_error(r, &err);
}

const char *http_query(const struct api_request *r, const char *name)
{
	return evhttp_find_header(&r->query, name);
}

enum tr_status http_query_bool(const struct api_request *r, const char *name, bool *out, struct tr_error *err)
{
	const char *v = http_query(r, name);

	if (!v || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = false;
	else if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*out = true;
	else
		return tr_error_set(err, TR_EINVAL, "query parameter '%s' must be true or false", name);
	return TR_OK;
}

enum tr_status http_query_int(const struct api_request *r, const char *name, int64_t def, int64_t min,
                              int64_t max, int64_t *out, struct tr_error *err)
{
	const char *v = http_query(r, name);
	char *end;
	long long n;

	if (!v) {
		*out = def;
		return TR_OK;
	}
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || *end || n < min || n > max)
		return tr_error_set(err, TR_EINVAL, "query parameter '%s' must be an integer from %lld to %lld", name,
		                    (long long)min, (long long)max);
	*out = n;
	return TR_OK;
}

void http_json_set_time(json_t *obj, const char *key, int64_t t)
{
	char buf[TIMEFMT_LEN];

	if (t == 0) {
		json_object_set_new(obj, key, json_null());
		return;
	}
	timefmt_rfc3339(t, buf);
	json_object_set_new(obj, key, json_string(buf));
}
