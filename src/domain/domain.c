/*
 * domain.c - small helpers shared by the domain modules.
 */
#include "domain/domain.h"

#include <time.h>

int64_t domain_now(void)
{
	return (int64_t)time(NULL);
}

enum tr_status domain_begin(struct domain *d, struct tr_error *err)
{
	enum tr_status st = TR_OK;

	if (d->tx_depth == 0) {
		st = store_begin(d->store, err);
		d->tx_failed = false;
	}
	if (st == TR_OK)
		d->tx_depth++;
	return st;
}

enum tr_status domain_finish(struct domain *d, enum tr_status st, struct tr_error *err)
{
	if (--d->tx_depth > 0) {
		if (st != TR_OK)
			d->tx_failed = true;
		return st;
	}
	if (st == TR_OK && d->tx_failed)
		st = tr_error_set(err, TR_ECONFLICT, "not applied: an earlier part of this transaction failed");
	if (st == TR_OK)
		st = store_commit(d->store, err);
	if (st != TR_OK)
		store_rollback(d->store);
	return st;
}
