/*
 * run.c - the child process of `tresor run`: its terminal or pipes, the
 * relay of its output through the mask, signals and its exit status
 * (run.h).
 *
 * One loop in one thread: poll() over the signalfd, the child's output
 * streams, and, with a pseudo-terminal, tresor's stdin and the master's
 * room for input. Signals are blocked before the spawn (the child unblocks
 * them) and read from the signalfd, so no handler runs asynchronously.
 */
#include "inject/run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#define RELAY_BUF 65536
#define INPUT_BUF 4096

/* One output stream of the child, relayed to one of tresor's descriptors. */
struct relay {
	int from;               /* pty master or a pipe's read end; -1 once at its end */
	int to;                 /* STDOUT_FILENO or STDERR_FILENO */
	struct mask_stream *ms; /* the filter in between */
	bool broken;            /* writing to `to` failed: the stream is dropped */
};

struct session {
	const struct run_options *o;
	bool filtered;        /* o->mask: output goes through the relays */
	bool pty;             /* the child has a pseudo-terminal */
	int master;           /* pty master, or -1 */
	int slave;            /* pty slave (until the child has it), or -1 */
	char slave_name[128]; /* its path, which the child opens */
	int out_w;            /* write end of the stdout pipe (pipe mode), or -1 */
	int err_w;            /* write end of the stderr pipe, or -1 */
	struct relay relay[2];
	bool relay_stdin; /* tresor's stdin (a terminal) is copied to the master */
	bool raw;         /* that terminal is in raw mode; `saved` restores it */
	struct termios saved;
	unsigned char input[INPUT_BUF]; /* read from stdin, not yet written to the master */
	size_t input_len;
	size_t input_off;
	unsigned char *relay_buf; /* RELAY_BUF bytes: what the child wrote, on its way through */
	size_t relay_buf_used;    /* the most of it any read filled: what needs wiping */
	int sigfd;
	sigset_t old_mask;
	bool mask_set; /* old_mask holds the mask to restore */
	pid_t pid;
	bool exited;
	int status; /* from waitpid, once exited */
};

static const int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* ---- small helpers ---- */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			poll(&pfd, 1, -1);
			continue;
		}
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The mask stream's sink: tresor's stdout or stderr. */
static int relay_sink(void *ctx, const void *data, size_t len)
{
	struct relay *r = ctx;

	return write_all(r->to, data, len);
}

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* ---- setting up the child's side ---- */

static void session_init(struct session *s, const struct run_options *o)
{
	memset(s, 0, sizeof(*s));
	s->o = o;
	s->filtered = o->mask != NULL;
	s->master = s->slave = s->out_w = s->err_w = s->sigfd = -1;
	s->relay[0] = (struct relay){.from = -1, .to = STDOUT_FILENO};
	s->relay[1] = (struct relay){.from = -1, .to = STDERR_FILENO};
	s->pid = -1;
}

/* A pseudo-terminal shaped like tresor's: its modes and window size. */
static enum tr_status pty_open(struct session *s, struct tr_error *err)
{
	struct termios tio;
	struct winsize ws;

	s->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s->master < 0 || grantpt(s->master) < 0 || unlockpt(s->master) < 0 ||
	    ptsname_r(s->master, s->slave_name, sizeof(s->slave_name)) != 0)
		return tr_error_set(err, TR_EINTERNAL, "cannot open a pseudo-terminal: %s", strerror(errno));
	/* Held open until the child has its own, so the master sees no hang-up. */
	s->slave = open(s->slave_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s->slave < 0)
		return tr_error_set(err, TR_EINTERNAL, "cannot open '%s': %s", s->slave_name, strerror(errno));
	if (tcgetattr(isatty(STDIN_FILENO) ? STDIN_FILENO : STDOUT_FILENO, &tio) == 0)
		tcsetattr(s->slave, TCSANOW, &tio);
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(s->slave, TIOCSWINSZ, &ws);
	s->pty = true;
	s->relay[0].from = s->master;
	s->relay_stdin = isatty(STDIN_FILENO);
	return TR_OK;
}

