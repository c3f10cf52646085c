/*
 * domain-fixture.h - what the domain-layer unit tests start from: a fresh
 * SQLite store in a temp dir, a keyring with one secret_key provider, one
 * struct domain on them with the admin bootstrapped, and the admin as a
 * caller. Tests that stand for two server threads open a second store
 * connection (the peer) on the same database.
 */
#ifndef TRESOR_TESTS_UNIT_DOMAIN_FIXTURE_H
#define TRESOR_TESTS_UNIT_DOMAIN_FIXTURE_H

#include "domain/domain.h"

#define DOMAIN_FIXTURE_KEY_LEN       32
#define DOMAIN_FIXTURE_KEEP_VERSIONS 3

struct domain_fixture {
	char dir[64];            /* the temp dir holding t.db */
	struct keyring *keyring; /* one provider, "local", current */
	struct domain domain;    /* bootstrapped */
	struct domain peer;      /* store NULL unless domain_fixture_open_peer */
	struct principal admin;  /* "admin", platform admin */
};

/*
 * Fills f (zeroed by the caller): makes /tmp/tresor-<name>-XXXXXX, a
 * keyring whose current provider "local" is a secret_key provider made
 * from key, opens <dir>/t.db as f->domain's store and bootstraps the
 * admin there. Fails the running test when any of it fails.
 */
void domain_fixture_open(struct domain_fixture *f, const char *name, const unsigned char key[DOMAIN_FIXTURE_KEY_LEN]);

/* Opens f->peer: a second store connection on f's database with the same
 * keyring, as another server thread has. */
void domain_fixture_open_peer(struct domain_fixture *f);

/* Closes both store connections, frees the keyring and removes the temp
 * dir. */
void domain_fixture_close(struct domain_fixture *f);

#endif
