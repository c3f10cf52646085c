/*
 * test-store.c - tests for the storage interface (src/storage/store.c) and
 * its SQLite backend (store-sqlite.c). Every test gets a fresh database
 * file in one temporary directory, which is removed at the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/store.h"
#include "sync-count.h"

static char tmpdir[] = "/tmp/tresor-test-store-XXXXXX";
static int db_counter;

struct fixture {
	char path[PATH_MAX];
	char dsn[PATH_MAX + 16];
	struct store *s;
};

/* ---- setup ----------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* A fresh database file per test, opened. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tr_error err = {0};

	if (!f)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/db-%d.sqlite", tmpdir, ++db_counter);
	snprintf(f->dsn, sizeof(f->dsn), "sqlite:%s", f->path);
	if (store_open(f->dsn, &f->s, &err) != TR_OK) {
		fprintf(stderr, "store_open: %s\n", err.message);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	free(f);
	return 0;
}

/* ---- helpers --------------------------------------------------------- */

static void make_workspace(struct store *s, const char *name)
{
	struct store_workspace ws = {0};
	struct tr_error err = {0};

	snprintf(ws.name, sizeof(ws.name), "%s", name);
	snprintf(ws.created_by, sizeof(ws.created_by), "admin");
	ws.created_at = 1000;
	assert_int_equal(store_workspace_create(s, &ws, &err), TR_OK);
}

/* A secret with plain defaults; tests change fields before inserting. */
static void secret_init(struct store_secret *sec, const char *ws, const char *project, const char *cluster,
                        const char *name)
{
	memset(sec, 0, sizeof(*sec));
	snprintf(sec->workspace, sizeof(sec->workspace), "%s", ws);
	snprintf(sec->project, sizeof(sec->project), "%s", project);
	snprintf(sec->cluster, sizeof(sec->cluster), "%s", cluster);
	snprintf(sec->name, sizeof(sec->name), "%s", name);
	snprintf(sec->type, sizeof(sec->type), "opaque");
	snprintf(sec->visibility, sizeof(sec->visibility), "private");
	snprintf(sec->created_by, sizeof(sec->created_by), "alice");
	snprintf(sec->updated_by, sizeof(sec->updated_by), "alice");
	sec->version = 1;
	sec->created_at = 100;
	sec->updated_at = 100;
}

/* Version n with recognizable blobs ("wk-n", "ct-n" plus a NUL byte). */
static void version_init(struct store_version *v, int64_t n)
{
	char text[32];

	memset(v, 0, sizeof(*v));
	v->version = n;
	snprintf(v->provider, sizeof(v->provider), "local-1");
	snprintf(v->created_by, sizeof(v->created_by), "alice");
	v->created_at = 100 + n;
	snprintf(text, sizeof(text), "wk-%lld", (long long)n);
	assert_int_equal(store_blob_set(&v->wrapped_key, text, strlen(text)), TR_OK);
	snprintf(text, sizeof(text), "ct-%lld", (long long)n);
	assert_int_equal(store_blob_set(&v->ciphertext, text, strlen(text) + 1), TR_OK);
}

static void assert_version_is(const struct store_version *v, int64_t n)
{
	char text[32];

	assert_int_equal(v->version, n);
	assert_string_equal(v->provider, "local-1");
	assert_int_equal(v->created_at, 100 + n);
	snprintf(text, sizeof(text), "wk-%lld", (long long)n);
	assert_int_equal(v->wrapped_key.len, strlen(text));
	assert_memory_equal(v->wrapped_key.data, text, strlen(text));
	snprintf(text, sizeof(text), "ct-%lld", (long long)n);
	assert_int_equal(v->ciphertext.len, strlen(text) + 1);
	assert_memory_equal(v->ciphertext.data, text, strlen(text) + 1);
}

/* Inserts sec with its first version; returns the new id. */
static int64_t insert_secret(struct store *s, struct store_secret *sec)
{
	struct store_version v;
	struct tr_error err = {0};

	version_init(&v, sec->version);
	assert_int_equal(store_secret_insert(s, sec, &v, &err), TR_OK);
	store_version_clear(&v);
	assert_true(sec->id > 0);
	return sec->id;
}

static int64_t add_secret(struct store *s, const char *ws, const char *project, const char *cluster,
                          const char *name)
{
	struct store_secret sec;

	secret_init(&sec, ws, project, cluster, name);
	return insert_secret(s, &sec);
}

static enum tr_status get_secret(struct store *s, const char *ws, const char *name, struct store_secret *out)
{
	return store_secret_get(s, ws, "", "", name, out, NULL);
}

static void make_principal(struct store *s, const char *name, const char *kind, bool admin)
{
	struct store_principal p = {0};

	snprintf(p.name, sizeof(p.name), "%s", name);
	snprintf(p.kind, sizeof(p.kind), "%s", kind);
	p.platform_admin = admin;
	p.created_at = 50;
	assert_int_equal(store_principal_create(s, &p, NULL), TR_OK);
}

static void token_init(struct store_token *t, const char *id, const char *principal, unsigned char seed,
                       int64_t created_at)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "%s", id);
	snprintf(t->principal, sizeof(t->principal), "%s", principal);
	memset(t->hash, seed, sizeof(t->hash));
	snprintf(t->description, sizeof(t->description), "token %s", id);
	t->created_at = created_at;
}

/* Collects names from list callbacks as "a,b,c". */
struct names {
	char text[1024];
	int count;
};

static void names_add(struct names *n, const char *name)
{
	size_t len = strlen(n->text);

	snprintf(n->text + len, sizeof(n->text) - len, "%s%s", n->count ? "," : "", name);
	n->count++;
}

static void collect_workspace(void *ctx, const struct store_workspace *ws)
{
	names_add(ctx, ws->name);
}

static void collect_secret(void *ctx, const struct store_secret *sec)
{
	/* Rows always carry their JSON strings. */
	assert_non_null(sec->tags_json);
	assert_non_null(sec->keys_json);
	names_add(ctx, sec->name);
}

static void collect_token(void *ctx, const struct store_token *t)
{
	names_add(ctx, t->id);
}

static void query_init(struct store_secret_query *q, const char *ws)
{
	memset(q, 0, sizeof(*q));
	q->workspace = ws;
	q->limit = 100;
}

/* Runs q and checks the names returned, in order, and the total. */
static void assert_list(struct store *s, const struct store_secret_query *q, const char *expected,
                        int64_t expected_total)
{
	struct names n = {0};
	struct tr_error err = {0};
	int64_t total = -1;

	assert_int_equal(store_secret_list(s, q, collect_secret, &n, &total, &err), TR_OK);
	assert_string_equal(n.text, expected);
	assert_int_equal(total, expected_total);
}

/* Runs one integer-valued SQL query on the file directly, past the store. */
static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t value;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	value = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return value;
}

/* Runs SQL on the file directly, past the store. */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fprintf(stderr, "raw_exec: %s\n", msg ? msg : "?");
	sqlite3_free(msg);
	sqlite3_close(db);
	assert_int_equal(rc, SQLITE_OK);
}

static void member_init(struct store_member *m, const char *ws, const char *principal, const char *role)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->workspace, sizeof(m->workspace), "%s", ws);
	snprintf(m->principal, sizeof(m->principal), "%s", principal);
	snprintf(m->role, sizeof(m->role), "%s", role);
	snprintf(m->created_by, sizeof(m->created_by), "admin");
	m->created_at = 70;
}

static void make_member(struct store *s, const char *ws, const char *principal, const char *role)
{
	struct store_member m;
	struct tr_error err = {0};

	member_init(&m, ws, principal, role);
	assert_int_equal(store_member_put(s, &m, &err), TR_OK);
}

/* Record seq with recognizable fields: hash is all `seq` bytes, prev_hash
 * all `seq - 1` bytes (zeros for seq 1). */
static void audit_init(struct store_audit *rec, int64_t seq, int64_t time, const char *actor, const char *action,
                       const char *ws, const char *secret, const char *outcome)
{
	memset(rec, 0, sizeof(*rec));
	rec->seq = seq;
	rec->time = time;
	snprintf(rec->actor, sizeof(rec->actor), "%s", actor);
	snprintf(rec->action, sizeof(rec->action), "%s", action);
	snprintf(rec->workspace, sizeof(rec->workspace), "%s", ws);
	snprintf(rec->secret, sizeof(rec->secret), "%s", secret);
	snprintf(rec->scope, sizeof(rec->scope), "project:p%lld", (long long)seq);
	snprintf(rec->outcome, sizeof(rec->outcome), "%s", outcome);
	rec->status = strcmp(outcome, "success") == 0 ? 200 : 403;
	snprintf(rec->client, sizeof(rec->client), "10.0.0.%lld", (long long)seq);
	snprintf(rec->request_id, sizeof(rec->request_id), "req-%lld", (long long)seq);
	memset(rec->prev_hash, (int)(seq - 1), sizeof(rec->prev_hash));
	memset(rec->hash, (int)seq, sizeof(rec->hash));
}

static void collect_principal(void *ctx, const struct store_principal *p)
{
	names_add(ctx, p->name);
}

/* Members as "workspace/principal:role". */
static void collect_member(void *ctx, const struct store_member *m)
{
	char text[256];

	snprintf(text, sizeof(text), "%s/%s:%s", m->workspace, m->principal, m->role);
	names_add(ctx, text);
}

/* Audit records as their seqs, "1,2,3". */
static void collect_audit(void *ctx, const struct store_audit *rec)
{
	char text[32];

	snprintf(text, sizeof(text), "%lld", (long long)rec->seq);
	names_add(ctx, text);
}

static void audit_query_init(struct store_audit_query *q)
{
	memset(q, 0, sizeof(*q));
	q->limit = 100;
}

/* Runs q and checks the seqs returned, in order. */
static void assert_audit(struct store *s, const struct store_audit_query *q, const char *expected)
{
	struct names n = {0};
	struct tr_error err = {0};

	assert_int_equal(store_audit_list(s, q, collect_audit, &n, &err), TR_OK);
	assert_string_equal(n.text, expected);
}

/* ---- open ------------------------------------------------------------ */

static void test_open_bad_dsn(void **state)
{
	struct store *s = NULL;
	struct tr_error err = {0};
	char dsn[PATH_MAX + 32];

	(void)state;
	assert_int_equal(store_open("postgres://u:pw@host/db", &s, &err), TR_EINVAL);
	assert_non_null(strstr(err.message, "sqlite:PATH"));
	assert_null(strstr(err.message, "pw")); /* the dsn is never echoed */
	assert_null(s);
	assert_int_equal(store_open("sqlite:", &s, &err), TR_EINVAL);
	assert_int_equal(store_open("", &s, &err), TR_EINVAL);
	assert_int_equal(store_open(NULL, &s, &err), TR_EINVAL);
	snprintf(dsn, sizeof(dsn), "sqlite:%s/no-such-dir/db.sqlite", tmpdir);
	assert_int_equal(store_open(dsn, &s, &err), TR_EUNAVAIL);
	assert_null(s);
}

static void test_open_memory(void **state)
{
	struct store *s = NULL;
	struct store_workspace ws;

	(void)state;
	assert_int_equal(store_open("sqlite::memory:", &s, NULL), TR_OK);
	make_workspace(s, "mem");
	assert_int_equal(store_workspace_get(s, "mem", &ws, NULL), TR_OK);
	store_close(s);
	store_close(NULL);
}

static void test_file_mode_and_pragmas(void **state)
{
	char path[PATH_MAX], dsn[PATH_MAX + 16], wal[PATH_MAX + 8];
	struct store *s = NULL;
	struct stat st;
	mode_t old = umask(022);

	(void)state;
	snprintf(path, sizeof(path), "%s/mode.sqlite", tmpdir);
	snprintf(dsn, sizeof(dsn), "sqlite:%s", path);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	assert_int_equal(store_open(dsn, &s, NULL), TR_OK);
	umask(old);
	make_workspace(s, "w"); /* a write, so the -wal file exists */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 7);
	assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
	assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'"
	                               " AND tbl_name = 'secret_versions' AND sql LIKE '%(provider)%'"),
	                 1);
	store_close(s);
}

static void test_open_refuses_newer_schema(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct tr_error err = {0};
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(f->dsn, &s, &err), TR_EUNAVAIL);
	assert_non_null(strstr(err.message, "99"));
	assert_null(s);
}

/* ---- workspaces ------------------------------------------------------ */

static void test_workspaces(void **state)
{
	struct fixture *f = *state;
	struct store_workspace ws = {0};
	struct names n = {0};
	struct tr_error err = {0};

	make_workspace(f->s, "beta");
	make_workspace(f->s, "alpha");
	make_workspace(f->s, "gamma");
	snprintf(ws.name, sizeof(ws.name), "alpha");
	assert_int_equal(store_workspace_create(f->s, &ws, &err), TR_ECONFLICT);
	assert_int_equal(err.status, TR_ECONFLICT);

	memset(&ws, 0, sizeof(ws));
	assert_int_equal(store_workspace_get(f->s, "beta", &ws, &err), TR_OK);
	assert_string_equal(ws.name, "beta");
	assert_string_equal(ws.created_by, "admin");
	assert_int_equal(ws.created_at, 1000);
	assert_int_equal(store_workspace_get(f->s, "delta", &ws, &err), TR_ENOTFOUND);
	assert_string_equal(err.message, "");
	assert_string_equal(ws.name, "beta"); /* untouched on failure */

	assert_int_equal(store_workspace_list(f->s, collect_workspace, &n, &err), TR_OK);
	assert_string_equal(n.text, "alpha,beta,gamma");

	assert_int_equal(store_workspace_delete(f->s, "beta", &err), TR_OK);
	assert_int_equal(store_workspace_get(f->s, "beta", &ws, &err), TR_ENOTFOUND);
	assert_int_equal(store_workspace_delete(f->s, "beta", &err), TR_ENOTFOUND);
	memset(&n, 0, sizeof(n));
	assert_int_equal(store_workspace_list(f->s, collect_workspace, &n, &err), TR_OK);
	assert_string_equal(n.text, "alpha,gamma");
}

static void test_workspace_delete_cascades(void **state)
{
	struct fixture *f = *state;
	struct store_version v = {0};
	struct store_secret sec = {0};
	int64_t id, count = -1;

	make_workspace(f->s, "doomed");
	make_workspace(f->s, "kept");
	id = add_secret(f->s, "doomed", "", "", "a");
	add_secret(f->s, "doomed", "p", "", "b");
	add_secret(f->s, "kept", "", "", "a");
	assert_int_equal(store_workspace_delete(f->s, "doomed", NULL), TR_OK);
	assert_int_equal(store_version_get(f->s, id, 0, &v, NULL), TR_ENOTFOUND);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM secrets WHERE workspace = 'doomed'"), 0);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM secret_versions"), 1);

	make_workspace(f->s, "doomed"); /* the name is free again, and empty */
	assert_int_equal(store_secret_count(f->s, "doomed", &count, NULL), TR_OK);
	assert_int_equal(count, 0);
	assert_int_equal(get_secret(f->s, "kept", "a", &sec), TR_OK);
	store_secret_clear(&sec);
}


/* A list callback that calls the same list again, and another query. */
struct reenter {
	struct store *s;
	enum tr_status same, other;
	int calls;
};

static void reenter_workspace_list(void *ctx, const struct store_workspace *ws)
{
	struct reenter *r = ctx;
	struct store_workspace again;
	struct names n = {0};

	r->calls++;
	r->same = store_workspace_list(r->s, collect_workspace, &n, NULL);
	r->other = store_workspace_get(r->s, ws->name, &again, NULL);
}

static void test_list_callback_reentry(void **state)
{
	struct fixture *f = *state;
	struct reenter r = {f->s, TR_OK, TR_EINTERNAL, 0};

	make_workspace(f->s, "a");
	make_workspace(f->s, "b");
	assert_int_equal(store_workspace_list(f->s, reenter_workspace_list, &r, NULL), TR_OK);
	assert_int_equal(r.calls, 2); /* the outer list was not disturbed */
	assert_int_equal(r.same, TR_EINTERNAL);
	assert_int_equal(r.other, TR_OK);
}

