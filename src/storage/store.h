/*
 * store.h - the storage interface: one ops table, backends behind it.
 *
 * The rest of tresor never calls a backend directly; it calls the store_*
 * wrappers below, which dispatch through s->ops (the way SQLite's os.c wraps
 * the VFS). Storage is treated as untrusted: it only ever sees ciphertext
 * and wrapped keys, produced by crypto/envelope.c.
 *
 * A struct store is one connection and is NOT thread-safe: each server
 * worker opens its own. Every function returns TR_OK or an error status and
 * fills err (may be NULL) with a message; outputs are written only on
 * success. Lookups that find nothing return TR_ENOTFOUND without a message
 * (the caller knows what it looked for and words the message).
 *
 * Times are Unix seconds (int64). Empty strings ("") mean "not set" for
 * project, cluster and optional names; 0 means "not set" for times.
 *
 * Backends: "sqlite:PATH" (store-sqlite.c). PostgreSQL comes later
 * (store-pg.c) behind the same table.
 */
#ifndef TRESOR_STORAGE_STORE_H
#define TRESOR_STORAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/status.h"

struct store_ops;

/* Every backend's connection struct starts with this. */
struct store {
	const struct store_ops *ops;
};

struct store_blob {
	unsigned char *data; /* heap, owned by the struct that holds it */
	size_t len;
};

struct store_workspace {
	char name[TR_WORKSPACE_NAME_MAX + 1];
	int64_t created_at;
	char created_by[TR_PRINCIPAL_NAME_MAX + 1];
};

/* A secret's metadata: everything but values. Identity is
 * (workspace, project, cluster, name). */
struct store_secret {
	int64_t id; /* assigned by the store on insert */
	char workspace[TR_WORKSPACE_NAME_MAX + 1];
	char name[TR_SECRET_NAME_MAX + 1];
	char project[TR_SCOPE_NAME_MAX + 1]; /* "" = not project-scoped */
	char cluster[TR_SCOPE_NAME_MAX + 1]; /* "" = not cluster-scoped */
	char type[TR_TYPE_NAME_MAX + 1];     /* canonical type name, e.g. "opaque" */
	char description[TR_DESCRIPTION_MAX + 1];
	char visibility[TR_VISIBILITY_MAX + 1]; /* "private" or "public" */
	char *tags_json;                        /* heap: JSON array of strings, e.g. ["a","b"] */
	char *keys_json;                        /* heap: JSON array of data key names */
	int64_t version;                        /* current version, >= 1 */
	int64_t created_at, updated_at;
	int64_t expires_at; /* 0 = never */
	char created_by[TR_PRINCIPAL_NAME_MAX + 1];
	char updated_by[TR_PRINCIPAL_NAME_MAX + 1];
};

/* One sealed version of a secret's data. */
struct store_version {
	int64_t version;
	char provider[TR_PROVIDER_ID_MAX + 1]; /* key provider that wrapped the data key */
	struct store_blob wrapped_key;         /* data key, wrapped by that provider */
	struct store_blob ciphertext;          /* envelope record (crypto/envelope.h) */
	int64_t created_at;
	char created_by[TR_PRINCIPAL_NAME_MAX + 1];
};

enum store_sort { STORE_SORT_NAME, STORE_SORT_CREATED, STORE_SORT_UPDATED };

/* Filters for store_secret_list. NULL or "" means "no filter". */
struct store_secret_query {
	const char *workspace;  /* required */
	const char *search;     /* substring of name, description or tags (case-insensitive) */
	const char *type;       /* canonical type */
	const char *tag;        /* exact tag */
	const char *project;    /* exact project */
	const char *cluster;    /* exact cluster */
	const char *created_by; /* exact principal */
	const char *visibility; /* "private" or "public" */
	const char *visible_to; /* when set: leave out private secrets not created by this principal */
	enum store_sort sort;
	bool descending;
	int64_t offset; /* rows to skip */
	int64_t limit;  /* rows to return, > 0 */
	/* Keyset paging: when has_after is set, only rows strictly after the row
	 * (after_name or after_time, after_id) in the sort order are returned
	 * (after_name for STORE_SORT_NAME, after_time for the time sorts), and
	 * offset must be 0. *total still counts every match. */
	bool has_after;
	const char *after_name;
	int64_t after_time;
	int64_t after_id;
	bool hide_expired; /* leave out secrets whose expires_at has passed (at `now`) */
	int64_t now;
};

