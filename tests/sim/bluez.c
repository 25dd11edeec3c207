/* The fake bluetoothd: BlueZ 5.66's objects, signals, orders and errors as ../shared/bluez-5.66.md describes
 * them (cited as "bluez §Section"), serving the bands of the world.
 *
 * A band is the radio peer, a device object is bluetoothd's record of it on one adapter: the two are
 * matched by address, so a band that changes its address (factory reset) leaves its old record behind,
 * as on a real system. */
#include <errno.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "objtree.h"
#include "sim.h"

#define ERR "org.bluez.Error."

/* Timings: the documented ones (bluez §Disconnect, §Discovery, §Objects) and the rest small and plausible. */
enum {
	LINK_SETUP_MS = 40,          /* from Connect to the LE link being up */
	RESOLVE_FIRST_MS = 150,      /* primary/characteristic discovery on a first connection */
	RESOLVE_CACHED_MS = 30,      /* re-arming notifications on a cached reconnection */
	DISCONNECT_TIMER_MS = 2000,  /* bluetoothd's DISCONNECT_TIMER */
	DISCOVERING_DELAY_MS = 40,
	ADVERT_FIRST_MS = 60,        /* first advertising report after scanning starts */
	ADVERT_TICK_MS = 1000,
	RSSI_THRESHOLD = 8,          /* bluetoothd signals RSSI only when it moves this much */
	ACQUIRE_RELEASE_MS = 1500,   /* NotifyAcquired turns false 1-2 s after the fd is closed */
	CONNECT_FAULT_MS = 200,
	DEFAULT_CONNECT_TIMEOUT_MS = 40000,
	ATT_MTU = 23,                /* the band never raises it (miband2-protocol §3) */
};

enum { REMEMBER_PAIRED = 1, REMEMBER_TRUSTED = 2 };

struct device;

struct gatt_chr {
	struct device *dev;
	const struct sim_gatt_chr *def;
	struct obj *obj;
	struct obj_iface *iface;
	struct obj_iface *desc_ifaces[4];
	struct obj *desc_objs[4];
	GPtrArray *sessions;   /* char *sender, one StartNotify session each, in order */
	int acquired_fd;       /* our end of an AcquireNotify socket, or -1 */
	guint acquired_watch;
	guint acquired_release;
};

struct device {
	struct adapter *adapter;
	char address[18];
	char *path;
	struct obj *obj;
	struct obj_iface *iface;
	bool temporary, connected, att_up, resolved, paired, trusted, exported;
	bool connect_doomed;     /* a scripted failure: this Connect never links */
	int64_t last_seen_us;
	GDBusMethodInvocation *pending_connect;
	guint connect_timer;     /* the connect time-out or a scripted failure */
	guint link_timer;        /* link set-up under way */
	guint resolve_timer;
	guint disconnect_timer;
	guint connected_timer;   /* Connected=false after the Disconnect reply */
	GPtrArray *disconnects;  /* GDBusMethodInvocation * waiting for the link to go */
	GPtrArray *att_pending;  /* struct att_reply *: requests the band has not answered yet */
	GPtrArray *service_objs; /* struct obj * */
	struct gatt_chr chrs[SIM_CHR_COUNT];
};

struct disc_client {
	GVariant *filter; /* a{sv} from SetDiscoveryFilter, or NULL */
	bool active;      /* StartDiscovery was called */
};

struct adapter {
	struct sim_bluez *bz;
	char name[16];
	char *path;
	char address[18];
	struct obj *obj;
	struct obj_iface *iface;
	bool powered, discovering;
	GHashTable *clients;     /* sender -> struct disc_client * */
	GPtrArray *devices;      /* struct device * */
	guint discovering_timer, first_report, tick;
	unsigned discovery_busy; /* fault: the next N StartDiscovery calls find the controller busy */
	unsigned power_on_fails; /* fault: the next N Set(Powered=true) calls fail */
};

struct sim_bluez {
	struct sim_world *world;
	GDBusConnection *connection;
	struct objtree *tree;
	struct obj *root;
	GPtrArray *adapters;
	guint owner_watch;
};

static const char bluez_xml[] =
	"<node>"
	"<interface name='org.bluez.AgentManager1'>"
	" <method name='RegisterAgent'><arg type='o'/><arg type='s'/></method>"
	" <method name='UnregisterAgent'><arg type='o'/></method>"
	" <method name='RequestDefaultAgent'><arg type='o'/></method></interface>"
	"<interface name='org.bluez.ProfileManager1'>"
	" <method name='RegisterProfile'><arg type='o'/><arg type='s'/><arg type='a{sv}'/></method>"
	" <method name='UnregisterProfile'><arg type='o'/></method></interface>"
	"<interface name='org.bluez.Adapter1'>"
	" <method name='StartDiscovery'/><method name='StopDiscovery'/>"
	" <method name='SetDiscoveryFilter'><arg name='properties' type='a{sv}'/></method>"
	" <method name='RemoveDevice'><arg name='device' type='o'/></method>"
	" <method name='GetDiscoveryFilters'><arg name='filters' type='as' direction='out'/></method>"
	" <property name='Address' type='s' access='read'/><property name='AddressType' type='s' access='read'/>"
	" <property name='Name' type='s' access='read'/><property name='Alias' type='s' access='readwrite'/>"
	" <property name='Class' type='u' access='read'/><property name='Powered' type='b' access='readwrite'/>"
	" <property name='Discoverable' type='b' access='readwrite'/>"
	" <property name='DiscoverableTimeout' type='u' access='readwrite'/>"
	" <property name='Pairable' type='b' access='readwrite'/>"
	" <property name='PairableTimeout' type='u' access='readwrite'/>"
	" <property name='Discovering' type='b' access='read'/><property name='UUIDs' type='as' access='read'/>"
	" <property name='Modalias' type='s' access='read'/><property name='Roles' type='as' access='read'/>"
	" <property name='ExperimentalFeatures' type='as' access='read'/>"
	"</interface>"
	"<interface name='org.bluez.GattManager1'>"
	" <method name='RegisterApplication'><arg type='o'/><arg type='a{sv}'/></method>"
	" <method name='UnregisterApplication'><arg type='o'/></method></interface>"
	"<interface name='org.bluez.LEAdvertisingManager1'>"
	" <method name='RegisterAdvertisement'><arg type='o'/><arg type='a{sv}'/></method>"
	" <method name='UnregisterAdvertisement'><arg type='o'/></method>"
	" <property name='ActiveInstances' type='y' access='read'/>"
	" <property name='SupportedInstances' type='y' access='read'/>"
	" <property name='SupportedIncludes' type='as' access='read'/>"
	" <property name='SupportedSecondaryChannels' type='as' access='read'/></interface>"
	"<interface name='org.bluez.Media1'>"
	" <method name='RegisterEndpoint'><arg type='o'/><arg type='a{sv}'/></method>"
	" <method name='UnregisterEndpoint'><arg type='o'/></method>"
	" <method name='RegisterPlayer'><arg type='o'/><arg type='a{sv}'/></method>"
	" <method name='UnregisterPlayer'><arg type='o'/></method>"
	" <method name='RegisterApplication'><arg type='o'/><arg type='a{sv}'/></method>"
	" <method name='UnregisterApplication'><arg type='o'/></method></interface>"
	"<interface name='org.bluez.NetworkServer1'>"
	" <method name='Register'><arg type='s'/><arg type='s'/></method>"
	" <method name='Unregister'><arg type='s'/></method></interface>"
	"<interface name='org.bluez.Device1'>"
	" <method name='Disconnect'/><method name='Connect'/>"
	" <method name='ConnectProfile'><arg type='s'/></method>"
	" <method name='DisconnectProfile'><arg type='s'/></method>"
	" <method name='Pair'/><method name='CancelPairing'/>"
	" <property name='Address' type='s' access='read'/><property name='AddressType' type='s' access='read'/>"
	" <property name='Name' type='s' access='read'/><property name='Alias' type='s' access='readwrite'/>"
	" <property name='Class' type='u' access='read'/><property name='Appearance' type='q' access='read'/>"
	" <property name='Icon' type='s' access='read'/>"
	" <property name='Paired' type='b' access='read'/><property name='Bonded' type='b' access='read'/>"
	" <property name='Trusted' type='b' access='readwrite'/><property name='Blocked' type='b' access='readwrite'/>"
	" <property name='LegacyPairing' type='b' access='read'/><property name='RSSI' type='n' access='read'/>"
	" <property name='Connected' type='b' access='read'/><property name='UUIDs' type='as' access='read'/>"
	" <property name='Modalias' type='s' access='read'/><property name='Adapter' type='o' access='read'/>"
	" <property name='ManufacturerData' type='a{qv}' access='read'/>"
	" <property name='ServiceData' type='a{sv}' access='read'/><property name='TxPower' type='n' access='read'/>"
	" <property name='ServicesResolved' type='b' access='read'/>"
	" <property name='WakeAllowed' type='b' access='readwrite'/></interface>"
	"<interface name='org.bluez.GattService1'>"
	" <property name='UUID' type='s' access='read'/><property name='Device' type='o' access='read'/>"
	" <property name='Primary' type='b' access='read'/><property name='Includes' type='ao' access='read'/>"
	"</interface>"
	"<interface name='org.bluez.GattCharacteristic1'>"
	" <method name='ReadValue'><arg name='options' type='a{sv}'/><arg name='value' type='ay' direction='out'/></method>"
	" <method name='WriteValue'><arg name='value' type='ay'/><arg name='options' type='a{sv}'/></method>"
	" <method name='AcquireWrite'><arg name='options' type='a{sv}'/><arg name='fd' type='h' direction='out'/>"
	"  <arg name='mtu' type='q' direction='out'/></method>"
	" <method name='AcquireNotify'><arg name='options' type='a{sv}'/><arg name='fd' type='h' direction='out'/>"
	"  <arg name='mtu' type='q' direction='out'/></method>"
	" <method name='StartNotify'/><method name='StopNotify'/>"
	" <property name='UUID' type='s' access='read'/><property name='Service' type='o' access='read'/>"
	" <property name='Value' type='ay' access='read'/><property name='Notifying' type='b' access='read'/>"
	" <property name='Flags' type='as' access='read'/><property name='WriteAcquired' type='b' access='read'/>"
	" <property name='NotifyAcquired' type='b' access='read'/><property name='MTU' type='q' access='read'/>"
	"</interface>"
	"<interface name='org.bluez.GattDescriptor1'>"
	" <method name='ReadValue'><arg name='options' type='a{sv}'/><arg name='value' type='ay' direction='out'/></method>"
	" <method name='WriteValue'><arg name='value' type='ay'/><arg name='options' type='a{sv}'/></method>"
	" <property name='UUID' type='s' access='read'/><property name='Characteristic' type='o' access='read'/>"
	" <property name='Value' type='ay' access='read'/></interface>"
	"</node>";

