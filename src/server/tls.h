/*
 * tls.h - the server side of TLS: one OpenSSL context shared by every
 * worker, and the evhttp hook that wraps each accepted connection in it.
 *
 * The context is built once, before the worker threads start, and is only
 * read afterwards (OpenSSL 3 contexts are safe to share that way). Nothing
 * else in tresor touches OpenSSL.
 */
#ifndef TRESOR_SERVER_TLS_H
#define TRESOR_SERVER_TLS_H

#include "common/status.h"

struct evhttp;
struct tls_server;

/* Builds the context from a PEM certificate chain and its unencrypted PEM
 * private key; client_ca (may be NULL) turns on client certificates, which
 * must then be signed by that CA. Refuses a key that does not match the
 * certificate. Messages name files, never key material. *out is set only
 * on success. */
enum tr_status tls_server_new(const char *cert_file, const char *key_file, const char *client_ca_file,
			      struct tls_server **out, struct tr_error *err);
/* Makes http accept only TLS connections (call before it accepts any). */
void tls_server_attach(struct tls_server *tls, struct evhttp *http);
/* After every evhttp that uses tls is freed. NULL is fine. */
void tls_server_free(struct tls_server *tls);

#endif
