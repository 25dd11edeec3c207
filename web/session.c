/* session.h */
#include <glib.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

#include "session.h"

struct sessions {
	GHashTable *by_token; /* token -> struct session * */
	int64_t idle_us;
};

struct sessions *sessions_new(int64_t idle_us)
{
	struct sessions *s = g_new0(struct sessions, 1);

	s->by_token = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	s->idle_us = idle_us;
	return s;
}

void sessions_free(struct sessions *s)
{
	if (!s)
		return;
	g_hash_table_destroy(s->by_token);
	g_free(s);
}

static bool random_hex(char out[SESSION_TOKEN_LEN + 1])
{
	uint8_t bytes[SESSION_TOKEN_LEN / 2];

	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		return false;
	for (size_t i = 0; i < sizeof(bytes); i++)
		g_snprintf(out + 2 * i, 3, "%02x", bytes[i]);
	OPENSSL_cleanse(bytes, sizeof(bytes));
	return true;
}

/* Expired sessions go, and the least recently used one too while the table is full. */
static void make_room(struct sessions *s, int64_t now_us)
{
	GHashTableIter it;
	struct session *session, *oldest = NULL;

	g_hash_table_iter_init(&it, s->by_token);
	while (g_hash_table_iter_next(&it, NULL, (gpointer *)&session)) {
		if (now_us - session->last_used_us >= s->idle_us)
			g_hash_table_iter_remove(&it);
		else if (!oldest || session->last_used_us < oldest->last_used_us)
			oldest = session;
	}
	if (oldest && g_hash_table_size(s->by_token) >= SESSION_MAX)
		g_hash_table_remove(s->by_token, oldest->token);
}

const struct session *sessions_create(struct sessions *s, int64_t now_us)
{
	struct session *session = g_new0(struct session, 1);

	make_room(s, now_us);
	if (!random_hex(session->token) || !random_hex(session->csrf)) {
		g_free(session);
		return NULL;
	}
	session->last_used_us = now_us;
	g_hash_table_replace(s->by_token, session->token, session);
	return session;
}

const struct session *sessions_find(struct sessions *s, const char *token, int64_t now_us)
{
	struct session *session = token ? g_hash_table_lookup(s->by_token, token) : NULL;

	if (!session)
		return NULL;
	if (now_us - session->last_used_us >= s->idle_us) {
		g_hash_table_remove(s->by_token, token);
		return NULL;
	}
	session->last_used_us = now_us;
	return session;
}

void sessions_remove(struct sessions *s, const char *token)
{
	if (token)
		g_hash_table_remove(s->by_token, token);
}

void sessions_clear(struct sessions *s)
{
	g_hash_table_remove_all(s->by_token);
}

unsigned sessions_count(const struct sessions *s)
{
	return g_hash_table_size(s->by_token);
}

bool session_csrf_ok(const struct session *session, const char *given)
{
	return given && strlen(given) == SESSION_TOKEN_LEN &&
	       CRYPTO_memcmp(session->csrf, given, SESSION_TOKEN_LEN) == 0;
}

/* ---- the login limit: a token bucket per address ---- */

struct bucket {
	double tries;
	int64_t updated_us;
};

struct login_limit {
	GHashTable *by_address; /* address -> struct bucket * */
};

struct login_limit *login_limit_new(void)
{
	struct login_limit *l = g_new0(struct login_limit, 1);

	l->by_address = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	return l;
}

void login_limit_free(struct login_limit *l)
{
	if (!l)
		return;
	g_hash_table_destroy(l->by_address);
	g_free(l);
}

static void refill(struct bucket *b, int64_t now_us)
{
	if (now_us > b->updated_us)
		b->tries += (double)(now_us - b->updated_us) / ((double)LOGIN_REFILL_S * G_USEC_PER_SEC);
	if (b->tries > LOGIN_BURST)
		b->tries = LOGIN_BURST;
	b->updated_us = now_us;
}

/* Addresses whose bucket is whole again are the same as unknown ones: they go. */
static void forget_whole(struct login_limit *l, int64_t now_us)
{
	GHashTableIter it;
	struct bucket *b;

	g_hash_table_iter_init(&it, l->by_address);
	while (g_hash_table_iter_next(&it, NULL, (gpointer *)&b)) {
		refill(b, now_us);
		if (b->tries >= LOGIN_BURST)
			g_hash_table_iter_remove(&it);
	}
}

bool login_limit_allow(struct login_limit *l, const char *address, int64_t now_us, unsigned *ret_retry_s)
{
	struct bucket *b = g_hash_table_lookup(l->by_address, address);

	if (!b && g_hash_table_size(l->by_address) >= LOGIN_ADDRESSES_MAX)
		forget_whole(l, now_us);
	if (!b && g_hash_table_size(l->by_address) >= LOGIN_ADDRESSES_MAX) {
		*ret_retry_s = LOGIN_REFILL_S;
		return false;
	}
	if (!b) {
		b = g_new0(struct bucket, 1);
		b->tries = LOGIN_BURST;
		b->updated_us = now_us;
		g_hash_table_insert(l->by_address, g_strdup(address), b);
	}
	refill(b, now_us);
	if (b->tries < 1) {
		double wait = (1 - b->tries) * LOGIN_REFILL_S;

		*ret_retry_s = wait < 1 ? 1 : (unsigned)(wait + 0.999);
		return false;
	}
	b->tries -= 1;
	return true;
}

void login_limit_success(struct login_limit *l, const char *address)
{
	g_hash_table_remove(l->by_address, address);
}
