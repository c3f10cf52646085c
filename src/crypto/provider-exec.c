/*
 * provider-exec.c - the "exec" provider family: an external KMS plugin
 * that wraps and unwraps data keys for tresor, so an HSM or a cloud KMS
 * plugs in without being linked in. The protocol is docs/kms-plugin.md:
 *
 *   tresor -> plugin: "hello 1 <provider-id>\n"     plugin: "ok 1\n"
 *   tresor -> plugin: "wrap <base64 data key>\n"    plugin: "ok <base64 blob>\n"
 *   tresor -> plugin: "unwrap <base64 blob>\n"      plugin: "ok <base64 data key>\n"
 *   any request may be answered "error <message>\n"
 *
 * The plugin runs as a child process whose stdin and stdout are both one
 * end of a Unix socket pair (send(MSG_NOSIGNAL) on ours, so a dead plugin
 * is an error, not a SIGPIPE). It is started with posix_spawn with an empty
 * signal mask, default signal dispositions, no descriptors but 0, 1 and 2,
 * and only the environment it was configured with: key material reaches it
 * only through the socket.
 *
 * One request is in flight at a time (c->lock). Every request has a
 * deadline; a plugin that misses it, closes the socket, exits or answers
 * anything but one well-formed line is killed (SIGKILL) and reaped, the
 * request fails with TR_EUNAVAIL and a message saying which of those
 * happened, and the next request starts a fresh plugin. Request and answer
 * lines (which carry data keys) live in guarded buffers, wiped after use.
 */
#include "keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#define EXEC_PROTOCOL_VERSION 1
#define EXEC_LINE_MAX 8192        /* bytes per line, newline included */
#define EXEC_BLOB_MAX 4096        /* decoded bytes of a wrapped key */
#define EXEC_MESSAGE_MAX 160      /* bytes of a plugin's error message we repeat */
#define EXEC_EXIT_WAIT_MS 2000    /* after EOF, how long a plugin may take to exit */
#define EXEC_DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

struct exec_ctx {
	char id[TR_PROVIDER_ID_MAX + 1];
	char **argv; /* heap copies, NULL-terminated */
	char **envp; /* heap copies, NULL-terminated; wiped on free */
	int timeout_ms;
	pthread_mutex_t lock; /* one request at a time; guards everything below */
	pid_t pid;            /* 0: no plugin running */
	int fd;               /* our end of the socket pair, -1 when none */
	char *line;           /* guarded: the request, then the answer */
};

/* What became of one request. */
enum exec_outcome {
	EXEC_ANSWERED, /* "ok <payload>" */
	EXEC_REFUSED,  /* "error <message>": the plugin is fine, the request was refused */
	EXEC_BROKEN,   /* no usable answer: the plugin was killed, err says why */
};

/* ---- time ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ms_left(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	return left < 0 ? 0 : (int)left;
}

/* ---- the child process ---- */

/* Describes how the plugin ended, for messages ("exited with status 3"). */
static void describe_status(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, size, "stopped");
}

/* Waits up to ms for the plugin to exit; 1 with *status if it did. */
static int wait_exit(pid_t pid, int ms, int *status)
{
	int64_t deadline = now_ms() + ms;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			return r == pid;
		if (now_ms() >= deadline)
			return 0;
		usleep(5000);
	}
}

/* Ends the plugin: closes our end (a well-behaved plugin exits on EOF),
 * waits up to grace_ms, then SIGKILLs and reaps it. Sets *how (if given)
 * to what happened. */
static void plugin_stop(struct exec_ctx *c, int grace_ms, char *how, size_t how_size)
{
	int status = 0;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->pid <= 0)
		return;
	if (!wait_exit(c->pid, grace_ms, &status)) {
		kill(c->pid, SIGKILL);
		while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
			;
		if (how)
			snprintf(how, how_size, "was killed");
	} else if (how) {
		describe_status(status, how, how_size);
	}
	c->pid = 0;
}

/* Our end of a fresh socket pair in fds[0], the plugin's (>= 3, so the
 * dup2 onto 0 and 1 really copies it) in fds[1]. */