/* A stored version with the identity of its secret, for key rotation. */
struct store_version_ref {
	int64_t secret_id;
	char workspace[TR_WORKSPACE_NAME_MAX + 1];
	char project[TR_SCOPE_NAME_MAX + 1];
	char cluster[TR_SCOPE_NAME_MAX + 1];
	char name[TR_SECRET_NAME_MAX + 1];
	char type[TR_TYPE_NAME_MAX + 1];
	struct store_version v; /* heap blobs: release with store_version_clear(&ref->v) */
};

struct store_principal {
	char name[TR_PRINCIPAL_NAME_MAX + 1];
	char kind[16]; /* "user" or "service" */
	bool platform_admin;
	int64_t created_at;
};

struct store_token {
	char id[32];                            /* public id, "tok_" + 16 hex chars */
	char principal[TR_PRINCIPAL_NAME_MAX + 1];
	unsigned char hash[32];                 /* BLAKE2b-256 of the token text */
	char description[128];
	char created_by[TR_PRINCIPAL_NAME_MAX + 1]; /* who minted it */
	int64_t created_at;
	int64_t expires_at; /* 0 = never */
};

/* A role binding of a principal in a workspace. */
struct store_member {
	char workspace[TR_WORKSPACE_NAME_MAX + 1];
	char principal[TR_PRINCIPAL_NAME_MAX + 1];
	char role[16];                       /* "admin", "editor", "viewer", "service" */
	char project[TR_SCOPE_NAME_MAX + 1]; /* "" = not limited (service only) */
	char cluster[TR_SCOPE_NAME_MAX + 1]; /* "" = not limited (service only) */
	int64_t created_at;
	char created_by[TR_PRINCIPAL_NAME_MAX + 1];
};

#define STORE_AUDIT_HASH_BYTES 32

/* One audit record. Never holds a value or a token. */
struct store_audit {
	int64_t seq;  /* 1, 2, 3, ... with no gaps; set by the caller (last + 1) */
	int64_t time; /* Unix seconds */
	char actor[TR_PRINCIPAL_NAME_MAX + 1];      /* "" when unauthenticated */
	char action[32];                            /* "secret.create", ... */
	char workspace[TR_WORKSPACE_NAME_MAX + 1];  /* "" when global */
	char secret[TR_SECRET_NAME_MAX + 1];        /* "" when none */
	char target[TR_PRINCIPAL_NAME_MAX + 1];     /* principal or token id acted on, "" when none */
	char scope[TR_SCOPE_NAME_MAX + 16];         /* "", "project:p1", "cluster:c1" */
	char outcome[16];                           /* "success", "denied", "failure" */
	int status;                                 /* HTTP status */
	char client[64];                            /* client address */
	char request_id[40];
	unsigned char prev_hash[STORE_AUDIT_HASH_BYTES]; /* hash of record seq-1 (zeros for seq 1) */
	unsigned char hash[STORE_AUDIT_HASH_BYTES];      /* hash of this record, computed by the caller */
};

/* Filters for store_audit_list. NULL/"" or 0 means "no filter". */
struct store_audit_query {
	const char *workspace, *secret, *actor, *action, *outcome;
	int64_t since, until; /* time >= since, time <= until */
	int64_t after;        /* seq > after */
	int64_t limit;        /* > 0 */
};

/*
 * When this connection's commits return:
 * - STORE_DURABLE (the default): once on disk; they survive a power cut.
 * - STORE_FLUSH_LATER: once written to the log. They survive the process
 *   being killed but not yet a power cut, until store_flush or the next
 *   durable commit (on any connection) makes them durable too: the log is
 *   written in order, so what is durable is always a prefix of what was
 *   committed. PostgreSQL calls this synchronous_commit = off.
 * Set between transactions.
 */
enum store_durability {
	STORE_DURABLE,
	STORE_FLUSH_LATER,
};

