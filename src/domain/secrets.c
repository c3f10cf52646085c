/*
 * secrets.c - the secret lifecycle.
 *
 * Validation happens before any write; every write runs in one store
 * transaction and is rolled back on any failure, so a failed request
 * leaves the store as it was. Values are sealed here through the envelope
 * (the only way data reaches storage) and never copied into messages.
 */
#include "domain/secrets.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonmem.h"
#include "common/strcopy.h"
#include "crypto/envelope.h"
#include "domain/audit.h"
#include "domain/names.h"
#include "domain/policy.h"
#include "domain/types.h"

#define SCOPE_TEXT_MAX (TR_SCOPE_NAME_MAX + 16)

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* " (project p1)" / " (cluster c1)" / "" - for messages. */
static const char *scope_suffix(const char *project, const char *cluster, char buf[SCOPE_TEXT_MAX])
{
	buf[0] = '\0';
	if (project && *project)
		snprintf(buf, SCOPE_TEXT_MAX, " (project %s)", project);
	else if (cluster && *cluster)
		snprintf(buf, SCOPE_TEXT_MAX, " (cluster %s)", cluster);
	return buf;
}

static enum tr_status not_found(const struct secret_ref *ref, struct tr_error *err)
{
	char scope[SCOPE_TEXT_MAX];

	return tr_error_set(err, TR_ENOTFOUND, "Secret '%s/%s'%s not found", ref->workspace, ref->name,
	                    scope_suffix(ref->project, ref->cluster, scope));
}

/* --- validation ---------------------------------------------------------- */

static enum tr_status validate_scope(const char *project, const char *cluster, struct tr_error *err)
{
	if (project && *project && cluster && *cluster)
		return tr_error_set(err, TR_EVALIDATION, "fields 'project' and 'cluster': at most one may be set");
	if (project && *project && !name_label_valid(project))
		return tr_error_set(err, TR_EVALIDATION, "field 'project': not a valid project name");
	if (cluster && *cluster && !name_label_valid(cluster))
		return tr_error_set(err, TR_EVALIDATION, "field 'cluster': not a valid cluster name");
	return TR_OK;
}

static enum tr_status validate_metadata(const struct secret_input *in, struct tr_error *err)
{
	if (in->has_description && strlen(or_empty(in->description)) > TR_DESCRIPTION_MAX)
		return tr_error_set(err, TR_EVALIDATION, "field 'description': longer than %d bytes",
		                    TR_DESCRIPTION_MAX);
	if (in->has_visibility && strcmp(or_empty(in->visibility), "private") != 0 &&
	    strcmp(or_empty(in->visibility), "public") != 0)
		return tr_error_set(err, TR_EVALIDATION, "field 'visibility': must be 'private' or 'public'");
	if (in->has_tags && in->tag_count > TR_TAGS_MAX)
		return tr_error_set(err, TR_EVALIDATION, "field 'tags': at most %d tags", TR_TAGS_MAX);
	for (size_t i = 0; in->has_tags && i < in->tag_count; i++)
		if (!name_tag_valid(in->tags[i]))
			return tr_error_set(err, TR_EVALIDATION,
			                    "field 'tags': each tag is 1-%d letters, digits, '_', '.', ':' or '-'",
			                    TR_TAG_MAX);
	if (in->has_expires_in && in->expires_in <= 0)
		return tr_error_set(err, TR_EVALIDATION, "field 'expires_in': must be a positive number of seconds");
	return TR_OK;
}

static enum tr_status validate_data(const char *type, const struct secdata *data, struct warnings *w,
                                    struct tr_error *err)
{
	if (data->count == 0)
		return tr_error_set(err, TR_EVALIDATION, "field 'data': at least one key is required");
	if (data->count > TR_MAX_KEYS)
		return tr_error_set(err, TR_EVALIDATION, "field 'data': at most %d keys", TR_MAX_KEYS);
	if (secdata_size(data) > TR_MAX_DATA)
		return tr_error_set(err, TR_ETOOLARGE, "field 'data': keys and values exceed %d bytes", TR_MAX_DATA);
	for (size_t i = 0; i < data->count; i++) {
		if (!name_key_valid(data->items[i].key))
			return tr_error_set(err, TR_EVALIDATION,
			                    "field 'data': key names are 1-%d letters, digits, '_', '.' or '-'",
			                    TR_KEY_NAME_MAX);
		if (data->items[i].value.len == 0)
			return tr_error_set(err, TR_EVALIDATION, "field 'data.%s': value must not be empty",
			                    data->items[i].key);
	}
	return secret_type_validate(type, data, w, err);
}

