/*
 * envelope.c - the barrier (SPEC §7): the only code that seals secret data
 * for storage and opens it again. Nothing else may call the AEAD on secret
 * values or handle unwrapped data keys.
 *
 * Each seal draws a fresh 32-byte data key in guarded memory, seals the
 * plaintext under it with the record's identity as AAD, wraps it with the
 * keyring's current provider, and wipes it. Opening reverses that; any
 * authentication failure yields TR_ECRYPTO and no plaintext.
 */
#include "envelope.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define ENV_FORMAT 1
#define ENV_AAD_LABEL "tresor-envelope-v1"
#define ENV_NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define ENV_TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define ENV_HEADER_BYTES (1 + ENV_NONCE_BYTES)
#define ENV_OVERHEAD (ENV_HEADER_BYTES + ENV_TAG_BYTES)

/* ---- additional data ---- */

/* The AAD is built in a heap buffer; it holds names only, nothing secret. */
struct aad {
	unsigned char *buf;
	size_t len;
};

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static unsigned char *aad_put_field(unsigned char *p, const char *s)
{
	size_t len = strlen(s);
	int i;

	for (i = 0; i < 4; i++)
		*p++ = (unsigned char)((uint32_t)len >> (8 * i));
	memcpy(p, s, len);
	return p + len;
}

static unsigned char *aad_put_version(unsigned char *p, int64_t version)
{
	uint64_t v = (uint64_t)version;
	int i;

	for (i = 0; i < 8; i++)
		*p++ = (unsigned char)(v >> (8 * i));
	return p;
}

/* Builds the AAD for id as envelope.h describes; TR_EINVAL on a missing
 * required field. */
static enum tr_status aad_build(const struct envelope_identity *id, struct aad *out, struct tr_error *err)
{
	const char *fields[5];
	size_t total = sizeof(ENV_AAD_LABEL) - 1 + 8;
	unsigned char *p;
	size_t i;

	if (!id || !id->workspace || !id->name || !id->type)
		return tr_error_set(err, TR_EINVAL, "envelope identity needs a workspace, a name and a type");
	fields[0] = id->workspace;
	fields[1] = or_empty(id->project);
	fields[2] = or_empty(id->cluster);
	fields[3] = id->name;
	fields[4] = id->type;
	for (i = 0; i < 5; i++) {
		size_t len = strlen(fields[i]);

		if (len > UINT32_MAX || SIZE_MAX - total < 4 + len)
			return tr_error_set(err, TR_EINVAL, "envelope identity field too long");
		total += 4 + len;
	}
	out->buf = malloc(total);
	if (!out->buf)
		return tr_error_set(err, TR_EINTERNAL, "out of memory building record AAD");
	memcpy(out->buf, ENV_AAD_LABEL, sizeof(ENV_AAD_LABEL) - 1);
	p = out->buf + sizeof(ENV_AAD_LABEL) - 1;
	for (i = 0; i < 5; i++)
		p = aad_put_field(p, fields[i]);
	aad_put_version(p, id->version);
	out->len = total;
	return TR_OK;
}

/* ---- data keys ---- */

/* Unwraps wrapped into dk (the caller's guarded DATA_KEY_BYTES) with the
 * provider named `provider`. TR_EUNAVAIL if the keyring lacks it; dk is
 * wiped on failure. */
static enum tr_status data_key_unwrap_into(const struct keyring *kr, const char *provider,
                                           const unsigned char *wrapped, size_t wrapped_len, unsigned char *dk,
                                           struct tr_error *err)
{
	const struct key_provider *p = keyring_get(kr, provider);
	enum tr_status st;

	if (!p)
		return tr_error_set(err, TR_EUNAVAIL, "key provider '%s' is not configured", or_empty(provider));
	st = p->ops->unwrap(p->ctx, p->id, wrapped, wrapped_len, dk, err);
	if (st != TR_OK)
		sodium_memzero(dk, DATA_KEY_BYTES);
	return st;
}

/* Guarded memory for one data key: the scratch's when given (bulk work),
 * else this thread's own page (NULL when that cannot be allocated).
 * Release with data_key_release. */
static unsigned char *data_key_buffer(struct envelope_scratch *scratch);
static void data_key_release(struct envelope_scratch *scratch, unsigned char *dk);

static const struct key_provider *current_provider(const struct keyring *kr, struct tr_error *err)
{
	const struct key_provider *p = keyring_current(kr);

	if (!p)
		tr_error_set(err, TR_EUNAVAIL, "no current key provider is configured");
	return p;
}

/* ---- records ---- */

