/*
 * types.h - secret types (use cases) of SPEC §3: their names, aliases and
 * the rules their data must follow.
 */
#ifndef TRESOR_DOMAIN_TYPES_H
#define TRESOR_DOMAIN_TYPES_H

#include "common/secdata.h"
#include "common/status.h"
#include "domain/warnings.h"

/* The canonical name for a type or alias, matched case-insensitively
 * ("Generic" -> "opaque", "ImagePullSecret" -> "container_registry"),
 * or NULL when unknown. */
const char *secret_type_canonical(const char *name);

/* Checks data against the rules of a canonical type: required keys and
 * per-key rules. TR_EVALIDATION names the key and the rule, never the
 * value. Soft problems become warnings. */
enum tr_status secret_type_validate(const char *type, const struct secdata *data, struct warnings *w,
                                    struct tr_error *err);

/* Adds what a type derives from its data: a container_registry secret in
 * the AI Blueprints form (registry_server, username, password, email) also
 * gets the equivalent ".dockerconfigjson", so every registry secret can be
 * used as a Docker config. Call after secret_type_validate. */
enum tr_status secret_type_complete(const char *type, struct secdata *data, struct tr_error *err);

#endif
