/* bandgate-periph: the second front of the band model. It serves one simulated Mi Band 2 through a REAL
 * bluetoothd, as a GATT application and an advertisement on one of its adapters, so that a central on
 * another adapter (the real bandgate, in the VM test) meets the band over a real LE link.
 *
 * What bluetoothd does itself, and so the front does not (vm-notes.md, "A second run"): it serves its own
 * GAP (1800) and GATT (1801) services, so the model's are left out and the device name comes from the
 * adapter's Alias; it adds the 2902 descriptors and turns the central's CCCD writes into StartNotify and
 * StopNotify; it chooses the handles; it does not say whether a write was a request or a command.
 *
 * The link: bluetoothd often sends no Connected=true (bluez-5.66.md, Connect), so any GATT request, a
 * ServicesResolved=true or a Connected=true of a device under our adapter brings the model's link up, and
 * Connected=false of such a device (or the adapter's power going) takes it down. When the model ends the
 * link it asks bluetoothd to disconnect every connected device of the adapter.
 *
 * Tests script the world through io.bandgate.Sim1 (control.c, the same contract as bandgate-sim's) on the
 * same bus. Here it serves one band, named by the adapter's address; SetAdapterPowered on our adapter
 * powers the real controller off or on. AddBand, RemoveBand, Restart and SetAdapterFault are refused. */
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bandgate-version.h"
#include "objtree.h"
#include "sim.h"

#define BLUEZ "org.bluez"
#define ERR "org.bluez.Error."
#define APP_ROOT "/"
#define APP_BASE "/io/bandgate/periph"
#define ADVERT_PATH APP_BASE "/advert"
#define FEE0_SHORT "fee0"
#define CALL_TIMEOUT_MS 25000

enum { EXIT_USAGE = 2 };

static const char app_xml[] =
	"<node>"
	"<interface name='org.bluez.GattService1'>"
	" <property name='UUID' type='s' access='read'/><property name='Primary' type='b' access='read'/>"
	"</interface>"
	"<interface name='org.bluez.GattCharacteristic1'>"
	" <method name='ReadValue'><arg type='a{sv}' direction='in'/><arg type='ay' direction='out'/></method>"
	" <method name='WriteValue'><arg type='ay' direction='in'/><arg type='a{sv}' direction='in'/></method>"
	" <method name='StartNotify'/><method name='StopNotify'/>"
	" <property name='UUID' type='s' access='read'/><property name='Service' type='o' access='read'/>"
	" <property name='Flags' type='as' access='read'/><property name='Notifying' type='b' access='read'/>"
	" <property name='Value' type='ay' access='read'/>"
	"</interface>"
	"<interface name='org.bluez.LEAdvertisement1'>"
	" <method name='Release'/>"
	" <property name='Type' type='s' access='read'/><property name='ServiceUUIDs' type='as' access='read'/>"
	" <property name='ServiceData' type='a{sv}' access='read'/><property name='LocalName' type='s' access='read'/>"
	"</interface>"
	"</node>";

/* The one band this front serves, its GATT objects and its advertisement. Named sim_bluez because
 * control.c reaches "the BlueZ-facing front" through world->bluez; here that front is a real bluetoothd. */
struct periph_chr {
	struct sim_bluez *front;
	enum sim_chr id;
	struct obj_iface *iface;
};

struct sim_bluez {
	struct sim_world *world;
	struct band_slot *slot;
	GDBusConnection *bus;
	char *adapter;            /* "hci1" */
	char *adapter_path;       /* "/org/bluez/hci1" */
	char *device_prefix;      /* "/org/bluez/hci1/dev_" */
	struct objtree *tree;
	struct periph_chr chrs[SIM_CHR_COUNT]; /* iface NULL: not served (GAP, GATT) */
	struct obj_iface *advert;
	bool advert_registered, advert_pending, app_registered;
	bool advert_stale;        /* the model's service data moved since the advertisement's was set */
	bool dropping;            /* the model ended the link; bluetoothd has not said Connected=false yet */
	guint signal_ids[2];
	GCancellable *cancellable;
};

static struct sim_options opts = {
	.n_bands = 1,
	.n_adapters = 1,
	.history_days = 7,
	.seed = 1,
	.auto_tap_ms = -1,
	.fetch_cap = 1440,
	.steps_format = 13,
	.gatt_cache = SIM_GATT_CACHE_ALWAYS,
	.connected_signal = true,
};

static int exit_status; /* of main(): 1 once the band could not be served */

