/* bandgate: the daemon (start-up, signals, shutdown order), and the command line that picks the daemon, a client
 * command (cli.h) or an export (export.h). */
#define G_LOG_DOMAIN "bandgate" /* G_MESSAGES_DEBUG=bandgate turns on its debug lines alone */
#include <errno.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "exitcode.h"
#include "action.h"
#include "api.h"
#include "auth.h"
#include "bandgate-version.h"
#include "cli.h"
#include "config.h"
#include "db.h"
#include "export.h"
#include "manager.h"
#include "mqtt.h"
#include "passwd.h"

static void usage(FILE *out)
{
	char actions[256];

	action_names(actions, sizeof(actions), 0, false);
	fputs("Usage: bandgate [run] [--config FILE]\n"
	      "       bandgate status [--json] | scan | pair ADDRESS\n", out);
	fprintf(out, "       bandgate ACTION ADDRESS, an ACTION of: %s\n", actions);
	fputs("       bandgate factory-reset ADDRESS --yes   (it cannot be undone)\n"
	      "       bandgate notify ADDRESS TEXT [--category sms|call|email|im|app|...]\n"
	      "                (the CLI asks the running daemon; --config names its config, --socket its API socket)\n"
	      "       bandgate export ADDRESS [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--format csv|json] [--daily]\n"
	      "                (reads the database named in the config, beside the running daemon)\n"
	      "       bandgate passwd [--stdin]   set the dashboard's password (twice: typed, or two lines on stdin)\n"
	      "       bandgate --check-config [--config FILE]   (or -n) validate and print the effective config\n"
	      "       bandgate --config-reference   every config key, its default and values (Markdown)\n"
	      "       bandgate --help | --version\n"
	      "A Bluetooth-LE-to-network gateway for the Xiaomi Mi Band 2.\n"
	      "Default config: " CONFIG_DEFAULT_PATH " (every key optional; without the file, the defaults).\n", out);
}

/* --check-config: the file named (or the default one, if it exists) over the defaults. */
static int check_config(const char *path)
{
	struct config cfg;
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;

	config_init(&cfg);
	if ((path || g_file_test(CONFIG_DEFAULT_PATH, G_FILE_TEST_EXISTS)) &&
	    !config_load(&cfg, path ? path : CONFIG_DEFAULT_PATH, &error)) {
		fprintf(stderr, "bandgate: %s\n", error->message);
		config_clear(&cfg);
		return EXITCODE_USAGE;
	}
	text = config_dump(&cfg);
	fputs(text, stdout);
	config_clear(&cfg);
	return EXITCODE_OK;
}

struct daemon {
	GMainLoop *loop;
	struct config cfg;
	const struct config *fresh; /* while a reload compares it with cfg */
	const char *config_path;
	struct db *db;
	struct manager *manager;
	struct web *web;
	struct mqtt *mqtt;
	guint watchdog;
	bool restart;
};

static bool load_config(struct config *cfg, const char *path, GError **error)
{
	config_init(cfg);
	if (!path && !g_file_test(CONFIG_DEFAULT_PATH, G_FILE_TEST_EXISTS))
		return true;
	return config_load(cfg, path ? path : CONFIG_DEFAULT_PATH, error);
}

static gboolean on_quit(gpointer user_data)
{
	struct daemon *d = user_data;

	g_message("stopping");
	sd_notify(0, "STOPPING=1");
	g_main_loop_quit(d->loop);
	return G_SOURCE_CONTINUE;
}

/* A key that changed in the file: applied now when the key table marks it reloadable, else said plainly. */
static void reload_key(const char *group, const char *key, bool reloadable, void *user_data)
{
	struct daemon *d = user_data;
	g_autoptr(GError) error = NULL;

	if (!reloadable) {
		g_warning("reload: [%s] %s changed; it takes effect after a restart", group, key);
		return;
	}
	/* The dashboard's password hash: load_password() reads it after the keys, as the password file. */
	if (strcmp(key, "password_hash") == 0) {
		g_free(d->cfg.web_password_hash);
		d->cfg.web_password_hash = g_strdup(d->fresh->web_password_hash);
		g_message("reload: [%s] %s applied", group, key);
		return;
	}
	/* Bands to manage (added; a band is forgotten with `bandgate forget`). */
	g_assert(strcmp(key, "bands") == 0);
	for (char **a = d->fresh->bands; a && *a; a++)
		if (!manager_add(d->manager, *a, &error)) {
			g_warning("reload: band %s: %s", *a, error->message);
			g_clear_error(&error);
		}
	g_strfreev(d->cfg.bands);
	d->cfg.bands = g_strdupv(d->fresh->bands);
	g_message("reload: [%s] %s applied", group, key);
}

