/*
 * store-sqlite.c - the SQLite backend of the storage interface (store.h).
 *
 * One struct sqlite_store is one connection. Every query is fixed SQL with
 * bound parameters; user text never becomes SQL. Statements are prepared
 * once per connection (SQLITE_PREPARE_PERSISTENT), kept in a cache, and
 * reset with their bindings cleared after every use.
 *
 * The schema is the list of migrations below, applied on open and tracked
 * by PRAGMA user_version. Foreign keys cascade: deleting a workspace
 * removes its secrets, their versions and its role bindings, deleting a
 * principal its tokens and role bindings. The audit log has no foreign
 * keys: its records outlive the workspaces and principals they name.
 *
 * Writes of more than one statement (secret insert, version add, version
 * rewrap, token insert, member put) run as one unit: their own BEGIN IMMEDIATE when no
 * transaction is open, a SAVEPOINT inside the caller's otherwise, so a
 * failure never leaves half a write and never aborts the caller's
 * transaction.
 *
 * Callbacks of the list functions run while a statement is stepping. They
 * may call other store functions on the same connection, but not the same
 * list again (that is refused with TR_EINTERNAL) and not store_begin.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/dirsync.h"
#include "storage/store-backend.h"

/* ---- schema ---------------------------------------------------------- */

/*
 * Version 1. Empty project/cluster are stored as '' (not NULL) so that the
 * UNIQUE identity constraint holds for workspace-scoped secrets too. ids
 * use AUTOINCREMENT so a deleted secret's id is never handed out again.
 */
/* clang-format off */
static const char schema_v1[] =
	"CREATE TABLE workspaces ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" created_by TEXT NOT NULL DEFAULT '');"

	"CREATE TABLE principals ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" kind TEXT NOT NULL,"
	" platform_admin INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL);"

	"CREATE TABLE tokens ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" principal TEXT NOT NULL REFERENCES principals(name) ON DELETE CASCADE,"
	" hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
	" description TEXT NOT NULL DEFAULT '',"
	" created_at INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX tokens_principal ON tokens(principal);"
	"CREATE INDEX tokens_created ON tokens(created_at);"

	"CREATE TABLE secrets ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" workspace TEXT NOT NULL REFERENCES workspaces(name) ON DELETE CASCADE,"
	" project TEXT NOT NULL DEFAULT '',"
	" cluster TEXT NOT NULL DEFAULT '',"
	" name TEXT NOT NULL,"
	" type TEXT NOT NULL,"
	" description TEXT NOT NULL DEFAULT '',"
	" visibility TEXT NOT NULL DEFAULT 'private',"
	" tags_json TEXT NOT NULL DEFAULT '[]'"
	"  CHECK (json_valid(tags_json) AND json_type(tags_json) = 'array'),"
	" keys_json TEXT NOT NULL DEFAULT '[]'"
	"  CHECK (json_valid(keys_json) AND json_type(keys_json) = 'array'),"
	" version INTEGER NOT NULL CHECK (version >= 1),"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL DEFAULT 0,"
	" created_by TEXT NOT NULL DEFAULT '',"
	" updated_by TEXT NOT NULL DEFAULT '',"
	" UNIQUE (workspace, project, cluster, name));"
	"CREATE INDEX secrets_ws_name ON secrets(workspace, name);"
	"CREATE INDEX secrets_ws_created ON secrets(workspace, created_at);"
	"CREATE INDEX secrets_ws_updated ON secrets(workspace, updated_at);"
	"CREATE INDEX secrets_ws_type ON secrets(workspace, type);"
	"CREATE INDEX secrets_expires ON secrets(expires_at) WHERE expires_at > 0;"

	"CREATE TABLE secret_versions ("
	" secret_id INTEGER NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,"
	" version INTEGER NOT NULL,"
	" provider TEXT NOT NULL,"
	" wrapped_key BLOB NOT NULL,"
	" ciphertext BLOB NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" created_by TEXT NOT NULL DEFAULT '',"
	" PRIMARY KEY (secret_id, version));"
	"CREATE INDEX secret_versions_provider ON secret_versions(provider);";
/* clang-format on */

/*
 * Version 2: access control and audit. Tokens record who minted them
 * (existing tokens get ''). A member row is a principal's role binding in a
 * workspace; both ends cascade, and the index on (principal, workspace)
 * serves the principal's cascade and its bindings in workspace order.
 *
 * The audit log has no foreign keys: records outlive what they name. Its
 * seq is the rowid, given by the caller (last + 1), so a second writer of
 * the same seq conflicts. Its columns stay NOT NULL with '' for "none" so
 * that a record reads back exactly as it was hashed. The indexes serve
 * store_audit_list's filters: as an index on (x) ends with the rowid,
 * "x = ? AND seq > ? ORDER BY seq" is a range scan with no sort.
 */
/* clang-format off */
static const char schema_v2[] =
	"ALTER TABLE tokens ADD COLUMN created_by TEXT NOT NULL DEFAULT '';"

	"CREATE TABLE members ("
	" workspace TEXT NOT NULL REFERENCES workspaces(name) ON DELETE CASCADE,"
	" principal TEXT NOT NULL REFERENCES principals(name) ON DELETE CASCADE,"
	" role TEXT NOT NULL,"
	" project TEXT NOT NULL DEFAULT '',"
	" cluster TEXT NOT NULL DEFAULT '',"
	" created_at INTEGER NOT NULL,"
	" created_by TEXT NOT NULL DEFAULT '',"
	" PRIMARY KEY (workspace, principal));"
	"CREATE INDEX members_principal ON members(principal, workspace);"

	"CREATE TABLE audit_log ("
	" seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
	" time INTEGER NOT NULL,"
	" actor TEXT NOT NULL DEFAULT '',"
	" action TEXT NOT NULL,"
	" workspace TEXT NOT NULL DEFAULT '',"
	" secret TEXT NOT NULL DEFAULT '',"
	" scope TEXT NOT NULL DEFAULT '',"
	" outcome TEXT NOT NULL,"
	" status INTEGER NOT NULL,"
	" client TEXT NOT NULL DEFAULT '',"
	" request_id TEXT NOT NULL DEFAULT '',"
	" target TEXT NOT NULL DEFAULT '',"
	" prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32),"
	" hash BLOB NOT NULL CHECK (length(hash) = 32));"
	"CREATE INDEX audit_log_time ON audit_log(time);"
	"CREATE INDEX audit_log_workspace ON audit_log(workspace);"
	"CREATE INDEX audit_log_actor ON audit_log(actor);"
	"CREATE INDEX audit_log_action ON audit_log(action);";
/* clang-format on */

/*
 * Version 3: an index for listing without expired secrets. Their COUNT
 * (the total of every list page, where expired secrets are left out by
 * default) then reads this index alone: 50 ms for a workspace of a million
 * secrets, where walking the table through an order index took 3 s. The
 * order indexes secrets_ws_* already serve keyset pages: each ends with
 * the rowid (id), the tie-breaker of every order.
 */
/* clang-format off */
static const char schema_v3[] =
	"CREATE INDEX secrets_ws_expires ON secrets(workspace, expires_at);";
/* clang-format on */

/*
 * Version 4: each workspace counts its secrets, kept exact by triggers in
 * the same transaction as the insert or delete. The total of a list page
 * without filters is then that count less the expired ones (a range of
 * secrets_ws_expires, usually empty): the first page of a million secrets
 * no longer counts a million rows.
 */
/* clang-format off */
static const char schema_v4[] =
	"ALTER TABLE workspaces ADD COLUMN secret_count INTEGER NOT NULL DEFAULT 0;"
	"UPDATE workspaces SET secret_count ="
	" (SELECT COUNT(*) FROM secrets WHERE secrets.workspace = workspaces.name);"
	"CREATE TRIGGER secrets_count_insert AFTER INSERT ON secrets BEGIN"
	" UPDATE workspaces SET secret_count = secret_count + 1 WHERE name = NEW.workspace; END;"
	"CREATE TRIGGER secrets_count_delete AFTER DELETE ON secrets BEGIN"
	" UPDATE workspaces SET secret_count = secret_count - 1 WHERE name = OLD.workspace; END;";
/* clang-format on */

/*
 * Version 5: secrets_ws_expires holds only the secrets that expire. Since
 * version 4 it serves one query, the count of a workspace's expired
 * secrets ("expires_at > 0 AND expires_at <= now"), and most secrets never
 * expire: each create no longer adds an entry to it (one B-tree fewer of
 * the ~15 a create changes). Filtered counts that used it for
 * "workspace = ?" use another (workspace, ...) index, at the same cost.
 */
/* clang-format off */
static const char schema_v5[] =
	"DROP INDEX secrets_ws_expires;"
	"CREATE INDEX secrets_ws_expires ON secrets(workspace, expires_at) WHERE expires_at > 0;";
/* clang-format on */

/*
 * Version 6: the count of a workspace's secrets grows by an UPDATE of its
 * own after each insert (secret_insert_unit), not by a trigger. A trigger
 * makes the INSERT a statement that writes more than one table, and SQLite
 * then keeps a statement journal for it inside a transaction: a copy of
 * every page it changes (~35,000 instructions per create, a tenth of it).
 * Deletes keep their trigger.
 */
/* clang-format off */
static const char schema_v6[] =
	"DROP TRIGGER secrets_count_insert;";
/* clang-format on */

/*
 * Version 7: how far the audit log holds each audit journal file's entries
 * (storage/journal.h): the writer moves entries in order and notes the
 * last one in the same transaction, so that at a start after a crash only
 * the entries that never reached the log are moved again.
 */
/* clang-format off */
static const char schema_v7[] =
	"CREATE TABLE audit_journal ("
	" id TEXT PRIMARY KEY,"
	" applied INTEGER NOT NULL CHECK (applied >= 0));";
/* clang-format on */

/* migrations[i] takes the schema from version i to i + 1. Append only. */
static const char *const migrations[] = {
	schema_v1,
	schema_v2,
	schema_v3,
	schema_v4,
	schema_v5,
	schema_v6,
	schema_v7,
};

#define SCHEMA_VERSION ((int64_t)(sizeof(migrations) / sizeof(migrations[0])))

/* ---- cached statements ----------------------------------------------- */

#define SECRET_COLUMNS                                                         \
	"id, workspace, project, cluster, name, type, description, visibility, " \
	"tags_json, keys_json, version, created_at, updated_at, expires_at, "   \
	"created_by, updated_by"

#define VERSION_COLUMNS "version, provider, wrapped_key, ciphertext, created_at, created_by"

/* A version without its blobs (store_version_list). */
#define VERSION_META_COLUMNS "version, provider, created_at, created_by"

#define TOKEN_COLUMNS "id, principal, hash, description, created_at, expires_at, created_by"

#define PRINCIPAL_COLUMNS "name, kind, platform_admin, created_at"

#define MEMBER_COLUMNS "workspace, principal, role, project, cluster, created_at, created_by"

#define AUDIT_COLUMNS                                                        \
	"seq, time, actor, action, workspace, secret, scope, outcome, status, " \
	"client, request_id, prev_hash, hash, target"

enum stmt_id {
	STMT_BEGIN,
	STMT_BEGIN_READ,
	STMT_SNAPSHOT,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_SAVEPOINT,
	STMT_RELEASE,
	STMT_ROLLBACK_TO,
	STMT_WORKSPACE_INSERT,
	STMT_WORKSPACE_GET,
	STMT_WORKSPACE_EXISTS,
	STMT_WORKSPACE_LIST,
	STMT_WORKSPACE_DELETE,
	STMT_WORKSPACE_COUNT_ONE_MORE,
	STMT_SECRET_COUNT,
	STMT_SECRET_COUNT_KEPT,
	STMT_SECRET_COUNT_EXPIRED,
	STMT_SECRET_INSERT,
	STMT_SECRET_GET,
	STMT_SECRET_EXISTS,
	STMT_SECRET_UPDATE,
	STMT_SECRET_DELETE,
	STMT_VERSION_INSERT,
	STMT_VERSION_PRUNE,
	STMT_VERSION_GET,
	STMT_VERSION_LATEST,
	STMT_VERSION_LIST,
	STMT_VERSION_EXISTS,
	STMT_SECRET_PURGE_EXPIRED,
	STMT_PROVIDER_COUNTS,
	STMT_VERSION_SCAN_NOT_UNDER,
	STMT_VERSION_REWRAP,
	STMT_PRINCIPAL_INSERT,
	STMT_PRINCIPAL_GET,
	STMT_PRINCIPAL_EXISTS,
	STMT_PRINCIPAL_LIST,
	STMT_PRINCIPAL_DELETE,
	STMT_MEMBER_PUT,
	STMT_MEMBER_GET,
	STMT_MEMBER_DELETE,
	STMT_MEMBER_LIST,
	STMT_MEMBER_LIST_BY_PRINCIPAL,
	STMT_AUDIT_LAST,
	STMT_AUDIT_INSERT,
	STMT_JOURNAL_APPLIED,
	STMT_JOURNAL_ADVANCE,
	STMT_JOURNAL_START,
	STMT_JOURNAL_FORGET,
	STMT_JOURNAL_FORGET_ALL,
	STMT_TOKEN_INSERT,
	STMT_TOKEN_GET_BY_HASH,
	STMT_TOKEN_LIST,
	STMT_TOKEN_DELETE,
	STMT_COUNT_
};

