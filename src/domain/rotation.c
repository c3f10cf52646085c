/*
 * rotation.c - encryption key rotation and the start-up provider check.
 *
 * A run walks the stored versions with a (secret_id, version) cursor, in
 * batches of ROTATION_BATCH:
 *   1. read a batch (store_version_scan_not_under, no transaction);
 *   2. re-wrap each data key in memory (crypto/envelope.c; slow providers
 *      such as a KMS plugin are called here, with no lock held);
 *   3. one short write transaction: store_version_rewrap per version, a
 *      compare-and-swap on its provider, so a version that changed or went
 *      away meanwhile is left alone;
 *   4. move the cursor past the batch.
 * A version is either under its old provider or its new one at every
 * moment, so a crash anywhere loses nothing; the next run starts over and
 * finds only what is left.
 *
 * Failures: a version that cannot be re-wrapped is counted, logged and
 * skipped. When a provider reports itself unavailable (TR_EUNAVAIL), two
 * checks tell which one: if the current provider fails a health check the
 * target is down and the run stops (nothing could be written); if the
 * version's own key cannot be unwrapped now, its provider is down and its
 * remaining versions are skipped (counted in one log line); else it was a
 * passing failure (a plugin that crashed once and was restarted).
 *
 * Key material: data keys are unwrapped into one guarded scratch page per
 * run (envelope_scratch), wiped after every use; this file only ever
 * handles wrapped keys and ciphertext.
 */
#include "domain/rotation.h"

#include "domain/policy.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "crypto/envelope.h"
#include "domain/audit.h"

#define CHECK_PAGE 1000
/* Not a valid provider id (keyring_id_valid), so every stored version is
 * "not under" it: a scan of all versions. */
#define SCAN_ALL "*"
#define DOWN_MAX 16
#define MESSAGE_ROOM 150 /* of a struct tr_error message, for the provider list */
#define CHECK_SAMPLES 3  /* keys tried per provider at start-up; one must unwrap */

static atomic_bool running; /* claimed (rotation_claim), from the claim until the run ends */
static atomic_bool stop_requested;

void rotation_request_stop(void)
{
	atomic_store(&stop_requested, true);
}

static const struct key_provider *current_provider(const struct domain *d, struct tr_error *err)
{
	const struct key_provider *p = keyring_current(d->keyring);

	if (!p)
		tr_error_set(err, TR_EUNAVAIL, "no current key provider is configured");
	return p;
}

/* ---- one batch ---- */

struct rot_item {
	int64_t secret_id, version;
	char workspace[TR_WORKSPACE_NAME_MAX + 1];
	char project[TR_SCOPE_NAME_MAX + 1];
	char cluster[TR_SCOPE_NAME_MAX + 1];
	char name[TR_SECRET_NAME_MAX + 1];
	char type[TR_TYPE_NAME_MAX + 1];
	char provider[TR_PROVIDER_ID_MAX + 1]; /* the provider it is under now */
	struct store_blob wrapped;             /* its wrapped data key */
	struct store_blob ciphertext;          /* its record (reencrypt only) */
	struct envelope_sealed sealed;         /* the new key (and record) */
	bool ready;                            /* sealed is to be stored */
};

struct rot_batch {
	struct rot_item *items; /* ROTATION_BATCH of them */
	size_t n;
	bool reencrypt;
	enum tr_status st; /* TR_EINTERNAL if a copy ran out of memory */
};

static void item_clear(struct rot_item *it)
{
	free(it->wrapped.data);
	free(it->ciphertext.data);
	envelope_sealed_clear(&it->sealed);
	memset(it, 0, sizeof(*it));
}

static void batch_clear(struct rot_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		item_clear(&b->items[i]);
	b->n = 0;
	b->st = TR_OK;
}