/* A pipe whose read end is relayed to r and whose write end is *w. */
static enum tr_status pipe_open(struct relay *r, int *w, struct tr_error *err)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return tr_error_set(err, TR_EINTERNAL, "cannot make a pipe: %s", strerror(errno));
	r->from = fds[0];
	*w = fds[1];
	return TR_OK;
}

static enum tr_status io_setup(struct session *s, struct tr_error *err)
{
	enum tr_status st = TR_OK;
	int i;

	if (!s->filtered)
		return TR_OK;
	if (isatty(STDOUT_FILENO))
		st = pty_open(s, err);
	else
		st = pipe_open(&s->relay[0], &s->out_w, err);
	if (st == TR_OK && !(s->pty && isatty(STDERR_FILENO)))
		st = pipe_open(&s->relay[1], &s->err_w, err);
	for (i = 0; i < 2 && st == TR_OK; i++) {
		if (s->relay[i].from < 0)
			continue;
		s->relay[i].ms = mask_stream_new(s->o->mask, relay_sink, &s->relay[i]);
		if (!s->relay[i].ms || set_nonblocking(s->relay[i].from) < 0)
			st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	}
	return st;
}

static enum tr_status signals_block(struct session *s, struct tr_error *err)
{
	sigset_t set;
	size_t i;

	sigemptyset(&set);
	for (i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
		sigaddset(&set, forwarded_signals[i]);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGWINCH);
	if (sigprocmask(SIG_BLOCK, &set, &s->old_mask) < 0)
		return tr_error_set(err, TR_EINTERNAL, "cannot block signals: %s", strerror(errno));
	s->mask_set = true;
	s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sigfd < 0)
		return tr_error_set(err, TR_EINTERNAL, "cannot make a signalfd: %s", strerror(errno));
	return TR_OK;
}

/* ---- starting the child ---- */

/*
 * With a pseudo-terminal: the child becomes a session leader and opens the
 * slave by name, without O_NOCTTY, which makes it its controlling
 * terminal; the slave is its stdout, and its stdin and stderr unless those
 * are relayed otherwise. -1 on failure (errno set).
 */
static int child_terminal(const struct session *s)
{
	int fd;

	if (setsid() < 0 || (fd = open(s->slave_name, O_RDWR)) < 0)
		return -1;
	if (fd != STDOUT_FILENO && (dup2(fd, STDOUT_FILENO) < 0 || close(fd) < 0))
		return -1;
	if (s->relay_stdin && dup2(STDOUT_FILENO, STDIN_FILENO) < 0)
		return -1;
	if (s->err_w < 0 && dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
		return -1;
	return 0;
}

/*
 * The child, between vfork and exec: it runs on tresor's memory, so it
 * only makes system calls (no allocation, no stdio) and reports a failed
 * exec through *exec_errno, which the parent reads once vfork returns.
 * No handler can run in it: tresor installs none (signals come through the
 * signalfd, and the forwarded ones stay blocked until the mask below).
 */
static void child_exec(const struct session *s, volatile int *exec_errno)
{
	if ((!s->pty || child_terminal(s) == 0) && (s->out_w < 0 || dup2(s->out_w, STDOUT_FILENO) >= 0) &&
	    (s->err_w < 0 || dup2(s->err_w, STDERR_FILENO) >= 0) &&
	    sigprocmask(SIG_SETMASK, &s->old_mask, NULL) == 0)
		execvpe(s->o->argv[0], s->o->argv, s->o->envp);
	*exec_errno = errno;
	_exit(127);
}

/* The parent no longer needs the child's ends. */
static void child_ends_close(struct session *s)
{
	close_fd(&s->slave);
	close_fd(&s->out_w);
	close_fd(&s->err_w);
}

/*
 * Starts the command with vfork and execvpe: nothing of tresor's memory is
 * copied (which matters for a process that has mapped libevent, SQLite and
 * the rest), and, unlike posix_spawn, the child does not reset each of the
 * 64 signal dispositions first: ~130 system calls of each `tresor run`
 * (docs/injection.md, "Overhead"). The command is looked up in tresor's
 * PATH. A command that cannot be executed is reported in res, not as an
 * error.
 */
static enum tr_status spawn(struct session *s, struct run_result *res, struct tr_error *err)
{
	volatile int exec_errno = 0;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = vfork();
	if (pid == 0)
		child_exec(s, &exec_errno);
	if (pid < 0) {
		child_ends_close(s);
		return tr_error_set(err, TR_EINTERNAL, "cannot start a process: %s", strerror(errno));
	}
	child_ends_close(s);
	s->pid = pid;
	res->exec_errno = exec_errno;
	if (exec_errno) {
		/* The child is gone already: reap it. */
		waitpid(pid, &s->status, 0);
		s->exited = true;
	}
	return TR_OK;
}

/* ---- the terminal ---- */

static void raw_mode_on(struct session *s)
{
	struct termios tio;

	if (!s->relay_stdin || tcgetattr(STDIN_FILENO, &s->saved) < 0)
		return;
	tio = s->saved;
	cfmakeraw(&tio);
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &tio) == 0)
		s->raw = true;
}

