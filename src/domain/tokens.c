/*
 * tokens.c - API token management: mint, list, revoke.
 *
 * Platform admins manage every token. A user mints tokens for themself, and
 * for a service account bound ("service") in a workspace where the user is
 * admin; such a token remembers the user (created_by) and also resolves
 * that user's private secrets. Everyone else sees and revokes only the
 * tokens they hold or minted.
 */
#include "domain/tokens.h"

#include <stdio.h>
#include <string.h>

#include "domain/audit.h"
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

struct admin_search {
	struct domain *d;
	const char *user;
	bool found;
};

/* Is the user an admin of the workspace of this service binding? */
static void check_binding(void *ctx, const struct store_member *m)
{
	struct admin_search *s = ctx;
	struct store_member mine;

	if (s->found || strcmp(m->role, "service") != 0)
		return;
	if (store_member_get(s->d->store, m->workspace, s->user, &mine, NULL) == TR_OK &&
	    strcmp(mine.role, "admin") == 0)
		s->found = true;
}

/* May actor mint a token for principal? */
static enum tr_status may_mint(struct domain *d, const struct principal *actor, const char *principal,
                               struct tr_error *err)
{
	struct admin_search s = {d, actor->name, false};
	struct store_principal p;
	enum tr_status st;

	if (actor->platform_admin)
		return TR_OK;
	if (strcmp(actor->kind, "user") == 0 && strcmp(principal, actor->name) == 0)
		return TR_OK;
	if (strcmp(actor->kind, "user") == 0 && store_principal_get(d->store, principal, &p, NULL) == TR_OK &&
	    strcmp(p.kind, "service") == 0) {
		if ((st = store_member_list_by_principal(d->store, principal, check_binding, &s, err)) != TR_OK)
			return st;
		if (s.found)
			return TR_OK;
	}
	return tr_error_set(err, TR_EDENIED, "principal '%s' may not mint tokens for '%s'", actor->name, principal);
}

static enum tr_status insert_locked(struct domain *d, const struct principal *actor, const struct store_token *tok,
                                    struct tr_error *err)
{
	struct audit_event ev = {
		.action = "token.create", .target = tok->principal, .outcome = AUDIT_SUCCESS, .status = 201,
	};
	enum tr_status st = store_token_insert(d->store, tok, err);

	if (st == TR_ENOTFOUND)
		return tr_error_set(err, TR_ENOTFOUND, "Principal '%s' not found", tok->principal);
	return st == TR_OK ? audit_append(d, actor, &ev, err) : st;
}

enum tr_status tokens_create(struct domain *d, const struct principal *actor, const char *principal,
                             int64_t expires_in, const char *description, struct token_created *out,
                             struct tr_error *err)
{
	struct store_token *tok = &out->meta;
	enum tr_status st;

	if (!principal || !*principal)
		principal = actor->name;
	if ((st = validate_request(principal, expires_in, description, err)) != TR_OK)
		return st;
	if ((st = may_mint(d, actor, principal, err)) != TR_OK)
		return st;
	memset(out, 0, sizeof(*out));
	snprintf(tok->principal, sizeof(tok->principal), "%s", principal);
	snprintf(tok->description, sizeof(tok->description), "%s", description ? description : "");
	snprintf(tok->created_by, sizeof(tok->created_by), "%s", actor->name);
	tok->created_at = domain_now();
	tok->expires_at = expires_in > 0 ? tok->created_at + expires_in : 0;
	token_id_generate(tok->id);
	if ((st = token_generate(out->text, tok->hash)) != TR_OK)
		return tr_error_set(err, st, "cannot generate a token");
	if ((st = domain_begin(d, err)) != TR_OK)
		return st;
	return domain_finish(d, insert_locked(d, actor, tok, err), err);
}

/* Tokens a non-admin may see and revoke: those it holds or minted. */
static bool owns_token(const struct principal *actor, const struct store_token *t)
{
	return actor->platform_admin || strcmp(t->principal, actor->name) == 0 ||
	       strcmp(t->created_by, actor->name) == 0;
}

struct token_filter {
	const struct principal *actor;
	store_token_cb cb;
	void *ctx;
};

static void emit_owned(void *ctx, const struct store_token *t)
{
	struct token_filter *f = ctx;

	if (owns_token(f->actor, t))
		f->cb(f->ctx, t);
}

enum tr_status tokens_list(struct domain *d, const struct principal *actor, store_token_cb cb, void *ctx,
                           struct tr_error *err)
{
	struct token_filter f = {actor, cb, ctx};

	return store_token_list(d->store, emit_owned, &f, err);
}

struct token_find {
	const char *id;
	struct store_token found;
	bool ok;
};

static void find_token(void *ctx, const struct store_token *t)
{
	struct token_find *f = ctx;

	if (!f->ok && strcmp(t->id, f->id) == 0) {
		f->found = *t;
		f->ok = true;
	}
}

static enum tr_status delete_locked(struct domain *d, const struct principal *actor, const char *id,
                                    struct tr_error *err)
{
	struct audit_event ev = {.action = "token.delete", .target = id, .outcome = AUDIT_SUCCESS, .status = 204};
	struct token_find f = {.id = id};
	enum tr_status st = store_token_list(d->store, find_token, &f, err);

	if (st != TR_OK)
		return st;
	if (!f.ok || !owns_token(actor, &f.found))
		return tr_error_set(err, TR_ENOTFOUND, "Token '%s' not found", id);
	domain_auth_changed(d);
	if ((st = store_token_delete(d->store, id, err)) != TR_OK)
		return st;
	return audit_append(d, actor, &ev, err);
}

enum tr_status tokens_delete(struct domain *d, const struct principal *actor, const char *id,
                             struct tr_error *err)
{
	enum tr_status st = domain_begin(d, err);

	if (st != TR_OK)
		return st;
	return domain_finish(d, delete_locked(d, actor, id, err), err);
}
