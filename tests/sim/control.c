/* io.bandgate.Sim1: how tests script the world (see io.bandgate.Sim1.xml for the contract). It lives on its
 * own connection so that it stays reachable while the fake bluetoothd restarts. */
#include <string.h>

#include "sim-control-xml.h"
#include "sim.h"

#define CONTROL_PATH "/io/bandgate/Sim"
#define CONTROL_IFACE "io.bandgate.Sim1"

static void reply_error(GDBusMethodInvocation *inv, const char *name, const char *message)
{
	g_dbus_method_invocation_return_dbus_error(inv, name, message);
}

static void reply_invalid(GDBusMethodInvocation *inv, const char *message)
{
	reply_error(inv, CONTROL_IFACE ".Error.InvalidArgs", message);
}

/* The band named by the first argument, or an UnknownBand error. */
static struct band_slot *slot_arg(struct sim_world *world, GVariant *params, GDBusMethodInvocation *inv)
{
	const char *address;
	struct band_slot *slot;

	g_variant_get_child(params, 0, "&s", &address);
	slot = sim_world_find(world, address);
	if (!slot)
		reply_error(inv, CONTROL_IFACE ".Error.UnknownBand", "No band with that address");
	return slot;
}

static bool key_from_variant(GVariant *v, uint8_t key[16])
{
	gsize n;
	const uint8_t *bytes = g_variant_get_fixed_array(v, &n, 1);

	if (n != 16)
		return false;
	memcpy(key, bytes, 16);
	return true;
}

static void add_band(struct sim_world *world, GVariant *params, GDBusMethodInvocation *inv)
{
	g_autoptr(GVariant) opts = g_variant_get_child_value(params, 0);
	g_autoptr(GVariant) key = g_variant_lookup_value(opts, "key", G_VARIANT_TYPE_BYTESTRING);
	struct sim_band_config cfg;
	const char *address;
	gboolean no_key;
	struct band_slot *slot;

	sim_band_config_init(&cfg);
	cfg.seed = world->options->seed + world->slots->len;
	cfg.history_days = world->options->history_days;
	cfg.fetch_cap = world->options->fetch_cap;
	cfg.auto_tap_ms = world->options->auto_tap_ms;
	cfg.steps_format = world->options->steps_format;
	if (g_variant_lookup(opts, "address", "&s", &address))
		g_strlcpy(cfg.address, address, sizeof(cfg.address));
	if (*cfg.address && sim_world_find(world, cfg.address)) {
		reply_invalid(inv, "A band with that address exists");
		return;
	}
	if (key && !key_from_variant(key, cfg.key)) {
		reply_invalid(inv, "A key is 16 bytes");
		return;
	}
	if (g_variant_lookup(opts, "no-key", "b", &no_key) && no_key)
		cfg.has_key = false;
	g_variant_lookup(opts, "history-days", "u", &cfg.history_days);
	g_variant_lookup(opts, "seed", "u", &cfg.seed);
	g_variant_lookup(opts, "auto-tap-ms", "i", &cfg.auto_tap_ms);
	slot = sim_world_add_band(world, &cfg);
	if (!slot) {
		reply_invalid(inv, "This simulator serves one band only");
		return;
	}
	g_dbus_method_invocation_return_value(inv, g_variant_new("(s)", sim_band_address(slot->band)));
}

