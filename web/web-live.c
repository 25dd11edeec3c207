/* web-private.h: GET /ws, the dashboard's live feed. On connect a snapshot of every band's view and the health;
 * then what the hub (hub.h) reports, as JSON text frames:
 *   {"type": "snapshot", "bands": [view...], "health": {...}}
 *   {"type": "band", "band": view}               a band's view changed, or a band is new
 *   {"type": "band-removed", "id": "c80f10112233"}
 *   {"type": "button", "id": ..., "time": ISO}  the wearer pressed the button
 *   {"type": "notification", "id": ..., "notification": {...}}  queued, sent or failed
 *   {"type": "health", "health": {...}}          at most every HEALTH_SECONDS, when it changed
 * A frame is built once and shared by every client. The client sends nothing: a message is answered with a
 * close (1008) saying so. A client that does not read is dropped once WS_QUEUE_MAX bytes wait for it, beside
 * WS_SNDBUF in its socket. */
#define G_LOG_DOMAIN "bandgate-web"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "address.h"
#include "hub.h"
#include "manager.h"
#include "view.h"
#include "web-private.h"

#define HEALTH_SECONDS 5

/* The client goes at lws's next turn: its frames are no longer queued, and writing it closes it. */
static void drop(struct pss *pss)
{
	pss->dropped = true;
	lws_set_timeout(pss->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void enqueue(struct web *web, struct pss *pss, GBytes *frame)
{
	size_t size = g_bytes_get_size(frame);

	if (pss->dropped)
		return;
	if (pss->out_bytes + size > WS_QUEUE_MAX) {
		g_message("web: a WebSocket client at %s does not read: %zu bytes wait for it; dropping it", pss->peer,
		          pss->out_bytes);
		drop(pss);
		return;
	}
	(void)web;
	g_queue_push_tail(&pss->out, g_bytes_ref(frame));
	pss->out_bytes += size;
	lws_callback_on_writable(pss->wsi);
}

/* Takes json. */
static GBytes *frame_of(cJSON *json)
{
	char *text = cJSON_PrintUnformatted(json);
	GBytes *frame = g_bytes_new(text, strlen(text));

	cJSON_free(text);
	cJSON_Delete(json);
	return frame;
}

static void broadcast(struct web *web, cJSON *json)
{
	g_autoptr(GBytes) frame = NULL;

	if (!web->clients) {
		cJSON_Delete(json);
		return;
	}
	frame = frame_of(json);
	for (GList *l = web->clients; l; l = l->next)
		enqueue(web, l->data, frame);
}

static cJSON *message(const char *type)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "type", type);
	return o;
}

static cJSON *band_message(struct web *web, const char *address)
{
	cJSON *view = api_band_view(web, address);
	cJSON *o;

	if (!view)
		return NULL;
	o = message("band");
	cJSON_AddItemToObject(o, "band", view);
	return o;
}

static void id_message(cJSON *o, const char *address)
{
	char id[ADDRESS_ID_SIZE];

	address_to_id(address, id);
	cJSON_AddStringToObject(o, "id", id);
}

static void on_hub(const struct hub_event *e, void *user_data)
{
	struct web *web = user_data;
	g_autofree char *time = view_time(e->time);
	struct db_notification n;
	cJSON *o = NULL;

	if (!web->clients)
		return;
	switch (e->kind) {
	case HUB_BAND_MOVED:
		o = message("band-removed");
		id_message(o, e->old_address);
		broadcast(web, o);
		o = band_message(web, e->address);
		break;
	case HUB_BAND_ADDED:
	case HUB_BAND_CHANGED:
	case HUB_BAND_HISTORY: /* its last_sync and steps may have moved */
		o = band_message(web, e->address);
		break;
	case HUB_BAND_REMOVED:
		o = message("band-removed");
		id_message(o, e->address);
		break;
	case HUB_BAND_BUTTON:
		o = message("button");
		id_message(o, e->address);
		cJSON_AddStringToObject(o, "time", time ? time : "");
		break;
	case HUB_NOTIFICATION:
		if (!db_notify_get(web->db, e->id, &n, NULL))
			return;
		o = message("notification");
		id_message(o, n.address);
		cJSON_AddItemToObject(o, "notification", api_notification(&n));
		db_notification_clear(&n);
		break;
	}
	if (o)
		broadcast(web, o);
}

