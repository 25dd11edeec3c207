#define G_LOG_DOMAIN "bandgate-mqtt" /* G_MESSAGES_DEBUG=bandgate-mqtt turns on its debug lines alone */
/* The broker session on the GLib loop: the broker's name looked up off the loop, a fresh client for every
 * attempt (TLS, credentials, the will), connecting from a timer with the backoff, libmosquitto's socket as a
 * watch and its housekeeping from a timer, and what happens when a session comes up or goes. */
#include "mqtt-private.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>

#include "backoff.h"
#include "config.h"
#include "manager.h"

#define KEEPALIVE_S 30

static void schedule_connect(struct mqtt *m);

void mqtt_session_publish(struct mqtt *m, const char *topic, const char *payload, bool retain)
{
	if (m->connected)
		mosquitto_publish(m->mosq, NULL, topic, (int)strlen(payload), payload, 1, retain);
}

/* ---- the socket ---- */

static gboolean on_io(gint fd, GIOCondition cond, gpointer user_data)
{
	struct mqtt *m = user_data;
	int rc = MOSQ_ERR_SUCCESS;

	(void)fd;
	/* Read on every wakeup: a TLS handshake only moves on in loop_read, also when the socket became writable
	 * (libmosquitto 2.0 net_mosq.c); with nothing to read it returns at once. */
	if (cond & G_IO_NVAL)
		rc = MOSQ_ERR_CONN_LOST;
	else
		rc = mosquitto_loop_read(m->mosq, 1);
	if (rc == MOSQ_ERR_SUCCESS && (cond & G_IO_OUT))
		rc = mosquitto_loop_write(m->mosq, 1);
	/* A peer that hung up during a TLS handshake is taken for "still connecting" and would wake us for ever. */
	if (rc == MOSQ_ERR_SUCCESS && (cond & (G_IO_HUP | G_IO_ERR)) && mosquitto_socket(m->mosq) >= 0)
		rc = MOSQ_ERR_CONN_LOST;
	if (rc != MOSQ_ERR_SUCCESS) {
		m->io_watch = 0; /* removed by returning G_SOURCE_REMOVE */
		mqtt_session_lost(m, mosquitto_strerror(rc));
		return G_SOURCE_REMOVE;
	}
	mqtt_session_update_watch(m);
	return G_SOURCE_CONTINUE;
}

/* Read always; write while libmosquitto has bytes queued. Only within a session: a lost one's socket stays
 * open until its client is replaced, and must not wake us. */
void mqtt_session_update_watch(struct mqtt *m)
{
	int fd = m->session && m->mosq ? mosquitto_socket(m->mosq) : -1;
	GIOCondition cond = G_IO_IN | G_IO_HUP | G_IO_ERR | (fd >= 0 && mosquitto_want_write(m->mosq) ? G_IO_OUT : 0);

	if (fd < 0) {
		g_clear_handle_id(&m->io_watch, g_source_remove);
		return;
	}
	if (m->io_watch && cond == m->io_cond && fd == m->io_fd)
		return;
	g_clear_handle_id(&m->io_watch, g_source_remove);
	m->io_cond = cond;
	m->io_fd = fd;
	m->io_watch = g_unix_fd_add(fd, cond, on_io, m);
}

static gboolean on_misc(gpointer user_data)
{
	struct mqtt *m = user_data;

	if (m->session && mosquitto_socket(m->mosq) >= 0)
		mosquitto_loop_misc(m->mosq); /* keepalive pings, and their absence noticed */
	mqtt_session_update_watch(m);
	return G_SOURCE_CONTINUE;
}

/* ---- up and down ---- */

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct mqtt *m = obj;
	g_autofree char *status = mqtt_topic(m, m->gateway_id, "status");
	g_autofree char *commands = g_strdup_printf("%s/+/cmd/+", m->base);
	g_autofree char *ha_status = g_strconcat(m->prefix, "/status", NULL);

	(void)mosq;
	if (rc != 0) {
		mqtt_session_lost(m, mosquitto_connack_string(rc));
		return;
	}
	g_message("mqtt: connected to %s:%u", m->host, m->port);
	m->connected = true;
	manager_report_mqtt(m->mgr, true);
	m->connected_us = g_get_monotonic_time();
	g_clear_pointer(&m->last_failure, g_free);
	if (m->connects++)
		m->reconnects++;
	mqtt_outbox_rewind(m);
	/* In every connect: a broker restart must not leave us "offline" (the will it kept). */
	mqtt_session_publish(m, status, "online", true);
	mosquitto_subscribe(m->mosq, NULL, commands, 1);
	mosquitto_subscribe(m->mosq, NULL, ha_status, 1);
	mqtt_topics_publish_all(m);
	mqtt_topics_publish_health(m);
	mqtt_outbox_pump(m);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	(void)mosq;
	mqtt_session_lost(obj, rc ? mosquitto_strerror(rc) : "disconnected");
}

