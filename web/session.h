/* The LAN listener's logins (DESIGN.md, Web): server-side sessions and the per-address limit on password
 * guesses. Pure: the caller brings the monotonic clock, so the unit test drives time; no HTTP here.
 *
 * A session is two random 256-bit values: the token, which only the cookie carries (HttpOnly, so no script
 * can read it), and the CSRF token, which the page reads from the login's answer and sends back in a header.
 * A session ends after SESSION idle time, at logout, when the password changes, or when a newer session
 * needs its place (the least recently used one goes: the table is bounded). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum {
	SESSION_TOKEN_LEN = 64,  /* hex characters */
	SESSION_MAX = 64,        /* sessions kept at once */
	LOGIN_BURST = 5,         /* wrong passwords an address may try at once... */
	LOGIN_REFILL_S = 30,     /* ...and one more for every this many seconds since */
	LOGIN_ADDRESSES_MAX = 1024, /* addresses remembered; when full, unknown ones wait (never grows) */
};

struct session {
	char token[SESSION_TOKEN_LEN + 1];
	char csrf[SESSION_TOKEN_LEN + 1];
	int64_t last_used_us;
};

struct sessions;

/* idle_us: how long a session lives unused. */
struct sessions *sessions_new(int64_t idle_us);
void sessions_free(struct sessions *s);
/* A new session; NULL only if the system's random source fails. Valid until the next call on s. */
const struct session *sessions_create(struct sessions *s, int64_t now_us);
/* The live session of this token, its idle time restarted; NULL for an unknown or expired one (which goes). */
const struct session *sessions_find(struct sessions *s, const char *token, int64_t now_us);
void sessions_remove(struct sessions *s, const char *token);
/* Everyone logs in again (the password changed). */
void sessions_clear(struct sessions *s);
unsigned sessions_count(const struct sessions *s);
/* Whether the CSRF token given matches the session's, in time that does not depend on where they differ. */
bool session_csrf_ok(const struct session *session, const char *given);

/* Per client address: LOGIN_BURST wrong passwords, then one per LOGIN_REFILL_S. */
struct login_limit;
struct login_limit *login_limit_new(void);
void login_limit_free(struct login_limit *l);
/* Whether this address may try a password now, spending one try (attempts run in parallel: the try is spent
 * before the slow hash is known); when not, *ret_retry_s says in how many seconds (>= 1). */
bool login_limit_allow(struct login_limit *l, const char *address, int64_t now_us, unsigned *ret_retry_s);
/* A right password forgets the address: its tries are whole again. */
void login_limit_success(struct login_limit *l, const char *address);