/* ---- small helpers ---- */

static void reply_error(GDBusMethodInvocation *inv, const char *name, const char *message)
{
	g_dbus_method_invocation_return_dbus_error(inv, name, message);
}

static void reply_ok(GDBusMethodInvocation *inv)
{
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void clear_source(guint *id)
{
	if (*id) {
		g_source_remove(*id);
		*id = 0;
	}
}

static GVariant *bytes_variant(const uint8_t *v, size_t len)
{
	return g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, v, len, 1);
}

/* The Value of an attribute bluetoothd has not read or been notified of yet: its cache holds an empty value,
 * and 5.66 gatt-client.c's characteristic_value_exists()/descriptor_value_exists() read that cache, which
 * always succeeds, so the property is there from the start. */
static GVariant *empty_value(void)
{
	return g_variant_new_array(G_VARIANT_TYPE_BYTE, NULL, 0);
}

static struct band_slot *device_slot(struct device *dev)
{
	return sim_world_find(dev->adapter->bz->world, dev->address);
}

static void remember_key(const struct device *dev, char *buf, size_t size)
{
	g_snprintf(buf, size, "%s/%s", dev->adapter->name, dev->address);
}

static void device_remember(struct device *dev)
{
	char key[64];
	guint flags = (dev->paired ? REMEMBER_PAIRED : 0) | (dev->trusted ? REMEMBER_TRUSTED : 0);

	remember_key(dev, key, sizeof(key));
	g_hash_table_insert(dev->adapter->bz->world->remembered, g_strdup(key), GUINT_TO_POINTER(flags | 4));
}

/* The mapping of an ATT error from the band to D-Bus, as 5.66's create_gatt_dbus_error(). */
static void reply_att_error(GDBusMethodInvocation *inv, int att)
{
	char msg[64];

	switch (att) {
	case SIM_ATT_READ_NOT_PERMITTED:
		reply_error(inv, ERR "NotPermitted", "Read not permitted");
		return;
	case SIM_ATT_WRITE_NOT_PERMITTED:
		reply_error(inv, ERR "NotPermitted", "Write not permitted");
		return;
	case SIM_ATT_INVALID_OFFSET:
		reply_error(inv, ERR "InvalidArguments", "Invalid offset");
		return;
	case SIM_ATT_INVALID_VALUE_LEN:
		reply_error(inv, ERR "InvalidArguments", "Invalid Length");
		return;
	default:
		g_snprintf(msg, sizeof(msg), "Operation failed with ATT error: 0x%02x", att);
		reply_error(inv, ERR "Failed", msg);
	}
}

/* ---- GATT objects ---- */

static void chr_method(struct obj_iface *iface, const char *method, GVariant *params,
                       GDBusMethodInvocation *inv, void *user_data);
static void desc_method(struct obj_iface *iface, const char *method, GVariant *params,
                        GDBusMethodInvocation *inv, void *user_data);
static const struct obj_iface_ops chr_ops = { .method = chr_method };
static const struct obj_iface_ops desc_ops = { .method = desc_method };

static void export_chr(struct device *dev, struct gatt_chr *c, const char *service_path)
{
	char path[256];
	const struct sim_gatt_chr *def = c->def;

	g_snprintf(path, sizeof(path), "%s/char%04x", service_path, def->handle);
	c->obj = objtree_add(dev->adapter->bz->tree, path);
	c->iface = obj_add_iface(c->obj, "org.bluez.GattCharacteristic1", &chr_ops, c);
	objtree_set(c->iface, "UUID", g_variant_new_string(def->uuid), false);
	objtree_set(c->iface, "Service", g_variant_new_object_path(service_path), false);
	objtree_set(c->iface, "Value", empty_value(), false);
	if (def->props & SIM_PROP_NOTIFY)
		objtree_set(c->iface, "Notifying", g_variant_new_boolean(FALSE), false);
	objtree_set(c->iface, "Flags", sim_gatt_flags(def->props), false);
	if (def->props & SIM_PROP_WRITE_WITHOUT_RESP)
		objtree_set(c->iface, "WriteAcquired", g_variant_new_boolean(FALSE), false);
	if (def->props & SIM_PROP_NOTIFY)
		objtree_set(c->iface, "NotifyAcquired", g_variant_new_boolean(FALSE), false);
	if (dev->att_up)
		objtree_set(c->iface, "MTU", g_variant_new_uint16(ATT_MTU), false);
	obj_announce(c->obj);
	for (size_t i = 0; i < def->n_descs && i < G_N_ELEMENTS(c->desc_objs); i++) {
		char dpath[300];

		g_snprintf(dpath, sizeof(dpath), "%s/desc%04x", path, def->descs[i].handle);
		c->desc_objs[i] = objtree_add(dev->adapter->bz->tree, dpath);
		c->desc_ifaces[i] = obj_add_iface(c->desc_objs[i], "org.bluez.GattDescriptor1", &desc_ops, c);
		objtree_set(c->desc_ifaces[i], "UUID", g_variant_new_string(def->descs[i].uuid), false);
		objtree_set(c->desc_ifaces[i], "Characteristic", g_variant_new_object_path(path), false);
		objtree_set(c->desc_ifaces[i], "Value", empty_value(), false);
		obj_announce(c->desc_objs[i]);
	}
}

/* Every service but GAP (1800), which bluetoothd's gap profile claims (bluez §Objects). */
static void export_gatt(struct device *dev)
{
	size_t n;
	const struct sim_gatt_service *services = sim_gatt_services(&n);

	for (size_t s = 0; s < n; s++) {
		char path[256];
		struct obj *o;
		struct obj_iface *iface;

		if (g_str_has_prefix(services[s].uuid, "00001800-"))
			continue;
		g_snprintf(path, sizeof(path), "%s/service%04x", dev->path, services[s].handle);
		o = objtree_add(dev->adapter->bz->tree, path);
		iface = obj_add_iface(o, "org.bluez.GattService1", &desc_ops, NULL);
		objtree_set(iface, "UUID", g_variant_new_string(services[s].uuid), false);
		objtree_set(iface, "Device", g_variant_new_object_path(dev->path), false);
		objtree_set(iface, "Primary", g_variant_new_boolean(TRUE), false);
		objtree_set(iface, "Includes", g_variant_new_objv(NULL, 0), false);
		obj_announce(o);
		g_ptr_array_add(dev->service_objs, o);
		for (size_t i = 0; i < services[s].n_chrs; i++)
			export_chr(dev, &dev->chrs[services[s].chrs[i].id], path);
	}
	dev->exported = true;
}

static void chr_release_acquired(struct gatt_chr *c, bool signal)
{
	clear_source(&c->acquired_watch);
	clear_source(&c->acquired_release);
	if (c->acquired_fd < 0)
		return;
	close(c->acquired_fd);
	c->acquired_fd = -1;
	if (signal && c->iface) {
		objtree_set(c->iface, "NotifyAcquired", g_variant_new_boolean(FALSE), false);
		objtree_flush(c->iface);
	}
}

static void unexport_gatt(struct device *dev)
{
	if (!dev->exported)
		return;
	for (int id = 0; id < SIM_CHR_COUNT; id++) {
		struct gatt_chr *c = &dev->chrs[id];

		chr_release_acquired(c, false);
		for (size_t i = 0; i < G_N_ELEMENTS(c->desc_objs); i++)
			if (c->desc_objs[i])
				obj_remove(c->desc_objs[i]);
		memset(c->desc_objs, 0, sizeof(c->desc_objs));
		memset(c->desc_ifaces, 0, sizeof(c->desc_ifaces));
		if (c->obj)
			obj_remove(c->obj);
		c->obj = NULL;
		c->iface = NULL;
		g_ptr_array_set_size(c->sessions, 0);
	}
	for (guint i = 0; i < dev->service_objs->len; i++)
		obj_remove(dev->service_objs->pdata[i]);
	g_ptr_array_set_size(dev->service_objs, 0);
	dev->exported = false;
}

/* ---- devices ---- */

static void device_method(struct obj_iface *iface, const char *method, GVariant *params,
                          GDBusMethodInvocation *inv, void *user_data);
static void device_set(struct obj_iface *iface, const char *property, GVariant *value,
                       GDBusMethodInvocation *inv, void *user_data);
static const struct obj_iface_ops device_ops = { .method = device_method, .set = device_set };

