/* bluez_error_kind: every error bluez-5.66.md names, mapped once at the boundary, as the band's state machine
 * reads it (retry soon, the band is away, the link went, someone is busy, the object is gone, give up). */
#include <gio/gio.h>

#include "bluez.h"

static enum bluez_error_kind kind_of(const char *name, const char *message)
{
	g_autoptr(GError) error = g_dbus_error_new_for_dbus_error(name, message);

	return bluez_error_kind(error);
}

static void test_kinds(void)
{
	static const struct {
		const char *name, *message;
		enum bluez_error_kind kind;
	} cases[] = {
		{ "org.bluez.Error.Failed", "le-connection-abort-by-local", BLUEZ_ERROR_UNREACHABLE },
		/* A GATT request that ended with the link (5.66 gatt-client.c, no ATT error code), or made on a
		 * cached object while disconnected: the link's news, not the adapter's. */
		{ "org.bluez.Error.Failed", "Operation failed", BLUEZ_ERROR_LINK_LOST },
		{ "org.bluez.Error.Failed", "Not connected", BLUEZ_ERROR_LINK_LOST },
		{ "org.bluez.Error.Failed", "Operation failed with ATT error: 0x0e", BLUEZ_ERROR_TRANSIENT },
		{ "org.bluez.Error.Failed", "Input/output error", BLUEZ_ERROR_TRANSIENT },
		{ "org.bluez.Error.Failed", "br-connection-canceled", BLUEZ_ERROR_TRANSIENT },
		{ "org.bluez.Error.Failed", "Operation already in progress", BLUEZ_ERROR_BUSY },
		{ "org.bluez.Error.InProgress", "In Progress", BLUEZ_ERROR_BUSY },
		{ "org.bluez.Error.NotReady", "Resource Not Ready", BLUEZ_ERROR_BUSY },
		{ "org.freedesktop.DBus.Error.UnknownObject", "no such object", BLUEZ_ERROR_GONE },
		{ "org.bluez.Error.DoesNotExist", "Does Not Exist", BLUEZ_ERROR_GONE },
		{ "org.bluez.Error.NotPermitted", "Write not permitted", BLUEZ_ERROR_OTHER },
		{ "org.bluez.Error.NotSupported", "Operation is not supported", BLUEZ_ERROR_OTHER },
		{ "org.freedesktop.DBus.Error.NoReply", "Message recipient disconnected", BLUEZ_ERROR_TRANSIENT },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_test_message("%s: %s", cases[i].name, cases[i].message);
		g_assert_cmpint(kind_of(cases[i].name, cases[i].message), ==, cases[i].kind);
	}
}

/* Not from the bus at all (a timeout of our own, a closed connection): retry soon. */
static void test_local_errors(void)
{
	g_autoptr(GError) timeout = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "Timeout was reached");

	g_assert_cmpint(bluez_error_kind(timeout), ==, BLUEZ_ERROR_TRANSIENT);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/bluez/error-kinds", test_kinds);
	g_test_add_func("/bluez/local-errors", test_local_errors);
	return g_test_run();
}
