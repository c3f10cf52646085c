/*
 * page-token.c - encoding and checking keyset page tokens.
 *
 * Plain text before encoding: "<sort>|<desc>|<filters hash>|<time>|<id>|<name>";
 * the name comes last because it is the only free-form part (secret names
 * never contain '|').
 */
#include "server/page-token.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define PREFIX "p1."

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* 16 hex characters naming the query's filters and order. */
static void query_hash(const struct store_secret_query *q, char out[17])
{
	const char *parts[] = {q->workspace, q->search, q->type,       q->tag,
	                       q->project,   q->cluster, q->created_by, q->visibility};
	crypto_generichash_state st;
	unsigned char h[8];
	unsigned char flags[2] = {(unsigned char)q->hide_expired, (unsigned char)q->sort};

	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		crypto_generichash_update(&st, (const unsigned char *)or_empty(parts[i]), strlen(or_empty(parts[i])) + 1);
	crypto_generichash_update(&st, flags, sizeof(flags));
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(out, 17, h, sizeof(h));
}

static int64_t sort_time(const struct store_secret_query *q, const struct store_secret *m)
{
	return q->sort == STORE_SORT_CREATED ? m->created_at : q->sort == STORE_SORT_UPDATED ? m->updated_at : 0;
}

void page_token_make(const struct store_secret_query *q, const struct store_secret *m, char out[PAGE_TOKEN_MAX])
{
	char plain[400], hash[17];
	int n;

	query_hash(q, hash);
	n = snprintf(plain, sizeof(plain), "%d|%d|%s|%" PRId64 "|%" PRId64 "|%s", (int)q->sort, (int)q->descending,
	             hash, sort_time(q, m), m->id, q->sort == STORE_SORT_NAME ? m->name : "");
	memcpy(out, PREFIX, sizeof(PREFIX));
	sodium_bin2base64(out + strlen(PREFIX), PAGE_TOKEN_MAX - strlen(PREFIX), (const unsigned char *)plain,
	                  (size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

enum tr_status page_token_apply(const char *token, struct store_secret_query *q, char *name_buf, size_t name_len,
                                struct tr_error *err)
{
	char plain[400], hash[17], token_hash[17];
	size_t len = 0;
	int sort, desc, consumed = 0;
	int64_t time_v, id;

	if (strncmp(token, PREFIX, strlen(PREFIX)) != 0 ||
	    sodium_base642bin((unsigned char *)plain, sizeof(plain) - 1, token + strlen(PREFIX),
	                      strlen(token + strlen(PREFIX)), NULL, &len, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return tr_error_set(err, TR_EINVAL, "query parameter 'page_token' is malformed");
	plain[len] = '\0';
	if (sscanf(plain, "%d|%d|%16[0-9a-f]|%" SCNd64 "|%" SCNd64 "|%n", &sort, &desc, token_hash, &time_v, &id,
	           &consumed) != 5 || consumed == 0 || strlen(plain + consumed) >= name_len)
		return tr_error_set(err, TR_EINVAL, "query parameter 'page_token' is malformed");
	query_hash(q, hash);
	if (sort != (int)q->sort || desc != (int)q->descending || strcmp(hash, token_hash) != 0)
		return tr_error_set(err, TR_EINVAL,
		                    "query parameter 'page_token' belongs to a listing with other filters or sort");
	snprintf(name_buf, name_len, "%s", plain + consumed);
	q->has_after = true;
	q->after_name = name_buf;
	q->after_time = time_v;
	q->after_id = id;
	q->offset = 0;
	return TR_OK;
}
