/*
 * tls.c - TLS for `tresor server`: the one SSL_CTX and the evhttp hook.
 *
 * Policy, in one place: TLS 1.2 or newer; OpenSSL's TLS 1.3 suites; for
 * TLS 1.2 only ECDHE key exchange with AEAD ciphers (forward secrecy, no
 * CBC); no compression; no renegotiation. With a client CA, a client must
 * present a certificate signed by it (the bearer token is still checked by
 * routes.c on top).
 *
 * The context is built before the workers start and only read afterwards.
 * Each accepted connection gets its own SSL object inside a libevent
 * OpenSSL bufferevent, so evhttp reads and writes plaintext while the
 * socket carries TLS. Error messages name files and OpenSSL's reason;
 * never key material.
 */
#include "server/tls.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/log.h"

/* TLS 1.2 only (1.3 suites are OpenSSL's defaults): ECDHE + AEAD. */
#define TLS12_CIPHERS                                                                                                  \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                     \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* Sessions resumed with a client certificate must belong to this server. */
#define TLS_SESSION_ID_CONTEXT "tresor"

struct tls_server {
	SSL_CTX *ctx; /* shared by all workers, read-only once built */
};

/* Sets err to "<what> (OpenSSL: <reason>)" and empties this thread's
 * OpenSSL error queue. */
static enum tr_status tls_fail(struct tr_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static enum tr_status tls_fail(struct tr_error *err, const char *fmt, ...)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;
	char what[TR_ERROR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	tr_error_set(err, TR_EINVAL, "%s (OpenSSL: %s)", what, reason ? reason : "no reason given");
	ERR_clear_error();
	return TR_EINVAL;
}

/* A plain open(2) first, so a missing or unreadable file gets errno's
 * words rather than OpenSSL's. */
static enum tr_status check_readable(const char *path, const char *what, struct tr_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return tr_error_set(err, TR_EINVAL, "cannot read %s '%s': %s", what, path, strerror(errno));
	close(fd);
	return TR_OK;
}

/* Never ask for a passphrase on the terminal: encrypted keys just fail. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return 0;
}

static void warn_if_exposed(const char *key_file)
{
	struct stat sb;

	if (stat(key_file, &sb) == 0 && (sb.st_mode & 077))
		log_warn("TLS key %s is accessible by group or others; chmod 600 it", key_file);
}

static void warn_if_expired(const X509 *cert, const char *cert_file)
{
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
		log_warn("TLS certificate %s has expired; clients will refuse it", cert_file);
	else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
		log_warn("TLS certificate %s is not valid yet; clients will refuse it", cert_file);
}

static enum tr_status load_key(const char *key_file, EVP_PKEY **out, struct tr_error *err)
{
	BIO *bio = BIO_new_file(key_file, "r");
	EVP_PKEY *key;

	if (!bio)
		return tls_fail(err, "cannot read TLS key '%s'", key_file);
	key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!key)
		return tls_fail(err, "TLS key '%s' is not an unencrypted PEM private key", key_file);
	*out = key;
	return TR_OK;
}

/* Certificate chain, then the key, which must be the certificate's. */
static enum tr_status load_identity(SSL_CTX *ctx, const char *cert_file, const char *key_file, struct tr_error *err)
{
	EVP_PKEY *key = NULL;
	X509 *cert;
	enum tr_status st;

	if ((st = check_readable(cert_file, "TLS certificate", err)) != TR_OK ||
	    (st = check_readable(key_file, "TLS key", err)) != TR_OK)
		return st;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
		return tls_fail(err, "TLS certificate '%s' is not a PEM certificate chain", cert_file);
	cert = SSL_CTX_get0_certificate(ctx);
	if ((st = load_key(key_file, &key, err)) != TR_OK)
		return st;
	if (X509_check_private_key(cert, key) != 1) {
		EVP_PKEY_free(key);
		ERR_clear_error();
		return tr_error_set(err, TR_EINVAL, "TLS key '%s' does not match certificate '%s'", key_file,
				    cert_file);
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		EVP_PKEY_free(key);
		return tls_fail(err, "cannot use TLS key '%s'", key_file);
	}
	EVP_PKEY_free(key); /* the context holds its own reference */
	warn_if_exposed(key_file);
	warn_if_expired(cert, cert_file);
	return TR_OK;
}

static enum tr_status require_client_certs(SSL_CTX *ctx, const char *ca_file, struct tr_error *err)
{
	STACK_OF(X509_NAME) *names;
	enum tr_status st;

	if ((st = check_readable(ca_file, "TLS client CA", err)) != TR_OK)
		return st;
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
		return tls_fail(err, "TLS client CA '%s' is not a PEM certificate", ca_file);
	/* The names the server sends so clients can pick a certificate. */
	if (!(names = SSL_load_client_CA_file(ca_file)))
		return tls_fail(err, "no CA certificate in '%s'", ca_file);
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return TR_OK;
}

static enum tr_status set_policy(SSL_CTX *ctx, struct tr_error *err)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		return tls_fail(err, "cannot require TLS 1.2");
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1)
		return tls_fail(err, "cannot set the TLS 1.2 ciphers");
	/* CLEANSE_PLAINTEXT: OpenSSL wipes its plaintext buffers, which hold
	 * the values /resolve and /access send. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CLEANSE_PLAINTEXT);
	if (SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLS_SESSION_ID_CONTEXT,
					   sizeof(TLS_SESSION_ID_CONTEXT) - 1) != 1)
		return tls_fail(err, "cannot set the TLS session context");
	return TR_OK;
}

enum tr_status tls_server_new(const char *cert_file, const char *key_file, const char *client_ca_file,
			      struct tls_server **out, struct tr_error *err)
{
	struct tls_server *tls = calloc(1, sizeof(*tls));
	enum tr_status st;

	if (!tls)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	if (!(tls->ctx = SSL_CTX_new(TLS_server_method()))) {
		free(tls);
		return tls_fail(err, "cannot create the TLS context");
	}
	if ((st = set_policy(tls->ctx, err)) != TR_OK ||
	    (st = load_identity(tls->ctx, cert_file, key_file, err)) != TR_OK ||
	    (client_ca_file && (st = require_client_certs(tls->ctx, client_ca_file, err)) != TR_OK)) {
		tls_server_free(tls);
		return st;
	}
	*out = tls;
	return TR_OK;
}

/*
 * evhttp calls this for each accepted connection and then gives the
 * bufferevent the socket. On NULL evhttp falls back to a plain bufferevent;
 * that fails closed anyway: the client's TLS hello is not an HTTP request,
 * so evhttp answers 400 and closes without reading anything in clear.
 */
static struct bufferevent *tls_new_connection(struct event_base *base, void *arg)
{
	struct tls_server *tls = arg;
	struct bufferevent *bev;
	SSL *ssl = SSL_new(tls->ctx);

	if (!ssl) {
		ERR_clear_error();
		log_error("cannot create a TLS session: out of memory");
		return NULL;
	}
	/* On failure this frees ssl too (BEV_OPT_CLOSE_ON_FREE). */
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		log_error("cannot create a TLS connection: out of memory");
		return NULL;
	}
	/* A client that drops the TCP connection without close_notify is just
	 * gone: HTTP framing (Content-Length) already detects truncation. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

void tls_server_attach(struct tls_server *tls, struct evhttp *http)
{
	evhttp_set_bevcb(http, tls_new_connection, tls);
}

void tls_server_free(struct tls_server *tls)
{
	if (!tls)
		return;
	SSL_CTX_free(tls->ctx);
	free(tls);
}
