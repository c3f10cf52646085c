/*
 * rotation.h - encryption key rotation (SPEC §7, docs/keys.md).
 *
 * Every stored version of a secret has its own data key, wrapped by the
 * key provider that was current when it was written. Rotation re-wraps
 * every data key that is not under the keyring's current provider, batch
 * by batch, each version with a compare-and-swap on its provider, so a
 * crash, a kill or a provider error at any point leaves every version
 * readable (under its old provider or its new one) and the next run
 * finishes the job. With `reencrypt` every version also gets a fresh data
 * key and its value is sealed again.
 *
 * One rotation runs at a time per process, claimed first (rotation_claim)
 * and then run on any thread with that thread's store connection (in the
 * server, its background thread); reads and writes go on meanwhile, as
 * each batch holds the write lock briefly.
 *
 * Who may rotate: platform admins only (checked here; the policy table has
 * no rotation action yet).
 */
#ifndef TRESOR_DOMAIN_ROTATION_H
#define TRESOR_DOMAIN_ROTATION_H

#include <stdbool.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/status.h"
#include "domain/domain.h"

#define ROTATION_BATCH 500 /* versions per write transaction */

struct rotation_options {
	bool reencrypt; /* also replace data keys and re-seal values (every version) */
};

struct rotation_result {
	int64_t rotated; /* versions re-wrapped (or re-encrypted) by this run */
	int64_t failed;  /* versions this run could not re-wrap (each one logged) */
	bool success;    /* nothing failed and the run was not interrupted */
};

struct rotation_progress {
	bool running;                                  /* a rotation is running in this process */
	char current_provider[TR_PROVIDER_ID_MAX + 1]; /* the provider new writes and rotation use */
	int64_t total;                                 /* stored versions */
	int64_t done;                                  /* of those, under the current provider */
	int64_t remaining;                             /* the others */
};

/*
 * Claims the one run for caller: TR_EDENIED unless caller is a platform
 * admin, TR_EUNAVAIL once rotation_request_stop was called, TR_ECONFLICT
 * when a run is claimed already (from its claim until it ends; progress
 * shows it running meanwhile). A server checks and claims on the thread
 * that takes the request, so that a refusal is answered at once, and runs
 * the rotation on another. A claim that will not run is given up with
 * rotation_unclaim.
 */
enum tr_status rotation_claim(const struct principal *caller, struct tr_error *err);
void rotation_unclaim(void);

/*
 * Runs the claimed rotation, on any thread, and gives the claim up at the
 * end: re-wraps every data key not under the current provider (every one,
 * with opt->reencrypt). TR_EUNAVAIL when the server stops first, or when
 * storage fails (what was committed stays). Versions that fail are
 * counted, logged (secret and error, never a value) and skipped; the run
 * stops early when the current provider cannot wrap, or when
 * rotation_request_stop was called (between two versions; what is sealed
 * is stored). Logs "Completed rotation of encryption keys for all secrets:
 * N re-wrapped, 0 failed, provider=<id>" when every version is done, and
 * writes a "keys.rotate" audit record. *out is filled whenever the run
 * started (also with TR_EUNAVAIL).
 */
enum tr_status rotation_run_claimed(struct domain *d, const struct principal *caller,
                                    const struct rotation_options *opt, struct rotation_result *out,
                                    struct tr_error *err);

/*
 * Progress from the stored counts: *out, and cb once per provider that
 * wraps stored versions (provider id, versions). Platform admins only
 * (TR_EDENIED).
 */
enum tr_status rotation_progress(struct domain *d, const struct principal *caller, store_provider_count_cb cb,
                                 void *ctx, struct rotation_progress *out, struct tr_error *err);

/* What rotation_check_providers found, for the start-up log. */
struct rotation_check {
	int64_t versions;    /* stored versions */
	int64_t not_current; /* of those, not under the current provider */
};

/*
 * The start-up check: every provider that wraps stored versions must be in
 * the keyring and able to unwrap one of them. TR_EUNAVAIL naming the
 * missing providers and how many versions each wraps ("stored secrets need
 * key providers that are not configured: 'local_v1' (1200 versions)"),
 * or the provider that cannot unwrap and why. Fills *out (may be NULL) on
 * success.
 */
enum tr_status rotation_check_providers(struct domain *d, struct rotation_check *out, struct tr_error *err);

/* Asks a running rotation to stop between two versions (server
 * shutdown); later runs are refused. Safe from any thread. */
void rotation_request_stop(void);

#endif
