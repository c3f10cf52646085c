/*
 * audit.c - appending to, listing and verifying the hash-chained audit log.
 *
 * hash(n) = BLAKE2b-256("tresor-audit-v1" || prev_hash || seq || time ||
 *           status || each text field as u32 length + bytes), so every
 * field and the position in the chain are covered.
 */
#include "domain/audit.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/strcopy.h"
#include "domain/policy.h"

#define AUDIT_UNAVAILABLE "audit log unavailable; nothing was changed"

static void hash_u64(crypto_generichash_state *st, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	crypto_generichash_update(st, b, sizeof(b));
}

static void hash_text(crypto_generichash_state *st, const char *s)
{
	size_t n = strlen(s);
	unsigned char len[4] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
	                        (unsigned char)(n >> 24)};

	crypto_generichash_update(st, len, sizeof(len));
	crypto_generichash_update(st, (const unsigned char *)s, n);
}

void audit_hash(const struct store_audit *rec, unsigned char out[STORE_AUDIT_HASH_BYTES])
{
	static const char domain_tag[] = "tresor-audit-v1";
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, STORE_AUDIT_HASH_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)domain_tag, sizeof(domain_tag) - 1);
	crypto_generichash_update(&st, rec->prev_hash, STORE_AUDIT_HASH_BYTES);
	hash_u64(&st, (uint64_t)rec->seq);
	hash_u64(&st, (uint64_t)rec->time);
	hash_u64(&st, (uint64_t)rec->status);
	hash_text(&st, rec->actor);
	hash_text(&st, rec->action);
	hash_text(&st, rec->workspace);
	hash_text(&st, rec->secret);
	hash_text(&st, rec->scope);
	hash_text(&st, rec->outcome);
	hash_text(&st, rec->client);
	hash_text(&st, rec->request_id);
	hash_text(&st, rec->target);
	crypto_generichash_final(&st, out, STORE_AUDIT_HASH_BYTES);
}

const char *audit_outcome_of(enum tr_status status)
{
	return status == TR_EDENIED ? AUDIT_DENIED : AUDIT_FAILURE;
}

void audit_fill(struct store_audit *rec, const struct principal *caller, const struct audit_event *ev)
{
	memset(rec, 0, sizeof(*rec));
	rec->time = domain_now();
	rec->status = ev->status;
	str_copy(rec->actor, sizeof(rec->actor), caller->name);
	str_copy(rec->action, sizeof(rec->action), ev->action);
	str_copy(rec->workspace, sizeof(rec->workspace), ev->workspace ? ev->workspace : "");
	str_copy(rec->secret, sizeof(rec->secret), ev->secret ? ev->secret : "");
	str_copy(rec->target, sizeof(rec->target), ev->target ? ev->target : "");
	if (ev->project && *ev->project)
		snprintf(rec->scope, sizeof(rec->scope), "project:%s", ev->project);
	else if (ev->cluster && *ev->cluster)
		snprintf(rec->scope, sizeof(rec->scope), "cluster:%s", ev->cluster);
	str_copy(rec->outcome, sizeof(rec->outcome), ev->outcome);
	str_copy(rec->client, sizeof(rec->client), caller->client);
	str_copy(rec->request_id, sizeof(rec->request_id), caller->request_id);
}

/* Logs why the log could not be written (storage messages hold no values)
 * and answers with the one message callers show. */
static enum tr_status audit_unavailable(const struct tr_error *why, struct tr_error *err)
{
	log_error("audit log write failed: %s", why->message);
	return tr_error_set(err, TR_EUNAVAIL, AUDIT_UNAVAILABLE);
}

enum tr_status audit_append_filled(struct domain *d, struct store_audit *rec, struct tr_error *err)
{
	struct store_audit last;
	struct tr_error store_err = {0};
	enum tr_status st = store_audit_last(d->store, &last, &store_err);

	memset(rec->prev_hash, 0, sizeof(rec->prev_hash));
	if (st == TR_OK) {
		rec->seq = last.seq + 1;
		memcpy(rec->prev_hash, last.hash, STORE_AUDIT_HASH_BYTES);
	} else if (st == TR_ENOTFOUND) {
		rec->seq = 1;
	} else {
		return audit_unavailable(&store_err, err);
	}
	audit_hash(rec, rec->hash);
	if (store_audit_append(d->store, rec, &store_err) != TR_OK)
		return audit_unavailable(&store_err, err);
	return TR_OK;
}

