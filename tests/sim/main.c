/* bandgate-sim: a fake bluetoothd 5.66 that plays one or more Mi Band 2s on a D-Bus of your choice.
 * Usage and the control interface: --help and io.bandgate.Sim1.xml. */
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bandgate-version.h"
#include "sim.h"

enum { EXIT_USAGE = 2 };

/* ---- the bands' side of the world ---- */

static void band_notify(struct sim_band *band, enum sim_chr chr, const uint8_t *value, size_t len, void *user_data)
{
	struct band_slot *slot = user_data;

	(void)band;
	if (slot->world->bluez)
		sim_bluez_band_notify(slot->world->bluez, slot, chr, value, len);
}

static void band_drop_link(struct sim_band *band, void *user_data)
{
	struct band_slot *slot = user_data;

	(void)band;
	if (slot->world->bluez)
		sim_bluez_band_dropped(slot->world->bluez, slot);
	slot->link = NULL;
}

static void band_advert_changed(struct sim_band *band, void *user_data)
{
	struct band_slot *slot = user_data;

	(void)band;
	if (slot->world->bluez)
		sim_bluez_band_advert_changed(slot->world->bluez, slot);
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

struct band_slot *sim_world_add_band(struct sim_world *world, const struct sim_band_config *cfg)
{
	struct band_slot *slot = g_new0(struct band_slot, 1);

	slot->world = world;
	slot->band = sim_band_new(cfg, &band_ops, slot);
	g_ptr_array_add(world->slots, slot);
	if (world->bluez)
		sim_bluez_band_advert_changed(world->bluez, slot);
	return slot;
}

static void slot_free(struct band_slot *slot)
{
	sim_band_free(slot->band);
	g_free(slot);
}

void sim_world_remove_band(struct sim_world *world, struct band_slot *slot)
{
	if (world->bluez)
		sim_bluez_band_removed(world->bluez, slot);
	g_ptr_array_remove(world->slots, slot);
	slot_free(slot);
}

struct band_slot *sim_world_find(struct sim_world *world, const char *address)
{
	for (guint i = 0; i < world->slots->len; i++) {
		struct band_slot *slot = world->slots->pdata[i];

		if (g_ascii_strcasecmp(sim_band_address(slot->band), address) == 0)
			return slot;
	}
	return NULL;
}

/* ---- the bus ---- */

static GDBusConnection *bus_connect(const char *address, GError **error)
{
	GDBusConnection *c = g_dbus_connection_new_for_address_sync(
		address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
		NULL, NULL, error);

	if (c)
		g_dbus_connection_set_exit_on_close(c, FALSE);
	return c;
}

static bool request_name(GDBusConnection *c, const char *name, GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	guint32 result;

	/* DBUS_NAME_FLAG_DO_NOT_QUEUE: a second bluetoothd must fail, not wait. */
	reply = g_dbus_connection_call_sync(c, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
	                                    "RequestName", g_variant_new("(su)", name, 4), G_VARIANT_TYPE("(u)"),
	                                    G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
	if (!reply)
		return false;
	g_variant_get(reply, "(u)", &result);
	if (result != 1) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS, "%s is already owned on this bus", name);
		return false;
	}
	return true;
}

/* In bluetoothd's order: the object manager and /org/bluez, then the name, then the adapters and their devices.
 * bluetoothd attaches its ObjectManager before its main loop runs, so a client that calls GetManagedObjects as
 * soon as the name appears is always answered. GDBus answers a call to a path with nothing registered at once,
 * from its own thread: owning the name first left a window in which a restarted daemon told the gateway
 * "Object does not exist", and GLib's object manager client then stops listening to that owner. */
static bool bluez_start(struct sim_world *world, GError **error)
{
	g_autoptr(GDBusConnection) c = bus_connect(world->options->bus_address, error);

	if (!c)
		return false;
	world->bluez = sim_bluez_new(world, c);
	if (!request_name(c, "org.bluez", error)) {
		sim_bluez_free(world->bluez, false);
		world->bluez = NULL;
		return false;
	}
	sim_bluez_add_adapters(world->bluez);
	for (guint i = 0; i < world->slots->len; i++)
		sim_bluez_band_advert_changed(world->bluez, world->slots->pdata[i]);
	return true;
}

