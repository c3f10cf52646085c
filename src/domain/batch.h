/*
 * batch.h - the AI Blueprints batch operation (SPEC §5.1): many creates,
 * updates and deletes in one request, each reporting its own outcome, or
 * all-or-nothing when atomic.
 */
#ifndef TRESOR_DOMAIN_BATCH_H
#define TRESOR_DOMAIN_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"
#include "domain/secrets.h"

#define BATCH_MAX_ITEMS 1000

enum batch_action { BATCH_CREATE, BATCH_UPDATE, BATCH_DELETE };

struct batch_item {
	enum batch_action action;
	struct secret_input *in; /* name, scope and (create/update) the rest; owned by the caller */
	/* Filled by secrets_batch: */
	enum tr_status status;
	char message[TR_ERROR_MESSAGE_MAX];
};

/*
 * Runs the items in order. Each one succeeds or fails on its own (and is
 * audited like the single operation); with atomic, the first failure stops
 * the batch and nothing is written: that item keeps its error and every
 * other item reports TR_ECONFLICT "not applied". Returns TR_OK when every
 * item succeeded, TR_EINVAL when some failed (see each item), or another
 * error when the batch could not run at all (TR_ENOTFOUND for a workspace
 * the caller cannot see, TR_EDENIED for a role that may not write).
 */
enum tr_status secrets_batch(struct domain *d, const struct principal *actor, const char *workspace,
                             struct batch_item *items, size_t count, bool atomic, struct tr_error *err);

const char *batch_action_name(enum batch_action a);

#endif
