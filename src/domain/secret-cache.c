/*
 * secret-cache.c - each thread's copy of the secrets /resolve read
 * (secret-cache.h).
 *
 * A hash table of chained entries: the identity's hash picks a bucket,
 * and every identity put is kept (no two evict each other) until the
 * thread's entries would pass SECRET_CACHE_BYTES; then the thread drops
 * them all and starts again. Each entry is one allocation, its strings and
 * blobs packed after it, so that a data set of ~10,000 secrets fits. An
 * entry is freed when it is replaced, when a newer state's put or a full
 * budget drops it, and when the thread ends (or secret_cache_release).
 */
#include "domain/secret-cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "common/strcopy.h"

/* Bytes of entries a thread keeps at most (the entries' own sizes). */
#define SECRET_CACHE_BYTES (4u * 1024 * 1024)

/* The identity's text: "workspace\0project\0cluster\0name\0". */
#define IDENTITY_MAX (TR_WORKSPACE_NAME_MAX + 2 * TR_SCOPE_NAME_MAX + TR_SECRET_NAME_MAX + 4)

/* The row's strings: "type\0visibility\0created_by\0provider\0". */
#define STRINGS_MAX (TR_TYPE_NAME_MAX + TR_VISIBILITY_MAX + TR_PRINCIPAL_NAME_MAX + TR_PROVIDER_ID_MAX + 4)

_Static_assert(IDENTITY_MAX <= UINT16_MAX && STRINGS_MAX <= UINT16_MAX, "lengths kept in uint16_t");

/* An entry, of the state of its cache (secret_cache.generation). data
 * holds the identity, then (unless absent) the row's strings, the wrapped
 * key and the ciphertext. */
struct cached_secret {
	struct cached_secret *next; /* in its bucket */
	size_t size;                /* of the whole allocation */
	int64_t id;
	int64_t version;
	int64_t expires_at;
	size_t wrapped_len;
	size_t cipher_len;
	uint16_t identity_len;
	uint16_t strings_len;
	bool absent; /* no such secret: nothing in data but the identity */
	unsigned char data[];
};

struct secret_cache {
	struct cached_secret *buckets[SECRET_CACHE_BUCKETS];
	uint32_t used[SECRET_CACHE_BUCKETS]; /* the buckets that hold entries, in the order first used */
	size_t nused;
	uint64_t generation; /* of every entry */
	size_t bytes;
	uint64_t hits;
};

static _Thread_local struct secret_cache *thread_cache;
static pthread_key_t cache_key;
static bool cache_key_made;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

/* Frees every entry: as many steps as there are entries. */
static void drop_entries(struct secret_cache *c)
{
	for (size_t i = 0; i < c->nused; i++) {
		struct cached_secret **bucket = &c->buckets[c->used[i]];

		while (*bucket) {
			struct cached_secret *next = (*bucket)->next;

			free(*bucket);
			*bucket = next;
		}
	}
	c->nused = 0;
	c->bytes = 0;
}

/* The thread-exit destructor. */
static void cache_free(void *arg)
{
	struct secret_cache *c = arg;

	if (!c)
		return;
	drop_entries(c);
	free(c);
	thread_cache = NULL;
}

static void make_key(void)
{
	cache_key_made = pthread_key_create(&cache_key, cache_free) == 0;
}

/* This thread's cache, made at first use; NULL if there is no memory. */
static struct secret_cache *this_cache(void)
{
	struct secret_cache *c;

	if (thread_cache)
		return thread_cache;
	pthread_once(&cache_key_once, make_key);
	if (!cache_key_made || !(c = calloc(1, sizeof(*c))))
		return NULL; /* no cache: every lookup reads */
	if (pthread_setspecific(cache_key, c) != 0) {
		free(c);
		return NULL;
	}
	thread_cache = c;
	return c;
}

/* Appends part and its NUL; false if part is longer than max. */
static bool put_part(char *out, size_t *len, const char *part, size_t max)
{
	size_t n = strnlen(part, max + 1);

	if (n > max)
		return false;
	memcpy(out + *len, part, n + 1);
	*len += n + 1;
	return true;
}

