/*
 * tlslib.h - OpenSSL, loaded on first use.
 *
 * tresor is one binary, and `tresor run` sits in every job's start-up
 * path: each shared library the binary is linked with is mapped and
 * relocated on every invocation, needed or not. libssl + libcrypto cost
 * ~3 ms of that on the CI machine, more than half of `tresor run`'s
 * budget, while only a server with --tls-cert or a client of an https://
 * address uses them. So the binary does not link them (the way systemd
 * opens its optional libraries): tlslib_load() opens them the first time
 * TLS is needed and returns a table of the functions tresor calls.
 *
 * Every call into OpenSSL goes through that table. OpenSSL's headers are
 * still included for types and constants, and each table entry has the
 * exact type of the function it stands for, so the compiler checks calls
 * as before; a direct call would fail to link (except to the functions
 * tlsshim.c forwards, which go through the table anyway). Macros that OpenSSL defines
 * over SSL_CTX_ctrl/SSL_ctrl (SSL_CTX_set_min_proto_version,
 * SSL_set_tlsext_host_name, ...) are written out as those calls.
 *
 * libevent's OpenSSL bufferevents (libevent_openssl) are linked like the
 * rest of libevent. From its static archive they would make the link pull
 * in OpenSSL; tlsshim.c gives them the OpenSSL functions they call instead,
 * each forwarding through this table.
 */
#ifndef TRESOR_COMMON_TLSLIB_H
#define TRESOR_COMMON_TLSLIB_H

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "common/status.h"

/*
 * The OpenSSL functions tresor uses, in one list: X(name) for each. Our own
 * calls come first; then the ones libevent's OpenSSL bufferevents make,
 * which tlsshim.c forwards here when libevent is linked from its static
 * archive (meson option static_deps).
 */
/* clang-format off */
#define TLSLIB_FUNCTIONS(X) \
	/* contexts */ \
	X(TLS_server_method) \
	X(TLS_client_method) \
	X(SSL_CTX_new) \
	X(SSL_CTX_free) \
	X(SSL_CTX_ctrl) \
	X(SSL_CTX_set_options) \
	X(SSL_CTX_set_cipher_list) \
	X(SSL_CTX_set_session_id_context) \
	X(SSL_CTX_set_verify) \
	X(SSL_CTX_load_verify_locations) \
	X(SSL_CTX_set_default_verify_paths) \
	X(SSL_CTX_set_client_CA_list) \
	X(SSL_load_client_CA_file) \
	X(SSL_CTX_use_certificate_chain_file) \
	X(SSL_CTX_get0_certificate) \
	X(SSL_CTX_use_PrivateKey) \
	X(SSL_CTX_check_private_key) \
	/* connections */ \
	X(SSL_new) \
	X(SSL_free) \
	X(SSL_ctrl) \
	X(SSL_set1_host) \
	X(SSL_get0_param) \
	X(SSL_get_verify_result) \
	/* certificates and keys */ \
	X(X509_check_private_key) \
	X(X509_cmp_current_time) \
	X(X509_get0_notBefore) \
	X(X509_get0_notAfter) \
	X(X509_VERIFY_PARAM_set1_ip_asc) \
	X(X509_verify_cert_error_string) \
	X(EVP_PKEY_free) \
	X(BIO_new_file) \
	X(BIO_free) \
	X(PEM_read_bio_PrivateKey) \
	/* errors */ \
	X(ERR_peek_last_error) \
	X(ERR_reason_error_string) \
	X(ERR_clear_error) \
	/* what libevent's OpenSSL bufferevents call besides (tlsshim.c) */ \
	X(SSL_clear) \
	X(SSL_do_handshake) \
	X(SSL_get_error) \
	X(SSL_get_rbio) \
	X(SSL_get_wbio) \
	X(SSL_get_shutdown) \
	X(SSL_pending) \
	X(SSL_read) \
	X(SSL_write) \
	X(SSL_renegotiate) \
	X(SSL_set_accept_state) \
	X(SSL_set_connect_state) \
	X(SSL_set_bio) \
	X(BIO_new) \
	X(BIO_new_socket) \
	X(BIO_ctrl) \
	X(BIO_get_data) \
	X(BIO_set_data) \
	X(BIO_get_init) \
	X(BIO_set_init) \
	X(BIO_get_shutdown) \
	X(BIO_set_shutdown) \
	X(BIO_set_flags) \
	X(BIO_clear_flags) \
	X(BIO_number_read) \
	X(BIO_number_written) \
	X(BIO_meth_new) \
	X(BIO_meth_set_create) \
	X(BIO_meth_set_ctrl) \
	X(BIO_meth_set_destroy) \
	X(BIO_meth_set_puts) \
	X(BIO_meth_set_read) \
	X(BIO_meth_set_write) \
	X(ERR_get_error) \
	X(ERR_peek_error)
/* clang-format on */

/* A table entry: a pointer to the function `name`, with its type. */
#define TLSLIB_SLOT(name) __typeof__(name) *name;

struct tlslib {
	TLSLIB_FUNCTIONS(TLSLIB_SLOT)
};

/*
 * Opens the libraries once per process (later calls give the same table;
 * safe from any thread) and sets *out to the table. TR_EUNAVAIL, with the
 * loader's reason, when a library or a function is missing. The libraries
 * stay loaded for the life of the process.
 */
enum tr_status tlslib_load(const struct tlslib **out, struct tr_error *err);

/* The table (loading it like tlslib_load), or NULL if it cannot be loaded. */
const struct tlslib *tlslib_loaded(void);

#endif
