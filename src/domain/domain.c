/*
 * domain.c - small helpers shared by the domain modules.
 */
#include "domain/domain.h"

#include <stdatomic.h>
#include <time.h>

/* Starts at 1: 0 marks an empty cache slot. */
static atomic_uint_fast64_t auth_generation = 1;

int64_t domain_now(void)
{
	return (int64_t)time(NULL);
}

void domain_auth_changed(struct domain *d)
{
	d->auth_changed = true;
}

uint64_t domain_auth_generation(void)
{
	return atomic_load(&auth_generation);
}

uint64_t domain_read_generation(const struct domain *d)
{
	return d->reading ? d->read_generation : domain_auth_generation();
}

/*
 * Counts read before BEGIN as begun == ended == c, then begun == c again
 * once the snapshot is taken: no change of the data was under way before
 * the snapshot or began until it was taken, so it shows the state c
 * (store_changes_begun). Otherwise the transaction uses no cache.
 */
uint64_t domain_cache_generation(struct domain *d)
{
	if (!d->reading || d->tx_depth != 0 || !store_in_transaction(d->store))
		return 0;
	if (!d->cache_tag_known) {
		d->cache_tag_known = true;
		d->cache_tag = 0;
		if (d->read_changes_begun == d->read_changes_ended && store_take_snapshot(d->store, NULL) == TR_OK &&
		    store_changes_begun() == d->read_changes_begun)
			d->cache_tag = d->read_changes_begun;
	}
	return d->cache_tag;
}

bool domain_auth_unchanged_since(const struct domain *d, uint64_t since)
{
	return !d->auth_changed && since == domain_auth_generation();
}

/* After the outermost unit ends: a committed change of what tokens stand
 * for makes every cached verification stale. (A rolled-back one changed
 * nothing.) */
static void settle_auth_change(struct domain *d, enum tr_status st)
{
	if (d->auth_changed && st == TR_OK)
		atomic_fetch_add(&auth_generation, 1);
	d->auth_changed = false;
}

void domain_read_begin(struct domain *d)
{
	if (d->tx_depth == 0 && !d->reading) {
		/* Read before the transaction's snapshot is taken (at its first
		 * read): the snapshot is at least as new as this generation. */
		d->read_generation = domain_auth_generation();
		d->read_changes_begun = store_changes_begun(); /* begun first */
		d->read_changes_ended = store_changes_ended();
		d->cache_tag_known = false;
		d->reading = store_begin_read(d->store, NULL) == TR_OK;
	}
}

void domain_read_end(struct domain *d)
{
	if (!d->reading)
		return;
	d->reading = false;
	if (store_commit(d->store, NULL) != TR_OK)
		store_rollback(d->store);
}

enum tr_status domain_begin(struct domain *d, struct tr_error *err)
{
	enum tr_status st;

	domain_read_end(d);
	/* Inside a transaction the store has rolled back by itself (a full
	 * disk, an I/O error), a savepoint would open and then commit a new
	 * one: refuse instead, so that nothing of the unit is kept. */
	if (d->tx_depth > 0 && !store_in_transaction(d->store))
		return tr_error_set(err, TR_EUNAVAIL, "storage unavailable; nothing was changed");
	if (d->tx_depth == 0) {
		st = store_begin(d->store, err);
		d->tx_failed = false;
	} else {
		st = store_savepoint(d->store, err);
	}
	if (st == TR_OK)
		d->tx_depth++;
	return st;
}

/* Ends an inner unit: its work stays in the transaction or is undone. */
static enum tr_status finish_inner(struct domain *d, enum tr_status st, struct tr_error *err)
{
	if (st == TR_OK)
		st = store_release(d->store, err);
	if (st != TR_OK) {
		store_rollback_to(d->store);
		d->tx_failed = true;
	}
	return st;
}

enum tr_status domain_finish(struct domain *d, enum tr_status st, struct tr_error *err)
{
	if (--d->tx_depth > 0)
		return finish_inner(d, st, err);
	if (st == TR_OK && d->tx_failed)
		st = tr_error_set(err, TR_ECONFLICT, "not applied: an earlier part of this transaction failed");
	if (st == TR_OK)
		st = store_commit(d->store, err);
	if (st != TR_OK)
		store_rollback(d->store);
	settle_auth_change(d, st);
	return st;
}

/* --- group commit ---------------------------------------------------------- */

enum tr_status domain_group_begin(struct domain *d, struct tr_error *err)
{
	return domain_begin(d, err);
}

enum tr_status domain_group_enter(struct domain *d, struct tr_error *err)
{
	return domain_begin(d, err);
}

bool domain_group_leave(struct domain *d, bool keep)
{
	enum tr_status st = finish_inner(d, keep ? TR_OK : TR_EINTERNAL, NULL);

	d->tx_depth--;
	/* One request's failure is its own: the group goes on. */
	d->tx_failed = false;
	return st == TR_OK;
}

bool domain_group_intact(struct domain *d)
{
	return store_in_transaction(d->store);
}

enum tr_status domain_group_commit(struct domain *d, struct tr_error *err)
{
	/* Units in a group fail alone (a failed failure record included). */
	d->tx_failed = false;
	return domain_finish(d, TR_OK, err);
}

void domain_group_abort(struct domain *d)
{
	d->tx_depth = 0;
	store_rollback(d->store);
	settle_auth_change(d, TR_EUNAVAIL);
}
