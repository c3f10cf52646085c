/*
 * keyring-config.c - the config file's secrets.encryption section to a
 * keyring: one loader per provider family, each checking its settings
 * before anything is loaded.
 *
 * Key material (a base64 key, a passphrase) is read from the config value,
 * an environment variable or a file straight into guarded memory, turned
 * into a provider and wiped. Messages name the setting and, for sources,
 * the variable or file; never what they hold.
 */
#include "crypto/keyring-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "files.h"

#define WHERE_MAX 128
#define SOURCE_TEXT_MAX 8192  /* bytes of key text or passphrase read from a file */
#define SECRET_KEY_BYTES_MAX 1024
#define SECRET_KEY_BYTES_MIN 32
#define PASS_ENV_MAX 32

static const char *const families[] = {"secret_key", "passphrase", "exec", NULL};

/* ---- settings ---- */

/* TR_EINVAL "<where>: unknown setting 'x'" unless every key of node is in allowed. */
static enum tr_status only_settings(const json_t *node, const char *where, const char *const *allowed,
                                    struct tr_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)node, key, v) {
		size_t i = 0;

		while (allowed[i] && strcmp(allowed[i], key) != 0)
			i++;
		if (!allowed[i])
			return tr_error_set(err, TR_EINVAL, "%s: unknown setting '%.64s'", where, key);
	}
	return TR_OK;
}

/* A scalar setting, or NULL when absent. TR_EINVAL if it is not a scalar. */
static enum tr_status setting_text(const json_t *node, const char *where, const char *name, const char **out,
                                   struct tr_error *err)
{
	json_t *v = json_object_get(node, name);

	*out = NULL;
	if (!v)
		return TR_OK;
	if (!json_is_string(v) || json_string_length(v) == 0)
		return tr_error_set(err, TR_EINVAL, "%s: '%s' must be a non-empty value", where, name);
	*out = json_string_value(v);
	return TR_OK;
}

/* A whole-number setting in [min, max], or def when absent. */
static enum tr_status setting_number(const json_t *node, const char *where, const char *name, long def, long min,
                                     long max, long *out, struct tr_error *err)
{
	const char *text;
	enum tr_status st;
	char *end;
	long v;

	if ((st = setting_text(node, where, name, &text, err)) != TR_OK)
		return st;
	*out = def;
	if (!text)
		return TR_OK;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < min || v > max)
		return tr_error_set(err, TR_EINVAL, "%s: '%s' must be a number from %ld to %ld", where, name, min, max);
	*out = v;
	return TR_OK;
}

/* ---- key material sources: value, from_env, from_file ---- */

/* Key material in guarded memory (NUL-terminated, not counted in len). */
struct material {
	unsigned char *buf;
	size_t len;
};

static void material_free(struct material *m)
{
	sodium_free(m->buf);
	m->buf = NULL;
	m->len = 0;
}

static enum tr_status material_copy(const char *text, struct material *m, const char *where, struct tr_error *err)
{
	size_t len = strlen(text);

	if (len > SOURCE_TEXT_MAX)
		return tr_error_set(err, TR_EINVAL, "%s: key material is longer than %d bytes", where, SOURCE_TEXT_MAX);
	if (!(m->buf = sodium_malloc(len + 1)))
		return tr_error_set(err, TR_EINTERNAL, "%s: cannot allocate guarded memory", where);
	memcpy(m->buf, text, len + 1);
	m->len = len;
	return TR_OK;
}

static enum tr_status material_from_env(const char *name, struct material *m, const char *where,
                                        struct tr_error *err)
{
	const char *text = getenv(name);

	if (!text || !*text)
		return tr_error_set(err, TR_EINVAL, "%s: environment variable '%.64s' is not set", where, name);
	return material_copy(text, m, where, err);
}

static enum tr_status material_from_file(const char *path, struct material *m, const char *where,
                                         struct tr_error *err)
{
	struct tr_error why = {0};
	enum tr_status st;

	st = crypto_file_read_secret(path, "file", SOURCE_TEXT_MAX, &m->buf, &m->len, &why);
	if (st != TR_OK)
		return tr_error_set(err, TR_EINVAL, "%s: %s", where, why.message);
	return TR_OK;
}

/* Loads the one source node names. allow_value: whether `value` (the
 * material in the config file itself) is accepted. */
static enum tr_status material_load(const json_t *node, const char *where, int allow_value, struct material *m,
                                    struct tr_error *err)
{
	const char *value = NULL, *env = NULL, *file = NULL;
	enum tr_status st;

