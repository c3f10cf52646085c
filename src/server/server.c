/*
 * server.c - `tresor server`: set-up, worker threads, shutdown.
 *
 * Start-up: options -> the listen rule (plain HTTP on loopback only, unless
 * --insecure-listen) -> harden the process -> TLS context (tls.c; one for
 * all workers) -> data directory -> keyring (the config's
 * secrets.encryption providers, or the local key file; keyring-config.h)
 * -> storage + bootstrap (default workspace, admin and its token file) ->
 * the provider check (every provider that wraps stored data is configured
 * and unwraps; else refuse to start) -> one listening
 * socket per worker on the same port (SO_REUSEPORT, so the kernel spreads
 * connections) -> one thread per worker, each with its own event loop,
 * evhttp (wrapping connections in TLS when on) and store connection.
 * The main thread then waits for SIGTERM/SIGINT, stops accepting, lets
 * in-flight requests finish and exits 0.
 */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dirsync.h"
#include "common/jsonmem.h"
#include "common/log.h"
#include "crypto/keyring-config.h"
#include "domain/audit.h"
#include "domain/audit-journal.h"
#include "domain/auth.h"
#include "domain/rotation.h"
#include "domain/secrets.h"
#include "server/background.h"
#include "server/read-journal.h"
#include "server/options.h"
#include "server/routes.h"
#include "server/tls.h"
#include "server/writer.h"

#define LISTEN_BACKLOG 1024
#define HTTP_MAX_HEADERS (64 * 1024)
/* evhttp refuses larger bodies itself (a plain 413); below this, routes.c
 * answers 413 with a JSON error for anything over TR_MAX_BODY. */
#define HTTP_TRANSPORT_MAX_BODY (8 * 1024 * 1024)
#define DRAIN_SECONDS 10
#define PURGE_INTERVAL 60 /* seconds between sweeps of expired secrets */

struct worker {
	int index;
	pthread_t thread;
	int fd;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *stop_event;
	struct event *purge_timer; /* worker 0 only: the expired-secret sweep */
	struct event *drain_timer;
	struct domain domain;
	/* What requests are served with (routes.h): the domain above, the
	 * server's group-commit writer and background thread, this worker's
	 * audit journal; cleared when they stop, before the last replies. */
	struct routes_worker routes;
	int in_flight; /* touched only on this worker's thread */
	int stopping;
	bool closed; /* the writer is gone: requests get 503 (set after the loop ended) */
};

struct server {
	struct server_options opt;
	char db_dsn[1100];
	struct keyring *keyring;
	struct tls_server *tls; /* NULL: plain HTTP */
	struct writer *writer;  /* runs every writing request (writer.h) */
	struct background *background; /* runs long requests (background.h) */
	struct worker *workers;
	int nworkers;
	int data_dir_lock; /* held while the server runs; -1 before */
};

/* --- process hardening --------------------------------------------------- */

/* No core dumps and no ptrace by other users: key material and values
 * must not end up in a file. */
static void harden_process(void)
{
	struct rlimit none = {0, 0};

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		log_warn("cannot disable core dumps (PR_SET_DUMPABLE): %s", strerror(errno));
	if (setrlimit(RLIMIT_CORE, &none) != 0)
		log_warn("cannot set RLIMIT_CORE to 0: %s", strerror(errno));
}

/* --- the listen rule ----------------------------------------------------- */

/* 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) or the name "localhost".
 * Other names are not resolved here: only these count as loopback. */
static bool host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

/* HOST:PORT, with brackets around an IPv6 address. */
static void format_listen(char *out, size_t size, const struct server_options *o)
{
	bool v6 = strchr(o->host, ':') != NULL;

	snprintf(out, size, "%s%s%s:%u", v6 ? "[" : "", o->host, v6 ? "]" : "", o->port);
}

/* Without TLS, tokens and values must not leave the machine in clear.
 * Logs why and returns false when the server must not start. */
