/*
 * principals.c - creating, listing and deleting principals.
 */
#include "domain/principals.h"

#include <stdio.h>
#include <string.h>

#include "domain/audit.h"
#include "domain/names.h"
#include "domain/policy.h"

static enum tr_status validate(const char *name, const char *kind, bool platform_admin, struct tr_error *err)
{
	if (!name || !name_principal_valid(name))
		return tr_error_set(err, TR_EVALIDATION,
		                    "field 'name': principal names are 1-%d letters, digits, '_', '.' or '-'",
		                    TR_PRINCIPAL_NAME_MAX);
	if (strcmp(kind, "user") != 0 && strcmp(kind, "service") != 0)
		return tr_error_set(err, TR_EVALIDATION, "field 'kind': must be 'user' or 'service'");
	if (platform_admin && strcmp(kind, "user") != 0)
		return tr_error_set(err, TR_EVALIDATION, "field 'platform_admin': only users may be platform admins");
	return TR_OK;
}

static enum tr_status create_locked(struct domain *d, const struct principal *actor, const struct store_principal *p,
                                    struct tr_error *err)
{
	struct audit_event ev = {
		.action = "principal.create", .target = p->name, .outcome = AUDIT_SUCCESS, .status = 201,
	};
	enum tr_status st = store_principal_create(d->store, p, err);

	if (st == TR_ECONFLICT)
		return tr_error_set(err, st, "Principal '%s' already exists", p->name);
	return st == TR_OK ? audit_append(d, actor, &ev, err) : st;
}

enum tr_status principals_create(struct domain *d, const struct principal *actor, const char *name,
                                 const char *kind, bool platform_admin, struct store_principal *out,
                                 struct tr_error *err)
{
	struct store_principal p = {.platform_admin = platform_admin, .created_at = domain_now()};
	enum tr_status st;

	if (!kind)
		kind = "user";
	if ((st = policy_check_global(actor, ACT_PRINCIPAL_MANAGE, err)) != TR_OK)
		return st;
	if ((st = validate(name, kind, platform_admin, err)) != TR_OK)
		return st;
	snprintf(p.name, sizeof(p.name), "%s", name);
	snprintf(p.kind, sizeof(p.kind), "%s", kind);
	if ((st = domain_begin(d, err)) != TR_OK)
		return st;
	st = domain_finish(d, create_locked(d, actor, &p, err), err);
	if (st == TR_OK)
		*out = p;
	return st;
}

enum tr_status principals_list(struct domain *d, const struct principal *actor, store_principal_cb cb, void *ctx,
                               struct tr_error *err)
{
	enum tr_status st = policy_check_global(actor, ACT_PRINCIPAL_MANAGE, err);

	return st != TR_OK ? st : store_principal_list(d->store, cb, ctx, err);
}

static enum tr_status delete_locked(struct domain *d, const struct principal *actor, const char *name,
                                    struct tr_error *err)
{
	struct audit_event ev = {
		.action = "principal.delete", .target = name, .outcome = AUDIT_SUCCESS, .status = 204,
	};
	enum tr_status st;

	domain_auth_changed(d);
	st = store_principal_delete(d->store, name, err);

	if (st == TR_ENOTFOUND)
		return tr_error_set(err, st, "Principal '%s' not found", name);
	return st == TR_OK ? audit_append(d, actor, &ev, err) : st;
}

enum tr_status principals_delete(struct domain *d, const struct principal *actor, const char *name,
                                 struct tr_error *err)
{
	enum tr_status st = policy_check_global(actor, ACT_PRINCIPAL_MANAGE, err);

	if (st != TR_OK)
		return st;
	if (strcmp(name, actor->name) == 0)
		return tr_error_set(err, TR_ECONFLICT, "a principal cannot delete itself");
	if ((st = domain_begin(d, err)) != TR_OK)
		return st;
	return domain_finish(d, delete_locked(d, actor, name, err), err);
}
