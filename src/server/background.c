/*
 * background.c - the thread for long requests (background.h).
 *
 * Submitted jobs wait in a FIFO under one mutex. The thread takes them one
 * at a time, runs each with its own domain (once stopping, cancelled), and
 * activates the job's event on the submitter's base, where the done
 * callback runs and the job is freed.
 */
#include "server/background.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "storage/store.h"

struct background_job {
	background_run_fn run;
	background_done_fn done;
	void *arg;
	struct event *wake; /* on the submitter's base */
	struct background_job *next;
};

struct background {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t queued;
	struct background_job *head; /* oldest first */
	struct background_job *tail;
	bool stopping;        /* once the queue is empty */
	struct domain domain; /* the thread's own connection */
};

/* On the submitter's loop, once the job has run. */
static void deliver(evutil_socket_t fd, short what, void *arg)
{
	struct background_job *job = arg;

	(void)fd;
	(void)what;
	job->done(job->arg);
	event_free(job->wake);
	free(job);
}

enum tr_status background_submit(struct background *bg, struct event_base *base, background_run_fn run,
				 background_done_fn done, void *arg, struct tr_error *err)
{
	struct background_job *job = calloc(1, sizeof(*job));

	if (!job || !(job->wake = event_new(base, -1, 0, deliver, job))) {
		free(job);
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	job->run = run;
	job->done = done;
	job->arg = arg;
	pthread_mutex_lock(&bg->lock);
	if (bg->stopping) {
		pthread_mutex_unlock(&bg->lock);
		event_free(job->wake);
		free(job);
		return tr_error_set(err, TR_EUNAVAIL, "the server is stopping");
	}
	if (bg->tail)
		bg->tail->next = job;
	else
		bg->head = job;
	bg->tail = job;
	pthread_cond_signal(&bg->queued);
	pthread_mutex_unlock(&bg->lock);
	return TR_OK;
}

/* Waits for a job and takes it off the queue, *stopping set when it is to
 * be cancelled; NULL once stopping and nothing is left. */
static struct background_job *take_job(struct background *bg, bool *stopping)
{
	struct background_job *job;

	pthread_mutex_lock(&bg->lock);
	while (!bg->head && !bg->stopping)
		pthread_cond_wait(&bg->queued, &bg->lock);
	job = bg->head;
	if (job) {
		bg->head = job->next;
		if (!bg->head)
			bg->tail = NULL;
	}
	*stopping = bg->stopping;
	pthread_mutex_unlock(&bg->lock);
	return job;
}

static void *background_main(void *arg)
{
	struct background *bg = arg;
	struct background_job *job;
	bool stopping;

	while ((job = take_job(bg, &stopping))) {
		job->run(&bg->domain, job->arg, stopping);
		event_active(job->wake, 0, 0); /* the job is the submitter's now */
	}
	return NULL;
}

static void background_free(struct background *bg)
{
	pthread_mutex_destroy(&bg->lock);
	pthread_cond_destroy(&bg->queued);
	store_close(bg->domain.store);
	free(bg);
}

enum tr_status background_start(const struct domain *template_domain, const char *dsn, struct background **out,
				struct tr_error *err)
{
	struct background *bg = calloc(1, sizeof(*bg));
	enum tr_status st;

	if (!bg)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	pthread_mutex_init(&bg->lock, NULL);
	pthread_cond_init(&bg->queued, NULL);
	bg->domain = *template_domain;
	bg->domain.tx_depth = 0;
	bg->domain.store = NULL;
	if ((st = store_open(dsn, &bg->domain.store, err)) != TR_OK) {
		background_free(bg);
		return st;
	}
	if (pthread_create(&bg->thread, NULL, background_main, bg) != 0) {
		background_free(bg);
		return tr_error_set(err, TR_EINTERNAL, "cannot start the background thread");
	}
	*out = bg;
	return TR_OK;
}

void background_stop(struct background *bg)
{
	if (!bg)
		return;
	pthread_mutex_lock(&bg->lock);
	bg->stopping = true;
	pthread_cond_signal(&bg->queued);
	pthread_mutex_unlock(&bg->lock);
	pthread_join(bg->thread, NULL);
	background_free(bg);
}