static bool listen_allowed(const struct server_options *o)
{
	char addr[300];

	if (o->tls_cert[0] || host_is_loopback(o->host))
		return true;
	if (o->insecure_listen) {
		log_warn("plain HTTP on the non-loopback host '%s' (--insecure-listen): safe only behind a proxy "
		         "that terminates TLS",
		         o->host);
		return true;
	}
	/* Logged here: longer than a struct tr_error message. */
	format_listen(addr, sizeof(addr), o);
	log_error("refusing to listen on %s without TLS: tokens and secret values would cross the network in "
	          "clear; give --tls-cert/--tls-key, or --insecure-listen if a TLS proxy in front of tresor "
	          "terminates TLS",
	          addr);
	return false;
}

/* --- data directory ------------------------------------------------------ */

static enum tr_status make_data_dir(const char *dir, struct tr_error *err)
{
	struct stat sb;

	if (mkdir(dir, 0700) == 0) {
		log_info("created data directory %s", dir);
		return TR_OK;
	}
	if (errno != EEXIST)
		return tr_error_set(err, TR_EUNAVAIL, "cannot create data directory '%s': %s", dir, strerror(errno));
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return tr_error_set(err, TR_EUNAVAIL, "data directory '%s' is not a directory", dir);
	if (sb.st_mode & 077)
		log_warn("data directory %s is accessible by group or others; chmod 700 it", dir);
	return TR_OK;
}

static int path_join(char *out, size_t size, const char *dir, const char *name)
{
	return snprintf(out, size, "%s/%s", dir, name) < (int)size ? 0 : -1;
}

/*
 * One server per data directory: it takes an exclusive lock on
 * DIR/tresor.lock for as long as it runs (the kernel drops it when the
 * process ends, however it ends). Each server keeps caches that only its
 * own changes invalidate (store_changes_begun), and runs its writer as if
 * it were the database's only one.
 */
static enum tr_status claim_data_dir(struct server *srv, struct tr_error *err)
{
	char path[1100];
	int fd;

	if (path_join(path, sizeof(path), srv->opt.data_dir, "tresor.lock"))
		return tr_error_set(err, TR_EINVAL, "data directory path is too long");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return tr_error_set(err, TR_EUNAVAIL, "cannot open '%s': %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK)
			return tr_error_set(err, TR_EUNAVAIL, "data directory '%s' is in use by another tresor server",
			                    srv->opt.data_dir);
		return tr_error_set(err, TR_EUNAVAIL, "cannot lock '%s': %s", path, strerror(e));
	}
	srv->data_dir_lock = fd;
	return TR_OK;
}

/* Writes the admin token to DIR/admin.token (0600) atomically and durably. */
static enum tr_status write_token_file(void *ctx, const char *token, struct tr_error *err)
{
	const char *dir = ctx;
	char path[1100], tmp[1100];
	size_t len = strlen(token);
	int fd, ok;

	if (path_join(path, sizeof(path), dir, "admin.token") || path_join(tmp, sizeof(tmp), dir, ".admin.token.tmp"))
		return tr_error_set(err, TR_EINVAL, "data directory path is too long");
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return tr_error_set(err, TR_EUNAVAIL, "cannot write '%s': %s", tmp, strerror(errno));
	ok = write(fd, token, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	ok = (close(fd) == 0) && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return tr_error_set(err, TR_EUNAVAIL, "cannot write '%s': %s", path, strerror(errno));
	}
	fsync_parent_dir(path); /* best effort: the token was written */
	return TR_OK;
}

/* --- keyring and storage ------------------------------------------------- */

/* "key providers: local_v1 (secret_key), local_v2 (secret_key, current)" */
static void log_providers(const struct keyring *kr)
{
	const struct key_provider *cur = keyring_current(kr);
	char line[900];
	size_t used = 0;

	for (size_t i = 0; i < keyring_count(kr) && used < sizeof(line); i++) {
		const struct key_provider *p = keyring_at(kr, i);
		int n = snprintf(line + used, sizeof(line) - used, "%s%s (%s%s)", i ? ", " : "", p->id, p->ops->family,
		                 p == cur ? ", current" : "");

		if (n < 0)
			break;
		used += (size_t)n;
	}
	log_info("key providers: %s", used ? line : "none");
}

