/*
 * client.c - the command line's HTTP client: address, token, one request
 * at a time over libevent's HTTP client (evhttp), JSON in and out.
 *
 * Each request gets a private event_base and a new connection, made to
 * the server's addresses in turn until one answers, and runs that loop
 * until the answer is complete, the connection fails or a deadline
 * passes. https:// goes through libevent's OpenSSL bufferevents, with a
 * TLS context made on the first https request. docs/architecture.md says
 * why this is not libcurl.
 *
 * The token lives in cl->auth_value ("Bearer …") and in the copies
 * libevent makes of it for the request. Request and response bodies carry
 * secret values (create, set, /access) or tokens (POST /v2/tokens). Ours
 * are wiped after use; libevent's are wiped when freed, because a process
 * with a client has libevent allocate through the wiping allocator below,
 * and OpenSSL wipes its plaintext buffers (SSL_OP_CLEANSE_PLAINTEXT).
 * An https:// server is always verified, certificate chain and name (or
 * IP address), against the CA bundle of --cacert/TRESOR_CACERT or the
 * system's; nothing turns that off, since the token goes to whoever
 * answers.
 */
#include "cli/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sodium.h>

#include "common/fdread.h"
#include "common/wipemem.h"

#ifndef TRESOR_VERSION
#define TRESOR_VERSION "0.1.0"
#endif

#define TOKEN_FILE_MAX       4096        /* bytes of a token file */
#define CONNECT_TIMEOUT_SECS 10L         /* to connect, over all the server's addresses */
#define REQUEST_TIMEOUT_SECS 120L        /* for the whole request, connecting included */
#define MAX_HEADERS_SIZE     (64 * 1024) /* bytes of a response's headers */
#define AUTH_SCHEME          "Bearer "

/* Where the server is: the address, taken apart. */
struct server {
	bool tls;        /* https:// */
	bool ip_literal; /* host is an IPv4 or IPv6 address, not a name */
	char *host;      /* a name or an address; IPv6 without brackets */
	int port;
	char *host_header; /* the Host header: host, [v6], with ":port" unless the default */
	char *prefix;      /* the address's path ("" or e.g. "/tresor"), put before each request's */
};

struct client {
	char *base; /* "http://127.0.0.1:8200", no trailing '/': for messages */
	struct server server;
	char *auth_value;          /* AUTH_SCHEME + token; wiped on close */
	char *cacert;              /* CA bundle for https, or NULL: the system's */
	SSL_CTX *tls;              /* for https, made by the first request */
};

/* A response body, copied out of libevent's buffer. */
struct response_buf {
	char *data;
	size_t len;
};

/* ---- libevent: memory wiped when freed, warnings discarded ---- */

/* libevent's warnings would land on the user's terminal; a failed request
 * is reported by client_request instead. */
static void event_log_discard(int severity, const char *msg)
{
	(void)severity;
	(void)msg;
}

/*
 * Has libevent allocate through the wiping allocator (it holds the token
 * and the bodies) and keep quiet. It must come before any other use of
 * libevent in the process: the command line uses libevent only through
 * this client, and `tresor server` never opens one.
 */
static void event_library_setup(void)
{
	static bool done;

	if (done)
		return;
	event_set_mem_functions(wipe_malloc, wipe_realloc, wipe_free);
	event_set_log_callback(event_log_discard);
	done = true;
}

/* ---- paths ---- */

static void path_append(struct client_path *p, const char *text, size_t len)
{
	if (p->failed)
		return;
	if (len >= sizeof(p->text) - p->len) {
		p->failed = true;
		return;
	}
	memcpy(p->text + p->len, text, len);
	p->len += len;
	p->text[p->len] = '\0';
}

/* RFC 3986's unreserved characters, which stay as they are in a path. */
static bool char_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == '_' || c == '~';
}

/* Appends text percent-encoded (everything but A-Z a-z 0-9 - . _ ~). */
static void path_append_escaped(struct client_path *p, const char *text, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char escaped[3] = {'%', 0, 0};
	unsigned char c;
	size_t i;

	for (i = 0; i < len; i++) {
		c = (unsigned char)text[i];
		if (char_unreserved(c)) {
			path_append(p, &text[i], 1);
			continue;
		}
		escaped[1] = hex[c >> 4];
		escaped[2] = hex[c & 0x0f];
		path_append(p, escaped, sizeof(escaped));
	}
}

void client_path_init(struct client_path *p, const char *literal)
{
	p->len = 0;
	p->text[0] = '\0';
	p->nquery = 0;
	p->failed = false;
	path_append(p, literal, strlen(literal));
}

