/*
 * auth.c - bearer-token authentication and the first-start bootstrap.
 *
 * A verified token is cached in the thread's struct domain, keyed by the
 * token's hash (never the token), with the token's expiry and the auth
 * generation it was read under. Deleting a token or a principal moves the
 * generation on when it commits (domain_auth_changed), which empties every
 * thread's cache at once: revocation takes effect immediately.
 */
#include "domain/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "common/strcopy.h"

#define AUTH_FAILED "missing, invalid or expired token"

/* --- verified tokens, cached per thread ------------------------------------ */

static struct auth_cache_entry *cache_slot(struct domain *d, const unsigned char hash[TOKEN_HASH_BYTES])
{
	/* The hash is uniform: its first bytes pick the slot. */
	return &d->auth_cache[(hash[0] | (unsigned)hash[1] << 8) % DOMAIN_AUTH_CACHE_SLOTS];
}

static bool cache_lookup(struct domain *d, const unsigned char hash[TOKEN_HASH_BYTES], struct principal *out)
{
	const struct auth_cache_entry *e = cache_slot(d, hash);

	if (e->generation != domain_auth_generation() || !token_hash_equal(hash, e->token_hash))
		return false;
	if (e->expires_at != 0 && e->expires_at <= domain_now())
		return false;
	str_copy(out->name, sizeof(out->name), e->who.name);
	str_copy(out->kind, sizeof(out->kind), e->who.kind);
	str_copy(out->token_id, sizeof(out->token_id), e->who.token_id);
	str_copy(out->token_minter, sizeof(out->token_minter), e->who.token_minter);
	out->platform_admin = e->who.platform_admin;
	return true;
}

/* generation: one the store's view is at least as new as (read before the
 * store was, or when the open read transaction began), so that a change
 * committed in between leaves the entry stale rather than wrong. */
static void cache_fill(struct domain *d, const unsigned char hash[TOKEN_HASH_BYTES], uint64_t generation,
                       int64_t expires_at, const struct principal *who)
{
	struct auth_cache_entry *e = cache_slot(d, hash);

	memset(e, 0, sizeof(*e));
	memcpy(e->token_hash, hash, TOKEN_HASH_BYTES);
	e->expires_at = expires_at;
	str_copy(e->who.name, sizeof(e->who.name), who->name);
	str_copy(e->who.kind, sizeof(e->who.kind), who->kind);
	str_copy(e->who.token_id, sizeof(e->who.token_id), who->token_id);
	str_copy(e->who.token_minter, sizeof(e->who.token_minter), who->token_minter);
	e->who.platform_admin = who->platform_admin;
	e->generation = generation;
}

/* --- authentication ---------------------------------------------------------- */

/* Who the token with this hash stands for, read from the store. */
static enum tr_status lookup_token(struct domain *d, const unsigned char hash[TOKEN_HASH_BYTES], struct principal *out,
                                   int64_t *expires_at, struct tr_error *err)
{
	struct store_token tok;
	struct store_principal p;
	enum tr_status st = store_token_get_by_hash(d->store, hash, &tok, err);

	if (st == TR_ENOTFOUND)
		return tr_error_set(err, TR_EUNAUTH, AUTH_FAILED);
	if (st != TR_OK)
		return st;
	if (!token_hash_equal(hash, tok.hash))
		return tr_error_set(err, TR_EUNAUTH, AUTH_FAILED);
	if (tok.expires_at != 0 && tok.expires_at <= domain_now())
		return tr_error_set(err, TR_EUNAUTH, AUTH_FAILED);
	st = store_principal_get(d->store, tok.principal, &p, err);
	if (st == TR_ENOTFOUND)
		return tr_error_set(err, TR_EUNAUTH, AUTH_FAILED);
	if (st != TR_OK)
		return st;
	str_copy(out->name, sizeof(out->name), p.name);
	str_copy(out->kind, sizeof(out->kind), p.kind);
	str_copy(out->token_id, sizeof(out->token_id), tok.id);
	/* A service token minted by a user acts for that user's private
	 * secrets (SPEC §4); no other token acts for its minter. */
	out->token_minter[0] = '\0';
	if (strcmp(p.kind, "service") == 0 && tok.created_by[0] && strcmp(tok.created_by, p.name) != 0)
		str_copy(out->token_minter, sizeof(out->token_minter), tok.created_by);
	out->platform_admin = p.platform_admin;
	*expires_at = tok.expires_at;
	return TR_OK;
}