static const char *const stmt_sql[STMT_COUNT_] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_BEGIN_READ] = "BEGIN DEFERRED",
	[STMT_SNAPSHOT] = "SELECT 1 FROM workspaces LIMIT 1",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_SAVEPOINT] = "SAVEPOINT store_unit",
	[STMT_RELEASE] = "RELEASE store_unit",
	[STMT_ROLLBACK_TO] = "ROLLBACK TO store_unit",

	[STMT_WORKSPACE_INSERT] = "INSERT INTO workspaces (name, created_at, created_by) VALUES (?1, ?2, ?3)",
	[STMT_WORKSPACE_GET] = "SELECT name, created_at, created_by FROM workspaces WHERE name = ?1",
	[STMT_WORKSPACE_EXISTS] = "SELECT 1 FROM workspaces WHERE name = ?1",
	[STMT_WORKSPACE_LIST] = "SELECT name, created_at, created_by FROM workspaces ORDER BY name",
	[STMT_WORKSPACE_DELETE] = "DELETE FROM workspaces WHERE name = ?1",
	[STMT_WORKSPACE_COUNT_ONE_MORE] = "UPDATE workspaces SET secret_count = secret_count + 1 WHERE name = ?1",

	[STMT_SECRET_COUNT] = "SELECT COUNT(*) FROM secrets WHERE workspace = ?1",
	[STMT_SECRET_COUNT_KEPT] = "SELECT secret_count FROM workspaces WHERE name = ?1",
	[STMT_SECRET_COUNT_EXPIRED] = "SELECT COUNT(*) FROM secrets WHERE workspace = ?1"
	                              " AND expires_at > 0 AND expires_at <= ?2",
	[STMT_SECRET_INSERT] = "INSERT INTO secrets (workspace, project, cluster, name, type, description,"
	                       " visibility, tags_json, keys_json, version, created_at, updated_at,"
	                       " expires_at, created_by, updated_by)"
	                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
	[STMT_SECRET_GET] = "SELECT " SECRET_COLUMNS " FROM secrets"
	                    " WHERE workspace = ?1 AND project = ?2 AND cluster = ?3 AND name = ?4",
	[STMT_SECRET_EXISTS] = "SELECT 1 FROM secrets WHERE id = ?1",
	[STMT_SECRET_UPDATE] = "UPDATE secrets SET type = ?2, description = ?3, visibility = ?4,"
	                       " tags_json = ?5, keys_json = ?6, version = ?7, updated_at = ?8,"
	                       " updated_by = ?9, expires_at = ?10 WHERE id = ?1",
	[STMT_SECRET_DELETE] = "DELETE FROM secrets WHERE id = ?1",

	[STMT_VERSION_INSERT] = "INSERT INTO secret_versions (secret_id, version, provider, wrapped_key,"
	                        " ciphertext, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[STMT_VERSION_PRUNE] = "DELETE FROM secret_versions WHERE secret_id = ?1 AND version NOT IN"
	                       " (SELECT version FROM secret_versions WHERE secret_id = ?1"
	                       " ORDER BY version DESC LIMIT ?2)",
	[STMT_VERSION_GET] = "SELECT " VERSION_COLUMNS " FROM secret_versions WHERE secret_id = ?1 AND version = ?2",
	[STMT_VERSION_LATEST] = "SELECT " VERSION_COLUMNS " FROM secret_versions WHERE secret_id = ?1"
	                        " ORDER BY version DESC LIMIT 1",
	[STMT_VERSION_LIST] = "SELECT " VERSION_META_COLUMNS " FROM secret_versions WHERE secret_id = ?1"
	                      " ORDER BY version DESC",
	[STMT_VERSION_EXISTS] = "SELECT 1 FROM secret_versions WHERE secret_id = ?1 AND version = ?2",

	/* "expires_at > 0" (not "<> 0") lets the partial index secrets_expires
	 * serve it: times are Unix seconds, so a set expires_at is > 0. */
	[STMT_SECRET_PURGE_EXPIRED] = "DELETE FROM secrets WHERE expires_at > 0 AND expires_at <= ?1",

	/* Key rotation. The counts are a scan of the covering index
	 * secret_versions_provider. The scan walks the primary key
	 * (secret_id, version) from the cursor on (a range search, so each
	 * batch starts where the last one ended) and looks each version's
	 * secret up by id; CROSS JOIN keeps secret_versions the outer loop. */
	[STMT_PROVIDER_COUNTS] = "SELECT provider, COUNT(*) FROM secret_versions GROUP BY provider ORDER BY provider",
	[STMT_VERSION_SCAN_NOT_UNDER] = "SELECT v.secret_id, s.workspace, s.project, s.cluster, s.name, s.type,"
	                                " v.version, v.provider, v.wrapped_key, v.ciphertext, v.created_at,"
	                                " v.created_by FROM secret_versions AS v CROSS JOIN secrets AS s"
	                                " ON s.id = v.secret_id WHERE (v.secret_id, v.version) > (?2, ?3)"
	                                " AND v.provider <> ?1 ORDER BY v.secret_id, v.version LIMIT ?4",
	/* The compare-and-swap: only while the provider is still ?3. A NULL
	 * ?6 keeps the ciphertext. */
	[STMT_VERSION_REWRAP] = "UPDATE secret_versions SET provider = ?4, wrapped_key = ?5,"
	                        " ciphertext = coalesce(?6, ciphertext)"
	                        " WHERE secret_id = ?1 AND version = ?2 AND provider = ?3",

	[STMT_PRINCIPAL_INSERT] = "INSERT INTO principals (" PRINCIPAL_COLUMNS ") VALUES (?1, ?2, ?3, ?4)",
	[STMT_PRINCIPAL_GET] = "SELECT " PRINCIPAL_COLUMNS " FROM principals WHERE name = ?1",
	[STMT_PRINCIPAL_EXISTS] = "SELECT 1 FROM principals WHERE name = ?1",
	[STMT_PRINCIPAL_LIST] = "SELECT " PRINCIPAL_COLUMNS " FROM principals ORDER BY name",
	[STMT_PRINCIPAL_DELETE] = "DELETE FROM principals WHERE name = ?1",

	/* A replaced binding takes every column from the new one, created_at
	 * and created_by included: it is a new grant, by whoever made it. */
	[STMT_MEMBER_PUT] = "INSERT INTO members (" MEMBER_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	                    " ON CONFLICT (workspace, principal) DO UPDATE SET role = excluded.role,"
	                    " project = excluded.project, cluster = excluded.cluster,"
	                    " created_at = excluded.created_at, created_by = excluded.created_by",
	[STMT_MEMBER_GET] = "SELECT " MEMBER_COLUMNS " FROM members WHERE workspace = ?1 AND principal = ?2",
	[STMT_MEMBER_DELETE] = "DELETE FROM members WHERE workspace = ?1 AND principal = ?2",
	[STMT_MEMBER_LIST] = "SELECT " MEMBER_COLUMNS " FROM members WHERE workspace = ?1 ORDER BY principal",
	[STMT_MEMBER_LIST_BY_PRINCIPAL] = "SELECT " MEMBER_COLUMNS " FROM members WHERE principal = ?1"
	                                  " ORDER BY workspace",

	[STMT_AUDIT_LAST] = "SELECT " AUDIT_COLUMNS " FROM audit_log ORDER BY seq DESC LIMIT 1",
	[STMT_AUDIT_INSERT] = "INSERT INTO audit_log (" AUDIT_COLUMNS ")"
	                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[STMT_JOURNAL_APPLIED] = "SELECT applied FROM audit_journal WHERE id = ?1",
	[STMT_JOURNAL_ADVANCE] = "UPDATE audit_journal SET applied = ?2 WHERE id = ?1 AND applied = ?2 - 1",
	[STMT_JOURNAL_START] = "INSERT INTO audit_journal (id, applied) VALUES (?1, 1)",
	[STMT_JOURNAL_FORGET] = "DELETE FROM audit_journal WHERE id = ?1",
	/* With a WHERE clause: a bare DELETE empties the table without calling
	 * the update hook (note_row_change), which every change must reach. */
	[STMT_JOURNAL_FORGET_ALL] = "DELETE FROM audit_journal WHERE id <> ''",

	[STMT_TOKEN_INSERT] = "INSERT INTO tokens (" TOKEN_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[STMT_TOKEN_GET_BY_HASH] = "SELECT " TOKEN_COLUMNS " FROM tokens WHERE hash = ?1",
	[STMT_TOKEN_LIST] = "SELECT " TOKEN_COLUMNS " FROM tokens ORDER BY created_at, rowid",
	[STMT_TOKEN_DELETE] = "DELETE FROM tokens WHERE id = ?1",
};

/*
 * store_secret_list's SQL depends on which filters are set, on the order
 * and on how it pages (by offset or by keyset), so it is assembled from the
 * fixed fragments below. Each filter has a fixed parameter number (?2 + its
 * index; ?1 is the workspace, ?11/?12 limit/offset, ?13/?14 the keyset
 * position), so user values are only ever bound. The assembled statements
 * are cached like the others, lazily, keyed by the filter bit mask, the
 * order and the paging: there are at most 512 x 12 of them, and a server
 * only ever uses a handful, so caching costs one pointer array (48 KiB) per
 * connection.
 */
#define LIST_TEXT_FILTERS 8          /* bound to text: list_filter_sql[0..7] */
#define LIST_FILTER_EXPIRED 8        /* hide_expired, bound to `now` */
#define LIST_FILTERS 9
#define LIST_MASKS (1u << LIST_FILTERS)
#define LIST_ORDERS 6                /* 3 sorts x 2 directions */
#define LIST_KINDS (2 * LIST_ORDERS) /* each order by offset, then each by keyset */
#define LIST_PARAM_LIMIT 11
#define LIST_PARAM_OFFSET 12
#define LIST_PARAM_AFTER_KEY 13      /* after_name or after_time */
#define LIST_PARAM_AFTER_ID 14

static const char *const list_filter_sql[LIST_FILTERS] = {
	/* search: ?2 is a LIKE pattern whose wildcards in user text are escaped */
	("(name LIKE ?2 ESCAPE '\\' OR description LIKE ?2 ESCAPE '\\'"
	 " OR EXISTS (SELECT 1 FROM json_each(secrets.tags_json) WHERE value LIKE ?2 ESCAPE '\\'))"),
	"type = ?3",
	"EXISTS (SELECT 1 FROM json_each(secrets.tags_json) WHERE value = ?4)",
	"project = ?5",
	"cluster = ?6",
	"created_by = ?7",
	"visibility = ?8",
	/* visible_to: every secret but the private ones of someone else */
	"(visibility <> 'private' OR created_by = ?9)",
	/* hide_expired: ?10 is now */
	"(expires_at = 0 OR expires_at > ?10)",
};

/*
 * Keyset pages: the rows after (key, id) in the order are those with the
 * same key and a later id, then those with a later key. SQLite cannot
 * search an index by a row value that ends with the rowid ("(key, id) >
 * (?, ?)" only bounds key, so a page after many equal keys - a batch
 * created in one second - would step over all of them), so the query is a
 * UNION ALL of two index searches: "key = ? AND id > ?" (the rowid ends
 * every index) and "key > ?". Each comes out of the order's index in order
 * and the ORDER BY merges them (MERGE in EXPLAIN QUERY PLAN), with no sort.
 *
 * The first search names its index (INDEXED BY): left to itself, SQLite
 * rates "type = ? AND id > ?" on secrets_ws_type as good as "key = ? AND
 * id > ?" on the order's index, and with a type filter walked every
 * secret of that type after the id (0.7 s in a workspace of a million)
 * instead of the few with that key. INDEXED BY also makes preparing fail
 * if the index is ever gone, rather than the page turning slow.
 * Indexed by sort.
 */
static const struct {
	const char *column; /* the sort key */
	const char *index;  /* the index on (workspace, column), rowid last */
} list_key_sql[3] = {
	{"name", "secrets_ws_name"},
	{"created_at", "secrets_ws_created"},
	{"updated_at", "secrets_ws_updated"},
};

_Static_assert(STORE_SORT_NAME == 0 && STORE_SORT_CREATED == 1 && STORE_SORT_UPDATED == 2,
               "list_key_sql and list_order_sql are indexed by sort");

/* Indexed by sort * 2 + descending; ties are broken by id. */
static const char *const list_order_sql[LIST_ORDERS] = {
	"name ASC, id ASC",
	"name DESC, id DESC",
	"created_at ASC, id ASC",
	"created_at DESC, id DESC",
	"updated_at ASC, id ASC",
	"updated_at DESC, id DESC",
};

/*
 * store_audit_list's SQL is assembled the same way: one fragment per filter
 * with a fixed parameter (?1 + its index), then seq > after and the page.
 * The after bound is always there: after = 0 matches every record, as seq
 * starts at 1. At most 128 statements, cached lazily by filter mask.
 */
#define AUDIT_FILTERS 7
#define AUDIT_MASKS (1u << AUDIT_FILTERS)
#define AUDIT_PARAM_AFTER 8
#define AUDIT_PARAM_LIMIT 9

static const char *const audit_filter_sql[AUDIT_FILTERS] = {
	"workspace = ?1", "secret = ?2", "actor = ?3", "action = ?4", "outcome = ?5", "time >= ?6", "time <= ?7",
};

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

#define LIST_SQL_MAX 4096

/*
 * The newest audit record, as this connection last appended it, so that
 * the next append does not read it back (store_audit_last): on the group
 * commit writer that read was a statement per record. It holds while the
 * database is as this connection left it. SQLite's data version tells: it
 * moves when a transaction of this connection starts on a database
 * another connection has committed to since, and at each commit of this
 * connection's own (noted after the commit). A rollback, whole or to a
 * savepoint, and any failed statement forget it.
 */
struct audit_head {
	bool known;
	unsigned data_version;
	struct store_audit rec;
};

/*
 * Light units (store_set_light_units), for the rest of one transaction:
 * a unit keeps no copy of the pages it changes (SQLite's savepoint
 * journal), only the connection's total of changed rows when it began, so
 * its rollback can tell whether there was anything to undo. If there was,
 * the transaction is lost.
 */
#define LIGHT_DEPTH_MAX 16

struct light_units {
	bool on;
	bool undo_lost; /* a unit that changed rows failed */
	int depth;      /* units open */
	sqlite3_int64 changes_at[LIGHT_DEPTH_MAX]; /* by depth, up to LIGHT_DEPTH_MAX */
};

struct sqlite_store {
	struct store base; /* first: a struct store * is a struct sqlite_store * */
	sqlite3 *db;
	sqlite3_stmt *stmts[STMT_COUNT_];
	sqlite3_stmt *list_stmts[LIST_MASKS][LIST_KINDS];
	sqlite3_stmt *count_stmts[LIST_MASKS];
	sqlite3_stmt *audit_stmts[AUDIT_MASKS];
	int wal_frames;      /* after this connection's last commit (when checkpoints are deferred) */
	int checkpoint_mark; /* wal_frames when a checkpoint was last due */
	enum store_durability durability;
	int wal_fd; /* the WAL, for store_flush; -1 until first needed */
	struct audit_head audit_head;
	struct light_units light;
	bool data_changed; /* the open transaction changed a row outside the audit log (counted as begun) */
};

/* WAL frames (pages) of growth after which a background checkpoint is due:
 * SQLite's own default for automatic checkpoints. */
#define CHECKPOINT_FRAMES 1000
/* WAL frames (~64 MiB) beyond which the writing connection restarts the
 * log itself (store.h, STORE_CHECKPOINT_RESTART). */