/* ---- secrets --------------------------------------------------------- */

static void test_secret_insert_get(void **state)
{
	struct fixture *f = *state;
	struct store_secret sec, got = {0};
	struct tr_error err = {0};
	char tags[] = "[\"ml\",\"prod\"]", keys[] = "[\"token\"]";

	make_workspace(f->s, "ws");
	secret_init(&sec, "ws", "", "", "hf-token");
	snprintf(sec.type, sizeof(sec.type), "huggingface");
	snprintf(sec.description, sizeof(sec.description), "Hugging Face token");
	snprintf(sec.visibility, sizeof(sec.visibility), "public");
	sec.tags_json = tags;
	sec.keys_json = keys;
	sec.created_at = 10;
	sec.updated_at = 20;
	sec.expires_at = 30;
	snprintf(sec.updated_by, sizeof(sec.updated_by), "bob");
	insert_secret(f->s, &sec);

	assert_int_equal(store_secret_get(f->s, "ws", NULL, NULL, "hf-token", &got, &err), TR_OK);
	assert_int_equal(got.id, sec.id);
	assert_string_equal(got.workspace, "ws");
	assert_string_equal(got.project, "");
	assert_string_equal(got.cluster, "");
	assert_string_equal(got.name, "hf-token");
	assert_string_equal(got.type, "huggingface");
	assert_string_equal(got.description, "Hugging Face token");
	assert_string_equal(got.visibility, "public");
	assert_string_equal(got.tags_json, tags);
	assert_string_equal(got.keys_json, keys);
	assert_int_equal(got.version, 1);
	assert_int_equal(got.created_at, 10);
	assert_int_equal(got.updated_at, 20);
	assert_int_equal(got.expires_at, 30);
	assert_string_equal(got.created_by, "alice");
	assert_string_equal(got.updated_by, "bob");
	store_secret_clear(&got);
	assert_null(got.tags_json);

	assert_int_equal(get_secret(f->s, "ws", "nope", &got), TR_ENOTFOUND);
	assert_int_equal(get_secret(f->s, "other", "hf-token", &got), TR_ENOTFOUND);
	assert_int_equal(store_secret_get(f->s, "ws", "p", "", "hf-token", &got, NULL), TR_ENOTFOUND);
}

static void test_secret_null_json_reads_as_empty_array(void **state)
{
	struct fixture *f = *state;
	struct store_secret got = {0};

	make_workspace(f->s, "ws");
	add_secret(f->s, "ws", "", "", "bare"); /* tags_json and keys_json NULL */
	assert_int_equal(get_secret(f->s, "ws", "bare", &got), TR_OK);
	assert_string_equal(got.tags_json, "[]");
	assert_string_equal(got.keys_json, "[]");
	store_secret_clear(&got);
}

static void test_secret_identity_and_scopes(void **state)
{
	struct fixture *f = *state;
	struct store_secret sec, got = {0};
	struct tr_error err = {0};
	struct store_version v;
	int64_t a, b, c, d, count = -1;

	make_workspace(f->s, "ws");
	make_workspace(f->s, "ws2");
	a = add_secret(f->s, "ws", "", "", "db");
	b = add_secret(f->s, "ws", "vision", "", "db");
	c = add_secret(f->s, "ws", "", "gpu-1", "db");
	d = add_secret(f->s, "ws2", "", "", "db");
	assert_true(a != b && b != c && c != d);

	/* Same identity again: conflict, and nothing changes. */
	secret_init(&sec, "ws", "vision", "", "db");
	version_init(&v, 1);
	assert_int_equal(store_secret_insert(f->s, &sec, &v, &err), TR_ECONFLICT);
	assert_int_equal(sec.id, 0);
	/* Into a missing workspace: not found. */
	secret_init(&sec, "ghost", "", "", "db");
	assert_int_equal(store_secret_insert(f->s, &sec, &v, &err), TR_ENOTFOUND);
	/* A first version that does not match the secret: invalid. */
	secret_init(&sec, "ws", "", "", "other");
	sec.version = 2;
	assert_int_equal(store_secret_insert(f->s, &sec, &v, &err), TR_EINVAL);
	store_version_clear(&v);

	assert_int_equal(store_secret_get(f->s, "ws", "vision", "", "db", &got, NULL), TR_OK);
	assert_int_equal(got.id, b);
	assert_string_equal(got.project, "vision");
	store_secret_clear(&got);
	assert_int_equal(store_secret_get(f->s, "ws", NULL, "gpu-1", "db", &got, NULL), TR_OK);
	assert_int_equal(got.id, c);
	store_secret_clear(&got);
	assert_int_equal(store_secret_count(f->s, "ws", &count, NULL), TR_OK);
	assert_int_equal(count, 3);
	assert_int_equal(store_secret_count(f->s, "none", &count, NULL), TR_OK);
	assert_int_equal(count, 0);
}

static void test_secret_update(void **state)
{
	struct fixture *f = *state;
	struct store_secret sec, got = {0};
	char tags[] = "[\"new\"]", keys[] = "[\"a\",\"b\"]";
	int64_t id;

	make_workspace(f->s, "ws");
	id = add_secret(f->s, "ws", "", "", "s");
	secret_init(&sec, "ws", "", "", "s");
	sec.id = id;
	snprintf(sec.type, sizeof(sec.type), "database");
	snprintf(sec.description, sizeof(sec.description), "changed");
	snprintf(sec.visibility, sizeof(sec.visibility), "public");
	snprintf(sec.updated_by, sizeof(sec.updated_by), "carol");
	sec.tags_json = tags;
	sec.keys_json = keys;
	sec.version = 4;
	sec.updated_at = 999;
	sec.expires_at = 5000;
	assert_int_equal(store_secret_update(f->s, &sec, NULL), TR_OK);

	assert_int_equal(get_secret(f->s, "ws", "s", &got), TR_OK);
	assert_string_equal(got.type, "database");
	assert_string_equal(got.description, "changed");
	assert_string_equal(got.visibility, "public");
	assert_string_equal(got.tags_json, tags);
	assert_string_equal(got.keys_json, keys);
	assert_int_equal(got.version, 4);
	assert_int_equal(got.updated_at, 999);
	assert_int_equal(got.expires_at, 5000);
	assert_string_equal(got.updated_by, "carol");
	assert_int_equal(got.created_at, 100); /* immutable columns stay */
	assert_string_equal(got.created_by, "alice");
	store_secret_clear(&got);

	sec.id = id + 100;
	assert_int_equal(store_secret_update(f->s, &sec, NULL), TR_ENOTFOUND);
}

static void test_secret_delete(void **state)
{
	struct fixture *f = *state;
	struct store_secret got = {0};
	struct store_version v = {0};
	int64_t id, other, count = -1;

	make_workspace(f->s, "ws");
	id = add_secret(f->s, "ws", "", "", "gone");
	other = add_secret(f->s, "ws", "", "", "stays");
	assert_int_equal(store_secret_delete(f->s, id, NULL), TR_OK);
	assert_int_equal(get_secret(f->s, "ws", "gone", &got), TR_ENOTFOUND);
	assert_int_equal(store_version_get(f->s, id, 0, &v, NULL), TR_ENOTFOUND);
	assert_int_equal(store_secret_delete(f->s, id, NULL), TR_ENOTFOUND);
	assert_int_equal(store_version_get(f->s, other, 0, &v, NULL), TR_OK);
	store_version_clear(&v);
	assert_int_equal(store_secret_count(f->s, "ws", &count, NULL), TR_OK);
	assert_int_equal(count, 1);
	/* A new secret never reuses a deleted id. */
	assert_true(add_secret(f->s, "ws", "", "", "gone") > other);
}

/* ---- versions -------------------------------------------------------- */

static void test_versions(void **state)
{
	struct fixture *f = *state;
	struct store_version v, got = {0};
	struct tr_error err = {0};
	int64_t id;
	int n;

	make_workspace(f->s, "ws");
	id = add_secret(f->s, "ws", "", "", "s");
	for (n = 2; n <= 3; n++) {
		version_init(&v, n);
		assert_int_equal(store_version_add(f->s, id, &v, 0, &err), TR_OK);
		store_version_clear(&v);
	}
	assert_int_equal(store_version_get(f->s, id, 0, &got, &err), TR_OK);
	assert_version_is(&got, 3);
	store_version_clear(&got);
	assert_int_equal(store_version_get(f->s, id, -1, &got, &err), TR_OK);
	assert_version_is(&got, 3);
	store_version_clear(&got);
	assert_int_equal(store_version_get(f->s, id, 1, &got, &err), TR_OK);
	assert_version_is(&got, 1);
	store_version_clear(&got);
	assert_int_equal(store_version_get(f->s, id, 9, &got, &err), TR_ENOTFOUND);
	assert_null(got.ciphertext.data);

	version_init(&v, 2);
	assert_int_equal(store_version_add(f->s, id, &v, 0, &err), TR_ECONFLICT);
	assert_int_equal(store_version_add(f->s, id + 50, &v, 0, &err), TR_ENOTFOUND);
	store_version_clear(&v);
}

static void test_version_pruning(void **state)
{
	struct fixture *f = *state;
	struct store_version v, got = {0};
	int64_t id, other;
	int n;

	make_workspace(f->s, "ws");
	id = add_secret(f->s, "ws", "", "", "s");
	other = add_secret(f->s, "ws", "", "", "t");
	for (n = 2; n <= 4; n++) {
		version_init(&v, n);
		assert_int_equal(store_version_add(f->s, id, &v, 0, NULL), TR_OK);
		store_version_clear(&v);
	}
	version_init(&v, 5);
	assert_int_equal(store_version_add(f->s, id, &v, 2, NULL), TR_OK);
	store_version_clear(&v);
	for (n = 1; n <= 3; n++)
		assert_int_equal(store_version_get(f->s, id, n, &got, NULL), TR_ENOTFOUND);
	for (n = 4; n <= 5; n++) {
		assert_int_equal(store_version_get(f->s, id, n, &got, NULL), TR_OK);
		assert_version_is(&got, n);
		store_version_clear(&got);
	}
	/* Pruning one secret leaves the others alone. */
	assert_int_equal(store_version_get(f->s, other, 1, &got, NULL), TR_OK);
	store_version_clear(&got);
}

static void test_version_empty_blobs(void **state)
{
	struct fixture *f = *state;
	struct store_version v = {0}, got = {0};
	int64_t id;

	make_workspace(f->s, "ws");
	id = add_secret(f->s, "ws", "", "", "s");
	v.version = 2;
	snprintf(v.provider, sizeof(v.provider), "p");
	assert_int_equal(store_version_add(f->s, id, &v, 0, NULL), TR_OK);
	assert_int_equal(store_version_get(f->s, id, 2, &got, NULL), TR_OK);
	assert_int_equal(got.wrapped_key.len, 0);
	assert_int_equal(got.ciphertext.len, 0);
	assert_null(got.ciphertext.data);
	store_version_clear(&got);
}

static void test_blob_helpers(void **state)
{
	struct store_version v = {0};
	struct store_secret sec = {0};

	(void)state;
	assert_int_equal(store_blob_set(&v.ciphertext, "abc", 3), TR_OK);
	assert_int_equal(v.ciphertext.len, 3);
	assert_memory_equal(v.ciphertext.data, "abc", 3);
	assert_int_equal(store_blob_set(&v.ciphertext, "de", 2), TR_OK);
	assert_int_equal(v.ciphertext.len, 2);
	assert_memory_equal(v.ciphertext.data, "de", 2);
	assert_int_equal(store_blob_set(&v.wrapped_key, "k", 1), TR_OK);
	v.version = 7;
	store_version_clear(&v);
	assert_null(v.ciphertext.data);
	assert_null(v.wrapped_key.data);
	assert_int_equal(v.version, 0);
	assert_int_equal(store_blob_set(&v.ciphertext, "x", 0), TR_OK);
	assert_null(v.ciphertext.data);
	assert_int_equal(v.ciphertext.len, 0);
	store_version_clear(&v); /* safe on a zeroed struct */
	store_secret_clear(&sec);
	assert_int_equal(sec.id, 0);
}

/* ---- list ------------------------------------------------------------ */

struct row {
	const char *name, *project, *cluster, *type, *tags, *by, *visibility, *description;
	int64_t created, updated;
};

/* Five secrets in "ml", one in "other"; ids follow this order. */
static const struct row list_rows[] = {
	{"hf-token", "", "", "huggingface", "[\"ml\",\"prod\"]", "alice", "private", "Hugging Face token", 100, 500},
	{"s3-data", "vision", "", "s3", "[\"storage\"]", "bob", "public", "bucket 100% full", 200, 400},
	{"db_main", "", "gpu-1", "database", "[\"prod\"]", "alice", "public", "postgres", 200, 300},
	{"dbxmain", "", "", "database", "[]", "bob", "private", "path C:\\data", 300, 200},
	{"registry", "", "", "container_registry", "[\"ml_ops\"]", "carol", "private", "1000 pulls", 400, 100},
};

static void populate_list(struct store *s)
{
	struct store_secret sec;
	size_t i;

	make_workspace(s, "ml");
	make_workspace(s, "other");
	for (i = 0; i < sizeof(list_rows) / sizeof(list_rows[0]); i++) {
		const struct row *r = &list_rows[i];

		secret_init(&sec, "ml", r->project, r->cluster, r->name);
		snprintf(sec.type, sizeof(sec.type), "%s", r->type);
		snprintf(sec.created_by, sizeof(sec.created_by), "%s", r->by);
		snprintf(sec.visibility, sizeof(sec.visibility), "%s", r->visibility);
		snprintf(sec.description, sizeof(sec.description), "%s", r->description);
		sec.tags_json = (char *)r->tags;
		sec.created_at = r->created;
		sec.updated_at = r->updated;
		insert_secret(s, &sec);
	}
	add_secret(s, "other", "", "", "hf-token");
}

static void test_list_filters(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;

	populate_list(f->s);
	query_init(&q, "ml");
	assert_list(f->s, &q, "db_main,dbxmain,hf-token,registry,s3-data", 5);
	q.type = "database";
	assert_list(f->s, &q, "db_main,dbxmain", 2);
	q.created_by = "bob";
	assert_list(f->s, &q, "dbxmain", 1);

	query_init(&q, "ml");
	q.tag = "prod";
	assert_list(f->s, &q, "db_main,hf-token", 2);
	q.tag = "ml"; /* exact: not "ml_ops" */
	assert_list(f->s, &q, "hf-token", 1);
	q.tag = "pro";
	assert_list(f->s, &q, "", 0);

	query_init(&q, "ml");
	q.project = "vision";
	assert_list(f->s, &q, "s3-data", 1);
	query_init(&q, "ml");
	q.cluster = "gpu-1";
	assert_list(f->s, &q, "db_main", 1);
	query_init(&q, "ml");
	q.created_by = "alice";
	assert_list(f->s, &q, "db_main,hf-token", 2);
	query_init(&q, "ml");
	q.visibility = "public";
	assert_list(f->s, &q, "db_main,s3-data", 2);
	q.type = ""; /* "" is no filter */
	q.search = "";
	assert_list(f->s, &q, "db_main,s3-data", 2);

	query_init(&q, "other");
	assert_list(f->s, &q, "hf-token", 1);
	query_init(&q, "nowhere");
	assert_list(f->s, &q, "", 0);
}

static void test_list_search(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;

	populate_list(f->s);
	query_init(&q, "ml");
	q.search = "HF"; /* name, case-insensitive */
	assert_list(f->s, &q, "hf-token", 1);
	q.search = "hugging"; /* description */
	assert_list(f->s, &q, "hf-token", 1);
	q.search = "stor"; /* a tag */
	assert_list(f->s, &q, "s3-data", 1);
	q.search = "ML"; /* tags "ml" and "ml_ops" */
	assert_list(f->s, &q, "hf-token,registry", 2);
	q.search = "nothing-like-this";
	assert_list(f->s, &q, "", 0);
}

