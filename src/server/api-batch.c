/*
 * api-batch.c - POST /v2/workspaces/{ws}/secrets:batch, the AI Blueprints
 * batch (SPEC §5.1): per-item results, 200 only when every item succeeded.
 */
#include "server/api.h"

#include <stdlib.h>
#include <string.h>

#include "domain/batch.h"
#include "server/body.h"
#include "server/secret-input.h"

struct batch_slot {
	struct batch_item item;
	struct parsed_input parsed;
};

static enum tr_status parse_action(const json_t *entry, enum batch_action *out, struct tr_error *err)
{
	static const char *const names[] = {"create", "update", "delete"};
	const char *action = NULL;
	enum tr_status st = body_string(entry, "action", &action, err);

	if (st != TR_OK)
		return st;
	for (int i = 0; action && i < 3; i++)
		if (strcmp(action, names[i]) == 0) {
			*out = (enum batch_action)i;
			return TR_OK;
		}
	return tr_error_set(err, TR_EVALIDATION, "field 'action': must be create, update or delete");
}

/* A delete needs only the name (and scope); anything else it carries is
 * ignored, as AI Blueprints sends "type" with deletes. */
static void strip_for_delete(struct parsed_input *p)
{
	p->in.type = NULL;
	p->in.has_description = p->in.has_visibility = p->in.has_tags = p->in.has_expires_in = false;
	secdata_clear(&p->in.data);
	p->in.has_data = false;
}

static enum tr_status parse_entry(const json_t *entry, struct batch_slot *slot, struct tr_error *err)
{
	enum tr_status st;

	if (!json_is_object(entry))
		return tr_error_set(err, TR_EVALIDATION, "field 'secrets_payload': items must be objects");
	if ((st = parse_action(entry, &slot->item.action, err)) != TR_OK ||
	    (st = secret_input_parse(entry, SECRET_INPUT_BATCH, &slot->parsed, err)) != TR_OK)
		return st;
	if (!slot->parsed.in.name)
		return tr_error_set(err, TR_EVALIDATION, "field 'secrets_payload[].name': required");
	if (slot->item.action == BATCH_DELETE)
		strip_for_delete(&slot->parsed);
	slot->item.in = &slot->parsed.in;
	return TR_OK;
}

static enum tr_status parse_batch(const json_t *body, struct batch_slot **slots, size_t *count, bool *atomic,
                                  struct tr_error *err)
{
	static const char *const fields[] = {"secrets_payload", "atomic", NULL};
	json_t *payload = json_object_get(body, "secrets_payload");
	json_t *atomic_v = json_object_get(body, "atomic");
	enum tr_status st;
	size_t i;
	json_t *entry;

	if ((st = body_only_fields(body, fields, err)) != TR_OK)
		return st;
	if (!json_is_array(payload))
		return tr_error_set(err, TR_EVALIDATION, "field 'secrets_payload': required, an array");
	if (json_array_size(payload) > BATCH_MAX_ITEMS)
		return tr_error_set(err, TR_EVALIDATION, "field 'secrets_payload': at most %d items", BATCH_MAX_ITEMS);
	if (atomic_v && !json_is_boolean(atomic_v))
		return tr_error_set(err, TR_EVALIDATION, "field 'atomic': must be true or false");
	*atomic = json_is_true(atomic_v);
	if (!(*slots = calloc(json_array_size(payload) + 1, sizeof(**slots))))
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	*count = json_array_size(payload);
	json_array_foreach(payload, i, entry)
		if ((st = parse_entry(entry, &(*slots)[i], err)) != TR_OK)
			return st;
	return TR_OK;
}

static json_t *result_json(const struct batch_item *it, const char *workspace)
{
	bool ok = it->status == TR_OK;

	return json_pack("{s:s,s:s,s:s,s:s,s:i,s:s}", "action", batch_action_name(it->action), "name", it->in->name,
	                 "namespace", workspace, "status", ok ? "success" : "error", "code",
	                 ok ? 200 : tr_status_http(it->status), "message", it->message);
}

static void reply_results(struct api_request *r, const struct batch_item *items, size_t count, bool all_ok)
{
	json_t *results = json_array();
	json_t *body;

	for (size_t i = 0; i < count; i++)
		json_array_append_new(results, result_json(&items[i], r->params[0]));
	body = json_pack("{s:I,s:o}", "operations_processed", (json_int_t)count, "results", results);
	http_reply_json(r, all_ok ? 200 : 400, body, false);
	json_decref(body);
}

void api_secrets_batch(struct api_request *r)
{
	struct batch_slot *slots = NULL;
	struct batch_item *items = NULL;
	struct tr_error err = {0};
	size_t count = 0;
	bool atomic = false;
	enum tr_status st = parse_batch(r->body, &slots, &count, &atomic, &err);

	if (st == TR_OK && !(items = calloc(count + 1, sizeof(*items))))
		st = tr_error_set(&err, TR_EINTERNAL, "out of memory");
	for (size_t i = 0; st == TR_OK && i < count; i++)
		items[i] = slots[i].item;
	if (st == TR_OK)
		st = secrets_batch(r->domain, &r->actor, r->params[0], items, count, atomic, &err);
	if (st == TR_OK || st == TR_EINVAL)
		reply_results(r, items, count, st == TR_OK);
	else
		http_reply_error(r, &err);
	for (size_t i = 0; slots && i < count; i++)
		parsed_input_clear(&slots[i].parsed);
	free(items);
	free(slots);
}