typedef void (*store_workspace_cb)(void *ctx, const struct store_workspace *ws);
/* The row is only valid during the call (its heap strings are freed after). */
typedef void (*store_secret_cb)(void *ctx, const struct store_secret *secret);
typedef void (*store_token_cb)(void *ctx, const struct store_token *token);
typedef void (*store_principal_cb)(void *ctx, const struct store_principal *p);
typedef void (*store_member_cb)(void *ctx, const struct store_member *m);
typedef void (*store_audit_cb)(void *ctx, const struct store_audit *rec);
/* The row is only valid during the call (its blobs are freed after). */
typedef void (*store_version_cb)(void *ctx, const struct store_version *v);
typedef void (*store_version_ref_cb)(void *ctx, const struct store_version_ref *ref);
typedef void (*store_provider_count_cb)(void *ctx, const char *provider, int64_t versions);

/*
 * The ops table. Every entry is required. Contracts are on the wrappers
 * below; a backend implements exactly those.
 */
struct store_ops {
	const char *name; /* "sqlite" */
	void (*close)(struct store *s);
	enum tr_status (*begin)(struct store *s, struct tr_error *err);
	enum tr_status (*commit)(struct store *s, struct tr_error *err);
	void (*rollback)(struct store *s);
	enum tr_status (*begin_read)(struct store *s, struct tr_error *err);
	void (*defer_checkpoints)(struct store *s);
	enum store_checkpoint (*checkpoint_due)(struct store *s);
	enum tr_status (*checkpoint)(struct store *s, enum store_checkpoint kind, struct tr_error *err);
	enum tr_status (*set_durability)(struct store *s, enum store_durability durability, struct tr_error *err);
	enum tr_status (*flush)(struct store *s, struct tr_error *err);
	enum tr_status (*savepoint)(struct store *s, struct tr_error *err);
	enum tr_status (*release)(struct store *s, struct tr_error *err);
	void (*rollback_to)(struct store *s);
	void (*set_light_units)(struct store *s);
	bool (*in_transaction)(struct store *s);
	enum tr_status (*take_snapshot)(struct store *s, struct tr_error *err);

	enum tr_status (*workspace_create)(struct store *s, const struct store_workspace *ws, struct tr_error *err);
	enum tr_status (*workspace_get)(struct store *s, const char *name, struct store_workspace *out, struct tr_error *err);
	enum tr_status (*workspace_list)(struct store *s, store_workspace_cb cb, void *ctx, struct tr_error *err);
	enum tr_status (*workspace_delete)(struct store *s, const char *name, struct tr_error *err);

	enum tr_status (*secret_count)(struct store *s, const char *workspace, int64_t *out, struct tr_error *err);
	enum tr_status (*secret_insert)(struct store *s, struct store_secret *secret, const struct store_version *v, struct tr_error *err);
	enum tr_status (*secret_get)(struct store *s, const char *workspace, const char *project, const char *cluster, const char *name, struct store_secret *out, struct tr_error *err);
	enum tr_status (*secret_update)(struct store *s, const struct store_secret *secret, struct tr_error *err);
	enum tr_status (*secret_delete)(struct store *s, int64_t id, struct tr_error *err);
	enum tr_status (*secret_list)(struct store *s, const struct store_secret_query *q, store_secret_cb cb, void *ctx, int64_t *total, struct tr_error *err);

	enum tr_status (*version_add)(struct store *s, int64_t secret_id, const struct store_version *v, int64_t keep, struct tr_error *err);
	enum tr_status (*version_get)(struct store *s, int64_t secret_id, int64_t version, struct store_version *out, struct tr_error *err);

	enum tr_status (*version_list)(struct store *s, int64_t secret_id, store_version_cb cb, void *ctx, struct tr_error *err);
	enum tr_status (*secret_purge_expired)(struct store *s, int64_t before, int64_t *purged, struct tr_error *err);
	enum tr_status (*provider_counts)(struct store *s, store_provider_count_cb cb, void *ctx, struct tr_error *err);
	enum tr_status (*version_scan_not_under)(struct store *s, const char *provider, int64_t after_secret_id, int64_t after_version, int64_t limit, store_version_ref_cb cb, void *ctx, struct tr_error *err);
	enum tr_status (*version_rewrap)(struct store *s, int64_t secret_id, int64_t version, const char *expected_provider, const char *provider, const struct store_blob *wrapped_key, const struct store_blob *ciphertext, struct tr_error *err);

