/*
 * options.h - the server's settings and where they come from:
 * command-line flags > TRESOR_* environment > config file > defaults.
 */
#ifndef TRESOR_SERVER_OPTIONS_H
#define TRESOR_SERVER_OPTIONS_H

#include <stdint.h>

#include "common/status.h"

#define SERVER_DEFAULT_HOST "127.0.0.1"
#define SERVER_DEFAULT_PORT 8200
#define SERVER_DEFAULT_DATA_DIR "./tresor-data"
#define SERVER_WORKERS_MAX 64

struct server_options {
	char host[256];
	unsigned port;
	char data_dir[1024];
	char config_path[1024];
	int workers;         /* worker threads, one event loop each */
	int log_level;       /* enum log_level */
	int64_t keep_versions;
	int help;            /* --help was given */
};

/* Fills o from argv (argv[0] is "server"), the environment and the config
 * file. TR_EINVAL with a message on bad input. */
enum tr_status server_options_load(struct server_options *o, int argc, char **argv, struct tr_error *err);
/* Prints the usage text to stdout. */
void server_options_usage(void);

#endif
