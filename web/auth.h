/* The dashboard's password (DESIGN.md, Web; issue 16): kept only as a slow salted hash — libxcrypt's yescrypt,
 * the hash Debian's /etc/shadow uses — in a file that only the daemon's user can read. No session or HTTP here:
 * the LAN listener's login builds on it. Secrets never reach a log line from this module. */
#pragma once

#include <glib.h>
#include <stdbool.h>

enum {
	AUTH_PASSWORD_MIN = 8,   /* bytes */
	AUTH_PASSWORD_MAX = 256, /* bytes; longer is refused rather than hashed slowly on a LAN's request */
};

/* A password a person can type: UTF-8 text of AUTH_PASSWORD_MIN..MAX bytes, no control characters. */
bool auth_password_valid(const char *password, GError **error);
/* A yescrypt hash ("$y$...") of password with a fresh random salt. */
char *auth_hash(const char *password, GError **error);
/* Whether password matches hash, in time that does not depend on where they differ. A hash that is not a
 * yescrypt one matches nothing. */
bool auth_verify(const char *password, const char *hash);
/* 20 characters from an alphabet without look-alikes (no 0/O, 1/l/I), about 100 bits, for a first start. */
char *auth_random_password(void);

/* The password file: one line, the hash. auth_store writes it whole (a temporary file renamed over it) with mode
 * 0600; auth_load refuses a file that group or others may read, and a line that is not a yescrypt hash. */
bool auth_store(const char *path, const char *hash, GError **error);
char *auth_load(const char *path, GError **error);
/* Where the password file lives: "web-password" beside the database (the daemon's state directory). */
char *auth_path(const char *database);
/* The daemon's start and SIGHUP: the stored hash. With no file at all, a random password is made, its hash
 * stored, and the password itself logged this once, so that a first start is never open to the LAN. */
char *auth_prepare(const char *path, GError **error);