/* Writes the identity's text into out (IDENTITY_MAX bytes); its length, or
 * 0 if a part is longer than its limit. */
static size_t identity_of(char out[IDENTITY_MAX], const char *workspace, const char *project, const char *cluster,
			  const char *name)
{
	size_t len = 0;

	if (!put_part(out, &len, workspace, TR_WORKSPACE_NAME_MAX) ||
	    !put_part(out, &len, project, TR_SCOPE_NAME_MAX) || !put_part(out, &len, cluster, TR_SCOPE_NAME_MAX) ||
	    !put_part(out, &len, name, TR_SECRET_NAME_MAX))
		return 0;
	return len;
}

/* FNV-1a. */
static size_t bucket_of(const char *identity, size_t len)
{
	uint64_t h = 14695981039346656037u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)identity[i];
		h *= 1099511628211u;
	}
	return (size_t)(h & (SECRET_CACHE_BUCKETS - 1));
}

/* Where the entry of this identity is linked in c (*where is NULL if there
 * is none). */
static struct cached_secret **find(struct secret_cache *c, size_t bucket, const char *identity, size_t len)
{
	struct cached_secret **where = &c->buckets[bucket];

	while (*where && ((*where)->identity_len != len || memcmp((*where)->data, identity, len) != 0))
		where = &(*where)->next;
	return where;
}

/* Copies the next of e's strings into out (size bytes) and steps past it. */
static const char *take_string(const char *at, char *out, size_t size)
{
	str_copy(out, size, at);
	return at + strlen(at) + 1;
}

/* Fills *m (the row's fields /resolve uses) and *v from e. */
static bool fill(const struct cached_secret *e, const char *workspace, const char *project, const char *cluster,
                 const char *name, struct store_secret *m, struct store_version *v)
{
	const char *strings = (const char *)e->data + e->identity_len;
	const unsigned char *wrapped = e->data + e->identity_len + e->strings_len;

	memset(v, 0, sizeof(*v));
	v->version = e->version;
	if (store_blob_set(&v->wrapped_key, wrapped, e->wrapped_len) != TR_OK ||
	    store_blob_set(&v->ciphertext, wrapped + e->wrapped_len, e->cipher_len) != TR_OK) {
		store_version_clear(v);
		return false;
	}
	memset(m, 0, sizeof(*m));
	str_copy(m->workspace, sizeof(m->workspace), workspace);
	str_copy(m->project, sizeof(m->project), project);
	str_copy(m->cluster, sizeof(m->cluster), cluster);
	str_copy(m->name, sizeof(m->name), name);
	strings = take_string(strings, m->type, sizeof(m->type));
	strings = take_string(strings, m->visibility, sizeof(m->visibility));
	strings = take_string(strings, m->created_by, sizeof(m->created_by));
	take_string(strings, v->provider, sizeof(v->provider));
	m->id = e->id;
	m->version = e->version;
	m->expires_at = e->expires_at;
	return true;
}

enum secret_cache_answer secret_cache_get(uint64_t generation, const char *workspace, const char *project,
					  const char *cluster, const char *name, struct store_secret *m,
					  struct store_version *v)
{
	struct secret_cache *c = thread_cache;
	char identity[IDENTITY_MAX];
	size_t len = identity_of(identity, workspace, project, cluster, name);
	const struct cached_secret *e;

	if (!c || c->generation != generation || len == 0)
		return SECRET_CACHE_MISS;
	if (!(e = *find(c, bucket_of(identity, len), identity, len)))
		return SECRET_CACHE_MISS;
	if (!e->absent && !fill(e, workspace, project, cluster, name, m, v))
		return SECRET_CACHE_MISS;
	c->hits++;
	return e->absent ? SECRET_CACHE_ABSENT : SECRET_CACHE_FOUND;
}

/* The row's strings of m and v, packed into out (STRINGS_MAX bytes); their
 * length, or 0 if one is longer than its limit. */
static size_t strings_of(char out[STRINGS_MAX], const struct store_secret *m, const struct store_version *v)
{
	size_t len = 0;

	if (!put_part(out, &len, m->type, TR_TYPE_NAME_MAX) ||
	    !put_part(out, &len, m->visibility, TR_VISIBILITY_MAX) ||
	    !put_part(out, &len, m->created_by, TR_PRINCIPAL_NAME_MAX) ||
	    !put_part(out, &len, v->provider, TR_PROVIDER_ID_MAX))
		return 0;
	return len;
}

