/*
 * expand.h - $(VAR) references in command arguments, expanded the way
 * Kubernetes expands a container's command and args:
 *
 *   $(NAME)   the value of NAME when lookup knows it; otherwise the text
 *             stays as written, "$(NAME)"
 *   $$        one literal '$', so "$$(NAME)" becomes the text "$(NAME)"
 *   $( ...    without a closing ')' stays as written
 *   $x        any other '$' stays as written, with what follows it
 *
 * An expanded value is not expanded again.
 */
#ifndef TRESOR_INJECT_EXPAND_H
#define TRESOR_INJECT_EXPAND_H

#include <stddef.h>

#include "common/status.h"

/*
 * The value of the variable named by the len bytes at name (not
 * NUL-terminated), or NULL when there is none. *value_len gets its length.
 */
typedef const char *expand_lookup_fn(void *ctx, const char *name, size_t len, size_t *value_len);

/*
 * Expands in. On TR_OK *out is a fresh string (it may hold secret values:
 * free it with inject_wipe_free). TR_EINTERNAL when out of memory.
 */
enum tr_status expand_vars(const char *in, expand_lookup_fn *lookup, void *ctx, char **out);

#endif
