/*
 * config.h - the YAML configuration file, read with libyaml.
 *
 * The file is loaded into a jansson tree: mappings become objects,
 * sequences arrays, and every scalar a string (callers parse numbers, so a
 * value such as "0700" keeps its text). Anchors and aliases are refused.
 */
#ifndef TRESOR_COMMON_CONFIG_H
#define TRESOR_COMMON_CONFIG_H

#include <jansson.h>

#include "common/status.h"

/* Parses YAML text of len bytes. *out is set only on success. */
enum tr_status config_parse(const char *text, size_t len, json_t **out, struct tr_error *err);
/* Reads and parses a file. TR_ENOTFOUND if it does not exist. */
enum tr_status config_load(const char *path, json_t **out, struct tr_error *err);
/* The node at a dotted path ("server.listen"), or NULL. */
json_t *config_lookup(const json_t *root, const char *path);
/* The string at a dotted path, or NULL when absent or not a scalar. */
const char *config_string(const json_t *root, const char *path);

#endif
