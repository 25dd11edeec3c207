/* Bluetooth addresses, said once (BlueZ's bachk() / str2ba() / ba2str()): the colon form bluetoothd and the
 * database use, "C8:0F:10:11:22:33", and the band's id in topics and URLs, "c80f10112233" (DESIGN.md). Pure:
 * no allocation, no GLib, so every front, storage and the fuzzers take it as it is. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum {
	ADDRESS_SIZE = 18,    /* "C8:0F:10:11:22:33" and its NUL */
	ADDRESS_ID_SIZE = 13, /* "c80f10112233" and its NUL */
};

/* The colon form in either case, exactly 17 characters. */
bool address_valid(const char *s);
/* The colon form in either case to upper case; false (ret untouched) for anything else. */
bool address_normalise(const char *s, char ret[ADDRESS_SIZE]);
/* len bytes of s, the colon form or the id form in either case, to the upper-case colon form. */
bool address_parse(const char *s, size_t len, char ret[ADDRESS_SIZE]);
/* A valid address to its id: lower case without colons. */
void address_to_id(const char *address, char ret[ADDRESS_ID_SIZE]);
