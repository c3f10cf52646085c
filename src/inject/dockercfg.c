/*
 * dockercfg.c - Docker config JSON for masking and export (dockercfg.h).
 * The parsed trees hold credentials: jansson frees them through the
 * wiping allocator the command line installs (jsonmem_init, called by the
 * command table).
 */
#include "inject/dockercfg.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* The auths object of a config text, in a tree the caller frees. */
static enum tr_status auths_load(const char *text, size_t len, json_t **root, json_t **auths)
{
	json_error_t jerr;

	*root = json_loadb(text, len, 0, &jerr);
	*auths = json_object_get(*root, "auths");
	if (!json_is_object(*auths)) {
		json_decref(*root);
		*root = NULL;
		return TR_EINVAL;
	}
	return TR_OK;
}

/* The field key of entry as a string value, if it is one. */
static void mask_field(struct mask *m, const json_t *entry, const char *key, enum tr_status *st)
{
	const json_t *v = json_object_get(entry, key);

	if (*st == TR_OK && json_is_string(v))
		*st = mask_add_value(m, json_string_value(v), json_string_length(v));
}

/* "auth" is base64 of user:pass: hide the pair (and so the encoded forms). */
static enum tr_status mask_auth(struct mask *m, const json_t *entry)
{
	const json_t *auth = json_object_get(entry, "auth");
	const char *text = json_string_value(auth);
	size_t len = json_string_length(auth);
	unsigned char *pair;
	size_t pair_len = 0;
	enum tr_status st = TR_OK;

	if (!text || len == 0)
		return TR_OK;
	st = mask_add_exact(m, text, len);
	pair = malloc(len);
	if (st != TR_OK || !pair) {
		free(pair);
		return TR_EINTERNAL;
	}
	if (sodium_base642bin(pair, len, text, len, NULL, &pair_len, NULL, sodium_base64_VARIANT_ORIGINAL) == 0)
		st = mask_add_value(m, pair, pair_len);
	sodium_memzero(pair, len);
	free(pair);
	return st;
}

enum tr_status dockercfg_mask(struct mask *m, const char *text, size_t len, struct tr_error *err)
{
	json_t *root, *auths, *entry;
	enum tr_status st = TR_OK;
	const char *registry;

	if (auths_load(text, len, &root, &auths) != TR_OK)
		return tr_error_set(err, TR_EINVAL, "the registry secret is not a Docker config (no \"auths\" object)");
	json_object_foreach (auths, registry, entry) {
		if (st == TR_OK)
			st = mask_auth(m, entry);
		mask_field(m, entry, "password", &st);
		mask_field(m, entry, "identitytoken", &st);
		mask_field(m, entry, "registrytoken", &st);
	}
	json_decref(root);
	if (st != TR_OK)
		return tr_error_set(err, st, "out of memory");
	return TR_OK;
}

enum tr_status dockercfg_merge(json_t *auths, const char *text, size_t len, const char *secret, struct tr_error *err)
{
	json_t *root, *from, *entry;
	enum tr_status st = TR_OK;
	const char *registry;

	if (auths_load(text, len, &root, &from) != TR_OK)
		return tr_error_set(err, TR_EINVAL, "secret '%s' does not hold a Docker config (no \"auths\" object)",
				    secret);
	json_object_foreach (from, registry, entry) {
		if (st != TR_OK)
			break;
		if (json_object_get(auths, registry))
			st = tr_error_set(err, TR_ECONFLICT, "registry '%s' of secret '%s' is in another secret too",
					  registry, secret);
		else if (json_object_set(auths, registry, entry) < 0)
			st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	json_decref(root);
	return st;
}