#define CHECKPOINT_RESTART_FRAMES 16000
/* How long such a restart waits for readers to leave the log before it
 * gives up, in ms: the writer waits meanwhile. */
#define CHECKPOINT_RESTART_WAIT_MS 50
/* The busy timeout of every connection, in ms. */
#define BUSY_TIMEOUT_MS 10000

static struct sqlite_store *to_sqlite(struct store *s)
{
	return (struct sqlite_store *)s;
}

/* ---- counting changes (store_changes_begun) -------------------------- */

/* SQLite's update hook: a row was inserted, updated or deleted. Every
 * table has a rowid, and no statement deletes a whole table (SQLite then
 * skips the hook), so no change of a row goes unseen; cascades and upserts
 * call it too. The first change of a transaction outside the audit log
 * and its journal table counts it as begun. */
static void note_row_change(void *arg, int op, const char *db, const char *table, sqlite3_int64 rowid)
{
	struct sqlite_store *ss = arg;

	(void)op;
	(void)db;
	(void)rowid;
	if (!ss->data_changed && strcmp(table, "audit_log") != 0 && strcmp(table, "audit_journal") != 0) {
		ss->data_changed = true;
		store_changes_begin();
	}
}

/* After each statement: once a transaction that changed rows has ended
 * (the connection is back in autocommit after a COMMIT, a ROLLBACK, one
 * SQLite made itself, or a statement that was a transaction of its own),
 * it is counted as ended. */
static void settle_data_changes(struct sqlite_store *ss)
{
	if (ss->data_changed && sqlite3_get_autocommit(ss->db)) {
		ss->data_changed = false;
		store_changes_end();
	}
}

/* ---- errors ---------------------------------------------------------- */

/* struct audit_head: the newest record is no longer known. */
static void audit_head_forget(struct sqlite_store *ss)
{
	ss->audit_head.known = false;
}

/* The tr_status for an (extended) SQLite result code. */
static enum tr_status status_from_rc(int rc)
{
	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return TR_ECONFLICT;
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_FULL:
	case SQLITE_READONLY:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		return TR_EUNAVAIL;
	default:
		return TR_EINTERNAL;
	}
}

/* Fills err from the connection's last error (rc is its result code).
 * SQLite's messages name tables and columns, never bound values. */
static enum tr_status db_error(struct sqlite_store *ss, int rc, struct tr_error *err)
{
	audit_head_forget(ss); /* the statement may have rolled back more than itself */
	return tr_error_set(err, status_from_rc(rc), "storage: %s", sqlite3_errmsg(ss->db));
}

/* A lookup that found nothing: no message, the caller words it. */
static enum tr_status not_found(struct tr_error *err)
{
	return tr_error_set(err, TR_ENOTFOUND, "%s", "");
}

static enum tr_status out_of_memory(struct tr_error *err)
{
	return tr_error_set(err, TR_EINTERNAL, "storage: out of memory");
}

/* A stored row that does not fit its struct: the file was changed behind
 * tresor's back. */
static enum tr_status bad_row(const char *table, struct tr_error *err)
{
	return tr_error_set(err, TR_EINTERNAL, "storage: unreadable row in %s", table);
}

/* ---- statements ------------------------------------------------------ */

static enum tr_status prepare(struct sqlite_store *ss, const char *sql, sqlite3_stmt **out, struct tr_error *err)
{
	int rc = sqlite3_prepare_v3(ss->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);

	if (rc != SQLITE_OK)
		return db_error(ss, rc, err);
	return TR_OK;
}

/* Refuses a statement that is still stepping: a list callback re-entered
 * the store with the same query, which would reset the outer one. */
static enum tr_status check_idle(sqlite3_stmt *st, struct tr_error *err)
{
	if (sqlite3_stmt_busy(st))
		return tr_error_set(err, TR_EINTERNAL, "storage: query re-entered from its own callback");
	return TR_OK;
}

static enum tr_status stmt_get(struct sqlite_store *ss, enum stmt_id id, sqlite3_stmt **out, struct tr_error *err)
{
	enum tr_status status = check_idle(ss->stmts[id], err);

	if (status == TR_OK)
		*out = ss->stmts[id];
	return status;
}

/* Makes a statement reusable. Every function that took one calls this. */
static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Collects bind results so a run of binds is checked once. Values are bound
 * SQLITE_STATIC: they outlive the statement's use, which ends in stmt_done. */
struct binder {
	sqlite3_stmt *st;
	int rc;
};

/* Binds a fixed-size struct field (at most max bytes, NUL or not). */
static void bind_text(struct binder *b, int idx, const char *text, size_t max)
{
	if (b->rc == SQLITE_OK)
		b->rc = sqlite3_bind_text64(b->st, idx, text, strnlen(text, max), SQLITE_STATIC, SQLITE_UTF8);
}

/* Binds a NUL-terminated string. */
static void bind_str(struct binder *b, int idx, const char *text)
{
	if (b->rc == SQLITE_OK)
		b->rc = sqlite3_bind_text64(b->st, idx, text, strlen(text), SQLITE_STATIC, SQLITE_UTF8);
}

/* Binds a JSON array; NULL stands for "[]". */
static void bind_json(struct binder *b, int idx, const char *json)
{
	bind_str(b, idx, json ? json : "[]");
}

static void bind_int(struct binder *b, int idx, int64_t value)
{
	if (b->rc == SQLITE_OK)
		b->rc = sqlite3_bind_int64(b->st, idx, value);
}

/* Binds bytes; an empty blob is a zero-length blob, not NULL. */
static void bind_blob(struct binder *b, int idx, const void *data, size_t len)
{
	if (b->rc != SQLITE_OK)
		return;
	if (len == 0)
		b->rc = sqlite3_bind_zeroblob(b->st, idx, 0);
	else
		b->rc = sqlite3_bind_blob64(b->st, idx, data, len, SQLITE_STATIC);
}

static enum tr_status bind_check(struct sqlite_store *ss, const struct binder *b, struct tr_error *err)
{
	if (b->rc != SQLITE_OK)
		return db_error(ss, b->rc, err);
	return TR_OK;
}

/* Steps once: *row is true when a row is ready, false at the end. */
static enum tr_status step_row(struct sqlite_store *ss, sqlite3_stmt *st, bool *row, struct tr_error *err)
{
	int rc = sqlite3_step(st);

	settle_data_changes(ss);
	if (rc == SQLITE_ROW) {
		*row = true;
		return TR_OK;
	}
	if (rc == SQLITE_DONE) {
		*row = false;
		return TR_OK;
	}
	return db_error(ss, rc, err);
}

/* Binds were made; runs a statement that returns no rows. */
static enum tr_status run_bound(struct sqlite_store *ss, const struct binder *b, struct tr_error *err)
{
	enum tr_status status = bind_check(ss, b, err);
	int rc;

	if (status != TR_OK)
		return status;
	rc = sqlite3_step(b->st);
	settle_data_changes(ss);
	if (rc != SQLITE_DONE)
		return db_error(ss, rc, err);
	return TR_OK;
}

/* Binds were made; steps to the first row. TR_ENOTFOUND if there is none. */
static enum tr_status fetch_one(struct sqlite_store *ss, const struct binder *b, struct tr_error *err)
{
	enum tr_status status = bind_check(ss, b, err);
	bool row = false;

	if (status == TR_OK)
		status = step_row(ss, b->st, &row, err);
	if (status == TR_OK && !row)
		status = not_found(err);
	return status;
}

/* Runs a cached statement without parameters (BEGIN, COMMIT, ...). */
static enum tr_status run_stmt(struct sqlite_store *ss, enum stmt_id id, struct tr_error *err)
{
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, id, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	status = run_bound(ss, &b, err);
	stmt_done(st);
	return status;
}

/* ---- reading columns ------------------------------------------------- */

/* Copies a text column into a fixed buffer; false if it does not fit.
 * NULL reads as "". */
static bool col_text(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	const unsigned char *text = sqlite3_column_text(st, col);
	size_t len = (size_t)sqlite3_column_bytes(st, col);

	if (!text)
		len = 0;
	if (len >= size)
		return false;
	if (len > 0)
		memcpy(buf, text, len);
	buf[len] = '\0';
	return true;
}

/* A malloc'd copy of a JSON text column, "[]" when NULL; NULL on OOM. */
static char *col_json(sqlite3_stmt *st, int col)
{
	const unsigned char *text = sqlite3_column_text(st, col);
	size_t len = (size_t)sqlite3_column_bytes(st, col);
	char *copy;

	if (!text)
		return strdup("[]");
	copy = malloc(len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, text, len);
	copy[len] = '\0';
	return copy;
}

/* Copies a blob column into blob; false on OOM. */
static bool col_blob(sqlite3_stmt *st, int col, struct store_blob *blob)
{
	const void *data = sqlite3_column_blob(st, col);
	size_t len = (size_t)sqlite3_column_bytes(st, col);

	if (!data && len > 0)
		return false;
	return store_blob_set(blob, data, len) == TR_OK;
}

static bool read_workspace(sqlite3_stmt *st, struct store_workspace *ws)
{
	ws->created_at = sqlite3_column_int64(st, 1);
	return col_text(st, 0, ws->name, sizeof(ws->name)) &&
	       col_text(st, 2, ws->created_by, sizeof(ws->created_by));
}

/* Reads a row of SECRET_COLUMNS. On false, s may hold heap strings:
 * the caller clears it. */
static bool read_secret(sqlite3_stmt *st, struct store_secret *s)
{
	s->id = sqlite3_column_int64(st, 0);
	s->version = sqlite3_column_int64(st, 10);
	s->created_at = sqlite3_column_int64(st, 11);
	s->updated_at = sqlite3_column_int64(st, 12);
	s->expires_at = sqlite3_column_int64(st, 13);
	s->tags_json = col_json(st, 8);
	s->keys_json = col_json(st, 9);
	return s->tags_json && s->keys_json && col_text(st, 1, s->workspace, sizeof(s->workspace)) &&
	       col_text(st, 2, s->project, sizeof(s->project)) && col_text(st, 3, s->cluster, sizeof(s->cluster)) &&
	       col_text(st, 4, s->name, sizeof(s->name)) && col_text(st, 5, s->type, sizeof(s->type)) &&
	       col_text(st, 6, s->description, sizeof(s->description)) &&
	       col_text(st, 7, s->visibility, sizeof(s->visibility)) &&
	       col_text(st, 14, s->created_by, sizeof(s->created_by)) &&
	       col_text(st, 15, s->updated_by, sizeof(s->updated_by));
}

/* Reads a row of VERSION_COLUMNS. On false, v may hold blobs: the caller
 * clears it. */
static bool read_version(sqlite3_stmt *st, struct store_version *v)
{
	v->version = sqlite3_column_int64(st, 0);
	v->created_at = sqlite3_column_int64(st, 4);
	return col_text(st, 1, v->provider, sizeof(v->provider)) && col_blob(st, 2, &v->wrapped_key) &&
	       col_blob(st, 3, &v->ciphertext) && col_text(st, 5, v->created_by, sizeof(v->created_by));
}

static bool read_principal(sqlite3_stmt *st, struct store_principal *p)
{
	p->platform_admin = sqlite3_column_int64(st, 2) != 0;
	p->created_at = sqlite3_column_int64(st, 3);
	return col_text(st, 0, p->name, sizeof(p->name)) && col_text(st, 1, p->kind, sizeof(p->kind));
}

/* Reads a row of TOKEN_COLUMNS; the hash must be exactly 32 bytes. */
static bool read_token(sqlite3_stmt *st, struct store_token *t)
{
	const void *hash = sqlite3_column_blob(st, 2);

	if (!hash || sqlite3_column_bytes(st, 2) != (int)sizeof(t->hash))
		return false;
	memcpy(t->hash, hash, sizeof(t->hash));
	t->created_at = sqlite3_column_int64(st, 4);
	t->expires_at = sqlite3_column_int64(st, 5);
	return col_text(st, 0, t->id, sizeof(t->id)) && col_text(st, 1, t->principal, sizeof(t->principal)) &&
	       col_text(st, 3, t->description, sizeof(t->description)) &&
	       col_text(st, 6, t->created_by, sizeof(t->created_by));
}

/* Reads a row of MEMBER_COLUMNS. */
static bool read_member(sqlite3_stmt *st, struct store_member *m)
{
	m->created_at = sqlite3_column_int64(st, 5);
	return col_text(st, 0, m->workspace, sizeof(m->workspace)) &&
	       col_text(st, 1, m->principal, sizeof(m->principal)) && col_text(st, 2, m->role, sizeof(m->role)) &&
	       col_text(st, 3, m->project, sizeof(m->project)) && col_text(st, 4, m->cluster, sizeof(m->cluster)) &&
	       col_text(st, 6, m->created_by, sizeof(m->created_by));
}

/* Copies a hash column; false unless it is exactly STORE_AUDIT_HASH_BYTES
 * bytes of blob (NULL and text included). */
static bool col_hash(sqlite3_stmt *st, int col, unsigned char out[STORE_AUDIT_HASH_BYTES])
{
	const void *data;

	if (sqlite3_column_type(st, col) != SQLITE_BLOB)
		return false;
	data = sqlite3_column_blob(st, col);
	if (!data || sqlite3_column_bytes(st, col) != STORE_AUDIT_HASH_BYTES)
		return false;
	memcpy(out, data, STORE_AUDIT_HASH_BYTES);
	return true;
}

/*
 * Reads a row of AUDIT_COLUMNS. A text column that does not fit its field,
 * or a status that is not an int, makes the row unreadable (false), as in
 * the other tables: the struct cannot hold what is stored.
 *
 * A hash or prev_hash that is not exactly 32 bytes, though, is not an error:
 * the row reads with BOTH hashes zeroed. The audit log must stay listable so
 * that `tresor audit verify` can name the first bad record instead of
 * failing as a whole, and a zero hash never equals a computed one, so the
 * record fails the check of its own hash whatever its seq. (Zeroing only
 * prev_hash would not do: zeros are the genuine prev_hash of record 1.)
 * Padding or cutting the bytes is never done: it could make a broken value
 * look plausible. The schema's CHECKs keep such rows out; this only meets
 * a file changed behind tresor's back.
 */
