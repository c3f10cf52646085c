/*
 * http.h - what a route handler is given and how it answers.
 *
 * A handler receives a struct api_request whose method, authentication and
 * body have already been checked by routes.c. It answers exactly once,
 * with http_reply_json, http_reply_empty or http_reply_error, or leaves the
 * rest of its work to the background thread (api_request.background),
 * which answers once. The mapping
 * of enum tr_status to HTTP status and JSON error body lives here and
 * nowhere else.
 */
#ifndef TRESOR_SERVER_HTTP_H
#define TRESOR_SERVER_HTTP_H

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/jsonmem.h"
#include "common/status.h"
#include "domain/domain.h"

#define ROUTE_MAX_PARAMS 4

struct api_request;

/* Makes a reply's JSON text (malloc'd; http_jsonw_text), *len its length;
 * NULL if it cannot. */
typedef char *(*http_render_fn)(void *arg, size_t *len);

/* Work a handler leaves for the writer (http_reply_once_recorded). */
typedef enum tr_status (*http_record_fn)(struct domain *d, struct api_request *r, void *arg,
                                         struct tr_error *err);
/* The same records, made on the worker for its journal (read-journal.h):
 * calloc'd, *n of them; NULL when they cannot be made. */
typedef struct store_audit *(*http_records_fn)(const struct api_request *r, void *arg, size_t *n);

struct api_request {
	struct evhttp_request *req;
	struct domain *domain;              /* the worker's domain context */
	struct principal actor;             /* authenticated caller (unset on public routes) */
	char *params[ROUTE_MAX_PARAMS];     /* decoded path captures, in pattern order */
	struct evkeyvalq query;             /* decoded query parameters */
	json_t *body;                       /* parsed JSON object, on routes that take a body */
	const char *audit_action;           /* recorded if the request fails; NULL: not audited */
	bool audit_denials_only;            /* a read: only a denial (403) is recorded */
	const char *audit_workspace;        /* the path's workspace and secret, for records */
	const char *audit_secret;
	const char *audit_target;           /* the principal or token of the path, if any */
	bool replied;
	bool token_refused; /* a token was presented and refused: its failure is recorded */
	/* Group commit (routes.c, writer.c): the handler runs on the writer
	 * thread, and the reply is kept here until the worker sends it. */
	bool deferred;
	bool hold_failure;        /* an error is kept in `failure`, not answered yet */
	bool failed;              /* `failure` holds an error */
	struct tr_error failure;
	http_record_fn record;    /* set by http_reply_once_recorded */
	http_records_fn records;
	void *record_arg;
	void (*record_arg_free)(void *arg);
	void *prepared; /* what the route's prepare left for its handler, or the handler
	                   for its long part (background, below); or NULL */
	void (*prepared_free)(void *prepared); /* called when the request ends */
	/* Set by a handler, in place of an answer, when the rest of its work
	 * runs long (a key rotation, an audit verification): routes.c runs it
	 * on the background thread (background.h), with that thread's domain,
	 * and sends the answer it gives when it is over. */
	void (*background)(struct api_request *r);
	struct {
		int status;
		json_t *body;   /* the document, encoded by the worker when it sends; or NULL */
		char *text;     /* or its text, made already (http_reply_text) */
		size_t text_len;
		bool sensitive; /* wipe the text once sent; Cache-Control: no-store */
		http_render_fn render; /* or the document is made when sent (http_reply_rendered) */
		void *render_arg;
		void (*render_arg_free)(void *arg);
	} reply;
};

/* Makes libevent allocate through wipemem, so that its buffers (request
 * lines and headers with their tokens, bodies with their values, replies)
 * are wiped when freed. Call before any other libevent call. Blocks
 * libevent hands over stay malloc's: free() releases them. */
void http_use_wiping_memory(void);

/* Whether replies go to the socket at once (plain HTTP) or wait for
 * evhttp's next write event (TLS); set before the workers start. */
void http_write_replies_at_once(bool on);

/*
 * Writes the reply queued on evcon now, when http_write_replies_at_once
 * allows, and runs evhttp's "written" callback, which may free the request
 * and evcon: the caller is done with both.
 */
void http_write_at_once(struct evhttp_connection *evcon);