/* Seals plaintext under dk into a fresh record. */
static enum tr_status record_seal(const unsigned char *dk, const struct aad *aad, const unsigned char *pt,
                                  size_t len, unsigned char **rec, size_t *rec_len, struct tr_error *err)
{
	unsigned long long clen;
	unsigned char *r;

	if (len > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX || len > SIZE_MAX - ENV_OVERHEAD)
		return tr_error_set(err, TR_ETOOLARGE, "secret data too large to seal");
	r = malloc(len + ENV_OVERHEAD);
	if (!r)
		return tr_error_set(err, TR_EINTERNAL, "out of memory sealing record");
	r[0] = ENV_FORMAT;
	randombytes_buf(r + 1, ENV_NONCE_BYTES);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(r + ENV_HEADER_BYTES, &clen, pt ? pt : (const unsigned char *)"",
	                                               len, aad->buf, aad->len, NULL, r + 1, dk) != 0) {
		free(r);
		return tr_error_set(err, TR_EINTERNAL, "record encryption failed");
	}
	*rec = r;
	*rec_len = (size_t)clen + ENV_HEADER_BYTES;
	return TR_OK;
}

/* Opens rec under dk into out; TR_ECRYPTO (and no plaintext left behind) if
 * the record is malformed or fails authentication. */
static enum tr_status record_open(const unsigned char *dk, const struct aad *aad, const unsigned char *rec,
                                  size_t rec_len, struct secbuf *out)
{
	size_t pt_len;
	unsigned long long mlen;
	unsigned char *pt;

	if (!rec || rec_len < ENV_OVERHEAD || rec[0] != ENV_FORMAT)
		return TR_ECRYPTO;
	pt_len = rec_len - ENV_OVERHEAD;
	pt = malloc(pt_len + 1);
	if (!pt)
		return TR_EINTERNAL;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &mlen, NULL, rec + ENV_HEADER_BYTES,
	                                               rec_len - ENV_HEADER_BYTES, aad->buf, aad->len, rec + 1,
	                                               dk) != 0 ||
	    mlen != pt_len) {
		sodium_memzero(pt, pt_len + 1);
		free(pt);
		return TR_ECRYPTO;
	}
	pt[pt_len] = '\0';
	out->data = pt;
	out->len = pt_len;
	return TR_OK;
}

/* ---- scratch ---- */

struct envelope_scratch {
	unsigned char *dk; /* guarded, DATA_KEY_BYTES, wiped after every use */
};

enum tr_status envelope_scratch_new(struct envelope_scratch **out, struct tr_error *err)
{
	struct envelope_scratch *s;

	if (!out)
		return tr_error_set(err, TR_EINVAL, "envelope_scratch_new needs an output");
	if (!(s = calloc(1, sizeof(*s))) || !(s->dk = sodium_malloc(DATA_KEY_BYTES))) {
		free(s);
		return tr_error_set(err, TR_EINTERNAL, "cannot allocate guarded memory for data keys");
	}
	*out = s;
	return TR_OK;
}

void envelope_scratch_free(struct envelope_scratch *s)
{
	if (!s)
		return;
	sodium_free(s->dk);
	free(s);
}

/*
 * Each thread that seals or opens gets one guarded page for its data keys,
 * made on first use and freed when the thread ends. A fresh sodium_malloc
 * per operation costs an mmap, mprotects and an munmap, and in a threaded
 * server each of those makes every core flush its TLB: it was the largest
 * cost of a durable create.
 */
static pthread_key_t thread_scratch_key;
static pthread_once_t thread_scratch_once = PTHREAD_ONCE_INIT;

static void thread_scratch_free(void *s)
{
	envelope_scratch_free(s);
}

static void thread_scratch_key_create(void)
{
	if (pthread_key_create(&thread_scratch_key, thread_scratch_free) != 0)
		abort(); /* only when the process is out of keys: a bug */
}

static struct envelope_scratch *thread_scratch(void)
{
	struct envelope_scratch *s;

	pthread_once(&thread_scratch_once, thread_scratch_key_create);
	s = pthread_getspecific(thread_scratch_key);
	if (!s && envelope_scratch_new(&s, NULL) == TR_OK && pthread_setspecific(thread_scratch_key, s) != 0) {
		envelope_scratch_free(s);
		s = NULL;
	}
	return s;
}

static unsigned char *data_key_buffer(struct envelope_scratch *scratch)
{
	if (!scratch)
		scratch = thread_scratch();
	return scratch ? scratch->dk : NULL;
}

