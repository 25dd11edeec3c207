/* What the files of the MQTT front share, and nothing that leaves mqtt/: mqtt.h stays the table of contents.
 * The files, one concern each:
 *   mqtt.c          set-up and shutdown; what comes in: Home Assistant's status, and commands run through
 *                   the manager and answered on <topic>/result
 *   mqtt-session.c  the broker session: the name looked up off the loop, connecting from a timer with backoff,
 *                   TLS and the will, the socket watch and libmosquitto's housekeeping, connect and disconnect
 *   mqtt-outbox.c   store and forward: every message that matters is an outbox row first, published in id order
 *                   within a window and deleted on the broker's acknowledgement
 *   mqtt-topics.c   what goes out: topics, states, events, health and discovery, from the hub's events and
 *                   at Home Assistant's birth
 *   mqtt-command.c  the pure parser of a command's topic and payload (mqtt-command.h), tested and fuzzed alone
 *   ha.c            the pure Home Assistant discovery payloads (ha.h) */
#pragma once

#include "mqtt.h"

#include <cjson/cJSON.h>
#include <mosquitto.h>

#include "ha.h"
#include "ratelimit.h"

struct hub_event;

G_DEFINE_AUTOPTR_CLEANUP_FUNC(cJSON, cJSON_Delete)

struct mqtt {
	struct manager *mgr;
	struct db *db;
	const struct mqtt_ops *ops;
	void *user_data;
	struct mosquitto *mosq;
	char *base, *prefix, *gateway_id, *host, *url;
	char *client_id, *username, *password, *cafile; /* for the fresh client of every connection attempt */
	bool tls;
	enum ha_mode mode;
	unsigned port;

	bool session;              /* a client is connecting or connected; its socket may be watched */
	GCancellable *resolving;   /* the broker's name being looked up, off the loop */
	unsigned failed_attempts;  /* attempts that never connected: which of the name's addresses the next takes */
	bool connected, stopping;
	int io_fd;
	int64_t connected_us;      /* monotonic, when the session came up */
	char *last_failure;        /* the last reason the broker could not be reached, logged once per change */
	guint io_watch, misc_timer, connect_timer, state_timer, birth_timer, health_timer, scan_timer, restart_timer;
	GIOCondition io_cond;
	unsigned failures, connects, reconnects; /* failures: attempts in a row, for the backoff */

	GHashTable *inflight;      /* mid -> outbox row id (both as GINT_TO_POINTER / int64 boxed) */
	GArray *acked;             /* outbox row ids the broker acknowledged, deleted together by acked_idle */
	guint acked_idle;
	int64_t last_sent;         /* the highest outbox id published in this session */
	GArray *batch;             /* struct db_outbox_msg enqueued while batch_depth > 0, stored in one commit */
	unsigned batch_depth;
	struct ratelimit full_log; /* "the outbox is full": once a minute, with the drops counted meanwhile */
	int64_t full_dropped;
	int offline_mid;           /* the last word at shutdown, and whether the broker took it */
	bool offline_acked;
	GHashTable *dirty;         /* band addresses whose state waits for state_timer */
	unsigned hub_id;
	struct ratelimit refusals; /* malformed commands: a few lines a minute (mqtt.c) */
};

/* ---- the broker session (mqtt-session.c) ---- */

/* The broker's address and credentials from cfg, the password file read, and a first client made, so that a bad
 * password file, user name or CA file is a start-up error. */
bool mqtt_session_init(struct mqtt *m, const struct config *cfg, GError **error);
/* Connects from an idle callback, then keeps the session up for as long as the daemon runs. */
void mqtt_session_start(struct mqtt *m);
/* Straight to the broker when connected, else nowhere: for what is rebuilt on every connect anyway. */
void mqtt_session_publish(struct mqtt *m, const char *topic, const char *payload, bool retain);
/* The session is over (why: for the log); the next attempt is scheduled unless we are stopping. */
void mqtt_session_lost(struct mqtt *m, const char *why);
/* Watches the client's socket for what libmosquitto waits for now. */
void mqtt_session_update_watch(struct mqtt *m);
/* The watch, the timers and a lookup in progress cancelled; "offline" said when connected, then disconnected. */
void mqtt_session_stop(struct mqtt *m);
/* The client and what it was made from; the password is wiped first. Copes with a half-built session. */
void mqtt_session_free(struct mqtt *m);

/* ---- the outbox (mqtt-outbox.c) ---- */

void mqtt_outbox_init(struct mqtt *m);
/* Deletes the rows acknowledged so far, then frees what the outbox holds in memory. */
void mqtt_outbox_free(struct mqtt *m);
/* Stored (coalesce: a state that replaces its older self), then published when the broker is there. */
void mqtt_outbox_enqueue(struct mqtt *m, const char *topic, const char *payload, bool retain, bool coalesce);
/* What is enqueued between the two is stored in one transaction: a discovery round, a burst of states. */
void mqtt_outbox_batch_begin(struct mqtt *m);
void mqtt_outbox_batch_end(struct mqtt *m);
/* Publishes outbox rows in id order while the window has room. */
void mqtt_outbox_pump(struct mqtt *m);
/* A new session: nothing is in flight, and whatever was not acknowledged goes again (QoS 1 allows it). */
void mqtt_outbox_rewind(struct mqtt *m);
/* dropped: events the bound just took; 0 from the health timer, to report what a quiet minute kept back. */
void mqtt_outbox_full(struct mqtt *m, int64_t dropped);
/* libmosquitto's publish callback: an acknowledgement. */
void mqtt_outbox_on_publish(struct mosquitto *mosq, void *obj, int mid);

/* ---- what goes out (mqtt-topics.c) ---- */

/* <base>/<id>/<leaf> */
char *mqtt_topic(const struct mqtt *m, const char *id, const char *leaf);
/* Whether discovery can be built from the configured names; an unusable dashboard URL is dropped with a warning. */
bool mqtt_topics_check(struct mqtt *m, GError **error);
/* Discovery for the gateway and every band, every band's state and the band list: at connect, after a birth. */
void mqtt_topics_publish_all(struct mqtt *m);
/* Home Assistant came online: discovery and states again after a random 1-5 s. */
void mqtt_topics_birth(struct mqtt *m);
char *mqtt_topics_health_json(struct mqtt *m);
void mqtt_topics_publish_health(struct mqtt *m);
gboolean mqtt_topics_on_health_timer(gpointer user_data);
/* The hub's events: states (coalesced for a moment), discovery, button presses, history, notifications. */
void mqtt_topics_on_hub(const struct hub_event *ev, void *user_data);
/* The states waiting for their timer, into the outbox now. */
void mqtt_topics_flush_states(struct mqtt *m);

/* ---- what comes in (mqtt.c) ---- */

/* libmosquitto's message callback: Home Assistant's status, or a command. */
void mqtt_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg);