static void test_list_search_wildcards_are_literal(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;

	populate_list(f->s);
	query_init(&q, "ml");
	q.search = "_"; /* a literal underscore: "db_main", tag "ml_ops" */
	assert_list(f->s, &q, "db_main,registry", 2);
	q.search = "db_m"; /* not "dbxmain" */
	assert_list(f->s, &q, "db_main", 1);
	q.search = "%";
	assert_list(f->s, &q, "s3-data", 1);
	q.search = "100%"; /* not "1000 pulls" */
	assert_list(f->s, &q, "s3-data", 1);
	q.search = "\\";
	assert_list(f->s, &q, "dbxmain", 1);
	q.search = "C:\\d";
	assert_list(f->s, &q, "dbxmain", 1);
	q.search = "'; DROP TABLE secrets; --";
	assert_list(f->s, &q, "", 0);
	q.search = NULL;
	assert_list(f->s, &q, "db_main,dbxmain,hf-token,registry,s3-data", 5);
}

static void test_list_sort(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;

	populate_list(f->s);
	query_init(&q, "ml");
	q.descending = true;
	assert_list(f->s, &q, "s3-data,registry,hf-token,dbxmain,db_main", 5);
	q.sort = STORE_SORT_CREATED; /* s3-data and db_main tie: by id */
	q.descending = false;
	assert_list(f->s, &q, "hf-token,s3-data,db_main,dbxmain,registry", 5);
	q.descending = true;
	assert_list(f->s, &q, "registry,dbxmain,db_main,s3-data,hf-token", 5);
	q.sort = STORE_SORT_UPDATED;
	q.descending = false;
	assert_list(f->s, &q, "registry,dbxmain,db_main,s3-data,hf-token", 5);
	q.descending = true;
	assert_list(f->s, &q, "hf-token,s3-data,db_main,dbxmain,registry", 5);
	q.type = "database";
	assert_list(f->s, &q, "db_main,dbxmain", 2);
}

static void test_list_paging(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;
	struct names n = {0};
	struct tr_error err = {0};

	populate_list(f->s);
	query_init(&q, "ml");
	q.limit = 2;
	assert_list(f->s, &q, "db_main,dbxmain", 5);
	q.offset = 2;
	assert_list(f->s, &q, "hf-token,registry", 5);
	q.offset = 4;
	assert_list(f->s, &q, "s3-data", 5);
	q.offset = 10;
	assert_list(f->s, &q, "", 5);
	q.offset = 0;
	q.limit = 1;
	q.type = "database";
	assert_list(f->s, &q, "db_main", 2);
	q.offset = 1;
	q.sort = STORE_SORT_CREATED;
	q.descending = true;
	assert_list(f->s, &q, "db_main", 2);

	/* total is optional */
	query_init(&q, "ml");
	q.limit = 3;
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, NULL, &err), TR_OK);
	assert_string_equal(n.text, "db_main,dbxmain,hf-token");
}

/* The total without filters comes from the workspace's count (kept by
 * triggers), less the expired secrets when they are hidden. */
static void test_list_total_follows_inserts_deletes_and_expiry(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;
	struct store_secret sec;
	struct names n = {0};
	int64_t total = 0, gone;

	populate_list(f->s);
	query_init(&q, "ml");
	q.limit = 1;
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, &total, NULL), TR_OK);
	assert_int_equal(total, 5);
	gone = add_secret(f->s, "ml", "", "", "zz-gone");
	secret_init(&sec, "ml", "", "", "zz-expired");
	sec.expires_at = 50;
	insert_secret(f->s, &sec);
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, &total, NULL), TR_OK);
	assert_int_equal(total, 7);
	q.hide_expired = true;
	q.now = 100;
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, &total, NULL), TR_OK);
	assert_int_equal(total, 6);
	assert_int_equal(store_secret_delete(f->s, gone, NULL), TR_OK);
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, &total, NULL), TR_OK);
	assert_int_equal(total, 5);
	query_init(&q, "other");
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, &total, NULL), TR_OK);
	assert_int_equal(total, 1);
	query_init(&q, "no-such-workspace");
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, &total, NULL), TR_OK);
	assert_int_equal(total, 0);
}

/* With filters, counting stops past STORE_LIST_COUNT_MAX: total is -1. */
static void test_list_filtered_total_is_capped(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;
	struct names n = {0};
	char name[32];
	int64_t total = 0;

	make_workspace(f->s, "big");
	assert_int_equal(store_begin(f->s, NULL), TR_OK);
	for (int i = 0; i <= STORE_LIST_COUNT_MAX; i++) {
		snprintf(name, sizeof(name), "s%05d", i);
		add_secret(f->s, "big", "", "", name);
	}
	assert_int_equal(store_commit(f->s, NULL), TR_OK);
	query_init(&q, "big");
	q.limit = 1;
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, &total, NULL), TR_OK);
	assert_int_equal(total, STORE_LIST_COUNT_MAX + 1); /* unfiltered: exact */
	q.type = "opaque";
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, &total, NULL), TR_OK);
	assert_int_equal(total, -1);
	q.search = "s0000"; /* 10 matches */
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, &total, NULL), TR_OK);
	assert_int_equal(total, 10);
}

static void test_list_rejects_bad_queries(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;
	struct names n = {0};
	struct tr_error err = {0};

	populate_list(f->s);
	query_init(&q, "ml");
	q.limit = 0;
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, NULL, &err), TR_EINVAL);
	query_init(&q, "ml");
	q.offset = -1;
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, NULL, &err), TR_EINVAL);
	query_init(&q, "");
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, NULL, &err), TR_EINVAL);
	query_init(&q, "ml");
	q.sort = (enum store_sort)42;
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, NULL, &err), TR_EINVAL);
	assert_int_equal(n.count, 0);
}

static void test_list_and_transactions(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;
	struct store *reader = NULL;
	struct store_secret got = {0};

	populate_list(f->s);
	query_init(&q, "ml");
	/* A list leaves no transaction open behind it ... */
	assert_list(f->s, &q, "db_main,dbxmain,hf-token,registry,s3-data", 5);
	assert_int_equal(store_begin(f->s, NULL), TR_OK);
	/* ... and inside one, sees its uncommitted rows and keeps it open. */
	add_secret(f->s, "ml", "", "", "aaa");
	assert_list(f->s, &q, "aaa,db_main,dbxmain,hf-token,registry,s3-data", 6);
	assert_int_equal(store_commit(f->s, NULL), TR_OK);
	/* Autocommit writes after a list are visible to other connections. */
	assert_list(f->s, &q, "aaa,db_main,dbxmain,hf-token,registry,s3-data", 6);
	add_secret(f->s, "ml", "", "", "zzz");
	assert_int_equal(store_open(f->dsn, &reader, NULL), TR_OK);
	assert_int_equal(get_secret(reader, "ml", "zzz", &got), TR_OK);
	store_secret_clear(&got);
	store_close(reader);
}

/* ---- transactions ---------------------------------------------------- */

static bool workspace_exists(struct store *s, const char *name)
{
	struct store_workspace ws;

	return store_workspace_get(s, name, &ws, NULL) == TR_OK;
}

/* In a transaction, with light units or not: creates "before", then
 * "undone" in a unit that is rolled back, and commits. Returns whether the
 * transaction stayed whole; the commit fails if it did not. */
static bool change_then_undo(struct fixture *f, bool light)
{
	struct tr_error err = {0};
	bool whole;

	assert_int_equal(store_begin(f->s, &err), TR_OK);
	if (light)
		store_set_light_units(f->s);
	make_workspace(f->s, "before");
	assert_int_equal(store_savepoint(f->s, &err), TR_OK);
	make_workspace(f->s, "undone");
	store_rollback_to(f->s);
	whole = store_in_transaction(f->s);
	assert_int_equal(store_commit(f->s, &err) == TR_OK, whole);
	assert_false(workspace_exists(f->s, "undone"));
	return whole;
}

/* Light units: a unit that changed nothing rolls back exactly; one that
 * changed something loses the transaction, whose commit then fails and
 * keeps nothing. They last for one transaction. */
static void test_light_units(void **state)
{
	struct fixture *f = *state;
	struct tr_error err = {0};

	assert_int_equal(store_begin(f->s, &err), TR_OK);
	store_set_light_units(f->s);
	assert_int_equal(store_savepoint(f->s, &err), TR_OK);
	make_workspace(f->s, "kept");
	assert_int_equal(store_release(f->s, &err), TR_OK);
	assert_int_equal(store_savepoint(f->s, &err), TR_OK);
	assert_int_equal(store_savepoint(f->s, &err), TR_OK);
	assert_int_not_equal(store_workspace_create(f->s, &(struct store_workspace){.name = "kept"}, &err), TR_OK);
	store_rollback_to(f->s);
	store_rollback_to(f->s);
	assert_true(store_in_transaction(f->s));
	assert_int_equal(store_commit(f->s, &err), TR_OK);
	assert_true(workspace_exists(f->s, "kept"));

	assert_false(change_then_undo(f, true));
	assert_false(workspace_exists(f->s, "before"));
	/* The next transaction has real savepoints again. */
	assert_true(change_then_undo(f, false));
	assert_true(workspace_exists(f->s, "before"));
}

static void test_rollback_undoes_insert(void **state)
{
	struct fixture *f = *state;
	struct store_secret got = {0};
	struct store_workspace ws;
	struct tr_error err = {0};

	make_workspace(f->s, "ws");
	assert_int_equal(store_begin(f->s, &err), TR_OK);
	make_workspace(f->s, "tmp");
	add_secret(f->s, "ws", "", "", "s");
	store_rollback(f->s);
	assert_int_equal(get_secret(f->s, "ws", "s", &got), TR_ENOTFOUND);
	assert_int_equal(store_workspace_get(f->s, "tmp", &ws, NULL), TR_ENOTFOUND);
	store_rollback(f->s); /* nothing open: harmless */
	store_rollback(NULL);

	assert_int_equal(store_begin(f->s, &err), TR_OK);
	add_secret(f->s, "ws", "", "", "s");
	assert_int_equal(store_commit(f->s, &err), TR_OK);
	assert_int_equal(get_secret(f->s, "ws", "s", &got), TR_OK);
	store_secret_clear(&got);
	assert_int_equal(store_commit(f->s, &err), TR_EINTERNAL); /* none open */
}

static void test_failed_write_keeps_transaction(void **state)
{
	struct fixture *f = *state;
	struct store_secret sec, got = {0};
	struct store_version v;
	struct tr_error err = {0};
	int64_t id;

	make_workspace(f->s, "ws");
	assert_int_equal(store_begin(f->s, &err), TR_OK);
	assert_int_equal(store_begin(f->s, &err), TR_EINTERNAL); /* no nesting */
	id = add_secret(f->s, "ws", "", "", "a");
	secret_init(&sec, "ws", "", "", "a");
	version_init(&v, 1);
	assert_int_equal(store_secret_insert(f->s, &sec, &v, &err), TR_ECONFLICT);
	assert_int_equal(store_version_add(f->s, id, &v, 0, &err), TR_ECONFLICT);
	store_version_clear(&v);
	add_secret(f->s, "ws", "", "", "b");
	assert_int_equal(store_commit(f->s, &err), TR_OK);
	assert_int_equal(get_secret(f->s, "ws", "a", &got), TR_OK);
	store_secret_clear(&got);
	assert_int_equal(get_secret(f->s, "ws", "b", &got), TR_OK);
	store_secret_clear(&got);
}

static void test_transaction_isolation(void **state)
{
	struct fixture *f = *state;
	struct store *reader = NULL;
	struct store_secret got = {0};

	make_workspace(f->s, "ws");
	assert_int_equal(store_open(f->dsn, &reader, NULL), TR_OK);
	assert_int_equal(store_begin(f->s, NULL), TR_OK);
	add_secret(f->s, "ws", "", "", "s");
	assert_int_equal(get_secret(reader, "ws", "s", &got), TR_ENOTFOUND);
	assert_int_equal(store_commit(f->s, NULL), TR_OK);
	assert_int_equal(get_secret(reader, "ws", "s", &got), TR_OK);
	store_secret_clear(&got);
	store_close(reader);
}

/* ---- principals and tokens ------------------------------------------- */

static void test_principals(void **state)
{
	struct fixture *f = *state;
	struct store_principal p = {0};
	struct tr_error err = {0};

	make_principal(f->s, "alice", "user", false);
	make_principal(f->s, "ci-bot", "service", true);
	assert_int_equal(store_principal_get(f->s, "alice", &p, &err), TR_OK);
	assert_string_equal(p.name, "alice");
	assert_string_equal(p.kind, "user");
	assert_false(p.platform_admin);
	assert_int_equal(p.created_at, 50);
	assert_int_equal(store_principal_get(f->s, "ci-bot", &p, &err), TR_OK);
	assert_string_equal(p.kind, "service");
	assert_true(p.platform_admin);
	assert_int_equal(store_principal_create(f->s, &p, &err), TR_ECONFLICT);
	assert_int_equal(store_principal_get(f->s, "mallory", &p, &err), TR_ENOTFOUND);
}

static void test_tokens(void **state)
{
	struct fixture *f = *state;
	struct store_token t, got = {0};
	struct names n = {0};
	struct tr_error err = {0};

	make_principal(f->s, "alice", "user", false);
	make_principal(f->s, "bob", "user", false);
	token_init(&t, "tok_0000000000000001", "alice", 0x11, 10);
	t.expires_at = 99;
	assert_int_equal(store_token_insert(f->s, &t, &err), TR_OK);
	token_init(&t, "tok_0000000000000002", "bob", 0x22, 5);
	assert_int_equal(store_token_insert(f->s, &t, &err), TR_OK);
	token_init(&t, "tok_0000000000000003", "alice", 0x33, 10);
	assert_int_equal(store_token_insert(f->s, &t, &err), TR_OK);

	token_init(&t, "tok_0000000000000001", "alice", 0x44, 10); /* same id */
	assert_int_equal(store_token_insert(f->s, &t, &err), TR_ECONFLICT);
	token_init(&t, "tok_0000000000000004", "alice", 0x22, 10); /* same hash */
	assert_int_equal(store_token_insert(f->s, &t, &err), TR_ECONFLICT);
	token_init(&t, "tok_0000000000000005", "nobody", 0x55, 10);
	assert_int_equal(store_token_insert(f->s, &t, &err), TR_ENOTFOUND);

	memset(t.hash, 0x11, sizeof(t.hash));
	assert_int_equal(store_token_get_by_hash(f->s, t.hash, &got, &err), TR_OK);
	assert_string_equal(got.id, "tok_0000000000000001");
	assert_string_equal(got.principal, "alice");
	assert_string_equal(got.description, "token tok_0000000000000001");
	assert_memory_equal(got.hash, t.hash, sizeof(t.hash));
	assert_int_equal(got.created_at, 10);
	assert_int_equal(got.expires_at, 99);
	memset(t.hash, 0x55, sizeof(t.hash));
	assert_int_equal(store_token_get_by_hash(f->s, t.hash, &got, &err), TR_ENOTFOUND);

	/* By creation time, then insertion order. */
	assert_int_equal(store_token_list(f->s, collect_token, &n, &err), TR_OK);
	assert_string_equal(n.text, "tok_0000000000000002,tok_0000000000000001,tok_0000000000000003");

	assert_int_equal(store_token_delete(f->s, "tok_0000000000000001", &err), TR_OK);
	assert_int_equal(store_token_delete(f->s, "tok_0000000000000001", &err), TR_ENOTFOUND);
	memset(t.hash, 0x11, sizeof(t.hash));
	assert_int_equal(store_token_get_by_hash(f->s, t.hash, &got, &err), TR_ENOTFOUND);
	memset(&n, 0, sizeof(n));
	assert_int_equal(store_token_list(f->s, collect_token, &n, &err), TR_OK);
	assert_string_equal(n.text, "tok_0000000000000002,tok_0000000000000003");
}

/* ---- principals, members and tokens (access control) ----------------- */