static bool read_audit(sqlite3_stmt *st, struct store_audit *rec)
{
	int64_t status = sqlite3_column_int64(st, 8);

	rec->seq = sqlite3_column_int64(st, 0);
	rec->time = sqlite3_column_int64(st, 1);
	if (status < INT_MIN || status > INT_MAX)
		return false;
	rec->status = (int)status;
	if (!col_hash(st, 11, rec->prev_hash) || !col_hash(st, 12, rec->hash)) {
		memset(rec->prev_hash, 0, sizeof(rec->prev_hash));
		memset(rec->hash, 0, sizeof(rec->hash));
	}
	return col_text(st, 2, rec->actor, sizeof(rec->actor)) && col_text(st, 3, rec->action, sizeof(rec->action)) &&
	       col_text(st, 4, rec->workspace, sizeof(rec->workspace)) &&
	       col_text(st, 5, rec->secret, sizeof(rec->secret)) && col_text(st, 6, rec->scope, sizeof(rec->scope)) &&
	       col_text(st, 7, rec->outcome, sizeof(rec->outcome)) &&
	       col_text(st, 9, rec->client, sizeof(rec->client)) &&
	       col_text(st, 10, rec->request_id, sizeof(rec->request_id)) &&
	       col_text(st, 13, rec->target, sizeof(rec->target));
}

/* ---- the audit head (struct audit_head) ------------------------------ */

static bool data_version(struct sqlite_store *ss, unsigned *version)
{
	return sqlite3_file_control(ss->db, "main", SQLITE_FCNTL_DATA_VERSION, version) == SQLITE_OK;
}

/* rec is now the newest record in this connection's transaction. */
static void audit_head_note(struct sqlite_store *ss, const struct store_audit *rec)
{
	struct audit_head *head = &ss->audit_head;

	head->known = data_version(ss, &head->data_version);
	if (head->known)
		head->rec = *rec;
}

/* Before a commit: whether it is one of this connection's writes (whose
 * commit moves the data version) starting from where the head was noted.
 * A transaction that found another connection's commits at its start has
 * moved the version already; one that only read moves nothing. */
static bool audit_head_before_commit(struct sqlite_store *ss, bool *writes)
{
	unsigned version;

	*writes = sqlite3_txn_state(ss->db, "main") == SQLITE_TXN_WRITE;
	return ss->audit_head.known && *writes && data_version(ss, &version) &&
	       version == ss->audit_head.data_version;
}

/* After this connection's commit: the head holds if it was current
 * before a write (above); the data version moved with the commit. */
static void audit_head_after_commit(struct sqlite_store *ss, bool writes, bool current)
{
	struct audit_head *head = &ss->audit_head;

	if (current)
		head->known = data_version(ss, &head->data_version);
	else if (writes)
		head->known = false;
}

/* The newest record, if known: only inside a transaction that has taken
 * its snapshot (a deferred one takes it at its first read), which brought
 * in any other connection's commits. */
static bool audit_head_get(struct sqlite_store *ss, struct store_audit *out)
{
	const struct audit_head *head = &ss->audit_head;
	unsigned version;

	if (!head->known || sqlite3_txn_state(ss->db, "main") == SQLITE_TXN_NONE || !data_version(ss, &version) ||
	    version != head->data_version)
		return false;
	*out = head->rec;
	return true;
}

/* ---- transactions ---------------------------------------------------- */

/* At the start and end of every transaction: light units last for one. */
static void light_units_end(struct sqlite_store *ss)
{
	memset(&ss->light, 0, sizeof(ss->light));
}

/* The light units of a transaction SQLite ended itself end too; those of
 * one still open (a caller's mistake, which BEGIN refuses) stay. */
static enum tr_status begin(struct sqlite_store *ss, struct tr_error *err)
{
	enum tr_status status = run_stmt(ss, STMT_BEGIN, err);

	if (status == TR_OK)
		light_units_end(ss);
	return status;
}

static void rollback_open(struct sqlite_store *ss)
{
	audit_head_forget(ss);
	light_units_end(ss);
	if (!sqlite3_get_autocommit(ss->db))
		run_stmt(ss, STMT_ROLLBACK, NULL);
}

static enum tr_status work_lost(struct tr_error *err)
{
	return tr_error_set(err, TR_EUNAVAIL, "storage: a failed part of the transaction could not be undone");
}

/* A transaction that lost a unit's undo is rolled back instead. */
static enum tr_status commit(struct sqlite_store *ss, struct tr_error *err)
{
	bool writes;
	bool head_current;
	enum tr_status status;

	if (ss->light.undo_lost) {
		rollback_open(ss);
		return work_lost(err);
	}
	head_current = audit_head_before_commit(ss, &writes);
	status = run_stmt(ss, STMT_COMMIT, err);
	if (status == TR_OK) {
		audit_head_after_commit(ss, writes, head_current);
		light_units_end(ss);
	}
	return status;
}

/* Savepoints, real or light (struct light_units). */
static enum tr_status savepoint_open(struct sqlite_store *ss, struct tr_error *err)
{
	struct light_units *light = &ss->light;

	if (light->on && sqlite3_get_autocommit(ss->db))
		light_units_end(ss); /* SQLite ended the transaction itself */
	if (!light->on)
		return run_stmt(ss, STMT_SAVEPOINT, err);
	if (light->depth < LIGHT_DEPTH_MAX)
		light->changes_at[light->depth] = sqlite3_total_changes64(ss->db);
	light->depth++;
	return TR_OK;
}

static enum tr_status savepoint_release(struct sqlite_store *ss, struct tr_error *err)
{
	if (!ss->light.on)
		return run_stmt(ss, STMT_RELEASE, err);
	if (ss->light.depth > 0)
		ss->light.depth--;
	return TR_OK;
}

/* Undoes the innermost savepoint and closes it. A light one that changed
 * rows (or is too deep to tell) cannot be undone. Errors are ignored, as
 * in unit_undo. */
static void savepoint_undo(struct sqlite_store *ss)
{
	struct light_units *light = &ss->light;

	audit_head_forget(ss);
	if (!light->on) {
		run_stmt(ss, STMT_ROLLBACK_TO, NULL);
		run_stmt(ss, STMT_RELEASE, NULL);
		return;
	}
	if (light->depth == 0) { /* not a light unit's: nothing can undo it */
		light->undo_lost = true;
		return;
	}
	light->depth--;
	if (light->depth >= LIGHT_DEPTH_MAX || sqlite3_total_changes64(ss->db) != light->changes_at[light->depth])
		light->undo_lost = true;
}

enum unit_kind { UNIT_TXN, UNIT_SAVEPOINT };

/* Starts an atomic unit of statements: a transaction of its own (taking
 * the write lock at once) or a savepoint inside the caller's. */
static enum tr_status unit_begin(struct sqlite_store *ss, enum unit_kind *kind, struct tr_error *err)
{
	if (sqlite3_get_autocommit(ss->db)) {
		*kind = UNIT_TXN;
		return begin(ss, err);
	}
	*kind = UNIT_SAVEPOINT;
	return savepoint_open(ss, err);
}

/* Undoes a unit. Errors are ignored: after some failures (SQLITE_FULL,
 * SQLITE_IOERR, ...) SQLite has already rolled everything back. */
static void unit_undo(struct sqlite_store *ss, enum unit_kind kind)
{
	if (kind == UNIT_TXN)
		rollback_open(ss);
	else
		savepoint_undo(ss);
}

/* Ends a unit begun with unit_begin: keeps its work if status is TR_OK and
 * that works, undoes it otherwise. Returns the final status. */
static enum tr_status unit_end(struct sqlite_store *ss, enum unit_kind kind, enum tr_status status,
                               struct tr_error *err)
{
	if (status == TR_OK) {
		status = kind == UNIT_TXN ? commit(ss, err) : savepoint_release(ss, err);
		if (status == TR_OK)
			return TR_OK;
	}
	unit_undo(ss, kind);
	return status;
}

static enum tr_status store_sqlite_begin(struct store *s, struct tr_error *err)
{
	return begin(to_sqlite(s), err);
}

static enum tr_status store_sqlite_commit(struct store *s, struct tr_error *err)
{
	return commit(to_sqlite(s), err);
}

static void store_sqlite_rollback(struct store *s)
{
	rollback_open(to_sqlite(s));
}

static enum tr_status store_sqlite_begin_read(struct store *s, struct tr_error *err)
{
	enum tr_status status = run_stmt(to_sqlite(s), STMT_BEGIN_READ, err);

	if (status == TR_OK)
		light_units_end(to_sqlite(s));
	return status;
}

/* Called by SQLite after each commit of a connection with deferred
 * checkpoints: notes how long the WAL has grown. */
static int note_wal_frames(void *arg, sqlite3 *db, const char *schema, int frames)
{
	struct sqlite_store *ss = arg;

	(void)db;
	(void)schema;
	ss->wal_frames = frames;
	return SQLITE_OK;
}

static void store_sqlite_defer_checkpoints(struct store *s)
{
	struct sqlite_store *ss = to_sqlite(s);

	/* Replaces the automatic checkpoint, which is itself a WAL hook. */
	sqlite3_wal_hook(ss->db, note_wal_frames, ss);
}

/*
 * A checkpoint is due each time the WAL has grown by CHECKPOINT_FRAMES
 * since one was last due (or since the WAL started over), not after every
 * commit while it is long: that copied a few pages and synced the database
 * file after each commit, competing with the commits for the disk (and a
 * fifth of a CPU under load). It is a restart once the log is longer than
 * CHECKPOINT_RESTART_FRAMES; one that a slow reader made give up is tried
 * again only after the next CHECKPOINT_FRAMES, so the writer does not wait
 * after every group.
 */
static enum store_checkpoint store_sqlite_checkpoint_due(struct store *s)
{
	struct sqlite_store *ss = to_sqlite(s);

	if (ss->wal_frames < ss->checkpoint_mark)
		ss->checkpoint_mark = 0; /* the WAL started over */
	if (ss->wal_frames - ss->checkpoint_mark < CHECKPOINT_FRAMES)
		return STORE_CHECKPOINT_NONE;
	ss->checkpoint_mark = ss->wal_frames;
	return ss->wal_frames >= CHECKPOINT_RESTART_FRAMES ? STORE_CHECKPOINT_RESTART : STORE_CHECKPOINT_BACKGROUND;
}

static enum tr_status store_sqlite_checkpoint(struct store *s, enum store_checkpoint kind, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	int rc;

	if (kind == STORE_CHECKPOINT_NONE)
		return TR_OK;
	if (kind == STORE_CHECKPOINT_BACKGROUND) {
		rc = sqlite3_wal_checkpoint_v2(ss->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	} else {
		/* Readers hold their snapshots for a loop iteration at most;
		 * one that takes longer makes this give up until next time. */
		sqlite3_busy_timeout(ss->db, CHECKPOINT_RESTART_WAIT_MS);
		rc = sqlite3_wal_checkpoint_v2(ss->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
		sqlite3_busy_timeout(ss->db, BUSY_TIMEOUT_MS);
	}
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		return tr_error_set(err, status_from_rc(rc), "storage: checkpoint failed: %s", sqlite3_errmsg(ss->db));
	return TR_OK;
}

/*
 * Opens the WAL for store_flush and makes its directory entry durable, as
 * SQLite does itself at the first sync of a new WAL: a commit made with
 * synchronous=NORMAL may be the first one after the file was created.
 */
static enum tr_status wal_open(struct sqlite_store *ss, struct tr_error *err)
{
	const char *db_path = sqlite3_db_filename(ss->db, "main");
	const char *wal_path;

	if (ss->wal_fd >= 0 || !db_path || !db_path[0])
		return TR_OK; /* open already, or in memory: nothing to flush */
	wal_path = sqlite3_filename_wal(db_path);
	if (fsync_parent_dir(wal_path) != 0)
		return tr_error_set(err, TR_EUNAVAIL, "storage: cannot sync the database directory: %s", strerror(errno));
	ss->wal_fd = open(wal_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (ss->wal_fd < 0)
		return tr_error_set(err, TR_EUNAVAIL, "storage: cannot open the WAL: %s", strerror(errno));
	return TR_OK;
}

/* The pragma takes effect when it is compiled, so it cannot be a prepared
 * statement run again; SQLite refuses it inside a transaction. */
static enum tr_status store_sqlite_set_durability(struct store *s, enum store_durability durability,
                                                  struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	const char *sql = durability == STORE_DURABLE ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
	enum tr_status status = TR_OK;
	int rc;

	if (durability == ss->durability)
		return TR_OK;
	if (durability == STORE_FLUSH_LATER)
		status = wal_open(ss, err);
	if (status != TR_OK)
		return status;
	rc = sqlite3_exec(ss->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_error(ss, rc, err);
	ss->durability = durability;
	return TR_OK;
}

/* fdatasync is what SQLite's own sync of the WAL does on Linux. */
static enum tr_status store_sqlite_flush(struct store *s, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);

	if (ss->wal_fd >= 0 && fdatasync(ss->wal_fd) != 0)
		return tr_error_set(err, TR_EUNAVAIL, "storage: cannot sync the WAL: %s", strerror(errno));
	return TR_OK;
}

static enum tr_status store_sqlite_savepoint(struct store *s, struct tr_error *err)
{
	return savepoint_open(to_sqlite(s), err);
}

static enum tr_status store_sqlite_release(struct store *s, struct tr_error *err)
{
	return savepoint_release(to_sqlite(s), err);
}

static void store_sqlite_rollback_to(struct store *s)
{
	savepoint_undo(to_sqlite(s));
}

static void store_sqlite_set_light_units(struct store *s)
{
	struct sqlite_store *ss = to_sqlite(s);

	if (!sqlite3_get_autocommit(ss->db) && ss->light.depth == 0)
		ss->light.on = true;
}

static bool store_sqlite_in_transaction(struct store *s)
{
	struct sqlite_store *ss = to_sqlite(s);

	return !sqlite3_get_autocommit(ss->db) && !ss->light.undo_lost;
}

/* A deferred transaction takes its snapshot at its first read: reading
 * one row of workspaces (or none) is such a read. */
static enum tr_status store_sqlite_take_snapshot(struct store *s, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status;
	bool row = false;

	if (sqlite3_txn_state(ss->db, "main") != SQLITE_TXN_NONE)
		return TR_OK;
	if ((status = stmt_get(ss, STMT_SNAPSHOT, &st, err)) != TR_OK)
		return status;
	status = step_row(ss, st, &row, err);
	stmt_done(st);
	return status;
}

/* ---- existence checks ------------------------------------------------ */

/* Sets *found to whether statement id, bound with one text key, has a row. */
static enum tr_status exists_text(struct sqlite_store *ss, enum stmt_id id, const char *key, bool *found,
                                  struct tr_error *err)
{
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, id, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, key);
	status = bind_check(ss, &b, err);
	if (status == TR_OK)
		status = step_row(ss, st, found, err);
	stmt_done(st);
	return status;
}

static enum tr_status secret_exists(struct sqlite_store *ss, int64_t id, bool *found, struct tr_error *err)
{
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_SECRET_EXISTS, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_int(&b, 1, id);
	status = bind_check(ss, &b, err);
	if (status == TR_OK)
		status = step_row(ss, st, found, err);
	stmt_done(st);
	return status;
}

/* Runs an UPDATE or DELETE of one row, bound by the caller; TR_ENOTFOUND
 * if it matched no row. (sqlite3_changes counts matched rows, and not the
 * rows a cascade removed.) */
static enum tr_status write_one(struct sqlite_store *ss, const struct binder *b, struct tr_error *err)
{
	enum tr_status status = run_bound(ss, b, err);

	if (status == TR_OK && sqlite3_changes(ss->db) == 0)
		status = not_found(err);
	stmt_done(b->st);
	return status;
}

/* ---- workspaces ------------------------------------------------------ */

static enum tr_status store_sqlite_workspace_create(struct store *s, const struct store_workspace *ws,
                                                    struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_WORKSPACE_INSERT, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_text(&b, 1, ws->name, sizeof(ws->name));
	bind_int(&b, 2, ws->created_at);
	bind_text(&b, 3, ws->created_by, sizeof(ws->created_by));
	status = run_bound(ss, &b, err);
	stmt_done(st);
	return status;
}

static enum tr_status store_sqlite_workspace_get(struct store *s, const char *name, struct store_workspace *out,
                                                 struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	struct store_workspace ws = {0};
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_WORKSPACE_GET, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, name);
	status = fetch_one(ss, &b, err);
	if (status == TR_OK && !read_workspace(st, &ws))
		status = bad_row("workspaces", err);
	stmt_done(st);
	if (status == TR_OK)
		*out = ws;
	return status;
}

static enum tr_status store_sqlite_workspace_list(struct store *s, store_workspace_cb cb, void *ctx,
                                                  struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	struct store_workspace ws;
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_WORKSPACE_LIST, &st, err);
	bool row = true;

	if (status != TR_OK)
		return status;
	while (status == TR_OK) {
		status = step_row(ss, st, &row, err);
		if (status != TR_OK || !row)
			break;
		memset(&ws, 0, sizeof(ws));
		if (!read_workspace(st, &ws))
			status = bad_row("workspaces", err);
		else
			cb(ctx, &ws);
	}
	stmt_done(st);
	return status;
}