static gboolean on_health_timer(gpointer user_data)
{
	struct web *web = user_data;
	cJSON *health;
	char *text;
	cJSON *o;

	if (!web->clients)
		return G_SOURCE_CONTINUE;
	health = api_health(web);
	cJSON_DeleteItemFromObjectCaseSensitive(health, "uptime_s"); /* compared without what always changes */
	text = cJSON_PrintUnformatted(health);
	cJSON_Delete(health);
	if (g_strcmp0(text, web->last_health) == 0) {
		cJSON_free(text);
		return G_SOURCE_CONTINUE;
	}
	g_free(web->last_health);
	web->last_health = g_strdup(text);
	cJSON_free(text);
	o = message("health");
	cJSON_AddItemToObject(o, "health", api_health(web));
	broadcast(web, o);
	return G_SOURCE_CONTINUE;
}

void web_live_start(struct web *web)
{
	web->hub_id = hub_subscribe(manager_hub(web->mgr), on_hub, web, NULL);
	web->health_timer = g_timeout_add_seconds(HEALTH_SECONDS, on_health_timer, web);
}

void web_live_stop(struct web *web)
{
	if (web->hub_id)
		hub_unsubscribe(manager_hub(web->mgr), web->hub_id);
	web->hub_id = 0;
	g_clear_handle_id(&web->health_timer, g_source_remove);
	g_clear_pointer(&web->last_health, g_free);
}

/* A fixed send buffer instead of TCP's autotuning, which lets one client that does not read hold 4 MB of kernel
 * memory (tcp_wmem) before anything waits in its queue: 128 of them would take half a Pi's memory. And it takes
 * thousands of frames to fill, which a slow band can need longer for than the 40 s after which a silent client is
 * hung up anyway, so the queue's bound would never be what drops it. */
static void fix_send_buffer(struct pss *pss)
{
	int size = WS_SNDBUF;

	if (setsockopt(lws_get_socket_fd(pss->wsi), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) != 0)
		g_debug("web: WebSocket client at %s keeps its send buffer: %s", pss->peer, g_strerror(errno));
}

void web_live_open(struct web *web, struct pss *pss)
{
	g_autoptr(GBytes) frame = NULL;
	cJSON *o = message("snapshot");

	g_queue_init(&pss->out);
	pss->out_bytes = 0;
	pss->dropped = false;
	lws_get_peer_simple(pss->wsi, pss->peer, sizeof(pss->peer));
	fix_send_buffer(pss);
	cJSON_AddItemToObject(o, "bands", api_band_views(web));
	cJSON_AddItemToObject(o, "health", api_health(web));
	web->clients = g_list_prepend(web->clients, pss);
	frame = frame_of(o);
	enqueue(web, pss, frame);
	g_debug("web: WebSocket client at %s; %u connected", pss->peer, g_list_length(web->clients));
}

int web_live_writeable(struct web *web, struct pss *pss)
{
	GBytes *frame = g_queue_pop_head(&pss->out);
	size_t size;
	g_autofree uint8_t *buf = NULL;
	int n;

	(void)web;
	if (pss->dropped)
		return -1;
	if (!frame)
		return 0;
	size = g_bytes_get_size(frame);
	buf = g_malloc(LWS_PRE + size);
	memcpy(buf + LWS_PRE, g_bytes_get_data(frame, NULL), size);
	pss->out_bytes -= size;
	g_bytes_unref(frame);
	n = lws_write(pss->wsi, buf + LWS_PRE, size, LWS_WRITE_TEXT);
	if (n < (int)size)
		return -1;
	if (!g_queue_is_empty(&pss->out))
		lws_callback_on_writable(pss->wsi);
	return 0;
}

int web_live_receive(struct web *web, struct pss *pss)
{
	static const char why[] = "this socket only sends: use the API to act";

	(void)web;
	g_message("web: WebSocket client at %s sent a message: closing it", pss->peer);
	lws_close_reason(pss->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)why, strlen(why));
	return -1;
}

unsigned web_live_end(struct web *web, const char *token)
{
	unsigned n = 0;

	for (GList *l = web->clients; l; l = l->next) {
		struct pss *pss = l->data;
		bool ends = token ? strcmp(pss->session, token) == 0 : lws_get_vhost(pss->wsi) == web->lan_vhost;

		if (pss->dropped || !ends)
			continue;
		drop(pss);
		n++;
	}
	return n;
}

void web_live_close(struct web *web, struct pss *pss)
{
	GList *l = g_list_find(web->clients, pss);
	GBytes *frame;

	if (!l)
		return;
	web->clients = g_list_delete_link(web->clients, l);
	while ((frame = g_queue_pop_head(&pss->out)))
		g_bytes_unref(frame);
	pss->out_bytes = 0;
}
