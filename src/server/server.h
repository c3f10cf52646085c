/*
 * server.h - `tresor server`: the HTTP daemon.
 *
 * server_main parses the server's own options (flags > TRESOR_* environment
 * > config file > defaults), sets up the data directory, storage and
 * keyring, runs one libevent loop per worker thread until SIGTERM/SIGINT,
 * drains in-flight requests and returns the process exit status.
 */
#ifndef TRESOR_SERVER_SERVER_H
#define TRESOR_SERVER_SERVER_H

/* argv[0] is "server"; the options follow. Returns 0 on a clean stop. */
int server_main(int argc, char **argv);

#endif
