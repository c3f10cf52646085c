/*
 * mask.c - the set of hidden strings and the stream filter (mask.h).
 * The derived forms of a value are made in mask-forms.c.
 *
 * Matching is plain: the strings are indexed by their first byte, and at
 * each position of the output the filter compares the strings that start
 * with that byte. At a position where the rest of the buffer is a proper
 * prefix of some string the outcome depends on bytes not yet written, so
 * everything from there on (or from the start of the masked run it is in)
 * is held back until more output arrives.
 */
#include "inject/mask.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct mask_pattern {
	unsigned char *bytes;
	size_t len;
};

/* Indexes into mask.pats of the strings that start with one byte. */
struct mask_list {
	size_t *idx;
	size_t n;
	size_t cap;
};

struct mask {
	struct mask_pattern *pats;
	size_t count;
	size_t cap;
	struct mask_list first[256];
};

struct mask_stream {
	const struct mask *m;
	mask_sink_fn *sink;
	void *ctx;
	unsigned char *held; /* bytes not yet decided */
	size_t len;
	size_t cap;
	bool failed; /* the sink refused: drop everything from then on */
};

/* ---- the set ---- */

struct mask *mask_new(void)
{
	return calloc(1, sizeof(struct mask));
}

void mask_free(struct mask *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->count; i++) {
		sodium_memzero(m->pats[i].bytes, m->pats[i].len);
		free(m->pats[i].bytes);
	}
	for (i = 0; i < 256; i++)
		free(m->first[i].idx);
	free(m->pats);
	free(m);
}

size_t mask_count(const struct mask *m)
{
	return m->count;
}

static bool mask_has(const struct mask *m, const unsigned char *bytes, size_t len)
{
	const struct mask_list *l = &m->first[bytes[0]];
	size_t i;

	for (i = 0; i < l->n; i++) {
		const struct mask_pattern *p = &m->pats[l->idx[i]];

		if (p->len == len && memcmp(p->bytes, bytes, len) == 0)
			return true;
	}
	return false;
}

static enum tr_status list_append(struct mask_list *l, size_t idx)
{
	size_t cap = l->cap ? 2 * l->cap : 8;
	size_t *grown;

	if (l->n == l->cap) {
		grown = realloc(l->idx, cap * sizeof(*grown));
		if (!grown)
			return TR_EINTERNAL;
		l->idx = grown;
		l->cap = cap;
	}
	l->idx[l->n++] = idx;
	return TR_OK;
}

/* Makes room for one more pattern (the array holds pointers only). */
static enum tr_status pats_reserve(struct mask *m)
{
	size_t cap = m->cap ? 2 * m->cap : 16;
	struct mask_pattern *grown;

	if (m->count < m->cap)
		return TR_OK;
	grown = realloc(m->pats, cap * sizeof(*grown));
	if (!grown)
		return TR_EINTERNAL;
	m->pats = grown;
	m->cap = cap;
	return TR_OK;
}

enum tr_status mask_add_exact(struct mask *m, const void *bytes, size_t len)
{
	const unsigned char *b = bytes;
	unsigned char *copy;

	if (len < MASK_MIN_LEN || mask_has(m, b, len))
		return TR_OK;
	if (pats_reserve(m) != TR_OK)
		return TR_EINTERNAL;
	copy = malloc(len);
	if (!copy)
		return TR_EINTERNAL;
	memcpy(copy, b, len);
	if (list_append(&m->first[b[0]], m->count) != TR_OK) {
		sodium_memzero(copy, len);
		free(copy);
		return TR_EINTERNAL;
	}
	m->pats[m->count].bytes = copy;
	m->pats[m->count].len = len;
	m->count++;
	return TR_OK;
}

/* ---- matching ---- */

/* What the strings starting at buf[i] say about that position. */
struct match {
	size_t full;  /* length of the longest string that matches there, or 0 */
	bool partial; /* the buffer ends inside a string that matches so far */
};

static struct match match_at(const struct mask *m, const unsigned char *buf, size_t n, size_t i, bool final)
{
	const struct mask_list *l = &m->first[buf[i]];
	struct match r = {0, false};
	size_t avail = n - i;
	size_t k;

	for (k = 0; k < l->n; k++) {
		const struct mask_pattern *p = &m->pats[l->idx[k]];

		if (p->len <= avail) {
			if (p->len > r.full && memcmp(buf + i, p->bytes, p->len) == 0)
				r.full = p->len;
		} else if (!final && memcmp(buf + i, p->bytes, avail) == 0) {
			r.partial = true;
			return r;
		}
	}
	return r;
}

/* ---- the stream ---- */

