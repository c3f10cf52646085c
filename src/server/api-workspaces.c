/*
 * api-workspaces.c - /v2/workspaces: create, list, get, delete.
 */
#include "server/api.h"
#include "server/body.h"
#include "domain/workspaces.h"

static json_t *workspace_json(const struct store_workspace *ws)
{
	json_t *obj = json_pack("{s:s,s:s}", "name", ws->name, "created_by", ws->created_by);

	http_json_set_time(obj, "created_at", ws->created_at);
	return obj;
}

static void reply_workspace(struct api_request *r, int status, const struct store_workspace *ws)
{
	json_t *obj = workspace_json(ws);

	http_reply_json(r, status, obj, false);
	json_decref(obj);
}

void api_workspaces_create(struct api_request *r)
{
	static const char *const fields[] = {"name", NULL};
	struct store_workspace ws;
	struct tr_error err = {0};
	const char *name = NULL;

	if (body_only_fields(r->body, fields, &err) == TR_OK && body_string(r->body, "name", &name, &err) == TR_OK &&
	    workspaces_create(r->domain, &r->actor, name ? name : "", &ws, &err) == TR_OK)
		reply_workspace(r, 201, &ws);
	else
		http_reply_error(r, &err);
}

static void append_workspace(void *ctx, const struct store_workspace *ws)
{
	json_array_append_new(ctx, workspace_json(ws));
}

void api_workspaces_list(struct api_request *r)
{
	json_t *data = json_array();
	struct tr_error err = {0};

	if (workspaces_list(r->domain, &r->actor, append_workspace, data, &err) == TR_OK)
		http_reply_list(r, data);
	else
		http_reply_error(r, &err);
	json_decref(data);
}

void api_workspaces_get(struct api_request *r)
{
	struct store_workspace ws;
	struct tr_error err = {0};

	if (workspaces_get(r->domain, &r->actor, r->params[0], &ws, &err) == TR_OK)
		reply_workspace(r, 200, &ws);
	else
		http_reply_error(r, &err);
}

void api_workspaces_delete(struct api_request *r)
{
	struct tr_error err = {0};
	bool force = false;

	if (http_query_bool(r, "force", &force, &err) == TR_OK &&
	    workspaces_delete(r->domain, &r->actor, r->params[0], force, &err) == TR_OK)
		http_reply_empty(r, 204);
	else
		http_reply_error(r, &err);
}