void mqtt_session_lost(struct mqtt *m, const char *why)
{
	bool was = m->connected;

	if (!m->session)
		return; /* said already (a callback and our own check may both notice) */
	m->session = m->connected = false;
	manager_report_mqtt(m->mgr, false);
	g_clear_handle_id(&m->io_watch, g_source_remove);
	mqtt_outbox_rewind(m);
	if (m->stopping)
		return;
	/* A session that held for a while starts the backoff afresh; one dropped at once keeps doubling it. */
	if (was && g_get_monotonic_time() - m->connected_us > 30 * G_USEC_PER_SEC)
		m->failures = 0;
	if (was) {
		g_message("mqtt: lost the broker (%s); reconnecting", why);
	} else {
		m->failed_attempts++;
		if (!m->last_failure || strcmp(m->last_failure, why) != 0) {
			g_warning("mqtt: cannot reach the broker at %s:%u: %s; retrying", m->host, m->port, why);
			g_free(m->last_failure);
			m->last_failure = g_strdup(why);
		}
	}
	schedule_connect(m);
}

/* ---- the client ---- */

static bool read_password(const char *path, char **ret, GError **error)
{
	g_autofree char *text = NULL;

	if (!path || !*path) {
		*ret = NULL;
		return true;
	}
	if (!g_file_get_contents(path, &text, NULL, error)) {
		g_prefix_error(error, "[mqtt] password_file: ");
		return false;
	}
	g_strchomp(text);
	*ret = g_steal_pointer(&text);
	return true;
}

/* A fresh client for every connection attempt. libmosquitto keeps unacknowledged messages of an earlier
 * session and re-sends them after the connect callback, behind newer ones (messages_mosq.c); the outbox is
 * the one retry queue, so the old client, its queue and its socket go. */
static bool client_configure(struct mqtt *m, GError **error)
{
	g_autofree char *will = mqtt_topic(m, m->gateway_id, "status");
	int rc;

	if (m->username && mosquitto_username_pw_set(m->mosq, m->username, m->password) != MOSQ_ERR_SUCCESS) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "[mqtt] username is not usable");
		return false;
	}
	if (m->tls && (rc = mosquitto_tls_set(m->mosq, m->cafile, m->cafile ? NULL : "/etc/ssl/certs", NULL, NULL,
	                                      NULL)) != MOSQ_ERR_SUCCESS) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "[mqtt] tls: %s", mosquitto_strerror(rc));
		return false;
	}
	mosquitto_will_set(m->mosq, will, (int)strlen("offline"), "offline", 1, true);
	/* No QoS 1 message held back in libmosquitto's own queue (by default 20 fly at once): the outbox's window
	 * bounds what is in flight, and the last word at shutdown must not wait behind a drain. */
	mosquitto_int_option(m->mosq, MOSQ_OPT_SEND_MAXIMUM, 0);
	mosquitto_connect_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	mosquitto_publish_callback_set(m->mosq, mqtt_outbox_on_publish);
	mosquitto_message_callback_set(m->mosq, mqtt_on_message);
	return true;
}

static bool client_new(struct mqtt *m, GError **error)
{
	g_clear_handle_id(&m->io_watch, g_source_remove);
	g_clear_pointer(&m->mosq, mosquitto_destroy);
	m->mosq = mosquitto_new(m->client_id, true, m);
	if (!m->mosq) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED, "mqtt: cannot create a client");
		return false;
	}
	return client_configure(m, error);
}

/* For an attempt: a client that cannot be made is logged here, and the attempt is retried later. */
static bool client_new_logged(struct mqtt *m)
{
	g_autoptr(GError) error = NULL;

	if (client_new(m, &error))
		return true;
	g_warning("%s", error->message);
	return false;
}

/* ---- connecting ---- */

/* An attempt on host (the broker's name, or one of its addresses). */
static void connect_to(struct mqtt *m, const char *host)
{
	int rc;

	if (!client_new_logged(m)) {
		schedule_connect(m);
		return;
	}
	m->session = true;
	rc = mosquitto_connect_async(m->mosq, host, (int)m->port, KEEPALIVE_S);
	if (rc != MOSQ_ERR_SUCCESS) {
		mqtt_session_lost(m, rc == MOSQ_ERR_ERRNO ? g_strerror(errno) : mosquitto_strerror(rc));
		return;
	}
	mqtt_session_update_watch(m);
}