void client_path_literal(struct client_path *p, const char *literal)
{
	path_append(p, literal, strlen(literal));
}

void client_path_segment(struct client_path *p, const char *segment, size_t len)
{
	path_append(p, "/", 1);
	path_append_escaped(p, segment, len);
}

void client_path_query(struct client_path *p, const char *key, const char *value)
{
	if (!value)
		return;
	path_append(p, p->nquery == 0 ? "?" : "&", 1);
	path_append(p, key, strlen(key));
	path_append(p, "=", 1);
	path_append_escaped(p, value, strlen(value));
	p->nquery++;
}

/* ---- the server's address ---- */

/* Copies the address without trailing slashes; it must be http(s). */
static enum tr_status addr_resolve(const char *flag, char **out, struct tr_error *err)
{
	const char *addr = flag;
	size_t scheme_len;
	size_t len;

	if (!addr || !*addr)
		addr = getenv("TRESOR_ADDR");
	if (!addr || !*addr)
		addr = CLIENT_DEFAULT_ADDR;
	if (strncasecmp(addr, "http://", 7) == 0)
		scheme_len = 7;
	else if (strncasecmp(addr, "https://", 8) == 0)
		scheme_len = 8;
	else
		return tr_error_set(err, TR_EINVAL, "the address '%s' is not an http:// or https:// URL", addr);
	len = strlen(addr);
	while (len > scheme_len && addr[len - 1] == '/')
		len--;
	*out = strndup(addr, len);
	if (!*out)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	return TR_OK;
}

/* A port number, 1 to 65535, all digits. */
static bool port_parse(const char *text, size_t len, int *out)
{
	int port = 0;
	size_t i;

	if (len == 0 || len > 5)
		return false;
	for (i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		port = port * 10 + (text[i] - '0');
	}
	if (port < 1 || port > 65535)
		return false;
	*out = port;
	return true;
}

/* A host name or IPv4 address: letters, digits, '-', '.', '_'. */
static bool host_name_ok(const char *host, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!char_unreserved((unsigned char)host[i]) || host[i] == '~')
			return false;
	}
	return len > 0;
}

/* The address's path goes into every request line: printable, no spaces,
 * no query or fragment. */
static bool prefix_ok(const char *prefix)
{
	for (; *prefix; prefix++) {
		if (*prefix < 0x21 || *prefix > 0x7e || *prefix == '?' || *prefix == '#')
			return false;
	}
	return true;
}

/* The host part of an address, found by authority_parse. */
struct authority {
	const char *host; /* not NUL-terminated */
	size_t host_len;
	bool bracketed; /* "[v6]" */
};

/* An IPv6 address, as written between brackets. */
static bool ipv6_ok(const char *host, size_t len)
{
	char text[INET6_ADDRSTRLEN];
	unsigned char addr[16];

	if (len >= sizeof(text))
		return false;
	memcpy(text, host, len);
	text[len] = '\0';
	return inet_pton(AF_INET6, text, addr) == 1;
}

/* Finds the host and the port in "host", "host:port", "[v6]" or "[v6]:port";
 * *port is left alone when there is none. False when either is not valid. */
static bool authority_parse(const char *auth, size_t len, struct authority *a, int *port)
{
	const char *end = auth + len;
	const char *host_end;
	const char *rest;

	a->bracketed = len > 0 && auth[0] == '[';
	a->host = auth + a->bracketed;
	if (a->bracketed) {
		host_end = memchr(a->host, ']', (size_t)(end - a->host));
		if (!host_end)
			return false;
		rest = host_end + 1;
	} else {
		host_end = memchr(auth, ':', len);
		if (!host_end)
			host_end = end;
		rest = host_end;
	}
	a->host_len = (size_t)(host_end - a->host);
	if (rest < end && (*rest != ':' || !port_parse(rest + 1, (size_t)(end - rest - 1), port)))
		return false;
	if (a->bracketed)
		return ipv6_ok(a->host, a->host_len);
	return host_name_ok(a->host, a->host_len);
}

/* "host", "[v6]", with ":port" when it is not the scheme's default. */
static char *host_header_make(const struct server *sv, bool bracketed)
{
	char port[8] = "";
	size_t len;
	char *header;

	if (sv->port != (sv->tls ? 443 : 80))
		snprintf(port, sizeof(port), ":%d", sv->port);
	len = strlen(sv->host) + strlen(port) + 3;
	header = malloc(len);
	if (header)
		snprintf(header, len, "%s%s%s%s", bracketed ? "[" : "", sv->host, bracketed ? "]" : "", port);
	return header;
}

