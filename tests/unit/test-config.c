/*
 * test-config.c - YAML config loading (src/common/config.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/config.h"

static json_t *parse_ok(const char *text)
{
	struct tr_error err = {0};
	json_t *root = NULL;

	assert_int_equal(config_parse(text, strlen(text), &root, &err), TR_OK);
	assert_non_null(root);
	return root;
}

static enum tr_status parse_status(const char *text)
{
	struct tr_error err = {0};
	json_t *root = NULL;
	enum tr_status st = config_parse(text, strlen(text), &root, &err);

	if (st == TR_OK)
		json_decref(root);
	else
		assert_true(err.message[0] != '\0');
	return st;
}

static void test_nested_mappings_and_dotted_lookup(void **state)
{
	json_t *root = parse_ok("server:\n  listen: 127.0.0.1:9000\n  workers: 4\n"
	                        "secrets:\n  encryption:\n    current_provider: local_v2\n");

	(void)state;
	assert_string_equal(config_string(root, "server.listen"), "127.0.0.1:9000");
	assert_string_equal(config_string(root, "server.workers"), "4");
	assert_string_equal(config_string(root, "secrets.encryption.current_provider"), "local_v2");
	assert_null(config_string(root, "server.missing"));
	assert_null(config_string(root, "server"));
	json_decref(root);
}

static void test_sequences_and_flow_style(void **state)
{
	json_t *root = parse_ok("exec: { command: [\"/bin/plugin\", \"--key\", \"k1\"] }\n");
	json_t *cmd = config_lookup(root, "exec.command");

	(void)state;
	assert_true(json_is_array(cmd));
	assert_int_equal(json_array_size(cmd), 3);
	assert_string_equal(json_string_value(json_array_get(cmd, 2)), "k1");
	json_decref(root);
}

static void test_scalars_keep_their_text(void **state)
{
	json_t *root = parse_ok("mode: 0700\nflag: yes\n");

	(void)state;
	assert_string_equal(config_string(root, "mode"), "0700");
	assert_string_equal(config_string(root, "flag"), "yes");
	json_decref(root);
}

static void test_empty_document_is_an_empty_mapping(void **state)
{
	json_t *root = parse_ok("");

	(void)state;
	assert_true(json_is_object(root));
	assert_int_equal(json_object_size(root), 0);
	json_decref(root);
}

static void test_bad_documents_are_refused(void **state)
{
	(void)state;
	assert_int_equal(parse_status("server: [unclosed\n"), TR_EINVAL);
	assert_int_equal(parse_status("- a\n- b\n"), TR_EINVAL);
	assert_int_equal(parse_status("a: &x 1\nb: *x\n"), TR_EINVAL);
	assert_int_equal(parse_status("? [a, b]\n: c\n"), TR_EINVAL);
}

static void test_missing_file(void **state)
{
	struct tr_error err = {0};
	json_t *root = NULL;

	(void)state;
	assert_int_equal(config_load("/nonexistent/tresor.yaml", &root, &err), TR_ENOTFOUND);
	assert_null(root);
	assert_non_null(strstr(err.message, "/nonexistent/tresor.yaml"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_mappings_and_dotted_lookup),
		cmocka_unit_test(test_sequences_and_flow_style),
		cmocka_unit_test(test_scalars_keep_their_text),
		cmocka_unit_test(test_empty_document_is_an_empty_mapping),
		cmocka_unit_test(test_bad_documents_are_refused),
		cmocka_unit_test(test_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
