/*
 * test-expand.c - unit tests for src/inject/expand.c: $(VAR) in arguments
 * expands as Kubernetes expands a container's command and args.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inject/expand.h"
#include "inject/sbuf.h"

/* The variables the tests know: NAME=VALUE pairs. */
static const char *const vars[][2] = {
    {"HF_TOKEN", "hf_secret"}, {"A", "1"}, {"EMPTY", ""}, {"WITH_REF", "$(A)"}, {"DOLLARS", "$$"}, {"SP ACE", "odd"},
};

static const char *lookup(void *ctx, const char *name, size_t len, size_t *value_len)
{
	size_t i;

	(void)ctx;
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if (strlen(vars[i][0]) == len && memcmp(vars[i][0], name, len) == 0) {
			*value_len = strlen(vars[i][1]);
			return vars[i][1];
		}
	}
	return NULL;
}

static void expect(const char *in, const char *want)
{
	char *out = NULL;

	assert_int_equal(expand_vars(in, lookup, NULL, &out), TR_OK);
	assert_non_null(out);
	if (strcmp(out, want) != 0)
		fail_msg("expand(\"%s\") = \"%s\", want \"%s\"", in, out, want);
	inject_wipe_free(out);
}

static void test_known_variable_is_replaced(void **state)
{
	(void)state;
	expect("$(HF_TOKEN)", "hf_secret");
	expect("--token=$(HF_TOKEN)", "--token=hf_secret");
	expect("$(A)$(A)-$(A)", "11-1");
	expect("$(EMPTY)", "");
	expect("x$(EMPTY)y", "xy");
}

static void test_unknown_variable_stays_as_written(void **state)
{
	(void)state;
	expect("$(NOPE)", "$(NOPE)");
	expect("a $(NOPE) b $(A)", "a $(NOPE) b 1");
	expect("$()", "$()");
	expect("$(hf_token)", "$(hf_token)"); /* names are case-sensitive */
}

static void test_double_dollar_escapes(void **state)
{
	(void)state;
	expect("$$(HF_TOKEN)", "$(HF_TOKEN)");
	expect("$$(NOPE)", "$(NOPE)");
	expect("$$", "$");
	expect("$$$$", "$$");
	expect("$$$(A)", "$1");
	expect("$$$$(A)", "$$(A)");
	expect("a$$b", "a$b");
}

static void test_other_dollars_stay(void **state)
{
	(void)state;
	expect("$", "$");
	expect("a$", "a$");
	expect("$A", "$A");
	expect("${A}", "${A}");
	expect("cost: 5$ or $5", "cost: 5$ or $5");
	expect("$ (A)", "$ (A)");
}

static void test_incomplete_reference_stays(void **state)
{
	(void)state;
	expect("$(A", "$(A");
	expect("$(", "$(");
	expect("x $(A y", "x $(A y");
	/* scanning goes on after "$(": a later reference still expands */
	expect("$($(A)", "$($(A)");
	expect("$(x $(A)", "$(x $(A)");
}

static void test_values_are_not_expanded_again(void **state)
{
	(void)state;
	expect("$(WITH_REF)", "$(A)");
	expect("$(DOLLARS)", "$$");
}

static void test_names_are_anything_up_to_the_parenthesis(void **state)
{
	(void)state;
	expect("$(SP ACE)", "odd");
	expect("$(A))", "1)");
	expect("(($(A)))", "((1))");
}

static void test_text_without_references_is_copied(void **state)
{
	(void)state;
	expect("", "");
	expect("plain text", "plain text");
	expect("unicode \xc3\xa9\xe2\x82\xac", "unicode \xc3\xa9\xe2\x82\xac");
	expect("$\xc3\xa9", "$\xc3\xa9");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_variable_is_replaced),
	    cmocka_unit_test(test_unknown_variable_stays_as_written),
	    cmocka_unit_test(test_double_dollar_escapes),
	    cmocka_unit_test(test_other_dollars_stay),
	    cmocka_unit_test(test_incomplete_reference_stays),
	    cmocka_unit_test(test_values_are_not_expanded_again),
	    cmocka_unit_test(test_names_are_anything_up_to_the_parenthesis),
	    cmocka_unit_test(test_text_without_references_is_copied),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
