/* The BlueZ view (bluez.h). One GDBusObjectManagerClient follows every object of org.bluez, including
 * bluetoothd vanishing and coming back, so nothing here polls. Calls go straight to the connection with
 * g_dbus_connection_call, each with a timeout and the caller's cancellable. */
#define G_LOG_DOMAIN "bandgate-bluez" /* G_MESSAGES_DEBUG=bandgate-bluez turns on its debug lines alone */
#include <string.h>

#include "backoff.h"
#include "bluez.h"

#define BLUEZ "org.bluez"
#define ADAPTER_IFACE "org.bluez.Adapter1"
#define DEVICE_IFACE "org.bluez.Device1"
#define CHAR_IFACE "org.bluez.GattCharacteristic1"
#define SERVICE_IFACE "org.bluez.GattService1"
#define FEE0_UUID "0000fee0-0000-1000-8000-00805f9b34fb"
#define CALL_TIMEOUT_MS 25000
#define CONNECT_TIMEOUT_MS 60000 /* bluetoothd gives up on an absent LE device by itself first */
#define POWER_REST_MS 1000

struct bluez {
	const struct bluez_ops *ops;
	void *user_data;
	char *adapter_spec;
	GCancellable *cancellable;
	GDBusConnection *bus;
	GDBusObjectManager *manager;
	char *adapter_path;       /* NULL while there is none */
	char adapter_address[18];
	bool powered;
	/* discovery, one owner */
	bool discovery_wanted, discovery_active, discovery_pending;
	guint discovery_retry;
	unsigned discovery_failures; /* in a row, for the backoff */
	GHashTable *links;        /* device paths we hold linked (see bluez_device_info.connected) */
	bool power_cycling;       /* from Powered=false until a Powered=true has been taken */
	guint power_timer;
	unsigned power_failures;     /* in a row, for the backoff */
};

enum bluez_error_kind bluez_error_kind(const GError *error)
{
	g_autofree char *name = NULL;
	bool failed;
	static const char *const busy[] = { "org.bluez.Error.InProgress", "org.bluez.Error.NotReady",
	                                    "org.bluez.Error.AlreadyExists", "org.bluez.Error.AlreadyConnected" };
	static const char *const gone[] = { "org.freedesktop.DBus.Error.UnknownObject",
	                                    "org.freedesktop.DBus.Error.ServiceUnknown",
	                                    "org.freedesktop.DBus.Error.UnknownMethod", "org.bluez.Error.DoesNotExist",
	                                    "org.bluez.Error.NotAvailable" };
	static const char *const other[] = { "org.bluez.Error.NotSupported", "org.bluez.Error.NotPermitted",
	                                     "org.bluez.Error.InvalidArguments", "org.bluez.Error.NotAuthorized",
	                                     "org.bluez.Error.InvalidValueLength" };

	if (!g_dbus_error_is_remote_error(error))
		return BLUEZ_ERROR_TRANSIENT; /* timeouts, a closed connection, NoReply from a crashing daemon */
	name = g_dbus_error_get_remote_error(error);
	failed = strcmp(name, "org.bluez.Error.Failed") == 0;
	/* bluetoothd says Failed for these; their messages tell them apart (bluez-5.66.md). */
	if (failed && strstr(error->message, "le-connection-abort-by-local"))
		return BLUEZ_ERROR_UNREACHABLE;
	/* A GATT request that ended without an ATT error code (5.66 gatt-client.c create_gatt_dbus_error), or one
	 * made as the link went: the link is the news, not the adapter. */
	if (failed &&
	    (g_str_has_suffix(error->message, "Operation failed") || g_str_has_suffix(error->message, "Not connected")))
		return BLUEZ_ERROR_LINK_LOST;
	if (strstr(error->message, "already in progress"))
		return BLUEZ_ERROR_BUSY;
	for (size_t i = 0; i < G_N_ELEMENTS(busy); i++)
		if (strcmp(name, busy[i]) == 0)
			return BLUEZ_ERROR_BUSY;
	for (size_t i = 0; i < G_N_ELEMENTS(gone); i++)
		if (strcmp(name, gone[i]) == 0)
			return BLUEZ_ERROR_GONE;
	for (size_t i = 0; i < G_N_ELEMENTS(other); i++)
		if (strcmp(name, other[i]) == 0)
			return BLUEZ_ERROR_OTHER;
	return BLUEZ_ERROR_TRANSIENT;
}