static void test_principal_list_delete(void **state)
{
	struct fixture *f = *state;
	struct store_principal p;
	struct store_member m;
	struct store_token t, got;
	struct store_audit rec;
	struct store_audit_query q;
	struct names n = {0};
	struct tr_error err = {0};

	make_principal(f->s, "carol", "user", false);
	make_principal(f->s, "alice", "user", false);
	make_principal(f->s, "bob", "service", false);
	assert_int_equal(store_principal_list(f->s, collect_principal, &n, &err), TR_OK);
	assert_string_equal(n.text, "alice,bob,carol");

	make_workspace(f->s, "ws");
	make_workspace(f->s, "ws2");
	make_member(f->s, "ws", "bob", "service");
	make_member(f->s, "ws2", "bob", "viewer");
	make_member(f->s, "ws", "alice", "admin");
	token_init(&t, "tok_00000000000000b1", "bob", 0xb1, 1);
	assert_int_equal(store_token_insert(f->s, &t, NULL), TR_OK);
	token_init(&t, "tok_00000000000000a1", "alice", 0xa1, 2);
	assert_int_equal(store_token_insert(f->s, &t, NULL), TR_OK);
	audit_init(&rec, 1, 100, "bob", "secret.create", "ws", "s", "success");
	assert_int_equal(store_audit_append(f->s, &rec, NULL), TR_OK);

	assert_int_equal(store_principal_delete(f->s, "bob", &err), TR_OK);
	assert_int_equal(store_principal_get(f->s, "bob", &p, NULL), TR_ENOTFOUND);
	memset(&n, 0, sizeof(n));
	assert_int_equal(store_principal_list(f->s, collect_principal, &n, &err), TR_OK);
	assert_string_equal(n.text, "alice,carol");
	/* Its tokens and bindings went with it ... */
	memset(t.hash, 0xb1, sizeof(t.hash));
	assert_int_equal(store_token_get_by_hash(f->s, t.hash, &got, NULL), TR_ENOTFOUND);
	assert_int_equal(store_member_get(f->s, "ws", "bob", &m, NULL), TR_ENOTFOUND);
	memset(&n, 0, sizeof(n));
	assert_int_equal(store_member_list_by_principal(f->s, "bob", collect_member, &n, NULL), TR_OK);
	assert_int_equal(n.count, 0);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM members WHERE principal = 'bob'"), 0);
	/* ... the others' stay ... */
	memset(t.hash, 0xa1, sizeof(t.hash));
	assert_int_equal(store_token_get_by_hash(f->s, t.hash, &got, NULL), TR_OK);
	assert_int_equal(store_member_get(f->s, "ws", "alice", &m, NULL), TR_OK);
	/* ... and so do the audit records that name it. */
	audit_query_init(&q);
	q.actor = "bob";
	assert_audit(f->s, &q, "1");

	assert_int_equal(store_principal_delete(f->s, "bob", &err), TR_ENOTFOUND);
	assert_int_equal(store_principal_delete(f->s, "nobody", &err), TR_ENOTFOUND);
	/* The name is free again, with nothing attached. */
	make_principal(f->s, "bob", "user", false);
	assert_int_equal(store_member_get(f->s, "ws", "bob", &m, NULL), TR_ENOTFOUND);
}

static void test_members(void **state)
{
	struct fixture *f = *state;
	struct store_member m, got;
	struct names n = {0};
	struct tr_error err = {0};

	make_workspace(f->s, "ws");
	make_workspace(f->s, "ws2");
	make_principal(f->s, "alice", "user", false);
	make_principal(f->s, "bob", "user", false);
	make_principal(f->s, "ci", "service", false);

	member_init(&m, "ws", "ci", "service");
	snprintf(m.project, sizeof(m.project), "p1");
	m.created_at = 11;
	assert_int_equal(store_member_put(f->s, &m, &err), TR_OK);
	memset(&got, 0, sizeof(got));
	assert_int_equal(store_member_get(f->s, "ws", "ci", &got, &err), TR_OK);
	assert_string_equal(got.workspace, "ws");
	assert_string_equal(got.principal, "ci");
	assert_string_equal(got.role, "service");
	assert_string_equal(got.project, "p1");
	assert_string_equal(got.cluster, "");
	assert_int_equal(got.created_at, 11);
	assert_string_equal(got.created_by, "admin");

	/* Put again: the binding is replaced, every column of it. */
	member_init(&m, "ws", "ci", "service");
	snprintf(m.cluster, sizeof(m.cluster), "gpu-1");
	snprintf(m.created_by, sizeof(m.created_by), "alice");
	m.created_at = 22;
	assert_int_equal(store_member_put(f->s, &m, &err), TR_OK);
	assert_int_equal(store_member_get(f->s, "ws", "ci", &got, &err), TR_OK);
	assert_string_equal(got.project, "");
	assert_string_equal(got.cluster, "gpu-1");
	assert_int_equal(got.created_at, 22);
	assert_string_equal(got.created_by, "alice");
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM members"), 1);

	make_member(f->s, "ws", "bob", "editor");
	make_member(f->s, "ws", "alice", "admin");
	make_member(f->s, "ws2", "alice", "viewer");
	assert_int_equal(store_member_list(f->s, "ws", collect_member, &n, &err), TR_OK);
	assert_string_equal(n.text, "ws/alice:admin,ws/bob:editor,ws/ci:service");
	memset(&n, 0, sizeof(n));
	assert_int_equal(store_member_list_by_principal(f->s, "alice", collect_member, &n, &err), TR_OK);
	assert_string_equal(n.text, "ws/alice:admin,ws2/alice:viewer");
	memset(&n, 0, sizeof(n));
	assert_int_equal(store_member_list(f->s, "nowhere", collect_member, &n, &err), TR_OK);
	assert_int_equal(n.count, 0);

	/* Unknown ends: not found, naming which, and nothing written. */
	member_init(&m, "ghost", "alice", "viewer");
	assert_int_equal(store_member_put(f->s, &m, &err), TR_ENOTFOUND);
	assert_non_null(strstr(err.message, "Workspace 'ghost'"));
	member_init(&m, "ws", "mallory", "viewer");
	assert_int_equal(store_member_put(f->s, &m, &err), TR_ENOTFOUND);
	assert_non_null(strstr(err.message, "Principal 'mallory'"));
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM members"), 4);
	assert_int_equal(store_member_get(f->s, "ws2", "bob", &got, &err), TR_ENOTFOUND);
	assert_string_equal(got.principal, "ci"); /* untouched on failure */

	assert_int_equal(store_member_delete(f->s, "ws", "bob", &err), TR_OK);
	assert_int_equal(store_member_delete(f->s, "ws", "bob", &err), TR_ENOTFOUND);
	assert_int_equal(store_member_delete(f->s, "ws2", "ci", &err), TR_ENOTFOUND);
	assert_int_equal(store_member_get(f->s, "ws", "bob", &got, &err), TR_ENOTFOUND);
	assert_int_equal(store_principal_get(f->s, "bob", &(struct store_principal){0}, NULL), TR_OK);

	/* Deleting a workspace removes its bindings, not the others. */
	assert_int_equal(store_workspace_delete(f->s, "ws", &err), TR_OK);
	memset(&n, 0, sizeof(n));
	assert_int_equal(store_member_list_by_principal(f->s, "alice", collect_member, &n, &err), TR_OK);
	assert_string_equal(n.text, "ws2/alice:viewer");
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM members WHERE workspace = 'ws'"), 0);
}

static void test_member_put_in_transaction(void **state)
{
	struct fixture *f = *state;
	struct store_member m, got;
	struct tr_error err = {0};

	make_workspace(f->s, "ws");
	make_principal(f->s, "alice", "user", false);
	/* A refused put leaves the caller's transaction usable ... */
	assert_int_equal(store_begin(f->s, &err), TR_OK);
	member_init(&m, "ws", "nobody", "viewer");
	assert_int_equal(store_member_put(f->s, &m, &err), TR_ENOTFOUND);
	make_member(f->s, "ws", "alice", "editor");
	assert_int_equal(store_commit(f->s, &err), TR_OK);
	assert_int_equal(store_member_get(f->s, "ws", "alice", &got, &err), TR_OK);
	/* ... and a rolled-back one leaves nothing. */
	assert_int_equal(store_begin(f->s, &err), TR_OK);
	make_member(f->s, "ws", "alice", "viewer");
	store_rollback(f->s);
	assert_int_equal(store_member_get(f->s, "ws", "alice", &got, &err), TR_OK);
	assert_string_equal(got.role, "editor");
}

static void test_token_created_by(void **state)
{
	struct fixture *f = *state;
	struct store_token t, got = {0};
	struct tr_error err = {0};

	make_principal(f->s, "alice", "user", false);
	make_principal(f->s, "ci", "service", false);
	token_init(&t, "tok_00000000000000c1", "ci", 0xc1, 10);
	snprintf(t.created_by, sizeof(t.created_by), "alice");
	assert_int_equal(store_token_insert(f->s, &t, &err), TR_OK);
	token_init(&t, "tok_00000000000000c2", "ci", 0xc2, 11); /* created_by "" */
	assert_int_equal(store_token_insert(f->s, &t, &err), TR_OK);

	memset(t.hash, 0xc1, sizeof(t.hash));
	assert_int_equal(store_token_get_by_hash(f->s, t.hash, &got, &err), TR_OK);
	assert_string_equal(got.principal, "ci");
	assert_string_equal(got.created_by, "alice");
	memset(t.hash, 0xc2, sizeof(t.hash));
	assert_int_equal(store_token_get_by_hash(f->s, t.hash, &got, &err), TR_OK);
	assert_string_equal(got.created_by, "");
}

/* ---- secret list: visible_to ----------------------------------------- */

static void test_list_visible_to(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;

	/* hf-token: alice private; s3-data: bob public; db_main: alice public;
	 * dbxmain: bob private; registry: carol private. */
	populate_list(f->s);
	query_init(&q, "ml");
	q.visible_to = "alice";
	assert_list(f->s, &q, "db_main,hf-token,s3-data", 3);
	q.visible_to = "bob";
	assert_list(f->s, &q, "db_main,dbxmain,s3-data", 3);
	q.visible_to = "carol";
	assert_list(f->s, &q, "db_main,registry,s3-data", 3);
	q.visible_to = "dave"; /* only the public ones */
	assert_list(f->s, &q, "db_main,s3-data", 2);
	q.visible_to = ""; /* no filter */
	assert_list(f->s, &q, "db_main,dbxmain,hf-token,registry,s3-data", 5);

	/* The total counts only what the principal may see, across pages. */
	q.visible_to = "alice";
	q.limit = 1;
	assert_list(f->s, &q, "db_main", 3);
	q.offset = 1;
	assert_list(f->s, &q, "hf-token", 3);
	q.offset = 2;
	q.sort = STORE_SORT_CREATED;
	q.descending = true;
	assert_list(f->s, &q, "hf-token", 3);

	/* Combined with the other filters. */
	query_init(&q, "ml");
	q.visible_to = "bob";
	q.type = "database";
	assert_list(f->s, &q, "db_main,dbxmain", 2);
	q.visible_to = "carol";
	assert_list(f->s, &q, "db_main", 1);
	query_init(&q, "ml");
	q.visible_to = "carol";
	q.visibility = "private";
	assert_list(f->s, &q, "registry", 1);
	q.created_by = "alice"; /* alice's private secrets are not carol's to see */
	assert_list(f->s, &q, "", 0);
	query_init(&q, "ml");
	q.visible_to = "bob";
	q.search = "db";
	q.created_by = "bob";
	assert_list(f->s, &q, "dbxmain", 1);
	/* Every filter at once (all eight parameters and the page bound). */
	query_init(&q, "ml");
	q.search = "main";
	q.type = "database";
	q.tag = "prod";
	q.project = "";
	q.cluster = "gpu-1";
	q.created_by = "alice";
	q.visibility = "public";
	q.visible_to = "dave";
	assert_list(f->s, &q, "db_main", 1);
}

/* ---- secret list: keyset paging and expiry --------------------------- */

/* The rows of list calls, in order, and where the last one sits. */
#define WALK_MAX 1024

struct walk {
	int64_t ids[WALK_MAX];
	int count;
	int page; /* rows of the last call */
	char last_name[TR_SECRET_NAME_MAX + 1];
	int64_t last_created, last_updated, last_id;
};

static void collect_walk(void *ctx, const struct store_secret *sec)
{
	struct walk *w = ctx;

	assert_true(w->count < WALK_MAX);
	w->ids[w->count++] = sec->id;
	w->page++;
	snprintf(w->last_name, sizeof(w->last_name), "%s", sec->name);
	w->last_created = sec->created_at;
	w->last_updated = sec->updated_at;
	w->last_id = sec->id;
}

/* One page of q into w; checks the total. Returns the rows of the page. */
static int walk_page(struct store *s, const struct store_secret_query *q, struct walk *w, int64_t expected_total)
{
	struct tr_error err = {0};
	int64_t total = -1;

	w->page = 0;
	assert_int_equal(store_secret_list(s, q, collect_walk, w, &total, &err), TR_OK);
	if (expected_total >= 0)
		assert_int_equal(total, expected_total);
	return w->page;
}

/* Sets q's keyset position to the last row w saw. */
static void keyset_after_last(struct store_secret_query *q, const struct walk *w)
{
	q->has_after = true;
	q->offset = 0;
	q->after_name = w->last_name;
	q->after_time = q->sort == STORE_SORT_UPDATED ? w->last_updated : w->last_created;
	q->after_id = w->last_id;
}

/*
 * 30 secrets whose sort keys tie a lot: names repeat across 3 scopes,
 * created_at in runs of 7, updated_at cycling through 4 values, so every
 * order has runs of equal keys that only the id tells apart. Returns the
 * count.
 */
static int populate_ties(struct store *s, const char *ws)
{
	static const char *const scopes[3][2] = {{"", ""}, {"p1", ""}, {"", "c1"}};
	struct store_secret sec;
	char name[32];
	int i;

	make_workspace(s, ws);
	for (i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "n%02d", (i * 7) % 10);
		secret_init(&sec, ws, scopes[i % 3][0], scopes[i % 3][1], name);
		if (i % 10 >= 3) /* the same name in the same scope again: make it unique */
			snprintf(sec.name, sizeof(sec.name), "n%02d-%d", (i * 7) % 10, i);
		sec.created_at = 1000 + i / 7;
		sec.updated_at = 2000 + (i * 3) % 4;
		insert_secret(s, &sec);
	}
	return 30;
}

/* Every id of a full listing of q's filters and order, in order. */
static void list_all(struct store *s, const struct store_secret_query *q, struct walk *all)
{
	struct store_secret_query full = *q;

	full.has_after = false;
	full.offset = 0;
	full.limit = WALK_MAX;
	memset(all, 0, sizeof(*all));
	walk_page(s, &full, all, -1);
}

static void test_list_keyset_walks_every_row(void **state)
{
	static const int64_t limits[] = {1, 3, 7, 100};
	struct fixture *f = *state;
	struct store_secret_query q;
	struct walk all, w;
	int n = populate_ties(f->s, "ws"), order, l, i, j;

	add_secret(f->s, "ws", "", "", "zzz-not-tied");
	n++;
	for (order = 0; order < 6; order++) {
		for (l = 0; l < (int)(sizeof(limits) / sizeof(limits[0])); l++) {
			query_init(&q, "ws");
			q.sort = (enum store_sort)(order / 2);
			q.descending = order % 2 != 0;
			q.limit = limits[l];
			list_all(f->s, &q, &all);
			assert_int_equal(all.count, n);

			/* First page by offset 0, then by position; total on every page. */
			memset(&w, 0, sizeof(w));
			walk_page(f->s, &q, &w, n);
			while (w.page == q.limit) {
				keyset_after_last(&q, &w);
				walk_page(f->s, &q, &w, n);
			}
			/* The same rows in the same order as one full listing: each once. */
			assert_int_equal(w.count, n);
			assert_memory_equal(w.ids, all.ids, sizeof(all.ids[0]) * (size_t)n);
			for (i = 0; i < n; i++)
				for (j = i + 1; j < n; j++)
					assert_true(w.ids[i] != w.ids[j]);
			/* After the last row: nothing, and the total still counts all. */
			keyset_after_last(&q, &w);
			assert_int_equal(walk_page(f->s, &q, &w, n), 0);
		}
	}
}

