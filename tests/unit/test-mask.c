/*
 * test-mask.c - unit tests for src/inject/mask.c and mask-forms.c: the
 * masking stream filter of `tresor run`. A value is masked wherever the
 * writes split it, overlapping values are masked as one run, the derived
 * forms (base64, URL, JSON) are masked too, binary output passes through,
 * and nothing under MASK_MIN_LEN bytes is touched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "inject/mask.h"
#include "inject/sbuf.h"

static int sink(void *ctx, const void *data, size_t len)
{
	return sbuf_add(ctx, data, len) == TR_OK ? 0 : -1;
}

static int failing_sink(void *ctx, const void *data, size_t len)
{
	(void)ctx;
	(void)data;
	(void)len;
	return -1;
}

/* A mask of the given values (NULL-terminated), each with its forms. */
static struct mask *mask_of(const char *const *values)
{
	struct mask *m = mask_new();

	assert_non_null(m);
	for (; *values; values++)
		assert_int_equal(mask_add_value(m, *values, strlen(*values)), TR_OK);
	return m;
}

/* Filters the chunks (each len bytes) through a fresh stream into out. */
static void filter(const struct mask *m, const char *const *chunks, const size_t *lens, size_t n, struct sbuf *out)
{
	struct mask_stream *s = mask_stream_new(m, sink, out);
	size_t i;

	assert_non_null(s);
	for (i = 0; i < n; i++)
		assert_int_equal(mask_stream_write(s, chunks[i], lens[i]), 0);
	assert_int_equal(mask_stream_finish(s), 0);
	mask_stream_free(s);
}

/* The filtered form of text written in one go. */
static char *filtered(const struct mask *m, const char *text)
{
	struct sbuf out = {0};
	const char *chunks[] = {text};
	size_t lens[] = {strlen(text)};

	filter(m, chunks, lens, 1, &out);
	return sbuf_take(&out);
}

static void expect(const struct mask *m, const char *text, const char *want)
{
	char *got = filtered(m, text);

	if (strcmp(got, want) != 0)
		fail_msg("mask(\"%s\") = \"%s\", want \"%s\"", text, got, want);
	free(got);
}

static void test_value_is_masked_in_one_write(void **state)
{
	static const char *const values[] = {"hf_abcdefghijkl", NULL};
	struct mask *m = mask_of(values);

	(void)state;
	expect(m, "token=hf_abcdefghijkl\n", "token=***\n");
	expect(m, "hf_abcdefghijkl", "***");
	expect(m, "hf_abcdefghijklhf_abcdefghijkl twice", "*** twice");
	expect(m, "a hf_abcdefghijk almost", "a hf_abcdefghijk almost");
	expect(m, "", "");
	mask_free(m);
}

/* Every split point of text into two writes gives want. */
static void expect_every_split(const struct mask *m, const char *text, const char *want)
{
	size_t len = strlen(text);
	size_t cut;

	for (cut = 0; cut <= len; cut++) {
		struct sbuf out = {0};
		const char *chunks[] = {text, text + cut};
		size_t lens[] = {cut, len - cut};

		filter(m, chunks, lens, 2, &out);
		if (out.len != strlen(want) || memcmp(out.data ? out.data : "", want, out.len) != 0)
			fail_msg("split at %zu of \"%s\": \"%.*s\", want \"%s\"", cut, text, (int)out.len,
				 out.data ? out.data : "", want);
		sbuf_clear(&out);
	}
}

static void test_value_split_at_every_byte_across_two_writes(void **state)
{
	static const char *const values[] = {"s3cr3t-value-123", "another/secret+value=", NULL};
	struct mask *m = mask_of(values);

	(void)state;
	expect_every_split(m, "s3cr3t-value-123", "***");
	expect_every_split(m, "before s3cr3t-value-123 after", "before *** after");
	expect_every_split(m, "x another/secret+value= y s3cr3t-value-123", "x *** y ***");
	expect_every_split(m, "s3cr3t-value-12 is not it", "s3cr3t-value-12 is not it");
	mask_free(m);
}

