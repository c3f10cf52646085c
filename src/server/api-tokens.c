/*
 * api-tokens.c - /v2/tokens: mint (the token text is shown once), list,
 * revoke.
 */
#include "server/api.h"

#include <sodium.h>

#include "domain/tokens.h"
#include "server/body.h"

static json_t *token_json(const struct store_token *t)
{
	json_t *obj = json_pack("{s:s,s:s,s:s,s:s}", "id", t->id, "principal", t->principal, "description",
	                        t->description, "created_by", t->created_by);

	http_json_set_time(obj, "created_at", t->created_at);
	http_json_set_time(obj, "expires_at", t->expires_at);
	return obj;
}

void api_tokens_create(struct api_request *r)
{
	static const char *const fields[] = {"principal", "expires_in", "description", NULL};
	const char *principal = NULL, *description = NULL;
	struct token_created created;
	struct tr_error err = {0};
	int64_t expires_in = 0;
	bool has_expiry = false;
	json_t *obj;

	if (body_only_fields(r->body, fields, &err) != TR_OK || body_string(r->body, "principal", &principal, &err) != TR_OK ||
	    body_string(r->body, "description", &description, &err) != TR_OK ||
	    body_int(r->body, "expires_in", &expires_in, &has_expiry, &err) != TR_OK) {
		http_reply_error(r, &err);
		return;
	}
	if (has_expiry && expires_in <= 0) {
		http_reply_status(r, TR_EVALIDATION, "field 'expires_in': must be a positive number of seconds");
		return;
	}
	if (tokens_create(r->domain, &r->actor, principal, expires_in, description, &created, &err) != TR_OK) {
		http_reply_error(r, &err);
		return;
	}
	obj = token_json(&created.meta);
	json_object_set_new(obj, "token", json_string(created.text));
	sodium_memzero(created.text, sizeof(created.text));
	http_reply_json(r, 201, obj, true);
	json_decref(obj);
}

static void append_token(void *ctx, const struct store_token *t)
{
	json_array_append_new(ctx, token_json(t));
}

void api_tokens_list(struct api_request *r)
{
	json_t *data = json_array();
	struct tr_error err = {0};

	if (tokens_list(r->domain, &r->actor, append_token, data, &err) == TR_OK)
		http_reply_list(r, data);
	else
		http_reply_error(r, &err);
	json_decref(data);
}

void api_tokens_delete(struct api_request *r)
{
	struct tr_error err = {0};

	if (tokens_delete(r->domain, &r->actor, r->params[0], &err) == TR_OK)
		http_reply_empty(r, 204);
	else
		http_reply_error(r, &err);
}