static void test_list_keyset_positions(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;

	populate_list(f->s);
	query_init(&q, "ml");
	q.has_after = true;
	/* By name: after ("db_main", its id) and before any real name. */
	q.after_name = "db_main";
	q.after_id = 3;
	assert_list(f->s, &q, "dbxmain,hf-token,registry,s3-data", 5);
	q.after_id = 2; /* a smaller id with the same name: db_main itself comes after */
	assert_list(f->s, &q, "db_main,dbxmain,hf-token,registry,s3-data", 5);
	q.after_name = "";
	q.after_id = 0;
	assert_list(f->s, &q, "db_main,dbxmain,hf-token,registry,s3-data", 5);
	q.after_name = "hf"; /* a position need not be a row */
	assert_list(f->s, &q, "hf-token,registry,s3-data", 5);
	q.descending = true;
	assert_list(f->s, &q, "dbxmain,db_main", 5);
	/* By time: s3-data (id 2) and db_main (id 3) were both created at 200. */
	q.sort = STORE_SORT_CREATED;
	q.descending = false;
	q.after_time = 200;
	q.after_id = 2;
	assert_list(f->s, &q, "db_main,dbxmain,registry", 5);
	q.descending = true;
	q.after_id = 3;
	assert_list(f->s, &q, "s3-data,hf-token", 5);
	q.sort = STORE_SORT_UPDATED;
	q.after_time = 300;
	q.after_id = 3;
	assert_list(f->s, &q, "dbxmain,registry", 5);
	/* With filters: the total counts the matches, not the rows after. */
	q.type = "database";
	assert_list(f->s, &q, "dbxmain", 2);
	q.limit = 1;
	q.descending = false;
	q.after_time = 0;
	assert_list(f->s, &q, "dbxmain", 2);
}

/* Rows inserted between pages: no row twice, none that existed at the
 * start missed, and the walk stays in order. */
static void test_list_keyset_concurrent_inserts(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;
	struct store_secret sec;
	struct walk start, w;
	int order, i, j, added = 0;
	char ws[16], project[16];

	for (order = 0; order < 6; order++) {
		snprintf(ws, sizeof(ws), "ws%d", order); /* a fresh one per order */
		populate_ties(f->s, ws);
		query_init(&q, ws);
		q.sort = (enum store_sort)(order / 2);
		q.descending = order % 2 != 0;
		q.limit = 4;
		list_all(f->s, &q, &start); /* the rows that exist at the start */
		memset(&w, 0, sizeof(w));
		walk_page(f->s, &q, &w, -1);
		while (w.page == q.limit) {
			/* New rows around the position: one at its very key (with
			 * a later id), one before everything, one after everything. */
			for (i = 0; i < 3; i++) {
				snprintf(project, sizeof(project), "new%d", added++);
				secret_init(&sec, ws, project, "", i == 0 ? w.last_name : i == 1 ? "a" : "zz");
				sec.created_at = i == 0 ? w.last_created : i == 1 ? 1 : 9999;
				sec.updated_at = i == 0 ? w.last_updated : i == 1 ? 1 : 9999;
				insert_secret(f->s, &sec);
			}
			keyset_after_last(&q, &w);
			walk_page(f->s, &q, &w, -1);
		}
		/* No row twice ... */
		for (i = 0; i < w.count; i++)
			for (j = i + 1; j < w.count; j++)
				assert_true(w.ids[i] != w.ids[j]);
		/* ... and every row of the start, in the start's order. */
		for (i = 0, j = 0; i < w.count && j < start.count; i++)
			if (w.ids[i] == start.ids[j])
				j++;
		assert_int_equal(j, start.count);
		/* Some rows added meanwhile were seen too (those after the position). */
		assert_true(w.count > start.count);
	}
}

static void test_list_keyset_rejects_offset(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;
	struct names n = {0};
	struct tr_error err = {0};

	populate_list(f->s);
	query_init(&q, "ml");
	q.has_after = true;
	q.after_name = "a";
	q.offset = 1;
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, NULL, &err), TR_EINVAL);
	assert_non_null(strstr(err.message, "offset"));
	q.offset = 0;
	q.after_name = NULL; /* by name, a position needs a name */
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, NULL, &err), TR_EINVAL);
	q.sort = STORE_SORT_CREATED; /* by time it does not */
	assert_int_equal(store_secret_list(f->s, &q, collect_secret, &n, NULL, &err), TR_OK);
	assert_int_equal(n.count, 5);
}

static void test_list_hide_expired(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;
	struct store_secret sec;
	static const struct {
		const char *name;
		int64_t expires_at;
	} rows[] = {{"never", 0}, {"past", 400}, {"now", 500}, {"soon", 501}, {"later", 9000}};
	size_t i;

	make_workspace(f->s, "ws");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		secret_init(&sec, "ws", "", "", rows[i].name);
		sec.expires_at = rows[i].expires_at;
		insert_secret(f->s, &sec);
	}
	query_init(&q, "ws");
	assert_list(f->s, &q, "later,never,now,past,soon", 5);
	q.hide_expired = true;
	q.now = 500; /* expires_at <= now has passed */
	assert_list(f->s, &q, "later,never,soon", 3);
	q.now = 100;
	assert_list(f->s, &q, "later,never,now,past,soon", 5);
	q.now = 10000;
	assert_list(f->s, &q, "never", 1);
	q.hide_expired = false; /* now alone does nothing */
	assert_list(f->s, &q, "later,never,now,past,soon", 5);

	/* With keyset paging and other filters; the total leaves them out too. */
	q.hide_expired = true;
	q.now = 500;
	q.limit = 1;
	q.has_after = true;
	q.after_name = "later";
	q.after_id = 0;
	assert_list(f->s, &q, "later", 3);
	q.after_id = 100;
	assert_list(f->s, &q, "never", 3);
	q.sort = STORE_SORT_CREATED;
	q.descending = true;
	q.after_time = 100;
	q.after_id = 3;
	q.limit = 10;
	assert_list(f->s, &q, "never", 3);
	q.visible_to = "alice";
	q.created_by = "alice";
	assert_list(f->s, &q, "never", 3);
	q.created_by = "bob";
	assert_list(f->s, &q, "", 0);
}

/* Every filter and every parameter at once, by offset and by keyset. */
static void test_list_all_parameters(void **state)
{
	struct fixture *f = *state;
	struct store_secret_query q;
	int order;

	populate_list(f->s);
	for (order = 0; order < 6; order++) {
		query_init(&q, "ml");
		q.search = "main";
		q.type = "database";
		q.tag = "prod";
		q.project = "";
		q.cluster = "gpu-1";
		q.created_by = "alice";
		q.visibility = "public";
		q.visible_to = "dave";
		q.hide_expired = true;
		q.now = 50;
		q.sort = (enum store_sort)(order / 2);
		q.descending = order % 2 != 0;
		assert_list(f->s, &q, "db_main", 1);
		q.has_after = true;
		q.after_name = q.descending ? "zzz" : "";
		q.after_time = q.descending ? 100000 : 0;
		q.after_id = 0;
		assert_list(f->s, &q, "db_main", 1);
		q.after_name = "db_main";
		q.after_time = q.sort == STORE_SORT_CREATED ? 200 : 300;
		q.after_id = 3;
		assert_list(f->s, &q, "", 1);
	}
}

/* ---- versions: history and expiry ------------------------------------ */

/* Versions as "n:provider:created_by" with blob sizes checked empty. */
static void collect_version(void *ctx, const struct store_version *v)
{
	char text[128];

	assert_int_equal(v->wrapped_key.len, 0);
	assert_null(v->wrapped_key.data);
	assert_int_equal(v->ciphertext.len, 0);
	assert_null(v->ciphertext.data);
	snprintf(text, sizeof(text), "%lld:%s:%lld", (long long)v->version, v->provider, (long long)v->created_at);
	names_add(ctx, text);
}

static void test_version_list(void **state)
{
	struct fixture *f = *state;
	struct store_version v;
	struct names n = {0};
	struct tr_error err = {0};
	int64_t id, other;
	int k;

	make_workspace(f->s, "ws");
	id = add_secret(f->s, "ws", "", "", "s");
	other = add_secret(f->s, "ws", "", "", "t");
	assert_int_equal(store_version_list(f->s, id, collect_version, &n, &err), TR_OK);
	assert_string_equal(n.text, "1:local-1:101");
	for (k = 2; k <= 5; k++) {
		version_init(&v, k);
		if (k == 4)
			snprintf(v.provider, sizeof(v.provider), "local-2");
		assert_int_equal(store_version_add(f->s, id, &v, k == 5 ? 3 : 0, &err), TR_OK);
		store_version_clear(&v);
	}
	/* Newest first; versions 1 and 2 were pruned (keep 3). */
	memset(&n, 0, sizeof(n));
	assert_int_equal(store_version_list(f->s, id, collect_version, &n, &err), TR_OK);
	assert_string_equal(n.text, "5:local-1:105,4:local-2:104,3:local-1:103");
	memset(&n, 0, sizeof(n));
	assert_int_equal(store_version_list(f->s, other, collect_version, &n, &err), TR_OK);
	assert_string_equal(n.text, "1:local-1:101");
	/* A secret that is gone has no versions. */
	assert_int_equal(store_secret_delete(f->s, id, &err), TR_OK);
	memset(&n, 0, sizeof(n));
	assert_int_equal(store_version_list(f->s, id, collect_version, &n, &err), TR_OK);
	assert_int_equal(n.count, 0);
}

static void test_purge_expired(void **state)
{
	struct fixture *f = *state;
	struct store_secret sec, got = {0};
	struct store_version v;
	int64_t purged = -1, ids[5];
	static const int64_t expires[] = {0, 50, 100, 101, 100};
	char sql[128];
	int i;

	make_workspace(f->s, "ws");
	make_workspace(f->s, "ws2");
	for (i = 0; i < 5; i++) {
		char name[16];

		snprintf(name, sizeof(name), "s%d", i);
		secret_init(&sec, i == 4 ? "ws2" : "ws", "", "", name);
		sec.expires_at = expires[i];
		ids[i] = insert_secret(f->s, &sec);
		version_init(&v, 2);
		assert_int_equal(store_version_add(f->s, ids[i], &v, 0, NULL), TR_OK);
		store_version_clear(&v);
	}
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM secret_versions"), 10);

	assert_int_equal(store_secret_purge_expired(f->s, 49, &purged, NULL), TR_OK);
	assert_int_equal(purged, 0);
	/* expires_at <= before, in every workspace; never-expiring ones stay. */
	assert_int_equal(store_secret_purge_expired(f->s, 100, &purged, NULL), TR_OK);
	assert_int_equal(purged, 3);
	assert_int_equal(get_secret(f->s, "ws", "s0", &got), TR_OK);
	store_secret_clear(&got);
	assert_int_equal(get_secret(f->s, "ws", "s3", &got), TR_OK);
	store_secret_clear(&got);
	assert_int_equal(get_secret(f->s, "ws", "s1", &got), TR_ENOTFOUND);
	assert_int_equal(get_secret(f->s, "ws", "s2", &got), TR_ENOTFOUND);
	assert_int_equal(get_secret(f->s, "ws2", "s4", &got), TR_ENOTFOUND);
	/* Their versions went with them. */
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM secret_versions"), 4);
	for (i = 1; i <= 4; i++) {
		snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM secret_versions WHERE secret_id = %lld",
		         (long long)ids[i]);
		assert_int_equal(raw_int(f->path, sql), i == 3 ? 2 : 0);
	}
	purged = -1;
	assert_int_equal(store_secret_purge_expired(f->s, 100, &purged, NULL), TR_OK);
	assert_int_equal(purged, 0);

	/* Inside a transaction it is part of it. */
	assert_int_equal(store_begin(f->s, NULL), TR_OK);
	assert_int_equal(store_secret_purge_expired(f->s, 1000, &purged, NULL), TR_OK);
	assert_int_equal(purged, 1);
	store_rollback(f->s);
	assert_int_equal(get_secret(f->s, "ws", "s3", &got), TR_OK);
	store_secret_clear(&got);
}

/* ---- key rotation ---------------------------------------------------- */

static void collect_provider_count(void *ctx, const char *provider, int64_t versions)
{
	char text[128];

	snprintf(text, sizeof(text), "%s=%lld", provider, (long long)versions);
	names_add(ctx, text);
}

/* Adds version n of secret id under provider, blobs "wk-n" / "ct-n". */
static void add_version_under(struct store *s, int64_t id, int64_t n, const char *provider)
{
	struct store_version v;

	version_init(&v, n);
	snprintf(v.provider, sizeof(v.provider), "%s", provider);
	assert_int_equal(store_version_add(s, id, &v, 0, NULL), TR_OK);
	store_version_clear(&v);
}

static void test_provider_counts(void **state)
{
	struct fixture *f = *state;
	struct names n = {0};
	struct tr_error err = {0};
	int64_t a, b;

	assert_int_equal(store_provider_counts(f->s, collect_provider_count, &n, &err), TR_OK);
	assert_int_equal(n.count, 0);
	make_workspace(f->s, "ws");
	make_workspace(f->s, "ws2");
	a = add_secret(f->s, "ws", "", "", "a");   /* v1 local-1 */
	b = add_secret(f->s, "ws2", "p", "", "b"); /* v1 local-1 */
	add_version_under(f->s, a, 2, "kms");
	add_version_under(f->s, a, 3, "local-2");
	add_version_under(f->s, b, 2, "kms");
	assert_int_equal(store_provider_counts(f->s, collect_provider_count, &n, &err), TR_OK);
	assert_string_equal(n.text, "kms=2,local-1=2,local-2=1");
	/* Pruned and deleted versions no longer count. */
	add_version_under(f->s, b, 3, "kms");
	assert_int_equal(store_secret_delete(f->s, a, &err), TR_OK);
	memset(&n, 0, sizeof(n));
	assert_int_equal(store_provider_counts(f->s, collect_provider_count, &n, &err), TR_OK);
	assert_string_equal(n.text, "kms=2,local-1=1");
}

/* Scan results as "id/version:provider", with the cursor of the last. */
struct scan {
	struct names seen;
	int64_t last_secret, last_version;
	int page;
	struct store *s; /* to check each ref's identity against */
};

static void collect_ref(void *ctx, const struct store_version_ref *ref)
{
	struct scan *sc = ctx;
	struct store_secret sec = {0};
	char text[160], blob[32];

	/* The identity is the secret's, the blobs the version's. */
	assert_int_equal(store_secret_get(sc->s, ref->workspace, ref->project, ref->cluster, ref->name, &sec, NULL),
	                 TR_OK);
	assert_int_equal(sec.id, ref->secret_id);
	assert_string_equal(sec.type, ref->type);
	store_secret_clear(&sec);
	snprintf(blob, sizeof(blob), "wk-%lld", (long long)ref->v.version);
	assert_int_equal(ref->v.wrapped_key.len, strlen(blob));
	assert_memory_equal(ref->v.wrapped_key.data, blob, strlen(blob));
	snprintf(blob, sizeof(blob), "ct-%lld", (long long)ref->v.version);
	assert_int_equal(ref->v.ciphertext.len, strlen(blob) + 1);
	assert_memory_equal(ref->v.ciphertext.data, blob, strlen(blob) + 1);
	assert_int_equal(ref->v.created_at, 100 + ref->v.version);
	assert_string_equal(ref->v.created_by, "alice");

	snprintf(text, sizeof(text), "%lld/%lld:%s", (long long)ref->secret_id, (long long)ref->v.version,
	         ref->v.provider);
	names_add(&sc->seen, text);
	sc->last_secret = ref->secret_id;
	sc->last_version = ref->v.version;
	sc->page++;
}

/* Pages through every version not under provider, limit at a time. */
static void scan_all(struct store *s, const char *provider, int64_t limit, struct scan *sc)
{
	int batches = 0;

	memset(sc, 0, sizeof(*sc));
	sc->s = s;
	do {
		assert_true(++batches < 100); /* a cursor that does not move would loop */
		sc->page = 0;
		assert_int_equal(store_version_scan_not_under(s, provider, sc->last_secret, sc->last_version, limit,
		                                              collect_ref, sc, NULL),
		                 TR_OK);
	} while (sc->page == limit);
}

/* Three secrets, versions under three providers:
 * a: 1 local-1, 2 kms, 3 local-1; b: 1 local-1; c: 1 local-1, 2 kms. */