/* ---- what control.c asks of the world ---- */

struct band_slot *sim_world_add_band(struct sim_world *world, const struct sim_band_config *cfg)
{
	(void)world, (void)cfg;
	return NULL; /* one band per controller: control.c answers InvalidArgs */
}

void sim_world_remove_band(struct sim_world *world, struct band_slot *slot)
{
	(void)world, (void)slot;
	g_warning("RemoveBand is not supported by bandgate-periph; the band stays");
}

struct band_slot *sim_world_find(struct sim_world *world, const char *address)
{
	struct band_slot *slot = world->slots->len ? world->slots->pdata[0] : NULL;

	return slot && g_ascii_strcasecmp(sim_band_address(slot->band), address) == 0 ? slot : NULL;
}

void sim_world_restart(struct sim_world *world, bool clean, unsigned down_ms)
{
	(void)world, (void)clean, (void)down_ms;
	g_warning("Restart is not supported by bandgate-periph: bluetoothd is real here");
}

bool sim_bluez_set_fault(struct sim_bluez *front, const char *adapter, const char *fault, unsigned count)
{
	(void)front, (void)adapter, (void)fault, (void)count;
	return false;
}

GVariant *sim_bluez_att_pending(const struct band_slot *slot)
{
	(void)slot;
	return g_variant_new_strv(NULL, 0); /* bluetoothd answers the ATT requests here: no att-delay-ms */
}

static void call_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
	const char *what = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

	if (!reply && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		g_warning("%s: %s", what, error->message);
}

static void bluez_call(struct sim_bluez *front, const char *path, const char *iface, const char *method,
                       GVariant *params, GAsyncReadyCallback callback, gpointer user_data)
{
	g_dbus_connection_call(front->bus, BLUEZ, path, iface, method, params, NULL, G_DBUS_CALL_FLAGS_NONE,
	                       CALL_TIMEOUT_MS, front->cancellable, callback, user_data);
}

/* The controller's power, as rfkill or a brown-out would switch it: our adapter only. */
bool sim_bluez_set_powered(struct sim_bluez *front, const char *adapter, bool powered)
{
	if (strcmp(adapter, front->adapter) != 0)
		return false;
	bluez_call(front, front->adapter_path, "org.freedesktop.DBus.Properties", "Set",
	           g_variant_new("(ssv)", "org.bluez.Adapter1", "Powered", g_variant_new_boolean(powered)),
	           call_done, (gpointer)"Set Powered");
	return true;
}

/* ---- the advertisement: "MI Band 2" with FEE0 and its service data, while the model advertises ----
 *
 * The data is only ever set while the advertisement is not registered, and a change while it is registered
 * withdraws it and registers it again. bluetoothd 5.66 aborts (a freed client's name in a D-Bus call, from
 * add_adv_params_callback) when an advertisement's PropertiesChanged is followed by its
 * UnregisterAdvertisement before the refresh's two mgmt commands are answered: a band that counted a step
 * and was connected to a moment later did that in the VM test. A registration, by contrast, is answered only
 * once its mgmt commands are, and one call is in flight at a time. */

static void advert_data_update(struct sim_bluez *front)
{
	uint8_t data[4];
	GVariantBuilder b;

	sim_band_service_data(front->slot->band, data); /* invented by the model, see band.h */
	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&b, "{sv}", FEE0_SHORT, g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data, 4, 1));
	objtree_set_quiet(front->advert, "ServiceData", g_variant_builder_end(&b));
	front->advert_stale = false;
}

static bool advert_data_moved(struct sim_bluez *front)
{
	uint8_t data[4];
	GVariant *now = objtree_get(front->advert, "ServiceData");
	g_autoptr(GVariant) bytes = now ? g_variant_lookup_value(now, FEE0_SHORT, G_VARIANT_TYPE_BYTESTRING) : NULL;
	gsize len = 0;
	const void *old = bytes ? g_variant_get_fixed_array(bytes, &len, 1) : NULL;

	sim_band_service_data(front->slot->band, data);
	return len != sizeof(data) || memcmp(old, data, sizeof(data)) != 0;
}

static void advert_sync(struct sim_bluez *front);

static void advert_registered(GObject *source, GAsyncResult *res, gpointer user_data)
{
	struct sim_bluez *front = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	front->advert_pending = false;
	if (reply)
		front->advert_registered = true;
	else
		g_warning("RegisterAdvertisement: %s", error->message);
	advert_sync(front);
}

