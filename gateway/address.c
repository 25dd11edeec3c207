/* address.h. Locale-free on purpose: isxdigit() and toupper() follow the locale, an address never does. */
#include <string.h>

#include "address.h"

static bool hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char upper(char c)
{
	return c >= 'a' && c <= 'f' ? (char)(c - 'a' + 'A') : c;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
}

static bool colon_form(const char *s, size_t len)
{
	if (len != ADDRESS_SIZE - 1)
		return false;
	for (size_t i = 0; i < len; i++)
		if (i % 3 == 2 ? s[i] != ':' : !hex(s[i]))
			return false;
	return true;
}

bool address_valid(const char *s)
{
	return s && colon_form(s, strnlen(s, ADDRESS_SIZE));
}

bool address_normalise(const char *s, char ret[ADDRESS_SIZE])
{
	return address_valid(s) && address_parse(s, ADDRESS_SIZE - 1, ret);
}

bool address_parse(const char *s, size_t len, char ret[ADDRESS_SIZE])
{
	size_t j = 0;

	if (colon_form(s, len)) {
		for (size_t i = 0; i < len; i++)
			ret[i] = upper(s[i]);
		ret[len] = '\0';
		return true;
	}
	if (len != ADDRESS_ID_SIZE - 1)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!hex(s[i]))
			return false;
	for (size_t i = 0; i < len; i++) {
		ret[j++] = upper(s[i]);
		if (i % 2 == 1 && i + 1 < len)
			ret[j++] = ':';
	}
	ret[j] = '\0';
	return true;
}

void address_to_id(const char *address, char ret[ADDRESS_ID_SIZE])
{
	size_t j = 0;

	for (const char *p = address; *p && j < ADDRESS_ID_SIZE - 1; p++)
		if (*p != ':')
			ret[j++] = lower(*p);
	ret[j] = '\0';
}