/* Builds the keyring from the config (or the local key file) and drops
 * the config's encryption node, which may hold key material. */
static enum tr_status open_keyring(struct server *srv, struct tr_error *err)
{
	enum tr_status st = keyring_from_config(srv->opt.encryption, srv->opt.data_dir, &srv->keyring, err);

	server_options_clear(&srv->opt);
	if (st == TR_OK)
		log_providers(srv->keyring);
	return st;
}

/* Every provider that wraps stored data must be here and work. */
static enum tr_status check_providers(struct domain *d, struct tr_error *err)
{
	struct rotation_check check = {0};
	enum tr_status st = rotation_check_providers(d, &check, err);

	if (st == TR_OK && check.not_current > 0)
		log_info("%lld of %lld stored versions are not under the current key provider '%s'; "
		         "POST /v2/secrets/rotate-encryption-keys re-wraps them",
		         (long long)check.not_current, (long long)check.versions, keyring_current(d->keyring)->id);
	return st;
}

/* Audit records journaled before a crash go into the log before anything
 * else is written (read-journal.h). */
static enum tr_status recover_audit_journal(struct domain *d, const char *dir, struct tr_error *err)
{
	size_t moved = 0;
	enum tr_status st = audit_journal_recover(d, dir, &moved, err);

	if (moved > 0)
		log_info("audit: moved %zu records left in the audit journal into the log", moved);
	return st;
}

static enum tr_status bootstrap(struct server *srv, struct tr_error *err)
{
	struct domain d = {.keyring = srv->keyring, .keep_versions = srv->opt.keep_versions};
	bool created = false;
	enum tr_status st;

	if ((st = store_open(srv->db_dsn, &d.store, err)) != TR_OK)
		return st;
	st = recover_audit_journal(&d, srv->opt.data_dir, err);
	if (st == TR_OK)
		st = auth_bootstrap(&d, write_token_file, srv->opt.data_dir, &created, err);
	if (st == TR_OK)
		st = check_providers(&d, err);
	store_close(d.store);
	if (st == TR_OK && created)
		log_info("created platform admin 'admin'; its token is in %s/admin.token", srv->opt.data_dir);
	return st;
}

/* The helper threads, the writer and the background thread, have a domain
 * like the workers' and a connection of their own each. */
static enum tr_status start_helpers(struct server *srv, struct tr_error *err)
{
	struct domain d = {
		.keyring = srv->keyring,
		.keep_versions = srv->opt.keep_versions,
		.purge_after = srv->opt.purge_after,
	};
	enum tr_status st;

	if (srv->opt.sync_read_audit)
		log_info("audit: a read's records are on disk before its answer leaves (--sync-read-audit)");
	else
		log_info("audit: a read's records are written before its answer leaves and synced to disk right after");
	st = writer_start(&d, srv->db_dsn, srv->opt.sync_read_audit ? STORE_DURABLE : STORE_FLUSH_LATER, &srv->writer,
	                  err);
	return st == TR_OK ? background_start(&d, srv->db_dsn, &srv->background, err) : st;
}

/* --- sockets ------------------------------------------------------------- */

static int bind_one(const struct addrinfo *ai, unsigned port, struct tr_error *err)
{
	int one = 1;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	struct sockaddr_storage addr;

	if (fd < 0) {
		tr_error_set(err, TR_EUNAVAIL, "socket: %s", strerror(errno));
		return -1;
	}
	memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
	if (addr.ss_family == AF_INET)
		((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)port);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	/* Accepted sockets inherit it (Linux): replies and TLS handshake
	 * records go out at once instead of waiting for delayed ACKs. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, ai->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
		tr_error_set(err, TR_EUNAVAIL, "cannot listen on %s: %s", "the requested address", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The port a bound socket got (for --listen HOST:0). */
static unsigned bound_port(int fd)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);

	if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
		return 0;
	if (addr.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&addr)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
}

