/*
 * page-token.h - keyset page tokens for secret listings.
 *
 * A token says where the previous page ended (the sort key and id of its
 * last row) and which listing it belongs to (sort, direction and a hash of
 * the filters), so a token cannot be replayed against another query. It is
 * opaque to clients: "p1." followed by base64url text.
 */
#ifndef TRESOR_SERVER_PAGE_TOKEN_H
#define TRESOR_SERVER_PAGE_TOKEN_H

#include <stddef.h>

#include "common/status.h"
#include "storage/store.h"

#define PAGE_TOKEN_MAX 512

/* The position after row m in q's order, as a token. */
void page_token_make(const struct store_secret_query *q, const struct store_secret *m, char out[PAGE_TOKEN_MAX]);

/* Applies a token to q (which must already hold its filters and sort):
 * sets the keyset fields. name_buf receives the name it points into.
 * TR_EINVAL for a malformed token or one made for another query. */
enum tr_status page_token_apply(const char *token, struct store_secret_query *q, char *name_buf, size_t name_len,
                                struct tr_error *err);

#endif