static int make_socket_pair(int fds[2])
{
	int fd;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
		return -1;
	if (fds[1] < 3) {
		fd = fcntl(fds[1], F_DUPFD_CLOEXEC, 3);
		close(fds[1]);
		if (fd < 0) {
			close(fds[0]);
			return -1;
		}
		fds[1] = fd;
	}
	fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
	return 0;
}

/* Spawn attributes: empty signal mask, default dispositions for the
 * signals tresor blocks or ignores (both survive exec otherwise). */
static int spawn_attr_init(posix_spawnattr_t *attr)
{
	sigset_t none, defaults;

	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGHUP);
	if (posix_spawnattr_init(attr) != 0)
		return -1;
	if (posix_spawnattr_setsigmask(attr, &none) != 0 || posix_spawnattr_setsigdefault(attr, &defaults) != 0 ||
	    posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) != 0) {
		posix_spawnattr_destroy(attr);
		return -1;
	}
	return 0;
}

/* File actions: the socket as stdin and stdout, stderr kept, nothing else. */
static int spawn_files_init(posix_spawn_file_actions_t *fa, int child_fd)
{
	if (posix_spawn_file_actions_init(fa) != 0)
		return -1;
	if (posix_spawn_file_actions_adddup2(fa, child_fd, 0) != 0 ||
	    posix_spawn_file_actions_adddup2(fa, child_fd, 1) != 0 ||
	    posix_spawn_file_actions_addclose(fa, child_fd) != 0) {
		posix_spawn_file_actions_destroy(fa);
		return -1;
	}
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	/* Everything tresor opens is close-on-exec; this makes sure. */
	posix_spawn_file_actions_addclosefrom_np(fa, 3);
#endif
	return 0;
}

/* Starts the plugin process (no greeting yet). */
static enum tr_status plugin_spawn(struct exec_ctx *c, struct tr_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int fds[2], rc;
	pid_t pid;

	if (make_socket_pair(fds) != 0)
		return tr_error_set(err, TR_EUNAVAIL, "key provider '%s': cannot create a socket for the plugin: %s",
		                    c->id, strerror(errno));
	if (spawn_attr_init(&attr) != 0) {
		close(fds[0]);
		close(fds[1]);
		return tr_error_set(err, TR_EINTERNAL, "key provider '%s': cannot set up the plugin process", c->id);
	}
	if (spawn_files_init(&fa, fds[1]) != 0) {
		posix_spawnattr_destroy(&attr);
		close(fds[0]);
		close(fds[1]);
		return tr_error_set(err, TR_EINTERNAL, "key provider '%s': cannot set up the plugin process", c->id);
	}
	rc = posix_spawn(&pid, c->argv[0], &fa, &attr, c->argv, c->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		return tr_error_set(err, TR_EUNAVAIL, "key provider '%s': cannot start plugin '%s': %s", c->id,
		                    c->argv[0], strerror(rc));
	}
	c->pid = pid;
	c->fd = fds[0];
	return TR_OK;
}

/* ---- one line each way ---- */

/* Sends len bytes of c->line before the deadline. *eof is set when the
 * plugin has closed its end (no message then, as in recv_line). */
static enum tr_status send_line(struct exec_ctx *c, size_t len, int64_t deadline, const char *op, int *eof,
                                struct tr_error *err)
{
	size_t sent = 0;

	while (sent < len) {
		struct pollfd p = {.fd = c->fd, .events = POLLOUT};
		ssize_t n = send(c->fd, c->line + sent, len - sent, MSG_NOSIGNAL);

		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			*eof = 1;
			return TR_EUNAVAIL;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return tr_error_set(err, TR_EUNAVAIL, "key provider '%s': cannot send the %s request: %s",
			                    c->id, op, strerror(errno));
		if (poll(&p, 1, ms_left(deadline)) == 0)
			return tr_error_set(err, TR_EUNAVAIL,
			                    "key provider '%s': plugin did not read the %s request within %d ms; "
			                    "it was killed",
			                    c->id, op, c->timeout_ms);
	}
	return TR_OK;
}

