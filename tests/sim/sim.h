/* What the parts of bandgate-sim share: the world (bands and their faults, which outlive a bluetoothd
 * restart) and the fake bluetoothd's entry points. */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>

#include "band.h"

enum sim_gatt_cache {
	SIM_GATT_CACHE_ALWAYS, /* main.conf [GATT] Cache = always (the default) */
	SIM_GATT_CACHE_YES,    /* kept for bonded devices only */
	SIM_GATT_CACHE_NO,     /* removed on every disconnect */
};

struct sim_options {
	char *bus_address;
	unsigned n_bands;
	unsigned n_adapters;
	unsigned history_days;
	uint32_t seed;
	int auto_tap_ms;
	unsigned fetch_cap;
	unsigned steps_format;
	enum sim_gatt_cache gatt_cache;
	bool connected_signal;
	unsigned temporary_timeout_s; /* main.conf [General] TemporaryTimeout */
	bool verbose;
	GPtrArray *addresses; /* char *, one per band given with --address */
	GPtrArray *keys;      /* char * (32 hex digits or "none"), one per band given with --key */
};

struct sim_bluez;

/* One band of the world and the faults that belong to the radio around it rather than to the band. */
struct band_slot {
	struct sim_band *band;
	struct sim_world *world;
	unsigned connect_fails;      /* the next N Connect calls fail */
	unsigned connect_timeout_ms; /* a Connect to a band that does not answer fails after this */
	unsigned resolve_delay_ms;   /* extra time before ServicesResolved=true, as on a slow or busy link */
	unsigned att_delay_ms;       /* a read or write request is answered this long after it was made */
	void *link;                  /* the fake bluetoothd's device that holds the link, or NULL */
};

struct sim_world {
	struct sim_options *options;
	GPtrArray *slots;             /* struct band_slot * */
	struct sim_bluez *bluez;      /* NULL while "restarting" */
	GDBusConnection *control;     /* io.bandgate.Sim, outlives restarts */
	GHashTable *remembered;       /* "hciN/ADDRESS" -> GUINT flags: what bluetoothd keeps on disk */
	GMainLoop *loop;
	guint restart_timer;
};

/* main.c */
/* NULL when the front serves no more bands (bandgate-periph serves one). */
struct band_slot *sim_world_add_band(struct sim_world *world, const struct sim_band_config *cfg);
void sim_world_remove_band(struct sim_world *world, struct band_slot *slot);
struct band_slot *sim_world_find(struct sim_world *world, const char *address);
/* Stop the fake bluetoothd (clean or crash) and bring it back under a new unique name after down_ms. */
void sim_world_restart(struct sim_world *world, bool clean, unsigned down_ms);

/* bluez.c: the fake bluetoothd on one connection that owns org.bluez. */
/* The daemon as it stands when it takes its name: the object manager and /org/bluez, no adapter yet. */
struct sim_bluez *sim_bluez_new(struct sim_world *world, GDBusConnection *connection);
/* The adapters and the devices they remember, each announced (bluetoothd's mgmt start-up, after its name). */
void sim_bluez_add_adapters(struct sim_bluez *bz);
/* clean: Powered=false, links dropped, InterfacesRemoved for every object. Otherwise it just vanishes. */
void sim_bluez_free(struct sim_bluez *bluez, bool clean);
GDBusConnection *sim_bluez_connection(struct sim_bluez *bluez);
void sim_bluez_band_notify(struct sim_bluez *bluez, struct band_slot *slot, enum sim_chr chr,
                           const uint8_t *value, size_t len);
void sim_bluez_band_dropped(struct sim_bluez *bluez, struct band_slot *slot);
void sim_bluez_band_advert_changed(struct sim_bluez *bluez, struct band_slot *slot);
void sim_bluez_band_removed(struct sim_bluez *bluez, struct band_slot *slot);
/* The characteristics (UUIDs, one per request) of the reads and Write Requests on the band's link that
 * att-delay-ms holds unanswered now; floating "as", empty without a link. */
GVariant *sim_bluez_att_pending(const struct band_slot *slot);
/* Power lost or restored without a client asking. Returns false for an unknown adapter ("hci0"). */
bool sim_bluez_set_powered(struct sim_bluez *bluez, const char *adapter, bool powered);
/* fault: "start-discovery-busy" or "power-on-fails", for the next count calls; false: no such adapter or fault. */
bool sim_bluez_set_fault(struct sim_bluez *bluez, const char *adapter, const char *fault, unsigned count);

/* control.c: io.bandgate.Sim1 on its own connection. */
void sim_control_start(struct sim_world *world);
void sim_control_band_event(struct sim_world *world, struct sim_band *band, const char *what, const char *detail);
