/*
 * tlslib.c - opening libssl at run time and filling the function table of
 * tlslib.h.
 *
 * The soname is that of Debian's libssl3 package, the ABI the headers we
 * compile against describe. dlsym on libssl's handle also finds
 * libcrypto's functions (a dependency of it).
 */
#include "common/tlslib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define LIBSSL_SONAME "libssl.so.3"

struct tlslib_symbol {
	const char *name;
	size_t offset; /* of its slot in struct tlslib */
};

#define TLSLIB_SYMBOL(name) {#name, offsetof(struct tlslib, name)},

static const struct tlslib_symbol symbols[] = {TLSLIB_FUNCTIONS(TLSLIB_SYMBOL)};

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

static void load_library(void)
{
	void *ssl = open_library(LIBSSL_SONAME);

	if (!ssl)
		return;
	for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++)
		if (!resolve_symbol(ssl, &symbols[i]))
			return;
}

enum tr_status tlslib_load(const struct tlslib **out, struct tr_error *err)
{
	pthread_once(&load_once, load_library);
	if (load_error.status != TR_OK)
		return tr_error_set(err, load_error.status, "%s", load_error.message);
	*out = &table;
	return TR_OK;
}

const struct tlslib *tlslib_loaded(void)
{
	pthread_once(&load_once, load_library);
	return load_error.status == TR_OK ? &table : NULL;
}