static GVariant *band_state(struct band_slot *slot)
{
	struct sim_band *band = slot->band;
	struct sim_band_status st;
	GVariantBuilder b, cccd;

	sim_band_status(band, &st);
	g_variant_builder_init(&cccd, G_VARIANT_TYPE("as"));
	for (int id = 0; id < SIM_CHR_COUNT; id++)
		if (sim_band_cccd(band, id))
			g_variant_builder_add(&cccd, "s", sim_gatt_chr(id)->uuid);
	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&b, "{sv}", "address", g_variant_new_string(sim_band_address(band)));
	g_variant_builder_add(&b, "{sv}", "in-range", g_variant_new_boolean(sim_band_in_range(band)));
	g_variant_builder_add(&b, "{sv}", "advertising", g_variant_new_boolean(sim_band_advertising(band)));
	g_variant_builder_add(&b, "{sv}", "connected", g_variant_new_boolean(st.connected));
	g_variant_builder_add(&b, "{sv}", "authenticated", g_variant_new_boolean(st.authenticated));
	g_variant_builder_add(&b, "{sv}", "awaiting-tap", g_variant_new_boolean(st.awaiting_tap));
	g_variant_builder_add(&b, "{sv}", "has-key", g_variant_new_boolean(st.has_key));
	g_variant_builder_add(&b, "{sv}", "key", g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, st.key, 16, 1));
	g_variant_builder_add(&b, "{sv}", "steps", g_variant_new_uint32(st.steps));
	g_variant_builder_add(&b, "{sv}", "distance", g_variant_new_uint32(st.distance_m));
	g_variant_builder_add(&b, "{sv}", "calories", g_variant_new_uint32(st.calories));
	g_variant_builder_add(&b, "{sv}", "battery", g_variant_new_uint32(st.battery));
	g_variant_builder_add(&b, "{sv}", "charging", g_variant_new_boolean(st.charging));
	g_variant_builder_add(&b, "{sv}", "heart-rate", g_variant_new_uint32(st.heart_rate));
	g_variant_builder_add(&b, "{sv}", "clock", g_variant_new_int64(st.clock_utc));
	g_variant_builder_add(&b, "{sv}", "tz", g_variant_new_int16(st.tz_quarters));
	g_variant_builder_add(&b, "{sv}", "rebooting", g_variant_new_boolean(st.rebooting));
	g_variant_builder_add(&b, "{sv}", "visible-while-connected", g_variant_new_boolean(st.visible_while_connected));
	g_variant_builder_add(&b, "{sv}", "rssi", g_variant_new_int16(sim_band_rssi(band)));
	g_variant_builder_add(&b, "{sv}", "att-pending", sim_bluez_att_pending(slot));
	g_variant_builder_add(&b, "{sv}", "cccd", g_variant_builder_end(&cccd));
	g_variant_builder_add(&b, "{sv}", "alerts-shown", g_variant_new_uint32(st.alerts_shown));
	g_variant_builder_add(&b, "{sv}", "history-rounds", g_variant_new_uint32(st.history_rounds));
	g_variant_builder_add(&b, "{sv}", "history-packets", g_variant_new_uint32(st.history_packets));
	g_variant_builder_add(&b, "{sv}", "history-lost", g_variant_new_uint32(st.history_lost));
	return g_variant_builder_end(&b);
}

static void add_history(struct band_slot *slot, GVariant *params, GDBusMethodInvocation *inv)
{
	g_autoptr(GVariant) samples = g_variant_get_child_value(params, 2);
	gsize n = g_variant_n_children(samples);
	g_autofree struct sim_sample *s = g_new0(struct sim_sample, n ? n : 1);
	gint64 start;

	g_variant_get_child(params, 1, "x", &start);
	for (gsize i = 0; i < n; i++)
		g_variant_get_child(samples, i, "(yyyy)", &s[i].kind, &s[i].intensity, &s[i].steps, &s[i].heart_rate);
	if (start % 60 != 0 || sim_band_add_history(slot->band, start, s, n) < 0) {
		reply_invalid(inv, "History starts on a minute and may not reach past the band's clock");
		return;
	}
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void get_history(struct band_slot *slot, GVariant *params, GDBusMethodInvocation *inv)
{
	g_autofree struct sim_sample *s = NULL;
	gint64 from, to, start = 0;
	GVariantBuilder b;
	size_t n;

	g_variant_get(params, "(&sxx)", NULL, &from, &to);
	n = sim_band_history(slot->band, from, to, &start, &s);
	g_variant_builder_init(&b, G_VARIANT_TYPE("a(yyyy)"));
	for (size_t i = 0; i < n; i++)
		g_variant_builder_add(&b, "(yyyy)", s[i].kind, s[i].intensity, s[i].steps, s[i].heart_rate);
	g_dbus_method_invocation_return_value(inv, g_variant_new("(xa(yyyy))", start, &b));
}

static void get_received(struct band_slot *slot, GDBusMethodInvocation *inv)
{
	const GPtrArray *writes = sim_band_writes(slot->band);
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a(xsay)"));
	for (guint i = 0; i < writes->len; i++) {
		const struct sim_write *w = writes->pdata[i];
		gsize n;
		const uint8_t *data = g_bytes_get_data(w->value, &n);

		g_variant_builder_add(&b, "(xs@ay)", w->time_us, sim_gatt_chr(w->chr)->uuid,
		                      g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data, n, 1));
	}
	g_dbus_method_invocation_return_value(inv, g_variant_new("(a(xsay))", &b));
}

