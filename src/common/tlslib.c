/*
 * tlslib.c - opening libssl and libevent_openssl at run time and filling
 * the function table of tlslib.h.
 *
 * The sonames are those of Debian's libssl3 and libevent-openssl-2.1-7
 * packages, the ABI the headers we compile against describe. dlsym on
 * libssl's handle also finds libcrypto's functions (a dependency of it).
 */
#include "common/tlslib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define LIBSSL_SONAME          "libssl.so.3"
#define LIBEVENT_OPENSSL_SONAME "libevent_openssl-2.1.so.7"

enum tlslib_origin { FROM_SSL, FROM_EVENT };

struct tlslib_symbol {
	enum tlslib_origin lib;
	const char *name;
	size_t offset; /* of its slot in struct tlslib */
};

#define SSL_SYM(name)   {FROM_SSL, #name, offsetof(struct tlslib, name)}
#define EVENT_SYM(name) {FROM_EVENT, #name, offsetof(struct tlslib, name)}

static const struct tlslib_symbol symbols[] = {
	SSL_SYM(TLS_server_method),
	SSL_SYM(TLS_client_method),
	SSL_SYM(SSL_CTX_new),
	SSL_SYM(SSL_CTX_free),
	SSL_SYM(SSL_CTX_ctrl),
	SSL_SYM(SSL_CTX_set_options),
	SSL_SYM(SSL_CTX_set_cipher_list),
	SSL_SYM(SSL_CTX_set_session_id_context),
	SSL_SYM(SSL_CTX_set_verify),
	SSL_SYM(SSL_CTX_load_verify_locations),
	SSL_SYM(SSL_CTX_set_default_verify_paths),
	SSL_SYM(SSL_CTX_set_client_CA_list),
	SSL_SYM(SSL_load_client_CA_file),
	SSL_SYM(SSL_CTX_use_certificate_chain_file),
	SSL_SYM(SSL_CTX_get0_certificate),
	SSL_SYM(SSL_CTX_use_PrivateKey),
	SSL_SYM(SSL_CTX_check_private_key),
	SSL_SYM(SSL_new),
	SSL_SYM(SSL_free),
	SSL_SYM(SSL_ctrl),
	SSL_SYM(SSL_set1_host),
	SSL_SYM(SSL_get0_param),
	SSL_SYM(SSL_get_verify_result),
	SSL_SYM(X509_check_private_key),
	SSL_SYM(X509_cmp_current_time),
	SSL_SYM(X509_get0_notBefore),
	SSL_SYM(X509_get0_notAfter),
	SSL_SYM(X509_VERIFY_PARAM_set1_ip_asc),
	SSL_SYM(X509_verify_cert_error_string),
	SSL_SYM(EVP_PKEY_free),
	SSL_SYM(BIO_new_file),
	SSL_SYM(BIO_free),
	SSL_SYM(PEM_read_bio_PrivateKey),
	SSL_SYM(ERR_peek_last_error),
	SSL_SYM(ERR_reason_error_string),
	SSL_SYM(ERR_clear_error),
	EVENT_SYM(bufferevent_openssl_socket_new),
	EVENT_SYM(bufferevent_openssl_set_allow_dirty_shutdown),
	EVENT_SYM(bufferevent_get_openssl_error),
};

static struct tlslib table;
static struct tr_error load_error; /* why loading failed; status TR_OK if it did not */
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void *open_library(const char *soname)
{
	void *handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

	if (!handle)
		tr_error_set(&load_error, TR_EUNAVAIL, "TLS needs %s, which cannot be loaded: %s", soname, dlerror());
	return handle;
}

/* Fills one slot. POSIX guarantees a dlsym result converts to a function
 * pointer; memcpy says so without a cast between object and function
 * pointer types, which ISO C leaves undefined. */
static bool resolve_symbol(void *handle, const struct tlslib_symbol *sym)
{
	void *p = dlsym(handle, sym->name);

	if (!p) {
		tr_error_set(&load_error, TR_EUNAVAIL, "TLS library lacks %s", sym->name);
		return false;
	}
	memcpy((char *)&table + sym->offset, &p, sizeof(p));
	return true;
}

static void load_libraries(void)
{
	void *ssl = open_library(LIBSSL_SONAME);
	void *event = ssl ? open_library(LIBEVENT_OPENSSL_SONAME) : NULL;

	if (!event)
		return;
	for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++)
		if (!resolve_symbol(symbols[i].lib == FROM_SSL ? ssl : event, &symbols[i]))
			return;
}

enum tr_status tlslib_load(const struct tlslib **out, struct tr_error *err)
{
	pthread_once(&load_once, load_libraries);
	if (load_error.status != TR_OK)
		return tr_error_set(err, load_error.status, "%s", load_error.message);
	*out = &table;
	return TR_OK;
}