	if ((allow_value && (st = setting_text(node, where, "value", &value, err)) != TR_OK) ||
	    (st = setting_text(node, where, "from_env", &env, err)) != TR_OK ||
	    (st = setting_text(node, where, "from_file", &file, err)) != TR_OK)
		return st;
	if (!!value + !!env + !!file != 1)
		return tr_error_set(err, TR_EINVAL, "%s: give exactly one of %s", where,
		                    allow_value ? "value, from_env or from_file" : "from_env or from_file");
	if (value)
		return material_copy(value, m, where, err);
	if (env)
		return material_from_env(env, m, where, err);
	return material_from_file(file, m, where, err);
}

/* Drops trailing newlines (files usually end in one). */
static void material_trim(struct material *m)
{
	while (m->len > 0 && (m->buf[m->len - 1] == '\n' || m->buf[m->len - 1] == '\r'))
		m->buf[--m->len] = '\0';
}

/* ---- the families ---- */

/* Decodes base64 text (padded or not; spaces and newlines ignored) into
 * guarded *key. */
static enum tr_status decode_key(const struct material *text, unsigned char **key, size_t *key_len,
                                 const char *where, struct tr_error *err)
{
	static const int variants[] = {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING};
	unsigned char *buf = sodium_malloc(SECRET_KEY_BYTES_MAX);
	const char *end = NULL;
	size_t len = 0;

	if (!buf)
		return tr_error_set(err, TR_EINTERNAL, "%s: cannot allocate guarded memory", where);
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		const char *b64 = (const char *)text->buf;
		int rc = sodium_base642bin(buf, SECRET_KEY_BYTES_MAX, b64, text->len, " \t\r\n", &len, &end, variants[i]);

		if (rc == 0 && end == b64 + text->len) {
			*key = buf;
			*key_len = len;
			return TR_OK;
		}
	}
	sodium_free(buf);
	return tr_error_set(err, TR_EINVAL, "%s: the key is not valid base64 (or longer than %d bytes)", where,
	                    SECRET_KEY_BYTES_MAX);
}

static enum tr_status load_secret_key(const char *id, const json_t *node, const char *where, struct key_provider **out,
                                      struct tr_error *err)
{
	static const char *const allowed[] = {"value", "from_env", "from_file", NULL};
	struct material text = {0};
	unsigned char *key = NULL;
	size_t key_len = 0;
	enum tr_status st;

	if ((st = only_settings(node, where, allowed, err)) != TR_OK ||
	    (st = material_load(node, where, 1, &text, err)) != TR_OK)
		return st;
	st = decode_key(&text, &key, &key_len, where, err);
	material_free(&text);
	if (st != TR_OK)
		return st;
	if (key_len < SECRET_KEY_BYTES_MIN)
		st = tr_error_set(err, TR_EINVAL, "%s: the key must be at least %d bytes (base64 of 32 random bytes: "
		                                  "openssl rand -base64 32); it has %zu",
		                  where, SECRET_KEY_BYTES_MIN, key_len);
	else
		st = provider_secret_key_new(id, key, key_len, out, err);
	sodium_free(key);
	return st;
}

static enum tr_status load_passphrase(const char *id, const json_t *node, const char *where, const char *data_dir,
                                      struct key_provider **out, struct tr_error *err)
{
	static const char *const allowed[] = {"from_env", "from_file", "ops_limit", "mem_limit_mib", NULL};
	struct passphrase_params params;
	struct material pass = {0};
	char kdf_path[1200];
	enum tr_status st;
	long ops, mib;

	if ((st = only_settings(node, where, allowed, err)) != TR_OK ||
	    (st = setting_number(node, where, "ops_limit", PASSPHRASE_OPS_DEFAULT, 1, PASSPHRASE_OPS_MAX, &ops, err)) !=
	        TR_OK ||
	    (st = setting_number(node, where, "mem_limit_mib", PASSPHRASE_MEM_KIB_DEFAULT / 1024, 1,
	                         PASSPHRASE_MEM_KIB_MAX / 1024, &mib, err)) != TR_OK)
		return st;
	if (snprintf(kdf_path, sizeof(kdf_path), "%s/passphrase-%s.kdf", data_dir, id) >= (int)sizeof(kdf_path))
		return tr_error_set(err, TR_EINVAL, "%s: data directory path is too long", where);
	if ((st = material_load(node, where, 0, &pass, err)) != TR_OK)
		return st;
	material_trim(&pass);
	params.ops_limit = (uint32_t)ops;
	params.mem_kib = (uint32_t)mib * 1024u;
	st = provider_passphrase_new(id, (const char *)pass.buf, pass.len, &params, kdf_path, out, err);
	material_free(&pass);
	return st;
}