static void get_alerts(struct band_slot *slot, GDBusMethodInvocation *inv)
{
	const GPtrArray *alerts = sim_band_alerts(slot->band);
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a(xyysb)"));
	for (guint i = 0; i < alerts->len; i++) {
		const struct sim_alert *a = alerts->pdata[i];

		g_variant_builder_add(&b, "(xyysb)", a->time_us, a->category, a->level, a->text, a->shown);
	}
	g_dbus_method_invocation_return_value(inv, g_variant_new("(a(xyysb))", &b));
}

/* "corrupt-next" and "truncate-next": (su) = characteristic UUID ("" = any), count. */
static bool set_corruption(struct band_slot *slot, GVariant *value, bool truncate)
{
	const char *uuid;
	guint32 count;
	int chr = SIM_CHR_COUNT;

	if (!g_variant_is_of_type(value, G_VARIANT_TYPE("(su)")))
		return false;
	g_variant_get(value, "(&su)", &uuid, &count);
	if (*uuid && (chr = sim_gatt_chr_by_uuid(uuid)) < 0)
		return false;
	sim_band_corrupt_next(slot->band, chr, count, truncate);
	return true;
}

/* "fetch-mid-round" s: the names of enum sim_fetch_mid_round. */
static bool set_mid_round(struct band_slot *slot, GVariant *value)
{
	static const char *const names[] = {
		[SIM_FETCH_MID_ROUND_ABORT] = "abort",
		[SIM_FETCH_MID_ROUND_FINISH] = "finish",
		[SIM_FETCH_MID_ROUND_BOTH] = "both",
	};

	if (!g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
		return false;
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		if (strcmp(g_variant_get_string(value, NULL), names[i]) == 0) {
			sim_band_set_fetch_mid_round(slot->band, (enum sim_fetch_mid_round)i);
			return true;
		}
	}
	return false;
}

static bool set_fault(struct band_slot *slot, const char *name, GVariant *v)
{
#define IS(type) g_variant_is_of_type(v, G_VARIANT_TYPE_##type)
	if (strcmp(name, "refuse-auth") == 0 && IS(BOOLEAN))
		sim_band_set_refuse_auth(slot->band, g_variant_get_boolean(v));
	else if (strcmp(name, "drop-at-packet") == 0 && IS(INT32))
		sim_band_set_drop_at_packet(slot->band, g_variant_get_int32(v));
	else if (strcmp(name, "notify-delay-ms") == 0 && IS(UINT32))
		sim_band_set_notify_delay(slot->band, g_variant_get_uint32(v));
	else if (strcmp(name, "corrupt-next") == 0 || strcmp(name, "truncate-next") == 0)
		return set_corruption(slot, v, name[0] == 't');
	else if (strcmp(name, "history-packet-ms") == 0 && IS(UINT32))
		sim_band_set_history_packet_ms(slot->band, g_variant_get_uint32(v));
	else if (strcmp(name, "fetch-mid-round") == 0)
		return set_mid_round(slot, v);
	else if (strcmp(name, "fetch-cap") == 0 && IS(UINT32) && g_variant_get_uint32(v) > 0)
		sim_band_set_fetch_cap(slot->band, g_variant_get_uint32(v));
	else if (strcmp(name, "auth-timeout-ms") == 0 && IS(UINT32))
		sim_band_set_auth_timeout(slot->band, g_variant_get_uint32(v));
	else if (strcmp(name, "connect-fails") == 0 && IS(UINT32))
		slot->connect_fails = g_variant_get_uint32(v);
	else if (strcmp(name, "connect-timeout-ms") == 0 && IS(UINT32))
		slot->connect_timeout_ms = g_variant_get_uint32(v);
	else if (strcmp(name, "resolve-delay-ms") == 0 && IS(UINT32))
		slot->resolve_delay_ms = g_variant_get_uint32(v);
	else if (strcmp(name, "att-delay-ms") == 0 && IS(UINT32))
		slot->att_delay_ms = g_variant_get_uint32(v);
	else
		return false;
	return true;
#undef IS
}

