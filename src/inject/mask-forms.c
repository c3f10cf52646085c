/*
 * mask-forms.c - the forms a value takes in logs (mask.h lists them), each
 * made in a wiped buffer and added to the set with mask_add_exact.
 */
#include "inject/mask.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "inject/sbuf.h"

/* JSON escaping styles. */
#define JSON_SLASH     0x1 /* "/" as "\/" */
#define JSON_ASCII     0x2 /* everything beyond ASCII as \uXXXX */
#define JSON_HEX_UPPER 0x4 /* \u00E9 rather than \u00e9 */

/* URL encoding styles: which bytes stay as they are besides A-Z a-z 0-9. */
struct url_style {
	const char *keep; /* RFC 3986 unreserved, or more */
	bool upper;       /* %2F rather than %2f */
	bool plus;        /* space as '+' (form encoding) */
};

static const struct url_style url_styles[] = {
    {"-._~", true, false},      /* RFC 3986, curl_easy_escape, Go url.PathEscape-like */
    {"-._~", false, false},     /* the same in lower-case hex */
    {"-._~", true, true},       /* application/x-www-form-urlencoded */
    {"-._*", true, true},       /* Java URLEncoder, Go url.QueryEscape style */
    {"-._~/", true, false},     /* Python urllib.parse.quote */
    {"-_.!~*'()", true, false}, /* JavaScript encodeURIComponent */
};

/* Adds the buffer's bytes as one string, then wipes the buffer. */
static enum tr_status add_built(struct mask *m, struct sbuf *b, enum tr_status st)
{
	if (st == TR_OK && b->len)
		st = mask_add_exact(m, b->data, b->len);
	sbuf_clear(b);
	return st;
}

/* ---- the value, and as a terminal shows it ---- */

static enum tr_status add_crlf(struct mask *m, const unsigned char *v, size_t len)
{
	struct sbuf b = {0};
	enum tr_status st = TR_OK;
	size_t i;

	if (!memchr(v, '\n', len))
		return TR_OK;
	for (i = 0; i < len && st == TR_OK; i++) {
		if (v[i] == '\n' && (i == 0 || v[i - 1] != '\r'))
			st = sbuf_addc(&b, '\r');
		if (st == TR_OK)
			st = sbuf_addc(&b, (char)v[i]);
	}
	return add_built(m, &b, st);
}

/* ---- JSON ---- */

/*
 * Decodes the UTF-8 sequence at v[*i] (advancing *i); -1 when it is not
 * valid UTF-8 (then no ASCII-only form is made).
 */