/* The words of `command`: a list of strings, or one string (a program
 * without arguments). Pointers into the config tree. */
static enum tr_status exec_command(const json_t *node, const char *where, const char **argv, struct tr_error *err)
{
	json_t *cmd = json_object_get(node, "command");
	size_t i, n;

	if (json_is_string(cmd) && json_string_length(cmd) > 0) {
		argv[0] = json_string_value(cmd);
		argv[1] = NULL;
		return TR_OK;
	}
	n = json_array_size(cmd);
	if (!json_is_array(cmd) || n == 0 || n > EXEC_ARGS_MAX)
		return tr_error_set(err, TR_EINVAL, "%s: 'command' must be a list of 1 to %d words, the program first",
		                    where, EXEC_ARGS_MAX);
	for (i = 0; i < n; i++) {
		argv[i] = json_string_value(json_array_get(cmd, i));
		if (!argv[i] || (i == 0 && !*argv[i]))
			return tr_error_set(err, TR_EINVAL, "%s: 'command' must be a list of words", where);
	}
	argv[n] = NULL;
	return TR_OK;
}

/* "NAME=value" for each name in pass_env (heap strings, NULL-terminated). */
static enum tr_status exec_env(const json_t *node, const char *where, char **env, struct tr_error *err)
{
	json_t *names = json_object_get(node, "pass_env");
	size_t i, n = json_array_size(names);

	env[0] = NULL;
	if (!names)
		return TR_OK;
	if (!json_is_array(names) || n > PASS_ENV_MAX)
		return tr_error_set(err, TR_EINVAL, "%s: 'pass_env' must be a list of at most %d variable names", where,
		                    PASS_ENV_MAX);
	for (i = 0; i < n; i++) {
		const char *name = json_string_value(json_array_get(names, i));
		const char *value = name ? getenv(name) : NULL;

		if (!name || !*name || strchr(name, '='))
			return tr_error_set(err, TR_EINVAL, "%s: 'pass_env' must be a list of variable names", where);
		if (!value)
			return tr_error_set(err, TR_EINVAL, "%s: environment variable '%.64s' (pass_env) is not set",
			                    where, name);
		if (!(env[i] = malloc(strlen(name) + strlen(value) + 2)))
			return tr_error_set(err, TR_EINTERNAL, "out of memory");
		sprintf(env[i], "%s=%s", name, value);
		env[i + 1] = NULL;
	}
	return TR_OK;
}

static void exec_env_free(char **env)
{
	for (size_t i = 0; env[i]; i++) {
		sodium_memzero(env[i], strlen(env[i]));
		free(env[i]);
	}
}

static enum tr_status load_exec(const char *id, const json_t *node, const char *where, struct key_provider **out,
                                struct tr_error *err)
{
	static const char *const allowed[] = {"command", "timeout_ms", "pass_env", NULL};
	const char *argv[EXEC_ARGS_MAX + 1];
	char *env[PASS_ENV_MAX + 1] = {NULL};
	struct exec_params params = {0};
	enum tr_status st;
	long timeout;

	if ((st = only_settings(node, where, allowed, err)) != TR_OK ||
	    (st = exec_command(node, where, argv, err)) != TR_OK ||
	    (st = setting_number(node, where, "timeout_ms", EXEC_TIMEOUT_MS_DEFAULT, 1, EXEC_TIMEOUT_MS_MAX, &timeout,
	                         err)) != TR_OK)
		return st;
	if ((st = exec_env(node, where, env, err)) == TR_OK) {
		params.argv = argv;
		params.env = (const char *const *)env;
		params.timeout_ms = (int)timeout;
		st = provider_exec_new(id, &params, out, err);
	}
	exec_env_free(env);
	return st;
}

/* ---- the section ---- */

static enum tr_status load_one(const char *family, const char *id, const json_t *node, const char *data_dir,
                               struct key_provider **out, struct tr_error *err)
{
	char where[WHERE_MAX];

	snprintf(where, sizeof(where), "secrets.encryption.providers.%s.%.64s", family, id);
	if (!keyring_id_valid(id))
		return tr_error_set(err, TR_EINVAL, "%s: a provider id is 1 to %d letters, digits, '_', '-' or '.'",
		                    where, TR_PROVIDER_ID_MAX);
	if (!json_is_object(node))
		return tr_error_set(err, TR_EINVAL, "%s: must be a mapping of settings", where);
	if (strcmp(family, "secret_key") == 0)
		return load_secret_key(id, node, where, out, err);
	if (strcmp(family, "passphrase") == 0)
		return load_passphrase(id, node, where, data_dir, out, err);
	return load_exec(id, node, where, out, err);
}