/* Opens one listening socket per worker, all on the same address. */
/*
 * SO_REUSEPORT lets any process of the same user bind the same port, so a
 * second tresor started by mistake would silently share connections with
 * the first. A plain bind (without SO_REUSEPORT) tells whether anyone
 * listens there already.
 */
static bool port_taken(const struct addrinfo *ai, unsigned port)
{
	int one = 1;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	struct sockaddr_storage addr;
	bool taken;

	if (fd < 0)
		return false;
	memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
	if (addr.ss_family == AF_INET)
		((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)port);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	taken = bind(fd, (struct sockaddr *)&addr, ai->ai_addrlen) != 0 && errno == EADDRINUSE;
	close(fd);
	return taken;
}

static enum tr_status open_sockets(struct server *srv, struct tr_error *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	unsigned port = srv->opt.port;
	int rc;

	/* "localhost" is 127.0.0.1: Debian's /etc/hosts also names ::1 first,
	 * and a server on ::1 alone is out of reach of IPv4 clients. */
	if (strcasecmp(srv->opt.host, "localhost") == 0)
		hints.ai_family = AF_INET;
	rc = getaddrinfo(srv->opt.host, "0", &hints, &ai);

	if (rc != 0)
		return tr_error_set(err, TR_EINVAL, "cannot resolve listen host '%s': %s", srv->opt.host,
		                    gai_strerror(rc));
	if (port != 0 && port_taken(ai, port)) {
		freeaddrinfo(ai);
		return tr_error_set(err, TR_EUNAVAIL, "cannot listen on %s:%u: address already in use", srv->opt.host,
		                    port);
	}
	for (int i = 0; i < srv->nworkers; i++) {
		srv->workers[i].fd = bind_one(ai, port, err);
		if (srv->workers[i].fd < 0) {
			freeaddrinfo(ai);
			return tr_error_set(err, TR_EUNAVAIL, "cannot listen on %s:%u: %s", srv->opt.host, port,
			                    strerror(errno));
		}
		port = bound_port(srv->workers[i].fd);
	}
	srv->opt.port = port;
	freeaddrinfo(ai);
	return TR_OK;
}

/* --- workers ------------------------------------------------------------- */

/*
 * A request is in flight from its dispatch until its reply is written
 * (request_done) or its connection goes (connection_gone): evhttp frees a
 * request whose reply could not be written without its completion
 * callback. (A client that left while its request waited for the writer
 * or the background thread is noticed then: evhttp does not read from a
 * connection meanwhile.) A stopping worker ends its loop when none is
 * left.
 */
static void request_over(struct worker *w)
{
	w->in_flight--;
	if (w->stopping && w->in_flight == 0)
		event_base_loopexit(w->base, NULL);
}

static void request_done(struct evhttp_request *req, void *arg)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	if (evcon) /* kept alive for the next request: no longer this one's */
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	request_over(arg);
}

static void connection_gone(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	request_over(arg);
}

static void handle_request(struct evhttp_request *req, void *arg)
{
	struct worker *w = arg;

	if (w->closed) {
		/* The last replies are being handed out (stop_helpers): nothing new. */
		evhttp_send_error(req, HTTP_SERVUNAVAIL, "shutting down");
		return;
	}
	w->in_flight++;
	evhttp_request_set_on_complete_cb(req, request_done, w);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), connection_gone, w);
	routes_dispatch(req, &w->routes);
}

/* Runs on the worker's thread when the main thread asks it to stop. */
static void stop_worker(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct timeval drain = {DRAIN_SECONDS, 0};

	(void)fd;
	(void)what;
	w->stopping = 1;
	if (w->purge_timer)
		event_del(w->purge_timer);
	if (w->bound) {
		evhttp_del_accept_socket(w->http, w->bound);
		w->bound = NULL;
	}
	if (w->in_flight == 0)
		event_base_loopexit(w->base, NULL);
	else
		event_base_loopexit(w->base, &drain);
}

/* Runs every PURGE_INTERVAL seconds on worker 0: deletes secrets that
 * expired more than purge_after seconds ago. Frequent small sweeps keep
 * each write transaction short. */
