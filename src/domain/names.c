/*
 * names.c - character-class checks for names; no regex engine needed.
 */
#include "domain/names.h"

#include <string.h>

#include "common/limits.h"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* True when s is 1..max chars, each alphanumeric or in extra. */
static bool all_in_class(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !strchr(extra, s[i]))
			return false;
	return true;
}

bool name_secret_valid(const char *s)
{
	return all_in_class(s, TR_SECRET_NAME_MAX, "_.-");
}

bool name_key_valid(const char *s)
{
	return all_in_class(s, TR_KEY_NAME_MAX, "_.-");
}

bool name_tag_valid(const char *s)
{
	return all_in_class(s, TR_TAG_MAX, "_.:-");
}

bool name_principal_valid(const char *s)
{
	return all_in_class(s, TR_PRINCIPAL_NAME_MAX, "_.-");
}

bool name_label_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > TR_WORKSPACE_NAME_MAX)
		return false;
	if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool name_dns_portable(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 253)
		return false;
	if (!(s[0] >= 'a' && s[0] <= 'z') || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}