/* store_version_ref_cb: copies one scanned version into the batch. */
static void batch_take(void *ctx, const struct store_version_ref *ref)
{
	struct rot_batch *b = ctx;
	struct rot_item *it;

	if (b->n == ROTATION_BATCH || b->st != TR_OK)
		return;
	it = &b->items[b->n++];
	it->secret_id = ref->secret_id;
	it->version = ref->v.version;
	snprintf(it->workspace, sizeof(it->workspace), "%s", ref->workspace);
	snprintf(it->project, sizeof(it->project), "%s", ref->project);
	snprintf(it->cluster, sizeof(it->cluster), "%s", ref->cluster);
	snprintf(it->name, sizeof(it->name), "%s", ref->name);
	snprintf(it->type, sizeof(it->type), "%s", ref->type);
	snprintf(it->provider, sizeof(it->provider), "%s", ref->v.provider);
	if (store_blob_set(&it->wrapped, ref->v.wrapped_key.data, ref->v.wrapped_key.len) != TR_OK ||
	    (b->reencrypt && store_blob_set(&it->ciphertext, ref->v.ciphertext.data, ref->v.ciphertext.len) != TR_OK))
		b->st = TR_EINTERNAL;
}

/* ---- a run ---- */

struct rot_down {
	char provider[TR_PROVIDER_ID_MAX + 1];
	int64_t skipped; /* versions skipped after it went down */
};

struct rot_run {
	struct domain *d;
	const struct key_provider *current;
	bool reencrypt;
	int64_t after_id, after_version; /* the cursor */
	int64_t rotated, failed;
	struct rot_down down[DOWN_MAX]; /* source providers that stopped working */
	size_t ndown;
	bool target_down;  /* the current provider cannot wrap: stop */
	bool interrupted;  /* rotation_request_stop */
	struct rot_batch batch;
	struct envelope_scratch *scratch; /* guarded memory for the data keys */
};

/* " (project p1)" / " (cluster c1)" / "". */
static const char *scope_text(const struct rot_item *it, char *buf, size_t size)
{
	buf[0] = '\0';
	if (it->project[0])
		snprintf(buf, size, " (project %s)", it->project);
	else if (it->cluster[0])
		snprintf(buf, size, " (cluster %s)", it->cluster);
	return buf;
}

static void log_failure(const struct rot_item *it, const struct tr_error *why)
{
	char scope[TR_SCOPE_NAME_MAX + 16];

	log_warn("key rotation: secret '%s/%s'%s version %lld (provider '%s') failed: %s", it->workspace, it->name,
	         scope_text(it, scope, sizeof(scope)), (long long)it->version, it->provider, why->message);
}

static struct rot_down *find_down(struct rot_run *run, const char *provider)
{
	for (size_t i = 0; i < run->ndown; i++)
		if (strcmp(run->down[i].provider, provider) == 0)
			return &run->down[i];
	return NULL;
}

/* A provider said TR_EUNAVAIL while re-wrapping it. Which one? If the
 * current provider fails a health check (a wrap and unwrap of a throwaway
 * key; a crashed plugin is restarted by it), nothing can be written: the
 * run stops. Else, if the item's own key cannot be unwrapped now, its
 * provider is down: the rest of its versions are skipped. Else it was a
 * passing failure (counted, logged, and the run goes on). */
static void provider_unavailable(struct rot_run *run, const struct rot_item *it)
{
	struct tr_error why = {0};

	if (envelope_check_current(run->d->keyring, &why) != TR_OK) {
		log_error("key rotation: the current key provider '%s' cannot wrap data keys: %s; stopping",
		          run->current->id, why.message);
		run->target_down = true;
		return;
	}
	if (envelope_check_key(run->d->keyring, it->provider, it->wrapped.data, it->wrapped.len, &why) != TR_EUNAVAIL)
		return;
	if (!find_down(run, it->provider) && run->ndown < DOWN_MAX) {
		snprintf(run->down[run->ndown].provider, sizeof(run->down[0].provider), "%s", it->provider);
		run->down[run->ndown++].skipped = 0;
		log_warn("key rotation: key provider '%s' is unavailable (%s); its other versions are skipped in "
		         "this run",
		         it->provider, why.message);
	}
}

