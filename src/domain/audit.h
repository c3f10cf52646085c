/*
 * audit.h - the tamper-evident audit trail (SPEC §9).
 *
 * Each record holds the hash of the one before it; the hash covers every
 * field, so an edited, removed or reordered record breaks the chain and
 * audit_verify names it. Records never hold a value or a token.
 *
 * Fail closed: operations write their success record inside their own
 * transaction (audit_append); if it cannot be written the operation rolls
 * back and fails with TR_EUNAVAIL.
 */
#ifndef TRESOR_DOMAIN_AUDIT_H
#define TRESOR_DOMAIN_AUDIT_H

#include <stdbool.h>

#include "common/status.h"
#include "domain/domain.h"

#define AUDIT_SUCCESS "success"
#define AUDIT_DENIED "denied"
#define AUDIT_FAILURE "failure"

/* What happened; the caller supplies who and from where. */
struct audit_event {
	const char *action;    /* "secret.create", ... */
	const char *workspace; /* NULL: none */
	const char *secret;    /* NULL: none */
	const char *target;    /* principal or token acted on, NULL: none */
	const char *project;   /* scope, NULL: none */
	const char *cluster;
	const char *outcome;   /* AUDIT_SUCCESS, AUDIT_DENIED, AUDIT_FAILURE */
	int status;            /* HTTP status */
};

/* Appends a record inside the caller's open transaction. Any failure is
 * TR_EUNAVAIL "audit log unavailable": the caller must roll back. */
enum tr_status audit_append(struct domain *d, const struct principal *caller, const struct audit_event *ev,
                            struct tr_error *err);

/* Fills rec with what ev and caller say, at the current time; the chain
 * fields (seq, prev_hash, hash) are left for audit_append_filled. */
void audit_fill(struct store_audit *rec, const struct principal *caller, const struct audit_event *ev);

/* Appends a record made by audit_fill, chained to the last one, inside the
 * caller's open transaction; sets its chain fields. Fails as audit_append. */
enum tr_status audit_append_filled(struct domain *d, struct store_audit *rec, struct tr_error *err);

/* Appends a record in a transaction of its own (for failures and denials,
 * after the operation's own transaction is gone). */
enum tr_status audit_record(struct domain *d, const struct principal *caller, const struct audit_event *ev,
                            struct tr_error *err);

/* The outcome word for a failed status: "denied" for 403, else "failure". */
const char *audit_outcome_of(enum tr_status status);

struct audit_verdict {
	bool ok;
	int64_t records;       /* records checked */
	int64_t first_bad_seq; /* 0 when ok */
	char problem[128];     /* what is wrong with it */
};

/* Walks the whole chain, a page of records at a time. Platform admins
 * only. TR_EUNAVAIL once audit_request_stop was called. */
enum tr_status audit_verify(struct domain *d, const struct principal *caller, struct audit_verdict *out,
                            struct tr_error *err);

/* Asks a running audit_verify to stop before its next page (server
 * shutdown: a walk of a long log takes seconds); later walks are refused.
 * Safe from any thread. */
void audit_request_stop(void);

/* Lists records; platform admins see all, workspace admins only their
 * workspace (q->workspace must name it). */
enum tr_status audit_list(struct domain *d, const struct principal *caller, const struct store_audit_query *q,
                          store_audit_cb cb, void *ctx, struct tr_error *err);

/* The chain hash of rec (prev_hash included, hash excluded). Exposed for tests. */
void audit_hash(const struct store_audit *rec, unsigned char out[STORE_AUDIT_HASH_BYTES]);

#endif
