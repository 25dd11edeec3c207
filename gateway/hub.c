#define G_LOG_DOMAIN "bandgate-hub" /* G_MESSAGES_DEBUG=bandgate-hub turns on its debug lines alone */
#include "hub.h"

#include <stdbool.h>

struct subscriber {
	unsigned id;
	hub_func func;
	void *user_data;
	GDestroyNotify destroy;
};

struct hub {
	GArray *subscribers; /* struct subscriber */
	unsigned next_id;
};

struct hub *hub_new(void)
{
	struct hub *hub = g_new0(struct hub, 1);

	hub->subscribers = g_array_new(FALSE, FALSE, sizeof(struct subscriber));
	return hub;
}

static void subscriber_end(struct subscriber *s)
{
	if (s->destroy)
		s->destroy(s->user_data);
}

void hub_free(struct hub *hub)
{
	if (!hub)
		return;
	for (guint i = 0; i < hub->subscribers->len; i++)
		subscriber_end(&g_array_index(hub->subscribers, struct subscriber, i));
	g_array_unref(hub->subscribers);
	g_free(hub);
}

unsigned hub_subscribe(struct hub *hub, hub_func func, void *user_data, GDestroyNotify destroy)
{
	struct subscriber s = { ++hub->next_id, func, user_data, destroy };

	g_array_append_val(hub->subscribers, s);
	return s.id;
}

void hub_unsubscribe(struct hub *hub, unsigned id)
{
	for (guint i = 0; i < hub->subscribers->len; i++) {
		struct subscriber s = g_array_index(hub->subscribers, struct subscriber, i);

		if (s.id == id) {
			g_array_remove_index(hub->subscribers, i);
			subscriber_end(&s);
			return;
		}
	}
}

static bool subscribed(const struct hub *hub, unsigned id)
{
	for (guint i = 0; i < hub->subscribers->len; i++)
		if (g_array_index(hub->subscribers, struct subscriber, i).id == id)
			return true;
	return false;
}

void hub_emit(struct hub *hub, const struct hub_event *event)
{
	/* Over a copy: a subscriber may unsubscribe itself or another while called; the others still hear it,
	 * and one that left is not called. */
	g_autoptr(GArray) subscribers = g_array_copy(hub->subscribers);

	for (guint i = 0; i < subscribers->len; i++) {
		const struct subscriber *s = &g_array_index(subscribers, struct subscriber, i);

		if (subscribed(hub, s->id))
			s->func(event, s->user_data);
	}
}
