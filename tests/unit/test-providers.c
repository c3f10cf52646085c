/*
 * test-providers.c - unit tests for the "passphrase" and "exec" key
 * providers (src/crypto/provider-passphrase.c, provider-exec.c) and the
 * config loader (src/crypto/keyring-config.c).
 *
 * The exec tests drive the reference plugin, tools/kms-plugin (found next
 * to this binary in the build tree, or at $TRESOR_KMS_PLUGIN), and small
 * shell scripts that break the protocol in the ways a real plugin might:
 * crash, hang, answer garbage, refuse, leak environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "crypto/envelope.h"
#include "crypto/keyring-config.h"
#include "crypto/keyring.h"

/* Cheap Argon2id for tests. */
static const struct passphrase_params fast = {1, 64};

/* ---- helpers ---- */

struct tmp {
	char dir[64];
};

static void tmp_make(struct tmp *t)
{
	strcpy(t->dir, "/tmp/tresor-test-providers-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
}

static void tmp_path(const struct tmp *t, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", t->dir, name);
}

static void tmp_remove(struct tmp *t)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	assert_int_equal(system(cmd), 0);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct keyring *new_keyring(void)
{
	struct keyring *kr = NULL;

	assert_int_equal(keyring_new(&kr, NULL), TR_OK);
	return kr;
}

static const struct key_provider *add(struct keyring *kr, struct key_provider *p)
{
	char id[sizeof(p->id)];

	memcpy(id, p->id, sizeof(id));
	assert_int_equal(keyring_add(kr, p, NULL), TR_OK);
	return keyring_get(kr, id);
}

static enum tr_status wrap(const struct key_provider *p, const unsigned char *dk, unsigned char **blob, size_t *len,
                           struct tr_error *err)
{
	return p->ops->wrap(p->ctx, p->id, dk, blob, len, err);
}

/* Unwraps and checks that dk is wiped on failure. */
static enum tr_status unwrap(const struct key_provider *p, const unsigned char *blob, size_t len, unsigned char *dk,
                             struct tr_error *err)
{
	static const unsigned char zero[DATA_KEY_BYTES];
	enum tr_status st;

	memset(dk, 0xAA, DATA_KEY_BYTES);
	st = p->ops->unwrap(p->ctx, p->id, blob, len, dk, err);
	if (st != TR_OK) {
		assert_memory_equal(dk, zero, DATA_KEY_BYTES);
		assert_true(err->message[0] != '\0');
	}
	return st;
}

/* Wraps a random key with p and unwraps it again. */
static void round_trip(const struct key_provider *p)
{
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	struct tr_error err = {0};
	unsigned char *blob = NULL;
	size_t len = 0;

	randombytes_buf(dk, sizeof(dk));
	assert_int_equal(wrap(p, dk, &blob, &len, &err), TR_OK);
	assert_null(memmem(blob, len, dk, sizeof(dk)));
	assert_int_equal(unwrap(p, blob, len, back, &err), TR_OK);
	assert_memory_equal(back, dk, sizeof(dk));
	free(blob);
}

/* ---- passphrase ---- */

static struct key_provider *new_pp(const char *id, const char *pass, const char *kdf, enum tr_status want,
                                   struct tr_error *err)
{
	struct key_provider *p = NULL;

	assert_int_equal(provider_passphrase_new(id, pass, strlen(pass), &fast, kdf, &p, err), want);
	if (want == TR_OK)
		assert_non_null(p);
	else
		assert_null(p);
	return p;
}

static void test_passphrase_round_trip_and_kdf_file(void **state)
{
	struct keyring *kr = new_keyring();
	struct tr_error err = {0};
	char kdf[128], text[512] = {0};
	const struct key_provider *p;
	struct stat st;
	struct tmp t;
	FILE *f;

	(void)state;
	tmp_make(&t);
	tmp_path(&t, "passphrase-pw.kdf", kdf, sizeof(kdf));
	p = add(kr, new_pp("pw", "correct horse battery", kdf, TR_OK, &err));
	assert_string_equal(p->ops->family, "passphrase");
	round_trip(p);
	/* The KDF file: 0600, one line, salt and cost, no passphrase. */
	assert_int_equal(stat(kdf, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	f = fopen(kdf, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	assert_int_equal(strncmp(text, "tresor-kdf-v1 argon2id13 ops=1 mem_kib=64 salt=", 47), 0);
	assert_null(strstr(text, "horse"));
	keyring_free(kr);
	tmp_remove(&t);
}

static void test_passphrase_reopen_same_key(void **state)
{
	struct keyring *kr = new_keyring();
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	struct tr_error err = {0};
	unsigned char *blob = NULL;
	const struct key_provider *a, *b;
	size_t len = 0;
	char kdf[128];
	struct tmp t;

	(void)state;
	tmp_make(&t);
	tmp_path(&t, "k.kdf", kdf, sizeof(kdf));
	a = add(kr, new_pp("pw", "correct horse battery", kdf, TR_OK, &err));
	randombytes_buf(dk, sizeof(dk));
	assert_int_equal(wrap(a, dk, &blob, &len, &err), TR_OK);
	keyring_free(kr);
	/* A new process: same file, same passphrase, same key. */
	kr = new_keyring();
	b = add(kr, new_pp("pw", "correct horse battery", kdf, TR_OK, &err));
	assert_int_equal(unwrap(b, blob, len, back, &err), TR_OK);
	assert_memory_equal(back, dk, sizeof(dk));
	free(blob);
	keyring_free(kr);
	tmp_remove(&t);
}

static void test_passphrase_wrong_passphrase(void **state)
{
	struct keyring *kr = new_keyring();
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	struct tr_error err = {0};
	unsigned char *blob = NULL;
	const struct key_provider *a, *b;
	char kdf[128], kdf2[128];
	size_t len = 0;
	struct tmp t;

	(void)state;
	tmp_make(&t);
	tmp_path(&t, "k.kdf", kdf, sizeof(kdf));
	tmp_path(&t, "other.kdf", kdf2, sizeof(kdf2));
	a = add(kr, new_pp("pw", "correct horse battery", kdf, TR_OK, &err));
	/* Against the KDF file's check value: refused at once, clearly. */
	new_pp("pw", "wrong horse battery", kdf, TR_ECRYPTO, &err);
	assert_non_null(strstr(err.message, "wrong passphrase"));
	assert_non_null(strstr(err.message, "'pw'"));
	assert_null(strstr(err.message, "horse"));
	/* Without the file (a fresh one): the blob does not open. */
	randombytes_buf(dk, sizeof(dk));
	assert_int_equal(wrap(a, dk, &blob, &len, &err), TR_OK);
	b = add(kr, new_pp("pw2", "wrong horse battery", kdf2, TR_OK, &err));
	assert_int_equal(b->ops->unwrap(b->ctx, "pw", blob, len, back, &err), TR_ECRYPTO);
	assert_non_null(strstr(err.message, "unwrap failed"));
	free(blob);
	keyring_free(kr);
	tmp_remove(&t);
}

static void test_passphrase_lost_kdf_file(void **state)
{
	struct keyring *kr = new_keyring();
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	struct tr_error err = {0};
	unsigned char *blob = NULL;
	const struct key_provider *b;
	size_t len = 0;
	char kdf[128];
	struct tmp t;

	(void)state;
	tmp_make(&t);
	tmp_path(&t, "k.kdf", kdf, sizeof(kdf));
	randombytes_buf(dk, sizeof(dk));
	assert_int_equal(wrap(add(kr, new_pp("pw", "correct horse battery", kdf, TR_OK, &err)), dk, &blob, &len, &err),
	                 TR_OK);
	keyring_free(kr);
	/* The file is lost: a new salt is made, yet the blob (which carries
	 * its own salt) still opens with the passphrase. */
	assert_int_equal(unlink(kdf), 0);
	kr = new_keyring();
	b = add(kr, new_pp("pw", "correct horse battery", kdf, TR_OK, &err));
	assert_int_equal(unwrap(b, blob, len, back, &err), TR_OK);
	assert_memory_equal(back, dk, sizeof(dk));
	assert_int_equal(unwrap(b, blob, len, back, &err), TR_OK); /* now from the cache */
	round_trip(b);
	free(blob);
	keyring_free(kr);
	tmp_remove(&t);
}

static void test_passphrase_corrupted(void **state)
{
	struct keyring *kr = new_keyring();
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	struct tr_error err = {0};
	unsigned char *blob = NULL;
	const struct key_provider *p;
	size_t len = 0;
	char kdf[128];
	struct tmp t;

	(void)state;
	tmp_make(&t);
	tmp_path(&t, "k.kdf", kdf, sizeof(kdf));
	p = add(kr, new_pp("pw", "correct horse battery", kdf, TR_OK, &err));
	randombytes_buf(dk, sizeof(dk));
	assert_int_equal(wrap(p, dk, &blob, &len, &err), TR_OK);
	assert_int_equal(len, 1 + 4 + 4 + 16 + 24 + 48);
	/* Every byte but the cost fields (a flipped cost is a different,
	 * possibly huge, derivation; those are checked below). */
	for (size_t i = 0; i < len; i++) {
		if (i >= 1 && i < 9)
			continue;
		blob[i] ^= 0x01;
		assert_int_equal(unwrap(p, blob, len, back, &err), TR_ECRYPTO);
		blob[i] ^= 0x01;
	}
	blob[1] ^= 0x01; /* ops 1 -> 0: out of bounds */
	assert_int_equal(unwrap(p, blob, len, back, &err), TR_ECRYPTO);
	blob[1] ^= 0x01;
	blob[8] = 0xff; /* memory far beyond the limit */
	assert_int_equal(unwrap(p, blob, len, back, &err), TR_ECRYPTO);
	blob[8] = 0;
	assert_int_equal(unwrap(p, blob, len - 1, back, &err), TR_ECRYPTO);
	assert_int_equal(unwrap(p, blob, 0, back, &err), TR_ECRYPTO);
	assert_int_equal(unwrap(p, blob, len, back, &err), TR_OK);
	assert_memory_equal(back, dk, sizeof(dk));
	free(blob);
	keyring_free(kr);
	tmp_remove(&t);
}

static void test_passphrase_bad_arguments(void **state)
{
	struct passphrase_params slow = {PASSPHRASE_OPS_MAX + 1, 64};
	struct key_provider *p = NULL;
	struct tr_error err = {0};
	char kdf[128];
	struct tmp t;

	(void)state;
	tmp_make(&t);
	tmp_path(&t, "k.kdf", kdf, sizeof(kdf));
	new_pp("pw", "short", kdf, TR_EINVAL, &err);
	assert_non_null(strstr(err.message, "8 to"));
	assert_int_equal(provider_passphrase_new("pw", "long enough pass", 16, &slow, kdf, &p, &err), TR_EINVAL);
	new_pp("bad id!", "long enough pass", kdf, TR_EINVAL, &err);
	/* A damaged KDF file is an error, not a silent new salt. */
	write_file(kdf, "tresor-kdf-v1 nonsense\n", 0600);
	new_pp("pw", "long enough pass", kdf, TR_EUNAVAIL, &err);
	assert_non_null(strstr(err.message, "damaged"));
	write_file(kdf, "x", 0644);
	new_pp("pw", "long enough pass", kdf, TR_EUNAVAIL, &err);
	assert_non_null(strstr(err.message, "chmod 600"));
	tmp_remove(&t);
}

/* ---- exec ---- */

static char plugin_path[PATH_MAX];

/* tools/kms-plugin/tresor-kms-plugin of this build tree. */
static const char *plugin(void)
{
	char exe[PATH_MAX - 64];
	ssize_t n;
	char *slash;

	if (plugin_path[0])
		return plugin_path;
	if (getenv("TRESOR_KMS_PLUGIN")) {
		snprintf(plugin_path, sizeof(plugin_path), "%s", getenv("TRESOR_KMS_PLUGIN"));
		return plugin_path;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	assert_non_null(slash);
	*slash = '\0';
	snprintf(plugin_path, sizeof(plugin_path), "%s/../../tools/kms-plugin/tresor-kms-plugin", exe);
	assert_int_equal(access(plugin_path, X_OK), 0);
	return plugin_path;
}

struct plugin_env {
	struct tmp t;
	char key_file[128];
};

static void plugin_env_make(struct plugin_env *pe)
{
	unsigned char key[32];
	char b64[64];

	tmp_make(&pe->t);
	tmp_path(&pe->t, "kms.key", pe->key_file, sizeof(pe->key_file));
	randombytes_buf(key, sizeof(key));
	sodium_bin2base64(b64, sizeof(b64), key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
	strcat(b64, "\n");
	write_file(pe->key_file, b64, 0600);
}

/* Starts the reference plugin as provider id with extra flags (NULL-terminated). */
static enum tr_status new_exec(const char *id, const struct plugin_env *pe, int timeout_ms, const char *const *extra,
                               struct key_provider **out, struct tr_error *err)
{
	const char *argv[16] = {plugin(), "--key-file", pe->key_file};
	struct exec_params params = {.argv = argv, .timeout_ms = timeout_ms};
	size_t n = 3;

	for (size_t i = 0; extra && extra[i]; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	*out = NULL;
	return provider_exec_new(id, &params, out, err);
}

static const struct key_provider *add_exec(struct keyring *kr, const char *id, const struct plugin_env *pe,
                                           int timeout_ms, const char *const *extra)
{
	struct key_provider *p = NULL;
	struct tr_error err = {0};

	assert_int_equal(new_exec(id, pe, timeout_ms, extra, &p, &err), TR_OK);
	return add(kr, p);
}

static void test_exec_round_trip(void **state)
{
	struct keyring *kr = new_keyring();
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	struct tr_error err = {0};
	struct plugin_env pe;
	const struct key_provider *p, *other;
	unsigned char *blob = NULL;
	size_t len = 0;

	(void)state;
	plugin_env_make(&pe);
	p = add_exec(kr, "hsm", &pe, 0, NULL);
	assert_string_equal(p->ops->family, "exec");
	for (int i = 0; i < 50; i++)
		round_trip(p);
	/* The plugin binds the provider id: another id, same key, refuses. */
	other = add_exec(kr, "hsm2", &pe, 0, NULL);
	randombytes_buf(dk, sizeof(dk));
	assert_int_equal(wrap(p, dk, &blob, &len, &err), TR_OK);
	assert_int_equal(unwrap(other, blob, len, back, &err), TR_ECRYPTO);
	assert_non_null(strstr(err.message, "unwrap failed"));
	assert_non_null(strstr(err.message, "plugin:"));
	/* Corrupted blobs: refused by the plugin (TR_ECRYPTO), the plugin stays up. */
	blob[len / 2] ^= 1;
	assert_int_equal(unwrap(p, blob, len, back, &err), TR_ECRYPTO);
	blob[len / 2] ^= 1;
	assert_int_equal(unwrap(p, blob, len - 3, back, &err), TR_ECRYPTO);
	assert_int_equal(unwrap(p, blob, 0, back, &err), TR_ECRYPTO);
	assert_int_equal(unwrap(p, blob, len, back, &err), TR_OK);
	assert_memory_equal(back, dk, sizeof(dk));
	free(blob);
	keyring_free(kr);
	tmp_remove(&pe.t);
}

static void test_exec_crash_then_restart(void **state)
{
	static const char *const crash_second_wrap[] = {"--crash", "wrap", "--after", "2", NULL};
	struct keyring *kr = new_keyring();
	unsigned char dk[DATA_KEY_BYTES];
	struct tr_error err = {0};
	struct plugin_env pe;
	const struct key_provider *p;
	unsigned char *blob = NULL;
	size_t len = 0;

	(void)state;
	plugin_env_make(&pe);
	/* hello is answer 1, the first wrap answer 2; the second wrap crashes. */
	p = add_exec(kr, "hsm", &pe, 2000, crash_second_wrap);
	randombytes_buf(dk, sizeof(dk));
	assert_int_equal(wrap(p, dk, &blob, &len, &err), TR_OK);
	free(blob);
	blob = NULL;
	assert_int_equal(wrap(p, dk, &blob, &len, &err), TR_EUNAVAIL);
	assert_null(blob);
	assert_non_null(strstr(err.message, "'hsm'"));
	assert_non_null(strstr(err.message, "killed by signal"));
	assert_non_null(strstr(err.message, "wrap request"));
	/* The next request starts a fresh plugin. */
	assert_int_equal(wrap(p, dk, &blob, &len, &err), TR_OK);
	free(blob);
	keyring_free(kr);
	tmp_remove(&pe.t);
}

static void test_exec_hang_times_out(void **state)
{
	static const char *const hang_unwrap[] = {"--hang", "unwrap", NULL};
	struct keyring *kr = new_keyring();
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	struct tr_error err = {0};
	struct plugin_env pe;
	const struct key_provider *p;
	unsigned char *blob = NULL;
	size_t len = 0;
	int64_t t0;

	(void)state;
	plugin_env_make(&pe);
	p = add_exec(kr, "hsm", &pe, 300, hang_unwrap);
	randombytes_buf(dk, sizeof(dk));
	assert_int_equal(wrap(p, dk, &blob, &len, &err), TR_OK);
	t0 = now_ms();
	assert_int_equal(unwrap(p, blob, len, back, &err), TR_EUNAVAIL);
	assert_true(now_ms() - t0 >= 250);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(err.message, "did not answer the unwrap request within 300 ms"));
	/* Killed and restarted: wrapping works again at once. */
	free(blob);
	assert_int_equal(wrap(p, dk, &blob, &len, &err), TR_OK);
	free(blob);
	keyring_free(kr);
	tmp_remove(&pe.t);
}

static void test_exec_garbage(void **state)
{
	static const char *const garbage_unwrap[] = {"--garbage", "unwrap", NULL};
	static const char *const garbage_hello[] = {"--garbage", "hello", NULL};
	struct keyring *kr = new_keyring();
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	struct tr_error err = {0};
	struct key_provider *bad = NULL;
	struct plugin_env pe;
	const struct key_provider *p;
	unsigned char *blob = NULL;
	size_t len = 0;

	(void)state;
	plugin_env_make(&pe);
	p = add_exec(kr, "hsm", &pe, 2000, garbage_unwrap);
	randombytes_buf(dk, sizeof(dk));
	assert_int_equal(wrap(p, dk, &blob, &len, &err), TR_OK);
	assert_int_equal(unwrap(p, blob, len, back, &err), TR_EUNAVAIL);
	assert_non_null(strstr(err.message, "garbage"));
	assert_null(strstr(err.message, "%%%")); /* what it said is not repeated */
	free(blob);
	/* Garbage in answer to the greeting: the provider does not start. */
	assert_int_equal(new_exec("hsm2", &pe, 2000, garbage_hello, &bad, &err), TR_EUNAVAIL);
	assert_null(bad);
	assert_non_null(strstr(err.message, "'hsm2'"));
	keyring_free(kr);
	tmp_remove(&pe.t);
}

static void test_exec_start_failures(void **state)
{
	static const char *const crash_hello[] = {"--crash", "hello", NULL};
	static const char *const hang_hello[] = {"--hang", "hello", NULL};
	const char *missing[] = {"/nonexistent/kms-plugin", NULL};
	struct exec_params params = {.argv = missing};
	struct key_provider *p = NULL;
	struct tr_error err = {0};
	struct plugin_env pe;
	int64_t t0;

	(void)state;
	plugin_env_make(&pe);
	assert_int_equal(provider_exec_new("hsm", &params, &p, &err), TR_EUNAVAIL);
	assert_non_null(strstr(err.message, "cannot start plugin '/nonexistent/kms-plugin'"));
	assert_int_equal(new_exec("hsm", &pe, 2000, crash_hello, &p, &err), TR_EUNAVAIL);
	assert_non_null(strstr(err.message, "stopped during the hello request"));
	t0 = now_ms();
	assert_int_equal(new_exec("hsm", &pe, 300, hang_hello, &p, &err), TR_EUNAVAIL);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(err.message, "within 300 ms"));
	/* The plugin itself refuses (no key file): it says why on stderr and exits. */
	snprintf(pe.key_file, sizeof(pe.key_file), "%s/missing.key", pe.t.dir);
	assert_int_equal(new_exec("hsm", &pe, 2000, NULL, &p, &err), TR_EUNAVAIL);
	assert_non_null(strstr(err.message, "exited with status 2"));
	assert_null(p);
	tmp_remove(&pe.t);
}

/* A plugin written in sh: records its environment and arguments, then
 * answers the greeting and the given canned answer to everything else. */
static void write_script(const char *path, const char *record, const char *answer)
{
	char text[1024];

	snprintf(text, sizeof(text),
	         "#!/bin/sh\n"
	         "env > '%s'\n"
	         "read line\n"
	         "echo 'ok 1'\n"
	         "while read line; do echo '%s'; done\n",
	         record, answer);
	write_file(path, text, 0700);
}

static void test_exec_environment_and_refusals(void **state)
{
	struct keyring *kr = new_keyring();
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	char script[128], record[128], text[4096] = {0};
	const char *argv[] = {script, NULL};
	const char *env[] = {"KMS_REGION=eu-west-1", NULL};
	struct exec_params params = {.argv = argv, .env = env, .timeout_ms = 2000};
	struct key_provider *p = NULL;
	struct tr_error err = {0};
	unsigned char *blob = NULL;
	size_t len = 0;
	struct tmp t;
	FILE *f;

	(void)state;
	tmp_make(&t);
	tmp_path(&t, "plugin.sh", script, sizeof(script));
	tmp_path(&t, "env.txt", record, sizeof(record));
	write_script(script, record, "error HSM offline");
	setenv("TRESOR_TEST_SECRET_KEY", "do-not-pass-me", 1);
	assert_int_equal(provider_exec_new("hsm", &params, &p, &err), TR_OK);
	add(kr, p);
	p = (struct key_provider *)keyring_get(kr, "hsm");
	/* Only what was configured (and a default PATH) reaches the plugin. */
	f = fopen(record, "r");
	assert_non_null(f);
	assert_true(fread(text, 1, sizeof(text) - 1, f) > 0);
	fclose(f);
	assert_non_null(strstr(text, "KMS_REGION=eu-west-1"));
	assert_non_null(strstr(text, "PATH="));
	assert_null(strstr(text, "TRESOR_TEST_SECRET_KEY"));
	assert_null(strstr(text, "do-not-pass-me"));
	unsetenv("TRESOR_TEST_SECRET_KEY");
	/* A refusal: wrap is unavailable, unwrap is a crypto failure; the
	 * plugin's reason is passed on. */
	randombytes_buf(dk, sizeof(dk));
	assert_int_equal(wrap(p, dk, &blob, &len, &err), TR_EUNAVAIL);
	assert_non_null(strstr(err.message, "refused to wrap a data key: HSM offline"));
	assert_int_equal(unwrap(p, (const unsigned char *)"xyz", 3, back, &err), TR_ECRYPTO);
	assert_non_null(strstr(err.message, "HSM offline"));
	keyring_free(kr);
	tmp_remove(&t);
}

static void test_exec_wrong_answers(void **state)
{
	static const char *const answers[] = {
		"ok !!!not-base64!!!", /* not base64 */
		"ok",                  /* no payload */
		"OK AAAA",             /* not the protocol */
	};
	unsigned char dk[DATA_KEY_BYTES], back[DATA_KEY_BYTES];
	char script[128], record[128];
	const char *argv[] = {script, NULL};
	struct exec_params params = {.argv = argv, .timeout_ms = 2000};
	struct tr_error err = {0};
	unsigned char *blob = NULL;
	size_t len = 0;
	struct tmp t;

	(void)state;
	tmp_make(&t);
	tmp_path(&t, "plugin.sh", script, sizeof(script));
	tmp_path(&t, "env.txt", record, sizeof(record));
	randombytes_buf(dk, sizeof(dk));
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		struct keyring *kr = new_keyring();
		struct key_provider *p = NULL;

		write_script(script, record, answers[i]);
		assert_int_equal(provider_exec_new("hsm", &params, &p, &err), TR_OK);
		add(kr, p);
		p = (struct key_provider *)keyring_get(kr, "hsm");
		assert_int_equal(wrap(p, dk, &blob, &len, &err), TR_EUNAVAIL);
		assert_non_null(strstr(err.message, "garbage"));
		assert_int_equal(unwrap(p, (const unsigned char *)"xyz", 3, back, &err), TR_EUNAVAIL);
		keyring_free(kr);
	}
	/* A well-formed key of the wrong size from unwrap. */
	{
		struct keyring *kr = new_keyring();
		struct key_provider *p = NULL;

		write_script(script, record, "ok AAAA");
		assert_int_equal(provider_exec_new("hsm", &params, &p, &err), TR_OK);
		add(kr, p);
		p = (struct key_provider *)keyring_get(kr, "hsm");
		assert_int_equal(unwrap(p, (const unsigned char *)"xyz", 3, back, &err), TR_EUNAVAIL);
		assert_non_null(strstr(err.message, "not 32 bytes"));
		keyring_free(kr);
	}
	tmp_remove(&t);
}

/* ---- config ---- */

struct cfg_case {
	struct tmp t;
	json_t *root;
};

static const json_t *cfg_load(struct cfg_case *c, const char *yaml)
{
	struct tr_error err = {0};

	c->root = NULL;
	assert_int_equal(config_parse(yaml, strlen(yaml), &c->root, &err), TR_OK);
	return config_lookup(c->root, "secrets.encryption");
}

/* Builds a keyring from yaml in c's data dir; the status, message in err. */
static enum tr_status cfg_keyring(struct cfg_case *c, const char *yaml, struct keyring **kr, struct tr_error *err)
{
	const json_t *enc;
	enum tr_status st;

	c->root = NULL;
	enc = yaml ? cfg_load(c, yaml) : NULL;
	*kr = NULL;
	st = keyring_from_config(enc, c->t.dir, kr, err);
	json_decref(c->root);
	c->root = NULL;
	if (st != TR_OK) {
		assert_null(*kr);
		assert_true(err->message[0] != '\0');
	}
	return st;
}

static void expect_error(struct cfg_case *c, const char *yaml, const char *fragment)
{
	struct tr_error err = {0};
	struct keyring *kr = NULL;

	assert_int_not_equal(cfg_keyring(c, yaml, &kr, &err), TR_OK);
	if (!strstr(err.message, fragment))
		fail_msg("message '%s' lacks '%s'", err.message, fragment);
}

static void test_config_none_is_local_key_file(void **state)
{
	struct cfg_case c;
	struct tr_error err = {0};
	struct keyring *kr = NULL;
	char path[128];
	struct stat st;

	(void)state;
	tmp_make(&c.t);
	assert_int_equal(cfg_keyring(&c, NULL, &kr, &err), TR_OK);
	assert_string_equal(keyring_current(kr)->id, "local");
	assert_int_equal(keyring_count(kr), 1);
	tmp_path(&c.t, "master.key", path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	round_trip(keyring_current(kr));
	keyring_free(kr);
	tmp_remove(&c.t);
}

static void test_config_secret_key_sources(void **state)
{
	char text[1024], path[128], master[128];
	struct tr_error err = {0};
	struct keyring *kr = NULL;
	struct cfg_case c;
	struct stat st;

	(void)state;
	tmp_make(&c.t);
	tmp_path(&c.t, "v3.key", path, sizeof(path));
	tmp_path(&c.t, "master.key", master, sizeof(master));
	/* 48 bytes of base64 over two lines: fine. */
	write_file(path, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\nISIjJCUmJygpKissLS4v\n", 0600);
	setenv("TRESOR_TEST_KEY_V2", "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/", 1);
	snprintf(text, sizeof(text),
	         "secrets:\n"
	         "  encryption:\n"
	         "    current_provider: v2\n"
	         "    providers:\n"
	         "      secret_key:\n"
	         "        v1: { value: \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\" }\n"
	         "        v2: { from_env: TRESOR_TEST_KEY_V2 }\n"
	         "        v3: { from_file: %s }\n",
	         path);
	assert_int_equal(cfg_keyring(&c, text, &kr, &err), TR_OK);
	assert_string_equal(keyring_current(kr)->id, "v2");
	assert_int_equal(keyring_count(kr), 3);
	for (size_t i = 0; i < keyring_count(kr); i++) {
		assert_string_equal(keyring_at(kr, i)->ops->family, "secret_key");
		round_trip(keyring_at(kr, i));
	}
	/* With a section, master.key is not created (nothing needs it). */
	assert_int_not_equal(stat(master, &st), 0);
	keyring_free(kr);
	unsetenv("TRESOR_TEST_KEY_V2");
	tmp_remove(&c.t);
}

static void test_config_local_key_file_kept(void **state)
{
	static const char *const yaml = "secrets:\n  encryption:\n    current_provider: v2\n    providers:\n"
	                                "      secret_key:\n"
	                                "        v2: { value: \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\" }\n";
	struct tr_error err = {0};
	struct keyring *kr = NULL;
	struct cfg_case c;

	(void)state;
	tmp_make(&c.t);
	/* First start without config: master.key made; data written under "local". */
	assert_int_equal(cfg_keyring(&c, NULL, &kr, &err), TR_OK);
	keyring_free(kr);
	/* Then a section: "local" stays readable, v2 is current. */
	assert_int_equal(cfg_keyring(&c, yaml, &kr, &err), TR_OK);
	assert_non_null(keyring_get(kr, "local"));
	assert_string_equal(keyring_current(kr)->id, "v2");
	keyring_free(kr);
	tmp_remove(&c.t);
}

static void test_config_errors(void **state)
{
	char text[1024], path[128];
	struct cfg_case c;

	(void)state;
	tmp_make(&c.t);
	unsetenv("TRESOR_TEST_MISSING");
	expect_error(&c, "secrets:\n  encryption:\n    providers: {}\n", "current_provider is required");
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: nope\n",
	             "current_provider 'nope' is not configured");
	expect_error(&c, "secrets:\n  encryption: oops\n", "must be a mapping");
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: a\n    extra: 1\n", "unknown setting 'extra'");
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: a\n    providers:\n      vault: {}\n",
	             "families: secret_key, passphrase, exec");
	/* secret_key */
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: a\n    providers:\n      secret_key:\n"
	                 "        a: { value: \"not base64!!\" }\n",
	             "secrets.encryption.providers.secret_key.a: the key is not valid base64");
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: a\n    providers:\n      secret_key:\n"
	                 "        a: { value: \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\" }\n",
	             "at least 32 bytes");
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: a\n    providers:\n      secret_key:\n"
	                 "        a: { from_env: TRESOR_TEST_MISSING }\n",
	             "environment variable 'TRESOR_TEST_MISSING' is not set");
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: a\n    providers:\n      secret_key:\n"
	                 "        a: { from_file: /nonexistent/key }\n",
	             "'/nonexistent/key' does not exist");
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: a\n    providers:\n      secret_key:\n"
	                 "        a: { value: x, from_env: Y }\n",
	             "exactly one of value, from_env or from_file");
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: a\n    providers:\n      secret_key:\n"
	                 "        a: { file: /x }\n",
	             "unknown setting 'file'");
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: a\n    providers:\n      secret_key:\n"
	                 "        a: /x\n",
	             "must be a mapping of settings");
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: a\n    providers:\n      secret_key:\n"
	                 "        \"a b\": { value: x }\n",
	             "a provider id is 1 to");
	tmp_path(&c.t, "open.key", path, sizeof(path));
	write_file(path, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0644);
	snprintf(text, sizeof(text),
	         "secrets:\n  encryption:\n    current_provider: a\n    providers:\n      secret_key:\n"
	         "        a: { from_file: %s }\n",
	         path);
	expect_error(&c, text, "chmod 600");
	/* The same id twice, in two families. */
	setenv("TRESOR_TEST_PASS", "long enough passphrase", 1);
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: a\n    providers:\n      secret_key:\n"
	                 "        a: { value: \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\" }\n"
	                 "      passphrase:\n"
	                 "        a: { from_env: TRESOR_TEST_PASS, ops_limit: 1, mem_limit_mib: 1 }\n",
	             "configured twice");
	/* passphrase */
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: p\n    providers:\n      passphrase:\n"
	                 "        p: { value: abcdefghijk }\n",
	             "unknown setting 'value'");
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: p\n    providers:\n      passphrase:\n"
	                 "        p: { from_env: TRESOR_TEST_MISSING }\n",
	             "'TRESOR_TEST_MISSING' is not set");
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: p\n    providers:\n      passphrase:\n"
	                 "        p: { from_env: TRESOR_TEST_PASS, ops_limit: 0 }\n",
	             "'ops_limit' must be a number from 1");
	/* exec */
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: h\n    providers:\n      exec:\n"
	                 "        h: { command: [] }\n",
	             "'command' must be a list");
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: h\n    providers:\n      exec:\n"
	                 "        h: { command: [/nonexistent/plugin] }\n",
	             "cannot start plugin '/nonexistent/plugin'");
	expect_error(&c, "secrets:\n  encryption:\n    current_provider: h\n    providers:\n      exec:\n"
	                 "        h: { command: [/bin/true], pass_env: [TRESOR_TEST_MISSING] }\n",
	             "(pass_env) is not set");
	unsetenv("TRESOR_TEST_PASS");
	tmp_remove(&c.t);
}

