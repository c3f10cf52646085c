/*
 * test-dotenv.c - unit tests for src/inject/dotenv.c: every value the
 * writer accepts reads back byte for byte through the reader (which follows
 * python-dotenv's grammar), values no quoting can carry are refused with
 * the variable named and the value not shown, and the reader handles the
 * rest of python-dotenv's syntax (export, comments, unquoted values,
 * escapes, multi-line values) and tresor's annotations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inject/dotenv.h"

/* Values that must round-trip. */
static const char *const round_trip[] = {
    "plain",
    "",
    "with spaces",
    "  leading and trailing  ",
    "tab\tinside",
    "it's",
    "say \"hi\"",
    "both ' and \"",
    "line one\nline two\n",
    "\n",
    "dollar $HOME and ${HOME} and $(cmd)",
    "$",
    "ends with $",
    "pa$$word",
    "hash # not a comment",
    "#starts with hash",
    "back\\slash",
    "C:\\Users\\name",
    "two \\\\ backslashes",
    "backslash-quote \\' here",
    "backslash-dquote \\\" here",
    "unicode caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
    "equals=in=value",
    "`backtick`",
    "semi;colon & amp | pipe > gt < lt",
    "{\"auths\":{\"nvcr.io\":{\"auth\":\"dXNlcjpwYXNz\"}}}",
    "-----BEGIN KEY-----\nMIIB\nabc+/=\n-----END KEY-----\n",
    "it's 5$ or $ 5",
    "back\\slash and `tick`",
    "\\n is not a newline",
    "export X=1",
    "trailing space ",
    "'quoted'",
    "\"dq\"",
    "'",
    "\\$X",
    "vertical\vtab and form\ffeed",
};

/* Values no quoting reads alike in a shell and python-dotenv. */
static const char *const refused[] = {
    "it's $HOME", "it's $5",        "two\\\\backslashes and `tick`", "'$(cmd)'", "cr\rhere",
    "crlf\r\n",   "not utf-8 \xff", "ends with backslash\\",         "\\",       "a\\\\",
};

static void write_and_read(const char *value, size_t len)
{
	struct tr_error err = {0};
	struct sbuf file = {0};
	struct dotenv d = {0};

	assert_int_equal(sbuf_adds(&file, "# a file\nFIRST='1'\n"), TR_OK);
	if (dotenv_write(&file, "VALUE", value, len, &err) != TR_OK)
		fail_msg("writing \"%s\" failed: %s", value, err.message);
	assert_int_equal(sbuf_adds(&file, "LAST=last # comment\n"), TR_OK);
	if (dotenv_parse(file.data, file.len, &d, &err) != TR_OK)
		fail_msg("reading back \"%s\" failed: %s\n%s", value, err.message, file.data);
	assert_int_equal(d.count, 3);
	assert_string_equal(d.items[0].name, "FIRST");
	assert_string_equal(d.items[0].value, "1");
	assert_string_equal(d.items[1].name, "VALUE");
	if (d.items[1].value_len != len || memcmp(d.items[1].value, value, len) != 0)
		fail_msg("\"%s\" read back as \"%s\" from\n%s", value, d.items[1].value, file.data);
	assert_string_equal(d.items[2].name, "LAST");
	assert_string_equal(d.items[2].value, "last");
	dotenv_clear(&d);
	sbuf_clear(&file);
}

static void test_values_round_trip(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(round_trip) / sizeof(round_trip[0]); i++)
		write_and_read(round_trip[i], strlen(round_trip[i]));
}

static void test_every_ascii_byte_round_trips_where_accepted(void **state)
{
	struct sbuf probe = {0};
	char value[8];
	int c;

	(void)state;
	for (c = 1; c < 0x80; c++) {
		snprintf(value, sizeof(value), "a%cb", c);
		if (c == '\r') {
			assert_int_equal(dotenv_quote(value, 3, &probe, NULL), TR_EINVAL);
			continue;
		}
		write_and_read(value, 3);
		if (c == '\\')
			continue; /* alone it ends in a backslash: refused */
		value[0] = (char)c;
		value[1] = '\0';
		write_and_read(value, 1);
	}
	assert_int_equal(dotenv_quote("\\", 1, &probe, NULL), TR_EINVAL);
	sbuf_clear(&probe);
}

static void test_unrepresentable_values_are_refused_without_the_value(void **state)
{
	struct tr_error err = {0};
	struct sbuf file = {0};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(dotenv_write(&file, "HIDDEN", refused[i], strlen(refused[i]), &err), TR_EINVAL);
		assert_non_null(strstr(err.message, "HIDDEN"));
		assert_null(strstr(err.message, refused[i]));
		assert_int_equal(file.len, 0);
	}
	assert_int_equal(dotenv_write(&file, "NUL", "a\0b", 3, &err), TR_EINVAL);
	assert_non_null(strstr(err.message, "NUL byte"));
	sbuf_clear(&file);
}

static void test_names_must_suit_a_shell(void **state)
{
	struct tr_error err = {0};
	struct sbuf file = {0};

	(void)state;
	assert_true(dotenv_name_valid("HF_TOKEN"));
	assert_true(dotenv_name_valid("_x1"));
	assert_false(dotenv_name_valid("1X"));
	assert_false(dotenv_name_valid("A-B"));
	assert_false(dotenv_name_valid("A.B"));
	assert_false(dotenv_name_valid(""));
	assert_int_equal(dotenv_write(&file, "bad-name", "v", 1, &err), TR_EINVAL);
	assert_non_null(strstr(err.message, "bad-name"));
	sbuf_clear(&file);
}

