/*
 * test-routes.c - path pattern matching of the route table
 * (src/server/routes.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "server/routes.h"

static void free_all(char *params[ROUTE_MAX_PARAMS])
{
	for (int i = 0; i < ROUTE_MAX_PARAMS; i++)
		free(params[i]);
}

static void test_literal_paths(void **state)
{
	(void)state;
	assert_true(routes_match("/healthz", "/healthz", NULL));
	assert_false(routes_match("/healthz", "/healthz/", NULL));
	assert_false(routes_match("/healthz", "/health", NULL));
	assert_false(routes_match("/v2/workspaces", "/v2/workspace", NULL));
	assert_false(routes_match("/v2/workspaces", "/v2", NULL));
}

static void test_captures_are_decoded(void **state)
{
	char *params[ROUTE_MAX_PARAMS] = {0};

	(void)state;
	assert_true(routes_match("/v2/workspaces/{ws}/secrets/{name}", "/v2/workspaces/team-a/secrets/hf%2Dtoken",
	                         params));
	assert_string_equal(params[0], "team-a");
	assert_string_equal(params[1], "hf-token");
	assert_null(params[2]);
	free_all(params);
}

static void test_empty_segments_do_not_match_captures(void **state)
{
	(void)state;
	assert_false(routes_match("/v2/workspaces/{ws}", "/v2/workspaces/", NULL));
	assert_false(routes_match("/v2/workspaces/{ws}/secrets", "/v2/workspaces//secrets", NULL));
}

static void test_longer_and_shorter_paths_do_not_match(void **state)
{
	(void)state;
	assert_false(routes_match("/v2/workspaces/{ws}/secrets/{name}", "/v2/workspaces/a/secrets/b/access", NULL));
	assert_true(routes_match("/v2/workspaces/{ws}/secrets/{name}/access", "/v2/workspaces/a/secrets/b/access",
	                         NULL));
	assert_false(routes_match("/v2/workspaces/{ws}/secrets/{name}/access", "/v2/workspaces/a/secrets/b", NULL));
}

static void test_allowed_methods_include_patch(void **state)
{
	(void)state;
	assert_true(routes_allowed_methods() & EVHTTP_REQ_PATCH);
	assert_true(routes_allowed_methods() & EVHTTP_REQ_DELETE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal_paths),
		cmocka_unit_test(test_captures_are_decoded),
		cmocka_unit_test(test_empty_segments_do_not_match_captures),
		cmocka_unit_test(test_longer_and_shorter_paths_do_not_match),
		cmocka_unit_test(test_allowed_methods_include_patch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