/* The dashboard's password hash, at start and on SIGHUP (the first start makes one: auth.h). */
static bool load_password(struct daemon *d, GError **error)
{
	g_autofree char *path = auth_path(d->cfg.database);
	g_autofree char *hash = NULL;

	/* A hash in the config file wins over the password file (for a read-only state directory). */
	if (d->cfg.web_password_hash[0] && !g_str_has_prefix(d->cfg.web_password_hash, "$y$")) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "[web] password_hash is not a yescrypt "
		                    "hash ('bandgate passwd' makes one)");
		return false;
	}
	hash = d->cfg.web_password_hash[0] ? g_strdup(d->cfg.web_password_hash) : auth_prepare(path, error);

	if (!hash)
		return false;
	web_set_password_hash(d->web, hash);
	return true;
}

/* SIGHUP: the keys the key table marks reloadable take effect; every other change is named as needing a
 * restart, and the running configuration keeps its old value. */
static gboolean on_reload(gpointer user_data)
{
	struct daemon *d = user_data;
	struct config fresh;
	g_autoptr(GError) error = NULL;

	sd_notify(0, "RELOADING=1");
	if (!load_config(&fresh, d->config_path, &error)) {
		g_warning("reload: %s; keeping the running configuration", error->message);
	} else {
		d->fresh = &fresh;
		config_changes(&d->cfg, &fresh, reload_key, d);
		d->fresh = NULL;
		if (d->web && !load_password(d, &error))
			g_warning("reload: the dashboard's password: %s; keeping the one it had", error->message);
		else if (d->web)
			g_message("reload: the dashboard's password read again");
		g_message("configuration reloaded");
	}
	config_clear(&fresh);
	sd_notify(0, "READY=1");
	return G_SOURCE_CONTINUE;
}

/* MQTT's gateway "restart": leave the loop as for SIGTERM, then exec ourselves afresh (same PID, so systemd
 * keeps following us). */
static void on_restart(void *user_data)
{
	struct daemon *d = user_data;

	g_message("restarting, as asked over MQTT");
	d->restart = true;
	g_main_loop_quit(d->loop);
}

static const struct mqtt_ops mqtt_ops = { .restart = on_restart };

/* Where Home Assistant's "visit device" goes: the dashboard on [web] listen, by host name when it listens on
 * every address. */
static char *dashboard_url(const struct config *cfg)
{
	const char *colon = strrchr(cfg->web_listen, ':');
	g_autofree char *host = NULL;

	if (!cfg->web_enabled || !colon)
		return NULL;
	host = g_strndup(cfg->web_listen, (gsize)(colon - cfg->web_listen));
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0 || !*host) {
		g_free(host);
		host = g_strdup(g_get_host_name());
	}
	return g_strdup_printf("%s://%s:%s/", *cfg->web_tls_cert ? "https" : "http", host, colon + 1);
}

/* The API socket, and the dashboard on [web] listen unless [web] enabled is false or listen is empty. */
static struct web *start_web(struct daemon *d, GError **error)
{
	struct web_options o = {
		.socket_path = d->cfg.web_socket,
		.listen = d->cfg.web_enabled ? d->cfg.web_listen : NULL,
		.tls_cert = d->cfg.web_tls_cert,
		.tls_key = d->cfg.web_tls_key,
		.session_timeout = d->cfg.web_session_timeout,
		.metrics_public = d->cfg.web_metrics_public,
	};

	if (!*d->cfg.web_tls_cert != !*d->cfg.web_tls_key) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		                    "[web] tls_cert and tls_key go together: set both, or neither");
		return NULL;
	}
	return web_new(&o, d->manager, d->db, d->loop, error);
}

/* The watchdog is fed from the loop, so a stuck loop stops feeding it and systemd restarts us. */
static gboolean feed_watchdog(gpointer user_data)
{
	(void)user_data;
	sd_notify(0, "WATCHDOG=1");
	return G_SOURCE_CONTINUE;
}