/* Re-wraps (or re-encrypts) one version in memory. */
static void item_seal(struct rot_run *run, struct rot_item *it)
{
	struct envelope_identity id = {it->workspace, it->project, it->cluster, it->name, it->type, it->version};
	struct rot_down *down = find_down(run, it->provider);
	struct tr_error why = {0};
	enum tr_status st;

	if (down) {
		down->skipped++;
		run->failed++;
		return;
	}
	if (run->reencrypt)
		st = envelope_reseal(run->d->keyring, run->scratch, &id, it->provider, it->wrapped.data,
		                     it->wrapped.len, it->ciphertext.data, it->ciphertext.len, &it->sealed, &why);
	else
		st = envelope_rewrap_with(run->d->keyring, run->scratch, it->provider, it->wrapped.data,
		                          it->wrapped.len, &it->sealed, &why);
	if (st == TR_OK) {
		it->ready = true;
		return;
	}
	run->failed++;
	log_failure(it, &why);
	if (st == TR_EUNAVAIL)
		provider_unavailable(run, it);
}

/* Stores the batch's new keys in one transaction. Versions whose provider
 * changed or that were deleted meanwhile are left alone (not counted). */
static enum tr_status batch_store(struct rot_run *run, struct tr_error *err)
{
	struct rot_batch *b = &run->batch;
	int64_t stored = 0;
	enum tr_status st;
	size_t ready = 0;

	for (size_t i = 0; i < b->n; i++)
		ready += b->items[i].ready;
	if (ready == 0)
		return TR_OK;
	if ((st = domain_begin(run->d, err)) != TR_OK)
		return st;
	for (size_t i = 0; i < b->n && st == TR_OK; i++) {
		struct rot_item *it = &b->items[i];
		struct store_blob wk = {it->sealed.wrapped_key, it->sealed.wrapped_key_len};
		struct store_blob ct = {it->sealed.record, it->sealed.record_len};

		if (!it->ready)
			continue;
		st = store_version_rewrap(run->d->store, it->secret_id, it->version, it->provider, it->sealed.provider,
		                          &wk, run->reencrypt ? &ct : NULL, err);
		if (st == TR_OK)
			stored++;
		else if (st == TR_ECONFLICT || st == TR_ENOTFOUND)
			st = TR_OK;
	}
	if ((st = domain_finish(run->d, st, err)) == TR_OK)
		run->rotated += stored;
	return st;
}

/* Reads the next batch after the cursor. */
static enum tr_status batch_read(struct rot_run *run, struct tr_error *err)
{
	const char *skip = run->reencrypt ? SCAN_ALL : run->current->id;
	enum tr_status st;

	batch_clear(&run->batch);
	st = store_version_scan_not_under(run->d->store, skip, run->after_id, run->after_version, ROTATION_BATCH,
	                                  batch_take, &run->batch, err);
	if (st == TR_OK && run->batch.st != TR_OK)
		st = tr_error_set(err, TR_EINTERNAL, "out of memory reading versions to rotate");
	return st;
}

/* One batch: read, seal, store, advance. *more is false at the end. */
static enum tr_status run_batch(struct rot_run *run, bool *more, struct tr_error *err)
{
	struct rot_batch *b = &run->batch;
	enum tr_status st;

	if ((st = batch_read(run, err)) != TR_OK)
		return st;
	*more = b->n == ROTATION_BATCH;
	for (size_t i = 0; i < b->n && !run->target_down && !run->interrupted; i++) {
		/* A slow provider can make a batch long: a stop request is
		 * honoured between versions, and what is sealed is stored. */
		if (atomic_load(&stop_requested))
			run->interrupted = true;
		else
			item_seal(run, &b->items[i]);
	}
	if (b->n > 0) {
		run->after_id = b->items[b->n - 1].secret_id;
		run->after_version = b->items[b->n - 1].version;
	}
	st = batch_store(run, err);
	batch_clear(b);
	if (run->target_down || run->interrupted)
		*more = false;
	return st;
}