static void test_value_written_one_byte_at_a_time(void **state)
{
	static const char *const values[] = {"one-byte-secret", NULL};
	const char *text = "[one-byte-secret][one-byte-secre]";
	struct mask *m = mask_of(values);
	struct mask_stream *s;
	struct sbuf out = {0};
	size_t i;

	(void)state;
	s = mask_stream_new(m, sink, &out);
	for (i = 0; text[i]; i++)
		assert_int_equal(mask_stream_write(s, text + i, 1), 0);
	assert_int_equal(mask_stream_finish(s), 0);
	assert_string_equal(out.data, "[***][one-byte-secre]");
	mask_stream_free(s);
	sbuf_clear(&out);
	mask_free(m);
}

static void test_a_possible_start_is_held_until_decided(void **state)
{
	static const char *const values[] = {"hold-me-back", NULL};
	struct mask *m = mask_of(values);
	struct sbuf out = {0};
	struct mask_stream *s = mask_stream_new(m, sink, &out);

	(void)state;
	assert_int_equal(mask_stream_write(s, "ok hold-me", 10), 0);
	assert_int_equal(out.len, 3); /* "ok " is out, "hold-me" waits */
	assert_int_equal(mask_stream_pending(s), 7);
	assert_int_equal(mask_stream_write(s, "-later", 6), 0);
	assert_int_equal(mask_stream_pending(s), 0);
	assert_string_equal(out.data, "ok hold-me-later");
	assert_int_equal(mask_stream_write(s, " hold", 5), 0);
	assert_int_equal(mask_stream_finish(s), 0);
	assert_string_equal(out.data, "ok hold-me-later hold");
	mask_stream_free(s);
	sbuf_clear(&out);
	mask_free(m);
}

static void test_overlapping_values_are_masked_as_one_run(void **state)
{
	static const char *const values[] = {"abcdef123", "123456xyz", "secret1", "secret123", NULL};
	struct mask *m = mask_of(values);

	(void)state;
	expect(m, "abcdef123456xyz", "***");
	expect(m, "[abcdef123456xyz]", "[***]");
	expect_every_split(m, "-abcdef123456xyz-", "-***-");
	/* the longer of two values that share a start wins, and leaves nothing */
	expect(m, "secret123", "***");
	expect(m, "secret12", "***2");
	expect_every_split(m, "secret123 secret1x", "*** ***x");
	/* adjacent values become one run */
	expect(m, "abcdef123secret1", "***");
	mask_free(m);
}

static void test_short_values_are_not_masked(void **state)
{
	static const char *const values[] = {"12345", "abc", "", NULL};
	struct mask *m = mask_of(values);

	(void)state;
	assert_int_equal(mask_count(m), 0);
	expect(m, "12345 abc", "12345 abc");
	mask_free(m);
	assert_int_equal(MASK_MIN_LEN, 6);
	m = mask_new();
	assert_int_equal(mask_add_value(m, "123456", 6), TR_OK);
	expect(m, "pin 123456", "pin ***");
	mask_free(m);
}

static char *base64(const void *data, size_t len, int variant)
{
	size_t size = sodium_base64_encoded_len(len, variant);
	char *out = malloc(size);

	assert_non_null(out);
	sodium_bin2base64(out, size, data, len, variant);
	return out;
}