/* One sweep, handed to the writer: under write load the writer holds the
 * write lock almost all the time, and a sweep on a connection of its own
 * would wait for it in SQLite's busy handler with worker 0's loop stopped. */
struct purge_sweep {
	int64_t purged;
	bool failed;
	struct tr_error err;
};

/* On the writer thread, inside a group. */
static void purge_run(struct domain *d, void *arg)
{
	struct purge_sweep *p = arg;

	memset(&p->err, 0, sizeof(p->err)); /* a run again starts afresh (writer_run_fn) */
	if (domain_group_enter(d, &p->err) != TR_OK) {
		p->failed = true;
		return;
	}
	p->failed = secrets_purge_expired(d, &p->purged, &p->err) != TR_OK;
	domain_group_leave(d, !p->failed);
}

/* Back on worker 0. */
static void purge_done(void *arg, bool committed)
{
	struct purge_sweep *p = arg;

	if (p->failed)
		log_warn("purging expired secrets failed: %s", p->err.message);
	else if (!committed)
		log_warn("purging expired secrets failed: storage unavailable");
	else if (p->purged > 0)
		log_info("purged %lld expired secret(s)", (long long)p->purged);
	free(p);
}

static void purge_expired(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct purge_sweep *p = calloc(1, sizeof(*p));
	struct tr_error err = {0};

	(void)fd;
	(void)what;
	if (!p || writer_submit(w->routes.writer, w->base, purge_run, purge_done, p, STORE_DURABLE, 0, &err) != TR_OK) {
		log_warn("purging expired secrets failed: out of memory");
		free(p);
	}
}

static enum tr_status start_purge_timer(struct worker *w, struct tr_error *err)
{
	struct timeval every = {PURGE_INTERVAL, 0};

	if (!(w->purge_timer = event_new(w->base, -1, EV_PERSIST, purge_expired, w)) ||
	    event_add(w->purge_timer, &every) != 0)
		return tr_error_set(err, TR_EINTERNAL, "cannot create the purge timer");
	return TR_OK;
}

/* An event loop whose epoll changes wait for the next epoll_wait: evhttp
 * turns reading and writing on and off around every request, and most of
 * those changes cancel out before the loop waits again (4 epoll_ctl calls
 * per request without this). libevent's caveat: the changelist is unsafe
 * with descriptors that are dup()s of one another; the server has none. */
static struct event_base *new_event_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (!cfg)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static enum tr_status setup_worker(struct server *srv, struct worker *w, struct tr_error *err)
{
	enum tr_status st;

	w->domain.keyring = srv->keyring;
	w->domain.keep_versions = srv->opt.keep_versions;
	w->domain.purge_after = srv->opt.purge_after;
	w->routes.domain = &w->domain;
	w->routes.writer = srv->writer;
	w->routes.background = srv->background;
	if ((st = store_open(srv->db_dsn, &w->domain.store, err)) != TR_OK)
		return st;
	/* With --sync-read-audit a read's records are on disk before its
	 * answer: only the writer can do that. */
	if (!srv->opt.sync_read_audit &&
	    (st = read_journal_open(srv->opt.data_dir, srv->writer, &w->routes.journal, err)) != TR_OK)
		return st;
	if (!(w->base = new_event_base()) || !(w->http = evhttp_new(w->base)))
		return tr_error_set(err, TR_EINTERNAL, "cannot create event loop");
	evhttp_set_allowed_methods(w->http, (ev_uint16_t)routes_allowed_methods());
	evhttp_set_max_body_size(w->http, HTTP_TRANSPORT_MAX_BODY);
	evhttp_set_max_headers_size(w->http, HTTP_MAX_HEADERS);
	evhttp_set_timeout(w->http, SERVER_HTTP_TIMEOUT_SECONDS);
	evhttp_set_gencb(w->http, handle_request, w);
	if (srv->tls)
		tls_server_attach(srv->tls, w->http);
	if (!(w->bound = evhttp_accept_socket_with_handle(w->http, w->fd)))
		return tr_error_set(err, TR_EINTERNAL, "cannot accept on socket");
	w->fd = -1; /* evhttp owns it now */
	if (!(w->stop_event = event_new(w->base, -1, 0, stop_worker, w)))
		return tr_error_set(err, TR_EINTERNAL, "cannot create stop event");
	return w->index == 0 ? start_purge_timer(w, err) : TR_OK;
}

