/*
 * resolve.h - values for workloads (SPEC §6): given the names a job needs,
 * pick each secret by scope precedence (project > cluster > workspace),
 * decrypt the chosen version and hand the values to a service principal.
 */
#ifndef TRESOR_DOMAIN_RESOLVE_H
#define TRESOR_DOMAIN_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "common/secdata.h"
#include "common/status.h"
#include "domain/domain.h"

#define RESOLVE_MAX_ITEMS 256

enum resolve_scope { SCOPE_WORKSPACE, SCOPE_CLUSTER, SCOPE_PROJECT };

/* One thing to resolve: a key of a secret (for env) or a whole
 * container_registry secret. */
struct resolve_item {
	const char *envvar_name; /* NULL for the container secret */
	const char *secret_name; /* "name" or "name@version" */
	const char *secret_key;  /* NULL: the secret's only key */

	/* Filled by resolve_run: */
	char name[TR_SECRET_NAME_MAX + 1]; /* without @version */
	int64_t version;
	enum resolve_scope scope;
	unsigned overrode;   /* bit (1 << scope) for each losing scope */
	struct secbuf value; /* the value (wiped by resolve_items_clear) */
};

struct resolve_request {
	const char *workspace;
	const char *project; /* NULL or "": none */
	const char *cluster;
	struct resolve_item *items;
	size_t count;
	/* Index in items of the container_registry secret, or -1. Its value is
	 * the secret's .dockerconfigjson. */
	long container_index;
};

/* Resolves every item or none: on any failure no value is left in items.
 * TR_ENOTFOUND names what is missing. One audit record per item, in the
 * same transaction: resolve_read then resolve_record. */
enum tr_status resolve_run(struct domain *d, const struct principal *caller, struct resolve_request *req,
                           struct tr_error *err);
/* The reading half: checks the caller, picks and decrypts every item (or
 * none, as resolve_run); writes nothing. A server hands the values out only
 * once resolve_record has committed. */
enum tr_status resolve_read(struct domain *d, const struct principal *caller, struct resolve_request *req,
                            struct tr_error *err);
/* The writing half: checks again that the caller may resolve (its token
 * and binding may have gone since resolve_read: TR_EUNAUTH, or the errors
 * of the policy check), then writes one audit record per item read, as
 * one unit. */
enum tr_status resolve_record(struct domain *d, const struct principal *caller, const struct resolve_request *req,
                              struct tr_error *err);
/* The records resolve_record would write, made here instead (calloc'd, *n
 * of them; NULL when there are none or out of memory), for a server that
 * journals them (storage/journal.h). Its caller must know the caller may
 * still resolve: nothing that decides it has changed since resolve_read. */
struct store_audit *resolve_audit_records(const struct principal *caller, const struct resolve_request *req,
                                          size_t *n);
/* Wipes every resolved value. */
void resolve_items_clear(struct resolve_item *items, size_t count);

const char *resolve_scope_name(enum resolve_scope scope);

#endif
