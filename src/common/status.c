/*
 * status.c - messages, JSON codes and HTTP statuses for enum tr_status.
 */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *code;
	int http;
} status_table[TR_STATUS_MAX_] = {
	[TR_OK] = {"ok", 200},
	[TR_EINVAL] = {"invalid_request", 400},
	[TR_EUNAUTH] = {"unauthorized", 401},
	[TR_EDENIED] = {"forbidden", 403},
	[TR_ENOTFOUND] = {"not_found", 404},
	[TR_EMETHOD] = {"method_not_allowed", 405},
	[TR_ECONFLICT] = {"conflict", 409},
	[TR_ETOOLARGE] = {"payload_too_large", 413},
	[TR_EMEDIA] = {"unsupported_media_type", 415},
	[TR_EVALIDATION] = {"validation_failed", 422},
	[TR_ETOOMANY] = {"too_many_requests", 429},
	[TR_EINTERNAL] = {"internal_error", 500},
	[TR_EUNAVAIL] = {"unavailable", 503},
	[TR_ECRYPTO] = {"decryption_failed", 500},
};

enum tr_status tr_error_set(struct tr_error *err, enum tr_status status, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return status;
	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return status;
}

void tr_error_clear(struct tr_error *err)
{
	if (!err)
		return;
	err->status = TR_OK;
	err->message[0] = '\0';
}

const char *tr_status_code(enum tr_status status)
{
	if ((unsigned)status >= TR_STATUS_MAX_)
		return "internal_error";
	return status_table[status].code;
}

int tr_status_http(enum tr_status status)
{
	if ((unsigned)status >= TR_STATUS_MAX_)
		return 500;
	return status_table[status].http;
}