static enum tr_status store_sqlite_workspace_delete(struct store *s, const char *name, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_WORKSPACE_DELETE, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, name);
	return write_one(ss, &b, err);
}

/* ---- secrets --------------------------------------------------------- */

static enum tr_status store_sqlite_secret_count(struct store *s, const char *workspace, int64_t *out,
                                                struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_SECRET_COUNT, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, workspace);
	status = fetch_one(ss, &b, err);
	if (status == TR_OK)
		*out = sqlite3_column_int64(st, 0);
	stmt_done(st);
	return status;
}

static enum tr_status version_insert(struct sqlite_store *ss, int64_t secret_id, const struct store_version *v,
                                     struct tr_error *err)
{
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_VERSION_INSERT, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_int(&b, 1, secret_id);
	bind_int(&b, 2, v->version);
	bind_text(&b, 3, v->provider, sizeof(v->provider));
	bind_blob(&b, 4, v->wrapped_key.data, v->wrapped_key.len);
	bind_blob(&b, 5, v->ciphertext.data, v->ciphertext.len);
	bind_int(&b, 6, v->created_at);
	bind_text(&b, 7, v->created_by, sizeof(v->created_by));
	status = run_bound(ss, &b, err);
	stmt_done(st);
	return status;
}

/* Inserts the metadata row; *id is its new id. */
static enum tr_status secret_row_insert(struct sqlite_store *ss, const struct store_secret *sec, int64_t *id,
                                        struct tr_error *err)
{
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_SECRET_INSERT, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_text(&b, 1, sec->workspace, sizeof(sec->workspace));
	bind_text(&b, 2, sec->project, sizeof(sec->project));
	bind_text(&b, 3, sec->cluster, sizeof(sec->cluster));
	bind_text(&b, 4, sec->name, sizeof(sec->name));
	bind_text(&b, 5, sec->type, sizeof(sec->type));
	bind_text(&b, 6, sec->description, sizeof(sec->description));
	bind_text(&b, 7, sec->visibility, sizeof(sec->visibility));
	bind_json(&b, 8, sec->tags_json);
	bind_json(&b, 9, sec->keys_json);
	bind_int(&b, 10, sec->version);
	bind_int(&b, 11, sec->created_at);
	bind_int(&b, 12, sec->updated_at);
	bind_int(&b, 13, sec->expires_at);
	bind_text(&b, 14, sec->created_by, sizeof(sec->created_by));
	bind_text(&b, 15, sec->updated_by, sizeof(sec->updated_by));
	status = run_bound(ss, &b, err);
	if (status == TR_OK)
		*id = sqlite3_last_insert_rowid(ss->db);
	stmt_done(st);
	return status;
}

/* The workspace has one secret more (schema v6). */
static enum tr_status count_one_more(struct sqlite_store *ss, const char *workspace, struct tr_error *err)
{
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_WORKSPACE_COUNT_ONE_MORE, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, workspace);
	status = run_bound(ss, &b, err);
	stmt_done(st);
	return status;
}

/* The body of secret_insert, inside its unit. */
static enum tr_status secret_insert_unit(struct sqlite_store *ss, const struct store_secret *sec,
                                         const struct store_version *v, int64_t *id, struct tr_error *err)
{
	char workspace[TR_WORKSPACE_NAME_MAX + 1];
	bool found = false;
	enum tr_status status;

	snprintf(workspace, sizeof(workspace), "%.*s", (int)sizeof(workspace) - 1, sec->workspace);
	status = exists_text(ss, STMT_WORKSPACE_EXISTS, workspace, &found, err);
	if (status != TR_OK)
		return status;
	if (!found)
		return tr_error_set(err, TR_ENOTFOUND, "Workspace '%s' not found", workspace);
	status = secret_row_insert(ss, sec, id, err);
	if (status != TR_OK || (status = count_one_more(ss, workspace, err)) != TR_OK)
		return status;
	return version_insert(ss, *id, v, err);
}

static enum tr_status store_sqlite_secret_insert(struct store *s, struct store_secret *secret,
                                                 const struct store_version *v, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	enum unit_kind kind;
	int64_t id = 0;
	enum tr_status status = unit_begin(ss, &kind, err);

	if (status != TR_OK)
		return status;
	status = secret_insert_unit(ss, secret, v, &id, err);
	status = unit_end(ss, kind, status, err);
	if (status == TR_OK)
		secret->id = id;
	return status;
}

static enum tr_status store_sqlite_secret_get(struct store *s, const char *workspace, const char *project,
                                              const char *cluster, const char *name, struct store_secret *out,
                                              struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	struct store_secret sec = {0};
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_SECRET_GET, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, workspace);
	bind_str(&b, 2, project);
	bind_str(&b, 3, cluster);
	bind_str(&b, 4, name);
	status = fetch_one(ss, &b, err);
	if (status == TR_OK && !read_secret(st, &sec))
		status = bad_row("secrets", err);
	stmt_done(st);
	if (status != TR_OK) {
		store_secret_clear(&sec);
		return status;
	}
	*out = sec;
	return TR_OK;
}

static enum tr_status store_sqlite_secret_update(struct store *s, const struct store_secret *sec,
                                                 struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_SECRET_UPDATE, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_int(&b, 1, sec->id);
	bind_text(&b, 2, sec->type, sizeof(sec->type));
	bind_text(&b, 3, sec->description, sizeof(sec->description));
	bind_text(&b, 4, sec->visibility, sizeof(sec->visibility));
	bind_json(&b, 5, sec->tags_json);
	bind_json(&b, 6, sec->keys_json);
	bind_int(&b, 7, sec->version);
	bind_int(&b, 8, sec->updated_at);
	bind_text(&b, 9, sec->updated_by, sizeof(sec->updated_by));
	bind_int(&b, 10, sec->expires_at);
	return write_one(ss, &b, err);
}

static enum tr_status store_sqlite_secret_delete(struct store *s, int64_t id, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_SECRET_DELETE, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_int(&b, 1, id);
	return write_one(ss, &b, err);
}

/* ---- secret list ----------------------------------------------------- */

struct sql_buf {
	char text[LIST_SQL_MAX];
	size_t len;
	bool overflow;
};

static void sql_append(struct sql_buf *buf, const char *fragment)
{
	size_t n = strlen(fragment);

	if (buf->len + n >= sizeof(buf->text)) {
		buf->overflow = true;
		return;
	}
	memcpy(buf->text + buf->len, fragment, n + 1);
	buf->len += n;
}

/* Hands out the assembled statement cached in *slot, preparing it from buf
 * first if the slot is empty (buf is only read then). */
static enum tr_status cached_stmt(struct sqlite_store *ss, sqlite3_stmt **slot, const struct sql_buf *buf,
                                  sqlite3_stmt **out, struct tr_error *err)
{
	enum tr_status status;

	if (!*slot) {
		if (buf->overflow)
			return tr_error_set(err, TR_EINTERNAL, "storage: assembled query too long");
		status = prepare(ss, buf->text, slot, err);
		if (status != TR_OK)
			return status;
	}
	status = check_idle(*slot, err);
	if (status == TR_OK)
		*out = *slot;
	return status;
}

/* Appends " AND <filter>" for each filter of mask. */
static void list_filters_sql(struct sql_buf *buf, unsigned mask)
{
	unsigned i;

	for (i = 0; i < LIST_FILTERS; i++) {
		if (!(mask & (1u << i)))
			continue;
		sql_append(buf, " AND ");
		sql_append(buf, list_filter_sql[i]);
	}
}

/* Appends "SELECT <columns> FROM secrets [INDEXED BY index] WHERE
 * workspace = ?1". */
static void list_select_sql(struct sql_buf *buf, const char *index)
{
	sql_append(buf, "SELECT " SECRET_COLUMNS " FROM secrets");
	if (index) {
		sql_append(buf, " INDEXED BY ");
		sql_append(buf, index);
	}
	sql_append(buf, " WHERE workspace = ?1");
}

/* The keyset query (see list_key_sql) for a filter mask and an order. */
static void list_keyset_sql(struct sql_buf *buf, unsigned mask, int order)
{
	const char *key = list_key_sql[order / 2].column;
	bool descending = order % 2 != 0;

	list_select_sql(buf, list_key_sql[order / 2].index);
	sql_append(buf, " AND ");
	sql_append(buf, key);
	sql_append(buf, " = ?" STRINGIFY(LIST_PARAM_AFTER_KEY) " AND id");
	sql_append(buf, descending ? " < " : " > ");
	sql_append(buf, "?" STRINGIFY(LIST_PARAM_AFTER_ID));
	list_filters_sql(buf, mask);
	sql_append(buf, " UNION ALL ");
	list_select_sql(buf, NULL);
	sql_append(buf, " AND ");
	sql_append(buf, key);
	sql_append(buf, descending ? " < " : " > ");
	sql_append(buf, "?" STRINGIFY(LIST_PARAM_AFTER_KEY));
	list_filters_sql(buf, mask);
	sql_append(buf, " ORDER BY ");
	sql_append(buf, list_order_sql[order]);
	sql_append(buf, " LIMIT ?" STRINGIFY(LIST_PARAM_LIMIT));
}

/* Assembles the list query for a filter mask and a kind (an order, plus
 * LIST_ORDERS for keyset paging); kind < 0 makes the COUNT. */
static void list_sql(struct sql_buf *buf, unsigned mask, int kind)
{
	if (kind >= LIST_ORDERS) {
		list_keyset_sql(buf, mask, kind - LIST_ORDERS);
		return;
	}
	if (kind < 0)
		sql_append(buf, "SELECT COUNT(*) FROM (SELECT 1 FROM secrets WHERE workspace = ?1");
	else
		list_select_sql(buf, NULL);
	list_filters_sql(buf, mask);
	if (kind < 0) {
		/* Counts no further than one past the cap (list_count). */
		sql_append(buf, " LIMIT " STRINGIFY(STORE_LIST_COUNT_MAX_PLUS_ONE) ")");
		return;
	}
	sql_append(buf, " ORDER BY ");
	sql_append(buf, list_order_sql[kind]);
	sql_append(buf, " LIMIT ?" STRINGIFY(LIST_PARAM_LIMIT) " OFFSET ?" STRINGIFY(LIST_PARAM_OFFSET));
}

/* The cached statement for a filter mask and kind (< 0: the COUNT),
 * prepared on first use. */
static enum tr_status list_stmt(struct sqlite_store *ss, unsigned mask, int kind, sqlite3_stmt **out,
                                struct tr_error *err)
{
	sqlite3_stmt **slot = kind < 0 ? &ss->count_stmts[mask] : &ss->list_stmts[mask][kind];
	struct sql_buf buf = {.len = 0};

	if (!*slot)
		list_sql(&buf, mask, kind);
	return cached_stmt(ss, slot, &buf, out, err);
}

/*
 * A malloc'd LIKE pattern that matches text anywhere, literally: the
 * wildcards % and _ and the escape character \ are escaped with \.
 * NULL on OOM.
 */
static char *like_pattern(const char *text)
{
	size_t len = strlen(text), i, n = 0;
	char *pattern = malloc(2 * len + 3);

	if (!pattern)
		return NULL;
	pattern[n++] = '%';
	for (i = 0; i < len; i++) {
		if (text[i] == '%' || text[i] == '_' || text[i] == '\\')
			pattern[n++] = '\\';
		pattern[n++] = text[i];
	}
	pattern[n++] = '%';
	pattern[n] = '\0';
	return pattern;
}

/* A filter value is set when it is neither NULL nor "". */
static bool is_set(const char *value)
{
	return value && value[0];
}

/* The filters of a list query, ready to bind. */
struct list_filters {
	unsigned mask;                         /* bit i: list_filter_sql[i] is in the query */
	const char *values[LIST_TEXT_FILTERS]; /* in list_filter_sql order */
	int64_t now;                           /* for LIST_FILTER_EXPIRED */
};

