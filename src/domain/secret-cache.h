/*
 * secret-cache.h - each thread's copy of the secrets /resolve read: the
 * row and its current version, sealed as stored, or that there was no such
 * secret. Never a value: what is kept is what SQLite's own page cache
 * holds.
 *
 * Entries are kept under the state of the data their snapshot showed
 * (domain_cache_generation, from store_changes_begun), and serve only a
 * read transaction whose snapshot shows that same state: no change outside
 * the audit log has been under way in between, so a read would return the
 * same row. A thread keeps the entries of one state, the newest it has
 * put: a put of a newer one drops the others. Entries are not tagged with
 * their database: like the counts, they assume one database per process.
 */
#ifndef TRESOR_DOMAIN_SECRET_CACHE_H
#define TRESOR_DOMAIN_SECRET_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/store.h"

/* Hash buckets per thread (a power of two); an entry takes ~300 bytes for
 * a short value. */
#define SECRET_CACHE_BUCKETS 65536

enum secret_cache_answer {
	SECRET_CACHE_MISS,   /* nothing kept: read it */
	SECRET_CACHE_FOUND,  /* *m and *v filled */
	SECRET_CACHE_ABSENT, /* a read in that state found no such secret */
};

/* The secret (workspace, project, cluster, name) as read in the state
 * `generation`, with its current version: on SECRET_CACHE_FOUND fills *m
 * (type, version, visibility, created_by, expires_at and the identity; no
 * tags, keys or description) and *v (version, provider and blobs; no
 * created_at or created_by). Free both with store_secret_clear and
 * store_version_clear. */
enum secret_cache_answer secret_cache_get(uint64_t generation, const char *workspace, const char *project,
					  const char *cluster, const char *name, struct store_secret *m,
					  struct store_version *v);

/* Keeps m and v (its current version) as read in the state `generation`,
 * in place of what was kept for that secret. An entry that would take the
 * thread past its budget (4 MiB) drops the thread's other entries first;
 * out of memory, it keeps nothing. */
void secret_cache_put(uint64_t generation, const struct store_secret *m, const struct store_version *v);

/* Keeps that a read in the state `generation` found no such secret. */
void secret_cache_put_absent(uint64_t generation, const char *workspace, const char *project, const char *cluster,
			     const char *name);

/* Lookups this thread answered from its entries (for tests). */
uint64_t secret_cache_hits(void);

/* Frees this thread's entries now (a thread's are freed when it ends). */
void secret_cache_release(void);

#endif
