/*
 * options.c - parsing `tresor server` options, the environment and the
 * YAML config file into struct server_options.
 *
 * Each setting is resolved once, by walking its sources from the weakest
 * (default) to the strongest (flag), so the precedence is in one place.
 */
#include "server/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "domain/domain.h"

struct raw_options {
	const char *listen, *data_dir, *config, *workers, *log_level;
};

void server_options_usage(void)
{
	printf("usage: tresor server [--listen HOST:PORT] [--data-dir DIR] [--config FILE]\n"
	       "                     [--workers N] [--log-level debug|info|warn|error]\n"
	       "\n"
	       "Runs the tresor daemon.\n"
	       "\n"
	       "  --listen HOST:PORT  address to listen on (TRESOR_LISTEN; default 127.0.0.1:8200)\n"
	       "  --data-dir DIR      where the database, key and admin token live\n"
	       "                      (TRESOR_DATA_DIR; default ./tresor-data)\n"
	       "  --config FILE       YAML config file (TRESOR_CONFIG)\n"
	       "  --workers N         worker threads, one event loop each (default: CPUs)\n"
	       "  --log-level LEVEL   debug, info, warn or error (default info)\n"
	       "\n"
	       "Flags override the environment, which overrides the config file.\n");
}

static enum tr_status parse_argv(int argc, char **argv, struct raw_options *raw, int *help, struct tr_error *err)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},   {"data-dir", required_argument, NULL, 'd'},
		{"config", required_argument, NULL, 'c'},   {"workers", required_argument, NULL, 'w'},
		{"log-level", required_argument, NULL, 'L'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': raw->listen = optarg; break;
		case 'd': raw->data_dir = optarg; break;
		case 'c': raw->config = optarg; break;
		case 'w': raw->workers = optarg; break;
		case 'L': raw->log_level = optarg; break;
		case 'h': *help = 1; break;
		default:
			return tr_error_set(err, TR_EINVAL, "unknown or incomplete option '%s' (see tresor server --help)",
			                    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return tr_error_set(err, TR_EINVAL, "unexpected argument '%s'", argv[optind]);
	return TR_OK;
}

/* The strongest source that has a value: flag, then environment, then config. */
static const char *pick(const char *flag, const char *env_name, const json_t *config, const char *config_path)
{
	const char *env = env_name ? getenv(env_name) : NULL;

	if (flag)
		return flag;
	if (env && *env)
		return env;
	return config ? config_string(config, config_path) : NULL;
}

static enum tr_status parse_listen(struct server_options *o, const char *listen, struct tr_error *err)
{
	const char *colon = strrchr(listen, ':');
	char *end;
	long port;
	size_t hostlen;

	if (!colon)
		return tr_error_set(err, TR_EINVAL, "listen address '%s' must be HOST:PORT", listen);
	hostlen = (size_t)(colon - listen);
	if (hostlen >= sizeof(o->host))
		return tr_error_set(err, TR_EINVAL, "listen host is too long");
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
		return tr_error_set(err, TR_EINVAL, "listen port in '%s' must be 0-65535", listen);
	/* "[::1]:8200" -> "::1" */
	if (hostlen >= 2 && listen[0] == '[' && listen[hostlen - 1] == ']')
		snprintf(o->host, sizeof(o->host), "%.*s", (int)(hostlen - 2), listen + 1);
	else
		snprintf(o->host, sizeof(o->host), "%.*s", (int)hostlen, listen);
	o->port = (unsigned)port;
	return TR_OK;
}

static enum tr_status parse_positive(const char *text, const char *what, long max, long *out,
                                     struct tr_error *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < 1 || v > max)
		return tr_error_set(err, TR_EINVAL, "%s must be a number from 1 to %ld", what, max);
	*out = v;
	return TR_OK;
}

static int default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (n > 16 ? 16 : (int)n);
}

static enum tr_status resolve(struct server_options *o, const struct raw_options *raw, const json_t *cfg,
                              struct tr_error *err)
{
	const char *listen = pick(raw->listen, "TRESOR_LISTEN", cfg, "server.listen");
	const char *data_dir = pick(raw->data_dir, "TRESOR_DATA_DIR", cfg, "server.data_dir");
	const char *workers = pick(raw->workers, "TRESOR_WORKERS", cfg, "server.workers");
	const char *level = pick(raw->log_level, "TRESOR_LOG_LEVEL", cfg, "server.log_level");
	const char *keep = pick(NULL, NULL, cfg, "secrets.keep_versions");
	enum tr_status st;
	long v;

	snprintf(o->host, sizeof(o->host), "%s", SERVER_DEFAULT_HOST);
	o->port = SERVER_DEFAULT_PORT;
	if (listen && (st = parse_listen(o, listen, err)) != TR_OK)
		return st;
	if (snprintf(o->data_dir, sizeof(o->data_dir), "%s", data_dir ? data_dir : SERVER_DEFAULT_DATA_DIR) >=
	    (int)sizeof(o->data_dir))
		return tr_error_set(err, TR_EINVAL, "data directory path is too long");
	o->workers = default_workers();
	if (workers && (st = parse_positive(workers, "workers", SERVER_WORKERS_MAX, &v, err)) != TR_OK)
		return st;
	if (workers)
		o->workers = (int)v;
	o->log_level = LOG_INFO;
	if (level && (o->log_level = log_level_parse(level)) < 0)
		return tr_error_set(err, TR_EINVAL, "log level must be debug, info, warn or error");
	o->keep_versions = DOMAIN_KEEP_VERSIONS_DEFAULT;
	if (keep && (st = parse_positive(keep, "secrets.keep_versions", 1000, &v, err)) != TR_OK)
		return st;
	if (keep)
		o->keep_versions = v;
	return TR_OK;
}

enum tr_status server_options_load(struct server_options *o, int argc, char **argv, struct tr_error *err)
{
	struct raw_options raw = {0};
	json_t *cfg = NULL;
	enum tr_status st;

	memset(o, 0, sizeof(*o));
	if ((st = parse_argv(argc, argv, &raw, &o->help, err)) != TR_OK || o->help)
		return st;
	raw.config = pick(raw.config, "TRESOR_CONFIG", NULL, NULL);
	if (raw.config) {
		snprintf(o->config_path, sizeof(o->config_path), "%s", raw.config);
		if ((st = config_load(raw.config, &cfg, err)) != TR_OK)
			return st;
	}
	st = resolve(o, &raw, cfg, err);
	json_decref(cfg);
	return st;
}