/* Resolves in->type (or fallback when absent) to a canonical name. */
static enum tr_status canonical_type(const char *requested, const char *fallback, const char **out,
                                     struct tr_error *err)
{
	const char *type = requested ? secret_type_canonical(requested) : fallback;

	if (!type)
		return tr_error_set(err, TR_EVALIDATION, "field 'type': unknown type '%.*s'", TR_TYPE_NAME_MAX,
		                    requested ? requested : "");
	*out = type;
	return TR_OK;
}

/* --- metadata building --------------------------------------------------- */

/* Serialises and releases arr. The text is malloc'd (not jansson's
 * allocator), as store_secret_clear frees it with free(). */
static char *dump_array(json_t *arr)
{
	size_t len;
	char *text = jsonmem_dump(arr, 0, &len);

	json_decref(arr);
	return text;
}

static char *tags_json(const char **tags, size_t count)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < count; i++)
		json_array_append_new(arr, json_string(tags[i]));
	return dump_array(arr);
}

static char *keys_json(const struct secdata *data)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < data->count; i++)
		json_array_append_new(arr, json_string(data->items[i].key));
	return dump_array(arr);
}

static enum tr_status replace_string(char **slot, char *text, struct tr_error *err)
{
	if (!text)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	free(*slot);
	*slot = text;
	return TR_OK;
}

/* Applies the metadata fields present in `in` to m. */
static enum tr_status apply_metadata(struct store_secret *m, const struct secret_input *in, int64_t now,
                                     struct tr_error *err)
{
	if (in->has_description)
		str_copy(m->description, sizeof(m->description), or_empty(in->description));
	if (in->has_visibility)
		str_copy(m->visibility, sizeof(m->visibility), or_empty(in->visibility));
	if (in->has_expires_in)
		m->expires_at = now + in->expires_in;
	if (in->has_tags)
		return replace_string(&m->tags_json, tags_json(in->tags, in->tag_count), err);
	return TR_OK;
}

/* Seals data as version m->version of m and fills v. */
static enum tr_status seal_version(struct domain *d, const struct store_secret *m, const struct secdata *data,
                                   struct store_version *v, struct tr_error *err)
{
	struct envelope_identity id = {m->workspace, m->project, m->cluster, m->name, m->type, m->version};
	struct envelope_sealed sealed = {0};
	struct secbuf plain = {0};
	enum tr_status st;

	if ((st = secdata_encode(data, &plain)) != TR_OK)
		return tr_error_set(err, st, "cannot encode secret data");
	st = envelope_seal(d->keyring, &id, plain.data, plain.len, &sealed, err);
	secbuf_clear(&plain);
	if (st != TR_OK)
		return st;
	memset(v, 0, sizeof(*v));
	v->version = m->version;
	v->created_at = m->updated_at;
	str_copy(v->created_by, sizeof(v->created_by), m->updated_by);
	str_copy(v->provider, sizeof(v->provider), sealed.provider);
	v->wrapped_key = (struct store_blob){sealed.wrapped_key, sealed.wrapped_key_len};
	v->ciphertext = (struct store_blob){sealed.record, sealed.record_len};
	return TR_OK;
}

/* A new secret's identity: version 1 of (workspace, scope, name, type). */
static void new_identity(struct store_secret *m, const char *workspace, const struct secret_input *in,
                         const char *type)
{
	m->version = 1;
	str_copy(m->workspace, sizeof(m->workspace), workspace);
	str_copy(m->name, sizeof(m->name), in->name);
	str_copy(m->project, sizeof(m->project), or_empty(in->project));
	str_copy(m->cluster, sizeof(m->cluster), or_empty(in->cluster));
	str_copy(m->type, sizeof(m->type), type);
}

/* Whether pre was sealed for m, a new secret. */
static bool presealed_for(const struct secret_presealed *pre, const struct store_secret *m)
{
	return pre && m->version == 1 && pre->version.version == 1 && strcmp(pre->workspace, m->workspace) == 0 &&
	       strcmp(pre->project, m->project) == 0 && strcmp(pre->cluster, m->cluster) == 0 &&
	       strcmp(pre->name, m->name) == 0 && strcmp(pre->type, m->type) == 0;
}