/* ---- objects and properties ---- */

static GDBusProxy *proxy_at(struct bluez *bz, const char *path, const char *iface)
{
	if (!bz->manager || !path)
		return NULL;
	return G_DBUS_PROXY(g_dbus_object_manager_get_interface(bz->manager, path, iface));
}

static bool prop_bool(GDBusProxy *proxy, const char *name)
{
	g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property(proxy, name);

	return v && g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN) && g_variant_get_boolean(v);
}

static bool prop_string(GDBusProxy *proxy, const char *name, char *ret, size_t size)
{
	g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property(proxy, name);

	if (!v || !g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
		return false;
	g_strlcpy(ret, g_variant_get_string(v, NULL), size);
	return true;
}

static char *device_path(const struct bluez *bz, const char *address)
{
	g_autofree char *upper = NULL;

	if (!bz->adapter_path)
		return NULL;
	upper = g_ascii_strup(address, -1);
	g_strdelimit(upper, ":", '_');
	return g_strdup_printf("%s/dev_%s", bz->adapter_path, upper);
}

/* The address of the device a path belongs to: ".../hci0/dev_C8_0F_10_11_22_33[/...]". */
static bool address_of_path(const struct bluez *bz, const char *path, char ret[18])
{
	size_t n = bz->adapter_path ? strlen(bz->adapter_path) : 0;

	if (!n || strncmp(path, bz->adapter_path, n) != 0 || strncmp(path + n, "/dev_", 5) != 0 ||
	    strlen(path + n + 5) < 17)
		return false;
	g_strlcpy(ret, path + n + 5, 18);
	g_strdelimit(ret, "_", ':');
	return path[n + 5 + 17] == '\0' || path[n + 5 + 17] == '/';
}

/* The adapter named by the spec (hciN or address), or the first one. */
static void pick_adapter(struct bluez *bz)
{
	g_autolist(GDBusObject) objects = bz->manager ? g_dbus_object_manager_get_objects(bz->manager) : NULL;
	char *found = NULL;

	for (GList *l = objects; l && !found; l = l->next) {
		const char *path = g_dbus_object_get_object_path(l->data);
		g_autoptr(GDBusProxy) a = proxy_at(bz, path, ADAPTER_IFACE);
		char address[18] = "";

		if (!a)
			continue;
		prop_string(a, "Address", address, sizeof(address));
		if (!bz->adapter_spec[0] || g_str_has_suffix(path, bz->adapter_spec) ||
		    g_ascii_strcasecmp(address, bz->adapter_spec) == 0) {
			found = g_strdup(path);
			g_strlcpy(bz->adapter_address, address, sizeof(bz->adapter_address));
		}
	}
	g_free(bz->adapter_path);
	bz->adapter_path = found;
	if (!found)
		bz->adapter_address[0] = '\0';
}

bool bluez_adapter_present(const struct bluez *bz)
{
	return bz->adapter_path != NULL;
}

bool bluez_adapter_ready(const struct bluez *bz)
{
	return bz->adapter_path && bz->powered;
}

const char *bluez_adapter_address(const struct bluez *bz)
{
	return bz->adapter_address;
}

bool bluez_device_info(struct bluez *bz, const char *address, struct bluez_device_info *ret)
{
	g_autofree char *path = device_path(bz, address);
	g_autoptr(GDBusProxy) d = proxy_at(bz, path, DEVICE_IFACE);
	g_autoptr(GVariant) rssi = NULL, sd = NULL, fee0 = NULL;

	memset(ret, 0, sizeof(*ret));
	if (!d)
		return false;
	ret->present = true;
	ret->connected = prop_bool(d, "Connected") || g_hash_table_contains(bz->links, path);
	ret->services_resolved = prop_bool(d, "ServicesResolved");
	ret->paired = prop_bool(d, "Paired");
	prop_string(d, "Name", ret->name, sizeof(ret->name));
	rssi = g_dbus_proxy_get_cached_property(d, "RSSI");
	if (rssi && g_variant_is_of_type(rssi, G_VARIANT_TYPE_INT16)) {
		ret->has_rssi = true;
		ret->rssi = g_variant_get_int16(rssi);
	}
	sd = g_dbus_proxy_get_cached_property(d, "ServiceData");
	if (sd && g_variant_is_of_type(sd, G_VARIANT_TYPE("a{sv}")))
		fee0 = g_variant_lookup_value(sd, FEE0_UUID, G_VARIANT_TYPE_BYTESTRING);
	if (fee0 && g_variant_get_size(fee0) == 4) {
		ret->has_service_data = true;
		memcpy(ret->service_data, g_variant_get_data(fee0), 4);
	}
	return true;
}

char **bluez_devices_named(struct bluez *bz, const char *name)
{
	g_autolist(GDBusObject) objects = bz->manager ? g_dbus_object_manager_get_objects(bz->manager) : NULL;
	GPtrArray *found = g_ptr_array_new();
	char address[18];

	for (GList *l = objects; l; l = l->next) {
		const char *path = g_dbus_object_get_object_path(l->data);
		g_autoptr(GDBusProxy) d = proxy_at(bz, path, DEVICE_IFACE);
		char n[64] = "";

		if (d && address_of_path(bz, path, address) && prop_string(d, "Name", n, sizeof(n)) &&
		    strcmp(n, name) == 0)
			g_ptr_array_add(found, g_strdup(address));
	}
	g_ptr_array_add(found, NULL);
	return (char **)g_ptr_array_free(found, FALSE);
}

/* The characteristic with uuid under the device, or NULL. UUIDs are unique in the MB2's table except none
 * that the gateway uses (2A04 twice: never asked for). */
static char *char_path(struct bluez *bz, const char *address, const char *uuid)
{
	g_autofree char *dev = device_path(bz, address);
	g_autolist(GDBusObject) objects = bz->manager ? g_dbus_object_manager_get_objects(bz->manager) : NULL;
	size_t n = dev ? strlen(dev) : 0;

	for (GList *l = objects; l && dev; l = l->next) {
		const char *path = g_dbus_object_get_object_path(l->data);
		g_autoptr(GDBusProxy) c = NULL;
		char u[40];

		if (strncmp(path, dev, n) != 0 || path[n] != '/')
			continue;
		c = proxy_at(bz, path, CHAR_IFACE);
		if (c && prop_string(c, "UUID", u, sizeof(u)) && g_ascii_strcasecmp(u, uuid) == 0)
			return g_strdup(path);
	}
	return NULL;
}

bool bluez_has_char(struct bluez *bz, const char *address, const char *uuid)
{
	g_autofree char *path = char_path(bz, address, uuid);

	return path != NULL;
}

/* ---- calls ---- */

static void link_set(struct bluez *bz, const char *path, bool up)
{
	if (up)
		g_hash_table_add(bz->links, g_strdup(path));
	else
		g_hash_table_remove(bz->links, path);
}

struct call {
	bluez_done_func done;
	bluez_read_func read;
	void *user_data;
	GCancellable *cancellable;
	struct bluez *link_bz;    /* a Connect or Disconnect: its success says whether the device is linked */
	char *link_path;
	bool link_up;
};

static struct call *call_new(GCancellable *cancellable, bluez_done_func done, bluez_read_func read, void *user_data)
{
	struct call *c = g_new0(struct call, 1);

	c->done = done;
	c->read = read;
	c->user_data = user_data;
	c->cancellable = cancellable ? g_object_ref(cancellable) : NULL;
	return c;
}

/* Only with a cancellable: the bands cancel theirs before the view is freed, so link_bz is alive. */
static struct call *link_call(struct call *c, struct bluez *bz, const char *path, bool up)
{
	if (c->cancellable) {
		c->link_bz = bz;
		c->link_path = g_strdup(path);
		c->link_up = up;
	}
	return c;
}

static void call_finish(struct call *c, const GError *error, GVariant *reply)
{
	g_autoptr(GVariant) bytes = NULL;

	if (!c->cancellable || !g_cancellable_is_cancelled(c->cancellable)) {
		if (c->link_bz && !error)
			link_set(c->link_bz, c->link_path, c->link_up);
		if (c->read) {
			if (reply && !error)
				bytes = g_variant_get_child_value(reply, 0);
			c->read(error, bytes ? g_variant_get_data(bytes) : NULL, bytes ? g_variant_get_size(bytes) : 0,
			        c->user_data);
		} else if (c->done) {
			c->done(error, c->user_data);
		}
	}
	g_clear_object(&c->cancellable);
	g_free(c->link_path);
	g_free(c);
}

static void call_ready(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);

	call_finish(user_data, error, reply);
}