/*
 * The worker's loop, one iteration at a time: the GETs and /resolve reads
 * served in one iteration share one SQLite read transaction (routes.c opens
 * it and leaves it open), which is ended here when the iteration is over.
 * Beginning and ending one is a good part of a GET's cost (WAL read locks:
 * fcntl calls and a mutex the connections of the process share), and once
 * another connection has committed, the first read of each one empties the
 * connection's page cache.
 *
 * It changes nothing that a client can see. The snapshot is taken at the
 * first read of the iteration, after epoll reported the requests it serves,
 * so each of those requests was sent before the snapshot: whatever was
 * acknowledged to anyone before it was sent (a write, a revocation) is in
 * it. A transaction that writes on the worker's connection ends it first
 * (domain_begin). Journaled audit records are acknowledged before they are
 * in the log: the readers of the log read in a transaction of their own
 * (routes.c, wait_for_records).
 */
static void *worker_main(void *arg)
{
	struct worker *w = arg;

	while (event_base_loop(w->base, EVLOOP_ONCE) == 0) {
		domain_read_end(&w->domain);
		if (event_base_got_exit(w->base) || event_base_got_break(w->base))
			break;
	}
	domain_read_end(&w->domain);
	if (w->in_flight > 0)
		log_warn("worker %d: %d requests still in flight when the drain ended", w->index, w->in_flight);
	return NULL;
}

static void teardown_worker(struct worker *w)
{
	if (w->purge_timer)
		event_free(w->purge_timer);
	if (w->stop_event)
		event_free(w->stop_event);
	if (w->http)
		evhttp_free(w->http);
	if (w->base)
		event_base_free(w->base);
	if (w->fd >= 0)
		close(w->fd);
	domain_read_end(&w->domain); /* left by requests served after the loop (stop_helpers) */
	store_close(w->domain.store);
}

/* --- main ---------------------------------------------------------------- */

static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static enum tr_status start(struct server *srv, struct tr_error *err)
{
	enum tr_status st;

	if (snprintf(srv->db_dsn, sizeof(srv->db_dsn), "sqlite:%s/tresor.db", srv->opt.data_dir) >=
	    (int)sizeof(srv->db_dsn))
		return tr_error_set(err, TR_EINVAL, "data directory path is too long");
	if (srv->opt.tls_cert[0] &&
	    (st = tls_server_new(srv->opt.tls_cert, srv->opt.tls_key,
	                         srv->opt.tls_client_ca[0] ? srv->opt.tls_client_ca : NULL, &srv->tls, err)) != TR_OK)
		return st;
	http_write_replies_at_once(srv->tls == NULL);
	if ((st = make_data_dir(srv->opt.data_dir, err)) != TR_OK || (st = claim_data_dir(srv, err)) != TR_OK ||
	    (st = open_keyring(srv, err)) != TR_OK || (st = bootstrap(srv, err)) != TR_OK)
		return st;
	if ((st = start_helpers(srv, err)) != TR_OK)
		return st;
	srv->nworkers = srv->opt.workers;
	srv->workers = calloc((size_t)srv->nworkers, sizeof(*srv->workers));
	if (!srv->workers)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	for (int i = 0; i < srv->nworkers; i++)
		srv->workers[i] = (struct worker){.index = i, .fd = -1};
	if ((st = open_sockets(srv, err)) != TR_OK)
		return st;
	for (int i = 0; i < srv->nworkers; i++)
		if ((st = setup_worker(srv, &srv->workers[i], err)) != TR_OK)
			return st;
	return TR_OK;
}

static void log_listening(const struct server *srv)
{
	char addr[300];

	format_listen(addr, sizeof(addr), &srv->opt);
	log_info("tresor listening on %s://%s (%d workers, data in %s)", srv->tls ? "https" : "http", addr,
	         srv->nworkers, srv->opt.data_dir);
	if (srv->opt.tls_client_ca[0])
		log_info("TLS clients must present a certificate signed by %s", srv->opt.tls_client_ca);
}

