/*
 * workspaces.c - workspace rules: naming, the undeletable default, no
 * silent loss of secrets on delete, and members seeing only their own.
 */
#include "domain/workspaces.h"

#include <stdio.h>
#include <string.h>

#include "domain/audit.h"
#include "domain/auth.h"
#include "domain/names.h"
#include "domain/policy.h"

static enum tr_status create_locked(struct domain *d, const struct principal *actor, const struct store_workspace *ws,
                                    struct tr_error *err)
{
	struct audit_event ev = {
		.action = "workspace.create", .workspace = ws->name, .outcome = AUDIT_SUCCESS, .status = 201,
	};
	enum tr_status st = store_workspace_create(d->store, ws, err);

	if (st == TR_ECONFLICT)
		return tr_error_set(err, st, "Workspace '%s' already exists", ws->name);
	return st == TR_OK ? audit_append(d, actor, &ev, err) : st;
}

enum tr_status workspaces_create(struct domain *d, const struct principal *actor, const char *name,
                                 struct store_workspace *out, struct tr_error *err)
{
	struct store_workspace ws = {.created_at = domain_now()};
	enum tr_status st;

	if ((st = policy_check_global(actor, ACT_WORKSPACE_CREATE, err)) != TR_OK)
		return st;
	if (!name_label_valid(name))
		return tr_error_set(err, TR_EVALIDATION,
		                    "field 'name': workspace names are 1-63 lowercase letters, digits and '-', "
		                    "starting and ending with a letter or digit");
	snprintf(ws.name, sizeof(ws.name), "%s", name);
	snprintf(ws.created_by, sizeof(ws.created_by), "%s", actor->name);
	if ((st = domain_begin(d, err)) != TR_OK)
		return st;
	st = domain_finish(d, create_locked(d, actor, &ws, err), err);
	if (st == TR_OK)
		*out = ws;
	return st;
}

enum tr_status workspaces_get(struct domain *d, const struct principal *actor, const char *name,
                              struct store_workspace *out, struct tr_error *err)
{
	enum tr_status st = policy_check_workspace(d, actor, ACT_WORKSPACE_READ, name, err);

	if (st != TR_OK)
		return st;
	st = store_workspace_get(d->store, name, out, err);
	if (st == TR_ENOTFOUND)
		return tr_error_set(err, st, "Workspace '%s' not found", name);
	return st;
}

struct member_walk {
	struct domain *d;
	store_workspace_cb cb;
	void *ctx;
	enum tr_status st;
};

/* Bindings come by workspace name; each is turned into its workspace. */
static void emit_bound_workspace(void *ctx, const struct store_member *m)
{
	struct member_walk *w = ctx;
	struct store_workspace ws;

	if (w->st == TR_OK && store_workspace_get(w->d->store, m->workspace, &ws, NULL) == TR_OK)
		w->cb(w->ctx, &ws);
}

enum tr_status workspaces_list(struct domain *d, const struct principal *actor, store_workspace_cb cb, void *ctx,
                               struct tr_error *err)
{
	struct member_walk w = {d, cb, ctx, TR_OK};

	if (actor->platform_admin)
		return store_workspace_list(d->store, cb, ctx, err);
	return store_member_list_by_principal(d->store, actor->name, emit_bound_workspace, &w, err);
}

/* Runs inside the delete transaction so no secret slips in between. */
static enum tr_status check_deletable(struct domain *d, const char *name, bool force, struct tr_error *err)
{
	int64_t count = 0;
	enum tr_status st;

	if (force)
		return TR_OK;
	if ((st = store_secret_count(d->store, name, &count, err)) != TR_OK)
		return st;
	if (count > 0)
		return tr_error_set(err, TR_ECONFLICT,
		                    "Workspace '%s' still holds %lld secret(s); delete them first or force the delete",
		                    name, (long long)count);
	return TR_OK;
}

static enum tr_status delete_locked(struct domain *d, const struct principal *actor, const char *name, bool force,
                                    struct tr_error *err)
{
	struct audit_event ev = {
		.action = "workspace.delete", .workspace = name, .outcome = AUDIT_SUCCESS, .status = 204,
	};
	enum tr_status st = check_deletable(d, name, force, err);

	if (st == TR_OK) {
		domain_auth_changed(d); /* its role bindings go with it */
		st = store_workspace_delete(d->store, name, err);
	}
	if (st == TR_ENOTFOUND)
		return tr_error_set(err, st, "Workspace '%s' not found", name);
	return st == TR_OK ? audit_append(d, actor, &ev, err) : st;
}

enum tr_status workspaces_delete(struct domain *d, const struct principal *actor, const char *name, bool force,
                                 struct tr_error *err)
{
	struct store_workspace ws;
	enum tr_status st;

	if ((st = workspaces_get(d, actor, name, &ws, err)) != TR_OK)
		return st;
	if ((st = policy_check_global(actor, ACT_WORKSPACE_DELETE, err)) != TR_OK)
		return st;
	if (strcmp(name, BOOTSTRAP_WORKSPACE) == 0)
		return tr_error_set(err, TR_ECONFLICT, "Workspace '%s' always exists and cannot be deleted", name);
	if ((st = domain_begin(d, err)) != TR_OK)
		return st;
	return domain_finish(d, delete_locked(d, actor, name, force, err), err);
}
