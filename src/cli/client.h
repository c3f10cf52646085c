/*
 * client.h - the command line's one HTTP client (libevent's evhttp) for
 * the API in docs/api.md.
 *
 * It owns the server address and the bearer token: the token is read here
 * (--token-file, TRESOR_TOKEN, the data directory's admin.token), sent only
 * in the Authorization header, never printed and never put in a URL, and
 * wiped when the client closes. Response bodies are capped and wiped after
 * parsing. Nothing else in the cli talks HTTP.
 */
#ifndef TRESOR_CLI_CLIENT_H
#define TRESOR_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/status.h"

#define CLIENT_DEFAULT_ADDR "http://127.0.0.1:8200"
#define CLIENT_MAX_RESPONSE (16 * 1024 * 1024) /* bytes of one response body */
#define CLIENT_PATH_MAX     8192               /* bytes of an escaped path and query */

struct client;

/*
 * A request path under construction, e.g. /v2/workspaces/default/secrets?page=2.
 * Segments and query values are percent-encoded as they are added. When
 * something does not fit, `failed` is set and client_request refuses it.
 */
struct client_path {
	char text[CLIENT_PATH_MAX]; /* NUL-terminated */
	size_t len;                 /* bytes in text */
	int nquery;                 /* query parameters added so far */
	bool failed;                /* too long, or out of memory */
};

/* Starts a path with a literal (already safe) prefix such as "/v2/tokens". */
void client_path_init(struct client_path *p, const char *literal);
/* Appends a literal (already safe) piece such as "/access". */
void client_path_literal(struct client_path *p, const char *literal);
/* Appends "/" and the first len bytes of segment, percent-encoded. */
void client_path_segment(struct client_path *p, const char *segment, size_t len);
/* Appends "?key=value" or "&key=value", value percent-encoded; nothing when
 * value is NULL. key must be safe as it is. */
void client_path_query(struct client_path *p, const char *key, const char *value);

/*
 * Opens a client. addr is --addr or NULL (then TRESOR_ADDR, then
 * CLIENT_DEFAULT_ADDR); token_file is --token-file or NULL (then
 * TRESOR_TOKEN, then $TRESOR_DATA_DIR/admin.token, then
 * ./tresor-data/admin.token); cacert is --cacert or NULL (then
 * TRESOR_CACERT, then the system's CA certificates), the CA bundle that an
 * https:// server's certificate must chain to. The server is always
 * verified (its certificate and its name); there is no way to turn that
 * off. TR_EINVAL for a bad address or an unreadable CA bundle, TR_EUNAUTH
 * when no usable token is found. *out is set only on success.
 */
enum tr_status client_open(struct client **out, const char *addr, const char *token_file, const char *cacert,
			   struct tr_error *err);
/* Wipes the token and frees everything; NULL is fine. */
void client_close(struct client *cl);

/*
 * Sends method path with body (NULL for none) as JSON. TR_OK whenever the
 * server answered, whatever the status: *status is the HTTP status and
 * *response the parsed body (NULL when the body is empty, or when an error
 * answer is not JSON). TR_EUNAVAIL when the server cannot be reached,
 * TR_EINTERNAL when a 2xx answer is not JSON or is too large, TR_EINVAL for
 * a path that did not fit. Outputs are written only on TR_OK.
 */
enum tr_status client_request(struct client *cl, const char *method, const struct client_path *path, json_t *body,
			      long *status, json_t **response, struct tr_error *err);

#endif
