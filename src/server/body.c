/*
 * body.c - typed access to request body fields.
 */
#include "server/body.h"

#include <string.h>

enum tr_status body_only_fields(const json_t *body, const char *const *allowed, struct tr_error *err)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)body, key, value) {
		size_t i = 0;

		while (allowed[i] && strcmp(allowed[i], key) != 0)
			i++;
		if (!allowed[i])
			return tr_error_set(err, TR_EVALIDATION, "unknown field '%.64s'", key);
	}
	return TR_OK;
}

enum tr_status body_string(const json_t *body, const char *field, const char **out, struct tr_error *err)
{
	json_t *v = json_object_get(body, field);

	*out = NULL;
	if (!v || json_is_null(v))
		return TR_OK;
	if (!json_is_string(v))
		return tr_error_set(err, TR_EVALIDATION, "field '%s': must be a string", field);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return tr_error_set(err, TR_EVALIDATION, "field '%s': must not contain NUL characters", field);
	*out = json_string_value(v);
	return TR_OK;
}

enum tr_status body_int(const json_t *body, const char *field, int64_t *out, bool *present,
                        struct tr_error *err)
{
	json_t *v = json_object_get(body, field);

	*present = false;
	if (!v || json_is_null(v))
		return TR_OK;
	if (!json_is_integer(v))
		return tr_error_set(err, TR_EVALIDATION, "field '%s': must be an integer", field);
	*out = json_integer_value(v);
	*present = true;
	return TR_OK;
}