static void test_the_chosen_quoting(void **state)
{
	struct sbuf out = {0};

	(void)state;
	assert_int_equal(dotenv_quote("a b", 3, &out, NULL), TR_OK);
	assert_string_equal(out.data, "'a b'");
	sbuf_clear(&out);
	assert_int_equal(dotenv_quote("it's", 4, &out, NULL), TR_OK);
	assert_string_equal(out.data, "\"it's\"");
	sbuf_clear(&out);
	assert_int_equal(dotenv_quote("$HOME", 5, &out, NULL), TR_OK);
	assert_string_equal(out.data, "'$HOME'");
	sbuf_clear(&out);
	assert_int_equal(dotenv_quote("a\\\\b", 4, &out, NULL), TR_OK);
	assert_string_equal(out.data, "\"a\\\\\\\\b\"");
	sbuf_clear(&out);
}

/* Reads text; expects n variables, checked against names and values. */
static void expect_read(const char *text, size_t n, const char *const *names, const char *const *values)
{
	struct tr_error err = {0};
	struct dotenv d = {0};
	size_t i;

	if (dotenv_parse(text, strlen(text), &d, &err) != TR_OK)
		fail_msg("reading failed: %s\n%s", err.message, text);
	assert_int_equal(d.count, n);
	for (i = 0; i < n; i++) {
		assert_string_equal(d.items[i].name, names[i]);
		assert_string_equal(d.items[i].value, values[i]);
	}
	dotenv_clear(&d);
}

static void test_reader_follows_python_dotenv(void **state)
{
	static const char text[] = "# comment\n"
				   "\n"
				   "export EXPORTED=yes\n"
				   "  SPACED = spaced out   \n"
				   "UNQUOTED=a b # inline comment\n"
				   "HASH=a#b\n"
				   "EMPTY=\n"
				   "SQ='single # kept'  # comment\n"
				   "DQ=\"esc \\\"q\\\" \\n \\t \\\\ \\x\"\n"
				   "SQESC='it\\'s \\\\ \\n'\n"
				   "MULTI=\"line 1\n"
				   "line 2\"\n"
				   "'QUOTED KEY'=v\n"
				   "LAST=end";
	static const char *const names[] = {"EXPORTED", "SPACED", "UNQUOTED", "HASH",       "EMPTY", "SQ",
					    "DQ",       "SQESC",  "MULTI",    "QUOTED KEY", "LAST"};
	static const char *const values[] = {
	    "yes",         "spaced out",     "a b", "a#b", "", "single # kept", "esc \"q\" \n \t \\ \\x",
	    "it's \\ \\n", "line 1\nline 2", "v",   "end"};

	(void)state;
	expect_read(text, 11, names, values);
}

static void test_reader_takes_universal_newlines(void **state)
{
	static const char *const names[] = {"A", "B", "C"};
	static const char *const values[] = {"1", "x\ny", "3"};

	(void)state;
	expect_read("A=1\r\nB='x\r\ny'\rC=3\r\n", 3, names, values);
}

static void test_reader_reports_bad_lines(void **state)
{
	static const char *const bad[] = {"A='unterminated\n", "=value\n", "NOVALUE\n", "A=\"x\" junk\n"};
	struct tr_error err = {0};
	struct dotenv d = {0};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(dotenv_parse(bad[i], strlen(bad[i]), &d, &err), TR_EINVAL);
		assert_non_null(strstr(err.message, "line 1"));
		assert_int_equal(d.count, 0);
	}
	assert_int_equal(dotenv_parse("OK=1\n\nBAD='x\n", 13, &d, &err), TR_EINVAL);
	assert_non_null(strstr(err.message, "line 3"));
}

static void test_reader_keeps_python_dotenvs_backtracking(void **state)
{
	static const char *const names[] = {"A"};
	static const char *const values[] = {"x\\"};

	(void)state;
	/* 'x\' at the end of the text: the backslash-quote closes the value */
	expect_read("A='x\\'", 1, names, values);
}

static void test_annotations_attach_to_the_next_variable(void **state)
{
	static const char text[] = "# tresor: secret=hf-secret key=hf-token type=opaque\n"
				   "HF_SECRET_HF_TOKEN='hf_x'\n"
				   "PLAIN=1\n"
				   "# tresor: secret=a key=k1\n"
				   "# ordinary comment\n"
				   "# tresor: secret=b key=k2\n"
				   "B_K2='v'\n";
	struct tr_error err = {0};
	struct dotenv d = {0};

	(void)state;
	assert_int_equal(dotenv_parse(text, strlen(text), &d, &err), TR_OK);
	assert_int_equal(d.count, 3);
	assert_string_equal(d.items[0].annotation, " secret=hf-secret key=hf-token type=opaque");
	assert_null(d.items[1].annotation);
	assert_string_equal(d.items[2].annotation, " secret=b key=k2");
	assert_int_equal(d.items[2].line, 7);
	dotenv_clear(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_values_round_trip),
	    cmocka_unit_test(test_every_ascii_byte_round_trips_where_accepted),
	    cmocka_unit_test(test_unrepresentable_values_are_refused_without_the_value),
	    cmocka_unit_test(test_names_must_suit_a_shell),
	    cmocka_unit_test(test_the_chosen_quoting),
	    cmocka_unit_test(test_reader_follows_python_dotenv),
	    cmocka_unit_test(test_reader_takes_universal_newlines),
	    cmocka_unit_test(test_reader_reports_bad_lines),
	    cmocka_unit_test(test_reader_keeps_python_dotenvs_backtracking),
	    cmocka_unit_test(test_annotations_attach_to_the_next_variable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
