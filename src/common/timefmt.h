/*
 * timefmt.h - RFC 3339 UTC timestamps ("2026-11-23T05:40:32Z").
 */
#ifndef TRESOR_COMMON_TIMEFMT_H
#define TRESOR_COMMON_TIMEFMT_H

#include <stdint.h>

#define TIMEFMT_LEN 32

/* Formats Unix seconds as RFC 3339 UTC into out. */
void timefmt_rfc3339(int64_t t, char out[TIMEFMT_LEN]);

#endif
