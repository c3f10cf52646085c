/*
 * dockercfg.h - Docker config JSON ({"auths":{"registry":{…}}}), the
 * .dockerconfigjson of container_registry secrets: the credentials in it
 * for masking, and several merged into one config for export.
 */
#ifndef TRESOR_INJECT_DOCKERCFG_H
#define TRESOR_INJECT_DOCKERCFG_H

#include <stddef.h>

#include <jansson.h>

#include "common/status.h"
#include "inject/mask.h"

/*
 * Adds to m the credentials of every auths entry of the config text (len
 * bytes): "auth" as written, the "user:pass" it encodes (with its derived
 * forms, base64 among them), "password", "identitytoken" and
 * "registrytoken". Usernames and server names are not secret and are left
 * visible. TR_EINVAL when the text is not a Docker config.
 */
enum tr_status dockercfg_mask(struct mask *m, const char *text, size_t len, struct tr_error *err);

/*
 * Copies each auths entry of the config text into auths (an object keyed
 * by registry). secret names where it came from in errors. A registry that
 * auths already holds is TR_ECONFLICT; text that is not a Docker config is
 * TR_EINVAL.
 */
enum tr_status dockercfg_merge(json_t *auths, const char *text, size_t len, const char *secret, struct tr_error *err);

#endif
