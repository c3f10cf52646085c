/*
 * secret-input.h - a secret's fields from a JSON request body.
 */
#ifndef TRESOR_SERVER_SECRET_INPUT_H
#define TRESOR_SERVER_SECRET_INPUT_H

#include <jansson.h>

#include "common/limits.h"
#include "common/status.h"
#include "domain/secrets.h"

/* A secret_input and the storage its tag list points into. */
struct parsed_input {
	struct secret_input in;
	const char *tags[TR_TAGS_MAX];
};

enum secret_input_kind {
	SECRET_INPUT_CREATE, /* POST and PUT: name, scope, value or data, metadata */
	SECRET_INPUT_PATCH,  /* PATCH: value or data, metadata */
	SECRET_INPUT_BATCH,  /* a batch item: as create, plus "action" */
};

/* Fills p from body (which must outlive p: strings point into it). Unknown
 * fields, wrong types and limits are TR_EVALIDATION naming the field. */
enum tr_status secret_input_parse(const json_t *body, enum secret_input_kind kind, struct parsed_input *p,
                                  struct tr_error *err);
/* Wipes the values. */
void parsed_input_clear(struct parsed_input *p);

#endif