	enum tr_status (*principal_create)(struct store *s, const struct store_principal *p, struct tr_error *err);
	enum tr_status (*principal_get)(struct store *s, const char *name, struct store_principal *out, struct tr_error *err);
	enum tr_status (*principal_list)(struct store *s, store_principal_cb cb, void *ctx, struct tr_error *err);
	enum tr_status (*principal_delete)(struct store *s, const char *name, struct tr_error *err);

	enum tr_status (*member_put)(struct store *s, const struct store_member *m, struct tr_error *err);
	enum tr_status (*member_get)(struct store *s, const char *workspace, const char *principal, struct store_member *out, struct tr_error *err);
	enum tr_status (*member_delete)(struct store *s, const char *workspace, const char *principal, struct tr_error *err);
	enum tr_status (*member_list)(struct store *s, const char *workspace, store_member_cb cb, void *ctx, struct tr_error *err);
	enum tr_status (*member_list_by_principal)(struct store *s, const char *principal, store_member_cb cb, void *ctx, struct tr_error *err);

	enum tr_status (*audit_last)(struct store *s, struct store_audit *out, struct tr_error *err);
	enum tr_status (*audit_append)(struct store *s, struct store_audit *rec, struct tr_error *err);
	enum tr_status (*audit_list)(struct store *s, const struct store_audit_query *q, store_audit_cb cb, void *ctx, struct tr_error *err);
	enum tr_status (*journal_applied)(struct store *s, const char *id, int64_t *applied, struct tr_error *err);
	enum tr_status (*journal_advance)(struct store *s, const char *id, int64_t number, struct tr_error *err);
	enum tr_status (*journal_forget)(struct store *s, const char *id, struct tr_error *err);

	enum tr_status (*token_insert)(struct store *s, const struct store_token *t, struct tr_error *err);
	enum tr_status (*token_get_by_hash)(struct store *s, const unsigned char hash[32], struct store_token *out, struct tr_error *err);
	enum tr_status (*token_list)(struct store *s, store_token_cb cb, void *ctx, struct tr_error *err);
	enum tr_status (*token_delete)(struct store *s, const char *id, struct tr_error *err);
};

/*
 * Opens a connection. dsn is "sqlite:PATH". The first open creates the
 * schema (WAL, synchronous=FULL, foreign keys on); later opens migrate it
 * if needed. *out is set only on success.
 */
enum tr_status store_open(const char *dsn, struct store **out, struct tr_error *err);

/*
 * The transactions of this process's connections that change a row outside
 * the audit log, counted twice: store_changes_begun rises at such a
 * transaction's first change (a statement that is a transaction of its own
 * counts as one), store_changes_ended once it has committed or rolled back,
 * before the commit is acknowledged to anyone. Both only grow, and the
 * ended count never passes the begun one.
 *
 * So a reader that reads begun == ended == c, then takes its snapshot, and
 * reads begun == c again, has a snapshot of the state "c": no such change
 * was under way or began meanwhile. Rows copied from such snapshots hold
 * what any other snapshot of the state c would read (secret-cache.h).
 * Another process's transactions are not counted: the server keeps its
 * data directory to itself (server.c), and a store shared between
 * processes would need another way to learn of their changes. The counts
 * are the process's, not a database's: a process that opens two databases
 * (the server opens one) must not rely on them, nor on secret-cache.h.
 */
uint64_t store_changes_begun(void);
uint64_t store_changes_ended(void);

/* Makes the open read transaction take its snapshot now (SQLite takes it
 * at the first read, not at BEGIN). */
enum tr_status store_take_snapshot(struct store *s, struct tr_error *err);
/* Closes and frees; NULL is fine. */
void store_close(struct store *s);

/* Transactions. Every write below also works outside one (autocommit).
 * begin takes the write lock at once (BEGIN IMMEDIATE in SQLite). */
