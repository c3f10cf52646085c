/*
 * resolve.c - scope precedence, version pins and decryption for workloads.
 *
 * For each item the candidates are looked up from the narrowest scope to
 * the widest (project, cluster, workspace); the first one that exists,
 * is visible to the caller and has not expired wins, and the others that
 * also exist are reported as overridden. Either every value is returned
 * and recorded, or nothing is: resolve_run reads and records in one store
 * transaction; the server reads on its worker (resolve_read) and answers
 * only once the records (resolve_record) have committed on its writer.
 */
#include "domain/resolve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/audit.h"
#include "domain/auth.h"
#include "domain/names.h"
#include "domain/policy.h"
#include "domain/secret-cache.h"
#include "domain/secrets.h"

const char *resolve_scope_name(enum resolve_scope scope)
{
	static const char *const names[] = {"workspace", "cluster", "project"};

	return names[scope];
}

void resolve_items_clear(struct resolve_item *items, size_t count)
{
	for (size_t i = 0; i < count; i++)
		secbuf_clear(&items[i].value);
}

/* Splits "name@3" into name and version (0: current). */
static enum tr_status parse_reference(struct resolve_item *it, const char *ws, struct tr_error *err)
{
	const char *at = strchr(it->secret_name, '@');
	size_t n = at ? (size_t)(at - it->secret_name) : strlen(it->secret_name);
	char *end;

	if (n == 0 || n > TR_SECRET_NAME_MAX)
		return tr_error_set(err, TR_EVALIDATION, "field 'secret_name': not a valid secret name");
	memcpy(it->name, it->secret_name, n);
	it->name[n] = '\0';
	if (!name_secret_valid(it->name))
		return tr_error_set(err, TR_EVALIDATION, "field 'secret_name': not a valid secret name");
	it->version = 0;
	if (!at)
		return TR_OK;
	errno = 0;
	it->version = strtoll(at + 1, &end, 10);
	if (errno || end == at + 1 || *end || it->version < 1)
		return tr_error_set(err, TR_EVALIDATION, "field 'secret_name': bad version pin in '%s/%s'", ws,
		                    it->secret_name);
	return TR_OK;
}

/* The binding may tie the service to one project or cluster. */
static enum tr_status check_binding_limits(const struct store_member *b, const struct resolve_request *req,
                                           struct tr_error *err)
{
	const char *project = req->project ? req->project : "";
	const char *cluster = req->cluster ? req->cluster : "";

	if (b->project[0] && strcmp(b->project, project) != 0)
		return tr_error_set(err, TR_EDENIED, "this service may resolve only for project '%s'", b->project);
	if (b->cluster[0] && strcmp(b->cluster, cluster) != 0)
		return tr_error_set(err, TR_EDENIED, "this service may resolve only for cluster '%s'", b->cluster);
	return TR_OK;
}

static bool usable(const struct principal *caller, const struct store_secret *m)
{
	if (m->expires_at != 0 && m->expires_at <= domain_now())
		return false;
	return policy_secret_visible(caller, m->visibility, m->created_by);
}

/*
 * The secret at one scope, as a read now would return it. In a worker's
 * read transaction its current version comes with it, sealed (*v; else
 * *v stays empty), and what was found (or that nothing was) is kept in
 * this thread's cache, which answers the next such lookup while nothing
 * but audit records has been committed (secret-cache.h).
 */
static enum tr_status read_candidate(struct domain *d, const char *workspace, const char *project,
                                     const char *cluster, const char *name, struct store_secret *m,
                                     struct store_version *v, struct tr_error *err)
{
	uint64_t generation = domain_cache_generation(d);
	enum tr_status st;

	if (generation) {
		switch (secret_cache_get(generation, workspace, project, cluster, name, m, v)) {
		case SECRET_CACHE_FOUND:
			return TR_OK;
		case SECRET_CACHE_ABSENT:
			return tr_error_set(err, TR_ENOTFOUND, "%s", "");
		case SECRET_CACHE_MISS:
			break;
		}
	}
	st = store_secret_get(d->store, workspace, project, cluster, name, m, err);
	if (st == TR_ENOTFOUND && generation)
		secret_cache_put_absent(generation, workspace, project, cluster, name);
	if (st != TR_OK || !generation)
		return st;
	if (store_version_get(d->store, m->id, m->version, v, NULL) == TR_OK)
		secret_cache_put(generation, m, v);
	else
		store_version_clear(v); /* resolve_one reads it again, and reports */
	return TR_OK;
}

