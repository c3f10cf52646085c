/*
 * test-jsonmem.c - jsonmem_dump writes what jansson's compact dump writes,
 * byte for byte, and refuses what jansson refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/jsonmem.h"

/* jansson's own compact text of j; NULL if it refuses to write it. */
static char *jansson_text(const json_t *j, size_t *len)
{
	size_t n = json_dumpb(j, NULL, 0, JSON_ENCODE_ANY | JSON_COMPACT);
	char *text;

	if (n == 0)
		return NULL;
	text = malloc(n + 1);
	assert_non_null(text);
	assert_int_equal(json_dumpb(j, text, n, JSON_ENCODE_ANY | JSON_COMPACT), n);
	text[n] = '\0';
	*len = n;
	return text;
}

/* jsonmem_dump(j) equals jansson's text; it is NUL-terminated with room
 * for one spare byte after it. */
static void assert_same_as_jansson(const json_t *j)
{
	size_t want_len = 0, got_len = 0;
	char *want = jansson_text(j, &want_len);
	char *got = jsonmem_dump(j, 1, &got_len);

	assert_non_null(want);
	assert_non_null(got);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
	assert_int_equal(got[got_len], '\0');
	got[got_len] = '\n'; /* the spare byte (ASan would see an overrun) */
	got[got_len + 1] = '\0';
	free(got);
	free(want);
}

static void assert_text_same_as_jansson(const char *text)
{
	json_error_t error;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);

	assert_non_null(j);
	assert_same_as_jansson(j);
	json_decref(j);
}

