/*
 * test-background.c - tests for the thread of long requests
 * (src/server/background.c): jobs run there, one at a time and in order,
 * with a store connection of the thread's own; each comes back to the
 * submitter's loop afterwards; a stop lets the running job end and cancels
 * what is still queued.
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
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "domain-fixture.h"
#include "server/background.h"

static const unsigned char test_key[DOMAIN_FIXTURE_KEY_LEN] = "background-test-key-32-bytes!!!";

/* Holds a job until the test opens it. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t opened_cond;
	bool opened;
};

static void gate_init(struct gate *g)
{
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->opened_cond, NULL);
	g->opened = false;
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->opened = true;
	pthread_cond_signal(&g->opened_cond);
	pthread_mutex_unlock(&g->lock);
}

static void gate_wait(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	while (!g->opened)
		pthread_cond_wait(&g->opened_cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

struct job {
	const char *workspace; /* created by the job, on the thread's connection */
	struct gate *gate;     /* waited for before it ends, or NULL */
	atomic_bool started;
	bool cancelled;
	pthread_t ran_on;
	struct domain *ran_with;
	int ran_as; /* 1 for the first job run in the test, and so on */
	bool done;
	bool ran_before_done; /* the run was over when done was called */
	pthread_t done_on;
};

static int runs;

/* On the background thread. */
static void job_run(struct domain *d, void *arg, bool cancelled)
{
	struct job *job = arg;
	struct store_workspace ws = {.created_at = 1000};

	atomic_store(&job->started, true);
	job->cancelled = cancelled;
	if (cancelled)
		return;
	if (job->gate)
		gate_wait(job->gate);
	snprintf(ws.name, sizeof(ws.name), "%s", job->workspace);
	store_workspace_create(d->store, &ws, NULL); /* checked on the test's thread */
	job->ran_on = pthread_self();
	job->ran_with = d;
	job->ran_as = ++runs;
}

/* Back on the test's loop. */
static void job_done(void *arg)
{
	struct job *job = arg;

	job->ran_before_done = job->ran_as > 0 || job->cancelled;
	job->done_on = pthread_self();
	job->done = true;
}

struct fixture {
	struct domain_fixture df;
	struct event_base *base;
	struct background *bg;
};

static void fixture_open(struct fixture *f)
{
	char dsn[128];
	struct tr_error err = {0};

	memset(f, 0, sizeof(*f));
	runs = 0;
	domain_fixture_open(&f->df, "background", test_key);
	snprintf(dsn, sizeof(dsn), "sqlite:%s/t.db", f->df.dir);
	assert_int_equal(background_start(&f->df.domain, dsn, &f->bg, &err), TR_OK);
	f->base = event_base_new();
	assert_non_null(f->base);
}

static void fixture_close(struct fixture *f)
{
	background_stop(f->bg);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	event_base_free(f->base);
	domain_fixture_close(&f->df);
}

static void submit(struct fixture *f, struct job *job)
{
	struct tr_error err = {0};

	assert_int_equal(background_submit(f->bg, f->base, job_run, job_done, job, &err), TR_OK);
}

/* Runs the loop until the job is back (at most ~5 s). */
static void wait_done(struct fixture *f, struct job *job)
{
	for (int i = 0; i < 5000 && !job->done; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (!job->done)
			usleep(1000);
	}
	assert_true(job->done);
}

static void assert_workspace_exists(struct fixture *f, const char *name)
{
	struct store_workspace ws = {0};

	assert_int_equal(store_workspace_get(f->df.domain.store, name, &ws, NULL), TR_OK);
}

/* A job runs on the thread with the thread's own domain and connection;
 * its done callback runs afterwards, on the thread of the submitter's
 * loop, and its work is in the database by then. */
static void test_a_job_runs_there_and_comes_back_here(void **state)
{
	struct fixture f;
	struct job job = {.workspace = "from-background"};

	(void)state;
	fixture_open(&f);
	submit(&f, &job);
	wait_done(&f, &job);
	assert_false(pthread_equal(job.ran_on, pthread_self()));
	assert_true(pthread_equal(job.done_on, pthread_self()));
	assert_true(job.ran_before_done);
	assert_ptr_not_equal(job.ran_with, &f.df.domain);
	assert_ptr_not_equal(job.ran_with->store, f.df.domain.store);
	assert_ptr_equal(job.ran_with->keyring, f.df.domain.keyring);
	assert_workspace_exists(&f, "from-background");
	fixture_close(&f);
}

/* Jobs run one at a time, in the order they came: a first job that waits
 * holds the ones behind it, and the loop is free meanwhile. */
static void test_jobs_run_in_order_one_at_a_time(void **state)
{
	struct fixture f;
	struct gate gate;
	struct job slow = {.workspace = "slow", .gate = &gate};
	struct job second = {.workspace = "second"};
	struct job third = {.workspace = "third"};

	(void)state;
	gate_init(&gate);
	fixture_open(&f);
	submit(&f, &slow);
	submit(&f, &second);
	submit(&f, &third);
	usleep(50 * 1000);
	event_base_loop(f.base, EVLOOP_NONBLOCK);
	assert_false(slow.done || second.done || third.done); /* the first one waits */
	assert_false(atomic_load(&second.started));
	gate_open(&gate);
	wait_done(&f, &third);
	assert_true(slow.done && second.done);
	assert_int_equal(slow.ran_as, 1);
	assert_int_equal(second.ran_as, 2);
	assert_int_equal(third.ran_as, 3);
	fixture_close(&f);
}

static void *open_later(void *arg)
{
	usleep(500 * 1000); /* background_stop, called meanwhile, marks the stop at once */
	gate_open(arg);
	return NULL;
}

/* A stop lets the running job end and cancels what is queued; the done
 * callbacks then wait on the loop, for one more pass of it. */
static void test_a_stop_cancels_what_is_queued(void **state)
{
	struct fixture f;
	struct gate gate;
	struct job running = {.workspace = "running", .gate = &gate};
	struct job queued = {.workspace = "queued"};
	struct store_workspace ws = {0};
	pthread_t opener;

	(void)state;
	gate_init(&gate);
	fixture_open(&f);
	submit(&f, &running);
	submit(&f, &queued);
	while (!atomic_load(&running.started))
		usleep(1000);
	assert_int_equal(pthread_create(&opener, NULL, open_later, &gate), 0);
	background_stop(f.bg);
	f.bg = NULL;
	pthread_join(opener, NULL);
	assert_false(running.cancelled);
	assert_int_equal(running.ran_as, 1);
	assert_true(queued.cancelled);
	assert_int_equal(queued.ran_as, 0);
	assert_false(queued.done);
	event_base_loop(f.base, EVLOOP_NONBLOCK);
	assert_true(running.done && queued.done);
	assert_workspace_exists(&f, "running");
	assert_int_equal(store_workspace_get(f.df.domain.store, "queued", &ws, NULL), TR_ENOTFOUND);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_job_runs_there_and_comes_back_here),
		cmocka_unit_test(test_jobs_run_in_order_one_at_a_time),
		cmocka_unit_test(test_a_stop_cancels_what_is_queued),
	};

	evthread_use_pthreads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