/* Sends obj (not consumed) as JSON with the given HTTP status. When
 * sensitive is true the serialised text is wiped once it has been sent.
 * On the writer thread obj is kept (a reference) and encoded by the
 * worker as it sends the reply: the encoding is off the writer's path. */
void http_reply_json(struct api_request *r, int status, json_t *obj, bool sensitive);
/* Sends the text render(arg) makes, not sensitive, with the given
 * status; free_arg(arg) runs once the reply is sent or dropped (may be
 * NULL). On the writer thread render runs on the worker as it sends: a
 * handler that ran there leaves it only what must be in its transaction. */
void http_reply_rendered(struct api_request *r, int status, http_render_fn render, void *arg,
                         void (*free_arg)(void *arg));
/* Sends text (JSON, malloc'd, taken over) with the given status, wiped
 * once sent when sensitive, as http_reply_json does; a deferred request
 * keeps it until the worker sends it. NULL (it could not be made) is the
 * request's failure, 500: for a handler that has changed nothing. */
void http_reply_text(struct api_request *r, int status, char *text, size_t len, bool sensitive);
/* The text of a document written with w (jsonw_init(w, 1)), with the
 * final newline every reply has; NULL if it failed. */
char *http_jsonw_text(struct jsonw *w, size_t *len);
/* Sends text (JSON, taken over; NULL: 500) as http_reply_json_etag does. */
void http_reply_text_etag(struct api_request *r, char *text, size_t len);
/* Sends obj with 200 and an ETag (a hash of the body); when the request's
 * If-None-Match names that tag, sends 304 with no body instead. For reads
 * only: not on routes that run on the writer (ROUTE_WRITE). */
void http_reply_json_etag(struct api_request *r, const json_t *obj);
/* Sends 200 {"data": items} (items not consumed). */
void http_reply_list(struct api_request *r, json_t *items);
/* Sends a status with no body (204). */
void http_reply_empty(struct api_request *r, int status);
/* Whether a failure with status st is recorded in the audit log (a refused
 * token, or an authenticated caller's failure on an audited route; on a
 * read, only a denial, 403). */
bool http_failure_recorded(const struct api_request *r, enum tr_status st);
/* Sends {"error":{"code","message"}} for err->status. When
 * http_failure_recorded, the failure is recorded first; if that record
 * cannot be written the reply becomes 503 (fail closed). */
void http_reply_error(struct api_request *r, const struct tr_error *err);
/* Shorthand: builds the error from status and a message. */
void http_reply_status(struct api_request *r, enum tr_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * For a handler that reads on its worker (ROUTE_READ_RECORD) and must
 * write before its answer may leave (the audit records of /resolve): call
 * after making the reply. The records records(r, arg) makes go to the
 * worker's journal, and the reply leaves at once; when they may not
 * (read-journal.h), fn runs on the writer, in the group's transaction,
 * the reply leaves once that has committed, and if fn fails its error is
 * the answer instead. fn must check again what records may take for
 * granted. free_arg(arg) runs when the request is done (free_arg may be
 * NULL); records may be NULL (always through the writer).
 */
void http_reply_once_recorded(struct api_request *r, http_record_fn fn, http_records_fn records, void *arg,
                              void (*free_arg)(void *arg));

/* Sends the reply a deferred handler made (on the worker's thread). */
void http_send_deferred(struct api_request *r);
/* Frees the reply a deferred handler made, without sending it. */
void http_drop_deferred(struct api_request *r);

/* A query parameter, or NULL. */
const char *http_query(const struct api_request *r, const char *name);
/* A boolean query parameter: "true"/"1" -> true, absent/"false"/"0" -> false;
 * anything else is TR_EINVAL. */
enum tr_status http_query_bool(const struct api_request *r, const char *name, bool *out, struct tr_error *err);
/* A positive integer query parameter in [min, max], or def when absent. */
enum tr_status http_query_int(const struct api_request *r, const char *name, int64_t def, int64_t min,
                              int64_t max, int64_t *out, struct tr_error *err);

/* Adds "key": RFC 3339 time, or null when t is 0. */
void http_json_set_time(json_t *obj, const char *key, int64_t t);

#endif