/*
 * Takes base ("https://host:port/prefix", checked by addr_resolve) apart.
 * User names and passwords are refused: the token is the one credential,
 * and the address shows up in messages.
 */
static enum tr_status server_parse(const char *base, struct server *sv, struct tr_error *err)
{
	const char *auth = base + (strncasecmp(base, "https://", 8) == 0 ? 8 : 7);
	size_t len = strcspn(auth, "/");
	struct authority a;
	unsigned char v4[4];

	sv->tls = auth - base == 8;
	sv->port = sv->tls ? 443 : 80;
	if (memchr(auth, '@', len))
		return tr_error_set(err, TR_EINVAL, "the address must not hold a user name or password");
	if (!authority_parse(auth, len, &a, &sv->port))
		return tr_error_set(err, TR_EINVAL, "the address '%s' has no valid host and port", base);
	if (!prefix_ok(auth + len))
		return tr_error_set(err, TR_EINVAL, "the address '%s' has a query, a fragment or a space in its path",
				    base);
	sv->host = strndup(a.host, a.host_len);
	if (!sv->host)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	sv->ip_literal = a.bracketed || inet_pton(AF_INET, sv->host, v4) == 1;
	sv->host_header = host_header_make(sv, a.bracketed);
	sv->prefix = strdup(auth + len);
	if (!sv->host_header || !sv->prefix)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	return TR_OK;
}

static void server_clear(struct server *sv)
{
	free(sv->host);
	free(sv->host_header);
	free(sv->prefix);
}

/* ---- token and CA bundle ---- */

/*
 * The CA bundle: --cacert, else TRESOR_CACERT, else NULL (the system's).
 * Only an https:// address uses one; it must be readable, so that a typo is
 * reported as such rather than as a failed connection.
 */
static enum tr_status cacert_resolve(const char *flag, const char *base, char **out, struct tr_error *err)
{
	const char *path = flag;

	*out = NULL;
	if (!path || !*path)
		path = getenv("TRESOR_CACERT");
	if (!path || !*path || strncasecmp(base, "https://", 8) != 0)
		return TR_OK;
	if (access(path, R_OK) != 0)
		return tr_error_set(err, TR_EINVAL, "cannot read the CA bundle '%s': %s", path, strerror(errno));
	*out = strdup(path);
	if (!*out)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	return TR_OK;
}


/*
 * Takes ownership of token (a malloc'd string): trims trailing newlines and
 * checks it is one non-empty word of printable ASCII, so it cannot break
 * the header it goes into. On failure the token is wiped and freed.
 */
static enum tr_status token_accept(char *token, const char *source, char **out, struct tr_error *err)
{
	size_t len = strlen(token);
	size_t i;

	while (len > 0 && (token[len - 1] == '\n' || token[len - 1] == '\r'))
		token[--len] = '\0';
	for (i = 0; i < len; i++) {
		if (token[i] < 0x21 || token[i] > 0x7e)
			break;
	}
	if (len == 0 || i < len) {
		wipe_free(token);
		return tr_error_set(err, TR_EUNAUTH, "the token in %s is empty or malformed", source);
	}
	*out = token;
	return TR_OK;
}

static enum tr_status token_read_file(const char *path, char **out, struct tr_error *err)
{
	char source[PATH_MAX + 16];
	char *buf;
	ssize_t n;
	int fd;
	int saved;

