/*
 * domain.c - small helpers shared by the domain modules.
 */
#include "domain/domain.h"

#include <time.h>

int64_t domain_now(void)
{
	return (int64_t)time(NULL);
}
