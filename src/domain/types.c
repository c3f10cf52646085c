/*
 * types.c - the type table: names, aliases, required keys and checks.
 *
 * Each type lists its accepted key sets ("forms"); data is valid when it
 * holds every key of at least one form. A per-type check function then
 * applies the finer rules. Checks read values but never quote them.
 */
#include "domain/types.h"

#include <ctype.h>
#include <stdbool.h>
#include <jansson.h>
#include <sodium.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>

#include "common/jsonmem.h"

#define TYPE_FORMS_MAX 2
#define FORM_KEYS_MAX 4

typedef enum tr_status (*type_check_fn)(const struct secdata *data, struct warnings *w, struct tr_error *err);

struct secret_type {
	const char *name;
	const char *aliases[3];
	const char *forms[TYPE_FORMS_MAX][FORM_KEYS_MAX + 1]; /* NULL-terminated key lists */
	const char *forms_text;                               /* the required keys, for messages */
	type_check_fn check;
};

static enum tr_status check_huggingface(const struct secdata *data, struct warnings *w, struct tr_error *err);
static enum tr_status check_s3(const struct secdata *data, struct warnings *w, struct tr_error *err);
static enum tr_status check_database(const struct secdata *data, struct warnings *w, struct tr_error *err);
static enum tr_status check_registry(const struct secdata *data, struct warnings *w, struct tr_error *err);
static enum tr_status check_api_key(const struct secdata *data, struct warnings *w, struct tr_error *err);
static enum tr_status check_ssh(const struct secdata *data, struct warnings *w, struct tr_error *err);

static const struct secret_type types[] = {
	{"opaque", {"generic"}, {{NULL}}, "at least one key", NULL},
	{"huggingface", {"hugging_face", "hf"}, {{"token"}}, "'token'", check_huggingface},
	{"s3", {"aws_s3"}, {{"access_key_id", "secret_access_key"}}, "'access_key_id' and 'secret_access_key'",
	 check_s3},
	{"database", {"db"}, {{"url"}, {"host", "user", "password"}}, "'url', or 'host', 'user' and 'password'",
	 check_database},
	{"container_registry", {"image_pull", "imagepullsecret", "registry"},
	 {{".dockerconfigjson"}, {"registry_server", "username", "password", "email"}},
	 "'.dockerconfigjson', or 'registry_server', 'username', 'password' and 'email'", check_registry},
	{"api_key", {"apikey"}, {{"api_key"}}, "'api_key'", check_api_key},
	{"ssh", {"ssh_key"}, {{"private_key"}, {"public_key"}}, "'private_key' and/or 'public_key'", check_ssh},
};

#define TYPE_COUNT (sizeof(types) / sizeof(types[0]))

static const struct secret_type *type_find(const char *name)
{
	for (size_t i = 0; i < TYPE_COUNT; i++) {
		if (strcasecmp(name, types[i].name) == 0)
			return &types[i];
		for (size_t a = 0; a < 3 && types[i].aliases[a]; a++)
			if (strcasecmp(name, types[i].aliases[a]) == 0)
				return &types[i];
	}
	return NULL;
}

const char *secret_type_canonical(const char *name)
{
	const struct secret_type *t = name ? type_find(name) : NULL;

	return t ? t->name : NULL;
}

static bool form_satisfied(const char *const *keys, const struct secdata *data)
{
	for (size_t k = 0; keys[k]; k++)
		if (!secdata_find(data, keys[k]))
			return false;
	return true;
}

static bool has_required_keys(const struct secret_type *t, const struct secdata *data)
{
	if (!t->forms[0][0])
		return data->count > 0;
	for (size_t f = 0; f < TYPE_FORMS_MAX && t->forms[f][0]; f++)
		if (form_satisfied(t->forms[f], data))
			return true;
	return false;
}

enum tr_status secret_type_validate(const char *type, const struct secdata *data, struct warnings *w,
                                    struct tr_error *err)
{
	const struct secret_type *t = type_find(type);

	if (!t)
		return tr_error_set(err, TR_EVALIDATION, "field 'type': unknown type '%s'", type);
	if (!has_required_keys(t, data))
		return tr_error_set(err, TR_EVALIDATION, "field 'data': type '%s' requires %s", t->name,
		                    t->forms_text);
	return t->check ? t->check(data, w, err) : TR_OK;
}

/* --- per-type checks ---------------------------------------------------- */

static const struct secbuf *value_of(const struct secdata *data, const char *key)
{
	const struct secdata_item *it = secdata_find(data, key);

	return it ? &it->value : NULL;
}

static bool has_whitespace(const struct secbuf *v)
{
	for (size_t i = 0; i < v->len; i++)
		if (isspace(v->data[i]))
			return true;
	return false;
}

