/*
 * expand.c - Kubernetes' $(VAR) expansion (expand.h), one pass from left
 * to right. It follows the reference implementation's rules byte for byte
 * (k8s.io/kubernetes third_party/forked/golang/expansion): after a '$' the
 * next byte decides, and a '$' at the very end is copied.
 */
#include "inject/expand.h"

#include <string.h>

#include "inject/sbuf.h"

/*
 * Handles the reference that starts with the '$' at in[0] (in[1] exists).
 * Appends what it stands for to b; returns the bytes consumed.
 */
static size_t reference_expand(const char *in, expand_lookup_fn *lookup, void *ctx, struct sbuf *b, enum tr_status *st)
{
	const char *close;
	const char *value;
	size_t value_len = 0;

	if (in[1] == '$') {
		*st = sbuf_addc(b, '$');
		return 2;
	}
	if (in[1] != '(') {
		/* Not a reference: the '$' and the byte after it, as they are. */
		*st = sbuf_add(b, in, 2);
		return 2;
	}
	close = strchr(in + 2, ')');
	if (!close) {
		/* Incomplete: "$(" as it is; scanning goes on after it. */
		*st = sbuf_add(b, in, 2);
		return 2;
	}
	value = lookup(ctx, in + 2, (size_t)(close - (in + 2)), &value_len);
	if (value)
		*st = sbuf_add(b, value, value_len);
	else
		*st = sbuf_add(b, in, (size_t)(close + 1 - in));
	return (size_t)(close + 1 - in);
}

enum tr_status expand_vars(const char *in, expand_lookup_fn *lookup, void *ctx, char **out)
{
	struct sbuf b = {0};
	enum tr_status st = TR_OK;
	size_t i = 0;
	size_t start = 0;

	while (in[i] && st == TR_OK) {
		if (in[i] != '$' || in[i + 1] == '\0') {
			i++;
			continue;
		}
		st = sbuf_add(&b, in + start, i - start);
		if (st == TR_OK)
			i += reference_expand(in + i, lookup, ctx, &b, &st);
		start = i;
	}
	if (st == TR_OK)
		st = sbuf_add(&b, in + start, i - start);
	if (st == TR_OK)
		*out = sbuf_take(&b);
	if (st == TR_OK && !*out)
		st = TR_EINTERNAL;
	sbuf_clear(&b);
	return st;
}