static long utf8_next(const unsigned char *v, size_t len, size_t *i)
{
	unsigned char c = v[*i];
	size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
	long cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
	size_t k;

	if (n == 0 || *i + n > len)
		return -1;
	for (k = 1; k < n; k++) {
		if ((v[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (v[*i + k] & 0x3f);
	}
	*i += n;
	return cp;
}

/* prefix, then value as digits hex digits. */
static enum tr_status add_hex(struct sbuf *b, const char *prefix, unsigned long value, int digits, bool upper)
{
	const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	enum tr_status st = sbuf_adds(b, prefix);
	int shift;

	for (shift = 4 * (digits - 1); shift >= 0 && st == TR_OK; shift -= 4)
		st = sbuf_addc(b, hex[(value >> shift) & 0xf]);
	return st;
}

static enum tr_status json_u(struct sbuf *b, long unit, unsigned style)
{
	return add_hex(b, "\\u", (unsigned long)unit, 4, (style & JSON_HEX_UPPER) != 0);
}

/* One code point beyond ASCII, as \uXXXX or a surrogate pair. */
static enum tr_status json_ascii_cp(struct sbuf *b, long cp, unsigned style)
{
	enum tr_status st;

	if (cp < 0x10000)
		return json_u(b, cp, style);
	cp -= 0x10000;
	st = json_u(b, 0xd800 + (cp >> 10), style);
	if (st == TR_OK)
		st = json_u(b, 0xdc00 + (cp & 0x3ff), style);
	return st;
}

static enum tr_status json_escape_byte(struct sbuf *b, unsigned char c, unsigned style)
{
	switch (c) {
	case '"': return sbuf_adds(b, "\\\"");
	case '\\': return sbuf_adds(b, "\\\\");
	case '\b': return sbuf_adds(b, "\\b");
	case '\f': return sbuf_adds(b, "\\f");
	case '\n': return sbuf_adds(b, "\\n");
	case '\r': return sbuf_adds(b, "\\r");
	case '\t': return sbuf_adds(b, "\\t");
	case '/': return sbuf_adds(b, (style & JSON_SLASH) ? "\\/" : "/");
	default: break;
	}
	if (c < 0x20 || c == 0x7f)
		return json_u(b, c, style);
	return sbuf_addc(b, (char)c);
}

static enum tr_status add_json(struct mask *m, const unsigned char *v, size_t len, unsigned style)
{
	struct sbuf b = {0};
	enum tr_status st = TR_OK;
	size_t i = 0;
	long cp;

	while (i < len && st == TR_OK) {
		if (v[i] < 0x80 || !(style & JSON_ASCII)) {
			st = json_escape_byte(&b, v[i], style);
			i++;
			continue;
		}
		cp = utf8_next(v, len, &i);
		if (cp < 0) {
			sbuf_clear(&b);
			return TR_OK;
		}
		st = json_ascii_cp(&b, cp, style);
	}
	return add_built(m, &b, st);
}

static enum tr_status add_json_forms(struct mask *m, const unsigned char *v, size_t len)
{
	static const unsigned styles[] = {
	    0, JSON_SLASH, JSON_ASCII, JSON_ASCII | JSON_HEX_UPPER, JSON_ASCII | JSON_SLASH,
	};
	enum tr_status st = TR_OK;
	size_t i;

	for (i = 0; i < sizeof(styles) / sizeof(styles[0]) && st == TR_OK; i++)
		st = add_json(m, v, len, styles[i]);
	return st;
}

/* ---- URL encoding ---- */

static bool url_keeps(const struct url_style *style, unsigned char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr(style->keep, c) != NULL;
}

static enum tr_status add_url(struct mask *m, const unsigned char *v, size_t len, const struct url_style *style)
{
	struct sbuf b = {0};
	enum tr_status st = TR_OK;
	size_t i;

	for (i = 0; i < len && st == TR_OK; i++) {
		if (url_keeps(style, v[i]))
			st = sbuf_addc(&b, (char)v[i]);
		else if (v[i] == ' ' && style->plus)
			st = sbuf_addc(&b, '+');
		else
			st = add_hex(&b, "%", v[i], 2, style->upper);
	}
	return add_built(m, &b, st);
}

static enum tr_status add_url_forms(struct mask *m, const unsigned char *v, size_t len)
{
	enum tr_status st = TR_OK;
	size_t i;

	for (i = 0; i < sizeof(url_styles) / sizeof(url_styles[0]) && st == TR_OK; i++)
		st = add_url(m, v, len, &url_styles[i]);
	return st;
}

/* ---- base64 ---- */

/* base64 of v in one libsodium variant. */
static enum tr_status add_base64(struct mask *m, const unsigned char *v, size_t len, int variant)
{
	size_t size = sodium_base64_encoded_len(len, variant);
	char *text = malloc(size);
	enum tr_status st;

	if (!text)
		return TR_EINTERNAL;
	sodium_bin2base64(text, size, v, len, variant);
	st = mask_add_exact(m, text, strlen(text));
	sodium_memzero(text, size);
	free(text);
	return st;
}

static enum tr_status add_base64_forms(struct mask *m, const unsigned char *v, size_t len)
{
	static const int variants[] = {
	    sodium_base64_VARIANT_ORIGINAL,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
	    sodium_base64_VARIANT_URLSAFE,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING,
	};
	enum tr_status st = TR_OK;
	size_t off, chunk, i;

	for (i = 0; i < 4 && st == TR_OK; i++)
		st = add_base64(m, v, len, variants[i]);
	/* Inside a longer text the value may start at any of three alignments:
	 * its bytes from off on, in whole groups, encode the same everywhere. */
	for (off = 0; off < 3 && st == TR_OK; off++) {
		chunk = len > off ? (len - off) / 3 * 3 : 0;
		if (chunk < MASK_MIN_LEN)
			continue;
		st = add_base64(m, v + off, chunk, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
		if (st == TR_OK)
			st = add_base64(m, v + off, chunk, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	}
	return st;
}

enum tr_status mask_add_value(struct mask *m, const void *value, size_t len)
{
	const unsigned char *v = value;
	enum tr_status st;

	if (len < MASK_MIN_LEN)
		return TR_OK;
	st = mask_add_exact(m, v, len);
	if (st == TR_OK)
		st = add_crlf(m, v, len);
	if (st == TR_OK)
		st = add_json_forms(m, v, len);
	if (st == TR_OK)
		st = add_url_forms(m, v, len);
	if (st == TR_OK)
		st = add_base64_forms(m, v, len);
	return st;
}