static void call(struct bluez *bz, const char *path, const char *iface, const char *method, GVariant *params,
                 const GVariantType *reply_type, int timeout_ms, struct call *c)
{
	if (!bz->bus || !path) {
		g_autoptr(GError) error = g_error_new(G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: not available",
		                                      bz->bus ? "object" : "system bus");

		if (params)
			g_variant_unref(g_variant_ref_sink(params));
		call_finish(c, error, NULL);
		return;
	}
	g_dbus_connection_call(bz->bus, BLUEZ, path, iface, method, params, reply_type, G_DBUS_CALL_FLAGS_NONE,
	                       timeout_ms, c->cancellable, call_ready, c);
}

/* A device that has no object yet (not seen since bluetoothd started) is NOT_FOUND, not an error to retry. */
void bluez_connect(struct bluez *bz, const char *address, GCancellable *cancellable, bluez_done_func callback,
                   void *user_data)
{
	g_autofree char *path = device_path(bz, address);
	g_autoptr(GDBusProxy) d = proxy_at(bz, path, DEVICE_IFACE);

	call(bz, d ? path : NULL, DEVICE_IFACE, "Connect", NULL, NULL, CONNECT_TIMEOUT_MS,
	     link_call(call_new(cancellable, callback, NULL, user_data), bz, path, true));
}

