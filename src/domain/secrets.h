/*
 * secrets.h - the secret lifecycle: create, read metadata, list, update,
 * upsert, delete and (platform admins only) reveal.
 *
 * Values arrive as a struct secdata, are validated against the type, sealed
 * by crypto/envelope and stored as ciphertext. Every write runs in one
 * store transaction: a failed call leaves the store as it was.
 */
#ifndef TRESOR_DOMAIN_SECRETS_H
#define TRESOR_DOMAIN_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/secdata.h"
#include "common/status.h"
#include "domain/domain.h"
#include "domain/warnings.h"

/* Identifies one secret: a name in a workspace and a scope. */
struct secret_ref {
	const char *workspace;
	const char *project; /* NULL or "": none */
	const char *cluster; /* NULL or "": none */
	const char *name;
};

/* What a request asks for. has_* tell which optional fields were given
 * (for PATCH, only those change). */
struct secret_presealed;

struct secret_input {
	const char *name;
	const char *project, *cluster;
	const char *type; /* any alias; NULL: opaque (create) or unchanged (update) */
	const char *description;
	const char *visibility;
	const char **tags;
	size_t tag_count;
	struct secdata data; /* owned by the caller */
	int64_t expires_in;  /* seconds, > 0 */
	bool has_data, has_description, has_visibility, has_tags, has_expires_in;
	const struct secret_presealed *presealed; /* a create's value, sealed ahead; or NULL */
};

/*
 * A create's value sealed ahead of its transaction (on a worker, before the
 * request goes to the writer), so that the writer does not seal it. Nothing
 * the store holds goes into a seal: the current key provider is fixed when
 * the server starts, and a new secret is version 1. secrets_create uses it
 * only for the same identity (workspace, scope, name, type).
 */
struct secret_presealed {
	char workspace[TR_WORKSPACE_NAME_MAX + 1];
	char project[TR_SCOPE_NAME_MAX + 1];
	char cluster[TR_SCOPE_NAME_MAX + 1];
	char name[TR_SECRET_NAME_MAX + 1];
	char type[TR_TYPE_NAME_MAX + 1];
	struct store_version version;
};

/* Seals in's value for a create by actor in workspace into *out (clear it
 * with secrets_presealed_clear). Fails as secrets_create would on the
 * policy, the value or the identity, before any seal: a caller who may not
 * create costs no key provider's work. Nothing is checked against the
 * store's secrets (secrets_create does that). */
enum tr_status secrets_preseal(struct domain *d, const struct principal *actor, const char *workspace,
                               struct secret_input *in, struct secret_presealed *out, struct tr_error *err);
void secrets_presealed_clear(struct secret_presealed *p);

/* Creates a secret at version 1. TR_ENOTFOUND (workspace), TR_ECONFLICT
 * ("Secret 'ws/name' already exists"), TR_EVALIDATION, TR_ETOOLARGE. */
enum tr_status secrets_create(struct domain *d, const struct principal *actor, const char *workspace,
                              struct secret_input *in, struct store_secret *out, struct warnings *w,
                              struct tr_error *err);
/* Metadata of one secret. */
enum tr_status secrets_get(struct domain *d, const struct principal *actor, const struct secret_ref *ref,
                           struct store_secret *out, struct tr_error *err);
/* One page of metadata; q->workspace must exist (TR_ENOTFOUND). */
enum tr_status secrets_list(struct domain *d, const struct principal *actor, const struct store_secret_query *q,
                            store_secret_cb cb, void *ctx, int64_t *total, struct tr_error *err);
/* Changes the fields in `in` (PATCH). A new value makes a new version. */
enum tr_status secrets_update(struct domain *d, const struct principal *actor, const struct secret_ref *ref,
                              struct secret_input *in, struct store_secret *out, struct warnings *w,
                              struct tr_error *err);
/* Creates or replaces (PUT). *created tells which. in->name must be ref->name. */
enum tr_status secrets_put(struct domain *d, const struct principal *actor, const struct secret_ref *ref,
                           struct secret_input *in, struct store_secret *out, bool *created,
                           struct warnings *w, struct tr_error *err);
enum tr_status secrets_delete(struct domain *d, const struct principal *actor, const struct secret_ref *ref,
                              struct tr_error *err);
/* Decrypts the current version into *out (wipe it with secdata_clear).
 * Platform admins only. */
enum tr_status secrets_reveal(struct domain *d, const struct principal *actor, const struct secret_ref *ref,
                              struct store_secret *meta, struct secdata *out, struct tr_error *err);

/* Calls cb for each kept version of the secret (metadata), newest first;
 * *current gets the secret's current version. */
enum tr_status secrets_versions(struct domain *d, const struct principal *actor, const struct secret_ref *ref,
                                store_version_cb cb, void *ctx, int64_t *current, struct tr_error *err);

/* Deletes secrets that expired more than d->purge_after seconds ago;
 * *purged gets how many. For the server's periodic sweep (no caller). */
enum tr_status secrets_purge_expired(struct domain *d, int64_t *purged, struct tr_error *err);

/* Decrypts version `version` of m into *out, with no policy check: for
 * domain operations that have made theirs (reveal, resolve). TR_ENOTFOUND
 * (no message) when that version is not kept. */
enum tr_status secrets_open_version(struct domain *d, const struct store_secret *m, int64_t version,
                                    struct secdata *out, struct tr_error *err);
/* The same, for a version v of m already read. */
enum tr_status secrets_open_sealed(struct domain *d, const struct store_secret *m, const struct store_version *v,
                                   struct secdata *out, struct tr_error *err);

#endif