static GVariant *uuid_list(bool resolved)
{
	GVariantBuilder b;
	size_t n;
	const struct sim_gatt_service *services = sim_gatt_services(&n);

	g_variant_builder_init(&b, G_VARIANT_TYPE("as"));
	if (!resolved) {
		/* What the advertisement lists (miband2-protocol §1). */
		g_variant_builder_add(&b, "s", "0000fee0-0000-1000-8000-00805f9b34fb");
		return g_variant_builder_end(&b);
	}
	for (size_t s = 0; s < n; s++)
		g_variant_builder_add(&b, "s", services[s].uuid);
	return g_variant_builder_end(&b);
}

static GVariant *service_data(struct sim_band *band)
{
	GVariantBuilder b;
	uint8_t data[4];

	sim_band_service_data(band, data);
	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&b, "{sv}", "0000fee0-0000-1000-8000-00805f9b34fb", bytes_variant(data, sizeof(data)));
	return g_variant_builder_end(&b);
}

static struct device *device_new(struct adapter *a, const char *address, bool temporary)
{
	struct device *dev = g_new0(struct device, 1);
	char *p;

	dev->adapter = a;
	g_strlcpy(dev->address, address, sizeof(dev->address));
	dev->path = g_strdup_printf("%s/dev_%s", a->path, address);
	for (p = dev->path + strlen(a->path); *p; p++)
		if (*p == ':')
			*p = '_';
	dev->att_pending = g_ptr_array_new();
	dev->temporary = temporary;
	dev->disconnects = g_ptr_array_new();
	dev->service_objs = g_ptr_array_new();
	for (int id = 0; id < SIM_CHR_COUNT; id++) {
		dev->chrs[id].dev = dev;
		dev->chrs[id].def = sim_gatt_chr(id);
		dev->chrs[id].sessions = g_ptr_array_new_with_free_func(g_free);
		dev->chrs[id].acquired_fd = -1;
	}
	dev->obj = objtree_add(a->bz->tree, dev->path);
	dev->iface = obj_add_iface(dev->obj, "org.bluez.Device1", &device_ops, dev);
	objtree_set(dev->iface, "Address", g_variant_new_string(address), false);
	objtree_set(dev->iface, "AddressType", g_variant_new_string("random"), false);
	objtree_set(dev->iface, "Name", g_variant_new_string("MI Band 2"), false);
	objtree_set(dev->iface, "Alias", g_variant_new_string("MI Band 2"), false);
	objtree_set(dev->iface, "Paired", g_variant_new_boolean(FALSE), false);
	objtree_set(dev->iface, "Bonded", g_variant_new_boolean(FALSE), false);
	objtree_set(dev->iface, "Trusted", g_variant_new_boolean(FALSE), false);
	objtree_set(dev->iface, "Blocked", g_variant_new_boolean(FALSE), false);
	objtree_set(dev->iface, "LegacyPairing", g_variant_new_boolean(FALSE), false);
	g_ptr_array_add(a->devices, dev);
	return dev;
}

/* The last part of an announcement; properties that only an advertisement gives are set by the caller. */
static void device_announce(struct device *dev)
{
	objtree_set(dev->iface, "Connected", g_variant_new_boolean(FALSE), false);
	if (!objtree_get(dev->iface, "UUIDs"))
		objtree_set(dev->iface, "UUIDs", uuid_list(false), false);
	objtree_set(dev->iface, "Adapter", g_variant_new_object_path(dev->adapter->path), false);
	objtree_set(dev->iface, "ServicesResolved", g_variant_new_boolean(FALSE), false);
	obj_announce(dev->obj);
}

static void device_cancel_all(struct device *dev)
{
	clear_source(&dev->connect_timer);
	clear_source(&dev->link_timer);
	clear_source(&dev->resolve_timer);
	clear_source(&dev->disconnect_timer);
	clear_source(&dev->connected_timer);
}

static void att_fail_pending(struct device *dev);

/* Frees the record; the caller has dealt with the link and the bus. */
static void device_free(struct device *dev)
{
	att_fail_pending(dev);
	g_ptr_array_free(dev->att_pending, TRUE);
	device_cancel_all(dev);
	g_clear_object(&dev->pending_connect);
	for (guint i = 0; i < dev->disconnects->len; i++)
		g_object_unref(dev->disconnects->pdata[i]);
	g_ptr_array_free(dev->disconnects, TRUE);
	for (int id = 0; id < SIM_CHR_COUNT; id++) {
		chr_release_acquired(&dev->chrs[id], false);
		g_ptr_array_free(dev->chrs[id].sessions, TRUE);
	}
	g_ptr_array_free(dev->service_objs, TRUE);
	g_free(dev->path);
	g_free(dev);
}

static struct device *adapter_find_device(struct adapter *a, const char *address)
{
	for (guint i = 0; i < a->devices->len; i++) {
		struct device *dev = a->devices->pdata[i];

		if (g_ascii_strcasecmp(dev->address, address) == 0)
			return dev;
	}
	return NULL;
}

static void adapter_ensure_tick(struct adapter *a);

/* bluetoothd 5.66 ends every LE link with a failed "bonding attempt" (adapter.c dev_disconnected ->
 * bonding_attempt_complete -> device_bonding_complete), which puts a device that is neither paired nor
 * trusted back to temporary: TemporaryTimeout later it is removed with its cached attributes, unless it
 * advertises to a discovery or is connected again first. Seen in the VM test's bluetoothd log
 * ("btd_device_set_temporary() temporary 1" after each disconnect of the unpaired band). */
static void device_temporary_again(struct device *dev)
{
	if (dev->paired || dev->trusted || dev->temporary)
		return;
	dev->temporary = true;
	dev->last_seen_us = g_get_monotonic_time();
	adapter_ensure_tick(dev->adapter);
}

static void device_fail_connect(struct device *dev, const char *message)
{
	GDBusMethodInvocation *inv = g_steal_pointer(&dev->pending_connect);

	dev->connect_doomed = false;
	clear_source(&dev->connect_timer);
	clear_source(&dev->link_timer);
	if (!inv)
		return;
	reply_error(inv, ERR "Failed", message);
	/* (source only) a failed connect ends in the same bonding_attempt_complete as a link's end. */
	device_temporary_again(dev);
}

/* The link is gone: the band forgets it, the ATT side stops. Properties are the caller's business. */
static void device_link_gone(struct device *dev)
{
	struct band_slot *slot = device_slot(dev);

	if (dev->att_up || dev->connected)
		device_temporary_again(dev);
	dev->att_up = false;
	att_fail_pending(dev);
	clear_source(&dev->resolve_timer);
	if (slot && slot->link == dev) {
		slot->link = NULL;
		sim_band_link_down(slot->band);
	}
	for (int id = 0; id < SIM_CHR_COUNT; id++) {
		struct gatt_chr *c = &dev->chrs[id];

		chr_release_acquired(c, true);
		if (c->iface)
			objtree_set_quiet(c->iface, "MTU", NULL);
	}
}

/* What main.conf's [GATT] Cache does once the link is down (bluez §GATT objects across disconnects). */
static void device_apply_cache_policy(struct device *dev)
{
	enum sim_gatt_cache cache = dev->adapter->bz->world->options->gatt_cache;

	if (cache == SIM_GATT_CACHE_NO || (cache == SIM_GATT_CACHE_YES && !dev->paired))
		unexport_gatt(dev);
}

static void device_reply_disconnects(struct device *dev)
{
	for (guint i = 0; i < dev->disconnects->len; i++)
		reply_ok(dev->disconnects->pdata[i]);
	g_ptr_array_set_size(dev->disconnects, 0);
}

/* The band ended the link, or it was lost: one PropertiesChanged with both properties (bluez §Disconnect). */
static void device_link_lost(struct device *dev)
{
	if (!dev->connected && !dev->att_up)
		return;
	device_link_gone(dev);
	clear_source(&dev->disconnect_timer);
	clear_source(&dev->connected_timer);
	dev->connected = dev->resolved = false;
	objtree_set(dev->iface, "Connected", g_variant_new_boolean(FALSE), false);
	objtree_set(dev->iface, "ServicesResolved", g_variant_new_boolean(FALSE), false);
	objtree_flush(dev->iface);
	device_reply_disconnects(dev);
	device_apply_cache_policy(dev);
}

static gboolean connected_false_cb(gpointer user_data)
{
	struct device *dev = user_data;

	dev->connected_timer = 0;
	dev->connected = false;
	objtree_set(dev->iface, "Connected", g_variant_new_boolean(FALSE), false);
	objtree_flush(dev->iface);
	device_apply_cache_policy(dev);
	return G_SOURCE_REMOVE;
}

/* bluetoothd's disconnect timer fired: the link goes, the callers hear, Connected=false follows. */
static gboolean disconnect_timer_cb(gpointer user_data)
{
	struct device *dev = user_data;

	dev->disconnect_timer = 0;
	device_link_gone(dev);
	device_reply_disconnects(dev);
	dev->connected_timer = g_timeout_add(g_random_int_range(80, 181), connected_false_cb, dev);
	return G_SOURCE_REMOVE;
}

static void device_disconnect(struct device *dev, GDBusMethodInvocation *inv)
{
	if (dev->pending_connect) {
		device_fail_connect(dev, "br-connection-canceled");
		reply_ok(inv);
		return;
	}
	if (!dev->connected || dev->connected_timer) {
		reply_ok(inv);
		return;
	}
	/* Kept without a reference of our own: the reply consumes the one the call came with. */
	g_ptr_array_add(dev->disconnects, inv);
	if (dev->disconnect_timer)
		return;
	/* The ATT channel is shut at once, so services stop being resolved now, and the requests on it fail. */
	dev->att_up = false;
	att_fail_pending(dev);
	clear_source(&dev->resolve_timer);
	dev->resolved = false;
	objtree_set(dev->iface, "ServicesResolved", g_variant_new_boolean(FALSE), false);
	objtree_flush(dev->iface);
	dev->disconnect_timer = g_timeout_add(DISCONNECT_TIMER_MS, disconnect_timer_cb, dev);
}

