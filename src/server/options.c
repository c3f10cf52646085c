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
#include <strings.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "domain/domain.h"

struct raw_options {
	const char *listen, *data_dir, *config, *workers, *log_level;
	const char *tls_cert, *tls_key, *tls_client_ca, *insecure_listen;
	const char *sync_read_audit;
};

void server_options_usage(void)
{
	printf("usage: tresor server [--listen HOST:PORT] [--data-dir DIR] [--config FILE]\n"
	       "                     [--workers N] [--log-level debug|info|warn|error]\n"
	       "                     [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]\n"
	       "                     [--insecure-listen] [--sync-read-audit]\n"
	       "\n"
	       "Runs the tresor daemon.\n"
	       "\n"
	       "  --listen HOST:PORT    address to listen on (TRESOR_LISTEN; default 127.0.0.1:8200)\n"
	       "  --data-dir DIR        where the database, key and admin token live; one\n"
	       "                        server per directory (TRESOR_DATA_DIR; default\n"
	       "                        ./tresor-data)\n"
	       "  --config FILE         YAML config file (TRESOR_CONFIG)\n"
	       "  --workers N           worker threads, one event loop each (default: CPUs)\n"
	       "  --log-level LEVEL     debug, info, warn or error (default info)\n"
	       "  --tls-cert FILE       serve HTTPS with this PEM certificate chain (TRESOR_TLS_CERT)\n"
	       "  --tls-key FILE        and its unencrypted PEM private key (TRESOR_TLS_KEY);\n"
	       "                        give both or neither\n"
	       "  --tls-client-ca FILE  require client certificates signed by this CA, on top of\n"
	       "                        the bearer token (TRESOR_TLS_CLIENT_CA)\n"
	       "  --insecure-listen     allow plain HTTP on a non-loopback address, e.g. behind a\n"
	       "                        proxy that terminates TLS (TRESOR_INSECURE_LISTEN=1)\n"
	       "  --sync-read-audit     answer a resolve only once its audit record is on disk, not\n"
	       "                        just written (TRESOR_SYNC_READ_AUDIT=1; docs/architecture.md)\n"
	       "\n"
	       "Without TLS the server listens only on loopback (127.0.0.0/8, ::1, localhost)\n"
	       "unless --insecure-listen is given.\n"
	       "Flags override the environment, which overrides the config file (server.tls_cert,\n"
	       "server.tls_key, server.tls_client_ca, server.insecure_listen: true,\n"
	       "audit.sync_reads: true).\n"
	       "Encryption key providers are set in the config file only (secrets.encryption, see\n"
	       "docs/keys.md); without them the key file DATA_DIR/master.key is used.\n");
}

static enum tr_status parse_argv(int argc, char **argv, struct raw_options *raw, int *help, struct tr_error *err)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},   {"data-dir", required_argument, NULL, 'd'},
		{"config", required_argument, NULL, 'c'},   {"workers", required_argument, NULL, 'w'},
		{"log-level", required_argument, NULL, 'L'}, {"help", no_argument, NULL, 'h'},
		{"tls-cert", required_argument, NULL, 'C'},  {"tls-key", required_argument, NULL, 'K'},
		{"tls-client-ca", required_argument, NULL, 'A'},
		{"insecure-listen", no_argument, NULL, 'I'},
		{"sync-read-audit", no_argument, NULL, 'S'},
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
		case 'C': raw->tls_cert = optarg; break;
		case 'K': raw->tls_key = optarg; break;
		case 'A': raw->tls_client_ca = optarg; break;
		case 'I': raw->insecure_listen = "true"; break;
		case 'S': raw->sync_read_audit = "true"; break;
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

/* "true/yes/on/1" or "false/no/off/0", any case. */
static enum tr_status parse_bool(const char *text, const char *what, int *out, struct tr_error *err)
{
	static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = 1;
			return TR_OK;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = 0;
			return TR_OK;
		}
	}
	return tr_error_set(err, TR_EINVAL, "%s must be true or false", what);
}

static enum tr_status copy_path(char *dst, size_t size, const char *src, const char *what, struct tr_error *err)
{
	if (snprintf(dst, size, "%s", src ? src : "") >= (int)size)
		return tr_error_set(err, TR_EINVAL, "%s path is too long", what);
	return TR_OK;
}

/* TLS files and the listen rule; the files themselves are read by tls.c. */
static enum tr_status resolve_transport(struct server_options *o, const struct raw_options *raw, const json_t *cfg,
                                        struct tr_error *err)
{
	const char *cert = pick(raw->tls_cert, "TRESOR_TLS_CERT", cfg, "server.tls_cert");
	const char *key = pick(raw->tls_key, "TRESOR_TLS_KEY", cfg, "server.tls_key");
	const char *ca = pick(raw->tls_client_ca, "TRESOR_TLS_CLIENT_CA", cfg, "server.tls_client_ca");
	const char *insecure = pick(raw->insecure_listen, "TRESOR_INSECURE_LISTEN", cfg, "server.insecure_listen");
	enum tr_status st;

	if ((cert && *cert) != (key && *key))
		return tr_error_set(err, TR_EINVAL, "give both --tls-cert and --tls-key, or neither");
	if (ca && *ca && !(cert && *cert))
		return tr_error_set(err, TR_EINVAL, "--tls-client-ca needs --tls-cert and --tls-key");
	if ((st = copy_path(o->tls_cert, sizeof(o->tls_cert), cert, "TLS certificate", err)) != TR_OK ||
	    (st = copy_path(o->tls_key, sizeof(o->tls_key), key, "TLS key", err)) != TR_OK ||
	    (st = copy_path(o->tls_client_ca, sizeof(o->tls_client_ca), ca, "TLS client CA", err)) != TR_OK)
		return st;
	o->insecure_listen = 0;
	if (insecure && *insecure)
		return parse_bool(insecure, "insecure_listen (TRESOR_INSECURE_LISTEN)", &o->insecure_listen, err);
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
	const char *purge = pick(NULL, NULL, cfg, "secrets.purge_after");
	const char *sync_reads = pick(raw->sync_read_audit, "TRESOR_SYNC_READ_AUDIT", cfg, "audit.sync_reads");
	enum tr_status st;
	long v = 0;

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
	o->purge_after = DOMAIN_PURGE_AFTER_DEFAULT;
	if (purge && (st = parse_positive(purge, "secrets.purge_after", 10L * 365 * 86400, &v, err)) != TR_OK)
		return st;
	if (purge)
		o->purge_after = v;
	if (sync_reads && *sync_reads &&
	    (st = parse_bool(sync_reads, "audit.sync_reads (TRESOR_SYNC_READ_AUDIT)", &o->sync_read_audit, err)) != TR_OK)
		return st;
	return resolve_transport(o, raw, cfg, err);
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
	if (st == TR_OK && cfg)
		o->encryption = json_incref(config_lookup(cfg, "secrets.encryption"));
	json_decref(cfg);
	return st;
}

void server_options_clear(struct server_options *o)
{
	if (!o)
		return;
	json_decref(o->encryption);
	o->encryption = NULL;
}