/* Finds the winning secret for it; *out owns heap strings on success, and
 * *out_v holds its current version when read_candidate brought it. */
static enum tr_status choose(struct domain *d, const struct principal *caller, const struct resolve_request *req,
                             struct resolve_item *it, struct store_secret *out, struct store_version *out_v,
                             struct tr_error *err)
{
	const char *scopes[3][2] = {{"", ""}, {"", req->cluster}, {req->project, ""}};
	bool found = false;

	for (int s = SCOPE_PROJECT; s >= SCOPE_WORKSPACE; s--) {
		struct store_secret m = {0};
		struct store_version v = {0};
		enum tr_status st;

		if (s != SCOPE_WORKSPACE && !(scopes[s][0] && *scopes[s][0]) && !(scopes[s][1] && *scopes[s][1]))
			continue;
		st = read_candidate(d, req->workspace, scopes[s][0] ? scopes[s][0] : "", scopes[s][1] ? scopes[s][1] : "",
		                    it->name, &m, &v, err);
		if (st == TR_ENOTFOUND || (st == TR_OK && !usable(caller, &m))) {
			store_secret_clear(&m);
			store_version_clear(&v);
			continue;
		}
		if (st != TR_OK)
			return st;
		if (found) {
			it->overrode |= 1u << s;
			store_secret_clear(&m);
			store_version_clear(&v);
		} else {
			found = true;
			it->scope = (enum resolve_scope)s;
			*out = m;
			*out_v = v;
		}
	}
	if (!found)
		return tr_error_set(err, TR_ENOTFOUND, "Secret '%s/%s' not found", req->workspace, it->name);
	return TR_OK;
}

/* The value of one key, or of the only key when key is NULL. */
static enum tr_status pick_key(const struct secdata *data, const char *ws, const struct resolve_item *it,
                               const char *key, struct secbuf *out, struct tr_error *err)
{
	const struct secdata_item *found = NULL;

	if (key)
		found = secdata_find(data, key);
	else if (data->count == 1)
		found = &data->items[0];
	else
		return tr_error_set(err, TR_EVALIDATION,
		                    "field 'secret_key': secret '%s/%s' has %zu keys; name one", ws, it->name, data->count);
	if (!found)
		return tr_error_set(err, TR_ENOTFOUND, "Secret '%s/%s' has no key '%s'", ws, it->name, key);
	return secbuf_set(out, found->value.data, found->value.len);
}

static enum tr_status resolve_one(struct domain *d, const struct principal *caller, const struct resolve_request *req,
                                  struct resolve_item *it, bool container, struct tr_error *err)
{
	struct store_secret m = {0};
	struct store_version v = {0};
	struct secdata data = {0};
	enum tr_status st = choose(d, caller, req, it, &m, &v, err);

	if (st != TR_OK) {
		store_secret_clear(&m);
		store_version_clear(&v);
		return st;
	}
	if (container && strcmp(m.type, "container_registry") != 0)
		st = tr_error_set(err, TR_EVALIDATION, "field 'container_secret_name': '%s/%s' is a %s secret, "
		                  "not container_registry", req->workspace, it->name, m.type);
	if (st == TR_OK && it->version == 0)
		it->version = m.version;
	if (st == TR_OK && v.version != 0 && v.version == it->version)
		st = secrets_open_sealed(d, &m, &v, &data, err);
	else if (st == TR_OK && (st = secrets_open_version(d, &m, it->version, &data, err)) == TR_ENOTFOUND)
		st = tr_error_set(err, st, "Secret '%s/%s' has no version %lld", req->workspace, it->name,
		                  (long long)it->version);
	if (st == TR_OK)
		st = pick_key(&data, req->workspace, it, container ? ".dockerconfigjson" : it->secret_key, &it->value,
		              err);
	secdata_clear(&data);
	store_secret_clear(&m);
	store_version_clear(&v);
	return st;
}

