/*
 * status.h - the one error convention of tresor.
 *
 * Every fallible function returns an enum tr_status (TR_OK is 0) and, when
 * given a struct tr_error, fills it with a message for humans. Messages name
 * things (a secret as 'workspace/name', a field) but never contain a secret
 * value or a token. The mapping to HTTP lives in server/http.c and to exit
 * codes in cli/output.c; nothing else translates statuses.
 */
#ifndef TRESOR_COMMON_STATUS_H
#define TRESOR_COMMON_STATUS_H

#include <stddef.h>

enum tr_status {
	TR_OK = 0,
	TR_EINVAL,      /* 400: malformed input (bad JSON, bad query) */
	TR_EUNAUTH,     /* 401: missing, unknown or expired credentials */
	TR_EDENIED,     /* 403: authenticated but not allowed */
	TR_ENOTFOUND,   /* 404: no such resource or route */
	TR_EMETHOD,     /* 405: route exists, method does not */
	TR_ECONFLICT,   /* 409: already exists, or still in use */
	TR_ETOOLARGE,   /* 413: a size limit was exceeded */
	TR_EMEDIA,      /* 415: body is not application/json */
	TR_EVALIDATION, /* 422: a field breaks a rule */
	TR_ETOOMANY,    /* 429: slow down */
	TR_EINTERNAL,   /* 500: a bug or an unexpected library failure */
	TR_EUNAVAIL,    /* 503: storage or a key provider is unavailable */
	TR_ECRYPTO,     /* 500: a ciphertext or wrapped key failed authentication */
	TR_STATUS_MAX_
};

#define TR_ERROR_MESSAGE_MAX 256

struct tr_error {
	enum tr_status status;
	char message[TR_ERROR_MESSAGE_MAX];
};

/* Sets err (which may be NULL) and returns status, so callers can write
 * `return tr_error_set(err, TR_ENOTFOUND, "Secret '%s/%s' not found", ws, n);` */
enum tr_status tr_error_set(struct tr_error *err, enum tr_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Resets err to TR_OK with an empty message. */
void tr_error_clear(struct tr_error *err);

/* The snake_case code used in JSON error bodies ("not_found", ...). */
const char *tr_status_code(enum tr_status status);

/* The HTTP status for a tr_status. */
int tr_status_http(enum tr_status status);

#endif
