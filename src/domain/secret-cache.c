/*
 * secret-cache.c - each thread's copy of the secrets /resolve read
 * (secret-cache.h).
 *
 * A direct-mapped table: the identity's hash picks one slot, whose entry
 * is replaced by the next one put there. Entries live on the heap, each
 * with its identity and sealed version after it; a thread's entries are
 * bounded in number (SECRET_CACHE_SLOTS) and in bytes (SECRET_CACHE_BYTES)
 * and freed when the thread ends.
 */
#include "domain/secret-cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "common/strcopy.h"

/* Bytes of entries a thread keeps at most; one that would pass it is not
 * kept. */
#define SECRET_CACHE_BYTES (4u * 1024 * 1024)

/* The identity's text: "workspace\0project\0cluster\0name\0". */
#define IDENTITY_MAX (TR_WORKSPACE_NAME_MAX + 2 * TR_SCOPE_NAME_MAX + TR_SECRET_NAME_MAX + 4)

/* An entry, of the state of its cache (secret_cache.generation). */
struct cached_secret {
	size_t size; /* of the whole allocation */
	bool absent; /* no such secret: nothing below but the identity */
	int64_t id;
	int64_t version;
	int64_t expires_at;
	char type[TR_TYPE_NAME_MAX + 1];
	char visibility[TR_VISIBILITY_MAX + 1];
	char created_by[TR_PRINCIPAL_NAME_MAX + 1];
	char provider[TR_PROVIDER_ID_MAX + 1];
	size_t identity_len;
	size_t wrapped_len;
	size_t cipher_len;
	unsigned char data[]; /* identity, wrapped key, ciphertext */
};

struct secret_cache {
	struct cached_secret *slots[SECRET_CACHE_SLOTS];
	uint32_t filled[SECRET_CACHE_SLOTS]; /* the slots that hold an entry, in the order filled */
	size_t nfilled;
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
	for (size_t i = 0; i < c->nfilled; i++) {
		free(c->slots[c->filled[i]]);
		c->slots[c->filled[i]] = NULL;
	}
	c->nfilled = 0;
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
static size_t slot_of(const char *identity, size_t len)
{
	uint64_t h = 14695981039346656037u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)identity[i];
		h *= 1099511628211u;
	}
	return (size_t)(h & (SECRET_CACHE_SLOTS - 1));
}

static bool fill_version(const struct cached_secret *e, struct store_version *v)
{
	const unsigned char *wrapped = e->data + e->identity_len;

	memset(v, 0, sizeof(*v));
	v->version = e->version;
	memcpy(v->provider, e->provider, sizeof(v->provider));
	if (store_blob_set(&v->wrapped_key, wrapped, e->wrapped_len) != TR_OK ||
	    store_blob_set(&v->ciphertext, wrapped + e->wrapped_len, e->cipher_len) != TR_OK) {
		store_version_clear(v);
		return false;
	}
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
	e = c->slots[slot_of(identity, len)];
	if (!e || e->identity_len != len || memcmp(e->data, identity, len) != 0)
		return SECRET_CACHE_MISS;
	if (e->absent) {
		c->hits++;
		return SECRET_CACHE_ABSENT;
	}
	if (!fill_version(e, v))
		return SECRET_CACHE_MISS;
	memset(m, 0, sizeof(*m));
	str_copy(m->workspace, sizeof(m->workspace), workspace);
	str_copy(m->project, sizeof(m->project), project);
	str_copy(m->cluster, sizeof(m->cluster), cluster);
	str_copy(m->name, sizeof(m->name), name);
	memcpy(m->type, e->type, sizeof(m->type));
	memcpy(m->visibility, e->visibility, sizeof(m->visibility));
	memcpy(m->created_by, e->created_by, sizeof(m->created_by));
	m->id = e->id;
	m->version = e->version;
	m->expires_at = e->expires_at;
	c->hits++;
	return SECRET_CACHE_FOUND;
}

/* A new entry of `size` bytes holding m and v, or, with m NULL, that the
 * secret is absent; NULL without memory. */
static struct cached_secret *make_entry(const char *identity, size_t len, size_t size, const struct store_secret *m,
					const struct store_version *v)
{
	struct cached_secret *e = malloc(size);

	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->size = size;
	e->identity_len = len;
	memcpy(e->data, identity, len);
	if (!m) {
		e->absent = true;
		return e;
	}
	e->id = m->id;
	e->version = m->version;
	e->expires_at = m->expires_at;
	memcpy(e->type, m->type, sizeof(e->type));
	memcpy(e->visibility, m->visibility, sizeof(e->visibility));
	memcpy(e->created_by, m->created_by, sizeof(e->created_by));
	memcpy(e->provider, v->provider, sizeof(e->provider));
	e->wrapped_len = v->wrapped_key.len;
	e->cipher_len = v->ciphertext.len;
	if (e->wrapped_len)
		memcpy(e->data + len, v->wrapped_key.data, e->wrapped_len);
	if (e->cipher_len)
		memcpy(e->data + len + e->wrapped_len, v->ciphertext.data, e->cipher_len);
	return e;
}

/* Keeps what a read in the state `generation` found for the identity (m
 * and v, or with m NULL its absence) in the identity's slot. */
static void keep(uint64_t generation, const char *identity, size_t len, const struct store_secret *m,
		 const struct store_version *v)
{
	struct secret_cache *c = this_cache();
	size_t size = sizeof(struct cached_secret) + len + (m ? v->wrapped_key.len + v->ciphertext.len : 0);
	size_t index = slot_of(identity, len);
	struct cached_secret *old, *e;

	if (!c || len == 0 || generation < c->generation)
		return;
	if (generation > c->generation) { /* every entry is of an older state */
		drop_entries(c);
		c->generation = generation;
	}
	old = c->slots[index];
	if (c->bytes - (old ? old->size : 0) + size > SECRET_CACHE_BYTES ||
	    !(e = make_entry(identity, len, size, m, v)))
		return;
	if (old) {
		c->bytes -= old->size;
		free(old);
	} else {
		c->filled[c->nfilled++] = (uint32_t)index;
	}
	c->slots[index] = e;
	c->bytes += size;
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