void bluez_disconnect(struct bluez *bz, const char *address, GCancellable *cancellable, bluez_done_func callback,
                      void *user_data)
{
	g_autofree char *path = device_path(bz, address);
	g_autoptr(GDBusProxy) d = proxy_at(bz, path, DEVICE_IFACE);

	if (path)
		link_set(bz, path, false); /* asked to let go: no longer ours to count as linked */
	call(bz, d ? path : NULL, DEVICE_IFACE, "Disconnect", NULL, NULL, CALL_TIMEOUT_MS,
	     call_new(cancellable, callback, NULL, user_data));
}

/* No reply wanted, so nothing waits for a loop that is about to stop: for shutdown. */
void bluez_disconnect_detached(struct bluez *bz, const char *address)
{
	g_autofree char *path = device_path(bz, address);
	g_autoptr(GDBusMessage) msg = NULL;

	if (!bz->bus || !path)
		return;
	link_set(bz, path, false);
	msg = g_dbus_message_new_method_call(BLUEZ, path, DEVICE_IFACE, "Disconnect");
	g_dbus_message_set_flags(msg, G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
	g_dbus_connection_send_message(bz->bus, msg, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, NULL);
}

void bluez_remove_device(struct bluez *bz, const char *address, GCancellable *cancellable,
                         bluez_done_func callback, void *user_data)
{
	g_autofree char *path = device_path(bz, address);
	g_autoptr(GDBusProxy) d = proxy_at(bz, path, DEVICE_IFACE);

	call(bz, d ? bz->adapter_path : NULL, ADAPTER_IFACE, "RemoveDevice",
	     d ? g_variant_new("(o)", path) : NULL, NULL, CALL_TIMEOUT_MS,
	     call_new(cancellable, callback, NULL, user_data));
}

void bluez_start_notify(struct bluez *bz, const char *address, const char *uuid, GCancellable *cancellable,
                        bluez_done_func callback, void *user_data)
{
	g_autofree char *path = char_path(bz, address, uuid);

	call(bz, path, CHAR_IFACE, "StartNotify", NULL, NULL, CALL_TIMEOUT_MS,
	     call_new(cancellable, callback, NULL, user_data));
}

/* The characteristic's Flags have the last word (miband2-protocol.md §16, "Writes"): a Write Request only where
 * they list "write", a Write Command only where they list "write-without-response". 2A06 is the case that
 * matters: write-without-response only, and a Write Request there is refused by a strict ATT server. */
static const char *write_type(struct bluez *bz, const char *path, bool with_response)
{
	g_autoptr(GDBusProxy) c = proxy_at(bz, path, CHAR_IFACE);
	g_autoptr(GVariant) flags = c ? g_dbus_proxy_get_cached_property(c, "Flags") : NULL;
	g_autofree const char **list = NULL;
	bool request, command;

	if (!flags || !g_variant_is_of_type(flags, G_VARIANT_TYPE_STRING_ARRAY))
		return with_response ? "request" : "command";
	list = g_variant_get_strv(flags, NULL);
	request = g_strv_contains(list, "write");
	command = g_strv_contains(list, "write-without-response");
	if (with_response)
		return request || !command ? "request" : "command";
	return command || !request ? "command" : "request";
}

void bluez_write(struct bluez *bz, const char *address, const char *uuid, const uint8_t *value, size_t len,
                 bool with_response, GCancellable *cancellable, bluez_done_func callback, void *user_data)
{
	g_autofree char *path = char_path(bz, address, uuid);
	GVariantBuilder options;
	GVariant *params = NULL;

	if (path) {
		g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
		g_variant_builder_add(&options, "{sv}", "type", g_variant_new_string(write_type(bz, path, with_response)));
		params = g_variant_new("(@aya{sv})",
		                       g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, value, len, 1), &options);
	}
	call(bz, path, CHAR_IFACE, "WriteValue", params, NULL, CALL_TIMEOUT_MS,
	     call_new(cancellable, callback, NULL, user_data));
}