static enum tr_status run_all(struct rot_run *run, struct tr_error *err)
{
	enum tr_status st = TR_OK;
	bool more = true;

	while (more && st == TR_OK)
		st = run_batch(run, &more, err);
	return st;
}

/* ---- reporting ---- */

static void log_outcome(const struct rot_run *run, const struct rotation_result *r)
{
	for (size_t i = 0; i < run->ndown; i++)
		if (run->down[i].skipped > 0)
			log_warn("key rotation: skipped %lld more versions under the unavailable provider '%s'",
			         (long long)run->down[i].skipped, run->down[i].provider);
	if (r->success)
		log_info("Completed rotation of encryption keys for all secrets: %lld re-wrapped, 0 failed, "
		         "provider=%s",
		         (long long)r->rotated, run->current->id);
	else if (run->interrupted)
		log_warn("Rotation of encryption keys interrupted (server stopping): %lld re-wrapped, %lld failed, "
		         "provider=%s; call it again to finish",
		         (long long)r->rotated, (long long)r->failed, run->current->id);
	else
		log_warn("Rotation of encryption keys finished with failures: %lld re-wrapped, %lld failed, "
		         "provider=%s; fix the errors above and call it again",
		         (long long)r->rotated, (long long)r->failed, run->current->id);
}

static enum tr_status audit_run(struct domain *d, const struct principal *caller, bool success,
                                struct tr_error *err)
{
	struct audit_event ev = {
		.action = "keys.rotate",
		.outcome = success ? AUDIT_SUCCESS : AUDIT_FAILURE,
		.status = 200,
	};

	return audit_record(d, caller, &ev, err);
}

/* store_provider_count_cb for the start-of-run log. */
static void sum_not_under(void *ctx, const char *provider, int64_t versions)
{
	struct rotation_progress *p = ctx;

	p->total += versions;
	if (strcmp(provider, p->current_provider) != 0)
		p->remaining += versions;
}

static void log_start(struct rot_run *run)
{
	struct rotation_progress p = {0};

	snprintf(p.current_provider, sizeof(p.current_provider), "%s", run->current->id);
	if (store_provider_counts(run->d->store, sum_not_under, &p, NULL) != TR_OK)
		return;
	log_info("Starting rotation of encryption keys: %lld of %lld versions to %s, provider=%s",
	         (long long)(run->reencrypt ? p.total : p.remaining), (long long)p.total,
	         run->reencrypt ? "re-encrypt" : "re-wrap", run->current->id);
}

static enum tr_status rotate_claimed(struct domain *d, const struct principal *caller,
                                    const struct rotation_options *opt, struct rotation_result *out,
                                    struct tr_error *err)
{
	struct rot_run run = {.d = d, .reencrypt = opt && opt->reencrypt};
	enum tr_status st, audit_st;

	if (!(run.current = current_provider(d, err)))
		return TR_EUNAVAIL;
	if ((st = envelope_scratch_new(&run.scratch, err)) != TR_OK)
		return st;
	if (!(run.batch.items = calloc(ROTATION_BATCH, sizeof(*run.batch.items)))) {
		envelope_scratch_free(run.scratch);
		return tr_error_set(err, TR_EINTERNAL, "out of memory starting key rotation");
	}
	run.batch.reencrypt = run.reencrypt;
	log_start(&run);
	st = run_all(&run, err);
	free(run.batch.items);
	envelope_scratch_free(run.scratch);
	out->rotated = run.rotated;
	out->failed = run.failed;
	out->success = st == TR_OK && run.failed == 0 && !run.interrupted && !run.target_down;
	if (st != TR_OK)
		log_error("key rotation stopped: %s", err ? err->message : "storage failed");
	log_outcome(&run, out);
	audit_st = audit_run(d, caller, out->success, st == TR_OK ? err : NULL);
	return st != TR_OK ? st : audit_st;
}

static enum tr_status already_running(struct tr_error *err)
{
	return tr_error_set(err, TR_ECONFLICT, "a key rotation is already running; GET "
	                                       "/v2/secrets/rotate-encryption-keys shows its progress");
}