/* Fills lf from q. pattern is the escaped search pattern (NULL: no search). */
static void list_filters_init(struct list_filters *lf, const struct store_secret_query *q, const char *pattern)
{
	unsigned i;

	lf->mask = 0;
	lf->values[0] = pattern;
	lf->values[1] = q->type;
	lf->values[2] = q->tag;
	lf->values[3] = q->project;
	lf->values[4] = q->cluster;
	lf->values[5] = q->created_by;
	lf->values[6] = q->visibility;
	lf->values[7] = q->visible_to;
	for (i = 0; i < LIST_TEXT_FILTERS; i++)
		if (is_set(lf->values[i]))
			lf->mask |= 1u << i;
	lf->now = q->now;
	if (q->hide_expired)
		lf->mask |= 1u << LIST_FILTER_EXPIRED;
}

static void bind_filters(struct binder *b, const char *workspace, const struct list_filters *lf)
{
	unsigned i;

	bind_str(b, 1, workspace);
	for (i = 0; i < LIST_TEXT_FILTERS; i++)
		if (lf->mask & (1u << i))
			bind_str(b, (int)i + 2, lf->values[i]);
	if (lf->mask & (1u << LIST_FILTER_EXPIRED))
		bind_int(b, LIST_FILTER_EXPIRED + 2, lf->now);
}

/* An integer answer of a cached statement bound to the workspace (and
 * `now` as ?2 when has_now). */
static enum tr_status count_query(struct sqlite_store *ss, enum stmt_id id, const char *workspace, bool has_now,
                                  int64_t now, int64_t *out, struct tr_error *err)
{
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, id, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, workspace);
	if (has_now)
		bind_int(&b, 2, now);
	status = fetch_one(ss, &b, err);
	*out = status == TR_OK ? sqlite3_column_int64(st, 0) : 0;
	stmt_done(st);
	return status == TR_ENOTFOUND ? TR_OK : status;
}

/* Without filters (expiry aside): the workspace's kept count, less the
 * expired ones when they are hidden. */
static enum tr_status count_unfiltered(struct sqlite_store *ss, const char *workspace, const struct list_filters *lf,
                                       int64_t *count, struct tr_error *err)
{
	int64_t expired = 0;
	enum tr_status status = count_query(ss, STMT_SECRET_COUNT_KEPT, workspace, false, 0, count, err);

	if (status == TR_OK && (lf->mask & (1u << LIST_FILTER_EXPIRED)))
		status = count_query(ss, STMT_SECRET_COUNT_EXPIRED, workspace, true, lf->now, &expired, err);
	*count -= expired;
	return status;
}

static enum tr_status list_count(struct sqlite_store *ss, const char *workspace, const struct list_filters *lf,
                                 int64_t *count, struct tr_error *err)
{
	sqlite3_stmt *st = NULL;
	enum tr_status status;
	struct binder b;

	if ((lf->mask & ~(1u << LIST_FILTER_EXPIRED)) == 0)
		return count_unfiltered(ss, workspace, lf, count, err);
	if ((status = list_stmt(ss, lf->mask, -1, &st, err)) != TR_OK)
		return status;
	b = (struct binder){st, SQLITE_OK};
	bind_filters(&b, workspace, lf);
	status = fetch_one(ss, &b, err);
	if (status == TR_OK)
		*count = sqlite3_column_int64(st, 0);
	stmt_done(st);
	if (status == TR_OK && *count > STORE_LIST_COUNT_MAX)
		*count = -1;
	return status;
}

/* Binds the page: limit, and the offset or the keyset position. */
static void bind_page(struct binder *b, const struct store_secret_query *q)
{
	bind_int(b, LIST_PARAM_LIMIT, q->limit);
	if (!q->has_after) {
		bind_int(b, LIST_PARAM_OFFSET, q->offset);
		return;
	}
	if (q->sort == STORE_SORT_NAME)
		bind_str(b, LIST_PARAM_AFTER_KEY, q->after_name);
	else
		bind_int(b, LIST_PARAM_AFTER_KEY, q->after_time);
	bind_int(b, LIST_PARAM_AFTER_ID, q->after_id);
}

static enum tr_status list_rows(struct sqlite_store *ss, const struct store_secret_query *q,
                                const struct list_filters *lf, store_secret_cb cb, void *ctx, struct tr_error *err)
{
	int kind = (int)q->sort * 2 + (q->descending ? 1 : 0) + (q->has_after ? LIST_ORDERS : 0);
	struct store_secret sec;
	sqlite3_stmt *st = NULL;
	enum tr_status status = list_stmt(ss, lf->mask, kind, &st, err);
	struct binder b = {st, SQLITE_OK};
	bool row = true;

	if (status != TR_OK)
		return status;
	bind_filters(&b, q->workspace, lf);
	bind_page(&b, q);
	status = bind_check(ss, &b, err);
	while (status == TR_OK) {
		status = step_row(ss, st, &row, err);
		if (status != TR_OK || !row)
			break;
		memset(&sec, 0, sizeof(sec));
		if (read_secret(st, &sec))
			cb(ctx, &sec);
		else
			status = bad_row("secrets", err);
		store_secret_clear(&sec);
	}
	stmt_done(st);
	return status;
}

/* Count and rows run inside one savepoint, so that *total and the rows come
 * from the same snapshot even outside a transaction. */
static enum tr_status store_sqlite_secret_list(struct store *s, const struct store_secret_query *q,
                                               store_secret_cb cb, void *ctx, int64_t *total, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	struct list_filters lf;
	char *pattern = NULL;
	int64_t count = 0;
	enum tr_status status;

	if (is_set(q->search)) {
		pattern = like_pattern(q->search);
		if (!pattern)
			return out_of_memory(err);
	}
	list_filters_init(&lf, q, pattern);
	status = savepoint_open(ss, err);
	if (status == TR_OK) {
		if (total)
			status = list_count(ss, q->workspace, &lf, &count, err);
		if (status == TR_OK)
			status = list_rows(ss, q, &lf, cb, ctx, err);
		status = unit_end(ss, UNIT_SAVEPOINT, status, err);
	}
	free(pattern);
	if (status == TR_OK && total)
		*total = count;
	return status;
}

/* ---- versions -------------------------------------------------------- */

static enum tr_status version_prune(struct sqlite_store *ss, int64_t secret_id, int64_t keep, struct tr_error *err)
{
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_VERSION_PRUNE, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_int(&b, 1, secret_id);
	bind_int(&b, 2, keep);
	status = run_bound(ss, &b, err);
	stmt_done(st);
	return status;
}

/* The body of version_add, inside its unit. */
static enum tr_status version_add_unit(struct sqlite_store *ss, int64_t secret_id, const struct store_version *v,
                                       int64_t keep, struct tr_error *err)
{
	bool found = false;
	enum tr_status status = secret_exists(ss, secret_id, &found, err);

	if (status != TR_OK)
		return status;
	if (!found)
		return tr_error_set(err, TR_ENOTFOUND, "storage: no secret with id %lld", (long long)secret_id);
	status = version_insert(ss, secret_id, v, err);
	if (status == TR_OK && keep > 0)
		status = version_prune(ss, secret_id, keep, err);
	return status;
}

static enum tr_status store_sqlite_version_add(struct store *s, int64_t secret_id, const struct store_version *v,
                                               int64_t keep, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	enum unit_kind kind;
	enum tr_status status = unit_begin(ss, &kind, err);

	if (status != TR_OK)
		return status;
	status = version_add_unit(ss, secret_id, v, keep, err);
	return unit_end(ss, kind, status, err);
}

static enum tr_status store_sqlite_version_get(struct store *s, int64_t secret_id, int64_t version,
                                               struct store_version *out, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	struct store_version v = {0};
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, version > 0 ? STMT_VERSION_GET : STMT_VERSION_LATEST, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_int(&b, 1, secret_id);
	if (version > 0)
		bind_int(&b, 2, version);
	status = fetch_one(ss, &b, err);
	if (status == TR_OK && !read_version(st, &v))
		status = bad_row("secret_versions", err);
	stmt_done(st);
	if (status != TR_OK) {
		store_version_clear(&v);
		return status;
	}
	*out = v;
	return TR_OK;
}

/* Reads a row of VERSION_META_COLUMNS: no blobs. */
static bool read_version_meta(sqlite3_stmt *st, struct store_version *v)
{
	v->version = sqlite3_column_int64(st, 0);
	v->created_at = sqlite3_column_int64(st, 2);
	return col_text(st, 1, v->provider, sizeof(v->provider)) &&
	       col_text(st, 3, v->created_by, sizeof(v->created_by));
}

static enum tr_status store_sqlite_version_list(struct store *s, int64_t secret_id, store_version_cb cb, void *ctx,
                                                struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	struct store_version v;
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_VERSION_LIST, &st, err);
	struct binder b = {st, SQLITE_OK};
	bool row = true;

	if (status != TR_OK)
		return status;
	bind_int(&b, 1, secret_id);
	status = bind_check(ss, &b, err);
	while (status == TR_OK) {
		status = step_row(ss, st, &row, err);
		if (status != TR_OK || !row)
			break;
		memset(&v, 0, sizeof(v));
		if (!read_version_meta(st, &v))
			status = bad_row("secret_versions", err);
		else
			cb(ctx, &v);
	}
	stmt_done(st);
	return status;
}

/* One DELETE, atomic on its own; the foreign keys take the versions with
 * their secrets. sqlite3_changes counts the secrets only. */
static enum tr_status store_sqlite_secret_purge_expired(struct store *s, int64_t before, int64_t *purged,
                                                        struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_SECRET_PURGE_EXPIRED, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_int(&b, 1, before);
	status = run_bound(ss, &b, err);
	if (status == TR_OK)
		*purged = sqlite3_changes(ss->db);
	stmt_done(st);
	return status;
}

/* ---- key rotation ---------------------------------------------------- */

static enum tr_status store_sqlite_provider_counts(struct store *s, store_provider_count_cb cb, void *ctx,
                                                   struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	char provider[TR_PROVIDER_ID_MAX + 1];
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_PROVIDER_COUNTS, &st, err);
	bool row = true;

	if (status != TR_OK)
		return status;
	while (status == TR_OK) {
		status = step_row(ss, st, &row, err);
		if (status != TR_OK || !row)
			break;
		if (!col_text(st, 0, provider, sizeof(provider)))
			status = bad_row("secret_versions", err);
		else
			cb(ctx, provider, sqlite3_column_int64(st, 1));
	}
	stmt_done(st);
	return status;
}

/* Reads a row of STMT_VERSION_SCAN_NOT_UNDER. On false, ref->v may hold
 * blobs: the caller clears it. */
static bool read_version_ref(sqlite3_stmt *st, struct store_version_ref *ref)
{
	struct store_version *v = &ref->v;

	ref->secret_id = sqlite3_column_int64(st, 0);
	v->version = sqlite3_column_int64(st, 6);
	v->created_at = sqlite3_column_int64(st, 10);
	return col_text(st, 1, ref->workspace, sizeof(ref->workspace)) &&
	       col_text(st, 2, ref->project, sizeof(ref->project)) &&
	       col_text(st, 3, ref->cluster, sizeof(ref->cluster)) && col_text(st, 4, ref->name, sizeof(ref->name)) &&
	       col_text(st, 5, ref->type, sizeof(ref->type)) && col_text(st, 7, v->provider, sizeof(v->provider)) &&
	       col_blob(st, 8, &v->wrapped_key) && col_blob(st, 9, &v->ciphertext) &&
	       col_text(st, 11, v->created_by, sizeof(v->created_by));
}

static enum tr_status store_sqlite_version_scan_not_under(struct store *s, const char *provider,
                                                          int64_t after_secret_id, int64_t after_version,
                                                          int64_t limit, store_version_ref_cb cb, void *ctx,
                                                          struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	struct store_version_ref ref;
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_VERSION_SCAN_NOT_UNDER, &st, err);
	struct binder b = {st, SQLITE_OK};
	bool row = true;

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, provider);
	bind_int(&b, 2, after_secret_id);
	bind_int(&b, 3, after_version);
	bind_int(&b, 4, limit);
	status = bind_check(ss, &b, err);
	while (status == TR_OK) {
		status = step_row(ss, st, &row, err);
		if (status != TR_OK || !row)
			break;
		memset(&ref, 0, sizeof(ref));
		if (read_version_ref(st, &ref))
			cb(ctx, &ref);
		else
			status = bad_row("secret_versions", err);
		store_version_clear(&ref.v);
	}
	stmt_done(st);
	return status;
}

static enum tr_status version_exists(struct sqlite_store *ss, int64_t secret_id, int64_t version, bool *found,
                                     struct tr_error *err)
{
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_VERSION_EXISTS, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_int(&b, 1, secret_id);
	bind_int(&b, 2, version);
	status = bind_check(ss, &b, err);
	if (status == TR_OK)
		status = step_row(ss, st, found, err);
	stmt_done(st);
	return status;
}

/* The body of version_rewrap, inside its unit: the UPDATE, and when it
 * matched nothing, whether the version is there at all (so the answer
 * comes from the same snapshot as the UPDATE). */
static enum tr_status version_rewrap_unit(struct sqlite_store *ss, int64_t secret_id, int64_t version,
                                          const char *expected_provider, const char *provider,
                                          const struct store_blob *wrapped_key,
                                          const struct store_blob *ciphertext, struct tr_error *err)
{
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_VERSION_REWRAP, &st, err);
	struct binder b = {st, SQLITE_OK};
	bool found = false;
	int changed = 0;

	if (status != TR_OK)
		return status;
	bind_int(&b, 1, secret_id);
	bind_int(&b, 2, version);
	bind_str(&b, 3, expected_provider);
	bind_str(&b, 4, provider);
	bind_blob(&b, 5, wrapped_key->data, wrapped_key->len);
	if (ciphertext)
		bind_blob(&b, 6, ciphertext->data, ciphertext->len);
	status = run_bound(ss, &b, err);
	if (status == TR_OK)
		changed = sqlite3_changes(ss->db);
	stmt_done(st);
	if (status != TR_OK || changed > 0)
		return status;
	status = version_exists(ss, secret_id, version, &found, err);
	if (status != TR_OK)
		return status;
	if (!found)
		return not_found(err);
	return tr_error_set(err, TR_ECONFLICT,
	                    "storage: version %lld of secret %lld is no longer wrapped by provider '%s'",
	                    (long long)version, (long long)secret_id, expected_provider);
}