void bluez_read(struct bluez *bz, const char *address, const char *uuid, GCancellable *cancellable,
                bluez_read_func callback, void *user_data)
{
	g_autofree char *path = char_path(bz, address, uuid);

	call(bz, path, CHAR_IFACE, "ReadValue", path ? g_variant_new_parsed("(@a{sv} {},)") : NULL,
	     G_VARIANT_TYPE("(ay)"), CALL_TIMEOUT_MS, call_new(cancellable, NULL, callback, user_data));
}

/* ---- the adapter's power ----
 * A power-cycle is Powered=false, a second's rest once bluetoothd has answered, then Powered=true, retried with
 * backoff until it takes: an adapter left off by a failed power-on would be worse than the trouble it cured. */

static void set_powered(struct bluez *bz, bool on, bluez_done_func done)
{
	call(bz, bz->adapter_path, "org.freedesktop.DBus.Properties", "Set",
	     g_variant_new("(ssv)", ADAPTER_IFACE, "Powered", g_variant_new_boolean(on)), NULL, CALL_TIMEOUT_MS,
	     call_new(bz->cancellable, done, NULL, bz));
}

static gboolean power_on(gpointer user_data);
static void discovery_update(struct bluez *bz);

static void powered_on(const GError *error, void *user_data)
{
	struct bluez *bz = user_data;
	unsigned wait;

	if (!error) {
		bz->power_cycling = false;
		bz->power_failures = 0;
		discovery_update(bz);
		return;
	}
	wait = backoff_ms(&backoff_adapter, ++bz->power_failures, g_random_int());
	g_warning("adapter %s: powering on failed (%s); retrying in %u ms", bz->adapter_path ? bz->adapter_path : "-",
	          error->message, wait);
	bz->power_timer = g_timeout_add(wait, power_on, bz);
}

static gboolean power_on(gpointer user_data)
{
	struct bluez *bz = user_data;

	bz->power_timer = 0;
	set_powered(bz, true, powered_on);
	return G_SOURCE_REMOVE;
}