enum tr_status rotation_claim(const struct principal *caller, struct tr_error *err)
{
	enum tr_status st;
	bool unclaimed = false;

	if ((st = policy_check_global(caller, ACT_KEYS_ROTATE, err)) != TR_OK)
		return st;
	if (atomic_load(&stop_requested))
		return tr_error_set(err, TR_EUNAVAIL, "the server is stopping");
	if (!atomic_compare_exchange_strong(&running, &unclaimed, true))
		return already_running(err);
	return TR_OK;
}

void rotation_unclaim(void)
{
	atomic_store(&running, false);
}

enum tr_status rotation_run_claimed(struct domain *d, const struct principal *caller,
                                    const struct rotation_options *opt, struct rotation_result *out,
                                    struct tr_error *err)
{
	enum tr_status st;

	memset(out, 0, sizeof(*out));
	if (atomic_load(&stop_requested))
		st = tr_error_set(err, TR_EUNAVAIL, "the server is stopping");
	else
		st = rotate_claimed(d, caller, opt, out, err);
	rotation_unclaim();
	return st;
}

/* ---- progress ---- */

struct progress_walk {
	struct rotation_progress *p;
	store_provider_count_cb cb;
	void *ctx;
};

static void progress_count(void *ctx, const char *provider, int64_t versions)
{
	struct progress_walk *w = ctx;

	sum_not_under(w->p, provider, versions);
	if (w->cb)
		w->cb(w->ctx, provider, versions);
}

enum tr_status rotation_progress(struct domain *d, const struct principal *caller, store_provider_count_cb cb,
                                 void *ctx, struct rotation_progress *out, struct tr_error *err)
{
	struct rotation_progress p = {0};
	struct progress_walk w = {&p, cb, ctx};
	const struct key_provider *cur;
	enum tr_status st;

	if (!d || !out)
		return tr_error_set(err, TR_EINVAL, "rotation_progress needs a domain and an output");
	if ((st = policy_check_global(caller, ACT_KEYS_ROTATE, err)) != TR_OK)
		return st;
	if (!(cur = current_provider(d, err)))
		return TR_EUNAVAIL;
	snprintf(p.current_provider, sizeof(p.current_provider), "%s", cur->id);
	if ((st = store_provider_counts(d->store, progress_count, &w, err)) != TR_OK)
		return st;
	p.running = atomic_load(&running);
	p.done = p.total - p.remaining;
	*out = p;
	return TR_OK;
}

/* ---- the start-up check ---- */

struct stored_provider {
	char id[TR_PROVIDER_ID_MAX + 1];
	int64_t versions;
	int tries;                              /* keys tried so far */
	bool ok;                                /* one of them unwrapped */
	char why[TR_ERROR_MESSAGE_MAX];         /* why the last one did not */
};

struct stored_list {
	struct stored_provider *v;
	size_t n, cap;
	bool oom;
};

static void stored_add(void *ctx, const char *provider, int64_t versions)
{
	struct stored_list *l = ctx;
	struct stored_provider *grown;

	if (versions <= 0 || l->oom)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;

		if (!(grown = realloc(l->v, cap * sizeof(*grown)))) {
			l->oom = true;
			return;
		}
		l->v = grown;
		l->cap = cap;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	snprintf(l->v[l->n].id, sizeof(l->v[0].id), "%s", provider);
	l->v[l->n++].versions = versions;
}

/* Names the providers that wrap stored versions but are not configured;
 * TR_OK when there are none. */
static enum tr_status check_missing(const struct domain *d, const struct stored_list *l, struct tr_error *err)
{
	char list[MESSAGE_ROOM + 1] = "";
	size_t used = 0, missing = 0, listed = 0;

