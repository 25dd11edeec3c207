/* The BlueZ view: the only file that says org.bluez. It follows bluetoothd's objects through one
 * GDBusObjectManagerClient on the system bus (DBUS_SYSTEM_BUS_ADDRESS honoured), picks the adapter, owns
 * discovery, and offers the few asynchronous calls a band needs, by address and characteristic UUID.
 *
 * What it knows of bluetoothd's behaviour comes from ../shared/bluez-5.66.md: Connect replies before services
 * resolve (wait for ServicesResolved), Connected=true may never be signalled, GATT objects may survive a
 * disconnect, bluetoothd may vanish and return under a new unique name. */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>
#include <stdint.h>

struct bluez;

/* How a caller should treat a failed call (DESIGN.md, recovery). */
enum bluez_error_kind {
	BLUEZ_ERROR_TRANSIENT,   /* Failed, timeouts, NoReply: retry soon; repeated, the adapter is suspect */
	BLUEZ_ERROR_UNREACHABLE, /* Failed "le-connection-abort-by-local": the device did not answer (away) */
	BLUEZ_ERROR_LINK_LOST,   /* Failed "Operation failed" / "Not connected": a request ended with the link */
	BLUEZ_ERROR_BUSY,        /* InProgress, NotReady, AlreadyExists, "already in progress": someone (often
	                          * we ourselves, a Disconnect still running) is at it: retry later */
	BLUEZ_ERROR_GONE,      /* UnknownObject, DoesNotExist, ServiceUnknown: the object or daemon went away */
	BLUEZ_ERROR_OTHER,     /* NotSupported, NotPermitted, InvalidArguments...: retrying will not help */
};
enum bluez_error_kind bluez_error_kind(const GError *error);

struct bluez_ops {
	/* bluetoothd appeared or vanished, the adapter came or went or changed power. */
	void (*adapter_changed)(struct bluez *bz, void *user_data);
	/* A device object appeared or changed (advert, RSSI, Connected, ServicesResolved, ServiceData). */
	void (*device_changed)(struct bluez *bz, const char *address, void *user_data);
	void (*device_removed)(struct bluez *bz, const char *address, void *user_data);
	/* A characteristic's Value changed: a notification (or a read's cached value) of the device. */
	void (*value)(struct bluez *bz, const char *address, const char *uuid, const uint8_t *value, size_t len,
	              void *user_data);
};

/* adapter: "hci0", an adapter address, or NULL/"" for the first one. Connects asynchronously. */
struct bluez *bluez_new(const char *adapter, const struct bluez_ops *ops, void *user_data);
void bluez_free(struct bluez *bz);

/* The adapter: present (bluetoothd runs and has it) and powered. */
bool bluez_adapter_ready(const struct bluez *bz);
bool bluez_adapter_present(const struct bluez *bz);
const char *bluez_adapter_address(const struct bluez *bz);
/* Power-cycle the adapter: Powered false, then true, the latter retried with backoff until it takes. A cycle
 * under way absorbs further requests. */
void bluez_adapter_power_cycle(struct bluez *bz);

/* Discovery: one owner. Wanted = keep an LE discovery session running (filter Transport=le, StopDiscovery
 * before StartDiscovery, retried with backoff while bluetoothd says InProgress/NotReady). */
void bluez_set_discovery(struct bluez *bz, bool wanted);
bool bluez_discovering(const struct bluez *bz);

/* Devices, by address "C8:0F:10:11:22:33". */
struct bluez_device_info {
	bool present, services_resolved, paired;
	/* Linked, as far as anyone can tell: Connected=true, or a Connect that succeeded, or ServicesResolved=true
	 * since the last Connected=false (bluetoothd may set Connected=true without a signal: bluez-5.66.md). */
	bool connected;
	bool has_rssi;
	int16_t rssi;
	char name[64];
	bool has_service_data;  /* FEE0 service data, 4 bytes (see sim_band_service_data: INVENTED content) */
	uint8_t service_data[4];
};
bool bluez_device_info(struct bluez *bz, const char *address, struct bluez_device_info *ret);
/* Addresses of devices whose Name is name (a scan), newly allocated, NULL-terminated. */
char **bluez_devices_named(struct bluez *bz, const char *name);
/* Whether every characteristic of the device with that UUID is exported (services resolved and cached). */
bool bluez_has_char(struct bluez *bz, const char *address, const char *uuid);

/* Asynchronous calls. Each takes a cancellable and reports through callback(error, user_data), error NULL on
 * success; read also gives the bytes. The callback is not called once cancellable is cancelled. */
typedef void (*bluez_done_func)(const GError *error, void *user_data);
typedef void (*bluez_read_func)(const GError *error, const uint8_t *value, size_t len, void *user_data);

void bluez_connect(struct bluez *bz, const char *address, GCancellable *cancellable, bluez_done_func callback,
                   void *user_data);
void bluez_disconnect(struct bluez *bz, const char *address, GCancellable *cancellable, bluez_done_func callback,
                      void *user_data);
/* Adapter1.RemoveDevice: bluetoothd forgets the device, its bond and its cached attributes. */
/* Disconnect without waiting for the answer (at shutdown, when the loop will not run again). */
void bluez_disconnect_detached(struct bluez *bz, const char *address);
void bluez_remove_device(struct bluez *bz, const char *address, GCancellable *cancellable,
                         bluez_done_func callback, void *user_data);
void bluez_start_notify(struct bluez *bz, const char *address, const char *uuid, GCancellable *cancellable,
                        bluez_done_func callback, void *user_data);
/* with_response: a Write Request ("request"), else a Write Command ("command"). */
void bluez_write(struct bluez *bz, const char *address, const char *uuid, const uint8_t *value, size_t len,
                 bool with_response, GCancellable *cancellable, bluez_done_func callback, void *user_data);
void bluez_read(struct bluez *bz, const char *address, const char *uuid, GCancellable *cancellable,
                bluez_read_func callback, void *user_data);
