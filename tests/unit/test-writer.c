/*
 * test-writer.c - tests for the group-commit writer (src/server/writer.c):
 * when a job's commit is on disk, counted by the syncs of the process.
 *
 * A job that changes state is answered only after its commit was synced;
 * one that may be flushed later is followed by a sync of its own; a writer
 * started with least_durable STORE_DURABLE syncs before answering either.
 * Detached jobs are finished on the writer, and their gate decides.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "domain-fixture.h"
#include "server/writer.h"
#include "sync-count.h"

static const unsigned char test_key[DOMAIN_FIXTURE_KEY_LEN] = "writer-test-key-32-bytes-long!!";

struct job {
	const char *workspace; /* created by the job */
	bool fails;            /* after creating it */
	unsigned sleep_ms;     /* before answering: the writer takes no group meanwhile */
	int runs;              /* on the writer */
	bool done;
	bool committed;
	int syncs_at_done; /* syncs counted when the answer came back */
	int answered_as;   /* 1 for the first answer of the test, and so on */
};

static int answers;

/* On the writer: one unit that creates a workspace. */
static void job_run(struct domain *d, void *arg)
{
	struct job *job = arg;
	struct store_workspace ws = {.created_at = 1000};
	struct tr_error err = {0};
	bool ok;

	job->runs++;
	snprintf(ws.name, sizeof(ws.name), "%s", job->workspace);
	assert_int_equal(domain_group_enter(d, &err), TR_OK);
	ok = store_workspace_create(d->store, &ws, &err) == TR_OK;
	domain_group_leave(d, ok && !job->fails);
	if (job->sleep_ms)
		usleep(job->sleep_ms * 1000);
}

/* Back on the test's loop. */
static void job_done(void *arg, bool committed)
{
	struct job *job = arg;

	job->syncs_at_done = syncs_counted();
	job->answered_as = ++answers;
	job->committed = committed;
	job->done = true;
}

struct fixture {
	struct domain_fixture df;
	struct event_base *base;
	struct writer *writer;
};

static void fixture_open(struct fixture *f, enum store_durability least_durable)
{
	char dsn[128];
	struct tr_error err = {0};

	memset(f, 0, sizeof(*f));
	domain_fixture_open(&f->df, "writer", test_key);
	snprintf(dsn, sizeof(dsn), "sqlite:%s/t.db", f->df.dir);
	assert_int_equal(writer_start(&f->df.domain, dsn, least_durable, &f->writer, &err), TR_OK);
	f->base = event_base_new();
	assert_non_null(f->base);
}

static void fixture_close(struct fixture *f)
{
	writer_stop(f->writer);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	event_base_free(f->base);
	domain_fixture_close(&f->df);
}

static void submit(struct fixture *f, struct job *job, enum store_durability durability)
{
	struct tr_error err = {0};

	assert_int_equal(writer_submit(f->writer, f->base, job_run, job_done, job, durability, 0, &err), TR_OK);
}

/* Runs the loop until the job is answered (at most ~5 s). */
static void wait_answered(struct fixture *f, struct job *job)
{
	for (int i = 0; i < 5000 && !job->done; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (!job->done)
			usleep(1000);
	}
	assert_true(job->done);
}

static void submit_and_wait(struct fixture *f, struct job *job, enum store_durability durability)
{
	submit(f, job, durability);
	wait_answered(f, job);
	assert_true(job->committed);
}

/* Waits (at most ~5 s) until the count of syncs passes from. */
static bool synced_since(int from)
{
	for (int i = 0; i < 5000; i++) {
		if (syncs_counted() > from)
			return true;
		usleep(1000);
	}
	return false;
}

/* A job asking for `durability` of a writer started with `least` is
 * answered only after a sync. */
static void assert_synced_before_answer(enum store_durability least, enum store_durability durability)
{
	struct fixture f;
	struct job job = {.workspace = "answered"};
	int before;

	fixture_open(&f, least);
	before = syncs_counted();
	submit_and_wait(&f, &job, durability);
	assert_true(job.syncs_at_done > before);
	fixture_close(&f);
}

static void test_a_change_is_synced_before_its_answer(void **state)
{
	(void)state;
	assert_synced_before_answer(STORE_FLUSH_LATER, STORE_DURABLE);
}

/* The first such job also opens the WAL and syncs its directory: the
 * second one's sync can only be the one the writer makes after its
 * group. */
static void test_a_record_of_a_read_is_synced_after_its_answer(void **state)
{
	struct fixture f;
	struct job first = {.workspace = "first"};
	struct job job = {.workspace = "later"};
	int before;

	(void)state;
	fixture_open(&f, STORE_FLUSH_LATER);
	before = syncs_counted();
	submit_and_wait(&f, &first, STORE_FLUSH_LATER);
	assert_true(synced_since(before));
	usleep(100 * 1000); /* let the writer finish that one's sync */
	before = syncs_counted();
	submit_and_wait(&f, &job, STORE_FLUSH_LATER);
	assert_true(synced_since(before));
	fixture_close(&f);
}

