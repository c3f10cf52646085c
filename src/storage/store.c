/*
 * store.c - the store_* wrappers: pick a backend from the dsn, then dispatch
 * every call through s->ops (the way SQLite's os.c wraps the VFS).
 *
 * Nothing outside src/storage/ reaches a backend directly. Checks that hold
 * for every backend (argument rules written in store.h) live here, so each
 * backend only implements the storage itself.
 */
#include "storage/store-backend.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Both start at 1: 0 can mark "none" in a cache. */
static atomic_uint_fast64_t changes_begun = 1;
static atomic_uint_fast64_t changes_ended = 1;

uint64_t store_changes_begun(void)
{
	return atomic_load(&changes_begun);
}

uint64_t store_changes_ended(void)
{
	return atomic_load(&changes_ended);
}

void store_changes_begin(void)
{
	atomic_fetch_add(&changes_begun, 1);
}

void store_changes_end(void)
{
	atomic_fetch_add(&changes_ended, 1);
}

/* Backends. Each opens a connection from the dsn text after its prefix. */
static const struct {
	const char *prefix;
	enum tr_status (*open)(const char *rest, struct store **out, struct tr_error *err);
} backends[] = {
	{"sqlite:", store_sqlite_open},
};

enum tr_status store_open(const char *dsn, struct store **out, struct tr_error *err)
{
	size_t i, len;

	if (!dsn)
		return tr_error_set(err, TR_EINVAL, "storage: no dsn given (expected 'sqlite:PATH')");
	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		len = strlen(backends[i].prefix);
		if (strncmp(dsn, backends[i].prefix, len) == 0)
			return backends[i].open(dsn + len, out, err);
	}
	/* Never echo the dsn: a future one may carry a password. */
	return tr_error_set(err, TR_EINVAL, "storage: unsupported dsn (expected 'sqlite:PATH')");
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

enum tr_status store_begin(struct store *s, struct tr_error *err)
{
	return s->ops->begin(s, err);
}

enum tr_status store_commit(struct store *s, struct tr_error *err)
{
	return s->ops->commit(s, err);
}

void store_rollback(struct store *s)
{
	if (s)
		s->ops->rollback(s);
}

enum tr_status store_begin_read(struct store *s, struct tr_error *err)
{
	return s->ops->begin_read(s, err);
}

void store_defer_checkpoints(struct store *s)
{
	s->ops->defer_checkpoints(s);
}

enum tr_status store_set_durability(struct store *s, enum store_durability durability, struct tr_error *err)
{
	return s->ops->set_durability(s, durability, err);
}

enum tr_status store_flush(struct store *s, struct tr_error *err)
{
	return s->ops->flush(s, err);
}

enum store_checkpoint store_checkpoint_due(struct store *s)
{
	return s->ops->checkpoint_due(s);
}

enum tr_status store_checkpoint(struct store *s, enum store_checkpoint kind, struct tr_error *err)
{
	return s->ops->checkpoint(s, kind, err);
}

enum tr_status store_savepoint(struct store *s, struct tr_error *err)
{
	return s->ops->savepoint(s, err);
}

enum tr_status store_release(struct store *s, struct tr_error *err)
{
	return s->ops->release(s, err);
}

void store_rollback_to(struct store *s)
{
	s->ops->rollback_to(s);
}

void store_set_light_units(struct store *s)
{
	s->ops->set_light_units(s);
}

bool store_in_transaction(struct store *s)
{
	return s->ops->in_transaction(s);
}

enum tr_status store_take_snapshot(struct store *s, struct tr_error *err)
{
	return s->ops->take_snapshot(s, err);
}

enum tr_status store_workspace_create(struct store *s, const struct store_workspace *ws, struct tr_error *err)
{
	return s->ops->workspace_create(s, ws, err);
}

enum tr_status store_workspace_get(struct store *s, const char *name, struct store_workspace *out,
                                   struct tr_error *err)
{
	return s->ops->workspace_get(s, name, out, err);
}

enum tr_status store_workspace_list(struct store *s, store_workspace_cb cb, void *ctx, struct tr_error *err)
{
	return s->ops->workspace_list(s, cb, ctx, err);
}

enum tr_status store_workspace_delete(struct store *s, const char *name, struct tr_error *err)
{
	return s->ops->workspace_delete(s, name, err);
}

enum tr_status store_secret_count(struct store *s, const char *workspace, int64_t *out, struct tr_error *err)
{
	return s->ops->secret_count(s, workspace, out, err);
}

enum tr_status store_secret_insert(struct store *s, struct store_secret *secret, const struct store_version *v,
                                   struct tr_error *err)
{
	if (v->version != secret->version)
		return tr_error_set(err, TR_EINVAL, "storage: first version %lld does not match secret version %lld",
		                    (long long)v->version, (long long)secret->version);
	return s->ops->secret_insert(s, secret, v, err);
}

