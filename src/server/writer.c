/*
 * writer.c - the group-commit thread (writer.h).
 *
 * Submitted jobs wait in a FIFO under one mutex. The thread takes up to
 * GROUP_MAX of them at a time, runs them in one store transaction and
 * commits once; then it hands the jobs back to the workers that submitted
 * them, one event per worker and group (hand_back), and each worker calls
 * the done callbacks of its jobs. A detached job (writer_submit_detached:
 * nobody waits for it, such as a /resolve's journaled records) is finished
 * on the writer's thread instead, after the hand-back; a group of such jobs
 * only waits up to LINGER_NS for more (linger).
 * Jobs queued while a group commits form the next group, so the more
 * requests arrive at once, the more share one commit.
 *
 * A group is committed durably (the reply waits for the disk) when any
 * of its jobs changes state. A group that only appends the audit records
 * of requests that change nothing (a resolve, a refused token, a denial)
 * is committed to the log without waiting for the disk, and the writer
 * syncs the log right after handing its replies back, before it takes the
 * next group (store.h, STORE_FLUSH_LATER; docs/architecture.md).
 *
 * Requests run first as light units, without savepoint journals; a group
 * where one fails after a change runs again with savepoints (run_group).
 *
 * The writer's connection does not checkpoint (copy the WAL into the
 * database file, with an fsync of its own) inside its commits, as SQLite
 * would by default every 1000 pages: a second thread, the checkpointer,
 * does that on a connection of its own when a commit leaves it due, while
 * the writer goes on.
 */
#include "server/writer.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "storage/store.h"

#define GROUP_MAX 256 /* jobs per transaction: bounds the wait of the first */
/* How long a group of detached jobs only waits for more (linger) */
#define LINGER_NS (1000L * 1000)

struct writer_job {
	writer_run_fn run;
	writer_done_fn done;
	void *arg;
	struct event *wake; /* on the submitter's base; delivers the outcome (NULL: detached) */
	enum store_durability durability;
	bool changes_auth; /* WRITER_CHANGES_AUTH */
	bool committed;
	struct timespec queued_at; /* CLOCK_MONOTONIC */
	struct writer_job *next;
	/* Set by hand_back: the next job of the same base, delivered with this
	 * one; and, on the first job of each base, the tail of that list and
	 * the first job of the next base. */
	struct writer_job *batch;
	struct writer_job *batch_tail;
	struct writer_job *next_base;
};

struct writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t queued;
	struct writer_job *head; /* oldest first */
	struct writer_job *tail;
	bool stopping;              /* the writer: once the queue is empty */
	int auth_jobs;              /* WRITER_CHANGES_AUTH jobs queued or running */
	int queued_jobs;            /* in the queue */
	int waited_jobs;            /* of those, the ones a worker waits for (not detached) */
	bool checkpointer_stopping; /* after the writer */
	struct domain domain;       /* the writer's own connection */
	pthread_t checkpointer;
	pthread_cond_t checkpoint_wanted_cond;
	bool checkpoint_wanted;              /* under lock */
	struct store *checkpoint_store;      /* the checkpointer's connection */
	enum store_durability least_durable; /* under lock */
	bool sync_failed;                    /* under lock: flush_log failed once */
};

/* --- the submitting side ---------------------------------------------------- */

/* On the submitter's loop: hands the outcomes of the job and of those
 * batched with it back, in the order they ran, and frees the jobs. */
static void deliver(evutil_socket_t fd, short what, void *arg)
{
	struct writer_job *job = arg;

	(void)fd;
	(void)what;
	while (job) {
		struct writer_job *next = job->batch;

		job->done(job->arg, job->committed);
		event_free(job->wake);
		free(job);
		job = next;
	}
}