static enum tr_status load_family(struct keyring *kr, const char *family, const json_t *node, const char *data_dir,
                                  struct tr_error *err)
{
	const char *id;
	json_t *settings;
	enum tr_status st;

	if (!node)
		return TR_OK;
	if (!json_is_object(node))
		return tr_error_set(err, TR_EINVAL, "secrets.encryption.providers.%s must be a mapping of provider ids",
		                    family);
	json_object_foreach((json_t *)node, id, settings) {
		struct key_provider *p = NULL;

		if ((st = load_one(family, id, settings, data_dir, &p, err)) != TR_OK)
			return st;
		if ((st = keyring_add(kr, p, err)) != TR_OK)
			return st;
	}
	return TR_OK;
}

static enum tr_status load_providers(struct keyring *kr, const json_t *providers, const char *data_dir,
                                     struct tr_error *err)
{
	struct tr_error why = {0};
	enum tr_status st;

	if (!providers)
		return TR_OK;
	if (!json_is_object(providers))
		return tr_error_set(err, TR_EINVAL, "secrets.encryption.providers must be a mapping of families");
	if ((st = only_settings(providers, "secrets.encryption.providers", families, &why)) != TR_OK)
		return tr_error_set(err, st, "%s (families: secret_key, passphrase, exec)", why.message);
	for (size_t i = 0; families[i]; i++) {
		st = load_family(kr, families[i], json_object_get(providers, families[i]), data_dir, err);
		if (st != TR_OK)
			return st;
	}
	return TR_OK;
}

/* Adds DATA_DIR/master.key as "local" unless a configured provider has
 * that id. It is created only when it is current; otherwise a missing
 * file is simply not loaded. */
static enum tr_status load_local(struct keyring *kr, const char *data_dir, const char *current,
                                 struct tr_error *err)
{
	struct key_provider *p = NULL;
	char path[1200];
	struct stat sb;
	int create = strcmp(current, KEYRING_LOCAL_ID) == 0;
	enum tr_status st;

	if (keyring_get(kr, KEYRING_LOCAL_ID))
		return TR_OK;
	if (snprintf(path, sizeof(path), "%s/%s", data_dir, KEYRING_LOCAL_FILE) >= (int)sizeof(path))
		return tr_error_set(err, TR_EINVAL, "data directory path is too long");
	if (!create && stat(path, &sb) != 0 && errno == ENOENT)
		return TR_OK;
	if ((st = provider_key_file_open(KEYRING_LOCAL_ID, path, create, &p, err)) != TR_OK)
		return st;
	return keyring_add(kr, p, err);
}

static enum tr_status load_section(struct keyring *kr, const json_t *enc, const char *data_dir, struct tr_error *err)
{
	static const char *const allowed[] = {"current_provider", "providers", NULL};
	const char *current = NULL;
	enum tr_status st;

	if (!json_is_object(enc))
		return tr_error_set(err, TR_EINVAL, "secrets.encryption must be a mapping");
	if ((st = only_settings(enc, "secrets.encryption", allowed, err)) != TR_OK ||
	    (st = setting_text(enc, "secrets.encryption", "current_provider", &current, err)) != TR_OK)
		return st;
	if (!current)
		return tr_error_set(err, TR_EINVAL, "secrets.encryption.current_provider is required: the provider id "
		                                    "that wraps new writes");
	if ((st = load_providers(kr, json_object_get(enc, "providers"), data_dir, err)) != TR_OK ||
	    (st = load_local(kr, data_dir, current, err)) != TR_OK)
		return st;
	if (!keyring_get(kr, current))
		return tr_error_set(err, TR_EINVAL,
		                    "secrets.encryption.current_provider '%.64s' is not configured under "
		                    "secrets.encryption.providers",
		                    current);
	return keyring_set_current(kr, current, err);
}

enum tr_status keyring_from_config(const json_t *encryption, const char *data_dir, struct keyring **out,
                                   struct tr_error *err)
{
	struct keyring *kr = NULL;
	enum tr_status st;

	if (!data_dir || !out)
		return tr_error_set(err, TR_EINVAL, "keyring_from_config needs a data directory and an output");
	if ((st = keyring_new(&kr, err)) != TR_OK)
		return st;
	if (encryption)
		st = load_section(kr, encryption, data_dir, err);
	else if ((st = load_local(kr, data_dir, KEYRING_LOCAL_ID, err)) == TR_OK)
		st = keyring_set_current(kr, KEYRING_LOCAL_ID, err);
	if (st != TR_OK) {
		keyring_free(kr);
		return st;
	}
	*out = kr;
	return TR_OK;
}