static void powered_off(const GError *error, void *user_data)
{
	struct bluez *bz = user_data;

	if (error)
		g_warning("adapter %s: powering off failed: %s", bz->adapter_path ? bz->adapter_path : "-", error->message);
	bz->power_timer = g_timeout_add(POWER_REST_MS, power_on, bz);
}

void bluez_adapter_power_cycle(struct bluez *bz)
{
	if (!bz->adapter_path || bz->power_cycling)
		return;
	g_message("adapter %s: power-cycling", bz->adapter_path);
	bz->power_cycling = true;
	set_powered(bz, false, powered_off);
}

/* ---- discovery ---- */

static gboolean discovery_retry(gpointer user_data)
{
	struct bluez *bz = user_data;

	bz->discovery_retry = 0;
	discovery_update(bz);
	return G_SOURCE_REMOVE;
}

static void discovery_started(const GError *error, void *user_data)
{
	struct bluez *bz = user_data;
	unsigned wait;

	bz->discovery_pending = false;
	if (!error) {
		bz->discovery_active = true;
		bz->discovery_failures = 0;
		discovery_update(bz); /* wanted may have changed meanwhile */
		return;
	}
	wait = backoff_ms(&backoff_adapter, ++bz->discovery_failures, g_random_int());
	g_warning("adapter %s: StartDiscovery failed (%s), retrying in %u ms", bz->adapter_path ? bz->adapter_path : "-",
	          error->message, wait);
	if (!bz->discovery_retry)
		bz->discovery_retry = g_timeout_add(wait, discovery_retry, bz);
}

static void discovery_stop_before_start(const GError *error, void *user_data)
{
	struct bluez *bz = user_data;

	(void)error; /* "No discovery started" is the usual answer */
	call(bz, bz->adapter_path, ADAPTER_IFACE, "StartDiscovery", NULL, NULL, CALL_TIMEOUT_MS,
	     call_new(bz->cancellable, discovery_started, NULL, bz));
}

static void discovery_filter_set(const GError *error, void *user_data)
{
	struct bluez *bz = user_data;

	if (error)
		g_debug("SetDiscoveryFilter: %s", error->message);
	/* Stop first: a session of ours left by a previous life of this process would make Start say InProgress. */
	call(bz, bz->adapter_path, ADAPTER_IFACE, "StopDiscovery", NULL, NULL, CALL_TIMEOUT_MS,
	     call_new(bz->cancellable, discovery_stop_before_start, NULL, bz));
}

static void discovery_stopped(const GError *error, void *user_data)
{
	struct bluez *bz = user_data;

	(void)error;
	bz->discovery_pending = false;
	discovery_update(bz);
}

static void discovery_update(struct bluez *bz)
{
	if (bz->discovery_pending || bz->discovery_retry)
		return;
	/* During our own power-cycle bluetoothd answers NotReady even before Powered=false is signalled (5.66
	 * btd_adapter_get_powered counts a pending power change): wait for the cycle to end instead. */
	if (!bluez_adapter_ready(bz) || bz->power_cycling) {
		bz->discovery_active = false;
		return;
	}
	if (bz->discovery_wanted && !bz->discovery_active) {
		bz->discovery_pending = true;
		call(bz, bz->adapter_path, ADAPTER_IFACE, "SetDiscoveryFilter",
		     g_variant_new_parsed("({'Transport': <'le'>, 'DuplicateData': <true>},)"), NULL, CALL_TIMEOUT_MS,
		     call_new(bz->cancellable, discovery_filter_set, NULL, bz));
	} else if (!bz->discovery_wanted && bz->discovery_active) {
		bz->discovery_pending = true;
		bz->discovery_active = false;
		call(bz, bz->adapter_path, ADAPTER_IFACE, "StopDiscovery", NULL, NULL, CALL_TIMEOUT_MS,
		     call_new(bz->cancellable, discovery_stopped, NULL, bz));
	}
}