static void test_base64_forms_are_masked(void **state)
{
	const char *pair = "$oauthtoken:nvapi-secretpw123";
	static const char *const values[] = {"$oauthtoken:nvapi-secretpw123", "hf_abcdefghijkl", NULL};
	struct mask *m = mask_of(values);
	char *b64 = base64(pair, strlen(pair), sodium_base64_VARIANT_ORIGINAL);
	char *url = base64("hf_abcdefghijkl", 15, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char text[512];
	char *got;

	(void)state;
	/* the dockerconfigjson "auth" of a registry login */
	snprintf(text, sizeof(text), "{\"auth\":\"%s\"}", b64);
	expect(m, text, "{\"auth\":\"***\"}");
	snprintf(text, sizeof(text), "Authorization: Basic %s\r\n", b64);
	expect(m, text, "Authorization: Basic ***\r\n");
	snprintf(text, sizeof(text), "url-safe %s.", url);
	expect(m, text, "url-safe ***.");
	free(b64);
	free(url);
	mask_free(m);
	/* a value inside a longer base64 text, at each of the three alignments */
	m = mask_new();
	assert_int_equal(mask_add_value(m, "nvapi-secretpw123", 17), TR_OK);
	for (size_t lead = 0; lead < 3; lead++) {
		char raw[64];

		memcpy(raw, "xyz", lead);
		memcpy(raw + lead, "nvapi-secretpw123", 17);
		b64 = base64(raw, lead + 17, sodium_base64_VARIANT_ORIGINAL);
		got = filtered(m, b64);
		assert_non_null(strstr(got, "***"));
		/* at most one partial group of 4 characters on either side */
		assert_true(strlen(got) <= 3 + 4 + 4 + 4);
		free(got);
		free(b64);
	}
	mask_free(m);
}

static void test_url_encoded_forms_are_masked(void **state)
{
	static const char *const values[] = {"p@ss word/with+stuff", NULL};
	struct mask *m = mask_of(values);

	(void)state;
	expect(m, "GET /?pw=p%40ss%20word%2Fwith%2Bstuff HTTP/1.1", "GET /?pw=*** HTTP/1.1");
	expect(m, "pw=p%40ss+word%2Fwith%2Bstuff&x", "pw=***&x");
	expect(m, "pw=p%40ss%20word/with%2Bstuff", "pw=***");
	expect(m, "pw=p%40ss%20word%2fwith%2bstuff", "pw=***");
	mask_free(m);
}

static void test_json_escaped_forms_are_masked(void **state)
{
	static const char *const values[] = {"quote\"back\\slash\nline/\xc3\xa9\xf0\x9f\x94\x91", NULL};
	struct mask *m = mask_of(values);
	char *got;

	(void)state;
	expect(m, "{\"v\":\"quote\\\"back\\\\slash\\nline/\xc3\xa9\xf0\x9f\x94\x91\"}", "{\"v\":\"***\"}");
	expect(m, "{\"v\":\"quote\\\"back\\\\slash\\nline\\/\xc3\xa9\xf0\x9f\x94\x91\"}", "{\"v\":\"***\"}");
	expect(m, "{\"v\":\"quote\\\"back\\\\slash\\nline/\\u00e9\\ud83d\\udd11\"}", "{\"v\":\"***\"}");
	expect(m, "{\"v\":\"quote\\\"back\\\\slash\\nline/\\u00E9\\uD83D\\uDD11\"}", "{\"v\":\"***\"}");
	/* as a terminal shows it: \n as \r\n */
	got = filtered(m, "quote\"back\\slash\r\nline/\xc3\xa9\xf0\x9f\x94\x91!");
	assert_string_equal(got, "***!");
	free(got);
	mask_free(m);
}

static void test_binary_output_passes_through(void **state)
{
	static const char *const values[] = {"bin-secret", NULL};
	struct mask *m = mask_of(values);
	unsigned char bytes[512];
	struct sbuf out = {0};
	const char *chunks[2];
	size_t lens[2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 7 + 3);
	chunks[0] = (const char *)bytes;
	lens[0] = 200;
	chunks[1] = (const char *)bytes + 200;
	lens[1] = sizeof(bytes) - 200;
	filter(m, chunks, lens, 2, &out);
	assert_int_equal(out.len, sizeof(bytes));
	assert_memory_equal(out.data, bytes, sizeof(bytes));
	sbuf_clear(&out);
	mask_free(m);
}

static void test_binary_values_are_masked_among_binary_output(void **state)
{
	const unsigned char value[] = {0x00, 0xff, 0x10, 'k', 0x00, 0x80, 0x7f};
	const unsigned char text[] = {0xff, 0x00, 0x00, 0xff, 0x10, 'k', 0x00, 0x80, 0x7f, 0x00};
	const unsigned char want[] = {0xff, 0x00, '*', '*', '*', 0x00};
	struct mask *m = mask_new();
	size_t cut;

	(void)state;
	assert_int_equal(mask_add_value(m, value, sizeof(value)), TR_OK);
	for (cut = 0; cut <= sizeof(text); cut++) {
		struct sbuf out = {0};
		const char *chunks[] = {(const char *)text, (const char *)text + cut};
		size_t lens[] = {cut, sizeof(text) - cut};

		filter(m, chunks, lens, 2, &out);
		assert_int_equal(out.len, sizeof(want));
		assert_memory_equal(out.data, want, sizeof(want));
		sbuf_clear(&out);
	}
	mask_free(m);
}

static void test_forms_are_not_added_twice(void **state)
{
	struct mask *m = mask_new();
	size_t once;

	(void)state;
	assert_int_equal(mask_add_value(m, "abcdefgh", 8), TR_OK);
	once = mask_count(m);
	assert_true(once >= 3); /* raw, base64, base64url at least */
	assert_int_equal(mask_add_value(m, "abcdefgh", 8), TR_OK);
	assert_int_equal(mask_count(m), once);
	mask_free(m);
}

static void test_a_failing_sink_stops_the_stream(void **state)
{
	static const char *const values[] = {"whatever-secret", NULL};
	struct mask *m = mask_of(values);
	struct mask_stream *s = mask_stream_new(m, failing_sink, NULL);

	(void)state;
	assert_int_equal(mask_stream_write(s, "text", 4), -1);
	assert_int_equal(mask_stream_write(s, "more", 4), -1);
	assert_int_equal(mask_stream_finish(s), -1);
	mask_stream_free(s);
	mask_free(m);
}

static void test_many_values_and_large_output(void **state)
{
	struct mask *m = mask_new();
	struct sbuf in = {0};
	struct sbuf out = {0};
	char value[32];
	const char *chunks[3];
	size_t lens[3];
	int i;

	(void)state;
	for (i = 0; i < 100; i++) {
		snprintf(value, sizeof(value), "value-%03d-xyz", i);
		assert_int_equal(mask_add_value(m, value, strlen(value)), TR_OK);
	}
	for (i = 0; i < 2000; i++) {
		snprintf(value, sizeof(value), "line %d value-%03d-xyz\n", i, i % 100);
		assert_int_equal(sbuf_adds(&in, value), TR_OK);
	}
	chunks[0] = in.data;
	lens[0] = 1001;
	chunks[1] = in.data + 1001;
	lens[1] = 30000;
	chunks[2] = in.data + 31001;
	lens[2] = in.len - 31001;
	filter(m, chunks, lens, 3, &out);
	assert_null(strstr(out.data, "value-"));
	assert_non_null(strstr(out.data, "line 1999 ***\n"));
	sbuf_clear(&in);
	sbuf_clear(&out);
	mask_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_value_is_masked_in_one_write),
	    cmocka_unit_test(test_value_split_at_every_byte_across_two_writes),
	    cmocka_unit_test(test_value_written_one_byte_at_a_time),
	    cmocka_unit_test(test_a_possible_start_is_held_until_decided),
	    cmocka_unit_test(test_overlapping_values_are_masked_as_one_run),
	    cmocka_unit_test(test_short_values_are_not_masked),
	    cmocka_unit_test(test_base64_forms_are_masked),
	    cmocka_unit_test(test_url_encoded_forms_are_masked),
	    cmocka_unit_test(test_json_escaped_forms_are_masked),
	    cmocka_unit_test(test_binary_output_passes_through),
	    cmocka_unit_test(test_binary_values_are_masked_among_binary_output),
	    cmocka_unit_test(test_forms_are_not_added_twice),
	    cmocka_unit_test(test_a_failing_sink_stops_the_stream),
	    cmocka_unit_test(test_many_values_and_large_output),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