static void raw_mode_off(struct session *s)
{
	if (s->raw)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &s->saved);
	s->raw = false;
}

static void window_size_copy(const struct session *s)
{
	struct winsize ws;

	if (s->pty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(s->master, TIOCSWINSZ, &ws);
}

/* ---- signals ---- */

/* Sent by a process (kill, a supervisor), not by the terminal to the group. */
static bool sent_by_a_process(const struct signalfd_siginfo *si)
{
	return si->ssi_code == SI_USER || si->ssi_code == SI_QUEUE || si->ssi_code == SI_TKILL;
}

static void child_reap(struct session *s)
{
	int status;

	if (!s->exited && waitpid(s->pid, &status, WNOHANG) == s->pid) {
		s->exited = true;
		s->status = status;
	}
}

static void signals_handle(struct session *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			child_reap(s);
		else if (si.ssi_signo == SIGWINCH)
			window_size_copy(s);
		else if (!s->exited && (s->pty || sent_by_a_process(&si)))
			kill(s->pid, (int)si.ssi_signo);
	}
}

/* ---- relaying ---- */

/* The end of one output stream: what the mask held back goes out. */
static void relay_end(struct relay *r)
{
	if (r->ms && !r->broken && mask_stream_finish(r->ms) < 0)
		r->broken = true;
	r->from = -1;
}

/* Reads what the child wrote on r and relays it. */
static void relay_read(struct session *s, struct relay *r)
{
	unsigned char *buf = s->relay_buf;
	ssize_t n = read(r->from, buf, RELAY_BUF);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* End of file, or EIO from a master whose slave is closed. */
		if (r->from != s->master)
			close(r->from);
		relay_end(r);
		return;
	}
	if ((size_t)n > s->relay_buf_used)
		s->relay_buf_used = (size_t)n;
	if (r->broken)
		return;
	if (mask_stream_write(r->ms, buf, (size_t)n) < 0) {
		/* tresor's output is gone (EPIPE): stop reading, so that the
		 * child meets a closed pipe as it would without tresor. */
		r->broken = true;
		if (r->from != s->master)
			close(r->from);
		r->from = -1;
	}
}

static void input_read(struct session *s)
{
	ssize_t n = read(STDIN_FILENO, s->input, sizeof(s->input));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		s->relay_stdin = false;
		return;
	}
	s->input_len = (size_t)n;
	s->input_off = 0;
}

static void input_write(struct session *s)
{
	ssize_t n = write(s->master, s->input + s->input_off, s->input_len - s->input_off);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n < 0) {
		s->relay_stdin = false;
		s->input_len = s->input_off = 0;
		return;
	}
	s->input_off += (size_t)n;
	if (s->input_off == s->input_len)
		s->input_len = s->input_off = 0;
}

static bool relays_open(const struct session *s)
{
	return s->relay[0].from >= 0 || s->relay[1].from >= 0;
}

/* The descriptors to wait for; idx[k] says what pollfd k is. */
enum { POLL_SIGNALS, POLL_OUT0, POLL_OUT1, POLL_STDIN, POLL_MASTER };

