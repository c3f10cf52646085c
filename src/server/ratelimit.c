/*
 * ratelimit.c - a small fixed-size table of recent failures per address.
 *
 * Slots are found by hashing the address (open addressing, a few probes);
 * when every probed slot is busy with a live window, the oldest is reused,
 * so the table never grows and an attacker cycling addresses can only evict
 * entries, not exhaust memory.
 */
#include "server/ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define SLOTS 4096
#define PROBES 8

struct slot {
	char client[64];
	int64_t window_start;
	int failures;
};

static struct slot slots[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t hash_address(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* The slot of client, or NULL; with create, a fresh or the stalest slot. */
static struct slot *find_slot(const char *client, int64_t now, bool create)
{
	uint32_t h = hash_address(client);
	struct slot *victim = NULL;

	for (int i = 0; i < PROBES; i++) {
		struct slot *s = &slots[(h + (uint32_t)i) % SLOTS];

		if (strcmp(s->client, client) == 0)
			return s;
		if (!victim || s->window_start < victim->window_start)
			victim = s;
	}
	if (!create)
		return NULL;
	snprintf(victim->client, sizeof(victim->client), "%s", client);
	victim->window_start = now;
	victim->failures = 0;
	return victim;
}

bool ratelimit_blocked(const char *client, int64_t now, int64_t *retry_after)
{
	bool blocked = false;
	struct slot *s;

	pthread_mutex_lock(&lock);
	s = find_slot(client, now, false);
	if (s && now - s->window_start < RATELIMIT_WINDOW && s->failures >= RATELIMIT_FAILURES) {
		blocked = true;
		*retry_after = RATELIMIT_WINDOW - (now - s->window_start);
	}
	pthread_mutex_unlock(&lock);
	return blocked;
}

void ratelimit_note_failure(const char *client, int64_t now)
{
	struct slot *s;

	pthread_mutex_lock(&lock);
	s = find_slot(client, now, true);
	if (now - s->window_start >= RATELIMIT_WINDOW) {
		s->window_start = now;
		s->failures = 0;
	}
	s->failures++;
	pthread_mutex_unlock(&lock);
}
