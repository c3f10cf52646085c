/*
 * test-timefmt.c - timefmt_rfc3339 writes what gmtime_r and strftime
 * write, across the years it formats itself and past them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/timefmt.h"

static void assert_same_as_libc(int64_t t)
{
	char got[TIMEFMT_LEN], want[TIMEFMT_LEN];
	time_t tt = (time_t)t;
	struct tm tm;

	assert_non_null(gmtime_r(&tt, &tm));
	assert_int_not_equal(strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm), 0);
	timefmt_rfc3339(t, got);
	assert_string_equal(got, want);
}

static void test_known_times(void **state)
{
	char out[TIMEFMT_LEN];

	(void)state;
	timefmt_rfc3339(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	timefmt_rfc3339(951782400, out);
	assert_string_equal(out, "2000-02-29T00:00:00Z");
	timefmt_rfc3339(1795412432, out);
	assert_string_equal(out, "2026-11-23T05:40:32Z");
	timefmt_rfc3339(INT64_C(253402300799), out);
	assert_string_equal(out, "9999-12-31T23:59:59Z");
}

/* Each day's edges from 1970 to past 2400 (leap years, century years
 * that are not leap years, and 2000 and 2400, which are). */
static void test_day_edges_match_libc(void **state)
{
	(void)state;
	for (int64_t day = 0; day < 160000; day++) {
		assert_same_as_libc(day * 86400);
		assert_same_as_libc(day * 86400 + 86399);
	}
}

/* Times spread over the whole range, and the years libc formats. */
static void test_spread_and_outside_match_libc(void **state)
{
	uint64_t x = 88172645463325252ULL;

	(void)state;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		assert_same_as_libc((int64_t)(x % UINT64_C(253402300800)));
	}
	assert_same_as_libc(-1);
	assert_same_as_libc(-86400 * 365);
	assert_same_as_libc(INT64_C(253402300800));
	assert_same_as_libc(INT64_C(253402300800) + 86400 * 400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_times),
	    cmocka_unit_test(test_day_edges_match_libc),
	    cmocka_unit_test(test_spread_and_outside_match_libc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
