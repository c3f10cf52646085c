/*
 * workspaces.c - workspace rules: naming, the undeletable default, and no
 * silent loss of secrets on delete.
 */
#include "domain/workspaces.h"

#include <stdio.h>
#include <string.h>

#include "domain/auth.h"
#include "domain/names.h"
#include "domain/policy.h"

enum tr_status workspaces_create(struct domain *d, const struct principal *actor, const char *name,
                                 struct store_workspace *out, struct tr_error *err)
{
	struct store_workspace ws = {.created_at = domain_now()};
	enum tr_status st;

	if ((st = policy_check(actor, ACT_WORKSPACE_CREATE, NULL, err)) != TR_OK)
		return st;
	if (!name_label_valid(name))
		return tr_error_set(err, TR_EVALIDATION,
		                    "field 'name': workspace names are 1-63 lowercase letters, digits and '-', "
		                    "starting and ending with a letter or digit");
	snprintf(ws.name, sizeof(ws.name), "%s", name);
	snprintf(ws.created_by, sizeof(ws.created_by), "%s", actor->name);
	st = store_workspace_create(d->store, &ws, err);
	if (st == TR_ECONFLICT)
		return tr_error_set(err, st, "Workspace '%s' already exists", name);
	if (st == TR_OK)
		*out = ws;
	return st;
}

enum tr_status workspaces_get(struct domain *d, const struct principal *actor, const char *name,
                              struct store_workspace *out, struct tr_error *err)
{
	enum tr_status st = policy_check(actor, ACT_WORKSPACE_READ, name, err);

	if (st != TR_OK)
		return st;
	st = store_workspace_get(d->store, name, out, err);
	if (st == TR_ENOTFOUND)
		return tr_error_set(err, st, "Workspace '%s' not found", name);
	return st;
}

enum tr_status workspaces_list(struct domain *d, const struct principal *actor, store_workspace_cb cb, void *ctx,
                               struct tr_error *err)
{
	enum tr_status st = policy_check(actor, ACT_WORKSPACE_READ, NULL, err);

	return st != TR_OK ? st : store_workspace_list(d->store, cb, ctx, err);
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
		                    "Workspace '%s' still holds %lld secret(s); delete them first or force the delete", name,
		                    (long long)count);
	return TR_OK;
}

enum tr_status workspaces_delete(struct domain *d, const struct principal *actor, const char *name, bool force,
                                 struct tr_error *err)
{
	struct store_workspace ws;
	enum tr_status st;

	if ((st = workspaces_get(d, actor, name, &ws, err)) != TR_OK)
		return st;
	if ((st = policy_check(actor, ACT_WORKSPACE_DELETE, name, err)) != TR_OK)
		return st;
	if (strcmp(name, BOOTSTRAP_WORKSPACE) == 0)
		return tr_error_set(err, TR_ECONFLICT, "Workspace '%s' always exists and cannot be deleted", name);
	if ((st = store_begin(d->store, err)) != TR_OK)
		return st;
	st = check_deletable(d, name, force, err);
	if (st == TR_OK)
		st = store_workspace_delete(d->store, name, err);
	if (st == TR_OK)
		st = store_commit(d->store, err);
	if (st != TR_OK)
		store_rollback(d->store);
	if (st == TR_ENOTFOUND)
		return tr_error_set(err, st, "Workspace '%s' not found", name);
	return st;
}