static gboolean restart_cb(gpointer user_data)
{
	struct sim_world *world = user_data;
	g_autoptr(GError) error = NULL;

	world->restart_timer = 0;
	if (!bluez_start(world, &error))
		g_warning("bluetoothd could not come back: %s", error->message);
	return G_SOURCE_REMOVE;
}

/* Band callbacks during the teardown must not reach the half-freed daemon, so it leaves the world first. */
static void bluez_stop(struct sim_world *world, bool clean)
{
	struct sim_bluez *bz = world->bluez;
	GDBusConnection *c;

	if (!bz)
		return;
	world->bluez = NULL;
	c = g_object_ref(sim_bluez_connection(bz));
	sim_bluez_free(bz, clean);
	for (guint i = 0; i < world->slots->len; i++) {
		struct band_slot *slot = world->slots->pdata[i];

		if (slot->link)
			sim_band_link_down(slot->band);
		slot->link = NULL;
	}
	if (clean)
		g_dbus_connection_flush_sync(c, NULL, NULL);
	/* A new connection, so bluetoothd comes back under a new unique name (bluez §Power and restarts). */
	g_dbus_connection_close_sync(c, NULL, NULL);
	g_object_unref(c);
}

void sim_world_restart(struct sim_world *world, bool clean, unsigned down_ms)
{
	bluez_stop(world, clean);
	if (world->restart_timer)
		g_source_remove(world->restart_timer);
	world->restart_timer = g_timeout_add(down_ms, restart_cb, world);
}

/* ---- options ---- */

static gboolean parse_auto_tap(const char *name, const char *value, gpointer data, GError **error);
static gboolean parse_gatt_cache(const char *name, const char *value, gpointer data, GError **error);
static gboolean parse_connected_signal(const char *name, const char *value, gpointer data, GError **error);

static struct sim_options options = {
	.n_bands = 1,
	.n_adapters = 1,
	.history_days = 7,
	.seed = 1,
	.auto_tap_ms = -1,
	.fetch_cap = 1440,
	.steps_format = 13,
	.gatt_cache = SIM_GATT_CACHE_ALWAYS,
	.connected_signal = true,
	.temporary_timeout_s = 30,
};
static gchar **opt_addresses, **opt_keys;
static gboolean opt_version;
static gint opt_bands = 1, opt_adapters = 1, opt_days = 7, opt_seed = 1, opt_fetch_cap = 1440, opt_steps = 13;
static gint opt_temporary_timeout = 30;

static gboolean parse_auto_tap(const char *name, const char *value, gpointer data, GError **error)
{
	char *end;
	double seconds;

	(void)name, (void)data;
	if (strcmp(value, "off") == 0) {
		options.auto_tap_ms = -1;
		return TRUE;
	}
	seconds = g_ascii_strtod(value, &end);
	if (*end || seconds < 0 || seconds > 3600) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--auto-tap takes seconds (0-3600) or off");
		return FALSE;
	}
	options.auto_tap_ms = (int)(seconds * 1000);
	return TRUE;
}

static gboolean parse_gatt_cache(const char *name, const char *value, gpointer data, GError **error)
{
	(void)name, (void)data;
	if (strcmp(value, "always") == 0)
		options.gatt_cache = SIM_GATT_CACHE_ALWAYS;
	else if (strcmp(value, "yes") == 0)
		options.gatt_cache = SIM_GATT_CACHE_YES;
	else if (strcmp(value, "no") == 0)
		options.gatt_cache = SIM_GATT_CACHE_NO;
	else {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--gatt-cache takes always, yes or no");
		return FALSE;
	}
	return TRUE;
}

