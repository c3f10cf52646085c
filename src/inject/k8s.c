/*
 * k8s.c - Kubernetes Secret manifests (k8s.h).
 *
 * Reading goes YAML -> JSON tree (libyaml's event parser; every scalar a
 * string, except plain null/~) -> Secrets, so that JSON manifests and
 * YAML ones take one path.
 */
#include "inject/k8s.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <yaml.h>

#define ANNOTATION_NAME       "tresor/name"
#define ANNOTATION_WORKSPACE  "tresor/workspace"
#define ANNOTATION_TYPE       "tresor/type"
#define ANNOTATION_VERSION    "tresor/version"
#define TYPE_DOCKERCONFIGJSON "kubernetes.io/dockerconfigjson"
#define K8S_NAME_MAX          253

/* ---- writing ---- */

/* A YAML double-quoted scalar (JSON's escapes are YAML's too). */
static enum tr_status yaml_quoted(struct sbuf *b, const char *s)
{
	enum tr_status st = sbuf_addc(b, '"');
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p && st == TR_OK; p++) {
		if (*p == '"' || *p == '\\')
			st = sbuf_addc(b, '\\');
		if (st == TR_OK && *p < 0x20)
			st = sbuf_addf(b, "\\x%02x", *p);
		else if (st == TR_OK)
			st = sbuf_addc(b, (char)*p);
	}
	if (st == TR_OK)
		st = sbuf_addc(b, '"');
	return st;
}

/* The name as a DNS-1123 subdomain: lower case, [a-z0-9.-], alphanumeric ends. */
static void k8s_name(const char *name, char *out, size_t size)
{
	size_t n = 0;
	size_t i;

	for (i = 0; name[i] && n + 1 < size && n < K8S_NAME_MAX; i++) {
		char c = (char)tolower((unsigned char)name[i]);

		out[n++] = (isalnum((unsigned char)c) || c == '.' || c == '-') ? c : '-';
	}
	out[n] = '\0';
	while (n > 0 && !isalnum((unsigned char)out[n - 1]))
		out[--n] = '\0';
	i = 0;
	while (out[i] && !isalnum((unsigned char)out[i]))
		i++;
	memmove(out, out + i, n - i + 1);
	if (!out[0])
		snprintf(out, size, "secret");
}

static bool is_dockerconfigjson(const struct k8s_secret *s)
{
	return json_object_get(s->data, ".dockerconfigjson") &&
	       (!s->type || strcmp(s->type, "container_registry") == 0);
}

static enum tr_status annotation(struct sbuf *b, const char *key, const char *value)
{
	enum tr_status st = sbuf_addf(b, "    %s: ", key);

	if (st == TR_OK)
		st = yaml_quoted(b, value);
	if (st == TR_OK)
		st = sbuf_addc(b, '\n');
	return st;
}

static enum tr_status header_write(struct sbuf *b, const struct k8s_secret *s)
{
	char name[K8S_NAME_MAX + 1];
	char version[24];
	enum tr_status st;

	k8s_name(s->name, name, sizeof(name));
	st = sbuf_adds(b, "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: ");
	if (st == TR_OK)
		st = yaml_quoted(b, name);
	if (st == TR_OK)
		st = sbuf_adds(b, "\n  annotations:\n");
	if (st == TR_OK)
		st = annotation(b, ANNOTATION_NAME, s->name);
	if (st == TR_OK && s->workspace)
		st = annotation(b, ANNOTATION_WORKSPACE, s->workspace);
	if (st == TR_OK && s->type)
		st = annotation(b, ANNOTATION_TYPE, s->type);
	snprintf(version, sizeof(version), "%lld", s->version);
	if (st == TR_OK && s->version > 0)
		st = annotation(b, ANNOTATION_VERSION, version);
	if (st == TR_OK)
		st = sbuf_addf(b, "type: %s\ndata:\n", is_dockerconfigjson(s) ? TYPE_DOCKERCONFIGJSON : "Opaque");
	return st;
}

/* "  "key": "base64"\n" — the base64 is built in a wiped buffer. */
static enum tr_status data_line(struct sbuf *b, const char *key, const json_t *value)
{
	size_t len = json_string_length(value);
	size_t size = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	char *text = malloc(size);
	enum tr_status st;

	if (!text)
		return TR_EINTERNAL;
	sodium_bin2base64(text, size, (const unsigned char *)json_string_value(value), len,
			  sodium_base64_VARIANT_ORIGINAL);
	st = sbuf_adds(b, "  ");
	if (st == TR_OK)
		st = yaml_quoted(b, key);
	if (st == TR_OK)
		st = sbuf_adds(b, ": \"");
	if (st == TR_OK)
		st = sbuf_adds(b, text);
	if (st == TR_OK)
		st = sbuf_adds(b, "\"\n");
	sodium_memzero(text, size);
	free(text);
	return st;
}