/* Reads one line (ending in '\n', which is replaced by NUL) into c->line
 * before the deadline. Anything after the newline is a protocol error: one
 * request, one line. *eof is set when the plugin closed its end (no
 * message then: the caller finds out how the plugin ended). */
static enum tr_status recv_line(struct exec_ctx *c, int64_t deadline, const char *op, int *eof,
                                struct tr_error *err)
{
	size_t have = 0;
	char *nl = NULL;

	*eof = 0;
	while (!nl) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int ready = poll(&p, 1, ms_left(deadline));
		ssize_t n;

		if (ready < 0 && errno == EINTR)
			continue;
		if (ready == 0)
			return tr_error_set(err, TR_EUNAVAIL,
			                    "key provider '%s': plugin did not answer the %s request within %d ms; "
			                    "it was killed",
			                    c->id, op, c->timeout_ms);
		n = recv(c->fd, c->line + have, EXEC_LINE_MAX - have, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0) {
			*eof = 1;
			return TR_EUNAVAIL;
		}
		have += (size_t)n;
		nl = memchr(c->line, '\n', have);
		if (!nl && have == EXEC_LINE_MAX)
			return tr_error_set(err, TR_EUNAVAIL,
			                    "key provider '%s': plugin answered the %s request with a line longer "
			                    "than %d bytes",
			                    c->id, op, EXEC_LINE_MAX);
	}
	if (nl != c->line + have - 1)
		return tr_error_set(err, TR_EUNAVAIL,
		                    "key provider '%s': plugin sent more than one line in answer to the %s request",
		                    c->id, op);
	*nl = '\0';
	return TR_OK;
}

/* The plugin closed its end during a request: find out how it ended. */
static enum tr_status plugin_ended(struct exec_ctx *c, const char *op, struct tr_error *err)
{
	char how[96] = "closed its output";

	plugin_stop(c, EXEC_EXIT_WAIT_MS, how, sizeof(how));
	if (strcmp(how, "was killed") == 0)
		snprintf(how, sizeof(how), "closed its output and was killed");
	return tr_error_set(err, TR_EUNAVAIL, "key provider '%s': plugin stopped during the %s request (it %s)", c->id,
	                    op, how);
}

/* Copies a plugin's error message into buf: printable ASCII only, at most
 * EXEC_MESSAGE_MAX bytes. */
static void clean_message(const char *msg, char *buf, size_t size)
{
	size_t j = 0;

	for (size_t i = 0; msg[i] && j + 1 < size && j < EXEC_MESSAGE_MAX; i++)
		buf[j++] = msg[i] >= 0x20 && msg[i] < 0x7f ? msg[i] : '?';
	buf[j] = '\0';
	if (j == 0)
		snprintf(buf, size, "no reason given");
}

/*
 * Sends the request already in c->line (len bytes, newline included) and
 * reads the answer. EXEC_ANSWERED: *payload points at what follows "ok "
 * in c->line. EXEC_REFUSED: refusal holds the plugin's (cleaned) message;
 * the caller words the error. EXEC_BROKEN: the plugin was stopped, err
 * says why.
 */
static enum exec_outcome exchange(struct exec_ctx *c, const char *op, size_t len, const char **payload,
                                  char refusal[EXEC_MESSAGE_MAX + 1], struct tr_error *err)
{
	int64_t deadline = now_ms() + c->timeout_ms;
	enum tr_status st;
	int eof = 0;

	st = send_line(c, len, deadline, op, &eof, err);
	if (st == TR_OK)
		st = recv_line(c, deadline, op, &eof, err);
	if (st != TR_OK) {
		if (eof)
			plugin_ended(c, op, err);
		else
			plugin_stop(c, 0, NULL, 0);
		return EXEC_BROKEN;
	}
	if (strncmp(c->line, "ok ", 3) == 0 && c->line[3]) {
		*payload = c->line + 3;
		return EXEC_ANSWERED;
	}
	if (strncmp(c->line, "error", 5) == 0 && (c->line[5] == ' ' || c->line[5] == '\0')) {
		clean_message(c->line + 5 + (c->line[5] == ' '), refusal, EXEC_MESSAGE_MAX + 1);
		return EXEC_REFUSED;
	}
	/* Never repeat what it sent: it may hold key material. */
	plugin_stop(c, 0, NULL, 0);
	tr_error_set(err, TR_EUNAVAIL,
	             "key provider '%s': plugin answered the %s request with garbage (not 'ok <base64>' or "
	             "'error <message>'); it was killed",
	             c->id, op);
	return EXEC_BROKEN;
}