static gboolean parse_connected_signal(const char *name, const char *value, gpointer data, GError **error)
{
	(void)name, (void)data;
	if (strcmp(value, "always") != 0 && strcmp(value, "never") != 0) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--connected-signal takes always or never");
		return FALSE;
	}
	options.connected_signal = strcmp(value, "always") == 0;
	return TRUE;
}

static const GOptionEntry entries[] = {
	{ "bus", 0, 0, G_OPTION_ARG_STRING, &options.bus_address,
	  "D-Bus address to serve on (default: $DBUS_SYSTEM_BUS_ADDRESS, else the system bus)", "ADDRESS" },
	{ "bands", 0, 0, G_OPTION_ARG_INT, &opt_bands, "Number of bands (default 1)", "N" },
	{ "address", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_addresses,
	  "Address of the next band (repeatable; default derived from the seed)", "ADDR" },
	{ "key", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_keys,
	  "Key the next band holds: 32 hex digits or none (repeatable; default the legacy key 0123456789@ABCDE)",
	  "HEX" },
	{ "days", 0, 0, G_OPTION_ARG_INT, &opt_days, "Days of generated history (default 7)", "D" },
	{ "seed", 0, 0, G_OPTION_ARG_INT, &opt_seed, "Seed of everything random (default 1)", "S" },
	{ "auto-tap", 0, 0, G_OPTION_ARG_CALLBACK, parse_auto_tap,
	  "The wearer taps this long after a new key arrives (default off)", "SECONDS|off" },
	{ "gatt-cache", 0, 0, G_OPTION_ARG_CALLBACK, parse_gatt_cache,
	  "Play main.conf [GATT] Cache (default always)", "always|yes|no" },
	{ "connected-signal", 0, 0, G_OPTION_ARG_CALLBACK, parse_connected_signal,
	  "Whether Connected=true is signalled on connect (default always)", "always|never" },
	{ "temporary-timeout", 0, 0, G_OPTION_ARG_INT, &opt_temporary_timeout,
	  "Play main.conf [General] TemporaryTimeout: seconds a temporary device outlives its last advert "
	  "(default 30)", "S" },
	{ "adapters", 0, 0, G_OPTION_ARG_INT, &opt_adapters, "Adapters hci0..hciN-1 (default 1)", "N" },
	{ "fetch-cap", 0, 0, G_OPTION_ARG_INT, &opt_fetch_cap, "History samples per round (default 1440)", "N" },
	{ "steps-format", 0, 0, G_OPTION_ARG_INT, &opt_steps, "Realtime steps payload: 13 or 5 bytes (default 13)",
	  "13|5" },
	{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &options.verbose, "Log every event", NULL },
	{ "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version", NULL },
	{ NULL }
};

static bool check_range(const char *what, int value, int min, int max, GError **error)
{
	if (value >= min && value <= max)
		return true;
	g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s must be %d..%d", what, min, max);
	return false;
}

static bool parse_options(int *argc, char ***argv, GError **error)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new("- a fake bluetoothd 5.66 playing Mi Band 2s");

	g_option_context_set_summary(ctx, "Owns org.bluez (and io.bandgate.Sim for tests) on the bus it is given.\n"
	                                  "Prints 'band ADDRESS' for each band, then 'ready'.");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, argc, argv, error))
		return false;
	if (*argc > 1) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "unexpected argument '%s'", (*argv)[1]);
		return false;
	}
	if (!check_range("--bands", opt_bands, 0, 64, error) || !check_range("--adapters", opt_adapters, 1, 8, error) ||
	    !check_range("--days", opt_days, 0, 400, error) || !check_range("--fetch-cap", opt_fetch_cap, 1, 1 << 20, error) ||
	    !check_range("--temporary-timeout", opt_temporary_timeout, 1, 3600, error))
		return false;
	if (opt_steps != 13 && opt_steps != 5)
		return g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--steps-format must be 13 or 5"),
		       false;
	options.n_bands = opt_bands;
	options.n_adapters = opt_adapters;
	options.history_days = opt_days;
	options.seed = (uint32_t)opt_seed;
	options.fetch_cap = opt_fetch_cap;
	options.steps_format = opt_steps;
	options.temporary_timeout_s = (unsigned)opt_temporary_timeout;
	if (!options.bus_address)
		options.bus_address = g_strdup(g_getenv("DBUS_SYSTEM_BUS_ADDRESS"));
	if (!options.bus_address)
		options.bus_address = g_strdup("unix:path=/run/dbus/system_bus_socket");
	return true;
}

