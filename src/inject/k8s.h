/*
 * k8s.h - Kubernetes Secret manifests: the writer of `tresor export
 * --format k8s` and the reader of `tresor import --format k8s`.
 *
 * A secret is written as one YAML document:
 *
 *   ---
 *   apiVersion: v1
 *   kind: Secret
 *   metadata:
 *     name: "hf-secret"              a DNS-1123 form of the name
 *     annotations:
 *       tresor/name: "hf-secret"     the name as tresor has it
 *       tresor/workspace: "default"
 *       tresor/type: "opaque"        when known
 *       tresor/version: "3"          when known
 *   type: Opaque                     or kubernetes.io/dockerconfigjson
 *   data:
 *     "hf-token": "aGZf..."          base64 of each value
 *
 * A secret holding ".dockerconfigjson" whose type is container_registry
 * (or unknown) becomes kubernetes.io/dockerconfigjson; every other one is
 * Opaque.
 *
 * The reader takes YAML or JSON, one or more documents, each a Secret or a
 * List of them (other kinds are skipped), with data (base64) and/or
 * stringData. The tresor/name and tresor/type annotations win over
 * metadata.name and the Kubernetes type (kubernetes.io/dockerconfigjson is
 * container_registry, everything else opaque). YAML aliases are refused.
 */
#ifndef TRESOR_INJECT_K8S_H
#define TRESOR_INJECT_K8S_H

#include <stddef.h>

#include <jansson.h>

#include "common/status.h"
#include "inject/sbuf.h"

#define K8S_READ_MAX_DEPTH 64

struct k8s_secret {
	const char *name; /* tresor's name */
	const char *workspace;
	const char *type;   /* tresor's type, or NULL when unknown */
	long long version;  /* 0 when unknown */
	const json_t *data; /* key -> string value */
};

/* Appends one manifest ("---" first). TR_EINVAL when data holds a non-string. */
enum tr_status k8s_write(struct sbuf *out, const struct k8s_secret *s, struct tr_error *err);

/*
 * Reads the Secrets of text (len bytes) into *out, a fresh array of
 * {"name","type","data":{key: value}} (values are strings; the tree holds
 * them: free it with json_decref). TR_EINVAL names what is wrong: YAML that
 * does not parse, a Secret without a name, data that is not base64 or not
 * UTF-8 text, no Secret at all.
 */
enum tr_status k8s_read(const char *text, size_t len, json_t **out, struct tr_error *err);

#endif