struct mask_stream *mask_stream_new(const struct mask *m, mask_sink_fn *sink, void *ctx)
{
	struct mask_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->m = m;
	s->sink = sink;
	s->ctx = ctx;
	return s;
}

static void emit(struct mask_stream *s, const void *data, size_t len)
{
	if (len == 0 || s->failed)
		return;
	if (s->sink(s->ctx, data, len) < 0)
		s->failed = true;
}

/* A run of masked bytes [start, end) while scanning. */
struct run {
	bool active;
	size_t start;
	size_t end;
};

/*
 * Writes what buf[0..n) decides and returns how many bytes it consumed;
 * the rest must be held back. With final, nothing is held back.
 */
static size_t scan(struct mask_stream *s, const unsigned char *buf, size_t n, bool final)
{
	struct run run = {false, 0, 0};
	size_t literal = 0; /* first byte not yet written */
	struct match mt;
	size_t i;

	for (i = 0; i < n; i++) {
		mt = match_at(s->m, buf, n, i, final);
		if (mt.partial)
			break;
		if (run.active && (i < run.end || (i == run.end && mt.full))) {
			if (i + mt.full > run.end)
				run.end = i + mt.full;
			continue;
		}
		if (run.active) {
			emit(s, MASK_REPLACEMENT, sizeof(MASK_REPLACEMENT) - 1);
			run.active = false;
			literal = run.end;
		}
		if (mt.full) {
			emit(s, buf + literal, i - literal);
			run = (struct run){true, i, i + mt.full};
		}
	}
	if (i < n) {
		/* Undecided from here (or from the start of the run it is in). */
		if (!run.active)
			emit(s, buf + literal, i - literal);
		return run.active ? run.start : i;
	}
	if (run.active) {
		emit(s, MASK_REPLACEMENT, sizeof(MASK_REPLACEMENT) - 1);
		literal = run.end;
	}
	emit(s, buf + literal, n - literal);
	return n;
}

/* Keeps buf[0..len) as the held-back bytes (buf may point into s->held). */
static int hold(struct mask_stream *s, const unsigned char *buf, size_t len)
{
	unsigned char *grown;
	size_t cap;

	if (len == 0) {
		if (s->held)
			sodium_memzero(s->held, s->cap);
		s->len = 0;
		return 0;
	}
	if (len > s->cap) {
		cap = len < 256 ? 256 : 2 * len;
		grown = malloc(cap);
		if (!grown)
			return -1;
		memcpy(grown, buf, len);
		if (s->held) {
			sodium_memzero(s->held, s->cap);
			free(s->held);
		}
		s->held = grown;
		s->cap = cap;
	} else {
		memmove(s->held, buf, len);
		sodium_memzero(s->held + len, s->cap - len);
	}
	s->len = len;
	return 0;
}

/* Appends data to the held-back bytes. */
static int held_append(struct mask_stream *s, const void *data, size_t len)
{
	unsigned char *grown;
	size_t cap = s->cap;

	if (s->len + len > cap) {
		while (cap < s->len + len)
			cap = cap ? 2 * cap : 256;
		grown = malloc(cap);
		if (!grown)
			return -1;
		memcpy(grown, s->held, s->len);
		sodium_memzero(s->held, s->cap);
		free(s->held);
		s->held = grown;
		s->cap = cap;
	}
	memcpy(s->held + s->len, data, len);
	s->len += len;
	return 0;
}

int mask_stream_write(struct mask_stream *s, const void *data, size_t len)
{
	size_t used;

	if (len == 0)
		return s->failed ? -1 : 0;
	if (s->len == 0) {
		/* Nothing held: scan the caller's bytes, keep only the tail. */
		used = scan(s, data, len, false);
		if (hold(s, (const unsigned char *)data + used, len - used) < 0)
			return -1;
	} else {
		if (held_append(s, data, len) < 0)
			return -1;
		used = scan(s, s->held, s->len, false);
		if (hold(s, s->held + used, s->len - used) < 0)
			return -1;
	}
	return s->failed ? -1 : 0;
}

int mask_stream_finish(struct mask_stream *s)
{
	if (s->len)
		scan(s, s->held, s->len, true);
	if (s->held)
		sodium_memzero(s->held, s->cap);
	s->len = 0;
	return s->failed ? -1 : 0;
}

size_t mask_stream_pending(const struct mask_stream *s)
{
	return s->len;
}

void mask_stream_free(struct mask_stream *s)
{
	if (!s)
		return;
	if (s->held) {
		sodium_memzero(s->held, s->cap);
		free(s->held);
	}
	free(s);
}
