/*
 * members.c - managing role bindings (platform admins and workspace admins).
 */
#include "domain/members.h"

#include <stdio.h>
#include <string.h>

#include "domain/audit.h"
#include "domain/names.h"
#include "domain/policy.h"

static bool is_set(const char *s)
{
	return s && *s;
}

static enum tr_status validate(const char *role, const char *project, const char *cluster, struct tr_error *err)
{
	if (!policy_role_valid(role))
		return tr_error_set(err, TR_EVALIDATION, "field 'role': must be admin, editor, viewer or service");
	if ((is_set(project) || is_set(cluster)) && strcmp(role, "service") != 0)
		return tr_error_set(err, TR_EVALIDATION,
		                    "fields 'project' and 'cluster': only a service binding may be limited to one");
	if (is_set(project) && is_set(cluster))
		return tr_error_set(err, TR_EVALIDATION, "fields 'project' and 'cluster': at most one may be set");
	if ((is_set(project) && !name_label_valid(project)) || (is_set(cluster) && !name_label_valid(cluster)))
		return tr_error_set(err, TR_EVALIDATION, "fields 'project' and 'cluster': not a valid name");
	return TR_OK;
}

/* Service accounts get the service role, users the others. */
static enum tr_status check_kind(struct domain *d, const char *principal, const char *role, struct tr_error *err)
{
	struct store_principal p;
	enum tr_status st = store_principal_get(d->store, principal, &p, err);
	bool service_role = strcmp(role, "service") == 0;

	if (st == TR_ENOTFOUND)
		return tr_error_set(err, st, "Principal '%s' not found", principal);
	if (st != TR_OK)
		return st;
	if (service_role != (strcmp(p.kind, "service") == 0))
		return tr_error_set(err, TR_EVALIDATION, "field 'role': '%s' is a %s; %s", principal, p.kind,
		                    service_role ? "only service accounts take the service role"
		                                 : "service accounts take only the service role");
	return TR_OK;
}

static enum tr_status put_locked(struct domain *d, const struct principal *actor, const struct store_member *m,
                                 struct tr_error *err)
{
	struct audit_event ev = {
		.action = "member.put", .workspace = m->workspace, .target = m->principal,
		.outcome = AUDIT_SUCCESS, .status = 200,
	};
	enum tr_status st;

	domain_auth_changed(d); /* what the principal may do changes */
	st = store_member_put(d->store, m, err);
	return st == TR_OK ? audit_append(d, actor, &ev, err) : st;
}

enum tr_status members_put(struct domain *d, const struct principal *actor, const char *ws, const char *principal,
                           const char *role, const char *project, const char *cluster, struct store_member *out,
                           struct tr_error *err)
{
	struct store_member m = {.created_at = domain_now()};
	enum tr_status st;

	if ((st = policy_check_workspace(d, actor, ACT_MEMBER_MANAGE, ws, err)) != TR_OK)
		return st;
	if ((st = validate(role, project, cluster, err)) != TR_OK || (st = check_kind(d, principal, role, err)) != TR_OK)
		return st;
	snprintf(m.workspace, sizeof(m.workspace), "%s", ws);
	snprintf(m.principal, sizeof(m.principal), "%s", principal);
	snprintf(m.role, sizeof(m.role), "%s", role);
	snprintf(m.project, sizeof(m.project), "%s", is_set(project) ? project : "");
	snprintf(m.cluster, sizeof(m.cluster), "%s", is_set(cluster) ? cluster : "");
	snprintf(m.created_by, sizeof(m.created_by), "%s", actor->name);
	if ((st = domain_begin(d, err)) != TR_OK)
		return st;
	st = domain_finish(d, put_locked(d, actor, &m, err), err);
	if (st == TR_OK)
		*out = m;
	return st;
}

enum tr_status members_list(struct domain *d, const struct principal *actor, const char *ws, store_member_cb cb,
                            void *ctx, struct tr_error *err)
{
	enum tr_status st = policy_check_workspace(d, actor, ACT_MEMBER_MANAGE, ws, err);

	return st != TR_OK ? st : store_member_list(d->store, ws, cb, ctx, err);
}

static enum tr_status delete_locked(struct domain *d, const struct principal *actor, const char *ws,
                                    const char *principal, struct tr_error *err)
{
	struct audit_event ev = {
		.action = "member.delete", .workspace = ws, .target = principal,
		.outcome = AUDIT_SUCCESS, .status = 204,
	};
	enum tr_status st;

	domain_auth_changed(d);
	st = store_member_delete(d->store, ws, principal, err);
	if (st == TR_ENOTFOUND)
		return tr_error_set(err, st, "Principal '%s' has no role in workspace '%s'", principal, ws);
	return st == TR_OK ? audit_append(d, actor, &ev, err) : st;
}

enum tr_status members_delete(struct domain *d, const struct principal *actor, const char *ws,
                              const char *principal, struct tr_error *err)
{
	enum tr_status st = policy_check_workspace(d, actor, ACT_MEMBER_MANAGE, ws, err);

	if (st != TR_OK)
		return st;
	if ((st = domain_begin(d, err)) != TR_OK)
		return st;
	return domain_finish(d, delete_locked(d, actor, ws, principal, err), err);
}
