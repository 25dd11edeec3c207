/* web-private.h: the LAN listener's gate. A session comes from the login (session.h keeps it server-side; the
 * cookie only names it); a POST also needs the session's CSRF token in X-CSRF-Token and an Origin equal to the
 * page's own, so that another site's page in the same browser can neither act nor read. The password's hash is
 * checked in a worker thread (yescrypt takes ~60 ms here, ~250 ms on a Pi 3): the loop never waits for it.
 * No secret reaches a log line: addresses and outcomes only. */
#define G_LOG_DOMAIN "bandgate-web"
#include <string.h>

#include "auth.h"
#include "ratelimit.h"
#include "session.h"
#include "web-private.h"

/* A client sends refused requests as fast as it likes: each kind of refusal is logged a few times a minute and the
 * rest counted (STYLE.md: repeating warnings are rate-limited), with a limiter per kind of line kept beside it, as
 * systemd's log_ratelimit_*() keep one per call site. */
#define REFUSAL_LOGS_PER_MIN 10
#define REFUSAL_LOG_LIMIT RATELIMIT_INIT(60 * G_USEC_PER_SEC, REFUSAL_LOGS_PER_MIN)

/* Whether this refusal may be logged now; if others were not, a line says how many first. */
static bool refusal_logged(struct ratelimit *limit, const char *what)
{
	unsigned held = 0;

	if (!ratelimit_below(limit, g_get_monotonic_time(), &held))
		return false;
	if (held)
		g_message("web: %u more %s were refused meanwhile, not logged", held, what);
	return true;
}

struct login_job {
	struct web *web;     /* NULL once the web is gone */
	struct pss *pss;     /* NULL once the connection is gone */
	char peer[64];
	char *password, *hash;
	bool ok;
};

/* The session token the request's cookie names, when it has the form of one. */
static bool cookie_token(struct lws *wsi, char token[SESSION_TOKEN_LEN + 2])
{
	size_t max = SESSION_TOKEN_LEN + 2;

	return !lws_http_cookie_get(wsi, SESSION_COOKIE, token, &max) && max == SESSION_TOKEN_LEN;
}

static const struct session *session_of(struct web *web, struct lws *wsi)
{
	char token[SESSION_TOKEN_LEN + 2];

	return cookie_token(wsi, token) ? sessions_find(web->sessions, token, g_get_monotonic_time()) : NULL;
}

/* The page's own origin: this listener's scheme and the Host the browser asked for. */
static bool origin_ok(struct web *web, struct lws *wsi, bool required)
{
	char origin[256], host[200];
	g_autofree char *expected = NULL;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
		return !required;
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0 ||
	    lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
		return false;
	expected = g_strconcat(web->tls ? "https://" : "http://", host, NULL);
	return strcmp(origin, expected) == 0;
}

bool web_auth_check(struct web *web, struct lws *wsi, struct pss *pss)
{
	const struct session *session;
	char csrf[SESSION_TOKEN_LEN + 2];
	bool open = pss->route.open || (pss->route.kind == ROUTE_METRICS && web->options.metrics_public);

	if (!pss->lan)
		return true; /* the local socket: its file permissions are the gate */
	if (pss->post && !origin_ok(web, wsi, pss->route.kind != ROUTE_LOGIN)) {
		web_reply_error(pss, 403, "this request comes from another site's page (its Origin is not this page's)");
		return false;
	}
	if (open)
		return true;
	session = session_of(web, wsi);
	if (!session) {
		web_reply_error(pss, 401, "log in first");
		return false;
	}
	if (pss->post && pss->route.kind != ROUTE_LOGOUT &&
	    (lws_hdr_custom_copy(wsi, csrf, sizeof(csrf), "x-csrf-token:", 13) != SESSION_TOKEN_LEN ||
	     !session_csrf_ok(session, csrf))) {
		web_reply_error(pss, 403, "the CSRF token is missing or wrong: reload the page");
		return false;
	}
	return true;
}

bool web_auth_websocket(struct web *web, struct lws *wsi, struct pss *pss)
{
	static struct ratelimit log_limit = REFUSAL_LOG_LIMIT;
	const char *why = NULL;
	char peer[64];

	const struct session *session = NULL;

	if (!origin_ok(web, wsi, true))
		why = "its Origin is not this page's";
	else if (!(session = session_of(web, wsi)))
		why = "no session";
	else if (pss)
		g_strlcpy(pss->session, session->token, sizeof(pss->session));
	if (why && refusal_logged(&log_limit, "WebSockets")) {
		lws_get_peer_simple(wsi, peer, sizeof(peer));
		g_message("web: WebSocket from %s refused: %s", peer, why);
	}
	return !why;
}

/* ---- the login ---- */

