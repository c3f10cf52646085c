/*
 * policy.c - the access rules. Platform admins may do everything; other
 * principals nothing, until workspace role bindings exist.
 */
#include "domain/policy.h"

static const char *const action_names[] = {
	[ACT_WORKSPACE_CREATE] = "create workspaces",
	[ACT_WORKSPACE_READ] = "read workspaces",
	[ACT_WORKSPACE_DELETE] = "delete workspaces",
	[ACT_SECRET_CREATE] = "create secrets",
	[ACT_SECRET_READ] = "read secrets",
	[ACT_SECRET_UPDATE] = "update secrets",
	[ACT_SECRET_DELETE] = "delete secrets",
	[ACT_SECRET_ACCESS] = "read secret values",
	[ACT_TOKEN_MANAGE] = "manage tokens",
};

enum tr_status policy_check(const struct principal *actor, enum policy_action action, const char *workspace,
                            struct tr_error *err)
{
	(void)workspace;
	if (actor && actor->platform_admin)
		return TR_OK;
	return tr_error_set(err, TR_EDENIED, "principal '%s' may not %s", actor ? actor->name : "anonymous",
	                    action_names[action]);
}
