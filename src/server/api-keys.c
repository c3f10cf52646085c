/*
 * api-keys.c - /v2/secrets/rotate-encryption-keys (and the alias
 * /v2/rotate-encryption-keys): key rotation (SPEC §7, docs/keys.md).
 *
 * POST checks the request on the worker and runs the rotation on the
 * server's background thread (background.h), answering when it is over:
 * {"rotated_secrets","failed","success"}. GET reports progress from the
 * stored counts. The rules (platform admins only, one run at a time)
 * live in domain/rotation.c.
 */
#include "server/api.h"

#include <stdlib.h>

#include "domain/rotation.h"
#include "server/body.h"

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

/* What the worker leaves the background thread: the options and the claim
 * of the run, given up when the request ends if the run never took it (the
 * request could not be handed over). */
struct claimed_run {
	struct rotation_options opt;
	bool claimed;
};

static void claimed_run_free(void *arg)
{
	struct claimed_run *run = arg;

	if (run->claimed)
		rotation_unclaim();
	free(run);
}

/* On the background thread (routes.c, background.h): the run itself,
 * answered when it is over. */
static void rotate_in_background(struct api_request *r)
{
	struct claimed_run *run = r->prepared;
	struct rotation_result res = {0};
	struct tr_error err = {0};
	json_t *body;

	run->claimed = false; /* the run gives it up */
	if (rotation_run_claimed(r->domain, &r->actor, &run->opt, &res, &err) != TR_OK) {
		http_reply_error(r, &err);
		return;
	}
	body = json_pack("{s:I,s:I,s:b}", "rotated_secrets", (json_int_t)res.rotated, "failed", (json_int_t)res.failed,
	                 "success", res.success);
	http_reply_json(r, 200, body, false);
	json_decref(body);
}

/* On the worker: what can be refused is refused at once (a bad body, a
 * caller who may not, a run claimed already), and the run is claimed here,
 * so that of two POSTs at once one is 409; the run goes to the background
 * thread, and this worker serves its other connections meanwhile. */
void api_keys_rotate(struct api_request *r)
{
	struct claimed_run *run = calloc(1, sizeof(*run));
	struct tr_error err = {0};

	if (!run) {
		http_reply_status(r, TR_EINTERNAL, "out of memory");
		return;
	}
	if (parse_options(r->body, &run->opt, &err) != TR_OK || rotation_claim(&r->actor, &err) != TR_OK) {
		free(run);
		http_reply_error(r, &err);
		return;
	}
	run->claimed = true;
	r->prepared = run;
	r->prepared_free = claimed_run_free;
	r->background = rotate_in_background;
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
