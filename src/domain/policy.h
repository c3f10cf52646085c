/*
 * policy.h - who may do what (SPEC §4), decided in this one place.
 *
 * Handlers and domain operations ask here before acting; nothing else makes
 * access decisions. The rules are one table: for each action, the roles that
 * may perform it. Platform admins may do everything except resolve (a
 * service's job). Outside a workspace the caller is a member of, the
 * workspace does not exist for it (TR_ENOTFOUND, never TR_EDENIED).
 */
#ifndef TRESOR_DOMAIN_POLICY_H
#define TRESOR_DOMAIN_POLICY_H

#include <stdbool.h>

#include "common/status.h"
#include "domain/domain.h"

enum policy_action {
	ACT_WORKSPACE_CREATE,
	ACT_WORKSPACE_READ,
	ACT_WORKSPACE_DELETE,
	ACT_MEMBER_MANAGE,
	ACT_PRINCIPAL_MANAGE,
	ACT_SECRET_CREATE,
	ACT_SECRET_READ,   /* metadata */
	ACT_SECRET_UPDATE,
	ACT_SECRET_DELETE,
	ACT_SECRET_ACCESS, /* read the value: platform admins only, ever */
	ACT_SECRET_RESOLVE,
	ACT_AUDIT_READ,
	ACT_AUDIT_VERIFY,
	ACT_TOKEN_MANAGE_ANY, /* mint or revoke tokens of anyone */
	ACT_KEYS_ROTATE,      /* rotate the key-encryption keys, read rotation progress */
	ACT_COUNT_
};

/* An action that concerns no workspace (principals, workspace creation,
 * audit verification): platform admins only. TR_EDENIED otherwise. */
enum tr_status policy_check_global(const struct principal *caller, enum policy_action action, struct tr_error *err);

/*
 * An action inside workspace ws. Platform admins pass (except for resolve);
 * members pass when their role allows the action. A caller with no role in
 * ws gets TR_ENOTFOUND ("Workspace 'ws' not found"), one whose role does
 * not allow it TR_EDENIED. When binding is not NULL it receives the
 * caller's role binding (zeroed for platform admins without one).
 */
enum tr_status policy_check_workspace(struct domain *d, const struct principal *caller, enum policy_action action,
                                      const char *ws, struct tr_error *err);
enum tr_status policy_check_workspace_binding(struct domain *d, const struct principal *caller,
                                              enum policy_action action, const char *ws,
                                              struct store_member *binding, struct tr_error *err);

/* Whether a secret with that visibility and creator exists for the caller:
 * public ones for everyone allowed in, private ones only for their creator
 * (or the user who minted the caller's service token) and platform admins. */
bool policy_secret_visible(const struct principal *caller, const char *visibility, const char *created_by);

/* The role names, for validation: true for admin, editor, viewer, service. */
bool policy_role_valid(const char *role);

#endif