/* A new entry of `size` bytes holding the identity and, unless m is NULL
 * (the secret is absent), the packed strings, m and v; NULL without
 * memory. */
static struct cached_secret *make_entry(size_t size, const char *identity, size_t len, const char *strings,
					size_t strings_len, const struct store_secret *m, const struct store_version *v)
{
	struct cached_secret *e = malloc(size);

	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->size = size;
	e->identity_len = (uint16_t)len;
	memcpy(e->data, identity, len);
	if (!m) {
		e->absent = true;
		return e;
	}
	e->id = m->id;
	e->version = m->version;
	e->expires_at = m->expires_at;
	e->strings_len = (uint16_t)strings_len;
	memcpy(e->data + len, strings, strings_len);
	e->wrapped_len = v->wrapped_key.len;
	e->cipher_len = v->ciphertext.len;
	if (e->wrapped_len)
		memcpy(e->data + len + strings_len, v->wrapped_key.data, e->wrapped_len);
	if (e->cipher_len)
		memcpy(e->data + len + strings_len + e->wrapped_len, v->ciphertext.data, e->cipher_len);
	return e;
}

/* Links e into its bucket, in place of *where (NULL: at the bucket's head). */
static void link_entry(struct secret_cache *c, size_t bucket, struct cached_secret **where, struct cached_secret *e)
{
	struct cached_secret *old = *where;

	if (!c->buckets[bucket])
		c->used[c->nused++] = (uint32_t)bucket;
	if (old) {
		e->next = old->next;
		c->bytes -= old->size;
		free(old);
	} else {
		e->next = c->buckets[bucket];
		where = &c->buckets[bucket];
	}
	*where = e;
	c->bytes += e->size;
}

/* Keeps what a read in the state `generation` found for the identity (m
 * and v, or with m NULL its absence), in place of what was kept for it.
 * An entry that would take the thread past its budget drops every other
 * first: the cache starts again with what is read from now on. */
static void keep(uint64_t generation, const char *identity, size_t len, const struct store_secret *m,
		 const struct store_version *v)
{
	struct secret_cache *c = this_cache();
	size_t bucket = bucket_of(identity, len);
	char strings[STRINGS_MAX];
	size_t strings_len = m ? strings_of(strings, m, v) : 0;
	size_t size = sizeof(struct cached_secret) + len + strings_len +
		      (m ? v->wrapped_key.len + v->ciphertext.len : 0);
	struct cached_secret **where, *e;

	if (!c || len == 0 || (m && strings_len == 0) || size > SECRET_CACHE_BYTES || generation < c->generation)
		return;
	if (generation > c->generation) { /* every entry is of an older state */
		drop_entries(c);
		c->generation = generation;
	}
	where = find(c, bucket, identity, len);
	if (c->bytes - (*where ? (*where)->size : 0) + size > SECRET_CACHE_BYTES) {
		drop_entries(c);
		where = &c->buckets[bucket];
	}
	if ((e = make_entry(size, identity, len, strings, strings_len, m, v)))
		link_entry(c, bucket, where, e);
}

void secret_cache_put(uint64_t generation, const struct store_secret *m, const struct store_version *v)
{
	char identity[IDENTITY_MAX];
	size_t len = identity_of(identity, m->workspace, m->project, m->cluster, m->name);

	if (v->version == m->version)
		keep(generation, identity, len, m, v);
}

void secret_cache_put_absent(uint64_t generation, const char *workspace, const char *project, const char *cluster,
			     const char *name)
{
	char identity[IDENTITY_MAX];
	size_t len = identity_of(identity, workspace, project, cluster, name);

	keep(generation, identity, len, NULL, NULL);
}

uint64_t secret_cache_hits(void)
{
	return thread_cache ? thread_cache->hits : 0;
}

void secret_cache_release(void)
{
	if (!thread_cache)
		return;
	pthread_setspecific(cache_key, NULL);
	cache_free(thread_cache);
}
