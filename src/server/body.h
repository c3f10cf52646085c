/*
 * body.h - reading fields out of a JSON request body with one rule set:
 * unknown fields are refused, wrong types are 422 naming the field.
 */
#ifndef TRESOR_SERVER_BODY_H
#define TRESOR_SERVER_BODY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/status.h"

/* TR_EVALIDATION "unknown field 'x'" unless every key of body is in the
 * NULL-terminated list allowed. */
enum tr_status body_only_fields(const json_t *body, const char *const *allowed, struct tr_error *err);
/* A string field: *out = NULL when absent (or null when nullable). */
enum tr_status body_string(const json_t *body, const char *field, const char **out, struct tr_error *err);
/* An integer field; *present tells whether it was given. */
enum tr_status body_int(const json_t *body, const char *field, int64_t *out, bool *present,
                        struct tr_error *err);

#endif
