/*
 * keyring-config.h - builds the keyring from the config file's
 * `secrets.encryption` section (SPEC §7, docs/keys.md):
 *
 *   secrets:
 *     encryption:
 *       current_provider: local_v2
 *       providers:
 *         secret_key:
 *           local_v1: { from_file: /etc/tresor/key-v1 }    # or from_env: VAR, or value: <base64>
 *           local_v2: { from_env: TRESOR_KEY_V2 }
 *         passphrase:
 *           team_pw: { from_env: TEAM_PASSPHRASE, ops_limit: 3, mem_limit_mib: 64 }
 *         exec:
 *           hsm: { command: [/usr/local/bin/kms-plugin, --key, k1], timeout_ms: 5000,
 *                  pass_env: [AWS_REGION] }
 *
 * The local key file DATA_DIR/master.key is the provider "local": with no
 * section at all it is the only provider and current (created when
 * missing); with a section it is still loaded, if the file exists and no
 * configured provider is called "local", so data written before the
 * section existed stays readable (created only when current_provider is
 * "local"). Every message names the setting at fault
 * ("secrets.encryption.providers.secret_key.local_v1: ...") and never
 * quotes key material.
 */
#ifndef TRESOR_CRYPTO_KEYRING_CONFIG_H
#define TRESOR_CRYPTO_KEYRING_CONFIG_H

#include <jansson.h>

#include "common/status.h"
#include "crypto/keyring.h"

#define KEYRING_LOCAL_ID "local"
#define KEYRING_LOCAL_FILE "master.key"

/*
 * Builds *out from `encryption` (the secrets.encryption node, or NULL when
 * the config has none) and the data directory (which must exist). Every
 * configured provider is loaded now: a missing variable or file, a short
 * or malformed key, a wrong passphrase or a plugin that does not start is
 * an error here. *out is set only on success.
 */
enum tr_status keyring_from_config(const json_t *encryption, const char *data_dir, struct keyring **out,
                                   struct tr_error *err);

#endif
