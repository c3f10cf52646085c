/*
 * run.h - runs the command of `tresor run` and relays its output.
 *
 * Without a mask the child inherits tresor's standard input, output and
 * error as they are. With a mask its output passes through one
 * mask_stream per stream before tresor writes it:
 *
 *   - when tresor's stdout is a terminal, the child gets a pseudo-terminal
 *     (posix_openpt) as its stdout, as its stdin when tresor's stdin is a
 *     terminal (which is then put in raw mode and relayed, keys and all),
 *     and as its stderr when tresor's stderr is a terminal; the window size
 *     follows tresor's (SIGWINCH);
 *   - otherwise stdout and stderr are pipes, and stdin is inherited.
 *
 * The child is started with vfork and execvpe (looked up in tresor's PATH,
 * as a shell would: a script without "#!" runs under /bin/sh), so none of
 * tresor's memory is copied for it. SIGINT, SIGTERM, SIGHUP and
 * SIGQUIT sent to tresor are forwarded to the child. When the child shares
 * tresor's terminal (no pseudo-terminal), signals that the terminal sends
 * to the whole foreground process group (Ctrl-C) reach the child directly
 * and are not sent a second time. Once the child has exited, output still
 * arriving is relayed until the pipes close or stay quiet for
 * RUN_DRAIN_MS (a background process the child left behind may hold them).
 *
 * Linux: signalfd.
 */
#ifndef TRESOR_INJECT_RUN_H
#define TRESOR_INJECT_RUN_H

#include "common/status.h"
#include "inject/mask.h"

#define RUN_DRAIN_MS 200

struct run_options {
	char *const *argv;       /* argv[0] is looked up in tresor's PATH, not envp's */
	char *const *envp;       /* the child's whole environment */
	const struct mask *mask; /* NULL: the output is not filtered */
};

struct run_result {
	int exit_code;  /* the child's exit status; 128+N when signal N ended it */
	int exec_errno; /* non-zero: the command could not be started (errno of
			   execve); exit_code is then 127 for ENOENT, else 126 */
};

/*
 * Runs the command and waits for it. TR_OK once it ran or failed to start
 * (see res); another status when tresor itself could not set it up.
 */
enum tr_status run_command(const struct run_options *o, struct run_result *res, struct tr_error *err);

#endif