static void test_least_durable_makes_every_answer_wait(void **state)
{
	(void)state;
	assert_synced_before_answer(STORE_DURABLE, STORE_FLUSH_LATER);
}

static bool workspace_exists(struct fixture *f, const char *name)
{
	struct store_workspace ws;

	return store_workspace_get(f->df.domain.store, name, &ws, NULL) == TR_OK;
}

/* A job that fails after a change is undone alone, whether it changes
 * state or only records a read: its group runs again with savepoints. */
static void test_a_failed_job_leaves_nothing(void **state)
{
	struct fixture f;
	struct job change = {.workspace = "change", .fails = true};
	struct job record = {.workspace = "record", .fails = true};
	struct job next = {.workspace = "next"};

	(void)state;
	fixture_open(&f, STORE_FLUSH_LATER);
	submit_and_wait(&f, &change, STORE_DURABLE);
	submit_and_wait(&f, &record, STORE_FLUSH_LATER);
	submit_and_wait(&f, &next, STORE_FLUSH_LATER);
	assert_int_equal(change.runs, 2);
	assert_int_equal(record.runs, 2);
	assert_int_equal(next.runs, 1);
	assert_false(workspace_exists(&f, "change"));
	assert_false(workspace_exists(&f, "record"));
	assert_true(workspace_exists(&f, "next"));
	fixture_close(&f);
}

/* Jobs queued while the writer is busy form one group. The light run of
 * the group stops at the job that fails after a change; the group then
 * runs again from its first job, and the jobs after the failed one run
 * once. Every other job keeps its work. */
static void test_a_group_runs_again_from_its_first_job(void **state)
{
	struct fixture f;
	struct job busy = {.workspace = "busy", .sleep_ms = 300};
	struct job before = {.workspace = "before"};
	struct job fails = {.workspace = "fails", .fails = true};
	struct job after = {.workspace = "after"};

	(void)state;
	fixture_open(&f, STORE_FLUSH_LATER);
	submit(&f, &busy, STORE_DURABLE);
	usleep(50 * 1000); /* the writer takes it alone and sleeps */
	submit(&f, &before, STORE_DURABLE);
	submit(&f, &fails, STORE_FLUSH_LATER);
	submit(&f, &after, STORE_DURABLE);
	wait_answered(&f, &before);
	wait_answered(&f, &fails);
	wait_answered(&f, &after);
	assert_int_equal(before.runs, 2);
	assert_int_equal(fails.runs, 2);
	assert_int_equal(after.runs, 1);
	assert_true(before.committed && fails.committed && after.committed);
	assert_true(workspace_exists(&f, "before"));
	assert_false(workspace_exists(&f, "fails"));
	assert_true(workspace_exists(&f, "after"));
	fixture_close(&f);
}

/* Runs base's loop until job is answered (at most ~5 s). */
static void wait_answered_on(struct event_base *base, struct job *job)
{
	for (int i = 0; i < 5000 && !job->done; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (!job->done)
			usleep(1000);
	}
	assert_true(job->done);
}

/* One group of jobs from two workers' loops: each job comes back on the
 * loop that submitted it, in the order the jobs were submitted. */
static void test_a_group_comes_back_to_each_loop_in_order(void **state)
{
	struct fixture f;
	struct event_base *other = event_base_new();
	struct job busy = {.workspace = "busy", .sleep_ms = 300};
	struct job a1 = {.workspace = "a1"}, a2 = {.workspace = "a2"}, a3 = {.workspace = "a3"};
	struct job b1 = {.workspace = "b1"}, b2 = {.workspace = "b2"};
	struct tr_error err = {0};

	(void)state;
	assert_non_null(other);
	fixture_open(&f, STORE_FLUSH_LATER);
	submit(&f, &busy, STORE_DURABLE);
	usleep(50 * 1000); /* the writer takes it alone and sleeps */
	submit(&f, &a1, STORE_DURABLE);
	assert_int_equal(writer_submit(f.writer, other, job_run, job_done, &b1, STORE_DURABLE, 0, &err), TR_OK);
	submit(&f, &a2, STORE_DURABLE);
	assert_int_equal(writer_submit(f.writer, other, job_run, job_done, &b2, STORE_DURABLE, 0, &err), TR_OK);
	submit(&f, &a3, STORE_DURABLE);
	answers = 0;
	wait_answered_on(other, &b2); /* f.base's loop does not run meanwhile */
	assert_int_equal(b1.answered_as, 1);
	assert_int_equal(b2.answered_as, 2);
	assert_false(busy.done || a1.done || a2.done || a3.done);
	wait_answered(&f, &a3);
	assert_true(busy.done);
	assert_int_equal(a2.answered_as, a1.answered_as + 1);
	assert_int_equal(a3.answered_as, a2.answered_as + 1);
	assert_true(a1.committed && a2.committed && a3.committed && b1.committed && b2.committed);
	fixture_close(&f);
	event_base_free(other);
}

