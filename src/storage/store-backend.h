/*
 * store-backend.h - what the storage backends give store.c, and nothing
 * else includes: one constructor per backend, chosen by DSN prefix.
 */
#ifndef TRESOR_STORAGE_STORE_BACKEND_H
#define TRESOR_STORAGE_STORE_BACKEND_H

#include "storage/store.h"

/* Raises store_data_generation: a backend calls it after each commit
 * that changed a row outside the audit log. */
void store_data_generation_raise(void);

/* Opens "sqlite:PATH" (path is what follows the prefix). */
enum tr_status store_sqlite_open(const char *path, struct store **out, struct tr_error *err);

#endif
