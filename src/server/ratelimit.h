/*
 * ratelimit.h - slowing down token guessing: after RATELIMIT_FAILURES failed
 * authentications from one client address within RATELIMIT_WINDOW seconds,
 * that address is refused (429) until the window is over. Shared by all
 * worker threads.
 */
#ifndef TRESOR_SERVER_RATELIMIT_H
#define TRESOR_SERVER_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_FAILURES 10
#define RATELIMIT_WINDOW 60

/* True when client is blocked now; *retry_after gets the seconds left. */
bool ratelimit_blocked(const char *client, int64_t now, int64_t *retry_after);
/* Counts one failed authentication from client. */
void ratelimit_note_failure(const char *client, int64_t now);

#endif
