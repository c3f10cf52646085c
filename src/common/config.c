/*
 * config.c - YAML to a jansson tree with libyaml's event parser.
 *
 * A small recursive-descent reader over parser events: one function per
 * node kind. Depth is limited so a hostile file cannot exhaust the stack.
 */
#include "common/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CONFIG_MAX_DEPTH 32
#define CONFIG_MAX_BYTES (1024 * 1024)

struct reader {
	yaml_parser_t parser;
	struct tr_error *err;
};

static enum tr_status read_node(struct reader *r, yaml_event_t *first, int depth, json_t **out);

static enum tr_status next_event(struct reader *r, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&r->parser, ev))
		return tr_error_set(r->err, TR_EINVAL, "config: %s at line %zu",
		                    r->parser.problem ? r->parser.problem : "parse error",
		                    r->parser.problem_mark.line + 1);
	return TR_OK;
}

static enum tr_status read_mapping(struct reader *r, int depth, json_t **out)
{
	json_t *obj = json_object();
	enum tr_status st = TR_OK;

	for (;;) {
		yaml_event_t key, val;
		json_t *child = NULL;
		char *name;

		if ((st = next_event(r, &key)) != TR_OK)
			break;
		if (key.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&key);
			*out = obj;
			return TR_OK;
		}
		if (key.type != YAML_SCALAR_EVENT) {
			yaml_event_delete(&key);
			st = tr_error_set(r->err, TR_EINVAL, "config: mapping keys must be plain scalars (line %zu)",
			                  key.start_mark.line + 1);
			break;
		}
		name = strdup((const char *)key.data.scalar.value);
		yaml_event_delete(&key);
		if ((st = next_event(r, &val)) == TR_OK)
			st = read_node(r, &val, depth + 1, &child);
		if (st == TR_OK)
			json_object_set_new(obj, name, child);
		free(name);
		if (st != TR_OK)
			break;
	}
	json_decref(obj);
	return st;
}

static enum tr_status read_sequence(struct reader *r, int depth, json_t **out)
{
	json_t *arr = json_array();
	enum tr_status st;

	for (;;) {
		yaml_event_t ev;
		json_t *child = NULL;

		if ((st = next_event(r, &ev)) != TR_OK)
			break;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			*out = arr;
			return TR_OK;
		}
		if ((st = read_node(r, &ev, depth + 1, &child)) != TR_OK)
			break;
		json_array_append_new(arr, child);
	}
	json_decref(arr);
	return st;
}

/* Reads the node that starts with *first (consumed here). */
static enum tr_status read_node(struct reader *r, yaml_event_t *first, int depth, json_t **out)
{
	enum yaml_event_type_e type = first->type;
	enum tr_status st;

	if (depth > CONFIG_MAX_DEPTH) {
		yaml_event_delete(first);
		return tr_error_set(r->err, TR_EINVAL, "config: nested deeper than %d levels", CONFIG_MAX_DEPTH);
	}
	switch (type) {
	case YAML_SCALAR_EVENT:
		*out = json_stringn((const char *)first->data.scalar.value, first->data.scalar.length);
		st = *out ? TR_OK : tr_error_set(r->err, TR_EINVAL, "config: value is not valid UTF-8");
		break;
	case YAML_MAPPING_START_EVENT:
		st = read_mapping(r, depth, out);
		break;
	case YAML_SEQUENCE_START_EVENT:
		st = read_sequence(r, depth, out);
		break;
	case YAML_ALIAS_EVENT:
		st = tr_error_set(r->err, TR_EINVAL, "config: aliases are not supported (line %zu)",
		                  first->start_mark.line + 1);
		break;
	default:
		st = tr_error_set(r->err, TR_EINVAL, "config: unexpected YAML event (line %zu)",
		                  first->start_mark.line + 1);
		break;
	}
	yaml_event_delete(first);
	return st;
}

/* Skips stream/document start events and reads the document's root. An
 * empty document is an empty object. */
static enum tr_status read_document(struct reader *r, json_t **out)
{
	for (;;) {
		yaml_event_t ev;
		enum tr_status st = next_event(r, &ev);

		if (st != TR_OK)
			return st;
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
			yaml_event_delete(&ev);
			continue;
		case YAML_STREAM_END_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			yaml_event_delete(&ev);
			*out = json_object();
			return TR_OK;
		default:
			return read_node(r, &ev, 0, out);
		}
	}
}

enum tr_status config_parse(const char *text, size_t len, json_t **out, struct tr_error *err)
{
	struct reader r = {.err = err};
	json_t *root = NULL;
	enum tr_status st;

	if (!yaml_parser_initialize(&r.parser))
		return tr_error_set(err, TR_EINTERNAL, "config: out of memory");
	yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, len);
	st = read_document(&r, &root);
	yaml_parser_delete(&r.parser);
	if (st != TR_OK)
		return st;
	if (!json_is_object(root)) {
		json_decref(root);
		return tr_error_set(err, TR_EINVAL, "config: the top level must be a mapping");
	}
	*out = root;
	return TR_OK;
}

enum tr_status config_load(const char *path, json_t **out, struct tr_error *err)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	enum tr_status st;

	if (!f)
		return tr_error_set(err, errno == ENOENT ? TR_ENOTFOUND : TR_EINVAL, "config: cannot open '%s': %s",
		                    path, strerror(errno));
	buf = malloc(CONFIG_MAX_BYTES + 1);
	if (!buf) {
		fclose(f);
		return tr_error_set(err, TR_EINTERNAL, "config: out of memory");
	}
	n = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
	fclose(f);
	if (n > CONFIG_MAX_BYTES) {
		free(buf);
		return tr_error_set(err, TR_ETOOLARGE, "config: '%s' is larger than 1 MiB", path);
	}
	st = config_parse(buf, n, out, err);
	free(buf);
	return st;
}

json_t *config_lookup(const json_t *root, const char *path)
{
	char part[128];
	const json_t *node = root;

	while (node && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(part))
			return NULL;
		memcpy(part, path, n);
		part[n] = '\0';
		node = json_object_get(node, part);
		path += n;
		if (*path == '.')
			path++;
	}
	return (json_t *)node;
}

const char *config_string(const json_t *root, const char *path)
{
	return json_string_value(config_lookup(root, path));
}