/* --- detached jobs ------------------------------------------------------------ */

struct detached {
	struct job job; /* what it runs */
	atomic_bool finished;
	bool committed;
	pthread_t finished_on;
	bool gate_says;      /* what the gate answers */
	int gate_calls;
	bool gate_told_auth; /* auth_change_pending, last time */
};

static void detached_finish(void *arg, bool committed)
{
	struct detached *dj = arg;

	dj->committed = committed;
	dj->finished_on = pthread_self();
	atomic_store(&dj->finished, true);
}

static void detached_run(struct domain *d, void *arg)
{
	job_run(d, &((struct detached *)arg)->job);
}

static bool detached_gate(void *arg, bool auth_change_pending)
{
	struct detached *dj = arg;

	dj->gate_calls++;
	dj->gate_told_auth = auth_change_pending;
	return dj->gate_says;
}

static enum tr_status submit_detached(struct fixture *f, struct detached *dj)
{
	struct tr_error err = {0};

	return writer_submit_detached(f->writer, detached_run, detached_finish, detached_gate, dj, STORE_FLUSH_LATER,
	                              &err);
}

static void wait_finished(struct detached *dj)
{
	for (int i = 0; i < 5000 && !atomic_load(&dj->finished); i++)
		usleep(1000);
	assert_true(atomic_load(&dj->finished));
}

/* Nobody waits for a detached job: it runs in a group and is finished on
 * the writer thread, its work committed; no loop has to run. */
static void test_a_detached_job_is_finished_on_the_writer(void **state)
{
	struct fixture f;
	struct detached dj = {.job = {.workspace = "detached"}, .gate_says = true};

	(void)state;
	fixture_open(&f, STORE_FLUSH_LATER);
	assert_int_equal(submit_detached(&f, &dj), TR_OK);
	wait_finished(&dj);
	assert_true(dj.committed);
	assert_false(pthread_equal(dj.finished_on, pthread_self()));
	assert_int_equal(dj.job.runs, 1);
	assert_true(workspace_exists(&f, "detached"));
	fixture_close(&f);
}

/* A gate that says no: nothing is queued, nothing runs. */
static void test_a_detached_job_refused_by_its_gate_never_runs(void **state)
{
	struct fixture f;
	struct detached dj = {.job = {.workspace = "refused"}, .gate_says = false};
	struct job next = {.workspace = "next"};

	(void)state;
	fixture_open(&f, STORE_FLUSH_LATER);
	assert_int_equal(submit_detached(&f, &dj), TR_ECONFLICT);
	assert_int_equal(dj.gate_calls, 1);
	submit_and_wait(&f, &next, STORE_FLUSH_LATER); /* behind it, had it been queued */
	assert_int_equal(dj.job.runs, 0);
	assert_false(atomic_load(&dj.finished));
	assert_false(workspace_exists(&f, "refused"));
	fixture_close(&f);
}

/* While a job that may change what tokens may do is queued or running,
 * a gate is told; once it is over, not. */
static void test_a_gate_is_told_of_a_pending_change_of_auth(void **state)
{
	struct fixture f;
	struct job revoke = {.workspace = "revoke", .sleep_ms = 200};
	struct detached during = {.job = {.workspace = "during"}, .gate_says = false};
	struct detached after = {.job = {.workspace = "after"}, .gate_says = false};
	struct tr_error err = {0};

	(void)state;
	fixture_open(&f, STORE_FLUSH_LATER);
	assert_int_equal(writer_submit(f.writer, f.base, job_run, job_done, &revoke, STORE_DURABLE,
	                               WRITER_CHANGES_AUTH, &err),
	                 TR_OK);
	submit_detached(&f, &during);
	assert_true(during.gate_told_auth);
	wait_answered(&f, &revoke);
	submit_detached(&f, &after);
	assert_int_equal(after.gate_calls, 1);
	assert_false(after.gate_told_auth);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_change_is_synced_before_its_answer),
		cmocka_unit_test(test_a_record_of_a_read_is_synced_after_its_answer),
		cmocka_unit_test(test_least_durable_makes_every_answer_wait),
		cmocka_unit_test(test_a_failed_job_leaves_nothing),
		cmocka_unit_test(test_a_group_runs_again_from_its_first_job),
		cmocka_unit_test(test_a_group_comes_back_to_each_loop_in_order),
		cmocka_unit_test(test_a_detached_job_is_finished_on_the_writer),
		cmocka_unit_test(test_a_detached_job_refused_by_its_gate_never_runs),
		cmocka_unit_test(test_a_gate_is_told_of_a_pending_change_of_auth),
	};

	evthread_use_pthreads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
