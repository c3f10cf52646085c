/*
 * api-health.c - GET /healthz: liveness, no token needed.
 */
#include "server/api.h"

void api_health(struct api_request *r)
{
	json_t *body = json_pack("{s:s}", "status", "ok");

	http_reply_json(r, 200, body, false);
	json_decref(body);
}
