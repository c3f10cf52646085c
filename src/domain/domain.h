/*
 * domain.h - what every domain operation is given: where data lives and
 * who is asking.
 *
 * The domain layer holds tresor's rules (names, types, versions, who may do
 * what) and knows nothing of HTTP, SQL or JSON wire formats. Each server
 * worker owns one struct domain (its store connection is not shared);
 * the keyring is shared and read-only.
 */
#ifndef TRESOR_DOMAIN_DOMAIN_H
#define TRESOR_DOMAIN_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "common/limits.h"
#include "crypto/keyring.h"
#include "storage/store.h"

#define DOMAIN_KEEP_VERSIONS_DEFAULT 10

struct domain {
	struct store *store;           /* this thread's connection */
	const struct keyring *keyring; /* shared, immutable */
	int64_t keep_versions;         /* versions kept per secret (> 0) */
};

/* An authenticated caller. */
struct principal {
	char name[TR_PRINCIPAL_NAME_MAX + 1];
	bool platform_admin;
	char token_id[32]; /* the token it authenticated with */
};

/* Current time in Unix seconds. */
int64_t domain_now(void);

#endif
