/*
 * client.c - the command line's HTTP client: address, token, one request
 * at a time over libcurl, JSON in and out.
 *
 * The token lives only in cl->auth_header ("Authorization: Bearer …") and
 * in the copies libcurl makes of it; our copies are wiped when freed.
 * libcurl's own internal copies (the request it writes) are beyond our
 * reach. Request and response bodies are wiped after use, since some carry
 * secret values (create, set, /access) or tokens (POST /v2/tokens).
 * An https:// server is always verified, certificate and name, against the
 * CA bundle of --cacert/TRESOR_CACERT or the system's; nothing turns that
 * off, since the token goes to whoever answers.
 */
#include "cli/client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#ifndef TRESOR_VERSION
#define TRESOR_VERSION "0.1.0"
#endif

#define TOKEN_FILE_MAX       4096 /* bytes of a token file */
#define CONNECT_TIMEOUT_SECS 10L
#define REQUEST_TIMEOUT_SECS 120L
#define AUTH_PREFIX          "Authorization: Bearer "

struct client {
	CURL *curl;
	char *base;        /* "http://127.0.0.1:8200", no trailing '/' */
	char *auth_header; /* AUTH_PREFIX + token; wiped on close */
	char *cacert;      /* CA bundle for https, or NULL: the system's */
};

/* A response body as it arrives. */
struct response_buf {
	char *data;
	size_t len;
	size_t cap;
	bool too_large; /* the server sent more than CLIENT_MAX_RESPONSE */
};

/* ---- jansson memory that is wiped when freed ---- */

union wipe_header {
	size_t size;
	max_align_t align;
};

static void *wiping_malloc(size_t size)
{
	union wipe_header *h;

	if (size > SIZE_MAX - sizeof(*h))
		return NULL;
	h = malloc(sizeof(*h) + size);
	if (!h)
		return NULL;
	h->size = size;
	return h + 1;
}

static void wiping_free(void *ptr)
{
	union wipe_header *h;

	if (!ptr)
		return;
	h = (union wipe_header *)ptr - 1;
	sodium_memzero(ptr, h->size);
	free(h);
}

void client_wipe_json_memory(void)
{
	json_set_alloc_funcs(wiping_malloc, wiping_free);
}

