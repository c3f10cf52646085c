/*
 * batch.c - running a batch of secret operations, one by one or atomically.
 *
 * An item is the single operation (secrets_create, secrets_update,
 * secrets_delete) with its own checks and audit record; atomicity comes
 * from nesting them in one domain transaction (domain_begin), whose
 * rollback also undoes the audit records of items that had succeeded.
 * Failed items are recorded after the batch's transaction is over.
 */
#include "domain/batch.h"

#include <stdio.h>
#include <string.h>

#include "domain/audit.h"
#include "domain/policy.h"

static const char *const action_names[] = {"create", "update", "delete"};
static const char *const action_past[] = {"created", "updated", "deleted"};

const char *batch_action_name(enum batch_action a)
{
	return action_names[a];
}

static enum tr_status run_item(struct domain *d, const struct principal *actor, const char *workspace,
                               struct batch_item *it, struct tr_error *err)
{
	struct secret_ref ref = {workspace, it->in->project, it->in->cluster, it->in->name ? it->in->name : ""};
	struct store_secret m = {0};
	enum tr_status st;

	if (it->action != BATCH_DELETE && (!it->in->type || !*it->in->type))
		return tr_error_set(err, TR_EVALIDATION, "field 'type': required for %s", action_names[it->action]);
	if (it->action == BATCH_UPDATE && !it->in->has_data)
		return tr_error_set(err, TR_EVALIDATION, "field 'data': required for update");
	switch (it->action) {
	case BATCH_CREATE:
		st = secrets_create(d, actor, workspace, it->in, &m, NULL, err);
		break;
	case BATCH_UPDATE:
		st = secrets_update(d, actor, &ref, it->in, &m, NULL, err);
		break;
	default:
		st = secrets_delete(d, actor, &ref, err);
		break;
	}
	store_secret_clear(&m);
	return st;
}

static void set_result(struct batch_item *it, enum tr_status st, const struct tr_error *err)
{
	it->status = st;
	if (st == TR_OK)
		snprintf(it->message, sizeof(it->message), "Secret '%s' %s successfully", it->in->name,
		         action_past[it->action]);
	else
		snprintf(it->message, sizeof(it->message), "%s", err->message);
}

static void audit_failures(struct domain *d, const struct principal *actor, const char *workspace,
                           const struct batch_item *items, size_t count)
{
	static const char *const actions[] = {"secret.create", "secret.update", "secret.delete"};

	for (size_t i = 0; i < count; i++) {
		const struct batch_item *it = &items[i];
		struct audit_event ev = {
			.action = actions[it->action], .workspace = workspace, .secret = it->in->name,
			.project = it->in->project, .cluster = it->in->cluster,
			.outcome = audit_outcome_of(it->status), .status = tr_status_http(it->status),
		};

		if (it->status != TR_OK && strncmp(it->message, "not applied", 11) != 0)
			audit_record(d, actor, &ev, NULL);
	}
}

static void mark_not_applied(struct batch_item *items, size_t count, size_t failed)
{
	for (size_t i = 0; i < count; i++) {
		if (i == failed)
			continue;
		items[i].status = TR_ECONFLICT;
		snprintf(items[i].message, sizeof(items[i].message), "not applied: the atomic batch failed");
	}
}

static enum tr_status run_atomic(struct domain *d, const struct principal *actor, const char *workspace,
                                 struct batch_item *items, size_t count, struct tr_error *err)
{
	struct tr_error item_err = {0};
	enum tr_status st = domain_begin(d, err);
	size_t i;

	if (st != TR_OK)
		return st;
	for (i = 0; i < count && st == TR_OK; i++) {
		tr_error_clear(&item_err);
		st = run_item(d, actor, workspace, &items[i], &item_err);
		set_result(&items[i], st, &item_err);
	}
	if (st != TR_OK) {
		domain_finish(d, st, NULL);
		mark_not_applied(items, count, i - 1);
		return TR_EINVAL;
	}
	if ((st = domain_finish(d, TR_OK, err)) != TR_OK) {
		mark_not_applied(items, count, count);
		return st;
	}
	return TR_OK;
}

static enum tr_status run_each(struct domain *d, const struct principal *actor, const char *workspace,
                               struct batch_item *items, size_t count)
{
	bool all_ok = true;

	for (size_t i = 0; i < count; i++) {
		struct tr_error item_err = {0};
		enum tr_status st = run_item(d, actor, workspace, &items[i], &item_err);

		set_result(&items[i], st, &item_err);
		all_ok = all_ok && st == TR_OK;
	}
	return all_ok ? TR_OK : TR_EINVAL;
}

enum tr_status secrets_batch(struct domain *d, const struct principal *actor, const char *workspace,
                             struct batch_item *items, size_t count, bool atomic, struct tr_error *err)
{
	enum tr_status st;

	/* Who may not write here, or where the workspace does not exist, gets
	 * one answer for the whole request, not one per item. */
	if ((st = policy_check_workspace(d, actor, ACT_SECRET_UPDATE, workspace, err)) != TR_OK)
		return st;
	if (count > BATCH_MAX_ITEMS)
		return tr_error_set(err, TR_EVALIDATION, "field 'secrets_payload': at most %d items", BATCH_MAX_ITEMS);
	st = atomic ? run_atomic(d, actor, workspace, items, count, err) : run_each(d, actor, workspace, items, count);
	audit_failures(d, actor, workspace, items, count);
	return st;
}
