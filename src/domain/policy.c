/*
 * policy.c - the access table of SPEC §4 and the visibility rule.
 */
#include "domain/policy.h"

#include <stdio.h>
#include <string.h>

enum role_bit {
	R_ADMIN = 1 << 0,
	R_EDITOR = 1 << 1,
	R_VIEWER = 1 << 2,
	R_SERVICE = 1 << 3,
	R_PLATFORM = 1 << 4, /* platform admins */
};

struct rule {
	const char *what; /* for messages: "may not <what>" */
	unsigned roles;
};

/* THE table: which roles may perform each action. */
static const struct rule rules[ACT_COUNT_] = {
	[ACT_WORKSPACE_CREATE] = {"create workspaces", R_PLATFORM},
	[ACT_WORKSPACE_READ] = {"read this workspace", R_PLATFORM | R_ADMIN | R_EDITOR | R_VIEWER | R_SERVICE},
	[ACT_WORKSPACE_DELETE] = {"delete workspaces", R_PLATFORM},
	[ACT_MEMBER_MANAGE] = {"manage members", R_PLATFORM | R_ADMIN},
	[ACT_PRINCIPAL_MANAGE] = {"manage principals", R_PLATFORM},
	[ACT_SECRET_CREATE] = {"create secrets", R_PLATFORM | R_ADMIN | R_EDITOR},
	[ACT_SECRET_READ] = {"read secrets", R_PLATFORM | R_ADMIN | R_EDITOR | R_VIEWER},
	[ACT_SECRET_UPDATE] = {"update secrets", R_PLATFORM | R_ADMIN | R_EDITOR},
	[ACT_SECRET_DELETE] = {"delete secrets", R_PLATFORM | R_ADMIN | R_EDITOR},
	[ACT_SECRET_ACCESS] = {"read secret values", R_PLATFORM},
	[ACT_SECRET_RESOLVE] = {"resolve secrets (service role only)", R_SERVICE},
	[ACT_AUDIT_READ] = {"read the audit log", R_PLATFORM | R_ADMIN},
	[ACT_AUDIT_VERIFY] = {"verify the audit log", R_PLATFORM},
	[ACT_TOKEN_MANAGE_ANY] = {"manage other principals' tokens", R_PLATFORM},
	[ACT_KEYS_ROTATE] = {"rotate encryption keys", R_PLATFORM},
};

static const struct {
	const char *name;
	unsigned bit;
} roles[] = {
	{"admin", R_ADMIN},
	{"editor", R_EDITOR},
	{"viewer", R_VIEWER},
	{"service", R_SERVICE},
};

static unsigned role_bit_of(const char *role)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(role, roles[i].name) == 0)
			return roles[i].bit;
	return 0;
}

bool policy_role_valid(const char *role)
{
	return role && role_bit_of(role) != 0;
}

static enum tr_status denied(const struct principal *caller, enum policy_action action, struct tr_error *err)
{
	return tr_error_set(err, TR_EDENIED, "principal '%s' may not %s", caller->name, rules[action].what);
}

enum tr_status policy_check_global(const struct principal *caller, enum policy_action action, struct tr_error *err)
{
	if (caller->platform_admin && (rules[action].roles & R_PLATFORM))
		return TR_OK;
	return denied(caller, action, err);
}

/* --- role bindings, cached per thread ---------------------------------------- */

static struct binding_cache_entry *binding_slot(struct domain *d, const char *ws, const char *who)
{
	uint32_t h = 2166136261u; /* FNV-1a over "ws/who" */

	for (const char *p = ws; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (const char *p = who; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &d->binding_cache[h % DOMAIN_BINDING_CACHE_SLOTS];
}

/* Nothing cached is trusted while d's own transaction changes bindings
 * (an earlier request of a group commit): that change may still roll back. */
static bool binding_cached(struct domain *d, const char *ws, const char *who, struct store_member *out)
{
	const struct binding_cache_entry *e = binding_slot(d, ws, who);

	if (d->auth_changed || e->generation != domain_auth_generation() || strcmp(e->member.workspace, ws) != 0 ||
	    strcmp(e->member.principal, who) != 0)
		return false;
	*out = e->member;
	return true;
}

/* generation: one the store's view is at least as new as, taken before
 * the read (domain_read_generation), so that a change committed in between
 * leaves the entry stale rather than wrong. */
static void binding_keep(struct domain *d, const struct store_member *m, uint64_t generation)
{
	struct binding_cache_entry *e;

	if (d->auth_changed || !m->role[0])
		return;
	e = binding_slot(d, m->workspace, m->principal);
	e->member = *m;
	e->generation = generation;
}

/* The caller's binding in ws; an empty role if it has none. */
static enum tr_status binding_of(struct domain *d, const char *ws, const char *who, struct store_member *m)
{
	uint64_t generation = domain_read_generation(d);
	enum tr_status st;

	if (binding_cached(d, ws, who, m))
		return TR_OK;
	memset(m, 0, sizeof(*m));
	st = store_member_get(d->store, ws, who, m, NULL);
	if (st == TR_OK)
		binding_keep(d, m, generation);
	return st == TR_ENOTFOUND ? TR_OK : st;
}

enum tr_status policy_check_workspace_binding(struct domain *d, const struct principal *caller,
                                              enum policy_action action, const char *ws,
                                              struct store_member *binding, struct tr_error *err)
{
	struct store_member m;
	enum tr_status st;

	if ((st = binding_of(d, ws, caller->name, &m)) != TR_OK)
		return tr_error_set(err, st, "cannot read role bindings");
	if (binding)
		*binding = m;
	if (caller->platform_admin) {
		struct store_workspace w;

		st = store_workspace_get(d->store, ws, &w, err);
		if (st == TR_ENOTFOUND)
			return tr_error_set(err, st, "Workspace '%s' not found", ws);
		if (st != TR_OK)
			return st;
		if (rules[action].roles & R_PLATFORM)
			return TR_OK;
	}
	if (!m.role[0] && !caller->platform_admin)
		return tr_error_set(err, TR_ENOTFOUND, "Workspace '%s' not found", ws);
	if (rules[action].roles & role_bit_of(m.role))
		return TR_OK;
	return denied(caller, action, err);
}

enum tr_status policy_check_workspace(struct domain *d, const struct principal *caller, enum policy_action action,
                                      const char *ws, struct tr_error *err)
{
	return policy_check_workspace_binding(d, caller, action, ws, NULL, err);
}

bool policy_secret_visible(const struct principal *caller, const char *visibility, const char *created_by)
{
	if (caller->platform_admin || strcmp(visibility, "public") == 0)
		return true;
	if (strcmp(created_by, caller->name) == 0)
		return true;
	return strcmp(caller->kind, "service") == 0 && caller->token_minter[0] &&
	       strcmp(created_by, caller->token_minter) == 0;
}
