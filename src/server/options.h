/*
 * options.h - the server's settings and where they come from:
 * command-line flags > TRESOR_* environment > config file > defaults.
 */
#ifndef TRESOR_SERVER_OPTIONS_H
#define TRESOR_SERVER_OPTIONS_H

#include <jansson.h>
#include <stdint.h>

#include "common/status.h"

#define SERVER_DEFAULT_HOST "127.0.0.1"
#define SERVER_DEFAULT_PORT 8200
#define SERVER_DEFAULT_DATA_DIR "./tresor-data"
#define SERVER_WORKERS_MAX 64
#define SERVER_HTTP_TIMEOUT_SECONDS 30 /* idle or stalled connections close */

struct server_options {
	char host[256];
	unsigned port;
	char data_dir[1024];
	char config_path[1024];
	int workers;         /* worker threads, one event loop each */
	int log_level;       /* enum log_level */
	int64_t keep_versions;
	int64_t purge_after; /* seconds an expired secret is kept before it is purged */
	char tls_cert[1024];      /* PEM certificate chain; "" = no TLS */
	char tls_key[1024];       /* its unencrypted PEM key; set iff tls_cert is */
	char tls_client_ca[1024]; /* "" = no client certificates (needs TLS) */
	int insecure_listen;      /* plain HTTP may listen beyond loopback */
	int sync_read_audit;      /* reads' audit records on disk before their reply (writer.h) */
	int help;                 /* --help was given */
	json_t *encryption;       /* the config's secrets.encryption node (a reference: release with
	                           * server_options_clear), NULL when there is none */
};

/* Fills o from argv (argv[0] is "server"), the environment and the config
 * file. TR_EINVAL with a message on bad input (also: only one of the TLS
 * certificate and key, or a client CA without them). */
enum tr_status server_options_load(struct server_options *o, int argc, char **argv, struct tr_error *err);
/* Releases what server_options_load allocated (the encryption node, which
 * may hold key material: jansson's allocator wipes it). */
void server_options_clear(struct server_options *o);
/* Prints the usage text to stdout. */
void server_options_usage(void);

#endif
