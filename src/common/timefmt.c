/*
 * timefmt.c - RFC 3339 formatting.
 *
 * Every secret in a reply carries up to three times, a page of them
 * hundreds: the years 1970 to 9999 are formatted here by arithmetic
 * (days to a civil date, as in Howard Hinnant's "chrono-compatible
 * low-level date algorithms"), not by gmtime_r and strftime.
 */
#include "common/timefmt.h"

#include <time.h>

#define SECONDS_PER_DAY  86400
#define FIRST_AFTER_9999 INT64_C(253402300800) /* 10000-01-01T00:00:00Z */

/* The civil date of a day counted from 1970-01-01 (days >= 0). */
static void civil_from_days(int64_t days, int *year, int *month, int *day)
{
	int64_t z = days + 719468; /* days since 0000-03-01 */
	int64_t era = z / 146097;  /* 400-year eras */
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100); /* from March 1 */
	int64_t mp = (5 * doy + 2) / 153;                      /* March is 0 */

	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
	*month = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = (int)(yoe + era * 400 + (*month <= 2));
}

/* Writes v as `width` digits, zero-padded. */
static char *put_digits(char *p, int v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

static void format_with_libc(int64_t t, char out[TIMEFMT_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(out, TIMEFMT_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

void timefmt_rfc3339(int64_t t, char out[TIMEFMT_LEN])
{
	int year, month, day;
	int64_t secs = t % SECONDS_PER_DAY;
	char *p = out;

	if (t < 0 || t >= FIRST_AFTER_9999) {
		format_with_libc(t, out);
		return;
	}
	civil_from_days(t / SECONDS_PER_DAY, &year, &month, &day);
	p = put_digits(p, year, 4);
	*p++ = '-';
	p = put_digits(p, month, 2);
	*p++ = '-';
	p = put_digits(p, day, 2);
	*p++ = 'T';
	p = put_digits(p, (int)(secs / 3600), 2);
	*p++ = ':';
	p = put_digits(p, (int)(secs / 60 % 60), 2);
	*p++ = ':';
	p = put_digits(p, (int)(secs % 60), 2);
	*p++ = 'Z';
	*p = '\0';
}