	snprintf(source, sizeof(source), "'%s'", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tr_error_set(err, TR_EUNAUTH, "cannot read the token file '%s': %s", path, strerror(errno));
	buf = malloc(TOKEN_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	n = fd_read_up_to(fd, buf, TOKEN_FILE_MAX + 1);
	saved = errno;
	close(fd);
	if (n < 0 || n > TOKEN_FILE_MAX) {
		sodium_memzero(buf, TOKEN_FILE_MAX + 1);
		free(buf);
		if (n < 0)
			return tr_error_set(err, TR_EUNAUTH, "cannot read the token file '%s': %s", path,
					    strerror(saved));
		return tr_error_set(err, TR_EUNAUTH, "the token file '%s' is too large", path);
	}
	buf[n] = '\0';
	return token_accept(buf, source, out, err);
}

static enum tr_status token_from_env(const char *value, char **out, struct tr_error *err)
{
	char *copy = strdup(value);

	if (!copy)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	return token_accept(copy, "TRESOR_TOKEN", out, err);
}

/* The fallback: the data directory's admin.token, when readable. */
static enum tr_status token_from_data_dir(char **out, struct tr_error *err)
{
	const char *dir = getenv("TRESOR_DATA_DIR");
	char path[PATH_MAX];
	int n;

	if (dir && *dir) {
		n = snprintf(path, sizeof(path), "%s/admin.token", dir);
		if (n > 0 && (size_t)n < sizeof(path) && access(path, R_OK) == 0)
			return token_read_file(path, out, err);
	}
	if (access("./tresor-data/admin.token", R_OK) == 0)
		return token_read_file("./tresor-data/admin.token", out, err);
	return tr_error_set(err, TR_EUNAUTH, "no token: set TRESOR_TOKEN or pass --token-file PATH");
}

/* --token-file, else TRESOR_TOKEN, else the data directory's admin.token. */
static enum tr_status token_load(const char *token_file, char **out, struct tr_error *err)
{
	const char *env = getenv("TRESOR_TOKEN");

	if (token_file)
		return token_read_file(token_file, out, err);
	if (env && *env)
		return token_from_env(env, out, err);
	return token_from_data_dir(out, err);
}

/* "Bearer <token>", the Authorization header's value. */
static enum tr_status auth_value_make(const char *token, char **out, struct tr_error *err)
{
	size_t len = strlen(AUTH_SCHEME) + strlen(token) + 1;
	char *value = malloc(len);

	if (!value)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	snprintf(value, len, "%s%s", AUTH_SCHEME, token);
	*out = value;
	return TR_OK;
}

/* ---- open and close ---- */

enum tr_status client_open(struct client **out, const char *addr, const char *token_file, const char *cacert,
			   struct tr_error *err)
{
	struct client *cl;
	char *token = NULL;
	enum tr_status st;

	event_library_setup();
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	st = addr_resolve(addr, &cl->base, err);
	if (st == TR_OK)
		st = server_parse(cl->base, &cl->server, err);
	if (st == TR_OK)
		st = cacert_resolve(cacert, cl->base, &cl->cacert, err);
	if (st == TR_OK)
		st = token_load(token_file, &token, err);
	if (st == TR_OK)
		st = auth_value_make(token, &cl->auth_value, err);
	wipe_free(token);
	if (st != TR_OK) {
		client_close(cl);
		return st;
	}
	*out = cl;
	return TR_OK;
}

void client_close(struct client *cl)
{
	if (!cl)
		return;
	if (cl->tls)
		SSL_CTX_free(cl->tls);
	wipe_free(cl->auth_value);
	server_clear(&cl->server);
	free(cl->cacert);
	free(cl->base);
	free(cl);
}

/* ---- TLS ---- */

/* Trusts the CA bundle, or the system's CA certificates. */
static enum tr_status tls_trust(const struct client *cl, SSL_CTX *ctx, struct tr_error *err)
{
	int ok;

	if (cl->cacert)
		ok = SSL_CTX_load_verify_locations(ctx, cl->cacert, NULL);
	else
		ok = SSL_CTX_set_default_verify_paths(ctx);
	ERR_clear_error();
	if (ok == 1)
		return TR_OK;
	if (cl->cacert)
		return tr_error_set(err, TR_EINVAL, "the CA bundle '%s' holds no usable certificate", cl->cacert);
	return tr_error_set(err, TR_EUNAVAIL, "cannot load the system's CA certificates");
}

/*
 * Makes cl->tls, the context of every https connection, on the first
 * https request. TLS 1.2 at least, the server always verified.
 */
static enum tr_status tls_context(struct client *cl, struct tr_error *err)
{
	enum tr_status st;
	SSL_CTX *ctx;

	if (cl->tls)
		return TR_OK;
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return tr_error_set(err, TR_EINTERNAL, "cannot set up TLS");
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	st = tls_trust(cl, ctx, err);
	if (st != TR_OK) {
		SSL_CTX_free(ctx);
		return st;
	}
	cl->tls = ctx;
	return TR_OK;
}

/* The name (with SNI) or the IP address the certificate must be for. */
static bool tls_expect_server(const struct client *cl, SSL *ssl)
{
	const char *host = cl->server.host;

	if (cl->server.ip_literal)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
	return SSL_set1_host(ssl, host) == 1 && SSL_set_tlsext_host_name(ssl, host) == 1;
}

/* A bufferevent that will speak TLS to the server; *ssl is its session. */
static struct bufferevent *tls_bufferevent(const struct client *cl, struct event_base *base, SSL **ssl)
{
	struct bufferevent *bev;

	*ssl = SSL_new(cl->tls);
	if (!*ssl)
		return NULL;
	if (!tls_expect_server(cl, *ssl)) {
		SSL_free(*ssl);
		return NULL;
	}
	/* On failure (out of memory) libevent may already have freed the
	 * session: it is not freed again here. */
	bev = bufferevent_openssl_socket_new(base, -1, *ssl, BUFFEREVENT_SSL_CONNECTING,
						BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev)
		*ssl = NULL;
	return bev;
}

/* ---- one request ---- */

/* What is sent. */
struct request_spec {
	enum evhttp_cmd_type cmd;
	const char *uri;     /* prefix + path */
	const char *payload; /* JSON, or NULL */
	size_t payload_len;
};

/* How a request, or one attempt at it, ended. */
enum outcome {
	OUT_PENDING,         /* no end yet */
	OUT_ANSWERED,        /* x->status and x->body hold the answer */
	OUT_CONNECT_FAILED,  /* no connection to this address: the next one may do */
	OUT_CONNECT_TIMEOUT, /* no connection within CONNECT_TIMEOUT_SECS */
	OUT_TIMEOUT,         /* no complete answer within REQUEST_TIMEOUT_SECS */
	OUT_BROKEN,          /* the connection was made, then failed */
	OUT_UNVERIFIED,      /* the server's certificate did not verify */
	OUT_TLS_FAILED,      /* the TLS handshake failed otherwise */
	OUT_TOO_LARGE,       /* the answer is over the limits */
	OUT_NO_MEMORY,
};

/* One request: its private loop, the current attempt, the result. */
struct exchange {
	struct event_base *base;
	struct event *timer;
	struct timespec start;
	/* the current attempt */
	struct evhttp_connection *evcon;
	SSL *ssl;        /* its TLS session (owned by evcon), or NULL */
	bool connecting; /* the timer waits for the connection */
	bool was_open;   /* the connection had been made when it closed */
	bool error_seen; /* libevent reported error */
	enum evhttp_request_error error;
	int os_errno; /* errno when libevent reported the failure */
	/* the result */
	enum outcome outcome;
	long status;
	struct response_buf body;
	long verify_result;      /* for OUT_UNVERIFIED */
	unsigned long tls_error; /* for OUT_TLS_FAILED, an OpenSSL error code */
};

static const struct {
	const char *name;
	enum evhttp_cmd_type cmd;
} methods[] = {
    {"GET", EVHTTP_REQ_GET},     {"POST", EVHTTP_REQ_POST},     {"PUT", EVHTTP_REQ_PUT},
    {"PATCH", EVHTTP_REQ_PATCH}, {"DELETE", EVHTTP_REQ_DELETE},
};

static bool method_parse(const char *method, enum evhttp_cmd_type *out)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(method, methods[i].name) == 0) {
			*out = methods[i].cmd;
			return true;
		}
	}
	return false;
}