/* Queues job; under the lock. */
static void enqueue(struct writer *w, struct writer_job *job)
{
	bool wakes = !w->head || job->wake || w->queued_jobs + 1 >= GROUP_MAX;

	job->durability = w->least_durable == STORE_DURABLE ? STORE_DURABLE : job->durability;
	clock_gettime(CLOCK_MONOTONIC, &job->queued_at);
	w->queued_jobs++;
	w->waited_jobs += job->wake != NULL;
	if (job->changes_auth)
		w->auth_jobs++;
	if (w->tail)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	/* The writer waits for a first job, or lingers until one a worker waits
	 * for comes or a group is full: other jobs need not wake it. */
	if (wakes)
		pthread_cond_signal(&w->queued);
}

static struct writer_job *new_job(writer_run_fn run, writer_done_fn done, void *arg,
                                  enum store_durability durability)
{
	struct writer_job *job = calloc(1, sizeof(*job));

	if (job) {
		job->run = run;
		job->done = done;
		job->arg = arg;
		job->durability = durability;
	}
	return job;
}

enum tr_status writer_submit(struct writer *w, struct event_base *base, writer_run_fn run, writer_done_fn done,
                             void *arg, enum store_durability durability, unsigned flags, struct tr_error *err)
{
	struct writer_job *job = new_job(run, done, arg, durability);

	if (!job || !(job->wake = event_new(base, -1, 0, deliver, job))) {
		free(job);
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	job->changes_auth = flags & WRITER_CHANGES_AUTH;
	pthread_mutex_lock(&w->lock);
	enqueue(w, job);
	pthread_mutex_unlock(&w->lock);
	return TR_OK;
}

enum tr_status writer_submit_detached(struct writer *w, writer_run_fn run, writer_done_fn finish, writer_gate_fn gate,
                                      void *arg, enum store_durability durability, struct tr_error *err)
{
	struct writer_job *job = new_job(run, finish, arg, durability);
	bool open;

	if (!job)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	pthread_mutex_lock(&w->lock);
	open = gate ? gate(arg, w->auth_jobs > 0) : true;
	if (open)
		enqueue(w, job);
	pthread_mutex_unlock(&w->lock);
	if (open)
		return TR_OK;
	free(job);
	return tr_error_set(err, TR_ECONFLICT, "not queued: its gate said no");
}

/* --- the writer thread -------------------------------------------------------- */

/* Whether a group may wait for more: only detached jobs are queued (nobody
 * waits for them), not yet a full group, and the writer is not stopping.
 * Under the lock. */
static bool may_linger(const struct writer *w)
{
	return w->head && w->waited_jobs == 0 && w->queued_jobs < GROUP_MAX && !w->stopping;
}

/* While may_linger, waits up to LINGER_NS after the first job came: more
 * records share one commit (most of a small group's cost is the commit's,
 * whatever its size). Under the lock. */
static void linger(struct writer *w)
{
	struct timespec until;

	if (!may_linger(w))
		return;
	until = w->head->queued_at;
	until.tv_nsec += LINGER_NS;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (may_linger(w) && pthread_cond_timedwait(&w->queued, &w->lock, &until) == 0)
		;
}

/* The jobs of group leave the queue's counts; under the lock. */
static void count_taken(struct writer *w, const struct writer_job *group)
{
	for (; group; group = group->next) {
		w->queued_jobs--;
		w->waited_jobs -= group->wake != NULL;
	}
}

/* Waits for work; takes up to GROUP_MAX jobs off the queue. NULL once
 * stopping and nothing is left. */
static struct writer_job *take_group(struct writer *w)
{
	struct writer_job *group, *last;
	int n = 1;

	pthread_mutex_lock(&w->lock);
	while (!w->head && !w->stopping)
		pthread_cond_wait(&w->queued, &w->lock);
	linger(w);
	group = w->head;
	if (group) {
		for (last = group; last->next && n < GROUP_MAX; last = last->next)
			n++;
		w->head = last->next;
		if (!w->head)
			w->tail = NULL;
		last->next = NULL;
		count_taken(w, group);
	}
	/* Queued before a sync failed (flush_log). */
	for (last = group; last && w->least_durable == STORE_DURABLE; last = last->next)
		last->durability = STORE_DURABLE;
	pthread_mutex_unlock(&w->lock);
	return group;
}

static void mark_committed(struct writer_job *from, const struct writer_job *end)
{
	for (struct writer_job *job = from; job != end; job = job->next)
		job->committed = true;
}

/* Whether any job of the group has work to run (a job without is only a
 * mark in the queue, writer_submit). */
static bool group_runs_anything(const struct writer_job *group)
{
	for (; group; group = group->next)
		if (group->run)
			return true;
	return false;
}

/* Durable if any job of the group must be. */
static enum store_durability group_durability(const struct writer_job *group)
{
	for (; group; group = group->next)
		if (group->durability == STORE_DURABLE)
			return STORE_DURABLE;
	return STORE_FLUSH_LATER;
}

/* Sets the durability of the group's commit, *durability, to what it is
 * in effect. A group that cannot commit as durably as it must does not
 * run; one that could flush later but cannot commits durably. */
static bool durability_set(struct store *s, enum store_durability *durability)
{
	struct tr_error err = {0};

	if (store_set_durability(s, *durability, &err) == TR_OK)
		return true;
	if (*durability == STORE_DURABLE) {
		log_error("group commit: %s", err.message);
		return false;
	}
	log_warn("group commit: committing durably: %s", err.message);
	*durability = STORE_DURABLE;
	return durability_set(s, durability);
}

/* Begins a transaction for a group's requests, as light units or not. */
static bool group_begin(struct domain *d, bool light)
{
	struct tr_error err = {0};

	if (domain_group_begin(d, &err) != TR_OK) {
		log_error("group commit: cannot begin a transaction: %s", err.message);
		return false;
	}
	if (light)
		store_set_light_units(d->store);
	return true;
}

/*
 * Runs the jobs of a group in one transaction, first as light units
 * (store_set_light_units): no savepoint journal, the most of a small
 * request's storage work. If a request then fails after a change, which a
 * light unit cannot undo, the transaction is lost: its requests run again
 * from the first, each in a real savepoint. If the store loses that one
 * too (it rolls everything back itself on a full disk or an I/O error),
 * the jobs run so far lost their work: they stay uncommitted, and the rest
 * go on in a new transaction. True when it committed without waiting for
 * the disk: the log needs a sync.
 */
static bool run_group(struct writer *w, struct writer_job *group)
{
	struct domain *d = &w->domain;
	struct writer_job *first = group; /* the first job of the open transaction */
	struct writer_job *job = group;
	enum store_durability durability = group_durability(group);
	bool light = true;
	struct tr_error err = {0};

	if (!group_runs_anything(group)) {
		mark_committed(group, NULL); /* what was queued before is committed */
		return false;
	}
	if (!durability_set(d->store, &durability) || !group_begin(d, light))
		return false;
	while (job) {
		if (job->run)
			job->run(d, job->arg);
		if (domain_group_intact(d)) {
			job = job->next;
			continue;
		}
		domain_group_abort(d);
		if (light) {
			light = false;
			job = first;
		} else {
			log_error("group commit: storage lost a transaction; its requests fail");
			light = true;
			first = job = job->next;
		}
		if (job && !group_begin(d, light))
			return false;
	}
	if (!first)
		return false;
	if (domain_group_commit(d, &err) != TR_OK) {
		log_error("group commit: commit failed: %s", err.message);
		return false;
	}
	mark_committed(first, NULL);
	return durability == STORE_FLUSH_LATER;
}

/* Links each job of the group behind the first job of its base; returns
 * those first jobs, chained by next_base. */
static struct writer_job *batch_by_base(struct writer_job *group)
{
	struct writer_job *firsts = NULL, *first;

	for (struct writer_job *job = group; job; job = job->next) {
		struct event_base *base = event_get_base(job->wake);

		job->batch = NULL;
		for (first = firsts; first && event_get_base(first->wake) != base; first = first->next_base)
			;
		if (first) {
			first->batch_tail->batch = job;
			first->batch_tail = job;
		} else {
			job->batch_tail = job;
			job->next_base = firsts;
			firsts = job;
		}
	}
	return firsts;
}

/*
 * Hands the group back with one event per worker: activating an event on
 * another thread's base takes its lock and may write to its wake-up
 * descriptor, and a worker woken once runs all its replies in one pass.
 * A batch is the worker's once activated (it frees the jobs): next_base is
 * read before.
 */
static void hand_back(struct writer_job *group)
{
	struct writer_job *first = batch_by_base(group);

	while (first) {
		struct writer_job *next = first->next_base;

		event_active(first->wake, 0, 0);
		first = next;
	}
}

/* Wakes the checkpointer. */
static void checkpoint_wake(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->checkpoint_wanted = true;
	pthread_cond_signal(&w->checkpoint_wanted_cond);
	pthread_mutex_unlock(&w->lock);
}

/* After a group: wakes the checkpointer if the WAL has grown enough, or
 * restarts the WAL here if it has grown too long (store.h). */
static void checkpoint_if_due(struct writer *w)
{
	struct tr_error err = {0};

	switch (store_checkpoint_due(w->domain.store)) {
	case STORE_CHECKPOINT_NONE:
		return;
	case STORE_CHECKPOINT_RESTART:
		if (store_checkpoint(w->domain.store, STORE_CHECKPOINT_RESTART, &err) != TR_OK)
			log_warn("%s", err.message); /* the next group tries again */
		return;
	case STORE_CHECKPOINT_BACKGROUND:
		break;
	}
	checkpoint_wake(w);
}

/*
 * Syncs the log after a group committed without waiting for the disk. Its
 * replies are on their way already; the jobs queued meanwhile form the
 * next group, so under load one sync serves every record that arrived
 * during it (a separate thread for the sync cost two wake-ups per group,
 * and the writer waited for it anyway). A failed sync is not retried
 * (Linux may have dropped the pages it could not write): the records of
 * reads committed since the last sync may not reach the disk, and from
 * now on every commit waits for the disk, and fails if it cannot.
 */
static void flush_log(struct writer *w)
{
	struct tr_error err = {0};

	if (store_flush(w->domain.store, &err) == TR_OK)
		return;
	log_error("%s; from now on every commit waits for the disk", err.message);
	pthread_mutex_lock(&w->lock);
	w->least_durable = STORE_DURABLE;
	w->sync_failed = true;
	pthread_mutex_unlock(&w->lock);
}

bool writer_sync_failed(struct writer *w)
{
	bool failed;

	pthread_mutex_lock(&w->lock);
	failed = w->sync_failed;
	pthread_mutex_unlock(&w->lock);
	return failed;
}

/* After a group: the jobs that may have changed what tokens may do are
 * over (committed, and the auth generation moved on, or undone). */
static void auth_jobs_over(struct writer *w, const struct writer_job *group)
{
	int n = 0;

	for (; group; group = group->next)
		n += group->changes_auth;
	if (n == 0)
		return;
	pthread_mutex_lock(&w->lock);
	w->auth_jobs -= n;
	pthread_mutex_unlock(&w->lock);
}

/* Takes the group's detached jobs out of it, in order, into *detached;
 * returns what is left to hand back. */
static struct writer_job *split_detached(struct writer_job *group, struct writer_job **detached)
{
	struct writer_job *rest = NULL, **rest_tail = &rest, **detached_tail = detached;

	*detached = NULL;
	while (group) {
		struct writer_job *next = group->next;

		group->next = NULL;
		if (group->wake) {
			*rest_tail = group;
			rest_tail = &group->next;
		} else {
			*detached_tail = group;
			detached_tail = &group->next;
		}
		group = next;
	}
	return rest;
}

/* Finishes detached jobs here, in order (after the hand-back: a finish may
 * sync a directory, which no reply waits for). */
static void finish_detached(struct writer_job *job)
{
	while (job) {
		struct writer_job *next = job->next;

		job->done(job->arg, job->committed);
		free(job);
		job = next;
	}
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct writer_job *group;

	while ((group = take_group(w))) {
		bool flush = run_group(w, group);
		struct writer_job *detached;

		auth_jobs_over(w, group);
		group = split_detached(group, &detached);
		hand_back(group);
		finish_detached(detached);
		if (flush)
			flush_log(w);
		checkpoint_if_due(w);
	}
	return NULL;
}

/* The checkpointer's wait: until a checkpoint is wanted (checkpoint_wake),
 * which it clears; false once it stops with none wanted. */
static bool checkpoint_wait(struct writer *w)
{
	bool wanted;

	pthread_mutex_lock(&w->lock);
	while (!w->checkpoint_wanted && !w->checkpointer_stopping)
		pthread_cond_wait(&w->checkpoint_wanted_cond, &w->lock);
	wanted = w->checkpoint_wanted;
	w->checkpoint_wanted = false;
	pthread_mutex_unlock(&w->lock);
	return wanted;
}

static void *checkpointer_main(void *arg)
{
	struct writer *w = arg;
	struct tr_error err = {0};

	while (checkpoint_wait(w))
		if (store_checkpoint(w->checkpoint_store, STORE_CHECKPOINT_BACKGROUND, &err) != TR_OK)
			log_warn("%s", err.message); /* the next commit asks again */
	return NULL;
}

/* --- life cycle ------------------------------------------------------------------ */

/* Frees what writer_start made; the threads must not be running. */
static void writer_free(struct writer *w)
{
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->queued);
	pthread_cond_destroy(&w->checkpoint_wanted_cond);
	store_close(w->checkpoint_store);
	store_close(w->domain.store);
	free(w);
}