static void data_key_release(struct envelope_scratch *scratch, unsigned char *dk)
{
	(void)scratch;
	if (dk)
		sodium_memzero(dk, DATA_KEY_BYTES);
}

/* ---- sealing and opening with a given data key buffer ---- */

/* Seals plaintext for id under a fresh key drawn into dk, wrapped by p. */
static enum tr_status seal_with(const struct key_provider *p, const struct envelope_identity *id,
                                const unsigned char *plaintext, size_t len, unsigned char *dk,
                                struct envelope_sealed *out, struct tr_error *err)
{
	struct aad aad = {0};
	unsigned char *rec = NULL, *wk = NULL;
	size_t rec_len = 0, wk_len = 0;
	enum tr_status st;

	if ((st = aad_build(id, &aad, err)) != TR_OK)
		return st;
	crypto_aead_xchacha20poly1305_ietf_keygen(dk);
	st = record_seal(dk, &aad, plaintext, len, &rec, &rec_len, err);
	if (st == TR_OK)
		st = p->ops->wrap(p->ctx, p->id, dk, &wk, &wk_len, err);
	free(aad.buf);
	if (st != TR_OK) {
		free(rec);
		return st;
	}
	memcpy(out->provider, p->id, sizeof(out->provider));
	out->wrapped_key = wk;
	out->wrapped_key_len = wk_len;
	out->record = rec;
	out->record_len = rec_len;
	return TR_OK;
}

/* Opens a record, unwrapping its key into dk. */
static enum tr_status open_with(const struct keyring *kr, const struct envelope_identity *id, const char *provider,
                                const unsigned char *wrapped_key, size_t wrapped_key_len, const unsigned char *record,
                                size_t record_len, unsigned char *dk, struct secbuf *out, struct tr_error *err)
{
	struct aad aad = {0};
	enum tr_status st;

	if ((st = aad_build(id, &aad, err)) != TR_OK)
		return st;
	st = data_key_unwrap_into(kr, provider, wrapped_key, wrapped_key_len, dk, err);
	if (st == TR_ECRYPTO)
		tr_error_set(err, st, "data key unwrap failed for secret '%s/%s' (provider '%s')", id->workspace,
		             id->name, provider);
	if (st == TR_OK) {
		st = record_open(dk, &aad, record, record_len, out);
		if (st == TR_ECRYPTO)
			tr_error_set(err, st, "record authentication failed for secret '%s/%s'", id->workspace,
			             id->name);
		else if (st != TR_OK)
			tr_error_set(err, st, "out of memory opening secret '%s/%s'", id->workspace, id->name);
	}
	free(aad.buf);
	return st;
}

/* ---- public ---- */

enum tr_status envelope_seal(const struct keyring *kr, const struct envelope_identity *id,
                             const unsigned char *plaintext, size_t len, struct envelope_sealed *out,
                             struct tr_error *err)
{
	const struct key_provider *p;
	unsigned char *dk;
	enum tr_status st;

	if (!out || (!plaintext && len > 0))
		return tr_error_set(err, TR_EINVAL, "envelope_seal needs plaintext and an output");
	p = current_provider(kr, err);
	if (!p)
		return TR_EUNAVAIL;
	if (!(dk = data_key_buffer(NULL)))
		return tr_error_set(err, TR_EINTERNAL, "cannot allocate guarded memory for data key");
	st = seal_with(p, id, plaintext, len, dk, out, err);
	data_key_release(NULL, dk);
	return st;
}

enum tr_status envelope_open(const struct keyring *kr, const struct envelope_identity *id,
                             const char *provider, const unsigned char *wrapped_key, size_t wrapped_key_len,
                             const unsigned char *record, size_t record_len, struct secbuf *out,
                             struct tr_error *err)
{
	unsigned char *dk;
	enum tr_status st;

	if (!out || !provider)
		return tr_error_set(err, TR_EINVAL, "envelope_open needs a provider and an output");
	if (!(dk = data_key_buffer(NULL)))
		return tr_error_set(err, TR_EINTERNAL, "cannot allocate guarded memory for data key");
	st = open_with(kr, id, provider, wrapped_key, wrapped_key_len, record, record_len, dk, out, err);
	data_key_release(NULL, dk);
	return st;
}

enum tr_status envelope_rewrap_with(const struct keyring *kr, struct envelope_scratch *scratch, const char *provider,
                                    const unsigned char *wrapped_key, size_t wrapped_key_len,
                                    struct envelope_sealed *out, struct tr_error *err)
{
	const struct key_provider *cur;
	unsigned char *dk, *wk = NULL;
	size_t wk_len = 0;
	enum tr_status st;