enum tr_status store_secret_get(struct store *s, const char *workspace, const char *project, const char *cluster,
                                const char *name, struct store_secret *out, struct tr_error *err)
{
	return s->ops->secret_get(s, workspace, project ? project : "", cluster ? cluster : "", name, out, err);
}

enum tr_status store_secret_update(struct store *s, const struct store_secret *secret, struct tr_error *err)
{
	return s->ops->secret_update(s, secret, err);
}

enum tr_status store_secret_delete(struct store *s, int64_t id, struct tr_error *err)
{
	return s->ops->secret_delete(s, id, err);
}

/* The query rules of store.h that every backend relies on. */
static enum tr_status query_check(const struct store_secret_query *q, struct tr_error *err)
{
	if (!q->workspace || !q->workspace[0])
		return tr_error_set(err, TR_EINVAL, "storage: secret list needs a workspace");
	if (q->limit <= 0 || q->offset < 0)
		return tr_error_set(err, TR_EINVAL, "storage: secret list needs limit > 0 and offset >= 0");
	if (q->sort != STORE_SORT_NAME && q->sort != STORE_SORT_CREATED && q->sort != STORE_SORT_UPDATED)
		return tr_error_set(err, TR_EINVAL, "storage: unknown sort order %d", (int)q->sort);
	if (q->has_after && q->offset != 0)
		return tr_error_set(err, TR_EINVAL, "storage: secret list takes an offset or a position, not both");
	if (q->has_after && q->sort == STORE_SORT_NAME && !q->after_name)
		return tr_error_set(err, TR_EINVAL, "storage: keyset position by name needs after_name");
	return TR_OK;
}

enum tr_status store_secret_list(struct store *s, const struct store_secret_query *q, store_secret_cb cb, void *ctx,
                                 int64_t *total, struct tr_error *err)
{
	enum tr_status status = query_check(q, err);

	if (status != TR_OK)
		return status;
	return s->ops->secret_list(s, q, cb, ctx, total, err);
}

enum tr_status store_version_add(struct store *s, int64_t secret_id, const struct store_version *v, int64_t keep,
                                 struct tr_error *err)
{
	return s->ops->version_add(s, secret_id, v, keep, err);
}

enum tr_status store_version_get(struct store *s, int64_t secret_id, int64_t version, struct store_version *out,
                                 struct tr_error *err)
{
	return s->ops->version_get(s, secret_id, version, out, err);
}

enum tr_status store_version_list(struct store *s, int64_t secret_id, store_version_cb cb, void *ctx,
                                  struct tr_error *err)
{
	return s->ops->version_list(s, secret_id, cb, ctx, err);
}

enum tr_status store_secret_purge_expired(struct store *s, int64_t before, int64_t *purged, struct tr_error *err)
{
	return s->ops->secret_purge_expired(s, before, purged, err);
}

enum tr_status store_provider_counts(struct store *s, store_provider_count_cb cb, void *ctx, struct tr_error *err)
{
	return s->ops->provider_counts(s, cb, ctx, err);
}

/* A provider id as stored: set, and short enough to read back into
 * struct store_version's provider field. */
static enum tr_status provider_check(const char *provider, const char *what, struct tr_error *err)
{
	if (!provider || !provider[0])
		return tr_error_set(err, TR_EINVAL, "storage: %s provider is not set", what);
	if (strlen(provider) > TR_PROVIDER_ID_MAX)
		return tr_error_set(err, TR_EINVAL, "storage: %s provider id is longer than %d bytes", what,
		                    TR_PROVIDER_ID_MAX);
	return TR_OK;
}

enum tr_status store_version_scan_not_under(struct store *s, const char *provider, int64_t after_secret_id,
                                            int64_t after_version, int64_t limit, store_version_ref_cb cb,
                                            void *ctx, struct tr_error *err)
{
	enum tr_status status = provider_check(provider, "scan", err);

	if (status != TR_OK)
		return status;
	if (limit <= 0)
		return tr_error_set(err, TR_EINVAL, "storage: version scan needs limit > 0");
	return s->ops->version_scan_not_under(s, provider, after_secret_id, after_version, limit, cb, ctx, err);
}

enum tr_status store_version_rewrap(struct store *s, int64_t secret_id, int64_t version,
                                    const char *expected_provider, const char *provider,
                                    const struct store_blob *wrapped_key, const struct store_blob *ciphertext,
                                    struct tr_error *err)
{
	enum tr_status status = provider_check(expected_provider, "expected", err);

	if (status == TR_OK)
		status = provider_check(provider, "new", err);
	if (status != TR_OK)
		return status;
	if (!wrapped_key)
		return tr_error_set(err, TR_EINVAL, "storage: rewrap needs a wrapped key");
	return s->ops->version_rewrap(s, secret_id, version, expected_provider, provider, wrapped_key, ciphertext,
	                              err);
}

