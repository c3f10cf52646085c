/*
 * routes.h - the one route table and its dispatcher.
 *
 * routes_dispatch matches the path against every pattern, answers 404 for
 * an unknown path and 405 (with Allow) for a known path with another
 * method, authenticates the caller, checks and parses the body, and only
 * then calls the handler. Handlers live in api-<resource>.c.
 */
#ifndef TRESOR_SERVER_ROUTES_H
#define TRESOR_SERVER_ROUTES_H

#include <event2/http.h>
#include <stdbool.h>

#include "server/http.h"

enum route_flags {
	ROUTE_PUBLIC = 1 << 0,        /* no token needed */
	ROUTE_BODY = 1 << 1,          /* takes a JSON object body */
	ROUTE_BODY_OPTIONAL = 1 << 2, /* with ROUTE_BODY: an empty body means {} */
	ROUTE_WRITE = 1 << 3,         /* writes when it succeeds: runs on the group-commit writer */
	ROUTE_READ_RECORD = 1 << 4,   /* reads on the worker, then writes (http_reply_once_recorded) on the writer */
	ROUTE_DENIALS = 1 << 5,       /* a read: of its failures only denials (403) are recorded */
	ROUTE_AUTH = 1 << 6,          /* may change what tokens may do (writer.h, WRITER_CHANGES_AUTH) */
	ROUTE_AFTER_RECORDS = 1 << 7, /* reads the audit log: runs once journaled records are in it */
};

typedef void (*route_handler)(struct api_request *r);

struct route {
	enum evhttp_cmd_type method;
	const char *pattern; /* "/v2/workspaces/{ws}/secrets/{name}": {x} captures one segment */
	route_handler handler;
	unsigned flags;
	const char *audit; /* action recorded when the request fails, or NULL (not audited) */
	/* ROUTE_WRITE: work the worker may do ahead for the handler, once the
	 * caller is authenticated and before the request goes to the writer
	 * (api_request.prepared); or NULL. It answers nothing: the handler
	 * does what it could not. */
	route_handler prepare;
};

struct writer;
struct background;
struct read_journal;

/* What a worker serves requests with; writer, background and journal may
 * be NULL. */
struct routes_worker {
	struct domain *domain;
	struct writer *writer;
	struct background *background;
	struct read_journal *journal;
};

/* Handles one request on behalf of a worker. Routes with ROUTE_WRITE go to
 * the writer (writer.h), and are answered once their group has committed;
 * a /resolve's records go to the worker's journal (read-journal.h) or else
 * to the writer; a handler that leaves a long part (api_request.background)
 * has it run by the background thread (background.h), and is answered once
 * it is over; the rest are answered before this returns. */
void routes_dispatch(struct evhttp_request *req, const struct routes_worker *worker);

/* Matching, exposed for tests: true when path fits pattern; captures are
 * written to params (heap strings, caller frees) when params is not NULL. */
bool routes_match(const char *pattern, const char *path, char *params[ROUTE_MAX_PARAMS]);

/* The methods evhttp must accept for the table (evhttp_set_allowed_methods). */
unsigned routes_allowed_methods(void);

#endif
