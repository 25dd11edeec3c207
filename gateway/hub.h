/* The event flow from the band side to its consumers (DESIGN.md): the manager stores first, then emits here;
 * mqtt/ and web/ subscribe. Explicit glue with plain calls (STYLE.md), not a generic framework. */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

enum hub_kind {
	HUB_BAND_ADDED,     /* a band is managed now */
	HUB_BAND_REMOVED,   /* forgotten; address is the one it had */
	HUB_BAND_MOVED,     /* after a factory reset: address is the new one, old_address the one before */
	HUB_BAND_CHANGED,   /* its state or a live value changed: read manager_snapshot() */
	HUB_BAND_BUTTON,    /* the wearer pressed the button */
	HUB_BAND_HISTORY,   /* minutes of history stored: first, n, steps */
	HUB_NOTIFICATION,   /* a notification was queued or its status changed */
};

struct hub_event {
	enum hub_kind kind;
	const char *address;
	int64_t time;                /* UTC seconds */
	const char *old_address;     /* HUB_BAND_MOVED */
	int64_t first;               /* HUB_BAND_HISTORY: the first minute (UTC), n minutes, their steps */
	size_t n;
	long steps;
	int64_t id;                  /* HUB_NOTIFICATION: its row, status ("queued", "sent", "failed"), source, error */
	const char *status, *source, *error;
};

typedef void (*hub_func)(const struct hub_event *event, void *user_data);

struct hub;
struct hub *hub_new(void);
void hub_free(struct hub *hub);
/* Returns an id for hub_unsubscribe; destroy (may be NULL) gets user_data when the subscription ends. */
unsigned hub_subscribe(struct hub *hub, hub_func func, void *user_data, GDestroyNotify destroy);
void hub_unsubscribe(struct hub *hub, unsigned id);
/* Every subscriber, in subscription order. */
void hub_emit(struct hub *hub, const struct hub_event *event);
