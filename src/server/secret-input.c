/*
 * secret-input.c - reading a secret's fields out of a JSON body into a
 * struct secret_input: one rule set for create, PATCH, PUT and batch items.
 * Values go straight into the input's secdata (wiped by
 * parsed_input_clear) and are never quoted in an error.
 */
#include "server/secret-input.h"

#include <string.h>

#include "server/body.h"

static const char *const create_fields[] = {"name",       "value",   "data",    "type",       "description",
                                            "visibility", "tags",    "project", "cluster",    "expires_in",
                                            NULL};
static const char *const patch_fields[] = {"value",      "data", "type",       "description",
                                           "visibility", "tags", "expires_in", NULL};

/* --- request parsing ----------------------------------------------------- */

static enum tr_status parse_value(const json_t *body, struct secret_input *in, struct tr_error *err)
{
	json_t *v = json_object_get(body, "value");

	if (!v)
		return TR_OK;
	if (!json_is_string(v) || json_string_length(v) == 0)
		return tr_error_set(err, TR_EVALIDATION, "field 'value': must be a non-empty string");
	if (json_object_get(body, "data"))
		return tr_error_set(err, TR_EVALIDATION, "fields 'value' and 'data': give one, not both");
	in->has_data = true;
	return secdata_add(&in->data, "value", json_string_value(v), json_string_length(v));
}

static enum tr_status parse_data(const json_t *body, struct secret_input *in, struct tr_error *err)
{
	json_t *data = json_object_get(body, "data");
	const char *key;
	json_t *v;

	if (!data)
		return TR_OK;
	if (!json_is_object(data))
		return tr_error_set(err, TR_EVALIDATION, "field 'data': must be an object of strings");
	if (json_object_size(data) > TR_MAX_KEYS)
		return tr_error_set(err, TR_EVALIDATION, "field 'data': at most %d keys", TR_MAX_KEYS);
	json_object_foreach(data, key, v) {
		if (!json_is_string(v))
			return tr_error_set(err, TR_EVALIDATION, "field 'data.%.64s': must be a string", key);
		if (secdata_add(&in->data, key, json_string_value(v), json_string_length(v)) != TR_OK)
			return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	in->has_data = true;
	return TR_OK;
}

static enum tr_status parse_tags(const json_t *body, struct parsed_input *p, struct tr_error *err)
{
	json_t *tags = json_object_get(body, "tags");
	size_t i;
	json_t *t;

	if (!tags)
		return TR_OK;
	if (!json_is_array(tags))
		return tr_error_set(err, TR_EVALIDATION, "field 'tags': must be an array of strings");
	if (json_array_size(tags) > TR_TAGS_MAX)
		return tr_error_set(err, TR_EVALIDATION, "field 'tags': at most %d tags", TR_TAGS_MAX);
	json_array_foreach(tags, i, t) {
		if (!json_is_string(t))
			return tr_error_set(err, TR_EVALIDATION, "field 'tags': must be an array of strings");
		p->tags[i] = json_string_value(t);
	}
	p->in.tags = p->tags;
	p->in.tag_count = json_array_size(tags);
	p->in.has_tags = true;
	return TR_OK;
}

/* Reads the optional metadata fields shared by create, patch and put. */
static enum tr_status parse_metadata(const json_t *body, struct parsed_input *p, struct tr_error *err)
{
	struct secret_input *in = &p->in;
	enum tr_status st;

	if ((st = body_string(body, "type", &in->type, err)) != TR_OK ||
	    (st = body_string(body, "description", &in->description, err)) != TR_OK ||
	    (st = body_string(body, "visibility", &in->visibility, err)) != TR_OK ||
	    (st = body_int(body, "expires_in", &in->expires_in, &in->has_expires_in, err)) != TR_OK)
		return st;
	in->has_description = json_object_get(body, "description") != NULL;
	in->has_visibility = in->visibility != NULL;
	if ((st = parse_tags(body, p, err)) != TR_OK)
		return st;
	if ((st = parse_value(body, in, err)) != TR_OK)
		return st;
	return parse_data(body, in, err);
}

static const char *const batch_fields[] = {"name",       "action",  "value",   "data",       "type",
                                           "description", "visibility", "tags",  "project", "cluster",
                                           "expires_in",  NULL};

static const char *const *const allowed_fields[] = {
	[SECRET_INPUT_CREATE] = create_fields,
	[SECRET_INPUT_PATCH] = patch_fields,
	[SECRET_INPUT_BATCH] = batch_fields,
};

enum tr_status secret_input_parse(const json_t *body, enum secret_input_kind kind, struct parsed_input *p,
                                  struct tr_error *err)
{
	enum tr_status st;

	if ((st = body_only_fields(body, allowed_fields[kind], err)) != TR_OK)
		return st;
	if (kind == SECRET_INPUT_PATCH)
		return parse_metadata(body, p, err);
	if ((st = body_string(body, "name", &p->in.name, err)) != TR_OK ||
	    (st = body_string(body, "project", &p->in.project, err)) != TR_OK ||
	    (st = body_string(body, "cluster", &p->in.cluster, err)) != TR_OK)
		return st;
	return parse_metadata(body, p, err);
}

void parsed_input_clear(struct parsed_input *p)
{
	secdata_clear(&p->in.data);
}