enum tr_status store_begin(struct store *s, struct tr_error *err);
enum tr_status store_commit(struct store *s, struct tr_error *err);
/* Rolls back the open transaction, if any; never fails. */
void store_rollback(struct store *s);
/* A read transaction: the reads up to store_commit see one snapshot and
 * share one set of locks. It cannot become a write transaction. */
enum tr_status store_begin_read(struct store *s, struct tr_error *err);
/*
 * Checkpoints (moving committed pages from SQLite's WAL into the database
 * file) run by default inside whichever commit crosses the threshold.
 * store_defer_checkpoints stops that for this connection, so that its
 * commits stay short; store_checkpoint_due then says, after each commit of
 * it, what is due:
 * - STORE_CHECKPOINT_BACKGROUND: store_checkpoint on another connection,
 *   from another thread, copies what it can without blocking anyone;
 * - STORE_CHECKPOINT_RESTART: the log has grown long because writes never
 *   paused long enough for a background checkpoint to finish (the log can
 *   only start over once all of it is copied). store_checkpoint on this
 *   connection, between its transactions, copies the rest and waits
 *   briefly for readers, so that the next transaction starts the log over.
 * Backends without such a log do nothing and are never due.
 */
enum store_checkpoint {
	STORE_CHECKPOINT_NONE,
	STORE_CHECKPOINT_BACKGROUND,
	STORE_CHECKPOINT_RESTART,
};

void store_defer_checkpoints(struct store *s);
enum store_checkpoint store_checkpoint_due(struct store *s);
enum tr_status store_checkpoint(struct store *s, enum store_checkpoint kind, struct tr_error *err);

/* Sets this connection's store_durability (above). */
enum tr_status store_set_durability(struct store *s, enum store_durability durability, struct tr_error *err);
/* Makes every commit of this connection so far durable. May run on another
 * thread than the connection's while that one works, once a commit made
 * under STORE_FLUSH_LATER has happened before the call. */
enum tr_status store_flush(struct store *s, struct tr_error *err);

/* Nested units inside an open transaction: savepoint opens one, release
 * keeps its work (still uncommitted), rollback_to undoes its work and
 * closes it (never fails). They nest like parentheses. */
enum tr_status store_savepoint(struct store *s, struct tr_error *err);
enum tr_status store_release(struct store *s, struct tr_error *err);
void store_rollback_to(struct store *s);
/*
 * Light units, for the rest of the open transaction (call it outside any
 * unit): savepoint, release and rollback_to keep no copy of what a unit
 * changes, most of the cost of a small unit. Rolling back a unit that
 * changed nothing is then exact; one that changed something cannot be
 * undone, and the whole transaction is lost: store_in_transaction answers
 * false, and commit rolls back and fails. The group-commit writer runs
 * each group so first, and again with real savepoints if one is lost
 * (writer.c, run_group): requests rarely fail after a change.
 */
void store_set_light_units(struct store *s);
/* Whether a transaction is open and whole. Some failures (a full disk, an
 * I/O error) make the backend roll the whole transaction back by itself;
 * a light unit that could not be undone loses it (above). */
bool store_in_transaction(struct store *s);

/* TR_ECONFLICT if the name exists. */
enum tr_status store_workspace_create(struct store *s, const struct store_workspace *ws, struct tr_error *err);
/* TR_ENOTFOUND if missing. */
enum tr_status store_workspace_get(struct store *s, const char *name, struct store_workspace *out, struct tr_error *err);
/* Calls cb for every workspace, by name. */
enum tr_status store_workspace_list(struct store *s, store_workspace_cb cb, void *ctx, struct tr_error *err);
/* Deletes the workspace with all its secrets, versions and role bindings
 * (not its audit records). TR_ENOTFOUND if missing. */
enum tr_status store_workspace_delete(struct store *s, const char *name, struct tr_error *err);

/* Number of secrets in a workspace (all scopes). */
enum tr_status store_secret_count(struct store *s, const char *workspace, int64_t *out, struct tr_error *err);
/* Inserts metadata and its first version (v->version must equal
 * secret->version). Sets secret->id. TR_ECONFLICT if (workspace, project,
 * cluster, name) exists; TR_ENOTFOUND if the workspace does not. */