void bluez_set_discovery(struct bluez *bz, bool wanted)
{
	if (bz->discovery_wanted == wanted)
		return;
	bz->discovery_wanted = wanted;
	discovery_update(bz);
}

bool bluez_discovering(const struct bluez *bz)
{
	return bz->discovery_active;
}

/* ---- following bluetoothd ---- */

static void adapter_refresh(struct bluez *bz)
{
	g_autoptr(GDBusProxy) a = NULL;
	bool was_ready = bluez_adapter_ready(bz);

	pick_adapter(bz);
	a = proxy_at(bz, bz->adapter_path, ADAPTER_IFACE);
	bz->powered = a && prop_bool(a, "Powered");
	/* bluetoothd ends every discovery session on power off; a session of ours is gone with the adapter. */
	if (!bz->powered || (a && !prop_bool(a, "Discovering")))
		bz->discovery_active = false;
	if (was_ready != bluez_adapter_ready(bz))
		g_message("adapter %s: %s", bz->adapter_path ? bz->adapter_path : "(none)",
		          bluez_adapter_ready(bz) ? "ready" : "not ready");
	discovery_update(bz);
	if (bz->ops->adapter_changed)
		bz->ops->adapter_changed(bz, bz->user_data);
}

static void object_changed(struct bluez *bz, const char *path, bool removed)
{
	char address[18];

	if (!address_of_path(bz, path, address)) {
		if (!strstr(path, "/dev_"))
			adapter_refresh(bz); /* an adapter: ours, or one that may become ours */
		return;                      /* else a device of another adapter */
	}
	if (path[strlen(bz->adapter_path) + 5 + 17] != '\0')
		return; /* a GATT object: its arrival is seen through device_changed's ServicesResolved */
	if (removed)
		link_set(bz, path, false);
	if (removed && bz->ops->device_removed)
		bz->ops->device_removed(bz, address, bz->user_data);
	else if (!removed && bz->ops->device_changed)
		bz->ops->device_changed(bz, address, bz->user_data);
}

static void on_object_added(GDBusObjectManager *m, GDBusObject *object, gpointer user_data)
{
	(void)m;
	object_changed(user_data, g_dbus_object_get_object_path(object), false);
}

static void on_object_removed(GDBusObjectManager *m, GDBusObject *object, gpointer user_data)
{
	(void)m;
	object_changed(user_data, g_dbus_object_get_object_path(object), true);
}

static void on_interface_added(GDBusObjectManager *m, GDBusObject *object, GDBusInterface *iface, gpointer user_data)
{
	(void)m;
	(void)iface;
	object_changed(user_data, g_dbus_object_get_object_path(object), false);
}

static void char_value(struct bluez *bz, GDBusProxy *proxy, GVariant *changed)
{
	g_autoptr(GVariant) value = g_variant_lookup_value(changed, "Value", G_VARIANT_TYPE_BYTESTRING);
	const char *path = g_dbus_proxy_get_object_path(proxy);
	char address[18], uuid[40];

	if (!value || !address_of_path(bz, path, address) || !prop_string(proxy, "UUID", uuid, sizeof(uuid)))
		return;
	if (bz->ops->value)
		bz->ops->value(bz, address, uuid, g_variant_get_data(value), g_variant_get_size(value), bz->user_data);
}

/* The link bit from what bluetoothd says: Connected=false ends it, Connected=true or ServicesResolved=true
 * start it. */
static void device_link(struct bluez *bz, const char *path, GVariant *changed)
{
	gboolean connected, resolved;

	if (g_variant_lookup(changed, "Connected", "b", &connected))
		link_set(bz, path, connected);
	else if (g_variant_lookup(changed, "ServicesResolved", "b", &resolved) && resolved)
		link_set(bz, path, true);
}