static enum tr_status store_sqlite_version_rewrap(struct store *s, int64_t secret_id, int64_t version,
                                                  const char *expected_provider, const char *provider,
                                                  const struct store_blob *wrapped_key,
                                                  const struct store_blob *ciphertext, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	enum unit_kind kind;
	enum tr_status status = unit_begin(ss, &kind, err);

	if (status != TR_OK)
		return status;
	status = version_rewrap_unit(ss, secret_id, version, expected_provider, provider, wrapped_key, ciphertext,
	                             err);
	return unit_end(ss, kind, status, err);
}

/* ---- principals and tokens ------------------------------------------- */

static enum tr_status store_sqlite_principal_create(struct store *s, const struct store_principal *p,
                                                    struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_PRINCIPAL_INSERT, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_text(&b, 1, p->name, sizeof(p->name));
	bind_text(&b, 2, p->kind, sizeof(p->kind));
	bind_int(&b, 3, p->platform_admin ? 1 : 0);
	bind_int(&b, 4, p->created_at);
	status = run_bound(ss, &b, err);
	stmt_done(st);
	return status;
}

static enum tr_status store_sqlite_principal_get(struct store *s, const char *name, struct store_principal *out,
                                                 struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	struct store_principal p = {0};
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_PRINCIPAL_GET, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, name);
	status = fetch_one(ss, &b, err);
	if (status == TR_OK && !read_principal(st, &p))
		status = bad_row("principals", err);
	stmt_done(st);
	if (status == TR_OK)
		*out = p;
	return status;
}

static enum tr_status store_sqlite_principal_list(struct store *s, store_principal_cb cb, void *ctx,
                                                  struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	struct store_principal p;
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_PRINCIPAL_LIST, &st, err);
	bool row = true;

	if (status != TR_OK)
		return status;
	while (status == TR_OK) {
		status = step_row(ss, st, &row, err);
		if (status != TR_OK || !row)
			break;
		memset(&p, 0, sizeof(p));
		if (!read_principal(st, &p))
			status = bad_row("principals", err);
		else
			cb(ctx, &p);
	}
	stmt_done(st);
	return status;
}

/* The foreign keys remove the principal's tokens and role bindings with it;
 * audit rows name it in text and stay. */
static enum tr_status store_sqlite_principal_delete(struct store *s, const char *name, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_PRINCIPAL_DELETE, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, name);
	return write_one(ss, &b, err);
}

static enum tr_status token_row_insert(struct sqlite_store *ss, const struct store_token *t, struct tr_error *err)
{
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_TOKEN_INSERT, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_text(&b, 1, t->id, sizeof(t->id));
	bind_text(&b, 2, t->principal, sizeof(t->principal));
	bind_blob(&b, 3, t->hash, sizeof(t->hash));
	bind_text(&b, 4, t->description, sizeof(t->description));
	bind_int(&b, 5, t->created_at);
	bind_int(&b, 6, t->expires_at);
	bind_text(&b, 7, t->created_by, sizeof(t->created_by));
	status = run_bound(ss, &b, err);
	stmt_done(st);
	return status;
}

/* The body of token_insert, inside its unit. */
static enum tr_status token_insert_unit(struct sqlite_store *ss, const struct store_token *t, struct tr_error *err)
{
	char principal[TR_PRINCIPAL_NAME_MAX + 1];
	bool found = false;
	enum tr_status status;

	snprintf(principal, sizeof(principal), "%.*s", (int)sizeof(principal) - 1, t->principal);
	status = exists_text(ss, STMT_PRINCIPAL_EXISTS, principal, &found, err);
	if (status != TR_OK)
		return status;
	if (!found)
		return tr_error_set(err, TR_ENOTFOUND, "Principal '%s' not found", principal);
	return token_row_insert(ss, t, err);
}

static enum tr_status store_sqlite_token_insert(struct store *s, const struct store_token *t, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	enum unit_kind kind;
	enum tr_status status = unit_begin(ss, &kind, err);

	if (status != TR_OK)
		return status;
	status = token_insert_unit(ss, t, err);
	return unit_end(ss, kind, status, err);
}

static enum tr_status store_sqlite_token_get_by_hash(struct store *s, const unsigned char hash[32],
                                                     struct store_token *out, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	struct store_token t = {0};
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_TOKEN_GET_BY_HASH, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_blob(&b, 1, hash, sizeof(t.hash));
	status = fetch_one(ss, &b, err);
	if (status == TR_OK && !read_token(st, &t))
		status = bad_row("tokens", err);
	stmt_done(st);
	if (status == TR_OK)
		*out = t;
	return status;
}

static enum tr_status store_sqlite_token_list(struct store *s, store_token_cb cb, void *ctx, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	struct store_token t;
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_TOKEN_LIST, &st, err);
	bool row = true;

	if (status != TR_OK)
		return status;
	while (status == TR_OK) {
		status = step_row(ss, st, &row, err);
		if (status != TR_OK || !row)
			break;
		memset(&t, 0, sizeof(t));
		if (!read_token(st, &t))
			status = bad_row("tokens", err);
		else
			cb(ctx, &t);
	}
	stmt_done(st);
	return status;
}

static enum tr_status store_sqlite_token_delete(struct store *s, const char *id, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_TOKEN_DELETE, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, id);
	return write_one(ss, &b, err);
}

/* ---- members --------------------------------------------------------- */

static enum tr_status member_row_put(struct sqlite_store *ss, const struct store_member *m, struct tr_error *err)
{
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_MEMBER_PUT, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_text(&b, 1, m->workspace, sizeof(m->workspace));
	bind_text(&b, 2, m->principal, sizeof(m->principal));
	bind_text(&b, 3, m->role, sizeof(m->role));
	bind_text(&b, 4, m->project, sizeof(m->project));
	bind_text(&b, 5, m->cluster, sizeof(m->cluster));
	bind_int(&b, 6, m->created_at);
	bind_text(&b, 7, m->created_by, sizeof(m->created_by));
	status = run_bound(ss, &b, err);
	stmt_done(st);
	return status;
}

/* The body of member_put, inside its unit: both ends are checked first, so
 * a missing one is TR_ENOTFOUND (naming it) rather than a foreign key
 * failure. */
static enum tr_status member_put_unit(struct sqlite_store *ss, const struct store_member *m, struct tr_error *err)
{
	char workspace[TR_WORKSPACE_NAME_MAX + 1], principal[TR_PRINCIPAL_NAME_MAX + 1];
	bool found = false;
	enum tr_status status;

	snprintf(workspace, sizeof(workspace), "%.*s", (int)sizeof(workspace) - 1, m->workspace);
	snprintf(principal, sizeof(principal), "%.*s", (int)sizeof(principal) - 1, m->principal);
	status = exists_text(ss, STMT_WORKSPACE_EXISTS, workspace, &found, err);
	if (status != TR_OK)
		return status;
	if (!found)
		return tr_error_set(err, TR_ENOTFOUND, "Workspace '%s' not found", workspace);
	status = exists_text(ss, STMT_PRINCIPAL_EXISTS, principal, &found, err);
	if (status != TR_OK)
		return status;
	if (!found)
		return tr_error_set(err, TR_ENOTFOUND, "Principal '%s' not found", principal);
	return member_row_put(ss, m, err);
}

static enum tr_status store_sqlite_member_put(struct store *s, const struct store_member *m, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	enum unit_kind kind;
	enum tr_status status = unit_begin(ss, &kind, err);

	if (status != TR_OK)
		return status;
	status = member_put_unit(ss, m, err);
	return unit_end(ss, kind, status, err);
}

static enum tr_status store_sqlite_member_get(struct store *s, const char *workspace, const char *principal,
                                              struct store_member *out, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	struct store_member m = {0};
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_MEMBER_GET, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, workspace);
	bind_str(&b, 2, principal);
	status = fetch_one(ss, &b, err);
	if (status == TR_OK && !read_member(st, &m))
		status = bad_row("members", err);
	stmt_done(st);
	if (status == TR_OK)
		*out = m;
	return status;
}

static enum tr_status store_sqlite_member_delete(struct store *s, const char *workspace, const char *principal,
                                                 struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_MEMBER_DELETE, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, workspace);
	bind_str(&b, 2, principal);
	return write_one(ss, &b, err);
}

/* Calls cb for each row of a member statement bound with one text key. */
static enum tr_status member_rows(struct sqlite_store *ss, enum stmt_id id, const char *key, store_member_cb cb,
                                  void *ctx, struct tr_error *err)
{
	struct store_member m;
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, id, &st, err);
	struct binder b = {st, SQLITE_OK};
	bool row = true;

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, key);
	status = bind_check(ss, &b, err);
	while (status == TR_OK) {
		status = step_row(ss, st, &row, err);
		if (status != TR_OK || !row)
			break;
		memset(&m, 0, sizeof(m));
		if (!read_member(st, &m))
			status = bad_row("members", err);
		else
			cb(ctx, &m);
	}
	stmt_done(st);
	return status;
}

static enum tr_status store_sqlite_member_list(struct store *s, const char *workspace, store_member_cb cb,
                                               void *ctx, struct tr_error *err)
{
	return member_rows(to_sqlite(s), STMT_MEMBER_LIST, workspace, cb, ctx, err);
}

static enum tr_status store_sqlite_member_list_by_principal(struct store *s, const char *principal,
                                                            store_member_cb cb, void *ctx, struct tr_error *err)
{
	return member_rows(to_sqlite(s), STMT_MEMBER_LIST_BY_PRINCIPAL, principal, cb, ctx, err);
}

/* ---- audit log ------------------------------------------------------- */

/* An audit row that does not fit struct store_audit; its seq helps find it. */
static enum tr_status bad_audit_row(sqlite3_stmt *st, struct tr_error *err)
{
	return tr_error_set(err, TR_EINTERNAL, "storage: unreadable row in audit_log (seq %lld)",
	                    (long long)sqlite3_column_int64(st, 0));
}

static enum tr_status store_sqlite_audit_last(struct store *s, struct store_audit *out, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	struct store_audit rec = {0};
	sqlite3_stmt *st = NULL;
	enum tr_status status;
	struct binder b;

	if (audit_head_get(ss, out))
		return TR_OK;
	if ((status = stmt_get(ss, STMT_AUDIT_LAST, &st, err)) != TR_OK)
		return status;
	b = (struct binder){st, SQLITE_OK};
	status = fetch_one(ss, &b, err);
	if (status == TR_OK && !read_audit(st, &rec))
		status = bad_audit_row(st, err);
	stmt_done(st);
	if (status == TR_OK)
		*out = rec;
	return status;
}

/* One INSERT, atomic on its own: no unit needed. A taken seq is a primary
 * key conflict (TR_ECONFLICT). */
static enum tr_status store_sqlite_audit_append(struct store *s, struct store_audit *rec, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_AUDIT_INSERT, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_int(&b, 1, rec->seq);
	bind_int(&b, 2, rec->time);
	bind_text(&b, 3, rec->actor, sizeof(rec->actor));
	bind_text(&b, 4, rec->action, sizeof(rec->action));
	bind_text(&b, 5, rec->workspace, sizeof(rec->workspace));
	bind_text(&b, 6, rec->secret, sizeof(rec->secret));
	bind_text(&b, 7, rec->scope, sizeof(rec->scope));
	bind_text(&b, 8, rec->outcome, sizeof(rec->outcome));
	bind_int(&b, 9, rec->status);
	bind_text(&b, 10, rec->client, sizeof(rec->client));
	bind_text(&b, 11, rec->request_id, sizeof(rec->request_id));
	bind_blob(&b, 12, rec->prev_hash, sizeof(rec->prev_hash));
	bind_blob(&b, 13, rec->hash, sizeof(rec->hash));
	bind_text(&b, 14, rec->target, sizeof(rec->target));
	status = run_bound(ss, &b, err);
	stmt_done(st);
	if (status == TR_OK)
		audit_head_note(ss, rec);
	return status;
}

static enum tr_status store_sqlite_journal_applied(struct store *s, const char *id, int64_t *applied,
                                                   struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, STMT_JOURNAL_APPLIED, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, id);
	status = fetch_one(ss, &b, err);
	if (status == TR_OK)
		*applied = sqlite3_column_int64(st, 0);
	stmt_done(st);
	if (status == TR_ENOTFOUND) {
		*applied = 0;
		status = TR_OK;
	}
	return status;
}

/* One UPDATE when the note is number - 1; for entry 1, an INSERT (a note
 * already there is a conflict). */
static enum tr_status store_sqlite_journal_advance(struct store *s, const char *id, int64_t number,
                                                   struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, number == 1 ? STMT_JOURNAL_START : STMT_JOURNAL_ADVANCE, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	bind_str(&b, 1, id);
	if (number != 1)
		bind_int(&b, 2, number);
	status = run_bound(ss, &b, err);
	stmt_done(st);
	if (status == TR_OK && sqlite3_changes(ss->db) != 1)
		status = tr_error_set(err, TR_ECONFLICT, "storage: journal %s: entry %lld does not follow the last one",
		                      id, (long long)number);
	return status;
}

static enum tr_status store_sqlite_journal_forget(struct store *s, const char *id, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	sqlite3_stmt *st = NULL;
	enum tr_status status = stmt_get(ss, id ? STMT_JOURNAL_FORGET : STMT_JOURNAL_FORGET_ALL, &st, err);
	struct binder b = {st, SQLITE_OK};

	if (status != TR_OK)
		return status;
	if (id)
		bind_str(&b, 1, id);
	status = run_bound(ss, &b, err);
	stmt_done(st);
	return status;
}

static void audit_sql(struct sql_buf *buf, unsigned mask)
{
	unsigned i;

	sql_append(buf, "SELECT " AUDIT_COLUMNS " FROM audit_log WHERE seq > ?" STRINGIFY(AUDIT_PARAM_AFTER));
	for (i = 0; i < AUDIT_FILTERS; i++) {
		if (!(mask & (1u << i)))
			continue;
		sql_append(buf, " AND ");
		sql_append(buf, audit_filter_sql[i]);
	}
	sql_append(buf, " ORDER BY seq LIMIT ?" STRINGIFY(AUDIT_PARAM_LIMIT));
}

/* Returns the mask of q's filters that are set (bit i: audit_filter_sql[i])
 * and, when b is not NULL, binds their values. */