enum tr_status store_principal_create(struct store *s, const struct store_principal *p, struct tr_error *err)
{
	return s->ops->principal_create(s, p, err);
}

enum tr_status store_principal_get(struct store *s, const char *name, struct store_principal *out,
                                   struct tr_error *err)
{
	return s->ops->principal_get(s, name, out, err);
}

enum tr_status store_principal_list(struct store *s, store_principal_cb cb, void *ctx, struct tr_error *err)
{
	return s->ops->principal_list(s, cb, ctx, err);
}

enum tr_status store_principal_delete(struct store *s, const char *name, struct tr_error *err)
{
	return s->ops->principal_delete(s, name, err);
}

enum tr_status store_member_put(struct store *s, const struct store_member *m, struct tr_error *err)
{
	return s->ops->member_put(s, m, err);
}

enum tr_status store_member_get(struct store *s, const char *workspace, const char *principal,
                                struct store_member *out, struct tr_error *err)
{
	return s->ops->member_get(s, workspace, principal, out, err);
}

enum tr_status store_member_delete(struct store *s, const char *workspace, const char *principal,
                                   struct tr_error *err)
{
	return s->ops->member_delete(s, workspace, principal, err);
}

enum tr_status store_member_list(struct store *s, const char *workspace, store_member_cb cb, void *ctx,
                                 struct tr_error *err)
{
	return s->ops->member_list(s, workspace, cb, ctx, err);
}

enum tr_status store_member_list_by_principal(struct store *s, const char *principal, store_member_cb cb,
                                              void *ctx, struct tr_error *err)
{
	return s->ops->member_list_by_principal(s, principal, cb, ctx, err);
}

enum tr_status store_audit_last(struct store *s, struct store_audit *out, struct tr_error *err)
{
	return s->ops->audit_last(s, out, err);
}

/* seq starts at 1 (store.h); a record before it could never be chained. */
enum tr_status store_audit_append(struct store *s, struct store_audit *rec, struct tr_error *err)
{
	if (rec->seq < 1)
		return tr_error_set(err, TR_EINVAL, "storage: audit seq %lld is not >= 1", (long long)rec->seq);
	return s->ops->audit_append(s, rec, err);
}

enum tr_status store_audit_list(struct store *s, const struct store_audit_query *q, store_audit_cb cb, void *ctx,
                                struct tr_error *err)
{
	if (q->limit <= 0)
		return tr_error_set(err, TR_EINVAL, "storage: audit list needs limit > 0");
	return s->ops->audit_list(s, q, cb, ctx, err);
}

enum tr_status store_journal_applied(struct store *s, const char *id, int64_t *applied, struct tr_error *err)
{
	return s->ops->journal_applied(s, id, applied, err);
}

enum tr_status store_journal_advance(struct store *s, const char *id, int64_t number, struct tr_error *err)
{
	if (number < 1)
		return tr_error_set(err, TR_EINVAL, "storage: journal entry %lld is not >= 1", (long long)number);
	return s->ops->journal_advance(s, id, number, err);
}

enum tr_status store_journal_forget(struct store *s, const char *id, struct tr_error *err)
{
	return s->ops->journal_forget(s, id, err);
}

enum tr_status store_token_insert(struct store *s, const struct store_token *t, struct tr_error *err)
{
	return s->ops->token_insert(s, t, err);
}

enum tr_status store_token_get_by_hash(struct store *s, const unsigned char hash[32], struct store_token *out,
                                       struct tr_error *err)
{
	return s->ops->token_get_by_hash(s, hash, out, err);
}

enum tr_status store_token_list(struct store *s, store_token_cb cb, void *ctx, struct tr_error *err)
{
	return s->ops->token_list(s, cb, ctx, err);
}

enum tr_status store_token_delete(struct store *s, const char *id, struct tr_error *err)
{
	return s->ops->token_delete(s, id, err);
}

void store_secret_clear(struct store_secret *secret)
{
	free(secret->tags_json);
	free(secret->keys_json);
	memset(secret, 0, sizeof(*secret));
}

static void blob_free(struct store_blob *blob)
{
	free(blob->data);
	blob->data = NULL;
	blob->len = 0;
}

void store_version_clear(struct store_version *v)
{
	blob_free(&v->wrapped_key);
	blob_free(&v->ciphertext);
	memset(v, 0, sizeof(*v));
}

/* An empty blob holds data == NULL. On failure the blob is left as it was. */
enum tr_status store_blob_set(struct store_blob *blob, const void *data, size_t len)
{
	unsigned char *copy = NULL;

	if (len > 0) {
		copy = malloc(len);
		if (!copy)
			return TR_EINTERNAL;
		memcpy(copy, data, len);
	}
	free(blob->data);
	blob->data = copy;
	blob->len = len;
	return TR_OK;
}