/* Services resolved: GATT objects exported (first time) or notify sessions re-armed (cached), then
 * ServicesResolved=true (bluez §Connect). */
static gboolean resolve_cb(gpointer user_data)
{
	struct device *dev = user_data;
	struct band_slot *slot = device_slot(dev);

	dev->resolve_timer = 0;
	if (!dev->exported) {
		export_gatt(dev);
		objtree_set(dev->iface, "UUIDs", uuid_list(true), false);
		objtree_flush(dev->iface);
	}
	/* The PnP ID read by bluetoothd's deviceinfo profile; the values are the model's (invented). */
	objtree_set(dev->iface, "Modalias", g_variant_new_string("bluetooth:v0157p0007d0001"), true);
	objtree_flush(dev->iface);
	for (int id = 0; id < SIM_CHR_COUNT; id++) {
		struct gatt_chr *c = &dev->chrs[id];

		if (c->sessions->len == 0)
			continue;
		if (slot)
			sim_band_set_cccd(slot->band, id, true);
		objtree_set(c->iface, "Notifying", g_variant_new_boolean(TRUE), true);
		objtree_flush(c->iface);
	}
	dev->resolved = true;
	objtree_set(dev->iface, "ServicesResolved", g_variant_new_boolean(TRUE), false);
	objtree_flush(dev->iface);
	return G_SOURCE_REMOVE;
}

static gboolean link_up_cb(gpointer user_data)
{
	struct device *dev = user_data;
	struct band_slot *slot = device_slot(dev);
	GDBusMethodInvocation *inv;

	dev->link_timer = 0;
	if (!slot || slot->link || !sim_band_advertising(slot->band))
		return G_SOURCE_REMOVE; /* it stopped advertising meanwhile: the time-out decides */
	clear_source(&dev->connect_timer);
	slot->link = dev;
	dev->connected = dev->att_up = true;
	dev->temporary = false;
	device_remember(dev);
	sim_band_link_up(slot->band);
	if (dev->adapter->bz->world->options->connected_signal) {
		objtree_set(dev->iface, "Connected", g_variant_new_boolean(TRUE), false);
		objtree_flush(dev->iface);
	} else {
		/* The ATT channel beat the kernel's connect event: true on Get, never signalled. */
		objtree_set_quiet(dev->iface, "Connected", g_variant_new_boolean(TRUE));
	}
	inv = g_steal_pointer(&dev->pending_connect);
	reply_ok(inv);
	for (int id = 0; id < SIM_CHR_COUNT; id++)
		if (dev->chrs[id].iface)
			objtree_set_quiet(dev->chrs[id].iface, "MTU", g_variant_new_uint16(ATT_MTU));
	dev->resolve_timer = g_timeout_add((dev->exported ? RESOLVE_CACHED_MS : RESOLVE_FIRST_MS) + slot->resolve_delay_ms,
	                                   resolve_cb, dev);
	return G_SOURCE_REMOVE;
}

/* A pending Connect goes ahead as soon as the band is there to answer it. */
static void device_try_link(struct device *dev)
{
	struct band_slot *slot = device_slot(dev);

	if (!dev->pending_connect || dev->link_timer || dev->connect_doomed)
		return;
	if (!slot || slot->link || !sim_band_advertising(slot->band))
		return;
	dev->link_timer = g_timeout_add(LINK_SETUP_MS, link_up_cb, dev);
}

static gboolean connect_timeout_cb(gpointer user_data)
{
	struct device *dev = user_data;

	dev->connect_timer = 0;
	device_fail_connect(dev, "le-connection-abort-by-local");
	return G_SOURCE_REMOVE;
}

static void device_connect(struct device *dev, GDBusMethodInvocation *inv)
{
	struct band_slot *slot = device_slot(dev);
	unsigned timeout = slot && slot->connect_timeout_ms ? slot->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;

	if (!dev->adapter->powered) {
		reply_error(inv, ERR "Failed", "Input/output error");
		return;
	}
	/* 5.66 dev_connect: a link that is up answers at once, also while our Disconnect's timer runs (the link
	 * goes all the same when it fires). */
	if ((dev->connected || dev->att_up) && !dev->connected_timer) {
		reply_ok(inv);
		return;
	}
	if (dev->pending_connect || dev->connected_timer) {
		reply_error(inv, ERR "Failed", "Operation already in progress");
		return;
	}
	dev->pending_connect = inv;
	dev->temporary = false; /* 5.66 dev_connect: btd_device_set_temporary(dev, false) */
	if (slot && slot->connect_fails > 0) {
		slot->connect_fails--;
		dev->connect_doomed = true;
		dev->connect_timer = g_timeout_add(CONNECT_FAULT_MS, connect_timeout_cb, dev);
		return;
	}
	dev->connect_timer = g_timeout_add(timeout, connect_timeout_cb, dev);
	device_try_link(dev);
}

static void device_pair(struct device *dev, GDBusMethodInvocation *inv)
{
	if (dev->paired) {
		reply_error(inv, ERR "AlreadyExists", "Already Exists");
		return;
	}
	dev->paired = true;
	dev->temporary = false;
	device_remember(dev);
	objtree_set(dev->iface, "Paired", g_variant_new_boolean(TRUE), false);
	objtree_set(dev->iface, "Bonded", g_variant_new_boolean(TRUE), false);
	objtree_flush(dev->iface);
	reply_ok(inv);
}

static void device_method(struct obj_iface *iface, const char *method, GVariant *params,
                          GDBusMethodInvocation *inv, void *user_data)
{
	struct device *dev = user_data;

	(void)iface, (void)params;
	if (strcmp(method, "Connect") == 0)
		device_connect(dev, inv);
	else if (strcmp(method, "Disconnect") == 0)
		device_disconnect(dev, inv);
	else if (strcmp(method, "Pair") == 0)
		device_pair(dev, inv);
	else if (strcmp(method, "CancelPairing") == 0)
		reply_error(inv, ERR "DoesNotExist", "Does Not Exist");
	else
		reply_error(inv, ERR "NotSupported", "Operation is not supported");
}

static void device_set(struct obj_iface *iface, const char *property, GVariant *value,
                       GDBusMethodInvocation *inv, void *user_data)
{
	struct device *dev = user_data;

	if (strcmp(property, "Trusted") == 0) {
		dev->trusted = g_variant_get_boolean(value);
		dev->temporary = false;
		device_remember(dev);
	}
	objtree_set(iface, property, value, false);
	objtree_flush(iface);
	reply_ok(inv);
}

/* ---- characteristics and descriptors ---- */

static bool chr_has_session(struct gatt_chr *c, const char *sender)
{
	for (guint i = 0; i < c->sessions->len; i++)
		if (strcmp(c->sessions->pdata[i], sender) == 0)
			return true;
	return false;
}

static void chr_set_cccd(struct gatt_chr *c, bool on)
{
	struct band_slot *slot = device_slot(c->dev);

	if (slot && slot->link == c->dev)
		sim_band_set_cccd(slot->band, c->def->id, on);
}

static void chr_start_notify(struct gatt_chr *c, GDBusMethodInvocation *inv)
{
	const char *sender = g_dbus_method_invocation_get_sender(inv);

	if (c->dev->disconnect_timer) {
		reply_error(inv, ERR "NotConnected", "Not Connected");
		return;
	}
	if (c->acquired_fd >= 0) {
		reply_error(inv, ERR "NotPermitted", "Notify acquired");
		return;
	}
	if (!(c->def->props & SIM_PROP_NOTIFY)) {
		reply_error(inv, ERR "NotSupported", "Operation is not supported");
		return;
	}
	if (chr_has_session(c, sender)) {
		if (c->dev->resolved)
			reply_ok(inv);
		else
			reply_error(inv, ERR "InProgress", "In Progress");
		return;
	}
	g_ptr_array_add(c->sessions, g_strdup(sender));
	/* Not connected: registered when the next connection resolves (bluez §Reads, writes, notifications). */
	if (c->dev->resolved && c->sessions->len == 1) {
		chr_set_cccd(c, true);
		objtree_set(c->iface, "Notifying", g_variant_new_boolean(TRUE), true);
		objtree_flush(c->iface);
	}
	reply_ok(inv);
}

static void chr_drop_session(struct gatt_chr *c, guint index)
{
	g_ptr_array_remove_index(c->sessions, index);
	if (c->sessions->len > 0)
		return;
	chr_set_cccd(c, false);
	objtree_set(c->iface, "Notifying", g_variant_new_boolean(FALSE), false);
	objtree_flush(c->iface);
}

static void chr_stop_notify(struct gatt_chr *c, GDBusMethodInvocation *inv)
{
	const char *sender = g_dbus_method_invocation_get_sender(inv);

	for (guint i = 0; i < c->sessions->len; i++) {
		if (strcmp(c->sessions->pdata[i], sender) == 0) {
			chr_drop_session(c, i);
			reply_ok(inv);
			return;
		}
	}
	reply_error(inv, ERR "Failed", "No notify session started");
}

static gboolean acquired_release_cb(gpointer user_data)
{
	struct gatt_chr *c = user_data;

	c->acquired_release = 0;
	chr_release_acquired(c, true);
	chr_set_cccd(c, false);
	return G_SOURCE_REMOVE;
}

static gboolean acquired_hup_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	struct gatt_chr *c = user_data;

	(void)fd, (void)condition;
	c->acquired_watch = 0;
	c->acquired_release = g_timeout_add(ACQUIRE_RELEASE_MS, acquired_release_cb, c);
	return G_SOURCE_REMOVE;
}