enum tr_status k8s_write(struct sbuf *out, const struct k8s_secret *s, struct tr_error *err)
{
	enum tr_status st = header_write(out, s);
	const char *key;
	json_t *value;

	json_object_foreach ((json_t *)s->data, key, value) {
		if (st != TR_OK)
			break;
		if (!json_is_string(value))
			return tr_error_set(err, TR_EINVAL, "the key '%s' of '%s' is not text", key, s->name);
		st = data_line(out, key, value);
	}
	if (st != TR_OK)
		return tr_error_set(err, st, "out of memory");
	return TR_OK;
}

/* ---- YAML to JSON ---- */

/* What is being built: a stack of open containers. */
struct builder {
	json_t *stack[K8S_READ_MAX_DEPTH];
	char *keys[K8S_READ_MAX_DEPTH]; /* a mapping's key waiting for its value */
	int depth;
	json_t *docs; /* array of the documents' roots */
};

static json_t *scalar_json(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (len == 0 || strcmp(v, "null") == 0 || strcmp(v, "~") == 0 || strcmp(v, "Null") == 0 ||
	     strcmp(v, "NULL") == 0))
		return json_null();
	return json_stringn(v, len);
}

/* Puts value into the open container (or makes it a document). */
static enum tr_status builder_put(struct builder *b, json_t *value, struct tr_error *err)
{
	json_t *top;
	int rc;

	if (!value)
		return tr_error_set(err, TR_EINVAL, "the manifest holds text that is not UTF-8");
	if (b->depth == 0)
		return json_array_append_new(b->docs, value) < 0 ? TR_EINTERNAL : TR_OK;
	top = b->stack[b->depth - 1];
	if (json_is_array(top))
		return json_array_append_new(top, value) < 0 ? TR_EINTERNAL : TR_OK;
	if (!b->keys[b->depth - 1]) {
		/* The value is a key. Keys must be text. */
		if (!json_is_string(value)) {
			json_decref(value);
			return tr_error_set(err, TR_EINVAL, "the manifest has a mapping key that is not text");
		}
		b->keys[b->depth - 1] = strdup(json_string_value(value));
		json_decref(value);
		return b->keys[b->depth - 1] ? TR_OK : TR_EINTERNAL;
	}
	rc = json_object_set_new(top, b->keys[b->depth - 1], value);
	free(b->keys[b->depth - 1]);
	b->keys[b->depth - 1] = NULL;
	return rc < 0 ? TR_EINTERNAL : TR_OK;
}

static enum tr_status builder_open(struct builder *b, json_t *container, struct tr_error *err)
{
	if (b->depth == K8S_READ_MAX_DEPTH) {
		json_decref(container);
		return tr_error_set(err, TR_EINVAL, "the manifest nests deeper than %d levels", K8S_READ_MAX_DEPTH);
	}
	if (!container)
		return TR_EINTERNAL;
	b->stack[b->depth] = container;
	b->keys[b->depth] = NULL;
	b->depth++;
	return TR_OK;
}

static enum tr_status builder_close(struct builder *b, struct tr_error *err)
{
	json_t *done = b->stack[--b->depth];

	free(b->keys[b->depth]);
	b->keys[b->depth] = NULL;
	return builder_put(b, done, err);
}

static void builder_clear(struct builder *b)
{
	while (b->depth > 0) {
		b->depth--;
		json_decref(b->stack[b->depth]);
		free(b->keys[b->depth]);
	}
	json_decref(b->docs);
	b->docs = NULL;
}

/* One parser event. *done at the end of the stream. */
static enum tr_status builder_event(struct builder *b, const yaml_event_t *ev, bool *done, struct tr_error *err)
{
	switch (ev->type) {
	case YAML_STREAM_END_EVENT: *done = true; return TR_OK;
	case YAML_SCALAR_EVENT: return builder_put(b, scalar_json(ev), err);
	case YAML_SEQUENCE_START_EVENT: return builder_open(b, json_array(), err);
	case YAML_MAPPING_START_EVENT: return builder_open(b, json_object(), err);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: return builder_close(b, err);
	case YAML_ALIAS_EVENT: return tr_error_set(err, TR_EINVAL, "YAML aliases are not accepted in manifests");
	default: return TR_OK;
	}
}

static enum tr_status yaml_documents(const char *text, size_t len, json_t **out, struct tr_error *err)
{
	struct builder b = {.docs = json_array()};
	yaml_parser_t parser;
	yaml_event_t ev;
	enum tr_status st = b.docs ? TR_OK : TR_EINTERNAL;
	bool done = false;