enum tr_status store_secret_insert(struct store *s, struct store_secret *secret, const struct store_version *v, struct tr_error *err);
/* Looks a secret up by identity. project/cluster NULL mean "". On success
 * *out owns heap strings: release with store_secret_clear. */
enum tr_status store_secret_get(struct store *s, const char *workspace, const char *project, const char *cluster, const char *name, struct store_secret *out, struct tr_error *err);
/* Rewrites every mutable column of the row with secret->id (type,
 * description, visibility, tags, keys, version, updated_at, updated_by,
 * expires_at). TR_ENOTFOUND if the id is gone. */
enum tr_status store_secret_update(struct store *s, const struct store_secret *secret, struct tr_error *err);
/* Deletes a secret and its versions. TR_ENOTFOUND if the id is gone. */
enum tr_status store_secret_delete(struct store *s, int64_t id, struct tr_error *err);
/* Matches counted for *total when filters are set; beyond, *total is -1
 * (unknown): counting must not make every page as slow as a full scan. */
#define STORE_LIST_COUNT_MAX 10000
#define STORE_LIST_COUNT_MAX_PLUS_ONE 10001

/* Calls cb for each secret matching q, in q's order, within offset/limit;
 * sets *total (if not NULL) to the number matching without offset/limit:
 * exact without filters (expiry aside), else up to STORE_LIST_COUNT_MAX,
 * and -1 beyond. */
enum tr_status store_secret_list(struct store *s, const struct store_secret_query *q, store_secret_cb cb, void *ctx, int64_t *total, struct tr_error *err);

/* Adds a version to a secret and deletes all but the newest `keep` versions
 * (keep <= 0 keeps all). TR_ECONFLICT if that version number exists. */
enum tr_status store_version_add(struct store *s, int64_t secret_id, const struct store_version *v, int64_t keep, struct tr_error *err);
/* Reads one version (version <= 0: the newest). On success *out owns heap
 * blobs: release with store_version_clear. TR_ENOTFOUND if missing. */
enum tr_status store_version_get(struct store *s, int64_t secret_id, int64_t version, struct store_version *out, struct tr_error *err);

/* Calls cb for each kept version of a secret (blobs not read: wrapped_key
 * and ciphertext are empty), newest first. */
enum tr_status store_version_list(struct store *s, int64_t secret_id, store_version_cb cb, void *ctx,
                                  struct tr_error *err);

/* Deletes every secret (with its versions) whose expires_at is set and
 * <= before; *purged gets how many. */
enum tr_status store_secret_purge_expired(struct store *s, int64_t before, int64_t *purged, struct tr_error *err);

/* Key rotation. Calls cb once per key provider that wraps stored versions,
 * with how many versions it wraps (by provider id). */
enum tr_status store_provider_counts(struct store *s, store_provider_count_cb cb, void *ctx, struct tr_error *err);
/* Calls cb for up to limit versions whose provider is not `provider`, in
 * (secret_id, version) order strictly after (after_secret_id,
 * after_version) - a cursor that survives concurrent writes. Each ref
 * carries the secret's identity and the version's blobs. */
enum tr_status store_version_scan_not_under(struct store *s, const char *provider, int64_t after_secret_id,
                                            int64_t after_version, int64_t limit, store_version_ref_cb cb,
                                            void *ctx, struct tr_error *err);
/* Compare-and-swap of one version's key: if its provider is still
 * expected_provider, sets provider and wrapped_key (and the ciphertext too,
 * when ciphertext is not NULL: re-encryption). TR_ECONFLICT when the
 * provider changed meanwhile, TR_ENOTFOUND when the version is gone. */
enum tr_status store_version_rewrap(struct store *s, int64_t secret_id, int64_t version,
                                    const char *expected_provider, const char *provider,
                                    const struct store_blob *wrapped_key, const struct store_blob *ciphertext,
                                    struct tr_error *err);