/* After the workers: the background thread ends its job (a rotation stops
 * between two versions, a verification before its next page; what is
 * still queued is answered 503) and the writer finishes what is queued;
 * then each worker loop runs once more to hand those last requests their
 * replies. */
static void stop_helpers(struct server *srv)
{
	for (int i = 0; srv->workers && i < srv->nworkers; i++) {
		struct routes_worker *routes = &srv->workers[i].routes;

		srv->workers[i].closed = true;
		routes->writer = NULL;
		routes->background = NULL;
		read_journal_close(routes->journal); /* queued before the writer stops */
		routes->journal = NULL;
		if (srv->workers[i].purge_timer)
			event_del(srv->workers[i].purge_timer);
	}
	background_stop(srv->background); /* its last replies wait on their bases, as the writer's do */
	srv->background = NULL;
	writer_stop(srv->writer);
	srv->writer = NULL;
	for (int i = 0; srv->workers && i < srv->nworkers; i++)
		if (srv->workers[i].base)
			event_base_loop(srv->workers[i].base, EVLOOP_NONBLOCK);
}

static int run_workers(struct server *srv, const sigset_t *signals)
{
	int started = 0, sig = 0;

	for (; started < srv->nworkers; started++)
		if (pthread_create(&srv->workers[started].thread, NULL, worker_main, &srv->workers[started]) != 0)
			break;
	if (started == srv->nworkers) {
		log_listening(srv);
		sigwait(signals, &sig);
		log_info("received %s, draining requests", sig == SIGINT ? "SIGINT" : "SIGTERM");
		rotation_request_stop(); /* a running rotation stops between two versions */
		audit_request_stop();    /* and a verification of the log before its next page */
	} else {
		log_error("cannot start worker threads");
	}
	for (int i = 0; i < started; i++)
		event_active(srv->workers[i].stop_event, 0, 0);
	for (int i = 0; i < started; i++)
		pthread_join(srv->workers[i].thread, NULL);
	stop_helpers(srv);
	return started == srv->nworkers ? 0 : 1;
}

static void shutdown_server(struct server *srv)
{
	stop_helpers(srv); /* if the workers never ran */
	for (int i = 0; srv->workers && i < srv->nworkers; i++)
		teardown_worker(&srv->workers[i]);
	free(srv->workers);
	tls_server_free(srv->tls); /* after every evhttp that used it */
	keyring_free(srv->keyring);
	server_options_clear(&srv->opt);
	if (srv->data_dir_lock >= 0)
		close(srv->data_dir_lock); /* last: every connection is closed */
}

int server_main(int argc, char **argv)
{
	struct server srv = {.data_dir_lock = -1};
	struct tr_error err = {0};
	sigset_t signals;
	int rc = 1;

	/* First: the config tree may hold key material, and must be wiped
	 * when freed like every other JSON tree. */
	jsonmem_init();
	if (server_options_load(&srv.opt, argc, argv, &err) != TR_OK) {
		fprintf(stderr, "tresor server: %s\n", err.message);
		return 1;
	}
	if (srv.opt.help) {
		server_options_clear(&srv.opt);
		server_options_usage();
		return 0;
	}
	log_set_level((enum log_level)srv.opt.log_level);
	if (!listen_allowed(&srv.opt)) {
		server_options_clear(&srv.opt);
		return 1;
	}
	harden_process();
	http_use_wiping_memory(); /* before libevent allocates anything */
	if (sodium_init() < 0 || evthread_use_pthreads() != 0) {
		log_error("cannot initialise libsodium or libevent threads");
		server_options_clear(&srv.opt);
		return 1;
	}
	block_signals(&signals);
	if (start(&srv, &err) == TR_OK)
		rc = run_workers(&srv, &signals);
	else
		log_error("%s", err.message);
	shutdown_server(&srv);
	if (rc == 0)
		log_info("tresor stopped");
	return rc;
}
