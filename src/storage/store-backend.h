/*
 * store-backend.h - what the storage backends give store.c, and nothing
 * else includes: one constructor per backend, chosen by DSN prefix.
 */
#ifndef TRESOR_STORAGE_STORE_BACKEND_H
#define TRESOR_STORAGE_STORE_BACKEND_H

#include "storage/store.h"

/* A backend calls store_changes_begin at a transaction's first change of
 * a row outside the audit log, and store_changes_end once that transaction
 * has committed or rolled back (store_changes_begun in store.h). */
void store_changes_begin(void);
void store_changes_end(void);

/* Opens "sqlite:PATH" (path is what follows the prefix). */
enum tr_status store_sqlite_open(const char *path, struct store **out, struct tr_error *err);

#endif