static void response_clear(struct response_buf *b)
{
	if (b->data) {
		sodium_memzero(b->data, b->len);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
}

/* ---- deadlines ---- */

/* What is left of limit seconds since the request started. */
static struct timeval time_left(const struct exchange *x, long limit)
{
	struct timespec now;
	struct timeval left = {0, 0};
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = limit * 1000LL -
	     ((long long)(now.tv_sec - x->start.tv_sec) * 1000LL + (now.tv_nsec - x->start.tv_nsec) / 1000000LL);
	if (ms > 0) {
		left.tv_sec = (time_t)(ms / 1000);
		left.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	}
	return left;
}

/* Whether the current attempt's TCP connection is up. */
static bool connection_up(const struct exchange *x)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(x->evcon));

	return fd >= 0 && getpeername(fd, (struct sockaddr *)&peer, &len) == 0;
}

/*
 * The one timer: first the connect deadline, then, once the TCP connection
 * is up, the request's (a TLS handshake counts towards the latter).
 * libevent 2.1 has no connect timeout apart from its read/write one.
 */
static void deadline_passed(evutil_socket_t fd, short what, void *arg)
{
	struct exchange *x = arg;
	struct timeval left;

	(void)fd;
	(void)what;
	if (x->connecting && connection_up(x)) {
		x->connecting = false;
		left = time_left(x, REQUEST_TIMEOUT_SECS);
		evtimer_add(x->timer, &left);
		return;
	}
	x->outcome = x->connecting ? OUT_CONNECT_TIMEOUT : OUT_TIMEOUT;
	event_base_loopbreak(x->base);
}

/* ---- libevent's callbacks ---- */