static void populate_rotation(struct store *s, int64_t ids[3])
{
	struct store_secret sec;

	make_workspace(s, "ws");
	make_workspace(s, "ws2");
	ids[0] = add_secret(s, "ws", "", "", "a");
	secret_init(&sec, "ws", "proj", "", "b");
	snprintf(sec.type, sizeof(sec.type), "database");
	ids[1] = insert_secret(s, &sec);
	ids[2] = add_secret(s, "ws2", "", "gpu", "c");
	add_version_under(s, ids[0], 2, "kms");
	add_version_under(s, ids[0], 3, "local-1");
	add_version_under(s, ids[2], 2, "kms");
}

static void test_version_scan_not_under(void **state)
{
	struct fixture *f = *state;
	struct scan sc;
	struct tr_error err = {0};
	char expected[256];
	int64_t ids[3], limit;

	populate_rotation(f->s, ids);
	snprintf(expected, sizeof(expected), "%lld/1:local-1,%lld/3:local-1,%lld/1:local-1,%lld/1:local-1",
	         (long long)ids[0], (long long)ids[0], (long long)ids[1], (long long)ids[2]);
	/* In (secret_id, version) order, each once, whatever the batch size. */
	for (limit = 1; limit <= 5; limit++) {
		scan_all(f->s, "kms", limit, &sc);
		assert_string_equal(sc.seen.text, expected);
	}
	scan_all(f->s, "local-1", 2, &sc);
	snprintf(expected, sizeof(expected), "%lld/2:kms,%lld/2:kms", (long long)ids[0], (long long)ids[2]);
	assert_string_equal(sc.seen.text, expected);
	scan_all(f->s, "other", 100, &sc);
	assert_int_equal(sc.seen.count, 6);

	/* The cursor is strict and resumes inside a secret. */
	memset(&sc, 0, sizeof(sc));
	sc.s = f->s;
	assert_int_equal(store_version_scan_not_under(f->s, "kms", ids[0], 1, 2, collect_ref, &sc, &err), TR_OK);
	snprintf(expected, sizeof(expected), "%lld/3:local-1,%lld/1:local-1", (long long)ids[0], (long long)ids[1]);
	assert_string_equal(sc.seen.text, expected);
	memset(&sc, 0, sizeof(sc));
	sc.s = f->s;
	assert_int_equal(store_version_scan_not_under(f->s, "kms", ids[2], 1, 2, collect_ref, &sc, &err), TR_OK);
	assert_int_equal(sc.seen.count, 0);

	assert_int_equal(store_version_scan_not_under(f->s, "", 0, 0, 1, collect_ref, &sc, &err), TR_EINVAL);
	assert_int_equal(store_version_scan_not_under(f->s, NULL, 0, 0, 1, collect_ref, &sc, &err), TR_EINVAL);
	assert_int_equal(store_version_scan_not_under(f->s, "kms", 0, 0, 0, collect_ref, &sc, &err), TR_EINVAL);
}

/* The blobs of version n of a secret, read back. */
static void assert_blobs(struct store *s, int64_t id, int64_t n, const char *provider, const char *wk,
                         const char *ct, size_t ct_len)
{
	struct store_version v = {0};

	assert_int_equal(store_version_get(s, id, n, &v, NULL), TR_OK);
	assert_string_equal(v.provider, provider);
	assert_int_equal(v.wrapped_key.len, strlen(wk));
	assert_memory_equal(v.wrapped_key.data, wk, strlen(wk));
	assert_int_equal(v.ciphertext.len, ct_len);
	assert_memory_equal(v.ciphertext.data, ct, ct_len);
	store_version_clear(&v);
}

static void test_version_rewrap(void **state)
{
	struct fixture *f = *state;
	struct store_blob wk = {0}, ct = {0};
	struct store_version v;
	struct tr_error err = {0};
	struct names n = {0};
	char long_id[TR_PROVIDER_ID_MAX + 2];
	int64_t ids[3];

	populate_rotation(f->s, ids);
	assert_int_equal(store_blob_set(&wk, "new-wk", 6), TR_OK);
	assert_int_equal(store_blob_set(&ct, "new-ct", 6), TR_OK);

	/* Re-wrap only: the ciphertext stays. */
	assert_int_equal(store_version_rewrap(f->s, ids[0], 1, "local-1", "kms", &wk, NULL, &err), TR_OK);
	assert_blobs(f->s, ids[0], 1, "kms", "new-wk", "ct-1", 5);
	/* The provider is no longer local-1: a second swap conflicts, unchanged. */
	assert_int_equal(store_version_rewrap(f->s, ids[0], 1, "local-1", "kms", &ct, &ct, &err), TR_ECONFLICT);
	assert_non_null(strstr(err.message, "local-1"));
	assert_blobs(f->s, ids[0], 1, "kms", "new-wk", "ct-1", 5);
	/* Re-encryption: the ciphertext too. */
	assert_int_equal(store_version_rewrap(f->s, ids[0], 3, "local-1", "kms", &wk, &ct, &err), TR_OK);
	assert_blobs(f->s, ids[0], 3, "kms", "new-wk", "new-ct", 6);
	/* Versions that are not there, or gone. */
	assert_int_equal(store_version_rewrap(f->s, ids[0], 9, "local-1", "kms", &wk, NULL, &err), TR_ENOTFOUND);
	assert_int_equal(store_version_rewrap(f->s, ids[2] + 10, 1, "local-1", "kms", &wk, NULL, &err),
	                 TR_ENOTFOUND);
	version_init(&v, 4);
	assert_int_equal(store_version_add(f->s, ids[0], &v, 1, NULL), TR_OK); /* prunes 1..3 */
	store_version_clear(&v);
	assert_int_equal(store_version_rewrap(f->s, ids[0], 2, "kms", "local-2", &wk, NULL, &err), TR_ENOTFOUND);
	assert_int_equal(store_secret_delete(f->s, ids[1], &err), TR_OK);
	assert_int_equal(store_version_rewrap(f->s, ids[1], 1, "local-1", "kms", &wk, NULL, &err), TR_ENOTFOUND);
	/* Bad arguments. */
	assert_int_equal(store_version_rewrap(f->s, ids[2], 1, "", "kms", &wk, NULL, &err), TR_EINVAL);
	assert_int_equal(store_version_rewrap(f->s, ids[2], 1, "local-1", NULL, &wk, NULL, &err), TR_EINVAL);
	assert_int_equal(store_version_rewrap(f->s, ids[2], 1, "local-1", "kms", NULL, NULL, &err), TR_EINVAL);
	memset(long_id, 'p', sizeof(long_id) - 1); /* one byte more than a provider id may have */
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(store_version_rewrap(f->s, ids[2], 1, "local-1", long_id, &wk, NULL, &err), TR_EINVAL);
	long_id[sizeof(long_id) - 2] = '\0';
	assert_int_equal(store_version_rewrap(f->s, ids[2], 1, long_id, "kms", &wk, NULL, &err), TR_ECONFLICT);
	assert_blobs(f->s, ids[2], 1, "local-1", "wk-1", "ct-1", 5);

	/* In a caller's transaction a conflict leaves it open and intact. */
	assert_int_equal(store_begin(f->s, NULL), TR_OK);
	assert_int_equal(store_version_rewrap(f->s, ids[2], 1, "local-1", "kms", &wk, NULL, &err), TR_OK);
	assert_int_equal(store_version_rewrap(f->s, ids[2], 2, "local-1", "kms", &wk, NULL, &err), TR_ECONFLICT);
	assert_int_equal(store_commit(f->s, &err), TR_OK);
	assert_blobs(f->s, ids[2], 1, "kms", "new-wk", "ct-1", 5);
	assert_int_equal(store_provider_counts(f->s, collect_provider_count, &n, &err), TR_OK);
	assert_string_equal(n.text, "kms=2,local-1=1");
	free(wk.data);
	free(ct.data);
}

/* What a rotation does: scan a batch not under the current provider,
 * re-wrap each, go on from the cursor, until a batch comes back short. */
struct rotate {
	struct store *s;
	int rewrapped, conflicts;
	int64_t last_secret, last_version;
	int page;
};

static void rotate_one(void *ctx, const struct store_version_ref *ref)
{
	struct rotate *r = ctx;
	struct store_blob wk = {0};
	enum tr_status status;

	assert_int_equal(store_blob_set(&wk, "rewrapped", 9), TR_OK);
	/* Re-wrapping inside the scan's callback is allowed (another statement). */
	status = store_version_rewrap(r->s, ref->secret_id, ref->v.version, ref->v.provider, "current", &wk, NULL,
	                              NULL);
	assert_true(status == TR_OK || status == TR_ECONFLICT);
	if (status == TR_OK)
		r->rewrapped++;
	else
		r->conflicts++;
	free(wk.data);
	r->last_secret = ref->secret_id;
	r->last_version = ref->v.version;
	r->page++;
}

static void test_rotation_loop(void **state)
{
	struct fixture *f = *state;
	struct rotate r = {.s = f->s};
	struct names n = {0};
	int64_t ids[3];
	int i, batches = 0;

	populate_rotation(f->s, ids);
	/* Versions already under the target are skipped. */
	add_version_under(f->s, ids[1], 2, "current");
	for (i = 3; i <= 6; i++)
		add_version_under(f->s, ids[2], i, "current");
	do {
		assert_true(++batches < 100);
		r.page = 0;
		assert_int_equal(store_version_scan_not_under(f->s, "current", r.last_secret, r.last_version, 2,
		                                              rotate_one, &r, NULL),
		                 TR_OK);
	} while (r.page == 2);
	assert_int_equal(r.rewrapped, 6);
	assert_int_equal(r.conflicts, 0);
	assert_int_equal(store_provider_counts(f->s, collect_provider_count, &n, NULL), TR_OK);
	assert_string_equal(n.text, "current=11");
	/* Safe to run again: nothing left. */
	memset(&r, 0, sizeof(r));
	r.s = f->s;
	assert_int_equal(store_version_scan_not_under(f->s, "current", 0, 0, 100, rotate_one, &r, NULL), TR_OK);
	assert_int_equal(r.page, 0);
}

/* ---- audit log ------------------------------------------------------- */

/* Six records: three in ws (two on secret s), one in ws2, two global. */
static void populate_audit(struct store *s)
{
	static const struct {
		int64_t time;
		const char *actor, *action, *ws, *secret, *outcome;
	} rows[] = {
		{100, "alice", "workspace.create", "ws", "", "success"},
		{110, "alice", "secret.create", "ws", "s", "success"},
		{120, "bob", "secret.access", "ws", "s", "denied"},
		{130, "bob", "secret.create", "ws2", "s", "success"},
		{140, "", "auth", "", "", "denied"},
		{150, "alice", "principal.create", "", "", "success"},
	};
	struct store_audit rec;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		audit_init(&rec, (int64_t)i + 1, rows[i].time, rows[i].actor, rows[i].action, rows[i].ws,
		           rows[i].secret, rows[i].outcome);
		assert_int_equal(store_audit_append(s, &rec, NULL), TR_OK);
	}
}

/* Secrets named prefix-0.. with a ~60 KiB ciphertext each (15 WAL pages
 * and more), in one transaction. */
static void write_pages(struct store *s, const char *prefix, int count)
{
	static unsigned char big[60 * 1024];
	struct tr_error err = {0};

	assert_int_equal(store_begin(s, &err), TR_OK);
	for (int i = 0; i < count; i++) {
		struct store_secret sec;
		struct store_version v;
		char name[64];

		snprintf(name, sizeof(name), "%s-%d", prefix, i);
		secret_init(&sec, "ws", "", "", name);
		version_init(&v, 1);
		assert_int_equal(store_blob_set(&v.ciphertext, big, sizeof(big)), TR_OK);
		assert_int_equal(store_secret_insert(s, &sec, &v, &err), TR_OK);
		store_version_clear(&v);
		store_secret_clear(&sec);
	}
	assert_int_equal(store_commit(s, &err), TR_OK);
}

static off_t wal_size(const struct fixture *f)
{
	char path[PATH_MAX + 8];
	struct stat st;

	snprintf(path, sizeof(path), "%s-wal", f->path);
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* With checkpoints deferred: a checkpoint is due once per 1000 pages of
 * growth, not after every commit; past 16000 pages it is a restart by the
 * writing connection, after which the log starts over. */
static void test_checkpoint_policy(void **state)
{
	struct fixture *f = *state;
	struct tr_error err = {0};
	struct store *reader = NULL;
	struct store_workspace ws;
	off_t full;

	make_workspace(f->s, "ws");
	store_defer_checkpoints(f->s);
	write_pages(f->s, "a", 70); /* > 1000 pages */
	assert_int_equal(store_checkpoint_due(f->s), STORE_CHECKPOINT_BACKGROUND);
	write_pages(f->s, "b", 1); /* the log is long, but has not grown enough since */
	assert_int_equal(store_checkpoint_due(f->s), STORE_CHECKPOINT_NONE);
	write_pages(f->s, "c", 70);
	assert_int_equal(store_checkpoint_due(f->s), STORE_CHECKPOINT_BACKGROUND);
	assert_int_equal(store_checkpoint(f->s, STORE_CHECKPOINT_BACKGROUND, &err), TR_OK);

	write_pages(f->s, "d", 1100); /* > 16000 pages in all */
	assert_int_equal(store_checkpoint_due(f->s), STORE_CHECKPOINT_RESTART);
	/* A reader in the log makes the restart give up (after a short wait);
	 * it is not due again after every commit, only after more growth. */
	assert_int_equal(store_open(f->dsn, &reader, &err), TR_OK);
	assert_int_equal(store_begin_read(reader, &err), TR_OK);
	assert_int_equal(store_workspace_get(reader, "ws", &ws, &err), TR_OK);
	full = wal_size(f);
	assert_int_equal(store_checkpoint(f->s, STORE_CHECKPOINT_RESTART, &err), TR_OK);
	write_pages(f->s, "d1", 1);
	assert_true(wal_size(f) > full); /* appended: the log did not start over */
	assert_int_equal(store_checkpoint_due(f->s), STORE_CHECKPOINT_NONE);
	store_rollback(reader);
	store_close(reader);
	write_pages(f->s, "d2", 70);
	assert_int_equal(store_checkpoint_due(f->s), STORE_CHECKPOINT_RESTART);
	full = wal_size(f);
	assert_true(full > 16000 * 4096);
	assert_int_equal(store_checkpoint(f->s, STORE_CHECKPOINT_RESTART, &err), TR_OK);
	write_pages(f->s, "e", 1); /* starts the log over: written at its beginning */
	assert_int_equal(store_checkpoint_due(f->s), STORE_CHECKPOINT_NONE);
	assert_int_equal(wal_size(f), full); /* the file is kept, and reused */
}

static void insert_workspace(struct store *s, const char *name)
{
	struct tr_error err = {0};

	assert_int_equal(store_begin(s, &err), TR_OK);
	make_workspace(s, name);
	assert_int_equal(store_commit(s, &err), TR_OK);
}

/* Commits sync by default. STORE_FLUSH_LATER: a commit does not wait for
 * the disk but is written (another connection and a reopen see it);
 * store_flush syncs it; STORE_DURABLE syncs at commit again. Neither can be
 * set while a transaction is open. */
static void test_durability(void **state)
{
	struct fixture *f = *state;
	struct tr_error err = {0};
	struct store *other = NULL;
	struct store_workspace ws;
	int before = syncs_counted();

	insert_workspace(f->s, "default"); /* durable unless told otherwise */
	assert_true(syncs_counted() - before >= 1);
	assert_int_equal(store_set_durability(f->s, STORE_FLUSH_LATER, &err), TR_OK);
	before = syncs_counted();
	insert_workspace(f->s, "later");
	assert_int_equal(syncs_counted() - before, 0);
	assert_int_equal(store_open(f->dsn, &other, &err), TR_OK);
	assert_int_equal(store_workspace_get(other, "later", &ws, &err), TR_OK);
	assert_int_equal(store_flush(f->s, &err), TR_OK);
	assert_int_equal(syncs_counted() - before, 1);

	assert_int_equal(store_begin(f->s, &err), TR_OK);
	assert_int_not_equal(store_set_durability(f->s, STORE_DURABLE, &err), TR_OK);
	assert_int_equal(store_commit(f->s, &err), TR_OK);
	assert_int_equal(store_set_durability(f->s, STORE_DURABLE, &err), TR_OK);
	before = syncs_counted();
	insert_workspace(f->s, "durable");
	assert_true(syncs_counted() - before >= 1);

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->dsn, &f->s, &err), TR_OK);
	assert_int_equal(store_workspace_get(f->s, "later", &ws, &err), TR_OK);
	assert_int_equal(store_workspace_get(f->s, "durable", &ws, &err), TR_OK);
	store_close(other);
}

