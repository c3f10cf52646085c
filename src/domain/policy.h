/*
 * policy.h - who may do what (SPEC §4), decided in this one place.
 *
 * Handlers ask policy_check before acting; nothing else makes access
 * decisions. Today only platform admins exist; workspace roles arrive with
 * the access-control issue and extend this table, not the handlers.
 */
#ifndef TRESOR_DOMAIN_POLICY_H
#define TRESOR_DOMAIN_POLICY_H

#include "common/status.h"
#include "domain/domain.h"

enum policy_action {
	ACT_WORKSPACE_CREATE,
	ACT_WORKSPACE_READ,
	ACT_WORKSPACE_DELETE,
	ACT_SECRET_CREATE,
	ACT_SECRET_READ,   /* metadata */
	ACT_SECRET_UPDATE,
	ACT_SECRET_DELETE,
	ACT_SECRET_ACCESS, /* read the value: platform admins only, ever */
	ACT_TOKEN_MANAGE,
};

/* TR_OK when actor may perform action in workspace (NULL: global), else
 * TR_EDENIED with a message naming the action. */
enum tr_status policy_check(const struct principal *actor, enum policy_action action, const char *workspace,
                            struct tr_error *err);

#endif
