/*
 * domain.h - what every domain operation is given: where data lives and
 * who is asking.
 *
 * The domain layer holds tresor's rules (names, types, versions, who may do
 * what) and knows nothing of HTTP, SQL or JSON wire formats. Each server
 * worker owns one struct domain (its store connection is not shared);
 * the keyring is shared and read-only.
 */
#ifndef TRESOR_DOMAIN_DOMAIN_H
#define TRESOR_DOMAIN_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "common/limits.h"
#include "crypto/keyring.h"
#include "storage/store.h"

#define DOMAIN_KEEP_VERSIONS_DEFAULT 10
#define DOMAIN_PURGE_AFTER_DEFAULT 86400 /* a day */

/* The caller of one request: who it is (once authenticated) and where the
 * request came from, for policy decisions and audit records. */
struct principal {
	char name[TR_PRINCIPAL_NAME_MAX + 1];   /* "" until authenticated */
	char kind[16];                          /* "user" or "service" */
	bool platform_admin;
	char token_id[32];                      /* the token it authenticated with */
	unsigned char token_hash[32];           /* that token's hash (auth_still_valid) */
	uint64_t auth_generation;               /* domain_auth_generation() when it was verified */
	char token_minter[TR_PRINCIPAL_NAME_MAX + 1]; /* who minted that token, if not the caller */
	char client[64];                        /* client address */
	char request_id[40];                    /* this request's id */
};

/*
 * A token verified recently (auth.c): its hash and whom it stands for,
 * valid while the auth generation (domain_auth_generation) is the one it
 * was filled under and the token has not expired.
 */
#define DOMAIN_AUTH_CACHE_SLOTS 64

struct auth_cache_entry {
	unsigned char token_hash[32];
	uint64_t generation; /* 0: empty */
	int64_t expires_at;  /* the token's, 0 for never */
	struct principal who; /* identity only: no client or request id */
};

/*
 * A role binding read recently (policy.c), valid while the auth generation
 * is the one it was read under. Every write to the bindings (and every
 * deletion of a workspace or principal, which removes theirs) must call
 * domain_auth_changed in its transaction. Only bindings that exist are
 * kept, so a missing one is read again each time.
 */
#define DOMAIN_BINDING_CACHE_SLOTS 64

struct binding_cache_entry {
	uint64_t generation; /* 0: empty */
	struct store_member member;
};

struct domain {
	struct store *store;           /* this thread's connection */
	const struct keyring *keyring; /* shared, immutable */
	int64_t keep_versions;         /* versions kept per secret (> 0) */
	int64_t purge_after;           /* seconds an expired secret is kept before purging */
	int tx_depth;                  /* nesting of domain_begin (see below) */
	bool tx_failed;                /* an inner unit failed: the outer one rolls back */
	bool reading;                  /* a read transaction is open (domain_read_begin) */
	uint64_t read_generation;      /* the auth generation when it began: its snapshot is no older */
	uint64_t read_changes_begun;   /* and store_changes_begun, _ended, read before BEGIN */
	uint64_t read_changes_ended;
	bool cache_tag_known;          /* cache_tag is decided for this read transaction */
	uint64_t cache_tag;            /* domain_cache_generation */
	bool auth_changed;             /* this transaction changes what a token stands for or may do */
	struct auth_cache_entry auth_cache[DOMAIN_AUTH_CACHE_SLOTS]; /* this thread's verified tokens */
	struct binding_cache_entry binding_cache[DOMAIN_BINDING_CACHE_SLOTS]; /* and role bindings read */
};

/* Current time in Unix seconds. */
int64_t domain_now(void);

/*
 * Verified tokens are cached per thread (auth.c). Whatever changes what a
 * token stands for or may do (deleting a token or a principal, setting or
 * removing a role binding, deleting a workspace) calls domain_auth_changed
 * inside its transaction; when that transaction commits, the process-wide
 * generation moves on and every cached entry is stale, so a revocation
 * holds from the moment its answer is sent.
 */
void domain_auth_changed(struct domain *d);
uint64_t domain_auth_generation(void);

/* Nothing of that kind has committed since generation `since`, and none
 * is pending in d's own transaction (an earlier unit of a group commit):
 * what was checked under `since` still holds. */
bool domain_auth_unchanged_since(const struct domain *d, uint64_t since);

/* The auth generation that what d reads from the store now is at least as
 * new as: when a read transaction is open (a worker keeps one for a whole
 * loop iteration), the generation when it began, which may be older than
 * the current one; else the current one. Whatever is cached from a read
 * is tagged with this, never with a newer generation. */
uint64_t domain_read_generation(const struct domain *d);
/* The state of the data (store_changes_begun) the open read
 * transaction's snapshot shows, when that is known to be a state no change
 * was under way in; else 0, as when a write transaction is open. Rows kept
 * from a read in it are tagged with it, and serve any read transaction of
 * the same tag (secret-cache.h). The first call of a read transaction may
 * take its snapshot. */
uint64_t domain_cache_generation(struct domain *d);

/*
 * Domain transactions nest: the outermost domain_begin opens a store
 * transaction and its domain_finish commits or rolls it back; inner ones
 * (an operation inside an atomic batch, a request inside a group commit)
 * are store savepoints. An inner failure undoes that unit's own work at
 * once, and makes the outermost finish roll everything back.
 */
enum tr_status domain_begin(struct domain *d, struct tr_error *err);
/* Ends a unit opened by domain_begin: commits (outermost) or keeps (inner)
 * its work when st is TR_OK (and no inner unit failed), else (or when that
 * fails) undoes it. Returns the final status. */
enum tr_status domain_finish(struct domain *d, enum tr_status st, struct tr_error *err);

/*
 * A read transaction around the reads of one request (authentication,
 * membership, the resource): one snapshot, and one set of storage locks
 * instead of a set per statement. A domain_begin meanwhile ends it first
 * (a write, such as a failure record, needs a transaction of its own).
 * Failing to open one is harmless: the reads then run one by one.
 */
void domain_read_begin(struct domain *d);
void domain_read_end(struct domain *d);

/*
 * Group commit (server/writer.c): the work of many requests in one store
 * transaction, so that they share one commit (one fsync). Each request
 * runs as a unit of its own between domain_group_enter and
 * domain_group_leave: a failed request undoes only its own work, and does
 * not fail the group.
 */
enum tr_status domain_group_begin(struct domain *d, struct tr_error *err);
/* Opens the unit of one request in the group. */
enum tr_status domain_group_enter(struct domain *d, struct tr_error *err);
/* Closes it: keeps its work when keep is true and that works, else undoes
 * it. Returns whether the work was kept. */
bool domain_group_leave(struct domain *d, bool keep);
/* Whether the group's transaction is still open: after some storage
 * failures (a full disk, an I/O error) the store has rolled it all back. */
bool domain_group_intact(struct domain *d);
/* Commits the group (rolls it back when that fails). */
enum tr_status domain_group_commit(struct domain *d, struct tr_error *err);
/* Rolls back whatever the group holds. */
void domain_group_abort(struct domain *d);

#endif