/* Copies the answer out of libevent's buffer. */
static enum outcome response_take(struct exchange *x, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);

	x->status = evhttp_request_get_response_code(req);
	if (len > CLIENT_MAX_RESPONSE)
		return OUT_TOO_LARGE;
	if (len == 0)
		return OUT_ANSWERED;
	x->body.data = malloc(len);
	if (!x->body.data)
		return OUT_NO_MEMORY;
	x->body.len = len;
	if (evbuffer_remove(in, x->body.data, len) != (ev_ssize_t)len)
		return OUT_NO_MEMORY;
	return OUT_ANSWERED;
}

/*
 * The request ended: with an answer, or (req NULL, or no status) without.
 * libevent reports a refused connection with no error callback before,
 * and with errno already overwritten (see failure_reason).
 */
static void request_done(struct evhttp_request *req, void *arg)
{
	struct exchange *x = arg;

	if (!x->error_seen)
		x->os_errno = errno;
	if (req && evhttp_request_get_response_code(req) > 0)
		x->outcome = response_take(x, req);
	else if (x->error_seen && x->error == EVREQ_HTTP_DATA_TOO_LONG)
		x->outcome = OUT_TOO_LARGE;
	else if (x->error_seen && x->error == EVREQ_HTTP_TIMEOUT)
		x->outcome = OUT_TIMEOUT;
	else
		x->outcome = x->was_open ? OUT_BROKEN : OUT_CONNECT_FAILED;
	event_base_loopbreak(x->base);
}

/* Comes before request_done when libevent knows why it failed. */
static void request_failed(enum evhttp_request_error error, void *arg)
{
	struct exchange *x = arg;

	x->os_errno = errno;
	x->error = error;
	x->error_seen = true;
}

/* libevent calls this only for a connection that had been made. */
static void connection_closed(struct evhttp_connection *evcon, void *arg)
{
	struct exchange *x = arg;

	(void)evcon;
	x->was_open = true;
}

/* ---- one attempt: one connection to one address ---- */

static bool request_headers_add(const struct client *cl, struct evhttp_request *req, const struct request_spec *rq)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char length[24];
	bool ok;

	ok = evhttp_add_header(h, "Host", cl->server.host_header) == 0 &&
	     evhttp_add_header(h, "Authorization", cl->auth_value) == 0 &&
	     evhttp_add_header(h, "Accept", "application/json") == 0 &&
	     evhttp_add_header(h, "User-Agent", "tresor/" TRESOR_VERSION) == 0;
	if (ok && rq->payload) {
		snprintf(length, sizeof(length), "%zu", rq->payload_len);
		ok = evhttp_add_header(h, "Content-Type", "application/json") == 0 &&
		     evhttp_add_header(h, "Content-Length", length) == 0;
	}
	return ok;
}

static struct evhttp_request *request_make(const struct client *cl, struct exchange *x, const struct request_spec *rq)
{
	struct evhttp_request *req = evhttp_request_new(request_done, x);

	if (!req)
		return NULL;
	evhttp_request_set_error_cb(req, request_failed);
	if (!request_headers_add(cl, req, rq) ||
	    (rq->payload && evbuffer_add(evhttp_request_get_output_buffer(req), rq->payload, rq->payload_len) != 0)) {
		evhttp_request_free(req);
		return NULL;
	}
	return req;
}

/* A connection to ip; false when out of memory. */
static bool connection_make(const struct client *cl, struct exchange *x, const char *ip, int family)
{
	struct bufferevent *bev = NULL;

	if (cl->server.tls && !(bev = tls_bufferevent(cl, x->base, &x->ssl)))
		return false;
	x->evcon = evhttp_connection_base_bufferevent_new(x->base, NULL, bev, ip, (ev_uint16_t)cl->server.port);
	if (!x->evcon) {
		if (bev)
			bufferevent_free(bev);
		x->ssl = NULL;
		return false;
	}
	evhttp_connection_set_family(x->evcon, family);
	evhttp_connection_set_retries(x->evcon, 0);
	evhttp_connection_set_timeout(x->evcon, (int)REQUEST_TIMEOUT_SECS);
	evhttp_connection_set_max_headers_size(x->evcon, MAX_HEADERS_SIZE);
	evhttp_connection_set_max_body_size(x->evcon, CLIENT_MAX_RESPONSE);
	evhttp_connection_set_closecb(x->evcon, connection_closed, x);
	return true;
}

