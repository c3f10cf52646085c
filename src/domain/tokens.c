/*
 * tokens.c - API token management: mint, list, revoke.
 */
#include "domain/tokens.h"

#include <stdio.h>
#include <string.h>

#include "domain/names.h"
#include "domain/policy.h"

#define TOKEN_EXPIRES_MAX (10LL * 365 * 24 * 3600)

static enum tr_status validate_request(const char *principal, int64_t expires_in, const char *description,
                                       struct tr_error *err)
{
	if (!name_principal_valid(principal))
		return tr_error_set(err, TR_EVALIDATION, "field 'principal': not a valid principal name");
	if (expires_in < 0 || expires_in > TOKEN_EXPIRES_MAX)
		return tr_error_set(err, TR_EVALIDATION, "field 'expires_in': must be between 1 and %lld seconds",
		                    TOKEN_EXPIRES_MAX);
	if (description && strlen(description) >= sizeof(((struct store_token *)0)->description))
		return tr_error_set(err, TR_EVALIDATION, "field 'description': longer than %zu bytes",
		                    sizeof(((struct store_token *)0)->description) - 1);
	return TR_OK;
}

enum tr_status tokens_create(struct domain *d, const struct principal *actor, const char *principal,
                             int64_t expires_in, const char *description, struct token_created *out,
                             struct tr_error *err)
{
	struct store_token *tok = &out->meta;
	enum tr_status st;

	if (!principal || !*principal)
		principal = actor->name;
	if ((st = policy_check(actor, ACT_TOKEN_MANAGE, NULL, err)) != TR_OK)
		return st;
	if ((st = validate_request(principal, expires_in, description, err)) != TR_OK)
		return st;
	memset(out, 0, sizeof(*out));
	snprintf(tok->principal, sizeof(tok->principal), "%s", principal);
	snprintf(tok->description, sizeof(tok->description), "%s", description ? description : "");
	tok->created_at = domain_now();
	tok->expires_at = expires_in > 0 ? tok->created_at + expires_in : 0;
	token_id_generate(tok->id);
	if ((st = token_generate(out->text, tok->hash)) != TR_OK)
		return tr_error_set(err, st, "cannot generate a token");
	st = store_token_insert(d->store, tok, err);
	if (st == TR_ENOTFOUND)
		return tr_error_set(err, TR_ENOTFOUND, "Principal '%s' not found", principal);
	return st;
}

enum tr_status tokens_list(struct domain *d, const struct principal *actor, store_token_cb cb, void *ctx,
                           struct tr_error *err)
{
	enum tr_status st = policy_check(actor, ACT_TOKEN_MANAGE, NULL, err);

	return st != TR_OK ? st : store_token_list(d->store, cb, ctx, err);
}

enum tr_status tokens_delete(struct domain *d, const struct principal *actor, const char *id,
                             struct tr_error *err)
{
	enum tr_status st = policy_check(actor, ACT_TOKEN_MANAGE, NULL, err);

	if (st != TR_OK)
		return st;
	st = store_token_delete(d->store, id, err);
	if (st == TR_ENOTFOUND)
		return tr_error_set(err, TR_ENOTFOUND, "Token '%s' not found", id);
	return st;
}