static int run_daemon(const char *config_path, char **argv)
{
	struct daemon d = { .config_path = config_path };
	g_autofree char *url = NULL;
	g_autoptr(GError) error = NULL;
	uint64_t watchdog_us = 0;
	int status = EXITCODE_OK;

	if (!load_config(&d.cfg, config_path, &error)) {
		fprintf(stderr, "bandgate: %s\n", error->message);
		config_clear(&d.cfg);
		return EXITCODE_USAGE;
	}
	g_message("bandgate %s starting", BANDGATE_VERSION);
	d.db = db_open(d.cfg.database, &error);
	d.manager = d.db ? manager_new(&d.cfg, d.db, &error) : NULL;
	if (!d.manager) {
		g_critical("%s", error->message);
		status = EXITCODE_RUNTIME;
		goto out;
	}
	d.loop = g_main_loop_new(NULL, FALSE);
	if (d.cfg.web_socket[0] && !(d.web = start_web(&d, &error))) {
		g_critical("%s", error->message);
		status = EXITCODE_RUNTIME;
		goto out;
	}
	if (d.web && !load_password(&d, &error)) {
		g_critical("the dashboard's password: %s", error->message);
		status = EXITCODE_RUNTIME;
		goto out;
	}
	url = dashboard_url(&d.cfg);
	if (d.cfg.mqtt_enabled && !(d.mqtt = mqtt_new(&d.cfg, d.manager, d.db, url, &mqtt_ops, &d, &error))) {
		g_critical("%s", error->message);
		status = EXITCODE_RUNTIME;
		goto out;
	}
	g_unix_signal_add(SIGTERM, on_quit, &d);
	g_unix_signal_add(SIGINT, on_quit, &d);
	g_unix_signal_add(SIGHUP, on_reload, &d);
	if (sd_watchdog_enabled(0, &watchdog_us) > 0)
		d.watchdog = g_timeout_add((guint)(watchdog_us / 2000), feed_watchdog, NULL);
	sd_notify(0, "READY=1");
	g_main_loop_run(d.loop);
	g_clear_handle_id(&d.watchdog, g_source_remove);
out:
	mqtt_free(d.mqtt);
	web_free(d.web);
	if (d.loop)
		g_main_loop_unref(d.loop);
	manager_free(d.manager);
	db_free(d.db);
	config_clear(&d.cfg);
	g_message("stopped");
	if (d.restart) {
		execv("/proc/self/exe", argv);
		g_critical("restart failed: %s", g_strerror(errno));
		return EXITCODE_RUNTIME;
	}
	return status;
}

struct cli_args {
	const char *config_path, *socket_path, *command, *arg, *text, *category;
	bool json, confirm, from_stdin;
	struct export_options export;
};

/* The CLI finds the daemon's socket (and export the database) in the same config the daemon reads. */
static int run_cli(const struct cli_args *a)
{
	struct config cfg;
	g_autoptr(GError) error = NULL;
	int status; /* enum exitcode */

	if (!load_config(&cfg, a->config_path, &error)) {
		fprintf(stderr, "bandgate: %s\n", error->message);
		config_clear(&cfg);
		return EXITCODE_USAGE;
	}
	if (strcmp(a->command, "export") == 0)
		status = export_run(cfg.database, &a->export, stdout);
	else if (strcmp(a->command, "passwd") == 0)
		status = passwd_run(cfg.database, a->from_stdin);
	else
		status = cli_run(a->socket_path ? a->socket_path : cfg.web_socket, a->command, a->arg, a->json,
		                 a->confirm, a->text, a->category);
	config_clear(&cfg);
	return status;
}

int main(int argc, char **argv)
{
	struct cli_args a = { 0 };
	bool check = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("bandgate %s\n", BANDGATE_VERSION);
			return EXITCODE_OK;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return EXITCODE_OK;
		} else if (strcmp(argv[i], "--config-reference") == 0) {
			g_autofree char *table = config_reference();

			fputs(table, stdout);
			return EXITCODE_OK;
		} else if (strcmp(argv[i], "--check-config") == 0 || strcmp(argv[i], "-n") == 0) {
			check = true;
		} else if (strcmp(argv[i], "run") == 0 && i == 1) {
			continue;
		} else if (i == 1 && cli_is_command(argv[i])) {
			a.command = argv[i];
		} else if (a.command && !a.arg && argv[i][0] != '-') {
			a.arg = a.export.address = argv[i];
		} else if (a.command && !a.text && argv[i][0] != '-' && strcmp(a.command, "notify") == 0) {
			a.text = argv[i];
		} else if (a.command && strcmp(argv[i], "--json") == 0) {
			a.json = true;
		} else if (a.command && strcmp(argv[i], "--stdin") == 0) {
			a.from_stdin = true;
		} else if (a.command && strcmp(argv[i], "--yes") == 0) {
			a.confirm = true;
		} else if (a.command && strcmp(argv[i], "--daily") == 0) {
			a.export.daily = true;
		} else if (a.command && strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
			a.export.from = argv[++i];
		} else if (a.command && strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
			a.export.to = argv[++i];
		} else if (a.command && strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
			a.export.format = argv[++i];
		} else if (a.command && strcmp(argv[i], "--category") == 0 && i + 1 < argc) {
			a.category = argv[++i];
		} else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
			a.socket_path = argv[++i];
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			a.config_path = argv[++i];
		} else {
			fprintf(stderr, "bandgate: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return EXITCODE_USAGE;
		}
	}
	if (check)
		return check_config(a.config_path);
	if (a.command)
		return run_cli(&a);
	return run_daemon(a.config_path, argv);
}