static void advert_unregistered(GObject *source, GAsyncResult *res, gpointer user_data)
{
	struct sim_bluez *front = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	front->advert_pending = false;
	front->advert_registered = false;
	advert_sync(front);
}

/* One call in flight at a time; whatever the model wants when it ends is done next. */
static void advert_sync(struct sim_bluez *front)
{
	bool wanted = sim_band_advertising(front->slot->band);

	if (front->advert_pending || (wanted == front->advert_registered && !(wanted && front->advert_stale)))
		return;
	front->advert_pending = true;
	wanted = wanted && !front->advert_registered; /* registered and stale: withdraw it first */
	if (wanted) {
		advert_data_update(front);
		bluez_call(front, front->adapter_path, "org.bluez.LEAdvertisingManager1", "RegisterAdvertisement",
		           g_variant_new("(oa{sv})", ADVERT_PATH, NULL), advert_registered, front);
	} else {
		bluez_call(front, front->adapter_path, "org.bluez.LEAdvertisingManager1", "UnregisterAdvertisement",
		           g_variant_new("(o)", ADVERT_PATH), advert_unregistered, front);
	}
	g_debug("advertising %s", wanted ? "on" : "off");
}

/* bluetoothd drops its advertising instances when the controller powers off: register again. */
static void advert_forget(struct sim_bluez *front)
{
	if (front->advert_registered && !front->advert_pending) {
		front->advert_pending = true;
		bluez_call(front, front->adapter_path, "org.bluez.LEAdvertisingManager1", "UnregisterAdvertisement",
		           g_variant_new("(o)", ADVERT_PATH), advert_unregistered, front);
	}
}

static void advert_method(struct obj_iface *iface, const char *method, GVariant *params,
                          GDBusMethodInvocation *inv, void *user_data)
{
	struct sim_bluez *front = user_data;

	(void)iface, (void)method, (void)params;
	front->advert_registered = false; /* Release: bluetoothd dropped it */
	g_dbus_method_invocation_return_value(inv, NULL);
	advert_sync(front);
}

static const struct obj_iface_ops advert_ops = { .method = advert_method };

static void advert_add(struct sim_bluez *front)
{
	struct obj *obj = objtree_add(front->tree, ADVERT_PATH);
	const char *uuids[] = { FEE0_SHORT, NULL };

	front->advert = obj_add_iface(obj, "org.bluez.LEAdvertisement1", &advert_ops, front);
	objtree_set(front->advert, "Type", g_variant_new_string("peripheral"), false);
	objtree_set(front->advert, "ServiceUUIDs", g_variant_new_strv(uuids, -1), false);
	objtree_set(front->advert, "LocalName", g_variant_new_string("MI Band 2"), false);
	advert_data_update(front);
	obj_announce(obj);
}

/* ---- the link ---- */

static void link_up(struct sim_bluez *front, const char *why)
{
	if (sim_band_connected(front->slot->band) || front->dropping)
		return;
	g_debug("link up (%s)", why);
	sim_band_link_up(front->slot->band);
}

static void link_down(struct sim_bluez *front, const char *why)
{
	front->dropping = false;
	if (!sim_band_connected(front->slot->band))
		return;
	g_debug("link down (%s)", why);
	sim_band_link_down(front->slot->band);
}

/* A device of our adapter: the peer appears under both adapters (vm-notes pitfall 8). */
static bool our_device(struct sim_bluez *front, const char *path)
{
	return g_str_has_prefix(path, front->device_prefix) && !strchr(path + strlen(front->device_prefix), '/');
}

static void disconnect_all(GObject *source, GAsyncResult *res, gpointer user_data)
{
	struct sim_bluez *front = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	g_autoptr(GVariantIter) objects = NULL;
	const char *path;
	GVariant *ifaces;
	bool any = false;

	if (!reply) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_warning("GetManagedObjects: %s", error->message);
		front->dropping = false;
		return;
	}
	g_variant_get(reply, "(a{oa{sa{sv}}})", &objects);
	while (g_variant_iter_loop(objects, "{&o@a{sa{sv}}}", &path, &ifaces)) {
		g_autoptr(GVariant) dev = g_variant_lookup_value(ifaces, "org.bluez.Device1", NULL);
		gboolean connected = FALSE;

		if (dev && our_device(front, path) && g_variant_lookup(dev, "Connected", "b", &connected) && connected) {
			bluez_call(front, path, "org.bluez.Device1", "Disconnect", NULL, call_done, (gpointer)"Disconnect");
			any = true;
		}
	}
	if (!any)
		front->dropping = false;
}

