/*
 * test-types.c - secret types, aliases and their validation rules
 * (src/domain/types.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "domain/types.h"

/* Builds secdata from "k", "v", "k", "v", ..., NULL. */
static void build(struct secdata *d, ...)
{
	va_list ap;
	const char *k;

	memset(d, 0, sizeof(*d));
	va_start(ap, d);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);

		assert_int_equal(secdata_add(d, k, v, strlen(v)), TR_OK);
	}
	va_end(ap);
}

static enum tr_status check(const char *type, struct secdata *d, struct warnings *w, struct tr_error *err)
{
	enum tr_status st = secret_type_validate(type, d, w, err);

	secdata_clear(d);
	return st;
}

static void test_aliases_are_case_insensitive(void **state)
{
	(void)state;
	assert_string_equal(secret_type_canonical("Generic"), "opaque");
	assert_string_equal(secret_type_canonical("OPAQUE"), "opaque");
	assert_string_equal(secret_type_canonical("HuggingFace"), "huggingface");
	assert_string_equal(secret_type_canonical("S3"), "s3");
	assert_string_equal(secret_type_canonical("ImagePullSecret"), "container_registry");
	assert_string_equal(secret_type_canonical("image_pull"), "container_registry");
	assert_null(secret_type_canonical("kerberos"));
	assert_null(secret_type_canonical(""));
}

static void test_required_keys_are_named(void **state)
{
	struct tr_error err = {0};
	struct secdata d;

	(void)state;
	build(&d, "access_key_id", "AKIA", NULL);
	assert_int_equal(check("s3", &d, NULL, &err), TR_EVALIDATION);
	assert_non_null(strstr(err.message, "secret_access_key"));

	build(&d, "host", "db", "user", "u", NULL);
	assert_int_equal(check("database", &d, NULL, &err), TR_EVALIDATION);
	build(&d, "url", "postgres://db/x", NULL);
	assert_int_equal(check("database", &d, NULL, &err), TR_OK);
}

static void test_huggingface_rules(void **state)
{
	struct tr_error err = {0};
	struct warnings w = {0};
	struct secdata d;

	(void)state;
	build(&d, "token", "hf_abc", NULL);
	assert_int_equal(check("huggingface", &d, &w, &err), TR_OK);
	assert_int_equal(w.count, 0);
	build(&d, "token", "abc", NULL);
	assert_int_equal(check("huggingface", &d, &w, &err), TR_OK);
	assert_int_equal(w.count, 1);
	build(&d, "token", "hf_a bc", NULL);
	assert_int_equal(check("huggingface", &d, &w, &err), TR_EVALIDATION);
	assert_null(strstr(err.message, "hf_a bc"));
}

static void test_s3_endpoint_and_database_port(void **state)
{
	struct tr_error err = {0};
	struct secdata d;

	(void)state;
	build(&d, "access_key_id", "a", "secret_access_key", "b", "endpoint_url", "ftp://x", NULL);
	assert_int_equal(check("s3", &d, NULL, &err), TR_EVALIDATION);
	build(&d, "access_key_id", "a", "secret_access_key", "b", "endpoint_url", "https://s3.local", NULL);
	assert_int_equal(check("s3", &d, NULL, &err), TR_OK);
	build(&d, "host", "h", "user", "u", "password", "p", "port", "54x", NULL);
	assert_int_equal(check("database", &d, NULL, &err), TR_EVALIDATION);
	assert_non_null(strstr(err.message, "port"));
}

static void test_dockerconfigjson(void **state)
{
	struct tr_error err = {0};
	struct secdata d;

	(void)state;
	build(&d, ".dockerconfigjson", "{\"auths\":{\"nvcr.io\":{\"auth\":\"dXNlcjpwYXNz\"}}}", NULL);
	assert_int_equal(check("container_registry", &d, NULL, &err), TR_OK);
	build(&d, ".dockerconfigjson", "not json", NULL);
	assert_int_equal(check("container_registry", &d, NULL, &err), TR_EVALIDATION);
	build(&d, ".dockerconfigjson", "{\"registries\":{}}", NULL);
	assert_int_equal(check("container_registry", &d, NULL, &err), TR_EVALIDATION);
	assert_non_null(strstr(err.message, "auths"));
	build(&d, ".dockerconfigjson", "{\"auths\":{\"r\":{\"auth\":\"***not base64***\"}}}", NULL);
	assert_int_equal(check("container_registry", &d, NULL, &err), TR_EVALIDATION);
	assert_null(strstr(err.message, "not base64"));
	build(&d, "registry_server", "nvcr.io", "username", "$oauthtoken", "password", "p", "email", "a@b", NULL);
	assert_int_equal(check("container_registry", &d, NULL, &err), TR_OK);
}

static void test_api_key_and_ssh(void **state)
{
	struct tr_error err = {0};
	struct secdata d;

	(void)state;
	build(&d, "api_key", "sk-1", "provider", "openai", NULL);
	assert_int_equal(check("api_key", &d, NULL, &err), TR_OK);
	build(&d, "api_key", "sk-1", "provider", "acme", NULL);
	assert_int_equal(check("api_key", &d, NULL, &err), TR_EVALIDATION);
	build(&d, "public_key", "ssh-ed25519 AAAA x", NULL);
	assert_int_equal(check("ssh", &d, NULL, &err), TR_OK);
	build(&d, "private_key", "garbage", NULL);
	assert_int_equal(check("ssh", &d, NULL, &err), TR_EVALIDATION);
	build(&d, "comment", "x", NULL);
	assert_int_equal(check("ssh", &d, NULL, &err), TR_EVALIDATION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aliases_are_case_insensitive),
		cmocka_unit_test(test_required_keys_are_named),
		cmocka_unit_test(test_huggingface_rules),
		cmocka_unit_test(test_s3_endpoint_and_database_port),
		cmocka_unit_test(test_dockerconfigjson),
		cmocka_unit_test(test_api_key_and_ssh),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