/* In memory there is nothing to sync: both settings work, flush too. */
static void test_durability_in_memory(void **state)
{
	struct store *s = NULL;
	struct tr_error err = {0};

	(void)state;
	assert_int_equal(store_open("sqlite::memory:", &s, &err), TR_OK);
	assert_int_equal(store_set_durability(s, STORE_FLUSH_LATER, &err), TR_OK);
	insert_workspace(s, "m");
	assert_int_equal(store_flush(s, &err), TR_OK);
	assert_int_equal(store_set_durability(s, STORE_DURABLE, &err), TR_OK);
	store_close(s);
}

/* Both counts as they stand: begun, then ended. */
static void changes_now(uint64_t *begun, uint64_t *ended)
{
	*begun = store_changes_begun();
	*ended = store_changes_ended();
}

/* A transaction that changes a row outside the audit log is counted as
 * begun at its first change and as ended once it has committed or rolled
 * back, on any connection, a unit of its own included; audit records and
 * reads are not counted. */
static void test_changes_are_counted(void **state)
{
	struct fixture *f = *state;
	struct tr_error err = {0};
	struct store *other = NULL;
	struct store_audit rec;
	struct store_workspace ws;
	uint64_t begun, ended, b, e;

	changes_now(&begun, &ended);
	assert_int_equal(begun, ended);
	assert_int_equal(store_begin(f->s, &err), TR_OK);
	make_workspace(f->s, "gen");
	changes_now(&b, &e);
	assert_int_equal(b, begun + 1); /* under way */
	assert_int_equal(e, ended);
	make_workspace(f->s, "gen2"); /* the same transaction */
	changes_now(&b, &e);
	assert_int_equal(b, begun + 1);
	assert_int_equal(store_commit(f->s, &err), TR_OK);
	changes_now(&b, &e);
	assert_int_equal(b, begun + 1);
	assert_int_equal(e, ended + 1);

	changes_now(&begun, &ended);
	audit_init(&rec, 1, 100, "alice", "secret.resolve", "gen", "s", "success");
	assert_int_equal(store_begin(f->s, &err), TR_OK);
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_OK);
	assert_int_equal(store_commit(f->s, &err), TR_OK);
	assert_int_equal(store_workspace_get(f->s, "gen", &ws, &err), TR_OK);
	changes_now(&b, &e);
	assert_int_equal(b, begun); /* a record and a read */
	assert_int_equal(e, ended);

	assert_int_equal(store_begin(f->s, &err), TR_OK);
	make_workspace(f->s, "undone");
	store_rollback(f->s);
	changes_now(&b, &e);
	assert_int_equal(b, begun + 1);
	assert_int_equal(e, ended + 1); /* ended, though nothing was kept */

	changes_now(&begun, &ended);
	assert_int_equal(store_open(f->dsn, &other, &err), TR_OK);
	make_workspace(other, "alone"); /* a unit of its own, on another connection */
	changes_now(&b, &e);
	assert_int_equal(b, begun + 1);
	assert_int_equal(e, ended + 1);

	/* Closed in the middle of a change: SQLite rolls it back, and it ends. */
	changes_now(&begun, &ended);
	assert_int_equal(store_begin(other, &err), TR_OK);
	make_workspace(other, "cut-short");
	store_close(other);
	changes_now(&b, &e);
	assert_int_equal(b, begun + 1);
	assert_int_equal(e, ended + 1);
}

/* A deferred read transaction takes its snapshot when asked to: a commit
 * made after that is not in it. */
static void test_take_snapshot(void **state)
{
	struct fixture *f = *state;
	struct tr_error err = {0};
	struct store *other = NULL;
	struct store_workspace ws;

	assert_int_equal(store_open(f->dsn, &other, &err), TR_OK);
	assert_int_equal(store_begin_read(f->s, &err), TR_OK);
	assert_int_equal(store_take_snapshot(f->s, &err), TR_OK);
	make_workspace(other, "after");
	assert_int_equal(store_workspace_get(f->s, "after", &ws, &err), TR_ENOTFOUND);
	assert_int_equal(store_commit(f->s, &err), TR_OK);
	assert_int_equal(store_workspace_get(f->s, "after", &ws, &err), TR_OK);
	store_close(other);
}

static void test_audit_append_last(void **state)
{
	struct fixture *f = *state;
	struct store_audit rec, got;
	struct tr_error err = {0};
	unsigned char zeros[STORE_AUDIT_HASH_BYTES] = {0};

	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(store_audit_last(f->s, &got, &err), TR_ENOTFOUND);
	assert_int_equal(got.seq, 0x5a5a5a5a5a5a5a5a); /* untouched */

	audit_init(&rec, 1, 100, "alice", "secret.create", "ws", "s", "success");
	assert_memory_equal(rec.prev_hash, zeros, sizeof(zeros));
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_OK);
	audit_init(&rec, 2, 101, "", "auth", "", "", "denied");
	snprintf(rec.scope, sizeof(rec.scope), "%s", "");
	rec.status = 401;
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_OK);

	assert_int_equal(store_audit_last(f->s, &got, &err), TR_OK);
	assert_int_equal(got.seq, 2);
	assert_int_equal(got.time, 101);
	assert_string_equal(got.actor, "");
	assert_string_equal(got.action, "auth");
	assert_string_equal(got.workspace, "");
	assert_string_equal(got.secret, "");
	assert_string_equal(got.scope, "");
	assert_string_equal(got.outcome, "denied");
	assert_int_equal(got.status, 401);
	assert_string_equal(got.client, "10.0.0.2");
	assert_string_equal(got.request_id, "req-2");
	assert_memory_equal(got.prev_hash, rec.prev_hash, sizeof(rec.prev_hash));
	assert_memory_equal(got.hash, rec.hash, sizeof(rec.hash));

	/* A taken seq conflicts and changes nothing; a seq below 1 is refused. */
	audit_init(&rec, 2, 999, "mallory", "secret.delete", "ws", "s", "success");
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_ECONFLICT);
	audit_init(&rec, 1, 999, "mallory", "secret.delete", "ws", "s", "success");
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_ECONFLICT);
	rec.seq = 0;
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_EINVAL);
	rec.seq = -5;
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_EINVAL);
	assert_int_equal(store_audit_last(f->s, &got, &err), TR_OK);
	assert_int_equal(got.seq, 2);
	assert_string_equal(got.actor, "");
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM audit_log WHERE actor = 'mallory'"), 0);

	/* Fields filled to their size round-trip whole. */
	audit_init(&rec, 3, 102, "", "secret.resolve", "", "", "success");
	memset(rec.secret, 's', sizeof(rec.secret) - 1);
	memset(rec.scope, 'c', sizeof(rec.scope) - 1);
	memset(rec.request_id, 'r', sizeof(rec.request_id) - 1);
	memset(rec.client, 'a', sizeof(rec.client) - 1);
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_OK);
	assert_int_equal(store_audit_last(f->s, &got, &err), TR_OK);
	assert_string_equal(got.secret, rec.secret);
	assert_string_equal(got.scope, rec.scope);
	assert_string_equal(got.request_id, rec.request_id);
	assert_string_equal(got.client, rec.client);
}

/* Checks every field of the record a list hands out against audit_init. */
static void check_audit_row(void *ctx, const struct store_audit *rec)
{
	unsigned char h[STORE_AUDIT_HASH_BYTES];
	char text[32];

	names_add(ctx, rec->action);
	snprintf(text, sizeof(text), "req-%lld", (long long)rec->seq);
	assert_string_equal(rec->request_id, text);
	snprintf(text, sizeof(text), "project:p%lld", (long long)rec->seq);
	assert_string_equal(rec->scope, text);
	memset(h, (int)rec->seq, sizeof(h));
	assert_memory_equal(rec->hash, h, sizeof(h));
	memset(h, (int)rec->seq - 1, sizeof(h));
	assert_memory_equal(rec->prev_hash, h, sizeof(h));
}

static void test_audit_list_filters(void **state)
{
	struct fixture *f = *state;
	struct store_audit_query q;
	struct names n = {0};
	struct tr_error err = {0};

	populate_audit(f->s);
	audit_query_init(&q);
	assert_audit(f->s, &q, "1,2,3,4,5,6");
	assert_int_equal(store_audit_list(f->s, &q, check_audit_row, &n, &err), TR_OK);
	assert_string_equal(n.text, "workspace.create,secret.create,secret.access,secret.create,auth,principal.create");

	q.workspace = "ws";
	assert_audit(f->s, &q, "1,2,3");
	q.secret = "s";
	assert_audit(f->s, &q, "2,3");
	q.workspace = NULL; /* a secret name alone spans workspaces */
	assert_audit(f->s, &q, "2,3,4");
	audit_query_init(&q);
	q.actor = "alice";
	assert_audit(f->s, &q, "1,2,6");
	q.actor = "";
	assert_audit(f->s, &q, "1,2,3,4,5,6");
	audit_query_init(&q);
	q.action = "secret.create";
	assert_audit(f->s, &q, "2,4");
	q.action = "secret"; /* exact, not a prefix */
	assert_audit(f->s, &q, "");
	audit_query_init(&q);
	q.outcome = "denied";
	assert_audit(f->s, &q, "3,5");
	audit_query_init(&q);
	q.since = 120; /* inclusive */
	assert_audit(f->s, &q, "3,4,5,6");
	q.until = 140; /* inclusive */
	assert_audit(f->s, &q, "3,4,5");
	q.since = 0;
	assert_audit(f->s, &q, "1,2,3,4,5");
	q.until = 99;
	assert_audit(f->s, &q, "");

	/* Everything at once. */
	audit_query_init(&q);
	q.workspace = "ws";
	q.secret = "s";
	q.actor = "bob";
	q.action = "secret.access";
	q.outcome = "denied";
	q.since = 120;
	q.until = 120;
	assert_audit(f->s, &q, "3");
	q.outcome = "success";
	assert_audit(f->s, &q, "");

	/* Values are bound, never SQL. */
	audit_query_init(&q);
	q.actor = "' OR 1=1 --";
	assert_audit(f->s, &q, "");
}

static void test_audit_list_paging(void **state)
{
	struct fixture *f = *state;
	struct store_audit_query q;
	struct names n = {0};
	struct tr_error err = {0};

	populate_audit(f->s);
	audit_query_init(&q);
	q.limit = 2;
	assert_audit(f->s, &q, "1,2");
	q.after = 2;
	assert_audit(f->s, &q, "3,4");
	q.after = 4;
	assert_audit(f->s, &q, "5,6");
	q.after = 6;
	assert_audit(f->s, &q, "");
	q.after = -3; /* before the first record: from the start */
	assert_audit(f->s, &q, "1,2");

	/* after combines with the filters: the page starts past it. */
	audit_query_init(&q);
	q.actor = "alice";
	q.limit = 1;
	q.after = 1;
	assert_audit(f->s, &q, "2");
	q.after = 2;
	assert_audit(f->s, &q, "6");
	q.after = 6;
	assert_audit(f->s, &q, "");

	audit_query_init(&q);
	q.limit = 0;
	assert_int_equal(store_audit_list(f->s, &q, collect_audit, &n, &err), TR_EINVAL);
	q.limit = -1;
	assert_int_equal(store_audit_list(f->s, &q, collect_audit, &n, &err), TR_EINVAL);
	assert_int_equal(n.count, 0);
}

static void test_audit_rows_outlive_workspaces(void **state)
{
	struct fixture *f = *state;
	struct store_audit_query q;

	make_workspace(f->s, "ws");
	populate_audit(f->s);
	assert_int_equal(store_workspace_delete(f->s, "ws", NULL), TR_OK);
	audit_query_init(&q);
	q.workspace = "ws";
	assert_audit(f->s, &q, "1,2,3");
}

/* A record that cannot be written fails the append; in a transaction that
 * the caller then rolls back, nothing of the transaction is left. */
/* The note of an audit journal file (how far the log holds its entries)
 * advances only from the entry before it (entry 1 from none), reads 0 when
 * there is none, and is forgotten one by one or all at once. Like the audit
 * log's rows, notes are not counted as changes of the data
 * (store_changes_begun), which would empty the workers' caches. */
static void test_journal_notes(void **state)
{
	struct fixture *f = *state;
	struct tr_error err = {0};
	uint64_t begun = store_changes_begun();
	int64_t applied = -1;

	assert_int_equal(store_journal_applied(f->s, "j1", &applied, &err), TR_OK);
	assert_int_equal(applied, 0);
	assert_int_equal(store_journal_advance(f->s, "j1", 2, &err), TR_ECONFLICT);
	assert_int_equal(store_journal_advance(f->s, "j1", 1, &err), TR_OK);
	assert_int_equal(store_journal_advance(f->s, "j1", 1, &err), TR_ECONFLICT);
	assert_int_equal(store_journal_advance(f->s, "j1", 3, &err), TR_ECONFLICT);
	assert_int_equal(store_journal_advance(f->s, "j1", 2, &err), TR_OK);
	assert_int_equal(store_journal_advance(f->s, "j1", 0, &err), TR_EINVAL);
	assert_int_equal(store_journal_advance(f->s, "j2", 1, &err), TR_OK);
	assert_int_equal(store_journal_applied(f->s, "j1", &applied, &err), TR_OK);
	assert_int_equal(applied, 2);

	assert_int_equal(store_journal_forget(f->s, "j1", &err), TR_OK);
	assert_int_equal(store_journal_applied(f->s, "j1", &applied, &err), TR_OK);
	assert_int_equal(applied, 0);
	assert_int_equal(store_journal_applied(f->s, "j2", &applied, &err), TR_OK);
	assert_int_equal(applied, 1);
	assert_int_equal(store_journal_forget(f->s, NULL, &err), TR_OK);
	assert_int_equal(store_journal_applied(f->s, "j2", &applied, &err), TR_OK);
	assert_int_equal(applied, 0);
	assert_true(store_changes_begun() == begun);
}

static void test_audit_append_failure(void **state)
{
	struct fixture *f = *state;
	struct store_audit rec, got;
	struct store_workspace ws;
	struct store_secret sec = {0};
	struct tr_error err = {0};

	make_workspace(f->s, "ws");
	audit_init(&rec, 1, 100, "alice", "workspace.create", "ws", "", "success");
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_OK);
	raw_exec(f->path, "CREATE TRIGGER audit_full BEFORE INSERT ON audit_log"
	                  " BEGIN SELECT RAISE(FAIL, 'full'); END");

	assert_int_equal(store_begin(f->s, &err), TR_OK);
	make_workspace(f->s, "tmp");
	add_secret(f->s, "ws", "", "", "s");
	make_principal(f->s, "bob", "user", false);
	make_member(f->s, "ws", "bob", "viewer");
	audit_init(&rec, 2, 101, "alice", "secret.create", "ws", "s", "success");
	assert_int_not_equal(store_audit_append(f->s, &rec, &err), TR_OK);
	assert_non_null(strstr(err.message, "full"));
	store_rollback(f->s);

	assert_int_equal(store_workspace_get(f->s, "tmp", &ws, NULL), TR_ENOTFOUND);
	assert_int_equal(get_secret(f->s, "ws", "s", &sec), TR_ENOTFOUND);
	assert_int_equal(store_principal_get(f->s, "bob", &(struct store_principal){0}, NULL), TR_ENOTFOUND);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM members"), 0);
	assert_int_equal(store_audit_last(f->s, &got, &err), TR_OK);
	assert_int_equal(got.seq, 1);

	/* Outside a transaction too: an error, and no record. */
	assert_int_not_equal(store_audit_append(f->s, &rec, &err), TR_OK);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM audit_log"), 1);

	/* Once the log can be written again, so can the record. */
	raw_exec(f->path, "DROP TRIGGER audit_full");
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_OK);
	assert_int_equal(store_audit_last(f->s, &got, &err), TR_OK);
	assert_int_equal(got.seq, 2);
}