/* Wipes and frees text made by jansson (json_dumps). */
static void json_text_free(char *text)
{
	json_free_t free_fn;

	if (!text)
		return;
	sodium_memzero(text, strlen(text));
	json_get_alloc_funcs(NULL, &free_fn);
	free_fn(text);
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

/* Appends text percent-encoded (everything but A-Z a-z 0-9 - . _ ~). */
static void path_append_escaped(struct client_path *p, const char *text, size_t len)
{
	char *escaped;

	if (len > INT_MAX) {
		p->failed = true;
		return;
	}
	/* The handle argument has been unused by libcurl since 7.82. */
	escaped = curl_easy_escape(NULL, text, (int)len);
	if (!escaped) {
		p->failed = true;
		return;
	}
	path_append(p, escaped, strlen(escaped));
	curl_free(escaped);
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

/* ---- address and token ---- */

/* Copies the address without trailing slashes; it must be http(s). */
static enum tr_status addr_resolve(const char *flag, char **out, struct tr_error *err)
{
	const char *addr = flag;
	size_t len;

	if (!addr || !*addr)
		addr = getenv("TRESOR_ADDR");
	if (!addr || !*addr)
		addr = CLIENT_DEFAULT_ADDR;
	if (strncasecmp(addr, "http://", 7) != 0 && strncasecmp(addr, "https://", 8) != 0)
		return tr_error_set(err, TR_EINVAL, "the address '%s' is not an http:// or https:// URL", addr);
	len = strlen(addr);
	while (len > 0 && addr[len - 1] == '/')
		len--;
	*out = strndup(addr, len);
	if (!*out)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	return TR_OK;
}

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

/* Wipes and frees a NUL-terminated string. */
static void string_wipe_free(char *s)
{
	if (!s)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
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
		string_wipe_free(token);
		return tr_error_set(err, TR_EUNAUTH, "the token in %s is empty or malformed", source);
	}
	*out = token;
	return TR_OK;
}

/* Reads up to cap bytes until end of file; -1 on a read error. */
static ssize_t read_up_to(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap) {
		n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
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
	n = read_up_to(fd, buf, TOKEN_FILE_MAX + 1);
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

static enum tr_status auth_header_make(const char *token, char **out, struct tr_error *err)
{
	size_t len = strlen(AUTH_PREFIX) + strlen(token) + 1;
	char *header = malloc(len);

	if (!header)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	snprintf(header, len, "%s%s", AUTH_PREFIX, token);
	*out = header;
	return TR_OK;
}

/* ---- open and close ---- */

enum tr_status client_open(struct client **out, const char *addr, const char *token_file, const char *cacert,
			   struct tr_error *err)
{
	struct client *cl;
	char *token = NULL;
	enum tr_status st;

	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	st = addr_resolve(addr, &cl->base, err);
	if (st == TR_OK)
		st = cacert_resolve(cacert, cl->base, &cl->cacert, err);
	if (st == TR_OK)
		st = token_load(token_file, &token, err);
	if (st == TR_OK)
		st = auth_header_make(token, &cl->auth_header, err);
	string_wipe_free(token);
	if (st == TR_OK && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		st = tr_error_set(err, TR_EINTERNAL, "cannot initialise libcurl");
	if (st == TR_OK) {
		cl->curl = curl_easy_init();
		if (!cl->curl) {
			curl_global_cleanup();
			st = tr_error_set(err, TR_EINTERNAL, "cannot initialise libcurl");
		}
	}
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
	if (cl->curl) {
		curl_easy_cleanup(cl->curl);
		curl_global_cleanup();
	}
	string_wipe_free(cl->auth_header);
	free(cl->cacert);
	free(cl->base);
	free(cl);
}

/* ---- one request ---- */

static void response_clear(struct response_buf *b)
{
	if (b->data) {
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/* Grows the buffer to hold need bytes; the old one is wiped, not realloc'd. */
static int response_grow(struct response_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 4096;
	size_t len = b->len;
	char *data;

	while (cap < need)
		cap *= 2;
	data = malloc(cap);
	if (!data)
		return -1;
	if (len)
		memcpy(data, b->data, len);
	response_clear(b);
	b->data = data;
	b->len = len;
	b->cap = cap;
	return 0;
}

/* libcurl's write callback; returning less than given aborts the transfer. */
static size_t response_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct response_buf *b = userdata;
	size_t n = size * nmemb;

	if (n > CLIENT_MAX_RESPONSE - b->len) {
		b->too_large = true;
		return 0;
	}
	if (b->len + n > b->cap && response_grow(b, b->len + n) < 0)
		return 0;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	return n;
}

/* Wipes each header line, then frees the list. */
static void headers_free(struct curl_slist *list)
{
	struct curl_slist *node;

	for (node = list; node; node = node->next)
		sodium_memzero(node->data, strlen(node->data));
	curl_slist_free_all(list);
}

static struct curl_slist *headers_make(const struct client *cl, bool has_body)
{
	const char *lines[] = {
	    cl->auth_header,
	    "Accept: application/json",
	    "Expect:", /* no 100-continue round trip */
	    has_body ? "Content-Type: application/json" : NULL,
	};
	struct curl_slist *list = NULL;
	struct curl_slist *next;
	size_t i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (!lines[i])
			continue;
		next = curl_slist_append(list, lines[i]);
		if (!next) {
			headers_free(list);
			return NULL;
		}
		list = next;
	}
	return list;
}

static char *url_make(const struct client *cl, const struct client_path *path)
{
	size_t len = strlen(cl->base) + path->len + 1;
	char *url = malloc(len);

	if (url)
		snprintf(url, len, "%s%s", cl->base, path->text);
	return url;
}

/* Sets every option of one transfer; false when libcurl refuses one. */
static bool transfer_setup(struct client *cl, const char *method, const char *url, const char *payload,
			   struct curl_slist *headers, struct response_buf *resp, char *errbuf)
{
	CURL *c = cl->curl;
	bool ok = true;

	curl_easy_reset(c);
	ok = ok && curl_easy_setopt(c, CURLOPT_URL, url) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
	ok = ok && curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
	ok = ok && curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) == CURLE_OK;
#endif
	ok = ok && curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
	ok = ok && curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
	ok = ok && curl_easy_setopt(c, CURLOPT_USERAGENT, "tresor/" TRESOR_VERSION) == CURLE_OK;
	ok = ok && curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, response_write) == CURLE_OK;
	ok = ok && curl_easy_setopt(c, CURLOPT_WRITEDATA, resp) == CURLE_OK;
	ok = ok && curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
	ok = ok && curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_SECS) == CURLE_OK;
	ok = ok && curl_easy_setopt(c, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_SECS) == CURLE_OK;
	/* libcurl's defaults, said out loud: an https server is always verified. */
	ok = ok && curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
	if (cl->cacert)
		ok = ok && curl_easy_setopt(c, CURLOPT_CAINFO, cl->cacert) == CURLE_OK;
	if (payload) {
		ok = ok && curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload) == CURLE_OK;
		ok = ok && curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload)) == CURLE_OK;
	}
	return ok;
}

