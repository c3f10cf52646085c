/*
 * test-client.c - the command line's HTTP client without a server
 * (src/cli/client.c): request paths are percent-encoded as libcurl did,
 * and addresses are taken apart or refused before anything is sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"

static void test_segments_are_percent_encoded(void **state)
{
	struct client_path p;

	(void)state;
	client_path_init(&p, "/v2/workspaces");
	client_path_segment(&p, "a b/c?d", 7);
	client_path_literal(&p, "/secrets");
	client_path_segment(&p, "Az09-._~", 8);
	client_path_segment(&p, "\xc3\xa9%#&=+", 7);
	assert_false(p.failed);
	assert_string_equal(p.text, "/v2/workspaces/a%20b%2Fc%3Fd/secrets/Az09-._~/%C3%A9%25%23%26%3D%2B");
	assert_int_equal(p.len, strlen(p.text));
}

static void test_query_values_are_encoded_and_null_skipped(void **state)
{
	struct client_path p;

	(void)state;
	client_path_init(&p, "/v2/secrets");
	client_path_query(&p, "page_token", "ab+/=");
	client_path_query(&p, "tag", NULL);
	client_path_query(&p, "q", "x y");
	assert_false(p.failed);
	assert_string_equal(p.text, "/v2/secrets?page_token=ab%2B%2F%3D&q=x%20y");
}

static void test_a_path_that_does_not_fit_fails(void **state)
{
	static char big[CLIENT_PATH_MAX];
	struct client_path p;

	(void)state;
	memset(big, ' ', sizeof(big) / 3);
	client_path_init(&p, "/v2");
	client_path_segment(&p, big, sizeof(big) / 3); /* three bytes each */
	assert_true(p.failed);
}

/* client_open's answer for addr, with a token in the environment and the
 * system's CA certificates. */
static enum tr_status open_status(const char *addr)
{
	struct tr_error err = {0};
	struct client *cl = NULL;
	enum tr_status st;

	st = client_open(&cl, addr, NULL, NULL, &err);
	client_close(cl);
	return st;
}

static void test_addresses_taken_apart(void **state)
{
	(void)state;
	setenv("TRESOR_TOKEN", "trs_unit_test_token", 1);
	unsetenv("TRESOR_CACERT");
	assert_int_equal(open_status("http://127.0.0.1:8200"), TR_OK);
	assert_int_equal(open_status("HTTPS://tresor.example/"), TR_OK);
	assert_int_equal(open_status("http://[::1]:8200/prefix/"), TR_OK);
	assert_int_equal(open_status("http://localhost"), TR_OK);
}

static void test_bad_addresses_refused(void **state)
{
	static const char *const bad[] = {
	    "ftp://host",         "http://",          "http:///v2",          "http://host:", "http://host:0",
	    "http://host:65536",  "http://host:80x",  "http://:80",          "http://[::1",  "http://[::1]x",
	    "http://[nope]:1",    "http://::1:80",    "http://user:pw@host", "http://h h",   "http://host/a b",
	    "http://host/v2?x=1", "http://host#frag",
	};
	size_t i;

	(void)state;
	setenv("TRESOR_TOKEN", "trs_unit_test_token", 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (open_status(bad[i]) != TR_EINVAL)
			fail_msg("'%s' was not refused", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_segments_are_percent_encoded),
	    cmocka_unit_test(test_query_values_are_encoded_and_null_skipped),
	    cmocka_unit_test(test_a_path_that_does_not_fit_fails),
	    cmocka_unit_test(test_addresses_taken_apart),
	    cmocka_unit_test(test_bad_addresses_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
