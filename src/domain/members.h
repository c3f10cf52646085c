/*
 * members.h - role bindings: who holds which role in a workspace.
 */
#ifndef TRESOR_DOMAIN_MEMBERS_H
#define TRESOR_DOMAIN_MEMBERS_H

#include "common/status.h"
#include "domain/domain.h"

/* Creates or replaces the binding of principal in ws. role is admin,
 * editor, viewer or service; project/cluster (at most one) only with
 * service, and service only for service accounts (and the other roles only
 * for users). */
enum tr_status members_put(struct domain *d, const struct principal *actor, const char *ws, const char *principal,
                           const char *role, const char *project, const char *cluster, struct store_member *out,
                           struct tr_error *err);
enum tr_status members_list(struct domain *d, const struct principal *actor, const char *ws, store_member_cb cb,
                            void *ctx, struct tr_error *err);
enum tr_status members_delete(struct domain *d, const struct principal *actor, const char *ws,
                              const char *principal, struct tr_error *err);

#endif