/* A copy of pre's sealed version, made by m's writer now. */
static enum tr_status take_presealed(const struct secret_presealed *pre, const struct store_secret *m,
                                     struct store_version *v, struct tr_error *err)
{
	memset(v, 0, sizeof(*v));
	v->version = pre->version.version;
	v->created_at = m->updated_at;
	str_copy(v->created_by, sizeof(v->created_by), m->updated_by);
	str_copy(v->provider, sizeof(v->provider), pre->version.provider);
	if (store_blob_set(&v->wrapped_key, pre->version.wrapped_key.data, pre->version.wrapped_key.len) != TR_OK ||
	    store_blob_set(&v->ciphertext, pre->version.ciphertext.data, pre->version.ciphertext.len) != TR_OK) {
		store_version_clear(v);
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	return TR_OK;
}

/* Replaces the value of m: new version, new keys, sealed (or sealed ahead,
 * pre) and stored. */
static enum tr_status store_new_value(struct domain *d, struct store_secret *m, const struct secdata *data,
                                      const struct secret_presealed *pre, bool first, struct tr_error *err)
{
	struct store_version v;
	enum tr_status st;

	if ((st = replace_string(&m->keys_json, keys_json(data), err)) != TR_OK)
		return st;
	st = presealed_for(pre, m) ? take_presealed(pre, m, &v, err) : seal_version(d, m, data, &v, err);
	if (st != TR_OK)
		return st;
	if (first)
		st = store_secret_insert(d->store, m, &v, err);
	else
		st = store_version_add(d->store, m->id, &v, d->keep_versions, err);
	store_version_clear(&v);
	return st;
}

/* --- results and audit --------------------------------------------------- */

static enum tr_status audit_secret(struct domain *d, const struct principal *actor, const char *action,
                                   const struct store_secret *m, int status, struct tr_error *err)
{
	struct audit_event ev = {
		.action = action, .workspace = m->workspace, .secret = m->name, .project = m->project,
		.cluster = m->cluster, .outcome = AUDIT_SUCCESS, .status = status,
	};

	return audit_append(d, actor, &ev, err);
}

static void take_result(struct store_secret *out, struct store_secret *m)
{
	*out = *m;
	memset(m, 0, sizeof(*m));
}

/* --- operations ---------------------------------------------------------- */

/* Checks what every create and upsert needs: name, scope, metadata and a value. */
static enum tr_status validate_identity(const struct secret_input *in, struct tr_error *err)
{
	enum tr_status st;

	if (!in->name || !name_secret_valid(in->name))
		return tr_error_set(err, TR_EVALIDATION,
		                    "field 'name': secret names are 1-%d letters, digits, '_', '.' or '-'",
		                    TR_SECRET_NAME_MAX);
	if ((st = validate_scope(in->project, in->cluster, err)) != TR_OK)
		return st;
	if ((st = validate_metadata(in, err)) != TR_OK)
		return st;
	if (!in->has_data)
		return tr_error_set(err, TR_EVALIDATION, "field 'value' or 'data' is required");
	return TR_OK;
}

/* Checks the value of a new secret; sets *type to its canonical type. */
static enum tr_status validate_new_value(struct secret_input *in, const char **type, struct warnings *w,
                                         struct tr_error *err)
{
	enum tr_status st;

	if ((st = canonical_type(in->type, "opaque", type, err)) != TR_OK)
		return st;
	if ((st = validate_data(*type, &in->data, w, err)) != TR_OK)
		return st;
	if ((st = secret_type_complete(*type, &in->data, err)) != TR_OK)
		return st;
	if (!name_dns_portable(in->name))
		warnings_add(w, "name '%s' is not a portable DNS-1123 name (lowercase letters, digits and '-', "
		                "starting with a letter); some platforms cannot use it", in->name);
	return TR_OK;
}

/* Inserts a new secret; the transaction is open and `in` validated. */
static enum tr_status create_locked(struct domain *d, const struct principal *actor, const char *workspace,
                                    struct secret_input *in, const char *type, struct store_secret *out,
                                    struct tr_error *err)
{
	struct store_secret m = {0};
	char scope[SCOPE_TEXT_MAX];
	enum tr_status st;