enum tr_status audit_append(struct domain *d, const struct principal *caller, const struct audit_event *ev,
                            struct tr_error *err)
{
	struct store_audit rec;

	audit_fill(&rec, caller, ev);
	return audit_append_filled(d, &rec, err);
}

enum tr_status audit_record(struct domain *d, const struct principal *caller, const struct audit_event *ev,
                            struct tr_error *err)
{
	enum tr_status st = domain_begin(d, NULL);

	if (st != TR_OK)
		return tr_error_set(err, TR_EUNAVAIL, AUDIT_UNAVAILABLE);
	st = audit_append(d, caller, ev, err);
	if (domain_finish(d, st, NULL) != TR_OK && st == TR_OK)
		st = tr_error_set(err, TR_EUNAVAIL, AUDIT_UNAVAILABLE);
	return st;
}

/* --- verification -------------------------------------------------------- */

#define VERIFY_PAGE 1000

static atomic_bool verify_stop_requested;

void audit_request_stop(void)
{
	atomic_store(&verify_stop_requested, true);
}

struct verifier {
	struct audit_verdict *v;
	int64_t expect_seq;
	unsigned char prev_hash[STORE_AUDIT_HASH_BYTES];
};

static void verify_failed(struct verifier *vf, int64_t seq, const char *problem)
{
	vf->v->ok = false;
	vf->v->first_bad_seq = seq;
	str_copy(vf->v->problem, sizeof(vf->v->problem), problem);
}

static void verify_one(void *ctx, const struct store_audit *rec)
{
	struct verifier *vf = ctx;
	unsigned char h[STORE_AUDIT_HASH_BYTES];

	if (!vf->v->ok)
		return;
	vf->v->records++;
	if (rec->seq != vf->expect_seq) {
		verify_failed(vf, vf->expect_seq, "record is missing (sequence gap)");
		return;
	}
	if (sodium_memcmp(rec->prev_hash, vf->prev_hash, STORE_AUDIT_HASH_BYTES) != 0) {
		verify_failed(vf, rec->seq, "does not follow the previous record (removed or reordered)");
		return;
	}
	audit_hash(rec, h);
	if (sodium_memcmp(h, rec->hash, STORE_AUDIT_HASH_BYTES) != 0) {
		verify_failed(vf, rec->seq, "content does not match its hash (edited)");
		return;
	}
	memcpy(vf->prev_hash, rec->hash, STORE_AUDIT_HASH_BYTES);
	vf->expect_seq++;
}

enum tr_status audit_verify(struct domain *d, const struct principal *caller, struct audit_verdict *out,
                            struct tr_error *err)
{
	struct audit_verdict v = {.ok = true};
	struct verifier vf = {.v = &v, .expect_seq = 1};
	struct store_audit_query q = {.limit = VERIFY_PAGE};
	enum tr_status st;

	if ((st = policy_check_global(caller, ACT_AUDIT_VERIFY, err)) != TR_OK)
		return st;
	do {
		int64_t before = v.records;

		if (atomic_load(&verify_stop_requested))
			return tr_error_set(err, TR_EUNAVAIL, "the server is stopping");
		q.after = vf.expect_seq - 1;
		if ((st = store_audit_list(d->store, &q, verify_one, &vf, err)) != TR_OK)
			return st;
		if (v.records - before < VERIFY_PAGE)
			break;
	} while (v.ok);
	*out = v;
	return TR_OK;
}

enum tr_status audit_list(struct domain *d, const struct principal *caller, const struct store_audit_query *q,
                          store_audit_cb cb, void *ctx, struct tr_error *err)
{
	enum tr_status st;

	if (!caller->platform_admin) {
		if (!q->workspace || !*q->workspace)
			return tr_error_set(err, TR_EDENIED,
			                    "only platform admins may read the whole audit log; name your workspace");
		if ((st = policy_check_workspace(d, caller, ACT_AUDIT_READ, q->workspace, err)) != TR_OK)
			return st;
	}
	return store_audit_list(d->store, q, cb, ctx, err);
}