/* Methods that act on one band and answer nothing. Returns false when the method is not one of them. */
static bool band_action(struct band_slot *slot, const char *method, GVariant *params, GDBusMethodInvocation *inv)
{
	struct sim_band *band = slot->band;

	if (strcmp(method, "Tap") == 0)
		sim_band_tap(band);
	else if (strcmp(method, "PressButton") == 0)
		sim_band_press_button(band);
	else if (strcmp(method, "DropLink") == 0)
		sim_band_drop_link(band);
	else if (strcmp(method, "Reboot") == 0)
		sim_band_reboot(band);
	else if (strcmp(method, "FactoryReset") == 0)
		sim_band_factory_reset(band);
	else if (strcmp(method, "ClearReceived") == 0)
		sim_band_clear_received(band);
	else if (strcmp(method, "Walk") == 0) {
		guint32 steps;

		g_variant_get(params, "(&su)", NULL, &steps);
		sim_band_walk(band, steps);
	} else
		return false;
	g_dbus_method_invocation_return_value(inv, NULL);
	return true;
}

static void band_method(struct sim_world *world, struct band_slot *slot, const char *method, GVariant *params,
                        GDBusMethodInvocation *inv)
{
	g_autoptr(GVariant) arg1 = g_variant_n_children(params) > 1 ? g_variant_get_child_value(params, 1) : NULL;
	g_autoptr(GVariant) arg2 = g_variant_n_children(params) > 2 ? g_variant_get_child_value(params, 2) : NULL;

	if (strcmp(method, "GetBand") == 0)
		g_dbus_method_invocation_return_value(inv, g_variant_new("(@a{sv})", band_state(slot)));
	else if (strcmp(method, "RemoveBand") == 0) {
		sim_world_remove_band(world, slot);
		g_dbus_method_invocation_return_value(inv, NULL);
	} else if (strcmp(method, "AddHistory") == 0)
		add_history(slot, params, inv);
	else if (strcmp(method, "GetHistory") == 0)
		get_history(slot, params, inv);
	else if (strcmp(method, "GetReceived") == 0)
		get_received(slot, inv);
	else if (strcmp(method, "GetAlerts") == 0)
		get_alerts(slot, inv);
	else if (strcmp(method, "SetFault") == 0) {
		g_autoptr(GVariant) v = g_variant_get_variant(arg2);

		if (set_fault(slot, g_variant_get_string(arg1, NULL), v))
			g_dbus_method_invocation_return_value(inv, NULL);
		else
			reply_invalid(inv, "Unknown fault, or a value of the wrong type (see io.bandgate.Sim1.xml)");
	} else if (strcmp(method, "SetKey") == 0) {
		uint8_t key[16];
		gsize n = g_variant_n_children(arg1);

		if (n != 0 && !key_from_variant(arg1, key)) {
			reply_invalid(inv, "A key is 16 bytes (or none, for a random one)");
			return;
		}
		sim_band_rekey(slot->band, n ? key : NULL);
		g_dbus_method_invocation_return_value(inv, NULL);
	} else if (strcmp(method, "SetBattery") == 0) {
		guint32 level = g_variant_get_uint32(arg1);

		if (level > 100) {
			reply_invalid(inv, "Battery level is 0..100");
			return;
		}
		sim_band_set_battery(slot->band, level, g_variant_get_boolean(arg2));
		g_dbus_method_invocation_return_value(inv, NULL);
	} else if (strcmp(method, "SetHeartRate") == 0) {
		guint32 bpm = g_variant_get_uint32(arg1);

		if (bpm > 254) {
			reply_invalid(inv, "Heart rate is 0..254");
			return;
		}
		sim_band_set_heart_rate(slot->band, bpm);
		g_dbus_method_invocation_return_value(inv, NULL);
	} else if (strcmp(method, "SetRssi") == 0) {
		sim_band_set_rssi(slot->band, g_variant_get_int16(arg1));
		g_dbus_method_invocation_return_value(inv, NULL);
	} else if (strcmp(method, "SetInRange") == 0) {
		sim_band_set_in_range(slot->band, g_variant_get_boolean(arg1));
		g_dbus_method_invocation_return_value(inv, NULL);
	} else if (strcmp(method, "SetClock") == 0) {
		gint16 tz = g_variant_get_int16(arg2);

		if (tz < -48 || tz > 56) {
			reply_invalid(inv, "The zone is -48..56 quarter hours");
			return;
		}
		sim_band_set_clock(slot->band, g_variant_get_int64(arg1), (int8_t)tz);
		g_dbus_method_invocation_return_value(inv, NULL);
	} else if (!band_action(slot, method, params, inv))
		reply_error(inv, "org.freedesktop.DBus.Error.UnknownMethod", "No such method");
}