/* The model ended the link (auth timeout, reboot, out of range, a scripted drop): end it for real. Until
 * bluetoothd says Connected=false (its disconnect timer takes about 2 s) the link is still there, and the
 * central's requests on it must not bring the model's link back up. */
static void front_drop_link(struct sim_bluez *front)
{
	front->dropping = true;
	g_dbus_connection_call(front->bus, BLUEZ, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL,
	                       G_VARIANT_TYPE("(a{oa{sa{sv}}})"), G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS,
	                       front->cancellable, disconnect_all, front);
}

static void device_props(struct sim_bluez *front, const char *path, GVariant *props)
{
	gboolean b;

	if (g_variant_lookup(props, "Connected", "b", &b) && !b)
		link_down(front, path);
	else if ((g_variant_lookup(props, "Connected", "b", &b) && b) ||
	         (g_variant_lookup(props, "ServicesResolved", "b", &b) && b))
		link_up(front, path);
}

static void adapter_props(struct sim_bluez *front, GVariant *props)
{
	gboolean powered;

	if (!g_variant_lookup(props, "Powered", "b", &powered))
		return;
	g_debug("adapter %s powered %s", front->adapter, powered ? "on" : "off");
	if (!powered)
		link_down(front, "adapter off");
	else
		advert_forget(front);
}

static void bluez_signal(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                         const char *member, GVariant *params, gpointer user_data)
{
	struct sim_bluez *front = user_data;
	const char *name, *obj_path;
	g_autoptr(GVariant) props = NULL;
	g_autoptr(GVariant) ifaces = NULL;

	(void)c, (void)sender, (void)iface;
	if (strcmp(member, "PropertiesChanged") == 0) {
		g_variant_get(params, "(&s@a{sv}@as)", &name, &props, NULL);
		if (strcmp(name, "org.bluez.Device1") == 0 && our_device(front, path))
			device_props(front, path, props);
		else if (strcmp(name, "org.bluez.Adapter1") == 0 && strcmp(path, front->adapter_path) == 0)
			adapter_props(front, props);
	} else if (strcmp(member, "InterfacesAdded") == 0) {
		g_variant_get(params, "(&o@a{sa{sv}})", &obj_path, &ifaces);
		props = g_variant_lookup_value(ifaces, "org.bluez.Device1", NULL);
		if (props && our_device(front, obj_path))
			device_props(front, obj_path, props);
	}
}

/* ---- the GATT application ---- */

static void return_att_error(GDBusMethodInvocation *inv, int att)
{
	switch (att) {
	case SIM_ATT_READ_NOT_PERMITTED:
	case SIM_ATT_WRITE_NOT_PERMITTED:
		g_dbus_method_invocation_return_dbus_error(inv, ERR "NotPermitted", "Not permitted");
		break;
	case SIM_ATT_INVALID_OFFSET:
		g_dbus_method_invocation_return_dbus_error(inv, ERR "InvalidOffset", "Invalid offset");
		break;
	case SIM_ATT_INVALID_VALUE_LEN:
		g_dbus_method_invocation_return_dbus_error(inv, ERR "InvalidValueLength", "Invalid value length");
		break;
	default:
		g_dbus_method_invocation_return_dbus_error(inv, ERR "Failed", "Failed");
		break;
	}
}

/* Every request comes over a link: the first one after a silent connect brings the model's link up. */
static void request_link(struct sim_bluez *front, GVariant *options)
{
	const char *device = NULL;

	if (options)
		g_variant_lookup(options, "device", "&o", &device);
	link_up(front, device ? device : "a GATT request");
}

static void chr_read(struct periph_chr *pc, GVariant *params, GDBusMethodInvocation *inv)
{
	g_autoptr(GVariant) options = g_variant_get_child_value(params, 0);
	g_autoptr(GByteArray) value = g_byte_array_new();
	guint16 offset = 0;
	int att;

	request_link(pc->front, options);
	g_variant_lookup(options, "offset", "q", &offset);
	att = sim_band_read(pc->front->slot->band, pc->id, value);
	if (att == SIM_ATT_OK && offset > value->len)
		att = SIM_ATT_INVALID_OFFSET;
	if (att != SIM_ATT_OK) {
		return_att_error(inv, att);
		return;
	}
	g_dbus_method_invocation_return_value(inv, g_variant_new("(@ay)", g_variant_new_fixed_array(
		G_VARIANT_TYPE_BYTE, value->data + offset, value->len - offset, 1)));
}