	new_identity(&m, workspace, in, type);
	m.created_at = m.updated_at = domain_now();
	snprintf(m.visibility, sizeof(m.visibility), "private");
	str_copy(m.created_by, sizeof(m.created_by), actor->name);
	str_copy(m.updated_by, sizeof(m.updated_by), actor->name);
	st = replace_string(&m.tags_json, tags_json(NULL, 0), err);
	if (st == TR_OK)
		st = apply_metadata(&m, in, m.created_at, err);
	if (st == TR_OK)
		st = store_new_value(d, &m, &in->data, in->presealed, true, err);
	if (st == TR_OK)
		st = audit_secret(d, actor, "secret.create", &m, 201, err);
	if (st == TR_ECONFLICT)
		tr_error_set(err, st, "Secret '%s/%s'%s already exists", workspace, in->name,
		             scope_suffix(in->project, in->cluster, scope));
	else if (st == TR_ENOTFOUND)
		tr_error_set(err, st, "Workspace '%s' not found", workspace);
	if (st == TR_OK)
		take_result(out, &m);
	store_secret_clear(&m);
	return st;
}

enum tr_status secrets_preseal(struct domain *d, const struct principal *actor, const char *workspace,
                               struct secret_input *in, struct secret_presealed *out, struct tr_error *err)
{
	struct store_secret m = {0};
	const char *type = NULL;
	enum tr_status st;

	memset(out, 0, sizeof(*out));
	if ((st = policy_check_workspace(d, actor, ACT_SECRET_CREATE, workspace, err)) != TR_OK ||
	    (st = validate_identity(in, err)) != TR_OK || (st = validate_new_value(in, &type, NULL, err)) != TR_OK)
		return st;
	new_identity(&m, workspace, in, type);
	if ((st = seal_version(d, &m, &in->data, &out->version, err)) != TR_OK)
		return st;
	memcpy(out->workspace, m.workspace, sizeof(out->workspace));
	memcpy(out->project, m.project, sizeof(out->project));
	memcpy(out->cluster, m.cluster, sizeof(out->cluster));
	memcpy(out->name, m.name, sizeof(out->name));
	memcpy(out->type, m.type, sizeof(out->type));
	return TR_OK;
}

void secrets_presealed_clear(struct secret_presealed *p)
{
	store_version_clear(&p->version);
	memset(p, 0, sizeof(*p));
}

enum tr_status secrets_create(struct domain *d, const struct principal *actor, const char *workspace,
                              struct secret_input *in, struct store_secret *out, struct warnings *w,
                              struct tr_error *err)
{
	const char *type = NULL;
	enum tr_status st;

	if ((st = policy_check_workspace(d, actor, ACT_SECRET_CREATE, workspace, err)) != TR_OK)
		return st;
	if ((st = validate_identity(in, err)) != TR_OK)
		return st;
	if ((st = validate_new_value(in, &type, w, err)) != TR_OK)
		return st;
	if ((st = domain_begin(d, err)) != TR_OK)
		return st;
	return domain_finish(d, create_locked(d, actor, workspace, in, type, out, err), err);
}

/* Finds the secret ref names, if it exists for the caller: another
 * principal's private secret is "not found", never "forbidden". */
static enum tr_status lookup(struct domain *d, const struct principal *caller, const struct secret_ref *ref,
                             struct store_secret *out, struct tr_error *err)
{
	enum tr_status st;

	if (!name_secret_valid(ref->name))
		return not_found(ref, err);
	st = store_secret_get(d->store, ref->workspace, or_empty(ref->project), or_empty(ref->cluster), ref->name,
	                      out, err);
	if (st == TR_OK && !policy_secret_visible(caller, out->visibility, out->created_by)) {
		store_secret_clear(out);
		st = TR_ENOTFOUND;
	}
	return st == TR_ENOTFOUND ? not_found(ref, err) : st;
}

enum tr_status secrets_get(struct domain *d, const struct principal *actor, const struct secret_ref *ref,
                           struct store_secret *out, struct tr_error *err)
{
	enum tr_status st = policy_check_workspace(d, actor, ACT_SECRET_READ, ref->workspace, err);