static void chr_acquire_notify(struct gatt_chr *c, GDBusMethodInvocation *inv)
{
	g_autoptr(GUnixFDList) fds = NULL;
	int sv[2];

	if (!c->dev->att_up) {
		reply_error(inv, ERR "Failed", "Not connected");
		return;
	}
	if (!(c->def->props & SIM_PROP_NOTIFY)) {
		reply_error(inv, ERR "NotSupported", "Operation is not supported");
		return;
	}
	if (c->acquired_fd >= 0) {
		reply_error(inv, ERR "NotPermitted", "Notify acquired");
		return;
	}
	if (c->sessions->len > 0) {
		reply_error(inv, ERR "InProgress", "In Progress");
		return;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
		reply_error(inv, ERR "Failed", g_strerror(errno));
		return;
	}
	c->acquired_fd = sv[0];
	fds = g_unix_fd_list_new_from_array(&sv[1], 1);
	c->acquired_watch = g_unix_fd_add(sv[0], G_IO_HUP | G_IO_ERR, acquired_hup_cb, c);
	chr_set_cccd(c, true);
	objtree_set(c->iface, "NotifyAcquired", g_variant_new_boolean(TRUE), false);
	objtree_flush(c->iface);
	g_dbus_method_invocation_return_value_with_unix_fd_list(inv, g_variant_new("(hq)", 0, ATT_MTU), fds);
}

/* Options of ReadValue/WriteValue: "offset" q and "type" s are checked, the rest ignored (5.66 parse_options). */
static bool parse_options(GVariant *options, guint16 *ret_offset, const char **ret_type)
{
	g_autoptr(GVariant) offset = g_variant_lookup_value(options, "offset", NULL);
	g_autoptr(GVariant) type = g_variant_lookup_value(options, "type", NULL);

	*ret_offset = 0;
	*ret_type = NULL;
	if ((offset && !g_variant_is_of_type(offset, G_VARIANT_TYPE_UINT16)) ||
	    (type && !g_variant_is_of_type(type, G_VARIANT_TYPE_STRING)))
		return false;
	if (offset)
		*ret_offset = g_variant_get_uint16(offset);
	/* Borrowed from options, which outlives the call. */
	if (type)
		g_variant_lookup(options, "type", "&s", ret_type);
	return true;
}

/* A read or a Write Request answered after its slot's att-delay-ms, as an ATT round trip takes its time on a
 * real link (about 27 ms between the VM's controllers); a request the link outlives not is failed as 5.66
 * fails it (gatt-client.c create_gatt_dbus_error: no ATT error code, "Operation failed"). */
struct att_reply {
	struct gatt_chr *c;
	GDBusMethodInvocation *inv;
	GBytes *value;   /* a read's whole value, cached whole; the reply is from offset on */
	guint16 offset;
	GBytes *write;   /* a Write Request's value: it reaches the band when answered, so a Write Command sent
	                  * after it overtakes it, as bluetoothd sends queued commands first (shared/att.c) */
	guint timer;
};

static void att_reply_free(struct att_reply *r)
{
	clear_source(&r->timer);
	if (r->value)
		g_bytes_unref(r->value);
	if (r->write)
		g_bytes_unref(r->write);
	g_free(r);
}

static void att_reply_send(struct gatt_chr *c, GDBusMethodInvocation *inv, GBytes *value, guint16 offset)
{
	gsize len = 0;
	const uint8_t *data = g_bytes_get_data(value, &len);

	/* The cache is updated, and signalled, before the reply, even when nothing changed. */
	objtree_set(c->iface, "Value", bytes_variant(data, len), true);
	objtree_flush(c->iface);
	g_dbus_method_invocation_return_value(inv, g_variant_new("(@ay)", bytes_variant(data + offset, len - offset)));
}

static gboolean att_reply_cb(gpointer user_data)
{
	struct att_reply *r = user_data;

	r->timer = 0;
	g_ptr_array_remove(r->c->dev->att_pending, r);
	if (r->write) {
		struct band_slot *slot = device_slot(r->c->dev);
		gsize len;
		const uint8_t *v = g_bytes_get_data(r->write, &len);
		int att = slot ? sim_band_write(slot->band, r->c->def->id, v, len, true) : SIM_ATT_OK;

		if (att != SIM_ATT_OK)
			reply_att_error(r->inv, att);
		else
			reply_ok(r->inv);
	} else {
		att_reply_send(r->c, r->inv, r->value, r->offset);
	}
	att_reply_free(r);
	return G_SOURCE_REMOVE;
}

/* Queued for the slot's att-delay-ms; the caller fills in the read's value or the write's. */
static struct att_reply *att_defer(struct gatt_chr *c, GDBusMethodInvocation *inv)
{
	struct att_reply *r = g_new0(struct att_reply, 1);

	r->c = c;
	r->inv = inv;
	r->timer = g_timeout_add(device_slot(c->dev)->att_delay_ms, att_reply_cb, r);
	g_ptr_array_add(c->dev->att_pending, r);
	return r;
}

static void att_answer(struct gatt_chr *c, GDBusMethodInvocation *inv, GBytes *value, guint16 offset)
{
	struct band_slot *slot = device_slot(c->dev);
	struct att_reply *r;

	if (!slot || !slot->att_delay_ms) {
		att_reply_send(c, inv, value, offset);
		return;
	}
	r = att_defer(c, inv);
	r->value = g_bytes_ref(value);
	r->offset = offset;
}

GVariant *sim_bluez_att_pending(const struct band_slot *slot)
{
	const struct device *dev = slot->link;
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE_STRING_ARRAY);
	for (guint i = 0; dev && i < dev->att_pending->len; i++) {
		const struct att_reply *r = dev->att_pending->pdata[i];

		g_variant_builder_add(&b, "s", r->c->def->uuid);
	}
	return g_variant_builder_end(&b);
}

static void att_fail_pending(struct device *dev)
{
	for (guint i = 0; i < dev->att_pending->len; i++) {
		struct att_reply *r = dev->att_pending->pdata[i];

		reply_error(r->inv, ERR "Failed", "Operation failed");
		att_reply_free(r);
	}
	g_ptr_array_set_size(dev->att_pending, 0);
}

static void chr_read(struct gatt_chr *c, GVariant *params, GDBusMethodInvocation *inv)
{
	g_autoptr(GVariant) options = NULL;
	g_autoptr(GByteArray) value = g_byte_array_new();
	g_autoptr(GBytes) answer = NULL;
	struct band_slot *slot = device_slot(c->dev);
	const char *type;
	guint16 offset;
	int att;

	g_variant_get(params, "(@a{sv})", &options);
	if (!c->dev->att_up || !slot) {
		reply_error(inv, ERR "Failed", "Not connected");
		return;
	}
	if (!parse_options(options, &offset, &type)) {
		reply_error(inv, ERR "InvalidArguments", "Invalid arguments in method call");
		return;
	}
	att = sim_band_read(slot->band, c->def->id, value);
	if (att == SIM_ATT_OK && offset > value->len)
		att = SIM_ATT_INVALID_OFFSET;
	if (att != SIM_ATT_OK) {
		reply_att_error(inv, att);
		return;
	}
	answer = g_bytes_new(value->data, value->len);
	att_answer(c, inv, answer, offset);
}

/* The choice of write procedure of 5.66's characteristic_write_value(). */
static void chr_write(struct gatt_chr *c, GVariant *params, GDBusMethodInvocation *inv)
{
	g_autoptr(GVariant) options = NULL;
	g_autoptr(GVariant) bytes = NULL;
	struct band_slot *slot = device_slot(c->dev);
	const uint8_t *value;
	const char *type;
	gsize len;
	guint16 offset;
	int att;

	g_variant_get(params, "(@ay@a{sv})", &bytes, &options);
	value = g_variant_get_fixed_array(bytes, &len, 1);
	if (!c->dev->att_up || !slot) {
		reply_error(inv, ERR "Failed", "Not connected");
		return;
	}
	if (!parse_options(options, &offset, &type)) {
		reply_error(inv, ERR "InvalidArguments", "Invalid arguments in method call");
		return;
	}
	if ((!type && (c->def->props & SIM_PROP_WRITE)) || (type && (g_ascii_strcasecmp(type, "request") == 0 ||
	                                                             g_ascii_strcasecmp(type, "reliable") == 0))) {
		if (slot->att_delay_ms && !offset) {
			att_defer(c, inv)->write = g_bytes_new(value, len);
			return;
		}
		att = offset ? SIM_ATT_INVALID_OFFSET : sim_band_write(slot->band, c->def->id, value, len, true);
		if (att != SIM_ATT_OK)
			reply_att_error(inv, att);
		else
			reply_ok(inv);
		return;
	}
	if ((type && g_ascii_strcasecmp(type, "command") != 0) || offset ||
	    (!type && !(c->def->props & SIM_PROP_WRITE_WITHOUT_RESP))) {
		if (type && g_ascii_strcasecmp(type, "command") == 0)
			reply_error(inv, ERR "Failed", "Failed to initiate write");
		else
			reply_error(inv, ERR "NotSupported", "Operation is not supported");
		return;
	}
	if (len > ATT_MTU - 3) {
		reply_error(inv, ERR "Failed", "Failed to initiate write");
		return;
	}
	/* A Write Command has no response: whatever the band thinks of it, the caller hears success. */
	sim_band_write(slot->band, c->def->id, value, len, false);
	reply_ok(inv);
}

static void chr_method(struct obj_iface *iface, const char *method, GVariant *params,
                       GDBusMethodInvocation *inv, void *user_data)
{
	struct gatt_chr *c = user_data;

	(void)iface;
	if (strcmp(method, "ReadValue") == 0)
		chr_read(c, params, inv);
	else if (strcmp(method, "WriteValue") == 0)
		chr_write(c, params, inv);
	else if (strcmp(method, "StartNotify") == 0)
		chr_start_notify(c, inv);
	else if (strcmp(method, "StopNotify") == 0)
		chr_stop_notify(c, inv);
	else if (strcmp(method, "AcquireNotify") == 0)
		chr_acquire_notify(c, inv);
	else
		reply_error(inv, ERR "NotSupported", "Operation is not supported");
}