/* bluetoothd 5.66 passes no "type" to an application: taken as the procedure the characteristic's Flags call
 * for (a Write Request where it has "write"), since the model refuses a Write Request without it. */
static void chr_write(struct periph_chr *pc, GVariant *params, GDBusMethodInvocation *inv)
{
	g_autoptr(GVariant) value = g_variant_get_child_value(params, 0);
	g_autoptr(GVariant) options = g_variant_get_child_value(params, 1);
	bool with_response = sim_gatt_takes_request(pc->id);
	const char *type = NULL;
	guint16 offset = 0;
	gsize len;
	const uint8_t *bytes = g_variant_get_fixed_array(value, &len, 1);
	int att;

	request_link(pc->front, options);
	if (g_variant_lookup(options, "type", "&s", &type))
		with_response = strcmp(type, "command") != 0;
	g_variant_lookup(options, "offset", "q", &offset);
	att = offset ? SIM_ATT_INVALID_OFFSET : sim_band_write(pc->front->slot->band, pc->id, bytes, len, with_response);
	if (att != SIM_ATT_OK) {
		return_att_error(inv, att);
		return;
	}
	g_dbus_method_invocation_return_value(inv, NULL);
}

/* StopNotify also comes after a disconnect, when bluetoothd clears the departed client's CCCDs: only
 * StartNotify says a link is up. */
static void chr_notify(struct periph_chr *pc, bool on, GDBusMethodInvocation *inv)
{
	if (on)
		request_link(pc->front, NULL);
	sim_band_set_cccd(pc->front->slot->band, pc->id, on);
	objtree_set(pc->iface, "Notifying", g_variant_new_boolean(on), false);
	objtree_flush(pc->iface);
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void chr_method(struct obj_iface *iface, const char *method, GVariant *params, GDBusMethodInvocation *inv,
                       void *user_data)
{
	struct periph_chr *pc = user_data;

	(void)iface;
	g_debug("%s %s", method, sim_gatt_chr(pc->id)->uuid);
	if (strcmp(method, "ReadValue") == 0)
		chr_read(pc, params, inv);
	else if (strcmp(method, "WriteValue") == 0)
		chr_write(pc, params, inv);
	else if (strcmp(method, "StartNotify") == 0 || strcmp(method, "StopNotify") == 0)
		chr_notify(pc, strcmp(method, "StartNotify") == 0, inv);
	else
		g_dbus_method_invocation_return_dbus_error(inv, ERR "NotSupported", "Not supported");
}

static const struct obj_iface_ops chr_ops = { .method = chr_method };

static void service_method(struct obj_iface *iface, const char *method, GVariant *params,
                           GDBusMethodInvocation *inv, void *user_data)
{
	(void)iface, (void)method, (void)params, (void)user_data;
	g_dbus_method_invocation_return_dbus_error(inv, ERR "NotSupported", "Not supported");
}

static const struct obj_iface_ops service_ops = { .method = service_method };

/* bluetoothd serves GAP and GATT itself (and would refuse or duplicate them). */
static bool served_by_bluetoothd(const struct sim_gatt_service *svc)
{
	return g_str_has_prefix(svc->uuid, "00001800-") || g_str_has_prefix(svc->uuid, "00001801-");
}

/* The model's descriptors are not exported: bluetoothd makes every 2902 itself, and the one 2901 (after
 * 2A46) is read by nobody. */
static void service_add(struct sim_bluez *front, const struct sim_gatt_service *svc)
{
	g_autofree char *path = g_strdup_printf(APP_BASE "/service%04x", svc->handle);
	struct obj *obj = objtree_add(front->tree, path);
	struct obj_iface *iface = obj_add_iface(obj, "org.bluez.GattService1", &service_ops, NULL);

	objtree_set(iface, "UUID", g_variant_new_string(svc->uuid), false);
	objtree_set(iface, "Primary", g_variant_new_boolean(TRUE), false);
	obj_announce(obj);
	for (size_t i = 0; i < svc->n_chrs; i++) {
		const struct sim_gatt_chr *def = &svc->chrs[i];
		g_autofree char *cpath = g_strdup_printf("%s/char%04x", path, def->handle);
		struct periph_chr *pc = &front->chrs[def->id];

		obj = objtree_add(front->tree, cpath);
		pc->front = front;
		pc->id = def->id;
		pc->iface = obj_add_iface(obj, "org.bluez.GattCharacteristic1", &chr_ops, pc);
		objtree_set(pc->iface, "UUID", g_variant_new_string(def->uuid), false);
		objtree_set(pc->iface, "Service", g_variant_new_object_path(path), false);
		objtree_set(pc->iface, "Flags", sim_gatt_flags(def->props), false);
		if (def->props & SIM_PROP_NOTIFY)
			objtree_set(pc->iface, "Notifying", g_variant_new_boolean(FALSE), false);
		obj_announce(obj);
	}
}

static void app_add(struct sim_bluez *front)
{
	size_t n;
	const struct sim_gatt_service *svcs = sim_gatt_services(&n);

	for (size_t i = 0; i < n; i++)
		if (!served_by_bluetoothd(&svcs[i]))
			service_add(front, &svcs[i]);
}

/* ---- the model's side ---- */

static void band_notify(struct sim_band *band, enum sim_chr chr, const uint8_t *value, size_t len, void *user_data)
{
	struct band_slot *slot = user_data;
	struct sim_bluez *front = slot->world->bluez;

	(void)band;
	if (!front || !front->chrs[chr].iface)
		return;
	/* bluetoothd sends a notification (or an indication) for each Value change of a notifying characteristic. */
	objtree_emit_value(front->chrs[chr].iface, "Value",
	                   g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, value, len, 1));
}