static bool parse_key(const char *text, struct sim_band_config *cfg, GError **error)
{
	if (g_ascii_strcasecmp(text, "none") == 0) {
		cfg->has_key = false;
		return true;
	}
	for (int i = 0; i < 16; i++) {
		int hi = g_ascii_xdigit_value(text[2 * i]), lo = hi < 0 ? -1 : g_ascii_xdigit_value(text[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--key takes 32 hex digits or none");
			return false;
		}
		cfg->key[i] = (uint8_t)(hi << 4 | lo);
	}
	if (text[32]) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--key takes 32 hex digits or none");
		return false;
	}
	cfg->has_key = true;
	return true;
}

static bool world_add_bands(struct sim_world *world, GError **error)
{
	for (unsigned i = 0; i < options.n_bands; i++) {
		struct sim_band_config cfg;

		sim_band_config_init(&cfg);
		cfg.seed = options.seed + i;
		cfg.auto_tap_ms = options.auto_tap_ms;
		cfg.fetch_cap = options.fetch_cap;
		cfg.history_days = options.history_days;
		cfg.steps_format = options.steps_format;
		if (opt_addresses && i < g_strv_length(opt_addresses))
			g_strlcpy(cfg.address, opt_addresses[i], sizeof(cfg.address));
		if (opt_keys && i < g_strv_length(opt_keys) && !parse_key(opt_keys[i], &cfg, error))
			return false;
		sim_world_add_band(world, &cfg);
	}
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
	struct sim_world world = { .options = &options };
	int status = 0;

	if (!parse_options(&argc, &argv, &error)) {
		fprintf(stderr, "bandgate-sim: %s (see --help)\n", error->message);
		return EXIT_USAGE;
	}
	if (opt_version) {
		printf("bandgate-sim %s\n", BANDGATE_VERSION);
		return 0;
	}
	if (options.verbose)
		g_log_set_debug_enabled(TRUE);
	world.slots = g_ptr_array_new();
	world.remembered = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	world.loop = g_main_loop_new(NULL, FALSE);
	if (!world_add_bands(&world, &error)) {
		fprintf(stderr, "bandgate-sim: %s (see --help)\n", error->message);
		status = EXIT_USAGE;
		goto out;
	}
	if (!bluez_start(&world, &error)) {
		fprintf(stderr, "bandgate-sim: cannot serve org.bluez on %s: %s\n", options.bus_address, error->message);
		status = 1;
		goto out;
	}
	sim_control_start(&world);
	for (guint i = 0; i < world.slots->len; i++)
		printf("band %s\n", sim_band_address(((struct band_slot *)world.slots->pdata[i])->band));
	printf("ready\n");
	fflush(stdout);
	g_unix_signal_add(SIGINT, quit_cb, world.loop);
	g_unix_signal_add(SIGTERM, quit_cb, world.loop);
	g_main_loop_run(world.loop);

out:
	if (world.restart_timer)
		g_source_remove(world.restart_timer);
	bluez_stop(&world, false);
	g_clear_object(&world.control);
	for (guint i = 0; i < world.slots->len; i++)
		slot_free(world.slots->pdata[i]);
	g_ptr_array_free(world.slots, TRUE);
	g_hash_table_destroy(world.remembered);
	g_main_loop_unref(world.loop);
	g_free(options.bus_address);
	g_strfreev(opt_addresses);
	g_strfreev(opt_keys);
	return status;
}
