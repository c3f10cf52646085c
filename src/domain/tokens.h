/*
 * tokens.h - minting, listing and revoking API tokens.
 */
#ifndef TRESOR_DOMAIN_TOKENS_H
#define TRESOR_DOMAIN_TOKENS_H

#include "common/status.h"
#include "crypto/token.h"
#include "domain/domain.h"

struct token_created {
	struct store_token meta;
	char text[TOKEN_TEXT_LEN + 1]; /* shown once, then wiped by the caller */
};

/* Mints a token for principal (NULL or "": the actor) that expires after
 * expires_in seconds (0: never). TR_ENOTFOUND if the principal is unknown. */
enum tr_status tokens_create(struct domain *d, const struct principal *actor, const char *principal,
                             int64_t expires_in, const char *description, struct token_created *out,
                             struct tr_error *err);
enum tr_status tokens_list(struct domain *d, const struct principal *actor, store_token_cb cb, void *ctx,
                           struct tr_error *err);
/* TR_ENOTFOUND if no token has that id. The token is refused at once. */
enum tr_status tokens_delete(struct domain *d, const struct principal *actor, const char *id,
                             struct tr_error *err);

#endif