static bool starts_with(const struct secbuf *v, const char *prefix)
{
	size_t n = strlen(prefix);

	return v->len >= n && memcmp(v->data, prefix, n) == 0;
}

/* http:// or https:// followed by a host. */
static bool is_http_url(const struct secbuf *v)
{
	size_t skip = starts_with(v, "https://") ? 8 : starts_with(v, "http://") ? 7 : 0;

	return skip && v->len > skip && v->data[skip] != '/' && !isspace(v->data[skip]);
}

static enum tr_status check_huggingface(const struct secdata *data, struct warnings *w, struct tr_error *err)
{
	const struct secbuf *token = value_of(data, "token");

	if (has_whitespace(token))
		return tr_error_set(err, TR_EVALIDATION, "field 'data.token': must not contain whitespace");
	if (!starts_with(token, "hf_"))
		warnings_add(w, "data.token does not start with 'hf_'; Hugging Face tokens usually do");
	return TR_OK;
}

static enum tr_status check_s3(const struct secdata *data, struct warnings *w, struct tr_error *err)
{
	const struct secbuf *endpoint = value_of(data, "endpoint_url");

	(void)w;
	if (endpoint && !is_http_url(endpoint))
		return tr_error_set(err, TR_EVALIDATION, "field 'data.endpoint_url': must be an http(s) URL with a host");
	return TR_OK;
}

static enum tr_status check_database(const struct secdata *data, struct warnings *w, struct tr_error *err)
{
	const struct secbuf *port = value_of(data, "port");

	(void)w;
	if (!port)
		return TR_OK;
	for (size_t i = 0; i < port->len; i++)
		if (!isdigit(port->data[i]))
			return tr_error_set(err, TR_EVALIDATION, "field 'data.port': must be a number");
	return TR_OK;
}