static void test_config_passphrase_and_exec(void **state)
{
	char text[1024], pass_file[128];
	struct tr_error err = {0};
	struct keyring *kr = NULL;
	struct plugin_env pe;
	struct cfg_case c;

	(void)state;
	plugin_env_make(&pe);
	c.t = pe.t;
	tmp_path(&c.t, "pass.txt", pass_file, sizeof(pass_file));
	write_file(pass_file, "a passphrase from a file\n", 0600);
	snprintf(text, sizeof(text),
	         "secrets:\n  encryption:\n    current_provider: hsm\n    providers:\n"
	         "      passphrase:\n        pw: { from_file: %s, ops_limit: 1, mem_limit_mib: 1 }\n"
	         "      exec:\n        hsm: { command: [%s, --key-file, %s], timeout_ms: 3000 }\n",
	         pass_file, plugin(), pe.key_file);
	assert_int_equal(cfg_keyring(&c, text, &kr, &err), TR_OK);
	assert_string_equal(keyring_current(kr)->ops->family, "exec");
	assert_string_equal(keyring_get(kr, "pw")->ops->family, "passphrase");
	round_trip(keyring_get(kr, "pw"));
	round_trip(keyring_get(kr, "hsm"));
	assert_int_equal(envelope_check_current(kr, &err), TR_OK);
	keyring_free(kr);
	/* The newline at the end of the file is not part of the passphrase:
	 * the same text without it opens the same KDF file. */
	write_file(pass_file, "a passphrase from a file", 0600);
	assert_int_equal(cfg_keyring(&c, text, &kr, &err), TR_OK);
	keyring_free(kr);
	write_file(pass_file, "another passphrase", 0600);
	assert_int_equal(cfg_keyring(&c, text, &kr, &err), TR_ECRYPTO);
	assert_non_null(strstr(err.message, "wrong passphrase"));
	tmp_remove(&c.t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passphrase_round_trip_and_kdf_file),
		cmocka_unit_test(test_passphrase_reopen_same_key),
		cmocka_unit_test(test_passphrase_wrong_passphrase),
		cmocka_unit_test(test_passphrase_lost_kdf_file),
		cmocka_unit_test(test_passphrase_corrupted),
		cmocka_unit_test(test_passphrase_bad_arguments),
		cmocka_unit_test(test_exec_round_trip),
		cmocka_unit_test(test_exec_crash_then_restart),
		cmocka_unit_test(test_exec_hang_times_out),
		cmocka_unit_test(test_exec_garbage),
		cmocka_unit_test(test_exec_start_failures),
		cmocka_unit_test(test_exec_environment_and_refusals),
		cmocka_unit_test(test_exec_wrong_answers),
		cmocka_unit_test(test_config_none_is_local_key_file),
		cmocka_unit_test(test_config_secret_key_sources),
		cmocka_unit_test(test_config_local_key_file_kept),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_config_passphrase_and_exec),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