/* A request line "<op> <base64 of data>\n" in c->line; its length. */
static size_t build_request(struct exec_ctx *c, const char *op, const unsigned char *data, size_t len)
{
	size_t op_len = strlen(op);

	memcpy(c->line, op, op_len);
	c->line[op_len] = ' ';
	sodium_bin2base64(c->line + op_len + 1, EXEC_LINE_MAX - op_len - 1, data, len, sodium_base64_VARIANT_ORIGINAL);
	len = strlen(c->line);
	c->line[len++] = '\n';
	return len;
}

/* Decodes base64 payload into out (at most max bytes); -1 if it is not
 * exactly base64. */
static int decode_payload(const char *payload, unsigned char *out, size_t max, size_t *len)
{
	const char *end = NULL;

	if (sodium_base642bin(out, max, payload, strlen(payload), NULL, len, &end, sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	return end && *end == '\0' ? 0 : -1;
}

/* Starts the plugin and greets it: "hello 1 <id>" must get "ok 1". */
static enum tr_status plugin_start(struct exec_ctx *c, struct tr_error *err)
{
	char refusal[EXEC_MESSAGE_MAX + 1];
	const char *payload = NULL;
	enum exec_outcome o;
	enum tr_status st;
	int len;

	if ((st = plugin_spawn(c, err)) != TR_OK)
		return st;
	len = snprintf(c->line, EXEC_LINE_MAX, "hello %d %s\n", EXEC_PROTOCOL_VERSION, c->id);
	o = exchange(c, "hello", (size_t)len, &payload, refusal, err);
	if (o == EXEC_ANSWERED && strcmp(payload, "1") == 0)
		return TR_OK;
	if (o == EXEC_BROKEN)
		return TR_EUNAVAIL;
	if (o == EXEC_REFUSED)
		tr_error_set(err, TR_EUNAVAIL, "key provider '%s': plugin refused the greeting: %s", c->id, refusal);
	else
		tr_error_set(err, TR_EUNAVAIL, "key provider '%s': plugin does not speak protocol %d (it answered the "
		                               "greeting with something other than 'ok %d'); it was stopped",
		             c->id, EXEC_PROTOCOL_VERSION, EXEC_PROTOCOL_VERSION);
	plugin_stop(c, EXEC_EXIT_WAIT_MS, NULL, 0);
	return TR_EUNAVAIL;
}

/* A running, greeted plugin: started now if the last one died. */
static enum tr_status plugin_ready(struct exec_ctx *c, struct tr_error *err)
{
	return c->pid > 0 ? TR_OK : plugin_start(c, err);
}

/* ---- wrap / unwrap ---- */

/* Turns the wrap answer into a heap blob; -1 if it is not 1 to
 * EXEC_BLOB_MAX bytes of base64. */
static int take_blob(const char *payload, unsigned char **out, size_t *out_len)
{
	unsigned char *blob = malloc(EXEC_BLOB_MAX);
	size_t len = 0;

	if (!blob)
		return -1;
	if (decode_payload(payload, blob, EXEC_BLOB_MAX, &len) != 0 || len == 0) {
		free(blob);
		return -1;
	}
	*out = blob;
	*out_len = len;
	return 0;
}

static enum tr_status wrap_locked(struct exec_ctx *c, const unsigned char dk[DATA_KEY_BYTES], unsigned char **out,
                                  size_t *out_len, struct tr_error *err)
{
	char refusal[EXEC_MESSAGE_MAX + 1];
	const char *payload = NULL;
	enum exec_outcome o;
	enum tr_status st;

	if ((st = plugin_ready(c, err)) != TR_OK)
		return st;
	o = exchange(c, "wrap", build_request(c, "wrap", dk, DATA_KEY_BYTES), &payload, refusal, err);
	if (o == EXEC_BROKEN)
		return TR_EUNAVAIL;
	if (o == EXEC_REFUSED)
		return tr_error_set(err, TR_EUNAVAIL, "key provider '%s': plugin refused to wrap a data key: %s", c->id,
		                    refusal);
	if (take_blob(payload, out, out_len) == 0)
		return TR_OK;
	plugin_stop(c, 0, NULL, 0);
	return tr_error_set(err, TR_EUNAVAIL,
	                    "key provider '%s': plugin answered the wrap request with garbage (not 1 to %d bytes of "
	                    "base64); it was killed",
	                    c->id, EXEC_BLOB_MAX);
}

static enum tr_status exec_wrap(void *ctx, const char *provider_id, const unsigned char dk[DATA_KEY_BYTES],
                                unsigned char **out, size_t *out_len, struct tr_error *err)
{
	struct exec_ctx *c = ctx;
	enum tr_status st;

	(void)provider_id; /* the plugin was told its id in the greeting */
	pthread_mutex_lock(&c->lock);
	st = wrap_locked(c, dk, out, out_len, err);
	sodium_memzero(c->line, EXEC_LINE_MAX + 1);
	pthread_mutex_unlock(&c->lock);
	return st;
}

static enum tr_status unwrap_locked(struct exec_ctx *c, const unsigned char *in, size_t in_len,
                                    unsigned char dk[DATA_KEY_BYTES], struct tr_error *err)
{
	char refusal[EXEC_MESSAGE_MAX + 1];
	const char *payload = NULL;
	enum exec_outcome o;
	enum tr_status st;
	size_t len = 0;

	if (!in || in_len == 0 || in_len > EXEC_BLOB_MAX)
		return tr_error_set(err, TR_ECRYPTO, "data key unwrap failed for provider '%s': not a wrapped key",
		                    c->id);
	if ((st = plugin_ready(c, err)) != TR_OK)
		return st;
	o = exchange(c, "unwrap", build_request(c, "unwrap", in, in_len), &payload, refusal, err);
	if (o == EXEC_BROKEN)
		return TR_EUNAVAIL;
	if (o == EXEC_REFUSED)
		return tr_error_set(err, TR_ECRYPTO, "data key unwrap failed for provider '%s': plugin: %s", c->id,
		                    refusal);
	if (decode_payload(payload, dk, DATA_KEY_BYTES, &len) == 0 && len == DATA_KEY_BYTES)
		return TR_OK;
	plugin_stop(c, 0, NULL, 0);
	return tr_error_set(err, TR_EUNAVAIL,
	                    "key provider '%s': plugin answered the unwrap request with garbage (not %d bytes of "
	                    "base64); it was killed",
	                    c->id, DATA_KEY_BYTES);
}

static enum tr_status exec_unwrap(void *ctx, const char *provider_id, const unsigned char *in, size_t in_len,
                                  unsigned char dk[DATA_KEY_BYTES], struct tr_error *err)
{
	struct exec_ctx *c = ctx;
	enum tr_status st;

	(void)provider_id;
	pthread_mutex_lock(&c->lock);
	st = unwrap_locked(c, in, in_len, dk, err);
	sodium_memzero(c->line, EXEC_LINE_MAX + 1);
	pthread_mutex_unlock(&c->lock);
	if (st != TR_OK)
		sodium_memzero(dk, DATA_KEY_BYTES);
	return st;
}

/* ---- construction ---- */

static void free_strings(char **v, int wipe)
{
	if (!v)
		return;
	for (size_t i = 0; v[i]; i++) {
		if (wipe)
			sodium_memzero(v[i], strlen(v[i]));
		free(v[i]);
	}
	free(v);
}

static void exec_destroy(void *ctx)
{
	struct exec_ctx *c = ctx;

	if (!c)
		return;
	plugin_stop(c, EXEC_EXIT_WAIT_MS, NULL, 0);
	free_strings(c->argv, 0);
	free_strings(c->envp, 1);
	sodium_free(c->line);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static const struct key_provider_ops exec_ops = {
	.family = "exec",
	.wrap = exec_wrap,
	.unwrap = exec_unwrap,
	.destroy = exec_destroy,
};

/* A heap copy of the NULL-terminated vector v (at most max entries), with
 * `extra` appended when not NULL. NULL when out of memory. */
static char **copy_strings(const char *const *v, size_t max, const char *extra)
{
	size_t n = 0, i;
	char **copy;

	while (v && v[n] && n < max)
		n++;
	if (!(copy = calloc(n + 2, sizeof(*copy))))
		return NULL;
	for (i = 0; i < n; i++)
		if (!(copy[i] = strdup(v[i])))
			goto fail;
	if (extra && !(copy[i] = strdup(extra)))
		goto fail;
	return copy;
fail:
	free_strings(copy, 1);
	return NULL;
}

static int env_has_path(const char *const *env)
{
	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], "PATH=", 5) == 0)
			return 1;
	return 0;
}