static enum tr_status read_items(struct domain *d, const struct principal *caller, struct resolve_request *req,
                                 struct tr_error *err)
{
	enum tr_status st = TR_OK;

	for (size_t i = 0; i < req->count && st == TR_OK; i++) {
		if ((st = parse_reference(&req->items[i], req->workspace, err)) == TR_OK)
			st = resolve_one(d, caller, req, &req->items[i], (long)i == req->container_index, err);
	}
	return st;
}

enum tr_status resolve_read(struct domain *d, const struct principal *caller, struct resolve_request *req,
                            struct tr_error *err)
{
	struct store_member binding;
	enum tr_status st;

	st = policy_check_workspace_binding(d, caller, ACT_SECRET_RESOLVE, req->workspace, &binding, err);
	if (st != TR_OK)
		return st;
	if (req->count > RESOLVE_MAX_ITEMS)
		return tr_error_set(err, TR_EVALIDATION, "field 'env': at most %d entries", RESOLVE_MAX_ITEMS);
	if ((st = check_binding_limits(&binding, req, err)) != TR_OK)
		return st;
	if ((st = read_items(d, caller, req, err)) != TR_OK)
		resolve_items_clear(req->items, req->count);
	return st;
}

/* What the record of one resolved item says: the scope's project or
 * cluster are the request's, for the scope that supplied it. */
static struct audit_event item_event(const struct resolve_request *req, const struct resolve_item *it)
{
	return (struct audit_event){
		.action = "secret.resolve", .workspace = req->workspace, .secret = it->name,
		.project = it->scope == SCOPE_PROJECT ? req->project : NULL,
		.cluster = it->scope == SCOPE_CLUSTER ? req->cluster : NULL,
		.outcome = AUDIT_SUCCESS, .status = 200,
	};
}

static enum tr_status record_item(struct domain *d, const struct principal *caller,
                                  const struct resolve_request *req, const struct resolve_item *it,
                                  struct tr_error *err)
{
	struct audit_event ev = item_event(req, it);

	return audit_append(d, caller, &ev, err);
}

struct store_audit *resolve_audit_records(const struct principal *caller, const struct resolve_request *req,
                                          size_t *n)
{
	struct store_audit *recs = req->count ? calloc(req->count, sizeof(*recs)) : NULL;

	for (size_t i = 0; recs && i < req->count; i++) {
		struct audit_event ev = item_event(req, &req->items[i]);

		audit_fill(&recs[i], caller, &ev);
	}
	*n = recs ? req->count : 0;
	return recs;
}

/* The caller may still resolve: its token stands, its binding is there
 * and allows this request (it may have changed since resolve_read). When
 * nothing that could change that has happened since the caller's token was
 * verified, what resolve_read checked holds, and the store is not asked
 * again. */
static enum tr_status still_allowed(struct domain *d, const struct principal *caller,
                                    const struct resolve_request *req, struct tr_error *err)
{
	struct store_member binding;
	enum tr_status st;

	if (domain_auth_unchanged_since(d, caller->auth_generation))
		return TR_OK;
	st = auth_still_valid(d, caller, err);

	if (st == TR_OK)
		st = policy_check_workspace_binding(d, caller, ACT_SECRET_RESOLVE, req->workspace, &binding, err);
	if (st == TR_OK)
		st = check_binding_limits(&binding, req, err);
	return st;
}

enum tr_status resolve_record(struct domain *d, const struct principal *caller, const struct resolve_request *req,
                              struct tr_error *err)
{
	enum tr_status st = domain_begin(d, err);

	if (st == TR_OK)
		st = still_allowed(d, caller, req, err);
	for (size_t i = 0; i < req->count && st == TR_OK; i++)
		st = record_item(d, caller, req, &req->items[i], err);
	return domain_finish(d, st, err);
}

enum tr_status resolve_run(struct domain *d, const struct principal *caller, struct resolve_request *req,
                           struct tr_error *err)
{
	enum tr_status st = domain_begin(d, err);

	if (st != TR_OK)
		return st;
	if ((st = resolve_read(d, caller, req, err)) == TR_OK)
		st = resolve_record(d, caller, req, err);
	st = domain_finish(d, st, err);
	if (st != TR_OK)
		resolve_items_clear(req->items, req->count);
	return st;
}