/* True when s is standard base64 of "user:password". */
static bool is_basic_auth(const char *s, size_t len)
{
	unsigned char out[512];
	size_t out_len = 0;
	bool ok;

	if (len == 0 || len > 680)
		return false;
	ok = sodium_base642bin(out, sizeof(out), s, len, NULL, &out_len, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
	     memchr(out, ':', out_len) != NULL;
	sodium_memzero(out, sizeof(out));
	return ok;
}

static enum tr_status check_auth_entry(const char *registry, json_t *entry, struct tr_error *err)
{
	json_t *auth = json_object_get(entry, "auth");

	if (!json_is_object(entry))
		return tr_error_set(err, TR_EVALIDATION, "field 'data..dockerconfigjson': auths['%s'] must be an object",
		                    registry);
	if (auth) {
		if (!json_is_string(auth) || !is_basic_auth(json_string_value(auth), json_string_length(auth)))
			return tr_error_set(err, TR_EVALIDATION,
			                    "field 'data..dockerconfigjson': auths['%s'].auth must be base64 of user:password",
			                    registry);
		return TR_OK;
	}
	if (!json_is_string(json_object_get(entry, "username")) || !json_is_string(json_object_get(entry, "password")))
		return tr_error_set(err, TR_EVALIDATION,
		                    "field 'data..dockerconfigjson': auths['%s'] needs 'auth' or 'username' and 'password'",
		                    registry);
	return TR_OK;
}

static enum tr_status check_dockerconfigjson(const struct secbuf *v, struct tr_error *err)
{
	json_t *root = json_loadb((const char *)v->data, v->len, JSON_REJECT_DUPLICATES, NULL);
	json_t *auths = json_object_get(root, "auths");
	enum tr_status st = TR_OK;
	const char *registry;
	json_t *entry;

	if (!json_is_object(root))
		st = tr_error_set(err, TR_EVALIDATION, "field 'data..dockerconfigjson': must be a JSON object");
	else if (!json_is_object(auths))
		st = tr_error_set(err, TR_EVALIDATION, "field 'data..dockerconfigjson': must have an 'auths' object");
	else
		json_object_foreach(auths, registry, entry)
			if ((st = check_auth_entry(registry, entry, err)) != TR_OK)
				break;
	json_decref(root);
	return st;
}

static enum tr_status check_registry(const struct secdata *data, struct warnings *w, struct tr_error *err)
{
	const struct secbuf *config = value_of(data, ".dockerconfigjson");

	(void)w;
	return config ? check_dockerconfigjson(config, err) : TR_OK;
}

static enum tr_status check_api_key(const struct secdata *data, struct warnings *w, struct tr_error *err)
{
	static const char *const providers[] = {"openai", "ngc", "nvidia_build", "github", "datadog", "wandb", "custom"};
	const struct secbuf *provider = value_of(data, "provider");

	(void)w;
	if (!provider)
		return TR_OK;
	for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
		if (strcmp((const char *)provider->data, providers[i]) == 0)
			return TR_OK;
	return tr_error_set(err, TR_EVALIDATION,
	                    "field 'data.provider': must be one of openai, ngc, nvidia_build, github, datadog, wandb, custom");
}

/* "-----BEGIN OPENSSH PRIVATE KEY-----" ... "-----END OPENSSH PRIVATE KEY-----". */
static bool is_openssh_private_key(const struct secbuf *v)
{
	static const char end[] = "-----END OPENSSH PRIVATE KEY-----";

	return starts_with(v, "-----BEGIN OPENSSH PRIVATE KEY-----") &&
	       memmem(v->data, v->len, end, sizeof(end) - 1) != NULL;
}

/* "<algorithm> <base64 key>[ comment]", algorithm ssh-*, ecdsa-* or sk-*. */
static bool is_openssh_public_key(const struct secbuf *v)
{
	const char *text = (const char *)v->data;
	const char *key = memchr(text, ' ', v->len);
	unsigned char blob[2048];
	size_t key_len, blob_len = 0;

	if (!starts_with(v, "ssh-") && !starts_with(v, "ecdsa-") && !starts_with(v, "sk-"))
		return false;
	if (!key)
		return false;
	key++;
	key_len = strcspn(key, " \n");
	return key_len > 0 && sodium_base642bin(blob, sizeof(blob), key, key_len, NULL, &blob_len, NULL,
	                                         sodium_base64_VARIANT_ORIGINAL) == 0 && blob_len > 0;
}

static enum tr_status check_ssh(const struct secdata *data, struct warnings *w, struct tr_error *err)
{
	const struct secbuf *priv = value_of(data, "private_key");
	const struct secbuf *pub = value_of(data, "public_key");

	(void)w;
	if (priv && !is_openssh_private_key(priv))
		return tr_error_set(err, TR_EVALIDATION, "field 'data.private_key': must be an OpenSSH private key");
	if (pub && !is_openssh_public_key(pub))
		return tr_error_set(err, TR_EVALIDATION, "field 'data.public_key': must be an OpenSSH public key");
	return TR_OK;
}

/* --- derived keys -------------------------------------------------------- */

/* base64("user:password") into a fresh secbuf. */
static enum tr_status basic_auth(const struct secbuf *user, const struct secbuf *password, struct secbuf *out)
{
	size_t pair_len = user->len + 1 + password->len;
	size_t b64_len = sodium_base64_encoded_len(pair_len, sodium_base64_VARIANT_ORIGINAL);
	unsigned char *pair = malloc(pair_len);
	char *b64 = malloc(b64_len);
	enum tr_status st = TR_EINTERNAL;

	if (pair && b64) {
		memcpy(pair, user->data, user->len);
		pair[user->len] = ':';
		memcpy(pair + user->len + 1, password->data, password->len);
		sodium_bin2base64(b64, b64_len, pair, pair_len, sodium_base64_VARIANT_ORIGINAL);
		st = secbuf_set(out, b64, strlen(b64));
		sodium_memzero(pair, pair_len);
		sodium_memzero(b64, b64_len);
	}
	free(pair);
	free(b64);
	return st;
}

static json_t *text_of(const struct secbuf *v)
{
	return json_stringn((const char *)v->data, v->len);
}

/* {"auths":{server:{"username","password","email","auth"}}} */
static json_t *docker_config(const struct secdata *data, const struct secbuf *auth)
{
	const struct secbuf *server = value_of(data, "registry_server");
	json_t *entry = json_pack("{s:o,s:o,s:o,s:o}", "username", text_of(value_of(data, "username")), "password",
	                          text_of(value_of(data, "password")), "email", text_of(value_of(data, "email")),
	                          "auth", text_of(auth));
	json_t *auths = json_object();

	json_object_setn_new(auths, (const char *)server->data, server->len, entry);
	return json_pack("{s:o}", "auths", auths);
}

enum tr_status secret_type_complete(const char *type, struct secdata *data, struct tr_error *err)
{
	struct secbuf auth = {0};
	json_t *config;
	size_t len = 0;
	char *text;
	enum tr_status st;

	if (strcmp(type, "container_registry") != 0 || value_of(data, ".dockerconfigjson"))
		return TR_OK;
	if ((st = basic_auth(value_of(data, "username"), value_of(data, "password"), &auth)) != TR_OK)
		return tr_error_set(err, st, "out of memory");
	config = docker_config(data, &auth);
	secbuf_clear(&auth);
	text = jsonmem_dump(config, 0, &len);
	json_decref(config);
	if (!text)
		return tr_error_set(err, TR_EVALIDATION, "field 'data': registry values must be UTF-8 text");
	st = secdata_add(data, ".dockerconfigjson", text, len);
	sodium_memzero(text, len);
	free(text);
	return st == TR_OK ? TR_OK : tr_error_set(err, st, "cannot add .dockerconfigjson");
}
