/*
 * domain-fixture.c - the shared setup and teardown of the domain-layer
 * unit tests (see domain-fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "domain/auth.h"
#include "domain-fixture.h"

static enum tr_status discard_token(void *ctx, const char *token, struct tr_error *err)
{
	(void)ctx;
	(void)token;
	(void)err;
	return TR_OK;
}

static void make_temp_dir(struct domain_fixture *f, const char *name)
{
	int n = snprintf(f->dir, sizeof(f->dir), "/tmp/tresor-%s-XXXXXX", name);

	assert_true(n > 0 && (size_t)n < sizeof(f->dir));
	assert_non_null(mkdtemp(f->dir));
}

static struct keyring *keyring_with_local_key(const unsigned char key[DOMAIN_FIXTURE_KEY_LEN])
{
	struct keyring *kr = NULL;
	struct key_provider *p = NULL;

	assert_int_equal(keyring_new(&kr, NULL), TR_OK);
	assert_int_equal(provider_secret_key_new("local", key, DOMAIN_FIXTURE_KEY_LEN, &p, NULL), TR_OK);
	assert_int_equal(keyring_add(kr, p, NULL), TR_OK);
	assert_int_equal(keyring_set_current(kr, "local", NULL), TR_OK);
	return kr;
}

/* Opens a store connection on the fixture's database into d. */
static void open_domain(const struct domain_fixture *f, struct domain *d)
{
	char dsn[128];

	snprintf(dsn, sizeof(dsn), "sqlite:%s/t.db", f->dir);
	assert_int_equal(store_open(dsn, &d->store, NULL), TR_OK);
	d->keyring = f->keyring;
	d->keep_versions = DOMAIN_FIXTURE_KEEP_VERSIONS;
}

static void bootstrap_admin(struct domain_fixture *f)
{
	bool created = false;

	assert_int_equal(auth_bootstrap(&f->domain, discard_token, NULL, &created, NULL), TR_OK);
	assert_true(created); /* a fresh database has no admin yet */
	snprintf(f->admin.name, sizeof(f->admin.name), "admin");
	f->admin.platform_admin = true;
}

void domain_fixture_open(struct domain_fixture *f, const char *name, const unsigned char key[DOMAIN_FIXTURE_KEY_LEN])
{
	make_temp_dir(f, name);
	f->keyring = keyring_with_local_key(key);
	open_domain(f, &f->domain);
	bootstrap_admin(f);
}

void domain_fixture_open_peer(struct domain_fixture *f)
{
	open_domain(f, &f->peer);
}

void domain_fixture_close(struct domain_fixture *f)
{
	char cmd[128];

	store_close(f->domain.store);
	store_close(f->peer.store);
	keyring_free(f->keyring);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
}