static unsigned audit_filters(const struct store_audit_query *q, struct binder *b)
{
	const char *const text[] = {q->workspace, q->secret, q->actor, q->action, q->outcome};
	const int64_t times[] = {q->since, q->until};
	unsigned mask = 0, i;

	_Static_assert(sizeof(text) / sizeof(text[0]) + sizeof(times) / sizeof(times[0]) == AUDIT_FILTERS,
	               "one audit filter per fragment");

	for (i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		if (!is_set(text[i]))
			continue;
		mask |= 1u << i;
		if (b)
			bind_str(b, (int)i + 1, text[i]);
	}
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		unsigned n = (unsigned)(sizeof(text) / sizeof(text[0])) + i;

		if (times[i] == 0)
			continue;
		mask |= 1u << n;
		if (b)
			bind_int(b, (int)n + 1, times[i]);
	}
	return mask;
}

static enum tr_status store_sqlite_audit_list(struct store *s, const struct store_audit_query *q,
                                              store_audit_cb cb, void *ctx, struct tr_error *err)
{
	struct sqlite_store *ss = to_sqlite(s);
	unsigned mask = audit_filters(q, NULL);
	struct sql_buf buf = {.len = 0};
	struct store_audit rec;
	sqlite3_stmt *st = NULL;
	enum tr_status status;
	struct binder b;
	bool row = true;

	if (!ss->audit_stmts[mask])
		audit_sql(&buf, mask);
	status = cached_stmt(ss, &ss->audit_stmts[mask], &buf, &st, err);
	if (status != TR_OK)
		return status;
	b = (struct binder){st, SQLITE_OK};
	audit_filters(q, &b);
	bind_int(&b, AUDIT_PARAM_AFTER, q->after);
	bind_int(&b, AUDIT_PARAM_LIMIT, q->limit);
	status = bind_check(ss, &b, err);
	while (status == TR_OK) {
		status = step_row(ss, st, &row, err);
		if (status != TR_OK || !row)
			break;
		memset(&rec, 0, sizeof(rec));
		if (!read_audit(st, &rec))
			status = bad_audit_row(st, err);
		else
			cb(ctx, &rec);
	}
	stmt_done(st);
	return status;
}

/* ---- open and close -------------------------------------------------- */

static void finalize_all(sqlite3_stmt **stmts, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		sqlite3_finalize(stmts[i]);
		stmts[i] = NULL;
	}
}

static void store_sqlite_close(struct store *s)
{
	struct sqlite_store *ss = to_sqlite(s);
	unsigned mask;

	finalize_all(ss->stmts, STMT_COUNT_);
	finalize_all(ss->count_stmts, LIST_MASKS);
	finalize_all(ss->audit_stmts, AUDIT_MASKS);
	for (mask = 0; mask < LIST_MASKS; mask++)
		finalize_all(ss->list_stmts[mask], LIST_KINDS);
	/* Every statement is finalized, so this closes (rolling back any open
	 * transaction) rather than failing with SQLITE_BUSY; a transaction that
	 * changed rows has then ended. */
	sqlite3_close(ss->db);
	if (ss->data_changed)
		store_changes_end();
	if (ss->wal_fd >= 0)
		close(ss->wal_fd);
	free(ss);
}

static bool is_memory(const char *path)
{
	return strcmp(path, ":memory:") == 0;
}

/*
 * Creates the database file with mode 0600 if it does not exist yet.
 * SQLite gives its -wal and -shm files the mode of the database, so they
 * follow. The umask is left alone: it is process-wide, and other threads
 * may be creating files at the same time.
 *
 * Only a file that does not exist is opened here (O_EXCL): opening and
 * closing a database file that another connection of this process has open
 * would drop that connection's POSIX locks (close(2) releases all of a
 * process's locks on the file), and another process could then checkpoint
 * and reset the WAL under it ("How To Corrupt An SQLite Database File", 2.2).
 */
static enum tr_status create_file(const char *path, struct tr_error *err)
{
	int fd;

	if (is_memory(path))
		return TR_OK;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return TR_OK;
	if (fd < 0)
		return tr_error_set(err, TR_EUNAVAIL, "storage: cannot create '%s': %s", path, strerror(errno));
	close(fd);
	return TR_OK;
}

/* Runs fixed SQL (pragmas, schema). */
static enum tr_status exec_sql(struct sqlite_store *ss, const char *sql, struct tr_error *err)
{
	int rc = sqlite3_exec(ss->db, sql, NULL, NULL, NULL);

	settle_data_changes(ss);
	if (rc != SQLITE_OK)
		return db_error(ss, rc, err);
	return TR_OK;
}

/* Runs a pragma and copies the text of its first column into buf. */
static enum tr_status pragma_text(struct sqlite_store *ss, const char *sql, char *buf, size_t size,
                                  struct tr_error *err)
{
	sqlite3_stmt *st = NULL;
	struct binder b;
	enum tr_status status;
	int rc = sqlite3_prepare_v2(ss->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return db_error(ss, rc, err);
	b = (struct binder){st, SQLITE_OK};
	status = fetch_one(ss, &b, err);
	if (status == TR_OK && !col_text(st, 0, buf, size))
		status = tr_error_set(err, TR_EINTERNAL, "storage: unexpected answer to '%s'", sql);
	sqlite3_finalize(st);
	return status;
}

static enum tr_status pragma_int(struct sqlite_store *ss, const char *sql, int64_t *out, struct tr_error *err)
{
	char text[32];
	enum tr_status status = pragma_text(ss, sql, text, sizeof(text), err);
	char *end;

	if (status != TR_OK)
		return status;
	errno = 0;
	*out = strtoll(text, &end, 10);
	if (errno || end == text || *end)
		return tr_error_set(err, TR_EINTERNAL, "storage: unexpected answer to '%s'", sql);
	return TR_OK;
}

/* Process-wide settings, before SQLite initialises: no memory statistics,
 * whose one global mutex every allocation of every connection took, so
 * the server's threads queued on it. */
static void configure_library(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); /* fails harmlessly if SQLite is already in use */
}

static enum tr_status connect_db(struct sqlite_store *ss, const char *path, struct tr_error *err)
{
	static pthread_once_t library_once = PTHREAD_ONCE_INIT;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int rc;

	pthread_once(&library_once, configure_library);
	rc = sqlite3_open_v2(path, &ss->db, flags, NULL);

	if (rc != SQLITE_OK) {
		/* ss->db may be NULL (out of memory); sqlite3_errmsg copes. */
		return tr_error_set(err, status_from_rc(rc), "storage: cannot open '%s': %s", path,
		                    sqlite3_errmsg(ss->db));
	}
	sqlite3_extended_result_codes(ss->db, 1);
	sqlite3_update_hook(ss->db, note_row_change, ss);
	/* Refuse SQL that could corrupt the file (writable_schema, ...). */
	sqlite3_db_config(ss->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	return TR_OK;
}

/* Per-connection settings. WAL and synchronous=FULL: a committed write
 * survives power loss (SPEC §10); foreign keys: the cascades. temp_store
 * in memory keeps savepoint journals there: each request of a group
 * commit is a savepoint, and the original of every page it changes is
 * kept for its rollback; on disk that was two writes per page, most of a
 * create's system calls. */
static enum tr_status configure(struct sqlite_store *ss, bool memory, struct tr_error *err)
{
	char mode[16];
	int64_t fk = 0;
	enum tr_status status = sqlite3_busy_timeout(ss->db, BUSY_TIMEOUT_MS) == SQLITE_OK
	                                ? TR_OK
	                                : tr_error_set(err, TR_EINTERNAL, "storage: cannot set the busy timeout");

	if (status == TR_OK)
		status = pragma_text(ss, "PRAGMA journal_mode = WAL", mode, sizeof(mode), err);
	if (status == TR_OK && !memory && strcmp(mode, "wal") != 0)
		return tr_error_set(err, TR_EUNAVAIL, "storage: cannot use WAL (journal mode is '%s')", mode);
	if (status == TR_OK)
		status = exec_sql(ss, "PRAGMA synchronous = FULL", err);
	if (status == TR_OK)
		status = exec_sql(ss, "PRAGMA temp_store = MEMORY", err);
	if (status == TR_OK)
		status = exec_sql(ss, "PRAGMA foreign_keys = ON", err);
	if (status == TR_OK)
		status = pragma_int(ss, "PRAGMA foreign_keys", &fk, err);
	if (status == TR_OK && fk != 1)
		return tr_error_set(err, TR_EINTERNAL, "storage: this SQLite cannot enforce foreign keys");
	return status;
}

static enum tr_status check_version(int64_t version, struct tr_error *err)
{
	if (version < 0 || version > SCHEMA_VERSION)
		return tr_error_set(err, TR_EUNAVAIL,
		                    "storage: database schema version %lld is not one this tresor knows (%lld)",
		                    (long long)version, (long long)SCHEMA_VERSION);
	return TR_OK;
}

/* Applies the missing migrations; runs inside the migration transaction. */
static enum tr_status migrate_locked(struct sqlite_store *ss, struct tr_error *err)
{
	char sql[64];
	int64_t version = 0;
	enum tr_status status;

	/* Read again under the write lock: another process may have won. */
	status = pragma_int(ss, "PRAGMA user_version", &version, err);
	if (status == TR_OK)
		status = check_version(version, err);
	for (; status == TR_OK && version < SCHEMA_VERSION; version++)
		status = exec_sql(ss, migrations[version], err);
	if (status != TR_OK)
		return status;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", (long long)SCHEMA_VERSION);
	return exec_sql(ss, sql, err);
}

/* Brings the schema to SCHEMA_VERSION, all in one transaction. */
static enum tr_status migrate(struct sqlite_store *ss, struct tr_error *err)
{
	int64_t version = 0;
	enum tr_status status = pragma_int(ss, "PRAGMA user_version", &version, err);

	if (status == TR_OK)
		status = check_version(version, err);
	if (status != TR_OK || version == SCHEMA_VERSION)
		return status;
	status = exec_sql(ss, "BEGIN IMMEDIATE", err);
	if (status != TR_OK)
		return status;
	status = migrate_locked(ss, err);
	if (status == TR_OK)
		status = exec_sql(ss, "COMMIT", err);
	if (status != TR_OK && !sqlite3_get_autocommit(ss->db))
		sqlite3_exec(ss->db, "ROLLBACK", NULL, NULL, NULL);
	settle_data_changes(ss);
	return status;
}

static enum tr_status prepare_all(struct sqlite_store *ss, struct tr_error *err)
{
	enum tr_status status = TR_OK;
	int i;

	for (i = 0; i < STMT_COUNT_ && status == TR_OK; i++)
		status = prepare(ss, stmt_sql[i], &ss->stmts[i], err);
	return status;
}

static const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.close = store_sqlite_close,
	.begin = store_sqlite_begin,
	.commit = store_sqlite_commit,
	.rollback = store_sqlite_rollback,
	.begin_read = store_sqlite_begin_read,
	.defer_checkpoints = store_sqlite_defer_checkpoints,
	.checkpoint_due = store_sqlite_checkpoint_due,
	.checkpoint = store_sqlite_checkpoint,
	.set_durability = store_sqlite_set_durability,
	.flush = store_sqlite_flush,
	.savepoint = store_sqlite_savepoint,
	.release = store_sqlite_release,
	.rollback_to = store_sqlite_rollback_to,
	.set_light_units = store_sqlite_set_light_units,
	.in_transaction = store_sqlite_in_transaction,
	.take_snapshot = store_sqlite_take_snapshot,
	.workspace_create = store_sqlite_workspace_create,
	.workspace_get = store_sqlite_workspace_get,
	.workspace_list = store_sqlite_workspace_list,
	.workspace_delete = store_sqlite_workspace_delete,
	.secret_count = store_sqlite_secret_count,
	.secret_insert = store_sqlite_secret_insert,
	.secret_get = store_sqlite_secret_get,
	.secret_update = store_sqlite_secret_update,
	.secret_delete = store_sqlite_secret_delete,
	.secret_list = store_sqlite_secret_list,
	.version_add = store_sqlite_version_add,
	.version_get = store_sqlite_version_get,
	.version_list = store_sqlite_version_list,
	.secret_purge_expired = store_sqlite_secret_purge_expired,
	.provider_counts = store_sqlite_provider_counts,
	.version_scan_not_under = store_sqlite_version_scan_not_under,
	.version_rewrap = store_sqlite_version_rewrap,
	.principal_create = store_sqlite_principal_create,
	.principal_get = store_sqlite_principal_get,
	.principal_list = store_sqlite_principal_list,
	.principal_delete = store_sqlite_principal_delete,
	.member_put = store_sqlite_member_put,
	.member_get = store_sqlite_member_get,
	.member_delete = store_sqlite_member_delete,
	.member_list = store_sqlite_member_list,
	.member_list_by_principal = store_sqlite_member_list_by_principal,
	.audit_last = store_sqlite_audit_last,
	.audit_append = store_sqlite_audit_append,
	.audit_list = store_sqlite_audit_list,
	.journal_applied = store_sqlite_journal_applied,
	.journal_advance = store_sqlite_journal_advance,
	.journal_forget = store_sqlite_journal_forget,
	.token_insert = store_sqlite_token_insert,
	.token_get_by_hash = store_sqlite_token_get_by_hash,
	.token_list = store_sqlite_token_list,
	.token_delete = store_sqlite_token_delete,
};

/*
 * Opens (creating if needed) the database at path, or an in-memory one for
 * ":memory:" (tests). Sets the pragmas, migrates the schema and prepares
 * the statements. *out is set only on success.
 */
enum tr_status store_sqlite_open(const char *path, struct store **out, struct tr_error *err)
{
	struct sqlite_store *ss;
	enum tr_status status;

	if (!path[0])
		return tr_error_set(err, TR_EINVAL, "storage: empty path in dsn (expected 'sqlite:PATH')");
	status = create_file(path, err);
	if (status != TR_OK)
		return status;
	ss = calloc(1, sizeof(*ss));
	if (!ss)
		return out_of_memory(err);
	ss->base.ops = &sqlite_ops;
	ss->durability = STORE_DURABLE;
	ss->wal_fd = -1;
	status = connect_db(ss, path, err);
	if (status == TR_OK)
		status = configure(ss, is_memory(path), err);
	if (status == TR_OK)
		status = migrate(ss, err);
	if (status == TR_OK)
		status = prepare_all(ss, err);
	if (status != TR_OK) {
		store_sqlite_close(&ss->base);
		return status;
	}
	*out = &ss->base;
	return TR_OK;
}