static void band_drop_link(struct sim_band *band, void *user_data)
{
	struct band_slot *slot = user_data;

	(void)band;
	if (slot->world->bluez)
		front_drop_link(slot->world->bluez);
}

static void band_advert_changed(struct sim_band *band, void *user_data)
{
	struct band_slot *slot = user_data;

	(void)band;
	if (!slot->world->bluez)
		return;
	if (advert_data_moved(slot->world->bluez))
		slot->world->bluez->advert_stale = true; /* withdrawn and registered again if it is up, or on its way */
	advert_sync(slot->world->bluez);
}

static void band_event(struct sim_band *band, const char *what, const char *detail, void *user_data)
{
	struct band_slot *slot = user_data;

	g_debug("band %s: %s %s", sim_band_address(band), what, detail ? detail : "");
	sim_control_band_event(slot->world, band, what, detail);
}

static const struct sim_band_ops band_ops = {
	.notify = band_notify,
	.drop_link = band_drop_link,
	.advert_changed = band_advert_changed,
	.event = band_event,
};

/* ---- start and stop ---- */

static GVariant *adapter_get(GDBusConnection *bus, const char *path, const char *property, GError **error)
{
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(bus, BLUEZ, path, "org.freedesktop.DBus.Properties",
	                                                        "Get", g_variant_new("(ss)", "org.bluez.Adapter1", property),
	                                                        G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE,
	                                                        CALL_TIMEOUT_MS, NULL, error);
	GVariant *v = NULL;

	if (reply)
		g_variant_get(reply, "(v)", &v);
	return v;
}

static bool adapter_set(GDBusConnection *bus, const char *path, const char *property, GVariant *value, GError **error)
{
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(bus, BLUEZ, path, "org.freedesktop.DBus.Properties",
	                                                        "Set", g_variant_new("(ssv)", "org.bluez.Adapter1",
	                                                                             property, value),
	                                                        NULL, G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL,
	                                                        error);
	return reply != NULL;
}

/* The adapter powered, named like the band (GAP's device name is the adapter's Alias), and its address
 * for the model: the band is known by the controller's address, fixed by btvirt. */
static bool adapter_prepare(struct sim_bluez *front, char ret_address[18], GError **error)
{
	g_autoptr(GVariant) address = NULL;

	if (!adapter_set(front->bus, front->adapter_path, "Alias", g_variant_new_string("MI Band 2"), error) ||
	    !adapter_set(front->bus, front->adapter_path, "Powered", g_variant_new_boolean(TRUE), error))
		return false;
	address = adapter_get(front->bus, front->adapter_path, "Address", error);
	if (!address)
		return false;
	g_strlcpy(ret_address, g_variant_get_string(address, NULL), 18);
	return true;
}

/* bluetoothd asks for our objects (GetManagedObjects) before it answers: the loop must run meanwhile. */
static void app_registered(GObject *source, GAsyncResult *res, gpointer user_data)
{
	struct sim_bluez *front = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	if (!reply) {
		fprintf(stderr, "bandgate-periph: RegisterApplication on %s: %s\n", front->adapter, error->message);
		exit_status = 1;
		g_main_loop_quit(front->world->loop);
		return;
	}
	front->app_registered = true;
	advert_sync(front);
	sim_control_start(front->world);
	printf("band %s\nready\n", sim_band_address(front->slot->band));
	fflush(stdout);
}

