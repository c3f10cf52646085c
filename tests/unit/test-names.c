/*
 * test-names.c - the naming rules of SPEC §1-§3 (src/domain/names.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "domain/names.h"

static void test_secret_names_from_the_seed_are_valid(void **state)
{
	(void)state;
	assert_true(name_secret_valid("hf-token"));
	assert_true(name_secret_valid("nim-api-key"));
	assert_true(name_secret_valid("wandb.key.production"));
	assert_true(name_secret_valid("my_secret_1"));
	assert_true(name_secret_valid("A"));
}

static void test_secret_names_invalid(void **state)
{
	char long_name[257];

	(void)state;
	assert_false(name_secret_valid(""));
	assert_false(name_secret_valid("a/b"));
	assert_false(name_secret_valid("a b"));
	assert_false(name_secret_valid("a\nb"));
	assert_false(name_secret_valid("naïve"));
	memset(long_name, 'a', 256);
	long_name[256] = '\0';
	assert_false(name_secret_valid(long_name));
	long_name[255] = '\0';
	assert_true(name_secret_valid(long_name));
}

static void test_dns_portability_warning_rule(void **state)
{
	(void)state;
	assert_true(name_dns_portable("hf-token"));
	assert_false(name_dns_portable("my_secret_1"));
	assert_false(name_dns_portable("wandb.key.production"));
	assert_false(name_dns_portable("HF-TOKEN"));
	assert_false(name_dns_portable("1token"));
	assert_false(name_dns_portable("token-"));
	assert_false(name_dns_portable("a"));
}

static void test_workspace_labels(void **state)
{
	char label[65];

	(void)state;
	assert_true(name_label_valid("default"));
	assert_true(name_label_valid("team-a"));
	assert_true(name_label_valid("a"));
	assert_true(name_label_valid("1"));
	assert_false(name_label_valid(""));
	assert_false(name_label_valid("-a"));
	assert_false(name_label_valid("a-"));
	assert_false(name_label_valid("Team"));
	assert_false(name_label_valid("a_b"));
	assert_false(name_label_valid("a.b"));
	memset(label, 'a', 64);
	label[64] = '\0';
	assert_false(name_label_valid(label));
	label[63] = '\0';
	assert_true(name_label_valid(label));
}

static void test_keys_tags_principals(void **state)
{
	(void)state;
	assert_true(name_key_valid(".dockerconfigjson"));
	assert_true(name_key_valid("hf-token"));
	assert_false(name_key_valid("a=b"));
	assert_false(name_key_valid(""));
	assert_true(name_tag_valid("env:prod"));
	assert_false(name_tag_valid("two words"));
	assert_true(name_principal_valid("admin"));
	assert_false(name_principal_valid("a/b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_names_from_the_seed_are_valid),
		cmocka_unit_test(test_secret_names_invalid),
		cmocka_unit_test(test_dns_portability_warning_rule),
		cmocka_unit_test(test_workspace_labels),
		cmocka_unit_test(test_keys_tags_principals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