/* libmosquitto looks the name up with a blocking getaddrinfo on the loop: a DNS server that does not answer
 * (at boot, in an outage) would stall the bands and the API for its whole timeout at every attempt. So the
 * name is looked up off the loop first. A plain connection then goes to one of its addresses, the same one
 * while it works and the next after an attempt that failed (an address that never answers, such as IPv6
 * without a route, is not tried for ever). TLS checks the broker's certificate against its name, so
 * libmosquitto gets the name and looks it up once more on the loop: quick once the resolver has just
 * answered, but not guaranteed to be. */
static void on_resolved(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	GList *addresses = g_resolver_lookup_by_name_finish(G_RESOLVER(source), result, &error);
	struct mqtt *m = user_data;
	g_autofree char *host = NULL;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return; /* m is gone */
	g_clear_object(&m->resolving);
	if (!addresses) {
		m->session = true; /* an attempt that failed before it had a socket */
		mqtt_session_lost(m, error->message);
		return;
	}
	host = m->tls ? g_strdup(m->host)
	              : g_inet_address_to_string(g_list_nth_data(addresses, m->failed_attempts % g_list_length(addresses)));
	g_resolver_free_addresses(addresses);
	connect_to(m, host);
}

static gboolean on_connect_timer(gpointer user_data)
{
	struct mqtt *m = user_data;
	g_autoptr(GResolver) resolver = NULL;

	m->connect_timer = 0;
	if (g_hostname_is_ip_address(m->host)) {
		connect_to(m, m->host);
		return G_SOURCE_REMOVE;
	}
	resolver = g_resolver_get_default();
	m->resolving = g_cancellable_new();
	g_resolver_lookup_by_name_async(resolver, m->host, m->resolving, on_resolved, m);
	return G_SOURCE_REMOVE;
}

/* Capped exponential backoff with jitter: 1 s doubling to 60 s, each wait 75-125 % of the step. */
static void schedule_connect(struct mqtt *m)
{
	if (m->connect_timer || m->stopping)
		return;
	m->connect_timer = g_timeout_add(backoff_ms(&backoff_mqtt_connect, ++m->failures, g_random_int()),
	                                 on_connect_timer, m);
}

/* ---- the session's life ---- */

bool mqtt_session_init(struct mqtt *m, const struct config *cfg, GError **error)
{
	m->host = g_strdup(cfg->mqtt_host);
	m->port = cfg->mqtt_port;
	m->client_id = g_strdup_printf("bandgate-%s", cfg->gateway_id);
	m->username = cfg->mqtt_username[0] ? g_strdup(cfg->mqtt_username) : NULL;
	m->tls = cfg->mqtt_tls;
	m->cafile = cfg->mqtt_cafile[0] ? g_strdup(cfg->mqtt_cafile) : NULL;
	return read_password(cfg->mqtt_password_file, &m->password, error) && client_new(m, error);
}

void mqtt_session_start(struct mqtt *m)
{
	m->misc_timer = g_timeout_add_seconds(1, on_misc, m);
	m->connect_timer = g_idle_add(on_connect_timer, m);
}

/* The last word: "offline", retained, and a second at most for the broker to acknowledge it. A clean
 * DISCONNECT makes the broker drop our will, so the word must have arrived before it. */
static void say_offline(struct mqtt *m)
{
	g_autofree char *status = mqtt_topic(m, m->gateway_id, "status");
	int64_t deadline = g_get_monotonic_time() + G_USEC_PER_SEC;

	m->offline_acked = false;
	if (mosquitto_publish(m->mosq, &m->offline_mid, status, (int)strlen("offline"), "offline", 1, true) ==
	    MOSQ_ERR_SUCCESS)
		while (!m->offline_acked && g_get_monotonic_time() < deadline)
			if (mosquitto_loop(m->mosq, 100, 1) != MOSQ_ERR_SUCCESS)
				break;
	mosquitto_disconnect(m->mosq);
	mosquitto_loop(m->mosq, 100, 1);
}

void mqtt_session_stop(struct mqtt *m)
{
	g_clear_handle_id(&m->io_watch, g_source_remove);
	g_clear_handle_id(&m->misc_timer, g_source_remove);
	g_clear_handle_id(&m->connect_timer, g_source_remove);
	if (m->resolving) {
		g_cancellable_cancel(m->resolving);
		g_clear_object(&m->resolving);
	}
	if (m->mosq && m->connected)
		say_offline(m);
}

void mqtt_session_free(struct mqtt *m)
{
	if (m->mosq)
		mosquitto_destroy(m->mosq);
	g_free(m->host);
	g_free(m->client_id);
	g_free(m->username);
	if (m->password)
		memset(m->password, 0, strlen(m->password));
	g_free(m->password);
	g_free(m->cafile);
	g_free(m->last_failure);
}
