/*
 * principals.h - users and service accounts (platform admins manage them).
 */
#ifndef TRESOR_DOMAIN_PRINCIPALS_H
#define TRESOR_DOMAIN_PRINCIPALS_H

#include <stdbool.h>

#include "common/status.h"
#include "domain/domain.h"

/* kind is "user" or "service" (NULL: user); only users may be platform
 * admins. TR_ECONFLICT if the name exists. */
enum tr_status principals_create(struct domain *d, const struct principal *actor, const char *name,
                                 const char *kind, bool platform_admin, struct store_principal *out,
                                 struct tr_error *err);
enum tr_status principals_list(struct domain *d, const struct principal *actor, store_principal_cb cb, void *ctx,
                               struct tr_error *err);
/* Deletes a principal, its tokens and role bindings. TR_ECONFLICT when
 * actor deletes itself. */
enum tr_status principals_delete(struct domain *d, const struct principal *actor, const char *name,
                                 struct tr_error *err);

#endif