static void app_register(struct sim_bluez *front)
{
	bluez_call(front, front->adapter_path, "org.bluez.GattManager1", "RegisterApplication",
	           g_variant_new("(oa{sv})", APP_ROOT, NULL), app_registered, front);
}

static void front_subscribe(struct sim_bluez *front)
{
	front->signal_ids[0] = g_dbus_connection_signal_subscribe(front->bus, BLUEZ, "org.freedesktop.DBus.Properties",
	                                                          "PropertiesChanged", NULL, NULL,
	                                                          G_DBUS_SIGNAL_FLAGS_NONE, bluez_signal, front, NULL);
	front->signal_ids[1] = g_dbus_connection_signal_subscribe(front->bus, BLUEZ,
	                                                          "org.freedesktop.DBus.ObjectManager",
	                                                          "InterfacesAdded", "/", NULL,
	                                                          G_DBUS_SIGNAL_FLAGS_NONE, bluez_signal, front, NULL);
}

static struct sim_bluez *front_new(struct sim_world *world, const char *adapter, const struct sim_band_config *base,
                                   GError **error)
{
	struct sim_bluez *front = g_new0(struct sim_bluez, 1);
	struct sim_band_config cfg = *base;

	front->world = world;
	front->adapter = g_strdup(adapter);
	front->adapter_path = g_strdup_printf("/org/bluez/%s", adapter);
	front->device_prefix = g_strdup_printf("/org/bluez/%s/dev_", adapter);
	front->cancellable = g_cancellable_new();
	front->bus = g_dbus_connection_new_for_address_sync(world->options->bus_address,
	                                                    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
	                                                    G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL,
	                                                    error);
	if (!front->bus || !adapter_prepare(front, cfg.address, error))
		return front;
	g_dbus_connection_set_exit_on_close(front->bus, FALSE);
	front->slot = g_new0(struct band_slot, 1);
	front->slot->world = world;
	front->slot->band = sim_band_new(&cfg, &band_ops, front->slot);
	g_ptr_array_add(world->slots, front->slot);
	world->bluez = front;
	front_subscribe(front);
	front->tree = objtree_new(front->bus, app_xml);
	app_add(front);
	advert_add(front);
	app_register(front);
	return front;
}

static void front_free(struct sim_bluez *front)
{
	g_cancellable_cancel(front->cancellable);
	if (front->bus) {
		for (size_t i = 0; i < G_N_ELEMENTS(front->signal_ids); i++)
			if (front->signal_ids[i])
				g_dbus_connection_signal_unsubscribe(front->bus, front->signal_ids[i]);
		/* Best effort, so that a second run on the same bluetoothd starts clean. */
		if (front->advert_registered)
			g_dbus_connection_call_sync(front->bus, BLUEZ, front->adapter_path, "org.bluez.LEAdvertisingManager1",
			                            "UnregisterAdvertisement", g_variant_new("(o)", ADVERT_PATH), NULL,
			                            G_DBUS_CALL_FLAGS_NONE, 2000, NULL, NULL);
		if (front->app_registered)
			g_dbus_connection_call_sync(front->bus, BLUEZ, front->adapter_path, "org.bluez.GattManager1",
			                            "UnregisterApplication", g_variant_new("(o)", APP_ROOT), NULL,
			                            G_DBUS_CALL_FLAGS_NONE, 2000, NULL, NULL);
	}
	objtree_free(front->tree);
	if (front->slot) {
		sim_band_free(front->slot->band);
		g_free(front->slot);
	}
	g_clear_object(&front->bus);
	g_object_unref(front->cancellable);
	g_free(front->adapter);
	g_free(front->adapter_path);
	g_free(front->device_prefix);
	g_free(front);
}

/* ---- options ---- */

static char *opt_adapter;
static char *opt_key;
static gint opt_days = 7, opt_seed = 1, opt_fetch_cap = 1440;
static double opt_auto_tap = -1;
static gboolean opt_version;