enum tr_status auth_authenticate(struct domain *d, const char *token_text, struct principal *out,
                                 struct tr_error *err)
{
	unsigned char hash[TOKEN_HASH_BYTES];
	uint64_t generation;
	int64_t expires_at = 0;
	enum tr_status st;

	if (!token_text || !token_well_formed(token_text))
		return tr_error_set(err, TR_EUNAUTH, AUTH_FAILED);
	token_hash(token_text, hash);
	/* What the store says, here and in the rest of the request, may
	 * predate the current generation (a worker's read transaction lasts a
	 * loop iteration): it is only as good as its snapshot. */
	generation = domain_read_generation(d);
	if (!cache_lookup(d, hash, out)) {
		if ((st = lookup_token(d, hash, out, &expires_at, err)) != TR_OK)
			return st;
		cache_fill(d, hash, generation, expires_at, out);
	}
	memcpy(out->token_hash, hash, TOKEN_HASH_BYTES);
	out->auth_generation = generation;
	return TR_OK;
}

enum tr_status auth_still_valid(struct domain *d, const struct principal *caller, struct tr_error *err)
{
	struct principal again = {0};
	int64_t expires_at = 0;
	enum tr_status st;

	if (domain_auth_unchanged_since(d, caller->auth_generation))
		return TR_OK; /* no token or principal has been deleted since */
	st = lookup_token(d, caller->token_hash, &again, &expires_at, err);
	if (st == TR_OK && strcmp(again.name, caller->name) != 0)
		st = tr_error_set(err, TR_EUNAUTH, AUTH_FAILED);
	return st;
}

static enum tr_status ensure_default_workspace(struct domain *d, struct tr_error *err)
{
	struct store_workspace ws;
	enum tr_status st = store_workspace_get(d->store, BOOTSTRAP_WORKSPACE, &ws, err);

	if (st != TR_ENOTFOUND)
		return st;
	memset(&ws, 0, sizeof(ws));
	str_copy(ws.name, sizeof(ws.name), BOOTSTRAP_WORKSPACE);
	str_copy(ws.created_by, sizeof(ws.created_by), BOOTSTRAP_ADMIN);
	ws.created_at = domain_now();
	return store_workspace_create(d->store, &ws, err);
}

static enum tr_status create_admin(struct domain *d, bootstrap_token_sink sink, void *sink_ctx,
                                   struct tr_error *err)
{
	struct store_principal p = {.platform_admin = true, .created_at = domain_now()};
	struct store_token tok = {.created_at = p.created_at};
	char text[TOKEN_TEXT_LEN + 1];
	enum tr_status st;

	str_copy(p.name, sizeof(p.name), BOOTSTRAP_ADMIN);
	snprintf(p.kind, sizeof(p.kind), "user");
	if ((st = store_principal_create(d->store, &p, err)) != TR_OK)
		return st;
	str_copy(tok.principal, sizeof(tok.principal), BOOTSTRAP_ADMIN);
	str_copy(tok.created_by, sizeof(tok.created_by), BOOTSTRAP_ADMIN);
	snprintf(tok.description, sizeof(tok.description), "bootstrap token of the platform admin");
	token_id_generate(tok.id);
	if ((st = token_generate(text, tok.hash)) != TR_OK)
		return tr_error_set(err, st, "cannot generate a token");
	st = store_token_insert(d->store, &tok, err);
	if (st == TR_OK)
		st = sink(sink_ctx, text, err);
	sodium_memzero(text, sizeof(text));
	return st;
}

enum tr_status auth_bootstrap(struct domain *d, bootstrap_token_sink sink, void *sink_ctx, bool *created_admin,
                              struct tr_error *err)
{
	struct store_principal p;
	enum tr_status st;
	bool created = false;

	if ((st = store_begin(d->store, err)) != TR_OK)
		return st;
	st = ensure_default_workspace(d, err);
	if (st == TR_OK) {
		st = store_principal_get(d->store, BOOTSTRAP_ADMIN, &p, err);
		if (st == TR_ENOTFOUND) {
			st = create_admin(d, sink, sink_ctx, err);
			created = (st == TR_OK);
		}
	}
	if (st == TR_OK)
		st = store_commit(d->store, err);
	if (st != TR_OK) {
		store_rollback(d->store);
		return st;
	}
	*created_admin = created;
	return TR_OK;
}