static void test_documents(void **state)
{
	static const char *const docs[] = {
	    "{}",
	    "[]",
	    "{\"a\":{},\"b\":[],\"c\":[{}],\"d\":[[]]}",
	    "{\"zeta\":1,\"alpha\":2,\"mid\":3}", /* insertion order, not sorted */
	    "[0,-1,1,9223372036854775807,-9223372036854775808,42]",
	    "[1.5,-0.25,3.0,1e300,2.5e-10,0.1]",
	    "[true,false,null]",
	    "{\"name\":\"hf-token\",\"version\":3,\"tags\":[\"ml\",\"prod\"],\"expires_at\":null}",
	    "\"plain\"",
	    "7",
	    "{\"k\\\"ey\\\\\":\"v\\/al\\u0001\\u001f\\u007f\"}",
	    "[\"\\b\\f\\n\\r\\t\",\"\\\"quoted\\\"\",\"back\\\\slash\",\"a/b\"]",
	    "[\"caf\\u00e9\",\"\\u20ac100\",\"\\ud83d\\ude00 grin\",\"\\u2028\\u2029\",\"\\uffff\"]",
	    "[\"\\u0000 nul inside\",\"end\\u0000\"]",
	    "{\"deep\":[[[[[[[[[[{\"x\":[1,[2,[3]]]}]]]]]]]]]]}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		assert_text_same_as_jansson(docs[i]);
}

/* Every byte below 0x80, alone and between others. */
static void test_every_ascii_byte(void **state)
{
	char s[3] = {'a', 0, 'z'};
	json_t *arr = json_array();

	(void)state;
	for (int c = 0; c < 0x80; c++) {
		s[1] = (char)c;
		json_array_append_new(arr, json_stringn(s, 3));
		json_array_append_new(arr, json_stringn(s + 1, 1));
	}
	assert_same_as_jansson(arr);
	json_decref(arr);
}

/* A document far larger than the first buffer: it grows several times. */
static void test_a_large_document(void **state)
{
	json_t *arr = json_array();

	(void)state;
	for (int i = 0; i < 5000; i++)
		json_array_append_new(arr, json_pack("{s:i,s:s,s:b}", "i", i, "name", "s\"00001\"\n", "on", i % 2));
	assert_same_as_jansson(arr);
	json_decref(arr);
}

/* Strings that are not UTF-8 are refused, as jansson refuses them. */
static void test_not_utf8_is_refused(void **state)
{
	static const char *const bad[] = {
	    "\x80",             /* a continuation byte first */
	    "\xC0\x80",         /* overlong NUL */
	    "\xC1\xBF",         /* overlong */
	    "\xE0\x80\x80",     /* overlong */
	    "\xF0\x8F\xBF\xBF", /* overlong */
	    "\xED\xA0\x80",     /* a surrogate */
	    "\xF4\x90\x80\x80", /* past U+10FFFF */
	    "\xF5\x80\x80\x80",
	    "\xE2\x82",     /* cut short */
	    "ok \xE2\x82",  /* cut short at the end */
	    "\xE2\x28\xA1", /* a bad continuation */
	    "\xFF",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *obj = json_object();
		size_t len = 99, jlen = 0;

		json_object_set_new(obj, "v", json_stringn_nocheck(bad[i], strlen(bad[i])));
		assert_null(jansson_text(obj, &jlen));
		assert_null(jsonmem_dump(obj, 0, &len));
		assert_int_equal(len, 99); /* untouched */
		json_decref(obj);
	}
}

/* The edges of what is valid: the first and last of each length. */
static void test_utf8_edges(void **state)
{
	static const char *const good[] = {
	    "\xC2\x80",     "\xDF\xBF",     "\xE0\xA0\x80",     "\xEC\xBF\xBF",     "\xED\x9F\xBF",
	    "\xEE\x80\x80", "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF",
	};
	json_t *arr = json_array();

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		json_array_append_new(arr, json_stringn_nocheck(good[i], strlen(good[i])));
	assert_same_as_jansson(arr);
	json_decref(arr);
}

static void test_keys_are_escaped(void **state)
{
	json_t *obj = json_object();

	(void)state;
	json_object_set_new(obj, "tab\there", json_true());
	json_object_set_new(obj, "quote\"", json_false());
	json_object_set_new(obj, "\xC3\xA9t\xC3\xA9", json_integer(-7));
	assert_same_as_jansson(obj);
	json_decref(obj);
}

/* What the writer writes equals jansson's text of the same tree. */
static void test_the_writer_writes_what_the_tree_dumps_to(void **state)
{
	struct jsonw w;
	json_t *tags = json_pack("[s,s]", "ml", "prod");
	json_t *tree = json_pack("{s:s,s:n,s:O,s:{},s:[],s:I,s:b,s:b,s:[{s:i},i,s]}", "name", "hf\"token\n", "project",
				 "tags", tags, "empty", "none", "version", (json_int_t)INT64_MIN, "yes", 1, "no", 0,
				 "items", "k", 1, 2, "caf\xC3\xA9");
	size_t want_len = 0, got_len = 0;
	char *want = jansson_text(tree, &want_len);
	char *got;

	(void)state;
	jsonw_init(&w, 1);
	jsonw_object_begin(&w);
	jsonw_key(&w, "name");
	jsonw_string(&w, "hf\"token\n");
	jsonw_key(&w, "project");
	jsonw_string(&w, NULL);
	jsonw_key(&w, "tags");
	jsonw_value(&w, tags);
	jsonw_key(&w, "empty");
	jsonw_object_begin(&w);
	jsonw_object_end(&w);
	jsonw_key(&w, "none");
	jsonw_array_begin(&w);
	jsonw_array_end(&w);
	jsonw_key(&w, "version");
	jsonw_integer(&w, INT64_MIN);
	jsonw_key(&w, "yes");
	jsonw_bool(&w, true);
	jsonw_key(&w, "no");
	jsonw_bool(&w, false);
	jsonw_key(&w, "items");
	jsonw_array_begin(&w);
	jsonw_object_begin(&w);
	jsonw_key(&w, "k");
	jsonw_integer(&w, 1);
	jsonw_object_end(&w);
	jsonw_integer(&w, 2);
	jsonw_string(&w, "caf\xC3\xA9");
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	got = jsonw_finish(&w, &got_len);
	assert_non_null(got);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
	assert_int_equal(got[got_len], '\0');
	got[got_len] = '\n'; /* the spare byte */
	free(got);
	free(want);
	json_decref(tree);
	json_decref(tags);
}

/* A string of n bytes is those bytes, a NUL among them, and no more. */
static void test_the_writer_writes_n_bytes_of_a_string(void **state)
{
	static const char value[] = "a\0b\"c-not-this";
	json_t *tree = json_pack("[s%]", value, (size_t)6);
	size_t want_len = 0, got_len = 0;
	char *want = jansson_text(tree, &want_len);
	char *got;
	struct jsonw w;

	(void)state;
	jsonw_init(&w, 0);
	jsonw_array_begin(&w);
	jsonw_stringn(&w, value, 6);
	jsonw_array_end(&w);
	got = jsonw_finish(&w, &got_len);
	assert_non_null(got);
	assert_string_equal(got, "[\"a\\u0000b\\\"c-\"]");
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
	free(got);
	free(want);
	json_decref(tree);
}

/* NULL and "" are null; anything else a string. */
static void test_the_writer_writes_empty_strings_as_null(void **state)
{
	struct jsonw w;
	size_t len = 0;
	char *got;

	(void)state;
	jsonw_init(&w, 0);
	jsonw_array_begin(&w);
	jsonw_string_or_null(&w, NULL);
	jsonw_string_or_null(&w, "");
	jsonw_string_or_null(&w, "p");
	jsonw_array_end(&w);
	got = jsonw_finish(&w, &len);
	assert_non_null(got);
	assert_string_equal(got, "[null,null,\"p\"]");
	free(got);
}

/* A document that is not whole, or holds what JSON cannot, gives NULL. */
static void test_the_writer_refuses_what_is_not_a_document(void **state)
{
	struct jsonw w;
	size_t len = 0;

	(void)state;
	jsonw_init(&w, 0); /* nothing written */
	assert_null(jsonw_finish(&w, &len));

	jsonw_init(&w, 0); /* left open */
	jsonw_object_begin(&w);
	assert_null(jsonw_finish(&w, &len));

	jsonw_init(&w, 0); /* a key without a value */
	jsonw_object_begin(&w);
	jsonw_key(&w, "k");
	jsonw_object_end(&w);
	assert_null(jsonw_finish(&w, &len));

	jsonw_init(&w, 0); /* closed more than opened */
	jsonw_array_begin(&w);
	jsonw_array_end(&w);
	jsonw_array_end(&w);
	assert_null(jsonw_finish(&w, &len));

	jsonw_init(&w, 0); /* not UTF-8 */
	jsonw_array_begin(&w);
	jsonw_string(&w, "\xC0\x80");
	jsonw_array_end(&w);
	assert_null(jsonw_finish(&w, &len));

	jsonw_init(&w, 0); /* too deep */
	for (int i = 0; i <= JSONW_MAX_DEPTH; i++)
		jsonw_array_begin(&w);
	for (int i = 0; i <= JSONW_MAX_DEPTH; i++)
		jsonw_array_end(&w);
	assert_null(jsonw_finish(&w, &len));

	jsonw_init(&w, 0); /* as deep as allowed */
	for (int i = 0; i < JSONW_MAX_DEPTH; i++)
		jsonw_array_begin(&w);
	for (int i = 0; i < JSONW_MAX_DEPTH; i++)
		jsonw_array_end(&w);
	free(jsonw_finish(&w, &len));
	assert_int_equal(len, 2 * JSONW_MAX_DEPTH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_documents),
	    cmocka_unit_test(test_every_ascii_byte),
	    cmocka_unit_test(test_a_large_document),
	    cmocka_unit_test(test_not_utf8_is_refused),
	    cmocka_unit_test(test_utf8_edges),
	    cmocka_unit_test(test_keys_are_escaped),
	    cmocka_unit_test(test_the_writer_writes_what_the_tree_dumps_to),
	    cmocka_unit_test(test_the_writer_writes_n_bytes_of_a_string),
	    cmocka_unit_test(test_the_writer_writes_empty_strings_as_null),
	    cmocka_unit_test(test_the_writer_refuses_what_is_not_a_document),
	};

	jsonmem_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
