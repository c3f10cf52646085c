/*
 * timefmt.c - RFC 3339 formatting.
 */
#include "common/timefmt.h"

#include <time.h>

void timefmt_rfc3339(int64_t t, char out[TIMEFMT_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	if (strftime(out, TIMEFMT_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}