/* TR_ECONFLICT if the name exists. */
enum tr_status store_principal_create(struct store *s, const struct store_principal *p, struct tr_error *err);
/* TR_ENOTFOUND if missing. */
enum tr_status store_principal_get(struct store *s, const char *name, struct store_principal *out, struct tr_error *err);

/* Calls cb for every principal, by name. */
enum tr_status store_principal_list(struct store *s, store_principal_cb cb, void *ctx, struct tr_error *err);
/* Deletes a principal with its tokens and role bindings. TR_ENOTFOUND if missing. */
enum tr_status store_principal_delete(struct store *s, const char *name, struct tr_error *err);

/* Creates or replaces the binding (m->workspace, m->principal).
 * TR_ENOTFOUND if the workspace or the principal does not exist. */
enum tr_status store_member_put(struct store *s, const struct store_member *m, struct tr_error *err);
/* TR_ENOTFOUND if the principal has no binding in the workspace. */
enum tr_status store_member_get(struct store *s, const char *workspace, const char *principal,
                                struct store_member *out, struct tr_error *err);
/* TR_ENOTFOUND if there is no such binding. */
enum tr_status store_member_delete(struct store *s, const char *workspace, const char *principal,
                                   struct tr_error *err);
/* Calls cb for every binding in a workspace, by principal. */
enum tr_status store_member_list(struct store *s, const char *workspace, store_member_cb cb, void *ctx,
                                 struct tr_error *err);
/* Calls cb for every binding of a principal, by workspace. */
enum tr_status store_member_list_by_principal(struct store *s, const char *principal, store_member_cb cb, void *ctx,
                                              struct tr_error *err);

/* The newest audit record. TR_ENOTFOUND when the log is empty. */
enum tr_status store_audit_last(struct store *s, struct store_audit *out, struct tr_error *err);
/* Appends rec exactly as given (seq, prev_hash and hash computed by the
 * caller from store_audit_last). TR_ECONFLICT if that seq exists. Call both
 * inside one transaction so the chain cannot fork. Audit rows are never
 * updated or deleted through this interface, not even by workspace or
 * principal deletion. */
enum tr_status store_audit_append(struct store *s, struct store_audit *rec, struct tr_error *err);
/* Calls cb for each record matching q, by seq ascending, at most q->limit. */
enum tr_status store_audit_list(struct store *s, const struct store_audit_query *q, store_audit_cb cb, void *ctx,
                                struct tr_error *err);

/* How many entries of audit journal file id (storage/journal.h) the audit
 * log holds: those numbered 1..*applied (0 when none is noted). */
enum tr_status store_journal_applied(struct store *s, const char *id, int64_t *applied, struct tr_error *err);
/* Notes entry `number` of journal id as held, in the transaction that
 * appended its records, when the note was number - 1 (none for entry 1);
 * else TR_ECONFLICT and nothing changes: the log holds a prefix of each
 * file's entries. */
enum tr_status store_journal_advance(struct store *s, const char *id, int64_t number, struct tr_error *err);
/* Forgets journal id (NULL: every journal) once its file is gone. */
enum tr_status store_journal_forget(struct store *s, const char *id, struct tr_error *err);

/* TR_ECONFLICT if the id or hash exists; TR_ENOTFOUND if the principal does not. */
enum tr_status store_token_insert(struct store *s, const struct store_token *t, struct tr_error *err);
/* TR_ENOTFOUND if no token has that hash. Expiry is not checked here. */
enum tr_status store_token_get_by_hash(struct store *s, const unsigned char hash[32], struct store_token *out, struct tr_error *err);
/* Calls cb for every token (hash included, never the token), by creation. */
enum tr_status store_token_list(struct store *s, store_token_cb cb, void *ctx, struct tr_error *err);
/* TR_ENOTFOUND if missing. */
enum tr_status store_token_delete(struct store *s, const char *id, struct tr_error *err);

/* Frees heap members and zeroes the struct. Safe on a zeroed struct. */
void store_secret_clear(struct store_secret *secret);
void store_version_clear(struct store_version *v);
/* Copies len bytes into blob (replacing what it held). */
enum tr_status store_blob_set(struct store_blob *blob, const void *data, size_t len);

#endif