static nfds_t poll_set(const struct session *s, struct pollfd *p, int *idx)
{
	nfds_t n = 0;
	int i;

	p[n] = (struct pollfd){.fd = s->sigfd, .events = POLLIN};
	idx[n++] = POLL_SIGNALS;
	for (i = 0; i < 2; i++) {
		if (s->relay[i].from < 0)
			continue;
		p[n] = (struct pollfd){.fd = s->relay[i].from, .events = POLLIN};
		idx[n++] = POLL_OUT0 + i;
	}
	if (s->relay_stdin && s->input_len == 0 && !s->exited) {
		p[n] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
		idx[n++] = POLL_STDIN;
	}
	if (s->input_len > 0 && !s->exited) {
		p[n] = (struct pollfd){.fd = s->master, .events = POLLOUT};
		idx[n++] = POLL_MASTER;
	}
	return n;
}

static void poll_dispatch(struct session *s, const struct pollfd *p, const int *idx, nfds_t n)
{
	nfds_t k;

	for (k = 0; k < n; k++) {
		if (!p[k].revents)
			continue;
		switch (idx[k]) {
		case POLL_SIGNALS: signals_handle(s); break;
		case POLL_OUT0:
		case POLL_OUT1: relay_read(s, &s->relay[idx[k] - POLL_OUT0]); break;
		case POLL_STDIN: input_read(s); break;
		case POLL_MASTER: input_write(s); break;
		default: break;
		}
	}
}

/* Relays until the child has exited and its output has ended (or gone quiet). */
static void relay_loop(struct session *s)
{
	struct pollfd p[5];
	int idx[5];
	nfds_t n;
	int ready;

	while (!s->exited || relays_open(s)) {
		n = poll_set(s, p, idx);
		ready = poll(p, n, s->exited ? RUN_DRAIN_MS : -1);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0 || (ready == 0 && s->exited))
			break;
		poll_dispatch(s, p, idx, n);
	}
	if (!s->exited && waitpid(s->pid, &s->status, 0) == s->pid)
		s->exited = true;
}

/* ---- finishing ---- */

static void session_close(struct session *s)
{
	int i;

	raw_mode_off(s);
	for (i = 0; i < 2; i++) {
		if (s->relay[i].from >= 0 && s->relay[i].from != s->master)
			close(s->relay[i].from);
		if (s->relay[i].from >= 0)
			relay_end(&s->relay[i]);
		mask_stream_free(s->relay[i].ms);
	}
	child_ends_close(s);
	close_fd(&s->master);
	close_fd(&s->sigfd);
	sodium_memzero(s->input, sizeof(s->input));
	/* Only the bytes a read reached: wiping all 64 KiB would touch (and
	 * fault in) pages nothing ever used, on every `tresor run`. */
	if (s->relay_buf) {
		sodium_memzero(s->relay_buf, s->relay_buf_used);
		free(s->relay_buf);
		s->relay_buf = NULL;
	}
	if (s->mask_set)
		sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
}

static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

enum tr_status run_command(const struct run_options *o, struct run_result *res, struct tr_error *err)
{
	struct session s;
	void (*old_pipe)(int) = SIG_ERR;
	enum tr_status st;

	session_init(&s, o);
	res->exit_code = 0;
	res->exec_errno = 0;
	st = signals_block(&s, err);
	if (st == TR_OK)
		st = io_setup(&s, err);
	if (st == TR_OK && !(s.relay_buf = malloc(RELAY_BUF)))
		st = tr_error_set(err, TR_EINTERNAL, "out of memory");
	if (st == TR_OK)
		st = spawn(&s, res, err);
	if (st == TR_OK && !res->exec_errno) {
		/* A closed output must not kill tresor before the child is done. */
		old_pipe = signal(SIGPIPE, SIG_IGN);
		raw_mode_on(&s);
		relay_loop(&s);
		res->exit_code = exit_code_of(s.status);
	}
	if (st == TR_OK && res->exec_errno)
		res->exit_code = res->exec_errno == ENOENT ? 127 : 126;
	session_close(&s);
	if (old_pipe != SIG_ERR)
		signal(SIGPIPE, old_pipe);
	return st;
}
