/*
 * api-keys.c - /v2/secrets/rotate-encryption-keys (and the alias
 * /v2/rotate-encryption-keys): key rotation (SPEC §7, docs/keys.md).
 *
 * POST runs the rotation on this worker's thread and answers when it is
 * over: {"rotated_secrets","failed","success"}. GET reports progress from
 * the stored counts. The rules (platform admins only, one run at a time)
 * live in domain/rotation.c.
 */
#include "server/api.h"

#include <event2/event.h>

#include "domain/rotation.h"
#include "server/body.h"
#include "server/options.h"

static const char *const rotate_fields[] = {"reencrypt", NULL};

static enum tr_status parse_options(const json_t *body, struct rotation_options *opt, struct tr_error *err)
{
	json_t *v = json_object_get(body, "reencrypt");
	enum tr_status st;

	if ((st = body_only_fields(body, rotate_fields, err)) != TR_OK)
		return st;
	if (v && !json_is_boolean(v))
		return tr_error_set(err, TR_EVALIDATION, "field 'reencrypt': must be true or false");
	opt->reencrypt = v && json_is_true(v);
	return TR_OK;
}

/*
 * After a long rotation: the worker's event loop was blocked, and its
 * cached clock still says when the request arrived, so timers armed now
 * (the reply's write timeout) would already be due, and the connection's
 * read timeout has expired meanwhile: either closes the connection before
 * the answer is written. Refresh the clock, then re-arm this connection's
 * timeouts from now.
 */
static void rearm_connection_timeout(struct api_request *r)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(r->req);

	if (!conn)
		return;
	event_base_update_cache_time(evhttp_connection_get_base(conn));
	evhttp_connection_set_timeout(conn, SERVER_HTTP_TIMEOUT_SECONDS);
}

void api_keys_rotate(struct api_request *r)
{
	struct rotation_options opt = {0};
	struct rotation_result res = {0};
	struct tr_error err = {0};
	enum tr_status st;
	json_t *body;

	if (parse_options(r->body, &opt, &err) != TR_OK) {
		http_reply_error(r, &err);
		return;
	}
	st = rotation_run(r->domain, &r->actor, &opt, &res, &err);
	rearm_connection_timeout(r);
	if (st != TR_OK) {
		http_reply_error(r, &err);
		return;
	}
	body = json_pack("{s:I,s:I,s:b}", "rotated_secrets", (json_int_t)res.rotated, "failed", (json_int_t)res.failed,
	                 "success", res.success);
	http_reply_json(r, 200, body, false);
	json_decref(body);
}

/* store_provider_count_cb: "providers": {"local_v1": N, ...} */
static void add_provider(void *ctx, const char *provider, int64_t versions)
{
	json_object_set_new(ctx, provider, json_integer((json_int_t)versions));
}

void api_keys_status(struct api_request *r)
{
	struct rotation_progress p = {0};
	struct tr_error err = {0};
	json_t *providers = json_object(), *body;

	if (rotation_progress(r->domain, &r->actor, add_provider, providers, &p, &err) != TR_OK) {
		http_reply_error(r, &err);
		json_decref(providers);
		return;
	}
	body = json_pack("{s:b,s:s,s:I,s:I,s:I,s:o}", "running", p.running, "current_provider", p.current_provider,
	                 "total", (json_int_t)p.total, "done", (json_int_t)p.done, "remaining", (json_int_t)p.remaining,
	                 "providers", providers);
	http_reply_json(r, 200, body, false);
	json_decref(body);
}