/* Tells a failed TLS handshake from a failed connection. */
static void tls_failure_check(struct exchange *x)
{
	if (!x->ssl || x->outcome != OUT_CONNECT_FAILED)
		return;
	x->verify_result = SSL_get_verify_result(x->ssl);
	x->tls_error = bufferevent_get_openssl_error(evhttp_connection_get_bufferevent(x->evcon));
	/* Without an OpenSSL error (a library code), it was the connection:
	 * libevent records a failed read or write as SSL_ERROR_SYSCALL. */
	if (x->verify_result != X509_V_OK)
		x->outcome = OUT_UNVERIFIED;
	else if (ERR_GET_LIB(x->tls_error) != 0)
		x->outcome = OUT_TLS_FAILED;
	ERR_clear_error();
}

/* Sends the request over a new connection to ip and runs the loop until it
 * ends; x->outcome says how. False when out of memory. */
static bool attempt_run(const struct client *cl, struct exchange *x, const struct request_spec *rq, const char *ip,
			int family)
{
	struct evhttp_request *req;
	struct timeval left;
	bool ok;

	x->outcome = OUT_PENDING;
	x->connecting = true;
	x->was_open = false;
	x->error_seen = false;
	if (!connection_make(cl, x, ip, family))
		return false;
	req = request_make(cl, x, rq);
	ok = req && evhttp_make_request(x->evcon, req, rq->cmd, rq->uri) == 0;
	if (req && !ok)
		evhttp_request_free(req); /* not queued: libevent did not take it */
	if (ok) {
		left = time_left(x, CONNECT_TIMEOUT_SECS);
		evtimer_add(x->timer, &left);
		event_base_dispatch(x->base);
		evtimer_del(x->timer);
		tls_failure_check(x);
	}
	evhttp_connection_free(x->evcon);
	x->evcon = NULL;
	x->ssl = NULL;
	return ok;
}

/* ---- the whole request ---- */

static enum tr_status addresses_lookup(const struct client *cl, struct addrinfo **out, struct tr_error *err)
{
	struct addrinfo hints = {0};
	char port[8];
	int rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", cl->server.port);
	rc = getaddrinfo(cl->server.host, port, &hints, out);
	if (rc == 0)
		return TR_OK;
	return tr_error_set(err, TR_EUNAVAIL, "cannot reach tresor at %s: %s", cl->base,
			    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
}

/* Tries the server's addresses in turn until one connects. */
static enum tr_status exchange_run(const struct client *cl, struct exchange *x, const struct request_spec *rq,
				   struct tr_error *err)
{
	char ip[NI_MAXHOST];
	struct addrinfo *list;
	struct addrinfo *ai;
	enum tr_status st;

	st = addresses_lookup(cl, &list, err);
	if (st != TR_OK)
		return st;
	for (ai = list; ai; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof(ip), NULL, 0, NI_NUMERICHOST) != 0)
			continue;
		if (!attempt_run(cl, x, rq, ip, ai->ai_family))
			x->outcome = OUT_NO_MEMORY;
		if (x->outcome != OUT_CONNECT_FAILED)
			break;
	}
	freeaddrinfo(list);
	return TR_OK;
}

static bool exchange_init(struct exchange *x)
{
	memset(x, 0, sizeof(*x));
	clock_gettime(CLOCK_MONOTONIC, &x->start);
	x->base = event_base_new();
	if (x->base)
		x->timer = evtimer_new(x->base, deadline_passed, x);
	return x->timer != NULL;
}

static void exchange_free(struct exchange *x)
{
	if (x->timer)
		event_free(x->timer);
	if (x->base)
		event_base_free(x->base);
	response_clear(&x->body);
}

/* Why a connection failed, for people. With no error callback, libevent
 * failed to connect; when refused, it has shut the socket down since, so
 * errno is ENOTCONN (or 0), not ECONNREFUSED. */
static const char *failure_reason(const struct exchange *x)
{
	if (x->outcome == OUT_CONNECT_FAILED && !x->error_seen && (x->os_errno == 0 || x->os_errno == ENOTCONN))
		return strerror(ECONNREFUSED);
	if (x->error_seen && x->error == EVREQ_HTTP_EOF && x->was_open)
		return "the connection closed before the answer was complete";
	if (x->error_seen && x->error == EVREQ_HTTP_INVALID_HEADER)
		return "the answer is not valid HTTP, or its headers are too large";
	if (x->os_errno != 0)
		return strerror(x->os_errno);
	return "the connection failed";
}

/* The error for a request that got no usable answer. */
static enum tr_status exchange_error(const struct client *cl, const struct exchange *x, struct tr_error *err)
{
	const char *why;

