/*
 * auth.h - turning a bearer token into a principal, and the first-start
 * bootstrap that creates the platform admin.
 */
#ifndef TRESOR_DOMAIN_AUTH_H
#define TRESOR_DOMAIN_AUTH_H

#include "common/status.h"
#include "crypto/token.h"
#include "domain/domain.h"

#define BOOTSTRAP_ADMIN "admin"
#define BOOTSTRAP_WORKSPACE "default"

/* Resolves token text to its principal, filling the identity fields of
 * *out (name, kind, platform_admin, token_id, token_minter) and leaving
 * client and request_id as they are. Any failure (malformed, unknown,
 * expired, principal gone) is TR_EUNAUTH with the same message, so a caller
 * learns nothing about which check failed. The hash lookup and the final
 * comparison are constant-time in the token's content. */
enum tr_status auth_authenticate(struct domain *d, const char *token_text, struct principal *out,
                                 struct tr_error *err);
/* Whether caller's token still stands for it: for work that commits
 * later than the authentication (a /resolve's records, on the writer).
 * Reads the store only when a token or principal was deleted meanwhile.
 * TR_EUNAUTH when the token (or its principal) is gone. */
enum tr_status auth_still_valid(struct domain *d, const struct principal *caller, struct tr_error *err);

/* Persists a freshly minted admin token before it is committed; returns
 * TR_OK or an error that aborts the bootstrap. */
typedef enum tr_status (*bootstrap_token_sink)(void *ctx, const char *token_text, struct tr_error *err);

/*
 * Makes sure the workspace "default" and the platform-admin principal
 * "admin" exist. When it creates the admin it mints a token for it and
 * hands the text to sink before committing, so the token is never lost to
 * a crash. *created_admin tells whether that happened. Idempotent.
 */
enum tr_status auth_bootstrap(struct domain *d, bootstrap_token_sink sink, void *sink_ctx, bool *created_admin,
                              struct tr_error *err);

#endif
