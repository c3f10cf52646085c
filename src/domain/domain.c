/*
 * domain.c - small helpers shared by the domain modules.
 */
#include "domain/domain.h"

#include <time.h>

int64_t domain_now(void)
{
	return (int64_t)time(NULL);
}

enum tr_status domain_finish(struct domain *d, enum tr_status st, struct tr_error *err)
{
	if (st == TR_OK)
		st = store_commit(d->store, err);
	if (st != TR_OK)
		store_rollback(d->store);
	return st;
}