/* Descriptors: the CCCD is bluetoothd's own business (StartNotify writes it); 2901 is read-only text. */
static void desc_method(struct obj_iface *iface, const char *method, GVariant *params,
                        GDBusMethodInvocation *inv, void *user_data)
{
	struct gatt_chr *c = user_data;
	const char *uuid;
	uint8_t cccd[2] = { 0, 0 };
	static const char user_desc[] = "New Alert"; /* invented: no source quotes the band's 2901 text */
	GVariant *value;

	if (!c) {
		reply_error(inv, ERR "NotSupported", "Operation is not supported");
		return;
	}
	(void)params;
	uuid = g_variant_get_string(objtree_get(iface, "UUID"), NULL);
	if (!c->dev->att_up) {
		reply_error(inv, ERR "Failed", "Not connected");
		return;
	}
	if (strcmp(method, "WriteValue") == 0) {
		reply_error(inv, ERR "NotPermitted", "Write not permitted");
		return;
	}
	if (g_str_has_prefix(uuid, "00002902-")) {
		cccd[0] = sim_band_cccd(device_slot(c->dev)->band, c->def->id) ? 1 : 0;
		value = bytes_variant(cccd, sizeof(cccd));
	} else {
		value = bytes_variant((const uint8_t *)user_desc, strlen(user_desc));
	}
	objtree_set(iface, "Value", value, true);
	objtree_flush(iface);
	g_dbus_method_invocation_return_value(inv, g_variant_new("(@ay)", objtree_get(iface, "Value")));
}

/* ---- adapters and discovery ---- */

static void adapter_stop_scanning(struct adapter *a);

/* A client's filter, as 5.66's SetDiscoveryFilter type-checks it. NULL filter: everything passes. */
static const char *filter_key_type(const char *key)
{
	static const char *const types[][2] = {
		{ "UUIDs", "as" }, { "RSSI", "n" }, { "Pathloss", "q" }, { "Transport", "s" },
		{ "DuplicateData", "b" }, { "Discoverable", "b" }, { "Pattern", "s" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
		if (strcmp(key, types[i][0]) == 0)
			return types[i][1];
	return NULL;
}

static bool filter_valid(GVariant *filter)
{
	GVariantIter it;
	const char *key, *transport;
	GVariant *v;
	gint16 rssi;
	guint16 pathloss;

	g_variant_iter_init(&it, filter);
	while (g_variant_iter_next(&it, "{&sv}", &key, &v)) {
		const char *type = filter_key_type(key);
		bool ok = type && g_variant_is_of_type(v, G_VARIANT_TYPE(type));

		g_variant_unref(v);
		if (!ok)
			return false;
	}
	if (g_variant_lookup(filter, "Transport", "&s", &transport) &&
	    !g_strv_contains((const char *const[]){ "auto", "bredr", "le", NULL }, transport))
		return false;
	return !(g_variant_lookup(filter, "RSSI", "n", &rssi) && g_variant_lookup(filter, "Pathloss", "q", &pathloss));
}

static bool uuid_is_fee0(const char *uuid)
{
	return g_ascii_strcasecmp(uuid, "fee0") == 0 || g_ascii_strcasecmp(uuid, "0000fee0") == 0 ||
	       g_ascii_strcasecmp(uuid, "0000fee0-0000-1000-8000-00805f9b34fb") == 0;
}

static bool filter_accepts(GVariant *filter, struct sim_band *band)
{
	g_autofree const char **uuids = NULL;
	const char *transport, *pattern;
	gint16 rssi;

	if (!filter)
		return true;
	if (g_variant_lookup(filter, "UUIDs", "^a&s", &uuids) && uuids[0]) {
		bool found = false;

		for (size_t i = 0; uuids[i]; i++)
			found |= uuid_is_fee0(uuids[i]);
		if (!found)
			return false;
	}
	if (g_variant_lookup(filter, "RSSI", "n", &rssi) && sim_band_rssi(band) < rssi)
		return false;
	if (g_variant_lookup(filter, "Transport", "&s", &transport) && strcmp(transport, "bredr") == 0)
		return false;
	if (g_variant_lookup(filter, "Pattern", "&s", &pattern) && *pattern &&
	    !g_str_has_prefix(sim_band_address(band), pattern) && !g_str_has_prefix("MI Band 2", pattern))
		return false;
	return true;
}

static bool adapter_wants(struct adapter *a, struct sim_band *band)
{
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, a->clients);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		struct disc_client *cl = value;

		if (cl->active && filter_accepts(cl->filter, band))
			return true;
	}
	return false;
}

/* One advertising report of band on adapter a. */
static void adapter_report(struct adapter *a, struct band_slot *slot)
{
	struct sim_band *band = slot->band;
	struct device *dev = adapter_find_device(a, sim_band_address(band));
	GVariant *old_rssi;
	gint16 rssi = sim_band_rssi(band);

	if (!sim_band_advertising(band) || !adapter_wants(a, band))
		return;
	if (!dev) {
		dev = device_new(a, sim_band_address(band), true);
		objtree_set(dev->iface, "RSSI", g_variant_new_int16(rssi), false);
		objtree_set(dev->iface, "ServiceData", service_data(band), false);
		dev->last_seen_us = g_get_monotonic_time();
		device_announce(dev);
		return;
	}
	dev->last_seen_us = g_get_monotonic_time();
	old_rssi = objtree_get(dev->iface, "RSSI");
	if (!old_rssi || ABS(g_variant_get_int16(old_rssi) - rssi) >= RSSI_THRESHOLD)
		objtree_set(dev->iface, "RSSI", g_variant_new_int16(rssi), false);
	objtree_set(dev->iface, "ServiceData", service_data(band), false);
	objtree_flush(dev->iface);
}

static void adapter_report_all(struct adapter *a)
{
	GPtrArray *slots = a->bz->world->slots;

	for (guint i = 0; i < slots->len; i++)
		adapter_report(a, slots->pdata[i]);
}

static void device_remove(struct device *dev)
{
	struct band_slot *slot = device_slot(dev);

	if (slot && slot->link == dev)
		device_link_lost(dev);
	device_fail_connect(dev, "br-connection-canceled");
	unexport_gatt(dev);
	obj_remove(dev->obj);
	g_ptr_array_remove(dev->adapter->devices, dev);
	device_free(dev);
}

/* Removed with its storage, as 5.66 removes a device (RemoveDevice, a temporary one's expiry): a restart of
 * bluetoothd does not bring it back. */
static void device_forget(struct device *dev)
{
	char key[64];

	remember_key(dev, key, sizeof(key));
	g_hash_table_remove(dev->adapter->bz->world->remembered, key);
	device_remove(dev);
}

/* Temporary devices go TemporaryTimeout after their last advertisement (bluez §Objects). */
static void adapter_expire(struct adapter *a)
{
	int64_t now = g_get_monotonic_time();

	for (guint i = a->devices->len; i-- > 0;) {
		struct device *dev = a->devices->pdata[i];

		if (dev->temporary && !dev->connected && !dev->pending_connect &&
		    now - dev->last_seen_us >= (int64_t)a->bz->world->options->temporary_timeout_s * G_USEC_PER_SEC)
			device_forget(dev);
	}
}

static bool adapter_has_temporary(struct adapter *a)
{
	for (guint i = 0; i < a->devices->len; i++)
		if (((struct device *)a->devices->pdata[i])->temporary)
			return true;
	return false;
}

static gboolean adapter_tick(gpointer user_data)
{
	struct adapter *a = user_data;

	if (a->discovering)
		adapter_report_all(a);
	adapter_expire(a);
	if (a->discovering || adapter_has_temporary(a))
		return G_SOURCE_CONTINUE;
	a->tick = 0;
	return G_SOURCE_REMOVE;
}

static void adapter_ensure_tick(struct adapter *a)
{
	if (!a->tick)
		a->tick = g_timeout_add(ADVERT_TICK_MS, adapter_tick, a);
}

static gboolean first_report_cb(gpointer user_data)
{
	struct adapter *a = user_data;

	a->first_report = 0;
	adapter_report_all(a);
	return G_SOURCE_REMOVE;
}

static gboolean discovering_cb(gpointer user_data)
{
	struct adapter *a = user_data;

	a->discovering_timer = 0;
	a->discovering = true;
	objtree_set(a->iface, "Discovering", g_variant_new_boolean(TRUE), false);
	objtree_flush(a->iface);
	a->first_report = g_timeout_add(ADVERT_FIRST_MS, first_report_cb, a);
	adapter_ensure_tick(a);
	return G_SOURCE_REMOVE;
}

static bool adapter_any_active(struct adapter *a)
{
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, a->clients);
	while (g_hash_table_iter_next(&it, NULL, &value))
		if (((struct disc_client *)value)->active)
			return true;
	return false;
}

static struct disc_client *adapter_client(struct adapter *a, const char *sender, bool create)
{
	struct disc_client *cl = g_hash_table_lookup(a->clients, sender);

	if (!cl && create) {
		cl = g_new0(struct disc_client, 1);
		g_hash_table_insert(a->clients, g_strdup(sender), cl);
	}
	return cl;
}

static void disc_client_free(gpointer p)
{
	struct disc_client *cl = p;

	if (cl->filter)
		g_variant_unref(cl->filter);
	g_free(cl);
}