static void on_properties_changed(GDBusObjectManagerClient *m, GDBusObjectProxy *object, GDBusProxy *proxy,
                                  GVariant *changed, const char *const *invalidated, gpointer user_data)
{
	struct bluez *bz = user_data;
	const char *iface = g_dbus_proxy_get_interface_name(proxy);

	(void)m;
	(void)invalidated;
	if (strcmp(iface, CHAR_IFACE) == 0)
		char_value(bz, proxy, changed);
	if (strcmp(iface, DEVICE_IFACE) == 0)
		device_link(bz, g_dbus_proxy_get_object_path(proxy), changed);
	if (strcmp(iface, DEVICE_IFACE) == 0 || strcmp(iface, ADAPTER_IFACE) == 0)
		object_changed(bz, g_dbus_object_get_object_path(G_DBUS_OBJECT(object)), false);
}

static void on_name_owner(GObject *object, GParamSpec *pspec, gpointer user_data)
{
	struct bluez *bz = user_data;
	g_autofree char *owner = g_dbus_object_manager_client_get_name_owner(G_DBUS_OBJECT_MANAGER_CLIENT(object));

	(void)pspec;
	g_message("bluetoothd %s", owner ? "is on the bus" : "left the bus");
	bz->discovery_active = bz->discovery_pending = false; /* its sessions died with it */
	g_hash_table_remove_all(bz->links);                  /* and its links */
	adapter_refresh(bz);
}

static void manager_ready(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	GDBusObjectManager *manager = g_dbus_object_manager_client_new_finish(result, &error);
	struct bluez *bz = user_data;

	(void)source;
	if (!manager) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_critical("cannot follow org.bluez: %s", error->message);
		return;
	}
	bz->manager = manager;
	g_signal_connect(manager, "object-added", G_CALLBACK(on_object_added), bz);
	g_signal_connect(manager, "object-removed", G_CALLBACK(on_object_removed), bz);
	g_signal_connect(manager, "interface-added", G_CALLBACK(on_interface_added), bz);
	g_signal_connect(manager, "interface-proxy-properties-changed", G_CALLBACK(on_properties_changed), bz);
	g_signal_connect(manager, "notify::name-owner", G_CALLBACK(on_name_owner), bz);
	adapter_refresh(bz);
	/* Devices bluetoothd already knows, announced like new ones. */
	g_autolist(GDBusObject) objects = g_dbus_object_manager_get_objects(manager);
	for (GList *l = objects; l; l = l->next)
		object_changed(bz, g_dbus_object_get_object_path(l->data), false);
}

static void bus_ready(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	GDBusConnection *bus = g_bus_get_finish(result, &error);
	struct bluez *bz = user_data;

	(void)source;
	if (!bus) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_critical("cannot reach the system bus: %s", error->message);
		return;
	}
	bz->bus = bus;
	g_dbus_object_manager_client_new(bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE, BLUEZ, "/", NULL, NULL, NULL,
	                                 bz->cancellable, manager_ready, bz);
}

struct bluez *bluez_new(const char *adapter, const struct bluez_ops *ops, void *user_data)
{
	struct bluez *bz = g_new0(struct bluez, 1);

	bz->ops = ops;
	bz->user_data = user_data;
	bz->adapter_spec = g_strdup(adapter ? adapter : "");
	bz->cancellable = g_cancellable_new();
	bz->links = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	/* G_BUS_TYPE_SYSTEM honours DBUS_SYSTEM_BUS_ADDRESS, which tests and the demo point at a private bus. */
	g_bus_get(G_BUS_TYPE_SYSTEM, bz->cancellable, bus_ready, bz);
	return bz;
}

void bluez_free(struct bluez *bz)
{
	if (!bz)
		return;
	g_cancellable_cancel(bz->cancellable);
	g_clear_handle_id(&bz->discovery_retry, g_source_remove);
	g_clear_handle_id(&bz->power_timer, g_source_remove);
	if (bz->manager)
		g_signal_handlers_disconnect_by_data(bz->manager, bz);
	g_clear_object(&bz->manager);
	if (bz->bus) /* the last calls (a shutdown's Disconnects) leave before we do */
		g_dbus_connection_flush_sync(bz->bus, NULL, NULL);
	g_clear_object(&bz->bus);
	g_clear_object(&bz->cancellable);
	g_hash_table_unref(bz->links);
	g_free(bz->adapter_path);
	g_free(bz->adapter_spec);
	g_free(bz);
}