	return st != TR_OK ? st : lookup(d, actor, ref, out, err);
}

enum tr_status secrets_list(struct domain *d, const struct principal *actor, const struct store_secret_query *q,
                            store_secret_cb cb, void *ctx, int64_t *total, struct tr_error *err)
{
	struct store_secret_query visible = *q;
	enum tr_status st = policy_check_workspace(d, actor, ACT_SECRET_READ, q->workspace, err);

	if (st != TR_OK)
		return st;
	visible.visible_to = actor->platform_admin ? NULL : actor->name;
	return store_secret_list(d->store, &visible, cb, ctx, total, err);
}

static bool input_is_empty(const struct secret_input *in)
{
	return !in->has_data && !in->type && !in->has_description && !in->has_visibility && !in->has_tags &&
	       !in->has_expires_in;
}

/* Validates an update of m by `in`; sets *type to the resulting type. */
static enum tr_status validate_update(const struct store_secret *m, struct secret_input *in,
                                      const char **type, struct warnings *w, struct tr_error *err)
{
	enum tr_status st;

	if ((st = validate_metadata(in, err)) != TR_OK)
		return st;
	/* The fallback is the table's own string: *type must not alias m->type. */
	if ((st = canonical_type(in->type, secret_type_canonical(m->type), type, err)) != TR_OK)
		return st;
	/* Like a Kubernetes Secret's, the type is fixed at creation: every
	 * version is sealed with it as part of its identity. */
	if (strcmp(*type, m->type) != 0)
		return tr_error_set(err, TR_EVALIDATION,
		                    "field 'type': a secret's type cannot change (it is '%s'); delete and recreate it",
		                    m->type);
	if (!in->has_data)
		return TR_OK;
	if ((st = validate_data(*type, &in->data, w, err)) != TR_OK)
		return st;
	return secret_type_complete(*type, &in->data, err);
}

/* Applies `in` to the existing secret m; the transaction is open. */
static enum tr_status update_locked(struct domain *d, const struct principal *actor, struct store_secret *m,
                                    struct secret_input *in, struct warnings *w, struct tr_error *err)
{
	const char *type = NULL;
	enum tr_status st;

	if ((st = validate_update(m, in, &type, w, err)) != TR_OK)
		return st;
	m->updated_at = domain_now();
	str_copy(m->updated_by, sizeof(m->updated_by), actor->name);
	str_copy(m->type, sizeof(m->type), type);
	if ((st = apply_metadata(m, in, m->updated_at, err)) != TR_OK)
		return st;
	if (in->has_data) {
		m->version++;
		if ((st = store_new_value(d, m, &in->data, NULL, false, err)) != TR_OK)
			return st;
	}
	if ((st = store_secret_update(d->store, m, err)) != TR_OK)
		return st;
	return audit_secret(d, actor, "secret.update", m, 200, err);
}

enum tr_status secrets_update(struct domain *d, const struct principal *actor, const struct secret_ref *ref,
                              struct secret_input *in, struct store_secret *out, struct warnings *w,
                              struct tr_error *err)
{
	struct store_secret m = {0};
	enum tr_status st;

	if ((st = policy_check_workspace(d, actor, ACT_SECRET_UPDATE, ref->workspace, err)) != TR_OK)
		return st;
	if (input_is_empty(in))
		return tr_error_set(err, TR_EVALIDATION, "nothing to update: give 'value', 'data', 'type', "
		                                         "'description', 'visibility', 'tags' or 'expires_in'");
	if ((st = domain_begin(d, err)) != TR_OK)
		return st;
	st = lookup(d, actor, ref, &m, err);
	if (st == TR_OK)
		st = update_locked(d, actor, &m, in, w, err);
	st = domain_finish(d, st, err);
	if (st == TR_OK)
		take_result(out, &m);
	store_secret_clear(&m);
	return st;
}

enum tr_status secrets_put(struct domain *d, const struct principal *actor, const struct secret_ref *ref,
                           struct secret_input *in, struct store_secret *out, bool *created,
                           struct warnings *w, struct tr_error *err)
{
	struct store_secret m = {0};
	const char *type = NULL;
	enum tr_status st;

	if ((st = policy_check_workspace(d, actor, ACT_SECRET_UPDATE, ref->workspace, err)) != TR_OK)
		return st;
	if ((st = validate_identity(in, err)) != TR_OK)
		return st;
	if ((st = domain_begin(d, err)) != TR_OK)
		return st;
	st = lookup(d, actor, ref, &m, err);
	*created = (st == TR_ENOTFOUND);
	if (*created) {
		tr_error_clear(err);
		st = validate_new_value(in, &type, w, err);
		if (st == TR_OK)
			st = create_locked(d, actor, ref->workspace, in, type, &m, err);
	} else if (st == TR_OK) {
		st = update_locked(d, actor, &m, in, w, err);
	}
	st = domain_finish(d, st, err);
	if (st == TR_OK)
		take_result(out, &m);
	store_secret_clear(&m);
	return st;
}

enum tr_status secrets_delete(struct domain *d, const struct principal *actor, const struct secret_ref *ref,
                              struct tr_error *err)
{
	struct store_secret m = {0};
	enum tr_status st;

