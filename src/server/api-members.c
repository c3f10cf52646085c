/*
 * api-members.c - /v2/workspaces/{ws}/members: role bindings.
 */
#include "server/api.h"

#include "domain/members.h"
#include "server/body.h"

static json_t *nullable(const char *s)
{
	return *s ? json_string(s) : json_null();
}

static json_t *member_json(const struct store_member *m)
{
	json_t *obj = json_pack("{s:s,s:s,s:s,s:o,s:o,s:s}", "workspace", m->workspace, "principal", m->principal,
	                        "role", m->role, "project", nullable(m->project), "cluster", nullable(m->cluster),
	                        "created_by", m->created_by);

	http_json_set_time(obj, "created_at", m->created_at);
	return obj;
}

void api_members_put(struct api_request *r)
{
	static const char *const fields[] = {"role", "project", "cluster", NULL};
	const char *role = NULL, *project = NULL, *cluster = NULL;
	struct store_member m;
	struct tr_error err = {0};

	if (body_only_fields(r->body, fields, &err) == TR_OK && body_string(r->body, "role", &role, &err) == TR_OK &&
	    body_string(r->body, "project", &project, &err) == TR_OK &&
	    body_string(r->body, "cluster", &cluster, &err) == TR_OK &&
	    members_put(r->domain, &r->actor, r->params[0], r->params[1], role ? role : "", project, cluster, &m,
	                &err) == TR_OK) {
		json_t *obj = member_json(&m);

		http_reply_json(r, 200, obj, false);
		json_decref(obj);
	} else {
		http_reply_error(r, &err);
	}
}

static void append_member(void *ctx, const struct store_member *m)
{
	json_array_append_new(ctx, member_json(m));
}

void api_members_list(struct api_request *r)
{
	json_t *data = json_array();
	struct tr_error err = {0};

	if (members_list(r->domain, &r->actor, r->params[0], append_member, data, &err) == TR_OK)
		http_reply_list(r, data);
	else
		http_reply_error(r, &err);
	json_decref(data);
}

void api_members_delete(struct api_request *r)
{
	struct tr_error err = {0};

	if (members_delete(r->domain, &r->actor, r->params[0], r->params[1], &err) == TR_OK)
		http_reply_empty(r, 204);
	else
		http_reply_error(r, &err);
}
