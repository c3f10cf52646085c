/*
 * tlslib.h - OpenSSL and libevent's OpenSSL bufferevents, loaded on first
 * use.
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
 * as before; a direct call would fail to link. Macros that OpenSSL defines
 * over SSL_CTX_ctrl/SSL_ctrl (SSL_CTX_set_min_proto_version,
 * SSL_set_tlsext_host_name, ...) are written out as those calls.
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

/* A table entry: a pointer to the function `name`, with its type. */
#define TLSLIB_FN(name) __typeof__(name) *name

struct tlslib {
	/* contexts */
	TLSLIB_FN(TLS_server_method);
	TLSLIB_FN(TLS_client_method);
	TLSLIB_FN(SSL_CTX_new);
	TLSLIB_FN(SSL_CTX_free);
	TLSLIB_FN(SSL_CTX_ctrl);
	TLSLIB_FN(SSL_CTX_set_options);
	TLSLIB_FN(SSL_CTX_set_cipher_list);
	TLSLIB_FN(SSL_CTX_set_session_id_context);
	TLSLIB_FN(SSL_CTX_set_verify);
	TLSLIB_FN(SSL_CTX_load_verify_locations);
	TLSLIB_FN(SSL_CTX_set_default_verify_paths);
	TLSLIB_FN(SSL_CTX_set_client_CA_list);
	TLSLIB_FN(SSL_load_client_CA_file);
	TLSLIB_FN(SSL_CTX_use_certificate_chain_file);
	TLSLIB_FN(SSL_CTX_get0_certificate);
	TLSLIB_FN(SSL_CTX_use_PrivateKey);
	TLSLIB_FN(SSL_CTX_check_private_key);
	/* connections */
	TLSLIB_FN(SSL_new);
	TLSLIB_FN(SSL_free);
	TLSLIB_FN(SSL_ctrl);
	TLSLIB_FN(SSL_set1_host);
	TLSLIB_FN(SSL_get0_param);
	TLSLIB_FN(SSL_get_verify_result);
	/* certificates and keys */
	TLSLIB_FN(X509_check_private_key);
	TLSLIB_FN(X509_cmp_current_time);
	TLSLIB_FN(X509_get0_notBefore);
	TLSLIB_FN(X509_get0_notAfter);
	TLSLIB_FN(X509_VERIFY_PARAM_set1_ip_asc);
	TLSLIB_FN(X509_verify_cert_error_string);
	TLSLIB_FN(EVP_PKEY_free);
	TLSLIB_FN(BIO_new_file);
	TLSLIB_FN(BIO_free);
	TLSLIB_FN(PEM_read_bio_PrivateKey);
	/* errors */
	TLSLIB_FN(ERR_peek_last_error);
	TLSLIB_FN(ERR_reason_error_string);
	TLSLIB_FN(ERR_clear_error);
	/* libevent_openssl */
	TLSLIB_FN(bufferevent_openssl_socket_new);
	TLSLIB_FN(bufferevent_openssl_set_allow_dirty_shutdown);
	TLSLIB_FN(bufferevent_get_openssl_error);
};

/*
 * Opens the libraries once per process (later calls give the same table;
 * safe from any thread) and sets *out to the table. TR_EUNAVAIL, with the
 * loader's reason, when a library or a function is missing. The libraries
 * stay loaded for the life of the process.
 */
enum tr_status tlslib_load(const struct tlslib **out, struct tr_error *err);

#endif
