/*
 * tlsshim.c - the OpenSSL functions libevent's OpenSSL bufferevents call,
 * for a binary that links libevent from its static archives.
 *
 * libevent_openssl.a calls SSL_read, BIO_new and ~40 more by name; left
 * undefined they would make the link pull in libssl and libcrypto, which
 * tresor opens only when TLS is used (tlslib.h). Each definition here has
 * the prototype from OpenSSL's headers (the compiler checks they agree)
 * and forwards through tlslib's table. libevent only calls them for a
 * bufferevent made with bufferevent_openssl_socket_new, on an SSL object
 * from that table, so the table is there by then; if it were not, that
 * would be a bug in tresor, and the process stops rather than go on
 * without TLS.
 *
 * The binary exports none of these symbols, so libssl, once opened, still
 * calls its own functions.
 */
#include "common/tlslib.h"

#include <stdlib.h>

static const struct tlslib *ssl_fn(void)
{
	const struct tlslib *t = tlslib_loaded();

	if (!t)
		abort();
	return t;
}

/* Defines `ret name params` as a call of the table's `name`. */
#define FORWARD(ret, name, params, args)                                                                               \
	ret name params                                                                                                \
	{                                                                                                              \
		return ssl_fn()->name args;                                                                            \
	}
#define FORWARD_VOID(name, params, args)                                                                               \
	void name params                                                                                               \
	{                                                                                                              \
		ssl_fn()->name args;                                                                                   \
	}

/* clang-format off */

/* ---- SSL connections ---- */

FORWARD(int, SSL_clear, (SSL *s), (s))
FORWARD(long, SSL_ctrl, (SSL *s, int cmd, long larg, void *parg), (s, cmd, larg, parg))
FORWARD(int, SSL_do_handshake, (SSL *s), (s))
FORWARD_VOID(SSL_free, (SSL *s), (s))
FORWARD(int, SSL_get_error, (const SSL *s, int ret_code), (s, ret_code))
FORWARD(BIO *, SSL_get_rbio, (const SSL *s), (s))
FORWARD(BIO *, SSL_get_wbio, (const SSL *s), (s))
FORWARD(int, SSL_get_shutdown, (const SSL *s), (s))
FORWARD(int, SSL_pending, (const SSL *s), (s))
FORWARD(int, SSL_read, (SSL *s, void *buf, int num), (s, buf, num))
FORWARD(int, SSL_write, (SSL *s, const void *buf, int num), (s, buf, num))
FORWARD(int, SSL_renegotiate, (SSL *s), (s))
FORWARD_VOID(SSL_set_accept_state, (SSL *s), (s))
FORWARD_VOID(SSL_set_connect_state, (SSL *s), (s))
FORWARD_VOID(SSL_set_bio, (SSL *s, BIO *rbio, BIO *wbio), (s, rbio, wbio))

/* ---- BIOs: libevent's own BIO over a bufferevent ---- */

FORWARD(BIO *, BIO_new, (const BIO_METHOD *type), (type))
FORWARD(BIO *, BIO_new_socket, (int sock, int close_flag), (sock, close_flag))
FORWARD(int, BIO_free, (BIO *b), (b))
FORWARD(long, BIO_ctrl, (BIO *b, int cmd, long larg, void *parg), (b, cmd, larg, parg))
FORWARD(void *, BIO_get_data, (BIO *b), (b))
FORWARD_VOID(BIO_set_data, (BIO *b, void *ptr), (b, ptr))
FORWARD(int, BIO_get_init, (BIO *b), (b))
FORWARD_VOID(BIO_set_init, (BIO *b, int init), (b, init))
FORWARD(int, BIO_get_shutdown, (BIO *b), (b))
FORWARD_VOID(BIO_set_shutdown, (BIO *b, int shut), (b, shut))
FORWARD_VOID(BIO_set_flags, (BIO *b, int flags), (b, flags))
FORWARD_VOID(BIO_clear_flags, (BIO *b, int flags), (b, flags))
FORWARD(uint64_t, BIO_number_read, (BIO *b), (b))
FORWARD(uint64_t, BIO_number_written, (BIO *b), (b))
FORWARD(BIO_METHOD *, BIO_meth_new, (int type, const char *name), (type, name))
FORWARD(int, BIO_meth_set_create, (BIO_METHOD *m, int (*create)(BIO *)), (m, create))
FORWARD(int, BIO_meth_set_ctrl, (BIO_METHOD *m, long (*ctrl)(BIO *, int, long, void *)), (m, ctrl))
FORWARD(int, BIO_meth_set_destroy, (BIO_METHOD *m, int (*destroy)(BIO *)), (m, destroy))
FORWARD(int, BIO_meth_set_puts, (BIO_METHOD *m, int (*puts)(BIO *, const char *)), (m, puts))
FORWARD(int, BIO_meth_set_read, (BIO_METHOD *m, int (*read)(BIO *, char *, int)), (m, read))
FORWARD(int, BIO_meth_set_write, (BIO_METHOD *m, int (*write)(BIO *, const char *, int)), (m, write))

/* ---- the error queue ---- */

FORWARD_VOID(ERR_clear_error, (void), ())
FORWARD(unsigned long, ERR_get_error, (void), ())
FORWARD(unsigned long, ERR_peek_error, (void), ())

/* clang-format on */