static void adapter_start_discovery(struct adapter *a, GDBusMethodInvocation *inv)
{
	struct disc_client *cl;

	if (!a->powered) {
		reply_error(inv, ERR "NotReady", "Resource Not Ready");
		return;
	}
	if (a->discovery_busy > 0) {
		/* What a client meets while the controller is busy (just powered, another scan being torn down). */
		a->discovery_busy--;
		reply_error(inv, ERR "InProgress", "Operation already in progress");
		return;
	}
	cl = adapter_client(a, g_dbus_method_invocation_get_sender(inv), true);
	if (cl->active) {
		reply_error(inv, ERR "InProgress", "Operation already in progress");
		return;
	}
	cl->active = true;
	reply_ok(inv);
	if (a->discovering) {
		adapter_report_all(a);
		return;
	}
	if (!a->discovering_timer)
		a->discovering_timer = g_timeout_add(DISCOVERING_DELAY_MS, discovering_cb, a);
}

/* RSSI exists only while discovering (bluez §Objects): 5.66's discovery_cleanup() drops it. */
static void invalidate_rssi(struct adapter *a)
{
	for (guint i = 0; i < a->devices->len; i++) {
		struct device *dev = a->devices->pdata[i];

		if (objtree_get(dev->iface, "RSSI")) {
			objtree_set(dev->iface, "RSSI", NULL, false);
			objtree_flush(dev->iface);
		}
	}
}

/* The last session is gone: RSSI is invalidated on the devices, then Discovering=false (bluez §Discovery). */
static void adapter_stop_scanning(struct adapter *a)
{
	clear_source(&a->discovering_timer);
	clear_source(&a->first_report);
	if (!a->discovering)
		return;
	a->discovering = false;
	invalidate_rssi(a);
	objtree_set(a->iface, "Discovering", g_variant_new_boolean(FALSE), false);
	objtree_flush(a->iface);
	adapter_ensure_tick(a);
}

static void adapter_drop_session(struct adapter *a, const char *sender)
{
	struct disc_client *cl = adapter_client(a, sender, false);

	if (!cl)
		return;
	cl->active = false;
	if (!cl->filter)
		g_hash_table_remove(a->clients, sender);
	if (!adapter_any_active(a))
		adapter_stop_scanning(a);
}

static void adapter_stop_discovery(struct adapter *a, GDBusMethodInvocation *inv)
{
	const char *sender = g_dbus_method_invocation_get_sender(inv);
	struct disc_client *cl = adapter_client(a, sender, false);

	if (!a->powered) {
		reply_error(inv, ERR "NotReady", "Resource Not Ready");
		return;
	}
	if (!cl || !cl->active) {
		reply_error(inv, ERR "Failed", "No discovery started");
		return;
	}
	reply_ok(inv);
	adapter_drop_session(a, sender);
}

static void adapter_set_filter(struct adapter *a, GVariant *params, GDBusMethodInvocation *inv)
{
	g_autoptr(GVariant) filter = NULL;
	struct disc_client *cl;

	g_variant_get(params, "(@a{sv})", &filter);
	/* 5.66 set_discovery_filter: btd_adapter_get_powered first (seen in the VM test, during a power-cycle). */
	if (!a->powered) {
		reply_error(inv, ERR "NotReady", "Resource Not Ready");
		return;
	}
	if (!filter_valid(filter)) {
		reply_error(inv, ERR "InvalidArguments", "Invalid arguments in method call");
		return;
	}
	cl = adapter_client(a, g_dbus_method_invocation_get_sender(inv), true);
	if (cl->filter)
		g_variant_unref(cl->filter);
	cl->filter = g_variant_n_children(filter) ? g_variant_ref(filter) : NULL;
	reply_ok(inv);
}

static void adapter_remove_device(struct adapter *a, GVariant *params, GDBusMethodInvocation *inv)
{
	const char *path;

	g_variant_get(params, "(&o)", &path);
	for (guint i = 0; i < a->devices->len; i++) {
		struct device *dev = a->devices->pdata[i];

		if (strcmp(dev->path, path) != 0)
			continue;
		device_forget(dev);
		reply_ok(inv);
		return;
	}
	reply_error(inv, ERR "DoesNotExist", "Does Not Exist");
}

static void adapter_method(struct obj_iface *iface, const char *method, GVariant *params,
                           GDBusMethodInvocation *inv, void *user_data)
{
	struct adapter *a = user_data;
	const char *filters[] = { "UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable",
	                          "Pattern", NULL };

	(void)iface;
	if (strcmp(method, "StartDiscovery") == 0)
		adapter_start_discovery(a, inv);
	else if (strcmp(method, "StopDiscovery") == 0)
		adapter_stop_discovery(a, inv);
	else if (strcmp(method, "SetDiscoveryFilter") == 0)
		adapter_set_filter(a, params, inv);
	else if (strcmp(method, "RemoveDevice") == 0)
		adapter_remove_device(a, params, inv);
	else
		g_dbus_method_invocation_return_value(inv, g_variant_new("(^as)", filters));
}

/* Power off (bluez §Power and restarts): each link drops in one signal, [the Set reply], then
 * Powered=false with Discovering=false in one signal. Discovery sessions end. */
static void adapter_power_off(struct adapter *a, GDBusMethodInvocation *inv)
{
	for (guint i = 0; i < a->devices->len; i++) {
		struct device *dev = a->devices->pdata[i];

		device_fail_connect(dev, "Input/output error");
		device_link_lost(dev);
	}
	if (inv)
		reply_ok(inv);
	g_hash_table_remove_all(a->clients);
	clear_source(&a->discovering_timer);
	clear_source(&a->first_report);
	if (a->discovering)
		invalidate_rssi(a); /* discovery ends with the power, and its RSSI with it */
	a->powered = false;
	objtree_set(a->iface, "Powered", g_variant_new_boolean(FALSE), false);
	if (a->discovering) {
		a->discovering = false;
		objtree_set(a->iface, "Discovering", g_variant_new_boolean(FALSE), false);
	}
	objtree_flush(a->iface);
}

static void adapter_set_powered(struct adapter *a, bool powered, GDBusMethodInvocation *inv)
{
	if (powered == a->powered) {
		if (inv)
			reply_ok(inv);
		return;
	}
	if (!powered) {
		adapter_power_off(a, inv);
		return;
	}
	if (inv && a->power_on_fails > 0) {
		/* What bluetoothd answers when the controller refuses to power up (a mgmt command failing). */
		a->power_on_fails--;
		reply_error(inv, ERR "Failed", "Failed");
		return;
	}
	if (inv)
		reply_ok(inv);
	a->powered = true;
	objtree_set(a->iface, "Powered", g_variant_new_boolean(TRUE), false);
	objtree_flush(a->iface);
}

static void adapter_set(struct obj_iface *iface, const char *property, GVariant *value,
                        GDBusMethodInvocation *inv, void *user_data)
{
	struct adapter *a = user_data;

	if (strcmp(property, "Powered") == 0) {
		adapter_set_powered(a, g_variant_get_boolean(value), inv);
		return;
	}
	objtree_set(iface, property, value, false);
	objtree_flush(iface);
	reply_ok(inv);
}

static void unsupported_method(struct obj_iface *iface, const char *method, GVariant *params,
                               GDBusMethodInvocation *inv, void *user_data)
{
	(void)iface, (void)method, (void)params, (void)user_data;
	reply_error(inv, ERR "NotSupported", "Operation is not supported");
}

static const struct obj_iface_ops adapter_ops = { .method = adapter_method, .set = adapter_set };
static const struct obj_iface_ops unsupported_ops = { .method = unsupported_method };

static GVariant *strv(const char *const *v)
{
	return g_variant_new_strv(v, -1);
}

static void adapter_add_managers(struct adapter *a)
{
	struct obj_iface *adv = obj_add_iface(a->obj, "org.bluez.LEAdvertisingManager1", &unsupported_ops, a);

	obj_add_iface(a->obj, "org.bluez.GattManager1", &unsupported_ops, a);
	objtree_set(adv, "ActiveInstances", g_variant_new_byte(0), false);
	objtree_set(adv, "SupportedInstances", g_variant_new_byte(5), false);
	objtree_set(adv, "SupportedIncludes", strv((const char *[]){ "tx-power", "appearance", "local-name", NULL }),
	            false);
	objtree_set(adv, "SupportedSecondaryChannels", strv((const char *[]){ "1M", "2M", "Coded", NULL }), false);
	obj_add_iface(a->obj, "org.bluez.Media1", &unsupported_ops, a);
	obj_add_iface(a->obj, "org.bluez.NetworkServer1", &unsupported_ops, a);
}

static struct adapter *adapter_new(struct sim_bluez *bz, unsigned index)
{
	struct adapter *a = g_new0(struct adapter, 1);
	const char *uuids[] = { "00001801-0000-1000-8000-00805f9b34fb", "00001800-0000-1000-8000-00805f9b34fb",
	                        "0000180a-0000-1000-8000-00805f9b34fb", "0000110e-0000-1000-8000-00805f9b34fb",
	                        "0000110c-0000-1000-8000-00805f9b34fb", "00001200-0000-1000-8000-00805f9b34fb",
	                        NULL };

