/*
 * keyring.c - the set of key providers and which one is current.
 *
 * The keyring owns its providers: each is a malloc'd struct key_provider
 * whose ctx is released through ops->destroy. It is filled once at start-up
 * and read-only afterwards, so lookups need no locking.
 */
#include "keyring.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define KEYRING_PROVIDERS_MAX 16

struct keyring {
	struct key_provider *providers[KEYRING_PROVIDERS_MAX];
	size_t count;
	const struct key_provider *current; /* one of providers[], or NULL */
};

/* Destroys a provider the keyring owns (or was handed and refused). */
static void provider_free(struct key_provider *p)
{
	if (!p)
		return;
	if (p->ops && p->ops->destroy)
		p->ops->destroy(p->ctx);
	free(p);
}

enum tr_status keyring_new(struct keyring **out, struct tr_error *err)
{
	struct keyring *kr;

	if (!out)
		return tr_error_set(err, TR_EINVAL, "keyring_new needs an output");
	if (sodium_init() < 0)
		return tr_error_set(err, TR_EINTERNAL, "libsodium initialisation failed");
	kr = calloc(1, sizeof(*kr));
	if (!kr)
		return tr_error_set(err, TR_EINTERNAL, "out of memory creating keyring");
	*out = kr;
	return TR_OK;
}

void keyring_free(struct keyring *kr)
{
	size_t i;

	if (!kr)
		return;
	for (i = 0; i < kr->count; i++)
		provider_free(kr->providers[i]);
	free(kr);
}

enum tr_status keyring_add(struct keyring *kr, struct key_provider *p, struct tr_error *err)
{
	if (!kr || !p || !p->ops) {
		provider_free(p);
		return tr_error_set(err, TR_EINVAL, "keyring_add needs a keyring and a provider");
	}
	if (keyring_get(kr, p->id)) {
		tr_error_set(err, TR_ECONFLICT, "key provider '%s' is configured twice", p->id);
		provider_free(p);
		return TR_ECONFLICT;
	}
	if (kr->count == KEYRING_PROVIDERS_MAX) {
		tr_error_set(err, TR_ETOOLARGE, "too many key providers (at most %d)", KEYRING_PROVIDERS_MAX);
		provider_free(p);
		return TR_ETOOLARGE;
	}
	kr->providers[kr->count++] = p;
	return TR_OK;
}

enum tr_status keyring_set_current(struct keyring *kr, const char *id, struct tr_error *err)
{
	const struct key_provider *p;

	if (!kr || !id)
		return tr_error_set(err, TR_EINVAL, "keyring_set_current needs a keyring and an id");
	p = keyring_get(kr, id);
	if (!p)
		return tr_error_set(err, TR_ENOTFOUND, "current key provider '%s' is not configured", id);
	kr->current = p;
	return TR_OK;
}

const struct key_provider *keyring_get(const struct keyring *kr, const char *id)
{
	size_t i;

	if (!kr || !id)
		return NULL;
	for (i = 0; i < kr->count; i++) {
		if (strcmp(kr->providers[i]->id, id) == 0)
			return kr->providers[i];
	}
	return NULL;
}

const struct key_provider *keyring_current(const struct keyring *kr)
{
	return kr ? kr->current : NULL;
}

size_t keyring_count(const struct keyring *kr)
{
	return kr ? kr->count : 0;
}

const struct key_provider *keyring_at(const struct keyring *kr, size_t i)
{
	return kr && i < kr->count ? kr->providers[i] : NULL;
}

static int id_char_valid(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
	       c == '.';
}

int keyring_id_valid(const char *id)
{
	size_t i;

	if (!id || !*id)
		return 0;
	for (i = 0; id[i]; i++)
		if (i >= TR_PROVIDER_ID_MAX || !id_char_valid(id[i]))
			return 0;
	return 1;
}