/* The newest record as audit_last sees it inside a transaction: what this
 * connection appended, less what it rolled back, plus what another
 * connection committed meanwhile. */
static int64_t last_seq_in_transaction(struct store *s)
{
	struct store_audit got;
	struct tr_error err = {0};
	int64_t seq;

	assert_int_equal(store_begin(s, &err), TR_OK);
	assert_int_equal(store_audit_last(s, &got, &err), TR_OK);
	seq = got.seq;
	assert_int_equal(store_commit(s, &err), TR_OK);
	return seq;
}

/* This connection appends record seq and commits; another connection
 * then commits record seq + 1. */
static void append_then_another_appends(struct fixture *f, int64_t seq)
{
	struct store_audit rec;
	struct tr_error err = {0};
	char sql[256];

	assert_int_equal(store_begin(f->s, &err), TR_OK);
	audit_init(&rec, seq, 100 + seq, "alice", "secret.create", "ws", "t", "success");
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_OK);
	assert_int_equal(store_commit(f->s, &err), TR_OK);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO audit_log (seq, time, action, outcome, status, prev_hash, hash)"
	         " VALUES (%lld, 200, 'other', 'success', 200, zeroblob(32), zeroblob(32))",
	         (long long)seq + 1);
	raw_exec(f->path, sql);
}

static void test_audit_last_follows_rollbacks_and_other_writers(void **state)
{
	struct fixture *f = *state;
	struct store_audit rec, got;
	struct tr_error err = {0};

	assert_int_equal(store_begin(f->s, &err), TR_OK);
	audit_init(&rec, 1, 100, "alice", "secret.create", "ws", "s", "success");
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_OK);
	assert_int_equal(store_savepoint(f->s, &err), TR_OK);
	audit_init(&rec, 2, 101, "alice", "secret.create", "ws", "t", "success");
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_OK);
	assert_int_equal(store_audit_last(f->s, &got, &err), TR_OK);
	assert_int_equal(got.seq, 2);
	store_rollback_to(f->s);
	assert_int_equal(store_audit_last(f->s, &got, &err), TR_OK);
	assert_int_equal(got.seq, 1);
	assert_string_equal(got.secret, "s");
	assert_int_equal(store_commit(f->s, &err), TR_OK);
	assert_int_equal(last_seq_in_transaction(f->s), 1);

	/* Another connection appends: the next transaction sees its record. */
	append_then_another_appends(f, 2);
	assert_int_equal(last_seq_in_transaction(f->s), 3);

	/* Also when a read transaction came first and saw it. */
	append_then_another_appends(f, 4);
	assert_int_equal(store_begin_read(f->s, &err), TR_OK);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM audit_log"), 5);
	assert_int_equal(store_workspace_get(f->s, "ws", &(struct store_workspace){0}, &err), TR_ENOTFOUND);
	assert_int_equal(store_commit(f->s, &err), TR_OK);
	assert_int_equal(last_seq_in_transaction(f->s), 5);

	/* A whole rollback forgets the records it undid. */
	assert_int_equal(store_begin(f->s, &err), TR_OK);
	audit_init(&rec, 6, 106, "alice", "secret.create", "ws", "v", "success");
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_OK);
	store_rollback(f->s);
	assert_int_equal(last_seq_in_transaction(f->s), 5);

	/* So does a failed statement: this one rolls the whole transaction back. */
	raw_exec(f->path, "CREATE TRIGGER boom BEFORE INSERT ON workspaces WHEN NEW.name = 'boom'"
	                  " BEGIN SELECT RAISE(ROLLBACK, 'boom'); END");
	assert_int_equal(store_begin(f->s, &err), TR_OK);
	assert_int_equal(store_audit_append(f->s, &rec, &err), TR_OK);
	assert_int_not_equal(store_workspace_create(f->s, &(struct store_workspace){.name = "boom"}, &err), TR_OK);
	assert_false(store_in_transaction(f->s));
	assert_int_equal(last_seq_in_transaction(f->s), 5);

	/* A deferred transaction has no snapshot before its first read. */
	append_then_another_appends(f, 6);
	assert_int_equal(store_begin_read(f->s, &err), TR_OK);
	assert_int_equal(store_audit_last(f->s, &got, &err), TR_OK);
	assert_int_equal(got.seq, 7);
	assert_int_equal(store_commit(f->s, &err), TR_OK);
}

/* Copies the record a list hands out. */
static void copy_audit(void *ctx, const struct store_audit *rec)
{
	*(struct store_audit *)ctx = *rec;
}

/* A record changed behind tresor's back: a hash or prev_hash of the wrong
 * length (or not a blob) reads with both hashes zeroed, so verification
 * fails on that record; a text that does not fit its field makes the list
 * fail, naming the seq. */
static void test_audit_damaged_rows(void **state)
{
	struct fixture *f = *state;
	struct store_audit got;
	struct store_audit_query q;
	struct names n = {0};
	struct tr_error err = {0};
	unsigned char zeros[STORE_AUDIT_HASH_BYTES] = {0}, h[STORE_AUDIT_HASH_BYTES];

	populate_audit(f->s);
	raw_exec(f->path, "PRAGMA ignore_check_constraints = ON;"
	                  " UPDATE audit_log SET prev_hash = x'00' WHERE seq = 1;"
	                  " UPDATE audit_log SET hash = 'text, not a blob' WHERE seq = 2;"
	                  " UPDATE audit_log SET hash = x'0102' WHERE seq = 6;");
	assert_int_equal(store_audit_last(f->s, &got, &err), TR_OK);
	assert_int_equal(got.seq, 6);
	assert_string_equal(got.action, "principal.create");
	assert_memory_equal(got.hash, zeros, sizeof(zeros));
	assert_memory_equal(got.prev_hash, zeros, sizeof(zeros));

	audit_query_init(&q);
	q.limit = 1;
	/* Record 1's prev_hash is bad: its own (intact) hash reads as zeros
	 * too, as zeros are what a good prev_hash of record 1 holds. */
	memset(&got, 0x77, sizeof(got));
	assert_int_equal(store_audit_list(f->s, &q, copy_audit, &got, &err), TR_OK);
	assert_int_equal(got.seq, 1);
	assert_string_equal(got.action, "workspace.create");
	assert_memory_equal(got.hash, zeros, sizeof(zeros));
	assert_memory_equal(got.prev_hash, zeros, sizeof(zeros));
	q.after = 1;
	memset(&got, 0x77, sizeof(got));
	assert_int_equal(store_audit_list(f->s, &q, copy_audit, &got, &err), TR_OK);
	assert_int_equal(got.seq, 2);
	assert_memory_equal(got.hash, zeros, sizeof(zeros));
	assert_memory_equal(got.prev_hash, zeros, sizeof(zeros));
	q.after = 2;
	assert_int_equal(store_audit_list(f->s, &q, copy_audit, &got, &err), TR_OK);
	assert_int_equal(got.seq, 3);
	memset(h, 3, sizeof(h));
	assert_memory_equal(got.hash, h, sizeof(h)); /* intact rows read intact */
	memset(h, 2, sizeof(h));
	assert_memory_equal(got.prev_hash, h, sizeof(h));

	raw_exec(f->path, "UPDATE audit_log SET actor = replace(hex(zeroblob(50)), '0', 'x') WHERE seq = 4");
	audit_query_init(&q);
	assert_int_equal(store_audit_list(f->s, &q, collect_audit, &n, &err), TR_EINTERNAL);
	assert_non_null(strstr(err.message, "seq 4"));
	assert_string_equal(n.text, "1,2,3"); /* the rows before it were handed out */
	q.actor = "alice"; /* a page without it still reads */
	assert_audit(f->s, &q, "1,2,6");
}

/* ---- migration ------------------------------------------------------- */

/* The version-1 schema exactly as tresor created it, to build an old file. */
/* clang-format off */
static const char v1_schema[] =
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

static void test_migrate_from_v1(void **state)
{
	char path[PATH_MAX], dsn[PATH_MAX + 16];
	struct store *s = NULL;
	struct store_token t;
	struct store_secret sec = {0};
	struct store_version v = {0};
	struct store_member m;
	struct store_audit rec, got;
	struct names n = {0};
	struct tr_error err = {0};
	unsigned char hash[32];

	(void)state;
	snprintf(path, sizeof(path), "%s/v1-%d.sqlite", tmpdir, ++db_counter);
	snprintf(dsn, sizeof(dsn), "sqlite:%s", path);
	raw_exec(path, v1_schema);
	raw_exec(path, "PRAGMA user_version = 1;"
	               "INSERT INTO workspaces VALUES ('ws', 10, 'root');"
	               "INSERT INTO principals VALUES ('alice', 'user', 1, 20);"
	               "INSERT INTO tokens VALUES ('tok_00000000000000aa', 'alice', zeroblob(32), 'old', 30, 0);"
	               "INSERT INTO secrets (workspace, name, type, version, created_at, updated_at, created_by)"
	               " VALUES ('ws', 'old-secret', 'opaque', 1, 40, 40, 'alice');"
	               "INSERT INTO secret_versions VALUES (1, 1, 'local-1', x'01', x'02', 40, 'alice');");
	assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'members'"), 0);

	assert_int_equal(store_open(dsn, &s, &err), TR_OK);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 7);
	/* v6: inserts count themselves; deletes keep their trigger */
	assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'"
	                               " AND name = 'secrets_count_insert'"),
	                 0);
	assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'"
	                               " AND name = 'secrets_count_delete'"),
	                 1);
	assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'secrets_ws_expires'"
	                               " AND sql LIKE '%WHERE expires_at > 0'"),
	                 1);
	/* v4 counted the secret that was already there */
	assert_int_equal(raw_int(path, "SELECT secret_count FROM workspaces WHERE name = 'ws'"), 1);

	/* The old rows are all there; old tokens were minted by nobody known. */
	memset(hash, 0, sizeof(hash));
	assert_int_equal(store_token_get_by_hash(s, hash, &t, &err), TR_OK);
	assert_string_equal(t.id, "tok_00000000000000aa");
	assert_string_equal(t.description, "old");
	assert_string_equal(t.created_by, "");
	assert_int_equal(store_secret_get(s, "ws", NULL, NULL, "old-secret", &sec, &err), TR_OK);
	assert_string_equal(sec.created_by, "alice");
	assert_int_equal(store_version_get(s, sec.id, 0, &v, &err), TR_OK);
	assert_int_equal(v.ciphertext.len, 1);
	store_version_clear(&v);
	store_secret_clear(&sec);

	/* The new tables and column work, cascades included. */
	token_init(&t, "tok_00000000000000bb", "alice", 0xbb, 50);
	snprintf(t.created_by, sizeof(t.created_by), "root");
	assert_int_equal(store_token_insert(s, &t, &err), TR_OK);
	assert_int_equal(store_token_get_by_hash(s, t.hash, &t, &err), TR_OK);
	assert_string_equal(t.created_by, "root");
	make_member(s, "ws", "alice", "admin");
	assert_int_equal(store_member_get(s, "ws", "alice", &m, &err), TR_OK);
	audit_init(&rec, 1, 60, "alice", "member.put", "ws", "", "success");
	assert_int_equal(store_audit_append(s, &rec, &err), TR_OK);
	assert_int_equal(store_audit_last(s, &got, &err), TR_OK);
	assert_int_equal(got.seq, 1);
	assert_int_equal(store_principal_delete(s, "alice", &err), TR_OK);
	assert_int_equal(store_member_list(s, "ws", collect_member, &n, &err), TR_OK);
	assert_int_equal(n.count, 0);
	assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM tokens"), 0);
	assert_int_equal(raw_int(path, "SELECT COUNT(*) FROM audit_log"), 1);
	store_close(s);

	/* Opening again migrates nothing more. */
	assert_int_equal(store_open(dsn, &s, &err), TR_OK);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 7);
	assert_int_equal(store_audit_last(s, &got, &err), TR_OK);
	store_close(s);
}

/* ---- durability ------------------------------------------------------ */

static void test_reopen_keeps_everything(void **state)
{
	struct fixture *f = *state;
	struct store_secret got = {0};
	struct store_version v = {0};
	struct store_workspace ws;
	struct store_principal p;
	struct store_token t, tg;
	struct store_member m;
	struct store_audit rec, got_rec;
	struct tr_error err = {0};
	int64_t id;

	make_workspace(f->s, "ws");
	id = add_secret(f->s, "ws", "proj", "", "s");
	version_init(&v, 2);
	assert_int_equal(store_version_add(f->s, id, &v, 0, NULL), TR_OK);
	store_version_clear(&v);
	make_principal(f->s, "alice", "user", true);
	token_init(&t, "tok_00000000000000aa", "alice", 0xaa, 7);
	snprintf(t.created_by, sizeof(t.created_by), "root");
	assert_int_equal(store_token_insert(f->s, &t, NULL), TR_OK);
	make_member(f->s, "ws", "alice", "editor");
	audit_init(&rec, 1, 100, "alice", "member.put", "ws", "", "success");
	assert_int_equal(store_audit_append(f->s, &rec, NULL), TR_OK);

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->dsn, &f->s, &err), TR_OK);

	assert_int_equal(store_workspace_get(f->s, "ws", &ws, NULL), TR_OK);
	assert_int_equal(store_secret_get(f->s, "ws", "proj", NULL, "s", &got, NULL), TR_OK);
	assert_int_equal(got.id, id);
	store_secret_clear(&got);
	assert_int_equal(store_version_get(f->s, id, 0, &v, NULL), TR_OK);
	assert_version_is(&v, 2);
	store_version_clear(&v);
	assert_int_equal(store_version_get(f->s, id, 1, &v, NULL), TR_OK);
	assert_version_is(&v, 1);
	store_version_clear(&v);
	assert_int_equal(store_principal_get(f->s, "alice", &p, NULL), TR_OK);
	assert_true(p.platform_admin);
	assert_int_equal(store_token_get_by_hash(f->s, t.hash, &tg, NULL), TR_OK);
	assert_string_equal(tg.id, "tok_00000000000000aa");
	assert_string_equal(tg.created_by, "root");
	assert_int_equal(store_member_get(f->s, "ws", "alice", &m, NULL), TR_OK);
	assert_string_equal(m.role, "editor");
	assert_int_equal(store_audit_last(f->s, &got_rec, NULL), TR_OK);
	assert_int_equal(got_rec.seq, 1);
	assert_string_equal(got_rec.request_id, rec.request_id);
	assert_memory_equal(got_rec.hash, rec.hash, sizeof(rec.hash));
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_bad_dsn),
		cmocka_unit_test(test_open_memory),
		cmocka_unit_test(test_file_mode_and_pragmas),
		cmocka_unit_test_setup_teardown(test_open_refuses_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workspaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workspace_delete_cascades, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_callback_reentry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_insert_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_null_json_reads_as_empty_array, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_identity_and_scopes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_pruning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_empty_blobs, setup, teardown),
		cmocka_unit_test(test_blob_helpers),
		cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_search_wildcards_are_literal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_sort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_rejects_bad_queries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_total_follows_inserts_deletes_and_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_filtered_total_is_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_and_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_undoes_insert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_light_units, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_keeps_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transaction_isolation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_principals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_principal_list_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_put_in_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_created_by, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_visible_to, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_keyset_walks_every_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_keyset_positions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_keyset_concurrent_inserts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_keyset_rejects_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_hide_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_all_parameters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provider_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_scan_not_under, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_rewrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durability, setup, teardown),
		cmocka_unit_test(test_durability_in_memory),
		cmocka_unit_test_setup_teardown(test_changes_are_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_take_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_append_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_notes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_list_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_list_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_rows_outlive_workspaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_append_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_last_follows_rollbacks_and_other_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_damaged_rows, setup, teardown),
		cmocka_unit_test(test_migrate_from_v1),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