	a->bz = bz;
	g_snprintf(a->name, sizeof(a->name), "hci%u", index);
	a->path = g_strdup_printf("/org/bluez/%s", a->name);
	/* A Raspberry Pi's OUI; the last byte tells the adapters apart. */
	g_snprintf(a->address, sizeof(a->address), "DC:A6:32:00:00:%02X", index + 1);
	a->powered = true;
	a->clients = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, disc_client_free);
	a->devices = g_ptr_array_new();
	a->obj = objtree_add(bz->tree, a->path);
	a->iface = obj_add_iface(a->obj, "org.bluez.Adapter1", &adapter_ops, a);
	objtree_set(a->iface, "Address", g_variant_new_string(a->address), false);
	objtree_set(a->iface, "AddressType", g_variant_new_string("public"), false);
	objtree_set(a->iface, "Name", g_variant_new_string("raspberrypi"), false);
	objtree_set(a->iface, "Alias", g_variant_new_string("raspberrypi"), false);
	objtree_set(a->iface, "Class", g_variant_new_uint32(0x6c0000), false);
	objtree_set(a->iface, "Powered", g_variant_new_boolean(TRUE), false);
	objtree_set(a->iface, "Discoverable", g_variant_new_boolean(FALSE), false);
	objtree_set(a->iface, "DiscoverableTimeout", g_variant_new_uint32(180), false);
	objtree_set(a->iface, "Pairable", g_variant_new_boolean(FALSE), false);
	objtree_set(a->iface, "PairableTimeout", g_variant_new_uint32(0), false);
	objtree_set(a->iface, "Discovering", g_variant_new_boolean(FALSE), false);
	objtree_set(a->iface, "UUIDs", strv(uuids), false);
	objtree_set(a->iface, "Modalias", g_variant_new_string("usb:v1D6Bp0246d0542"), false);
	objtree_set(a->iface, "Roles", strv((const char *[]){ "central", "peripheral", NULL }), false);
	adapter_add_managers(a);
	obj_announce(a->obj);
	return a;
}

/* Devices bluetoothd keeps on disk come back with it: connected, paired or trusted ones (bluez §Power). */
static void adapter_restore(struct adapter *a)
{
	GHashTableIter it;
	gpointer key, value;
	size_t prefix = strlen(a->name) + 1;

	g_hash_table_iter_init(&it, a->bz->world->remembered);
	while (g_hash_table_iter_next(&it, &key, &value)) {
		struct device *dev;
		guint flags = GPOINTER_TO_UINT(value);

		if (strncmp(key, a->name, prefix - 1) != 0 || ((char *)key)[prefix - 1] != '/')
			continue;
		dev = device_new(a, (char *)key + prefix, false);
		dev->paired = flags & REMEMBER_PAIRED;
		dev->trusted = flags & REMEMBER_TRUSTED;
		objtree_set(dev->iface, "Paired", g_variant_new_boolean(dev->paired), false);
		objtree_set(dev->iface, "Bonded", g_variant_new_boolean(dev->paired), false);
		objtree_set(dev->iface, "Trusted", g_variant_new_boolean(dev->trusted), false);
		device_announce(dev);
	}
}

static void adapter_free(struct adapter *a)
{
	while (a->devices->len > 0) {
		struct device *dev = a->devices->pdata[0];
		struct band_slot *slot = device_slot(dev);

		if (slot && slot->link == dev) {
			slot->link = NULL;
			sim_band_link_down(slot->band);
		}
		g_ptr_array_remove_index(a->devices, 0);
		device_free(dev);
	}
	clear_source(&a->discovering_timer);
	clear_source(&a->first_report);
	clear_source(&a->tick);
	g_ptr_array_free(a->devices, TRUE);
	g_hash_table_destroy(a->clients);
	g_free(a->path);
	g_free(a);
}

/* ---- clients leaving the bus lose their sessions ---- */

static void client_gone(struct sim_bluez *bz, const char *name)
{
	for (guint i = 0; i < bz->adapters->len; i++) {
		struct adapter *a = bz->adapters->pdata[i];

		adapter_drop_session(a, name);
		g_hash_table_remove(a->clients, name);
		for (guint d = 0; d < a->devices->len; d++) {
			struct device *dev = a->devices->pdata[d];

			for (int id = 0; id < SIM_CHR_COUNT; id++)
				for (guint s = dev->chrs[id].sessions->len; s-- > 0;)
					if (strcmp(dev->chrs[id].sessions->pdata[s], name) == 0)
						chr_drop_session(&dev->chrs[id], s);
		}
	}
}

static void name_owner_changed(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                               const char *signal, GVariant *params, gpointer user_data)
{
	const char *name, *old_owner, *new_owner;

	(void)c, (void)sender, (void)path, (void)iface, (void)signal;
	g_variant_get(params, "(&s&s&s)", &name, &old_owner, &new_owner);
	if (name[0] == ':' && *new_owner == '\0')
		client_gone(user_data, name);
}

/* ---- the daemon ---- */

static void root_method(struct obj_iface *iface, const char *method, GVariant *params,
                        GDBusMethodInvocation *inv, void *user_data)
{
	(void)iface, (void)params, (void)user_data;
	/* Agents and profiles are accepted and never used: the band needs no BlueZ pairing. */
	if (g_str_has_suffix(method, "Agent") || g_str_has_suffix(method, "Profile"))
		reply_ok(inv);
	else
		reply_error(inv, ERR "NotSupported", "Operation is not supported");
}

static const struct obj_iface_ops root_ops = { .method = root_method };

struct sim_bluez *sim_bluez_new(struct sim_world *world, GDBusConnection *connection)
{
	struct sim_bluez *bz = g_new0(struct sim_bluez, 1);

	bz->world = world;
	bz->connection = g_object_ref(connection);
	bz->tree = objtree_new(connection, bluez_xml);
	bz->root = objtree_add(bz->tree, "/org/bluez");
	obj_add_iface(bz->root, "org.bluez.AgentManager1", &root_ops, bz);
	obj_add_iface(bz->root, "org.bluez.ProfileManager1", &root_ops, bz);
	obj_announce(bz->root);
	bz->adapters = g_ptr_array_new();
	bz->owner_watch = g_dbus_connection_signal_subscribe(connection, "org.freedesktop.DBus",
	                                                     "org.freedesktop.DBus", "NameOwnerChanged",
	                                                     "/org/freedesktop/DBus", NULL, G_DBUS_SIGNAL_FLAGS_NONE,
	                                                     name_owner_changed, bz, NULL);
	return bz;
}

void sim_bluez_add_adapters(struct sim_bluez *bz)
{
	for (unsigned i = 0; i < bz->world->options->n_adapters; i++) {
		struct adapter *a = adapter_new(bz, i);

		g_ptr_array_add(bz->adapters, a);
		adapter_restore(a);
	}
}

void sim_bluez_free(struct sim_bluez *bz, bool clean)
{
	if (!bz)
		return;
	for (guint i = 0; i < bz->adapters->len; i++) {
		struct adapter *a = bz->adapters->pdata[i];

		if (clean) {
			adapter_set_powered(a, false, NULL);
			for (guint d = a->devices->len; d-- > 0;) {
				struct device *dev = a->devices->pdata[d];

				unexport_gatt(dev);
				obj_remove(dev->obj);
				dev->obj = NULL;
			}
			obj_remove(a->obj);
		}
		adapter_free(a);
	}
	if (clean)
		obj_remove(bz->root);
	g_ptr_array_free(bz->adapters, TRUE);
	g_dbus_connection_signal_unsubscribe(bz->connection, bz->owner_watch);
	objtree_free(bz->tree);
	g_object_unref(bz->connection);
	g_free(bz);
}

GDBusConnection *sim_bluez_connection(struct sim_bluez *bz)
{
	return bz->connection;
}

/* ---- from the bands ---- */

void sim_bluez_band_notify(struct sim_bluez *bz, struct band_slot *slot, enum sim_chr chr,
                           const uint8_t *value, size_t len)
{
	struct device *dev = slot->link;
	struct gatt_chr *c;

	(void)bz;
	if (!dev || !dev->att_up)
		return;
	c = &dev->chrs[chr];
	if (!c->iface)
		return;
	if (c->acquired_fd >= 0) {
		/* One datagram per notification and no Value signal (bluez §Reads, writes, notifications). */
		if (send(c->acquired_fd, value, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			g_debug("notify socket: %s", g_strerror(errno));
		return;
	}
	objtree_set_quiet(c->iface, "Value", bytes_variant(value, len));
	/* Every notify session gets its own PropertiesChanged. */
	for (guint i = 0; i < c->sessions->len; i++)
		objtree_emit_value(c->iface, "Value", bytes_variant(value, len));
}

void sim_bluez_band_dropped(struct sim_bluez *bz, struct band_slot *slot)
{
	struct device *dev = slot->link;

	(void)bz;
	if (dev)
		device_link_lost(dev);
}

void sim_bluez_band_advert_changed(struct sim_bluez *bz, struct band_slot *slot)
{
	for (guint i = 0; i < bz->adapters->len; i++) {
		struct adapter *a = bz->adapters->pdata[i];
		struct device *dev = adapter_find_device(a, sim_band_address(slot->band));

		if (a->discovering)
			adapter_report(a, slot);
		if (dev)
			device_try_link(dev);
	}
}

void sim_bluez_band_removed(struct sim_bluez *bz, struct band_slot *slot)
{
	if (slot->link)
		device_link_lost(slot->link);
	(void)bz;
}

static struct adapter *adapter_named(struct sim_bluez *bz, const char *name)
{
	for (guint i = 0; i < bz->adapters->len; i++) {
		struct adapter *a = bz->adapters->pdata[i];

		if (strcmp(a->name, name) == 0)
			return a;
	}
	return NULL;
}

bool sim_bluez_set_fault(struct sim_bluez *bz, const char *adapter, const char *fault, unsigned count)
{
	struct adapter *a = adapter_named(bz, adapter);

	if (!a)
		return false;
	if (strcmp(fault, "start-discovery-busy") == 0)
		a->discovery_busy = count;
	else if (strcmp(fault, "power-on-fails") == 0)
		a->power_on_fails = count;
	else
		return false;
	return true;
}

bool sim_bluez_set_powered(struct sim_bluez *bz, const char *adapter, bool powered)
{
	struct adapter *a = adapter_named(bz, adapter);

	if (a)
		adapter_set_powered(a, powered, NULL);
	return a != NULL;
}
