/*
 * workspaces.h - creating, reading and deleting workspaces.
 */
#ifndef TRESOR_DOMAIN_WORKSPACES_H
#define TRESOR_DOMAIN_WORKSPACES_H

#include <stdbool.h>

#include "common/status.h"
#include "domain/domain.h"

/* TR_EVALIDATION for a bad name, TR_ECONFLICT if it exists. */
enum tr_status workspaces_create(struct domain *d, const struct principal *actor, const char *name,
                                 struct store_workspace *out, struct tr_error *err);
/* TR_ENOTFOUND if missing. */
enum tr_status workspaces_get(struct domain *d, const struct principal *actor, const char *name,
                              struct store_workspace *out, struct tr_error *err);
enum tr_status workspaces_list(struct domain *d, const struct principal *actor, store_workspace_cb cb, void *ctx,
                               struct tr_error *err);
/* Deletes a workspace. TR_ECONFLICT for "default", or while it holds
 * secrets unless force is set (then they go with it). */
enum tr_status workspaces_delete(struct domain *d, const struct principal *actor, const char *name, bool force,
                                 struct tr_error *err);

#endif