static enum tr_status exec_check_args(const char *id, const struct exec_params *params, struct key_provider **out,
                                      struct tr_error *err)
{
	size_t n = 0;

	if (!id || !params || !params->argv || !out)
		return tr_error_set(err, TR_EINVAL, "provider_exec_new needs an id, a command and an output");
	if (!keyring_id_valid(id))
		return tr_error_set(err, TR_EINVAL, "key provider id must be 1 to %d letters, digits, '_', '-' or '.'",
		                    TR_PROVIDER_ID_MAX);
	while (params->argv[n])
		n++;
	if (n == 0 || n > EXEC_ARGS_MAX || !params->argv[0][0])
		return tr_error_set(err, TR_EINVAL, "key provider '%s': the command must have 1 to %d words", id,
		                    EXEC_ARGS_MAX);
	if (params->timeout_ms < 0 || params->timeout_ms > EXEC_TIMEOUT_MS_MAX)
		return tr_error_set(err, TR_EINVAL, "key provider '%s': timeout must be 1 to %d ms", id,
		                    EXEC_TIMEOUT_MS_MAX);
	return TR_OK;
}

static struct exec_ctx *exec_ctx_new(const char *id, const struct exec_params *params)
{
	struct exec_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->fd = -1;
	c->timeout_ms = params->timeout_ms ? params->timeout_ms : EXEC_TIMEOUT_MS_DEFAULT;
	pthread_mutex_init(&c->lock, NULL);
	c->argv = copy_strings(params->argv, EXEC_ARGS_MAX, NULL);
	c->envp = copy_strings(params->env, 256, env_has_path(params->env) ? NULL : EXEC_DEFAULT_PATH);
	c->line = sodium_malloc(EXEC_LINE_MAX + 1);
	if (!c->argv || !c->envp || !c->line) {
		exec_destroy(c);
		return NULL;
	}
	return c;
}

enum tr_status provider_exec_new(const char *id, const struct exec_params *params, struct key_provider **out,
                                 struct tr_error *err)
{
	struct key_provider *p;
	struct exec_ctx *c;
	enum tr_status st;

	if ((st = exec_check_args(id, params, out, err)) != TR_OK)
		return st;
	if (sodium_init() < 0)
		return tr_error_set(err, TR_EINTERNAL, "libsodium initialisation failed");
	p = calloc(1, sizeof(*p));
	c = exec_ctx_new(id, params);
	if (!p || !c) {
		free(p);
		exec_destroy(c);
		return tr_error_set(err, TR_EINTERNAL, "out of memory creating provider '%s'", id);
	}
	st = plugin_start(c, err);
	sodium_memzero(c->line, EXEC_LINE_MAX + 1);
	if (st != TR_OK) {
		free(p);
		exec_destroy(c);
		return st;
	}
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->ops = &exec_ops;
	p->ctx = c;
	*out = p;
	return TR_OK;
}
