/*
 * api-keys.c - /v2/secrets/rotate-encryption-keys: key rotation (SPEC §7).
 * (Placeholder until the rotation lands: answers 503.)
 */
#include "server/api.h"

void api_keys_rotate(struct api_request *r)
{
	http_reply_status(r, TR_EUNAVAIL, "key rotation is not available yet");
}

void api_keys_status(struct api_request *r)
{
	http_reply_status(r, TR_EUNAVAIL, "key rotation is not available yet");
}