	if (!yaml_parser_initialize(&parser)) {
		json_decref(b.docs);
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (st == TR_OK && !done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			st = tr_error_set(err, TR_EINVAL, "the manifest is not YAML: %s at line %zu",
					  parser.problem ? parser.problem : "error", parser.problem_mark.line + 1);
			break;
		}
		st = builder_event(&b, &ev, &done, err);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (st == TR_OK) {
		*out = b.docs;
		b.docs = NULL;
	}
	builder_clear(&b);
	return st;
}

/* ---- JSON to Secrets ---- */

static const char *str_at(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static const char *tresor_type(const json_t *secret, const json_t *annotations)
{
	const char *type = str_at(annotations, ANNOTATION_TYPE);
	const char *k8s_type = str_at(secret, "type");

	if (type)
		return type;
	if (k8s_type && strcmp(k8s_type, TYPE_DOCKERCONFIGJSON) == 0)
		return "container_registry";
	return "opaque";
}

/* Decodes data[key] (base64) into out[key]. */
static enum tr_status data_decode(json_t *out, const char *name, const char *key, const json_t *value,
				  struct tr_error *err)
{
	const char *text = json_string_value(value);
	size_t len = json_string_length(value);
	unsigned char *bin = malloc(len + 1);
	size_t bin_len = 0;
	enum tr_status st = TR_OK;
	json_t *s;

	if (!bin)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	if (!text ||
	    sodium_base642bin(bin, len + 1, text, len, " \n\r\t", &bin_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		st = tr_error_set(err, TR_EINVAL, "Secret '%s': data '%s' is not base64", name, key);
	if (st == TR_OK && !(s = json_stringn((const char *)bin, bin_len)))
		st = tr_error_set(err, TR_EINVAL, "Secret '%s': data '%s' is not UTF-8 text", name, key);
	if (st == TR_OK && json_object_set_new(out, key, s) < 0)
		st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	sodium_memzero(bin, len + 1);
	free(bin);
	return st;
}

/* data (base64) then stringData (text), which wins for a key in both. */
static enum tr_status secret_data(const json_t *secret, const char *name, json_t *out, struct tr_error *err)
{
	const json_t *data = json_object_get(secret, "data");
	const json_t *strings = json_object_get(secret, "stringData");
	enum tr_status st = TR_OK;
	const char *key;
	json_t *value;

	json_object_foreach ((json_t *)data, key, value) {
		if (st == TR_OK)
			st = data_decode(out, name, key, value, err);
	}
	json_object_foreach ((json_t *)strings, key, value) {
		if (st != TR_OK)
			break;
		if (!json_is_string(value))
			st = tr_error_set(err, TR_EINVAL, "Secret '%s': stringData '%s' is not text", name, key);
		else if (json_object_set(out, key, value) < 0)
			st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	return st;
}

static enum tr_status secret_add(json_t *out, const json_t *secret, struct tr_error *err)
{
	const json_t *meta = json_object_get(secret, "metadata");
	const json_t *annotations = json_object_get(meta, "annotations");
	const char *name = str_at(annotations, ANNOTATION_NAME);
	json_t *data = json_object();
	json_t *item;
	enum tr_status st;

	if (!name)
		name = str_at(meta, "name");
	if (!data)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	if (!name || !*name) {
		json_decref(data);
		return tr_error_set(err, TR_EINVAL, "a Secret in the manifest has no metadata.name");
	}
	st = secret_data(secret, name, data, err);
	item = st == TR_OK
		   ? json_pack("{s:s,s:s,s:o}", "name", name, "type", tresor_type(secret, annotations), "data", data)
		   : NULL;
	if (st != TR_OK) {
		json_decref(data);
		return st;
	}
	if (!item || json_array_append_new(out, item) < 0)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	return TR_OK;
}

/* A Secret, a List of them, or something else (skipped). */
static enum tr_status document_add(json_t *out, const json_t *doc, struct tr_error *err)
{
	const char *kind = str_at(doc, "kind");
	const json_t *item;
	enum tr_status st = TR_OK;
	size_t i;

	if (!kind)
		return TR_OK;
	if (strcmp(kind, "Secret") == 0)
		return secret_add(out, doc, err);
	if (strcmp(kind, "List") != 0 && strcmp(kind, "SecretList") != 0)
		return TR_OK;
	json_array_foreach (json_object_get(doc, "items"), i, item) {
		if (st == TR_OK)
			st = document_add(out, item, err);
	}
	return st;
}

enum tr_status k8s_read(const char *text, size_t len, json_t **out, struct tr_error *err)
{
	json_t *docs = NULL;
	json_t *secrets = json_array();
	const json_t *doc;
	enum tr_status st = secrets ? TR_OK : TR_EINTERNAL;
	size_t i;

	if (st == TR_OK)
		st = yaml_documents(text, len, &docs, err);
	json_array_foreach (docs, i, doc) {
		if (st == TR_OK)
			st = document_add(secrets, doc, err);
	}
	json_decref(docs);
	if (st == TR_OK && json_array_size(secrets) == 0)
		st = tr_error_set(err, TR_EINVAL, "the manifest holds no Secret");
	if (st != TR_OK) {
		json_decref(secrets);
		return st;
	}
	*out = secrets;
	return TR_OK;
}