static const GOptionEntry entries[] = {
	{ "adapter", 0, 0, G_OPTION_ARG_STRING, &opt_adapter, "The adapter to serve the band on (default hci0)", "hciN" },
	{ "bus", 0, 0, G_OPTION_ARG_STRING, &opts.bus_address,
	  "D-Bus address of bluetoothd's bus (default: $DBUS_SYSTEM_BUS_ADDRESS, else the system bus)", "ADDRESS" },
	{ "key", 0, 0, G_OPTION_ARG_STRING, &opt_key,
	  "Key the band holds: 32 hex digits or none (default the legacy key 0123456789@ABCDE)", "HEX" },
	{ "days", 0, 0, G_OPTION_ARG_INT, &opt_days, "Days of generated history (default 7)", "D" },
	{ "seed", 0, 0, G_OPTION_ARG_INT, &opt_seed, "Seed of everything random (default 1)", "S" },
	{ "auto-tap", 0, 0, G_OPTION_ARG_DOUBLE, &opt_auto_tap,
	  "The wearer taps this many seconds after a new key arrives (default: only when told)", "SECONDS" },
	{ "fetch-cap", 0, 0, G_OPTION_ARG_INT, &opt_fetch_cap, "History samples per round (default 1440)", "N" },
	{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &opts.verbose, "Log every event", NULL },
	{ "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version", NULL },
	{ NULL }
};

static bool parse_key(const char *text, struct sim_band_config *cfg)
{
	if (g_ascii_strcasecmp(text, "none") == 0) {
		cfg->has_key = false;
		return true;
	}
	if (strlen(text) != 32)
		return false;
	for (int i = 0; i < 16; i++) {
		int hi = g_ascii_xdigit_value(text[2 * i]), lo = g_ascii_xdigit_value(text[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		cfg->key[i] = (uint8_t)(hi << 4 | lo);
	}
	cfg->has_key = true;
	return true;
}

static bool parse_options(int *argc, char ***argv, struct sim_band_config *cfg, GError **error)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new("- one Mi Band 2 served through a real bluetoothd");

	g_option_context_set_summary(ctx, "Registers the band's GATT application and advertisement on the adapter, and\n"
	                                  "io.bandgate.Sim for tests. Prints 'band ADDRESS', then 'ready'.");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, argc, argv, error))
		return false;
	if (*argc > 1 || opt_days < 0 || opt_days > 400 || opt_fetch_cap < 1 || opt_auto_tap > 3600 ||
	    (opt_key && !parse_key(opt_key, cfg))) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "bad argument or value");
		return false;
	}
	opts.history_days = cfg->history_days = (unsigned)opt_days;
	opts.seed = cfg->seed = (uint32_t)opt_seed;
	opts.fetch_cap = cfg->fetch_cap = (unsigned)opt_fetch_cap;
	opts.auto_tap_ms = cfg->auto_tap_ms = opt_auto_tap < 0 ? -1 : (int)(opt_auto_tap * 1000);
	if (!opts.bus_address)
		opts.bus_address = g_strdup(g_getenv("DBUS_SYSTEM_BUS_ADDRESS"));
	if (!opts.bus_address)
		opts.bus_address = g_strdup("unix:path=/run/dbus/system_bus_socket");
	return true;
}

static gboolean quit_cb(gpointer user_data)
{
	g_main_loop_quit(user_data);
	return G_SOURCE_REMOVE;
}

int main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	struct sim_world world = { .options = &opts };
	struct sim_band_config cfg;
	struct sim_bluez *front;

	sim_band_config_init(&cfg);
	if (!parse_options(&argc, &argv, &cfg, &error)) {
		fprintf(stderr, "bandgate-periph: %s (see --help)\n", error->message);
		return EXIT_USAGE;
	}
	if (opt_version) {
		printf("bandgate-periph %s\n", BANDGATE_VERSION);
		return 0;
	}
	if (opts.verbose)
		g_log_set_debug_enabled(TRUE);
	world.slots = g_ptr_array_new();
	world.loop = g_main_loop_new(NULL, FALSE);
	front = front_new(&world, opt_adapter ? opt_adapter : "hci0", &cfg, &error);
	if (error) {
		fprintf(stderr, "bandgate-periph: cannot serve the band on %s: %s\n", front->adapter, error->message);
		exit_status = 1;
	} else {
		g_unix_signal_add(SIGINT, quit_cb, world.loop);
		g_unix_signal_add(SIGTERM, quit_cb, world.loop);
		g_main_loop_run(world.loop);
	}
	world.bluez = NULL;
	front_free(front);
	g_clear_object(&world.control);
	g_ptr_array_free(world.slots, TRUE);
	g_main_loop_unref(world.loop);
	g_free(opts.bus_address);
	g_free(opt_adapter);
	g_free(opt_key);
	return exit_status;
}