	if (!out || !provider)
		return tr_error_set(err, TR_EINVAL, "envelope_rewrap needs a provider and an output");
	cur = current_provider(kr, err);
	if (!cur)
		return TR_EUNAVAIL;
	if (!(dk = data_key_buffer(scratch)))
		return tr_error_set(err, TR_EINTERNAL, "cannot allocate guarded memory for data key");
	st = data_key_unwrap_into(kr, provider, wrapped_key, wrapped_key_len, dk, err);
	if (st == TR_OK)
		st = cur->ops->wrap(cur->ctx, cur->id, dk, &wk, &wk_len, err);
	data_key_release(scratch, dk);
	if (st != TR_OK)
		return st;

	memset(out, 0, sizeof(*out));
	memcpy(out->provider, cur->id, sizeof(out->provider));
	out->wrapped_key = wk;
	out->wrapped_key_len = wk_len;
	return TR_OK;
}

enum tr_status envelope_rewrap(const struct keyring *kr, const char *provider, const unsigned char *wrapped_key,
                               size_t wrapped_key_len, struct envelope_sealed *out, struct tr_error *err)
{
	return envelope_rewrap_with(kr, NULL, provider, wrapped_key, wrapped_key_len, out, err);
}

enum tr_status envelope_reseal(const struct keyring *kr, struct envelope_scratch *scratch,
                               const struct envelope_identity *id, const char *provider,
                               const unsigned char *wrapped_key, size_t wrapped_key_len, const unsigned char *record,
                               size_t record_len, struct envelope_sealed *out, struct tr_error *err)
{
	const struct key_provider *cur;
	struct secbuf plain = {0};
	unsigned char *dk;
	enum tr_status st;

	if (!out || !provider)
		return tr_error_set(err, TR_EINVAL, "envelope_reseal needs a provider and an output");
	if (!(cur = current_provider(kr, err)))
		return TR_EUNAVAIL;
	if (!(dk = data_key_buffer(scratch)))
		return tr_error_set(err, TR_EINTERNAL, "cannot allocate guarded memory for data key");
	st = open_with(kr, id, provider, wrapped_key, wrapped_key_len, record, record_len, dk, &plain, err);
	if (st == TR_OK)
		st = seal_with(cur, id, plain.data, plain.len, dk, out, err);
	secbuf_clear(&plain);
	data_key_release(scratch, dk);
	return st;
}

enum tr_status envelope_check_key(const struct keyring *kr, const char *provider, const unsigned char *wrapped_key,
                                  size_t wrapped_key_len, struct tr_error *err)
{
	unsigned char *dk;
	enum tr_status st;

	if (!provider)
		return tr_error_set(err, TR_EINVAL, "envelope_check_key needs a provider");
	if (!(dk = data_key_buffer(NULL)))
		return tr_error_set(err, TR_EINTERNAL, "cannot allocate guarded memory for data key");
	st = data_key_unwrap_into(kr, provider, wrapped_key, wrapped_key_len, dk, err);
	data_key_release(NULL, dk);
	return st;
}

enum tr_status envelope_check_current(const struct keyring *kr, struct tr_error *err)
{
	const struct key_provider *cur = current_provider(kr, err);
	unsigned char *dk = NULL, *back = NULL, *wk = NULL;
	size_t wk_len = 0;
	enum tr_status st;

	if (!cur)
		return TR_EUNAVAIL;
	/* Two keys at once: pages of their own (this runs once, at start). */
	dk = sodium_malloc(DATA_KEY_BYTES);
	back = sodium_malloc(DATA_KEY_BYTES);
	if (!dk || !back) {
		st = tr_error_set(err, TR_EINTERNAL, "cannot allocate guarded memory for data key");
		goto out;
	}
	crypto_aead_xchacha20poly1305_ietf_keygen(dk);
	st = cur->ops->wrap(cur->ctx, cur->id, dk, &wk, &wk_len, err);
	if (st == TR_OK)
		st = cur->ops->unwrap(cur->ctx, cur->id, wk, wk_len, back, err);
	if (st == TR_OK && sodium_memcmp(dk, back, DATA_KEY_BYTES) != 0)
		st = tr_error_set(err, TR_ECRYPTO, "key provider '%s' unwrapped a different key than it wrapped",
		                  cur->id);
out:
	free(wk);
	sodium_free(back); /* wipes; NULL is fine */
	sodium_free(dk);
	return st;
}

void envelope_sealed_clear(struct envelope_sealed *s)
{
	if (!s)
		return;
	free(s->wrapped_key);
	free(s->record);
	memset(s, 0, sizeof(*s));
}