/* Why a transfer failed, for people. */
static enum tr_status transfer_error(struct client *cl, CURLcode code, const char *errbuf,
				     const struct response_buf *resp, struct tr_error *err)
{
	long os_errno = 0;
	const char *why;

	if (resp->too_large)
		return tr_error_set(err, TR_EINTERNAL, "the response from tresor at %s is larger than %d MiB", cl->base,
				    CLIENT_MAX_RESPONSE / (1024 * 1024));
	if (code == CURLE_WRITE_ERROR)
		return tr_error_set(err, TR_EINTERNAL, "out of memory");
	if (code == CURLE_SSL_CACERT_BADFILE && cl->cacert)
		return tr_error_set(err, TR_EINVAL, "the CA bundle '%s' holds no usable certificate", cl->cacert);
	if (code == CURLE_PEER_FAILED_VERIFICATION)
		return tr_error_set(err, TR_EUNAVAIL,
				    "cannot verify the certificate of tresor at %s: %s (see --cacert)", cl->base,
				    errbuf[0] ? errbuf : curl_easy_strerror(code));
	curl_easy_getinfo(cl->curl, CURLINFO_OS_ERRNO, &os_errno);
	if (os_errno != 0)
		why = strerror((int)os_errno);
	else if (errbuf[0])
		why = errbuf;
	else
		why = curl_easy_strerror(code);
	return tr_error_set(err, TR_EUNAVAIL, "cannot reach tresor at %s: %s", cl->base, why);
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

enum tr_status client_request(struct client *cl, const char *method, const struct client_path *path, json_t *body,
			      long *status, json_t **response, struct tr_error *err)
{
	struct response_buf resp = {0};
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL;
	char *payload = NULL;
	char *url = NULL;
	long code = 0;
	json_t *json = NULL;
	enum tr_status st = TR_OK;
	CURLcode cc;

	if (path->failed)
		return tr_error_set(err, TR_EINVAL, "an argument is too long for a request");
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		if (!payload)
			return tr_error_set(err, TR_EINTERNAL, "cannot encode the request");
	}
	url = url_make(cl, path);
	headers = headers_make(cl, body != NULL);
	if (!url || !headers) {
		st = tr_error_set(err, TR_EINTERNAL, "out of memory");
		goto out;
	}
	if (!transfer_setup(cl, method, url, payload, headers, &resp, errbuf)) {
		st = tr_error_set(err, TR_EINTERNAL, "cannot set up the request");
		goto out;
	}
	cc = curl_easy_perform(cl->curl);
	if (cc != CURLE_OK) {
		st = transfer_error(cl, cc, errbuf, &resp, err);
		goto out;
	}
	curl_easy_getinfo(cl->curl, CURLINFO_RESPONSE_CODE, &code);
	st = response_parse(cl, &resp, code, &json, err);
	if (st == TR_OK) {
		*status = code;
		*response = json;
	}
out:
	/* The handle keeps pointers to these until its next reset. */
	curl_easy_reset(cl->curl);
	headers_free(headers);
	json_text_free(payload);
	response_clear(&resp);
	free(url);
	return st;
}
