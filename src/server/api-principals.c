/*
 * api-principals.c - /v2/principals: users and service accounts.
 */
#include "server/api.h"

#include "domain/principals.h"
#include "server/body.h"

static json_t *principal_json(const struct store_principal *p)
{
	json_t *obj = json_pack("{s:s,s:s,s:b}", "name", p->name, "kind", p->kind, "platform_admin", p->platform_admin);

	http_json_set_time(obj, "created_at", p->created_at);
	return obj;
}

static enum tr_status body_bool(const json_t *body, const char *field, bool *out, struct tr_error *err)
{
	json_t *v = json_object_get(body, field);

	*out = false;
	if (!v || json_is_null(v))
		return TR_OK;
	if (!json_is_boolean(v))
		return tr_error_set(err, TR_EVALIDATION, "field '%s': must be true or false", field);
	*out = json_is_true(v);
	return TR_OK;
}

void api_principals_create(struct api_request *r)
{
	static const char *const fields[] = {"name", "kind", "platform_admin", NULL};
	const char *name = NULL, *kind = NULL;
	struct store_principal p;
	struct tr_error err = {0};
	bool platform_admin = false;

	if (body_only_fields(r->body, fields, &err) == TR_OK && body_string(r->body, "name", &name, &err) == TR_OK &&
	    body_string(r->body, "kind", &kind, &err) == TR_OK &&
	    body_bool(r->body, "platform_admin", &platform_admin, &err) == TR_OK &&
	    principals_create(r->domain, &r->actor, name, kind, platform_admin, &p, &err) == TR_OK) {
		json_t *obj = principal_json(&p);

		http_reply_json(r, 201, obj, false);
		json_decref(obj);
	} else {
		http_reply_error(r, &err);
	}
}

static void append_principal(void *ctx, const struct store_principal *p)
{
	json_array_append_new(ctx, principal_json(p));
}

void api_principals_list(struct api_request *r)
{
	json_t *data = json_array();
	struct tr_error err = {0};

	if (principals_list(r->domain, &r->actor, append_principal, data, &err) == TR_OK)
		http_reply_list(r, data);
	else
		http_reply_error(r, &err);
	json_decref(data);
}

void api_principals_delete(struct api_request *r)
{
	struct tr_error err = {0};

	if (principals_delete(r->domain, &r->actor, r->params[0], &err) == TR_OK)
		http_reply_empty(r, 204);
	else
		http_reply_error(r, &err);
}