static void job_free(struct login_job *job)
{
	if (job->password)
		explicit_bzero(job->password, strlen(job->password));
	g_free(job->password);
	g_free(job->hash);
	g_free(job);
}

static void verify_in_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	struct login_job *job = task_data;

	(void)source;
	(void)cancellable;
	job->ok = auth_verify(job->password, job->hash);
	g_task_return_boolean(task, TRUE);
}

static void answer_login(struct web *web, struct pss *pss, bool ok, const char *peer)
{
	const struct session *session;
	cJSON *o;

	if (!ok) {
		g_warning("web: wrong password from %s", peer);
		web_reply_error(pss, 401, "wrong password");
		return;
	}
	login_limit_success(web->login_limit, peer);
	session = sessions_create(web->sessions, g_get_monotonic_time());
	if (!session) {
		web_reply_error(pss, 503, "no random numbers for a session: try again");
		return;
	}
	g_message("web: %s logged in", peer);
	pss->set_cookie = g_strdup_printf(SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s", session->token,
	                                  web->tls ? "; Secure" : "");
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "csrf", session->csrf);
	web_reply(pss, 200, o);
}

static void on_verified(GObject *source, GAsyncResult *result, gpointer user_data)
{
	struct login_job *job = g_task_get_task_data(G_TASK(result));

	(void)source;
	(void)user_data;
	if (job->web) {
		job->web->logins_running--;
		job->web->login_jobs = g_list_remove(job->web->login_jobs, job);
	}
	if (job->web && job->pss) {
		job->pss->job = NULL;
		/* A reload changed the password while this one was being checked: the old one logs nobody in. */
		answer_login(job->web, job->pss, job->ok && g_strcmp0(job->hash, job->web->password_hash) == 0, job->peer);
		web_answer_ready(job->pss);
	}
}

void web_auth_login(struct web *web, struct pss *pss, const cJSON *body)
{
	const cJSON *password = cJSON_GetObjectItemCaseSensitive(body, "password");
	static struct ratelimit log_limit = REFUSAL_LOG_LIMIT;
	struct login_job *job;
	unsigned retry;
	GTask *task;

	if (!cJSON_IsString(password)) {
		web_reply_error(pss, 400, "give the password as {\"password\": \"...\"}");
		return;
	}
	if (!web->password_hash) {
		web_reply_error(pss, 503, "no dashboard password is set: run 'bandgate passwd'");
		return;
	}
	/* Before the limit: a login refused without its password checked costs the address none of its tries. */
	if (web->logins_running >= LOGINS_RUNNING_MAX) {
		pss->retry_after = 1;
		web_reply_error(pss, 429, "other logins are being checked: try again in a second");
		return;
	}
	if (!login_limit_allow(web->login_limit, pss->peer, g_get_monotonic_time(), &retry)) {
		if (refusal_logged(&log_limit, "logins"))
			g_warning("web: login from %s refused for %u s: too many wrong passwords", pss->peer, retry);
		pss->retry_after = retry;
		web_reply_error(pss, 429, "too many wrong passwords from this address: wait and try again");
		return;
	}
	job = g_new0(struct login_job, 1);
	job->web = web;
	job->pss = pss;
	g_strlcpy(job->peer, pss->peer, sizeof(job->peer));
	job->password = g_strdup(password->valuestring);
	job->hash = g_strdup(web->password_hash);
	pss->job = job;
	web->logins_running++;
	web->login_jobs = g_list_prepend(web->login_jobs, job);
	task = g_task_new(NULL, NULL, on_verified, NULL);
	g_task_set_task_data(task, job, (GDestroyNotify)job_free);
	g_task_run_in_thread(task, verify_in_thread);
	g_object_unref(task);
}

void web_auth_session(struct web *web, struct lws *wsi, struct pss *pss)
{
	const struct session *session = session_of(web, wsi);
	cJSON *o;

	if (!session) {
		web_reply_error(pss, 401, "log in first");
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "csrf", session->csrf);
	web_reply(pss, 200, o);
}

void web_auth_logout(struct web *web, struct lws *wsi, struct pss *pss)
{
	char token[SESSION_TOKEN_LEN + 2];

	if (cookie_token(wsi, token)) {
		sessions_remove(web->sessions, token);
		web_live_end(web, token);
	}
	pss->set_cookie = g_strdup(SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
	web_reply(pss, 200, cJSON_CreateObject());
}

void web_auth_forget(struct pss *pss)
{
	if (pss->job)
		pss->job->pss = NULL;
	pss->job = NULL;
}

void web_auth_free(struct web *web)
{
	for (GList *l = web->login_jobs; l; l = l->next) {
		struct login_job *job = l->data;

		job->web = NULL;
		job->pss = NULL;
	}
	g_list_free(web->login_jobs);
	web->login_jobs = NULL;
}