/* The threads writer_start started, in order. */
enum started {
	STARTED_WRITER = 1,
	STARTED_CHECKPOINTER,
};

/* Asks the threads to stop once the queue is empty, and waits for them.
 * The writer goes first: its last group may want a checkpoint. */
static void stop_threads(struct writer *w, enum started started)
{
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->queued);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_lock(&w->lock);
	w->checkpointer_stopping = true;
	pthread_cond_signal(&w->checkpoint_wanted_cond);
	pthread_mutex_unlock(&w->lock);
	if (started >= STARTED_CHECKPOINTER)
		pthread_join(w->checkpointer, NULL);
}

enum tr_status writer_start(const struct domain *template_domain, const char *dsn,
                            enum store_durability least_durable, struct writer **out, struct tr_error *err)
{
	struct writer *w = calloc(1, sizeof(*w));
	pthread_condattr_t monotonic;
	enum tr_status st;

	if (!w)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
	pthread_cond_init(&w->queued, &monotonic);
	pthread_condattr_destroy(&monotonic);
	pthread_cond_init(&w->checkpoint_wanted_cond, NULL);
	w->least_durable = least_durable;
	w->domain = *template_domain;
	w->domain.tx_depth = 0;
	w->domain.store = NULL;
	if ((st = store_open(dsn, &w->domain.store, err)) != TR_OK ||
	    (st = store_open(dsn, &w->checkpoint_store, err)) != TR_OK) {
		writer_free(w);
		return st;
	}
	store_defer_checkpoints(w->domain.store);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		writer_free(w);
		return tr_error_set(err, TR_EINTERNAL, "cannot start the writer thread");
	}
	if (pthread_create(&w->checkpointer, NULL, checkpointer_main, w) != 0) {
		stop_threads(w, STARTED_WRITER);
		writer_free(w);
		return tr_error_set(err, TR_EINTERNAL, "cannot start the checkpoint thread");
	}
	*out = w;
	return TR_OK;
}

void writer_stop(struct writer *w)
{
	if (!w)
		return;
	stop_threads(w, STARTED_CHECKPOINTER);
	writer_free(w);
}