static void world_method(struct sim_world *world, const char *method, GVariant *params, GDBusMethodInvocation *inv)
{
	if (strcmp(method, "AddBand") == 0) {
		add_band(world, params, inv);
	} else if (strcmp(method, "ListBands") == 0) {
		GVariantBuilder b;

		g_variant_builder_init(&b, G_VARIANT_TYPE("as"));
		for (guint i = 0; i < world->slots->len; i++)
			g_variant_builder_add(&b, "s", sim_band_address(((struct band_slot *)world->slots->pdata[i])->band));
		g_dbus_method_invocation_return_value(inv, g_variant_new("(as)", &b));
	} else if (strcmp(method, "SetAdapterPowered") == 0) {
		const char *adapter;
		gboolean powered;

		g_variant_get(params, "(&sb)", &adapter, &powered);
		if (!world->bluez || !sim_bluez_set_powered(world->bluez, adapter, powered)) {
			reply_invalid(inv, "No such adapter (or bluetoothd is down)");
			return;
		}
		g_dbus_method_invocation_return_value(inv, NULL);
	} else if (strcmp(method, "SetAdapterFault") == 0) {
		const char *adapter, *name;
		g_autoptr(GVariant) value = NULL;

		g_variant_get(params, "(&s&sv)", &adapter, &name, &value);
		if (!g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32)) {
			reply_invalid(inv, "An adapter fault's value is a count (u)");
			return;
		}
		if (!world->bluez || !sim_bluez_set_fault(world->bluez, adapter, name, g_variant_get_uint32(value))) {
			reply_invalid(inv, "No such adapter or fault (or bluetoothd is down)");
			return;
		}
		g_dbus_method_invocation_return_value(inv, NULL);
	} else {
		const char *mode;
		guint32 down_ms;

		g_variant_get(params, "(&su)", &mode, &down_ms);
		if (strcmp(mode, "clean") != 0 && strcmp(mode, "crash") != 0) {
			reply_invalid(inv, "Restart mode is clean or crash");
			return;
		}
		g_dbus_method_invocation_return_value(inv, NULL);
		sim_world_restart(world, strcmp(mode, "clean") == 0, down_ms);
	}
}

static void control_method(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                           const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer user_data)
{
	struct sim_world *world = user_data;
	static const char *const world_methods[] = { "AddBand", "ListBands", "SetAdapterPowered", "SetAdapterFault",
	                                             "Restart", NULL };
	struct band_slot *slot;

	(void)c, (void)sender, (void)path, (void)iface;
	if (g_strv_contains(world_methods, method)) {
		world_method(world, method, params, inv);
		return;
	}
	slot = slot_arg(world, params, inv);
	if (slot)
		band_method(world, slot, method, params, inv);
}

static const GDBusInterfaceVTable control_vtable = { .method_call = control_method };

void sim_control_start(struct sim_world *world)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusNodeInfo) node = g_dbus_node_info_new_for_xml(sim_control_xml, &error);
	GDBusConnection *c;

	if (!node)
		g_error("control interface: %s", error->message);
	c = g_dbus_connection_new_for_address_sync(world->options->bus_address,
	                                           G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
	                                           G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
	if (!c)
		g_error("control connection: %s", error->message);
	g_dbus_connection_set_exit_on_close(c, FALSE);
	if (!g_dbus_connection_register_object(c, CONTROL_PATH, node->interfaces[0], &control_vtable, world, NULL, &error))
		g_error("control object: %s", error->message);
	g_dbus_connection_call_sync(c, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
	                            "RequestName", g_variant_new("(su)", "io.bandgate.Sim", 4), NULL,
	                            G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
	world->control = c;
}

void sim_control_band_event(struct sim_world *world, struct sim_band *band, const char *what, const char *detail)
{
	const char *address = sim_band_address(band);

	if (!world->control)
		return;
	if (strcmp(what, "tap-needed") == 0)
		g_dbus_connection_emit_signal(world->control, NULL, CONTROL_PATH, CONTROL_IFACE, "TapNeeded",
		                              g_variant_new("(s)", address), NULL);
	g_dbus_connection_emit_signal(world->control, NULL, CONTROL_PATH, CONTROL_IFACE, "BandEvent",
	                              g_variant_new("(sss)", address, what, detail ? detail : ""), NULL);
}