	for (size_t i = 0; i < l->n; i++) {
		char entry[TR_PROVIDER_ID_MAX + 40];
		int n;

		if (keyring_get(d->keyring, l->v[i].id))
			continue;
		missing++;
		n = snprintf(entry, sizeof(entry), "%s'%s' (%lld versions)", listed ? ", " : "", l->v[i].id,
		             (long long)l->v[i].versions);
		if (used + (size_t)n > MESSAGE_ROOM - 16)
			continue;
		memcpy(list + used, entry, (size_t)n + 1);
		used += (size_t)n;
		listed++;
	}
	if (missing == 0)
		return TR_OK;
	if (listed < missing)
		snprintf(list + used, sizeof(list) - used, " and %zu more", missing - listed);
	return tr_error_set(err, TR_EUNAVAIL,
	                    "stored secrets need key providers that are not configured: %s; add them to "
	                    "secrets.encryption.providers",
	                    list);
}

struct sample_walk {
	const struct domain *d;
	struct stored_list *l;
	size_t pending; /* providers neither ok nor out of tries */
	int64_t after_id, after_version;
	size_t seen;
};

static bool sample_done(const struct stored_provider *p)
{
	return p->ok || p->tries >= CHECK_SAMPLES || p->tries >= p->versions;
}

/* store_version_ref_cb: tries to unwrap the first few keys met of each
 * provider, until one works (one bad record must not stop the server; a
 * wrong key fails them all). */
static void sample_one(void *ctx, const struct store_version_ref *ref)
{
	struct sample_walk *w = ctx;
	struct tr_error why = {0};
	enum tr_status st;

	w->seen++;
	w->after_id = ref->secret_id;
	w->after_version = ref->v.version;
	for (size_t i = 0; i < w->l->n; i++) {
		struct stored_provider *p = &w->l->v[i];

		if (strcmp(p->id, ref->v.provider) != 0 || sample_done(p))
			continue;
		p->tries++;
		st = envelope_check_key(w->d->keyring, p->id, ref->v.wrapped_key.data, ref->v.wrapped_key.len, &why);
		if (st == TR_OK)
			p->ok = true;
		else
			snprintf(p->why, sizeof(p->why), "%s", why.message);
		if (sample_done(p))
			w->pending--;
		return;
	}
}

/* Unwraps stored keys of every provider in l (see sample_one). */
static enum tr_status check_samples(struct domain *d, struct stored_list *l, struct tr_error *err)
{
	struct sample_walk w = {.d = d, .l = l, .pending = l->n};
	enum tr_status st;

	while (w.pending > 0) {
		w.seen = 0;
		st = store_version_scan_not_under(d->store, SCAN_ALL, w.after_id, w.after_version, CHECK_PAGE,
		                                  sample_one, &w, err);
		if (st != TR_OK)
			return st;
		if (w.seen < CHECK_PAGE)
			break;
	}
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].tries > 0 && !l->v[i].ok)
			return tr_error_set(err, TR_EUNAVAIL,
			                    "key provider '%s' cannot unwrap the stored data keys it wraps "
			                    "(%lld versions): %.120s",
			                    l->v[i].id, (long long)l->v[i].versions, l->v[i].why);
	return TR_OK;
}

enum tr_status rotation_check_providers(struct domain *d, struct rotation_check *out, struct tr_error *err)
{
	struct stored_list l = {0};
	const struct key_provider *cur;
	enum tr_status st;

	if (!d)
		return tr_error_set(err, TR_EINVAL, "rotation_check_providers needs a domain");
	if (!(cur = current_provider(d, err)))
		return TR_EUNAVAIL;
	st = store_provider_counts(d->store, stored_add, &l, err);
	if (st == TR_OK && l.oom)
		st = tr_error_set(err, TR_EINTERNAL, "out of memory checking key providers");
	if (st == TR_OK)
		st = check_missing(d, &l, err);
	if (st == TR_OK)
		st = check_samples(d, &l, err);
	if (st == TR_OK && out) {
		memset(out, 0, sizeof(*out));
		for (size_t i = 0; i < l.n; i++) {
			out->versions += l.v[i].versions;
			if (strcmp(l.v[i].id, cur->id) != 0)
				out->not_current += l.v[i].versions;
		}
	}
	free(l.v);
	return st;
}