	if ((st = policy_check_workspace(d, actor, ACT_SECRET_DELETE, ref->workspace, err)) != TR_OK)
		return st;
	if ((st = domain_begin(d, err)) != TR_OK)
		return st;
	st = lookup(d, actor, ref, &m, err);
	if (st == TR_OK)
		st = store_secret_delete(d->store, m.id, err);
	if (st == TR_OK)
		st = audit_secret(d, actor, "secret.delete", &m, 204, err);
	store_secret_clear(&m);
	return domain_finish(d, st, err);
}

enum tr_status secrets_open_version(struct domain *d, const struct store_secret *m, int64_t version,
                                    struct secdata *out, struct tr_error *err)
{
	struct store_version v = {0};
	enum tr_status st;

	if ((st = store_version_get(d->store, m->id, version, &v, err)) != TR_OK)
		return st;
	st = secrets_open_sealed(d, m, &v, out, err);
	store_version_clear(&v);
	return st;
}

enum tr_status secrets_open_sealed(struct domain *d, const struct store_secret *m, const struct store_version *v,
                                   struct secdata *out, struct tr_error *err)
{
	struct envelope_identity id = {m->workspace, m->project, m->cluster, m->name, m->type, v->version};
	struct secbuf plain = {0};
	enum tr_status st;

	st = envelope_open(d->keyring, &id, v->provider, v->wrapped_key.data, v->wrapped_key.len, v->ciphertext.data,
	                   v->ciphertext.len, &plain, err);
	if (st != TR_OK)
		return st;
	st = secdata_decode(plain.data, plain.len, out);
	secbuf_clear(&plain);
	if (st != TR_OK)
		return tr_error_set(err, st, "secret '%s/%s' holds a malformed record", m->workspace, m->name);
	return TR_OK;
}

/* A caller refused an action on ref: if the secret does not exist for it,
 * say "not found" rather than "forbidden", so private names do not leak
 * through the difference. err already holds the refusal. */
static enum tr_status hide_invisible(struct domain *d, const struct principal *actor, const struct secret_ref *ref,
                                     struct tr_error *err)
{
	struct store_secret m = {0};
	struct tr_error lookup_err = {0};
	enum tr_status st = lookup(d, actor, ref, &m, &lookup_err);

	store_secret_clear(&m);
	if (st == TR_ENOTFOUND) {
		*err = lookup_err;
		return st;
	}
	return TR_EDENIED;
}

enum tr_status secrets_reveal(struct domain *d, const struct principal *actor, const struct secret_ref *ref,
                              struct store_secret *meta, struct secdata *out, struct tr_error *err)
{
	struct store_secret m = {0};
	enum tr_status st;

	if ((st = policy_check_workspace(d, actor, ACT_SECRET_ACCESS, ref->workspace, err)) != TR_OK)
		return st == TR_EDENIED ? hide_invisible(d, actor, ref, err) : st;
	if ((st = domain_begin(d, err)) != TR_OK)
		return st;
	st = lookup(d, actor, ref, &m, err);
	if (st == TR_OK && (st = secrets_open_version(d, &m, m.version, out, err)) == TR_ENOTFOUND)
		st = tr_error_set(err, TR_EINTERNAL, "the current version of secret '%s/%s' is missing", m.workspace,
		                  m.name);
	if (st == TR_OK)
		st = audit_secret(d, actor, "secret.access", &m, 200, err);
	st = domain_finish(d, st, err);
	if (st == TR_OK)
		take_result(meta, &m);
	else
		secdata_clear(out);
	store_secret_clear(&m);
	return st;
}

enum tr_status secrets_versions(struct domain *d, const struct principal *actor, const struct secret_ref *ref,
                                store_version_cb cb, void *ctx, int64_t *current, struct tr_error *err)
{
	struct store_secret m = {0};
	enum tr_status st = secrets_get(d, actor, ref, &m, err);

	if (st == TR_OK) {
		*current = m.version;
		st = store_version_list(d->store, m.id, cb, ctx, err);
	}
	store_secret_clear(&m);
	return st;
}

enum tr_status secrets_purge_expired(struct domain *d, int64_t *purged, struct tr_error *err)
{
	return store_secret_purge_expired(d->store, domain_now() - d->purge_after, purged, err);
}