	switch (x->outcome) {
	case OUT_TOO_LARGE:
		return tr_error_set(err, TR_EINTERNAL, "the response from tresor at %s is larger than %d MiB", cl->base,
				    CLIENT_MAX_RESPONSE / (1024 * 1024));
	case OUT_NO_MEMORY: return tr_error_set(err, TR_EINTERNAL, "out of memory");
	case OUT_UNVERIFIED:
		return tr_error_set(err, TR_EUNAVAIL,
				    "cannot verify the certificate of tresor at %s: %s (see --cacert)", cl->base,
				    X509_verify_cert_error_string(x->verify_result));
	case OUT_TLS_FAILED:
		why = ERR_reason_error_string(x->tls_error);
		return tr_error_set(err, TR_EUNAVAIL, "cannot reach tresor at %s: TLS handshake failed: %s", cl->base,
				    why ? why : "unknown error");
	case OUT_CONNECT_TIMEOUT:
		return tr_error_set(err, TR_EUNAVAIL, "cannot reach tresor at %s: no connection within %ld seconds",
				    cl->base, CONNECT_TIMEOUT_SECS);
	case OUT_TIMEOUT:
		return tr_error_set(err, TR_EUNAVAIL,
				    "cannot reach tresor at %s: no complete answer within %ld seconds", cl->base,
				    REQUEST_TIMEOUT_SECS);
	default: return tr_error_set(err, TR_EUNAVAIL, "cannot reach tresor at %s: %s", cl->base, failure_reason(x));
	}
}

/* Sends rq and waits for the answer, which is left in x. SIGPIPE is
 * ignored meanwhile: a connection the server closed is an error, not the
 * end of the process. */
static enum tr_status request_send(const struct client *cl, const struct request_spec *rq, struct exchange *x,
				   struct tr_error *err)
{
	void (*old_pipe)(int);
	enum tr_status st;

	if (!exchange_init(x))
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	old_pipe = signal(SIGPIPE, SIG_IGN);
	st = exchange_run(cl, x, rq, err);
	signal(SIGPIPE, old_pipe);
	if (st == TR_OK && x->outcome != OUT_ANSWERED)
		st = exchange_error(cl, x, err);
	return st;
}

/* Parses a body that arrived with status. */
static enum tr_status response_parse(const struct client *cl, const struct response_buf *resp, long status,
				     json_t **out, struct tr_error *err)
{
	json_error_t jerr;
	json_t *json;

	*out = NULL;
	if (resp->len == 0)
		return TR_OK;
	json = json_loadb(resp->data, resp->len, 0, &jerr);
	if (!json && status >= 200 && status < 300)
		return tr_error_set(err, TR_EINTERNAL, "tresor at %s sent a response that is not JSON", cl->base);
	*out = json;
	return TR_OK;
}

/* The request line's target: the address's path, then the request's. */
static char *uri_make(const struct client *cl, const struct client_path *path)
{
	size_t len = strlen(cl->server.prefix) + path->len + 1;
	char *uri = malloc(len);

	if (uri)
		snprintf(uri, len, "%s%s", cl->server.prefix, path->text);
	return uri;
}

enum tr_status client_request(struct client *cl, const char *method, const struct client_path *path, json_t *body,
			      long *status, json_t **response, struct tr_error *err)
{
	struct request_spec rq = {0};
	struct exchange x = {0};
	char *payload = NULL;
	char *uri = NULL;
	json_t *json = NULL;
	enum tr_status st;

	if (path->failed)
		return tr_error_set(err, TR_EINVAL, "an argument is too long for a request");
	if (!method_parse(method, &rq.cmd))
		return tr_error_set(err, TR_EINTERNAL, "unknown HTTP method '%s'", method);
	if (cl->server.tls && (st = tls_context(cl, err)) != TR_OK)
		return st;
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		if (!payload)
			return tr_error_set(err, TR_EINTERNAL, "cannot encode the request");
		rq.payload = payload;
		rq.payload_len = strlen(payload);
	}
	uri = uri_make(cl, path);
	rq.uri = uri;
	st = uri ? request_send(cl, &rq, &x, err) : tr_error_set(err, TR_EINTERNAL, "out of memory");
	if (st == TR_OK)
		st = response_parse(cl, &x.body, x.status, &json, err);
	if (st == TR_OK) {
		*status = x.status;
		*response = json;
	}
	exchange_free(&x);
	wipe_free(payload); /* json_dumps text: jansson allocates with malloc */
	free(uri);
	return st;
}
