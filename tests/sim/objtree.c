/* The object tree of the fake bluetoothd; see objtree.h for why it is not GDBusObjectManagerServer. */
#include "objtree.h"

#include <stdarg.h>
#include <string.h>

#define PROPS_IFACE "org.freedesktop.DBus.Properties"
#define OM_IFACE "org.freedesktop.DBus.ObjectManager"
#define INTROSPECT_IFACE "org.freedesktop.DBus.Introspectable"

struct objtree {
	GDBusConnection *connection;
	GDBusNodeInfo *node;
	GDBusNodeInfo *props_node; /* org.freedesktop.DBus.Properties as bluetoothd's gdbus declares it */
	GHashTable *objects;   /* path -> struct obj *, announced ones only */
	GPtrArray *dirty;      /* struct obj_iface * with queued changes */
	guint om_registration;
	guint idle;
};

struct obj {
	struct objtree *tree;
	char *path;
	GPtrArray *ifaces;     /* struct obj_iface *, in the order they were added */
	guint props_registration;
	bool announced;
};

struct obj_iface {
	struct obj *obj;
	GDBusInterfaceInfo *info;
	const struct obj_iface_ops *ops;
	void *user_data;
	guint registration;
	GHashTable *props;     /* name -> GVariant */
	GHashTable *changed;   /* name -> GVariant, or NULL for invalidated */
	GPtrArray *changed_order;
	bool dirty;
};

static const char om_xml[] =
	"<node><interface name='" OM_IFACE "'>"
	"<method name='GetManagedObjects'><arg name='objects' type='a{oa{sa{sv}}}' direction='out'/></method>"
	"<signal name='InterfacesAdded'><arg type='o'/><arg type='a{sa{sv}}'/></signal>"
	"<signal name='InterfacesRemoved'><arg type='o'/><arg type='as'/></signal>"
	"</interface></node>";

/* Registered on every object so that GDBus hands Properties calls to us instead of answering them itself:
 * GDBus refuses a read-only property's Set with InvalidArgs, bluetoothd with PropertyReadOnly. The argument
 * names are bluetoothd's (gdbus/object.c). */
static const char props_xml[] =
	"<node><interface name='" PROPS_IFACE "'>"
	"<method name='Get'><arg name='interface' type='s'/><arg name='name' type='s'/>"
	" <arg name='value' type='v' direction='out'/></method>"
	"<method name='Set'><arg name='interface' type='s'/><arg name='name' type='s'/><arg name='value' type='v'/>"
	"</method>"
	"<method name='GetAll'><arg name='interface' type='s'/>"
	" <arg name='properties' type='a{sv}' direction='out'/></method>"
	"<signal name='PropertiesChanged'><arg name='interface' type='s'/>"
	" <arg name='changed_properties' type='a{sv}'/><arg name='invalidated_properties' type='as'/></signal>"
	"</interface></node>";

static void iface_flush_queued(struct obj_iface *iface);

static void variant_unref0(gpointer v)
{
	if (v)
		g_variant_unref(v);
}

/* bluetoothd's gdbus lists its two standard interfaces in InterfacesAdded and GetManagedObjects too. */
static void append_standard_ifaces(GVariantBuilder *b)
{
	g_variant_builder_add(b, "{s@a{sv}}", INTROSPECT_IFACE,
	                      g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0));
	g_variant_builder_add(b, "{s@a{sv}}", PROPS_IFACE, g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0));
}

static GVariant *iface_all_props(struct obj_iface *iface)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
	for (GDBusPropertyInfo **p = iface->info->properties; p && *p; p++) {
		GVariant *v = g_hash_table_lookup(iface->props, (*p)->name);

		if (v)
			g_variant_builder_add(&b, "{sv}", (*p)->name, v);
	}
	return g_variant_builder_end(&b);
}

static GVariant *obj_all_ifaces(struct obj *obj)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sa{sv}}"));
	append_standard_ifaces(&b);
	for (guint i = 0; i < obj->ifaces->len; i++) {
		struct obj_iface *iface = obj->ifaces->pdata[i];

		g_variant_builder_add(&b, "{s@a{sv}}", iface->info->name, iface_all_props(iface));
	}
	return g_variant_builder_end(&b);
}

static void om_method(GDBusConnection *c, const char *sender, const char *path, const char *iface_name,
                      const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer user_data)
{
	struct objtree *tree = user_data;
	GVariantBuilder b;
	GHashTableIter it;
	gpointer key, value;

	(void)c, (void)sender, (void)path, (void)iface_name, (void)method, (void)params;
	g_variant_builder_init(&b, G_VARIANT_TYPE("a{oa{sa{sv}}}"));
	g_hash_table_iter_init(&it, tree->objects);
	while (g_hash_table_iter_next(&it, &key, &value))
		g_variant_builder_add(&b, "{o@a{sa{sv}}}", (const char *)key, obj_all_ifaces(value));
	g_dbus_method_invocation_return_value(inv, g_variant_new("(a{oa{sa{sv}}})", &b));
}

static const GDBusInterfaceVTable om_vtable = { .method_call = om_method };

struct objtree *objtree_new(GDBusConnection *connection, const char *xml)
{
	struct objtree *tree = g_new0(struct objtree, 1);
	g_autoptr(GDBusNodeInfo) om = g_dbus_node_info_new_for_xml(om_xml, NULL);
	GError *error = NULL;

	tree->connection = g_object_ref(connection);
	tree->node = g_dbus_node_info_new_for_xml(xml, &error);
	if (!tree->node)
		g_error("introspection data: %s", error->message);
	tree->props_node = g_dbus_node_info_new_for_xml(props_xml, &error);
	if (!tree->props_node)
		g_error("introspection data: %s", error->message);
	tree->objects = g_hash_table_new(g_str_hash, g_str_equal);
	tree->dirty = g_ptr_array_new();
	tree->om_registration = g_dbus_connection_register_object(connection, "/", om->interfaces[0], &om_vtable,
	                                                          tree, NULL, &error);
	if (!tree->om_registration)
		g_error("cannot register the object manager: %s", error->message);
	return tree;
}

static void obj_free(struct obj *obj);

void objtree_free(struct objtree *tree)
{
	GHashTableIter it;
	gpointer value;

	if (!tree)
		return;
	g_hash_table_iter_init(&it, tree->objects);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		g_hash_table_iter_steal(&it);
		obj_free(value);
	}
	g_dbus_connection_unregister_object(tree->connection, tree->om_registration);
	if (tree->idle)
		g_source_remove(tree->idle);
	g_ptr_array_free(tree->dirty, TRUE);
	g_hash_table_destroy(tree->objects);
	g_dbus_node_info_unref(tree->node);
	g_dbus_node_info_unref(tree->props_node);
	g_object_unref(tree->connection);
	g_free(tree);
}

GDBusConnection *objtree_connection(struct objtree *tree)
{
	return tree->connection;
}

struct obj *objtree_add(struct objtree *tree, const char *path)
{
	struct obj *obj = g_new0(struct obj, 1);

	obj->tree = tree;
	obj->path = g_strdup(path);
	obj->ifaces = g_ptr_array_new();
	return obj;
}

const char *obj_path(const struct obj *obj)
{
	return obj->path;
}

struct obj *obj_iface_obj(struct obj_iface *iface)
{
	return iface->obj;
}

struct obj_iface *obj_add_iface(struct obj *obj, const char *name, const struct obj_iface_ops *ops, void *user_data)
{
	struct obj_iface *iface = g_new0(struct obj_iface, 1);

	iface->obj = obj;
	iface->info = g_dbus_node_info_lookup_interface(obj->tree->node, name);
	if (!iface->info)
		g_error("no introspection data for %s", name);
	iface->ops = ops;
	iface->user_data = user_data;
	iface->props = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_variant_unref);
	iface->changed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, variant_unref0);
	iface->changed_order = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(obj->ifaces, iface);
	return iface;
}

static void iface_method(GDBusConnection *c, const char *sender, const char *path, const char *iface_name,
                         const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer user_data)
{
	struct obj_iface *iface = user_data;

	(void)c, (void)sender, (void)path, (void)iface_name;
	iface->ops->method(iface, method, params, inv, iface->user_data);
}

static const GDBusInterfaceVTable iface_vtable = { .method_call = iface_method };

/* bluetoothd's gdbus/object.c answers Properties calls on its own; these are its errors, word for word. */
static void props_error(GDBusMethodInvocation *inv, const char *name, const char *format, ...) G_GNUC_PRINTF(3, 4);

static void props_error(GDBusMethodInvocation *inv, const char *name, const char *format, ...)
{
	g_autofree char *message = NULL;
	va_list ap;

	va_start(ap, format);
	message = g_strdup_vprintf(format, ap);
	va_end(ap);
	g_dbus_method_invocation_return_dbus_error(inv, name, message);
}

#define DBUS_ERR "org.freedesktop.DBus.Error."

static void props_get(struct obj_iface *iface, const char *name, GDBusMethodInvocation *inv)
{
	GVariant *v = g_hash_table_lookup(iface->props, name);

	if (!v) {
		props_error(inv, DBUS_ERR "InvalidArgs", "No such property '%s'", name);
		return;
	}
	g_dbus_method_invocation_return_value(inv, g_variant_new("(v)", v));
}

/* In gdbus/object.c's order: known, writable, present, of the right type; then the owner answers. */
static void props_set(struct obj_iface *iface, const char *name, GVariant *value, GDBusMethodInvocation *inv)
{
	GDBusPropertyInfo *info = g_dbus_interface_info_lookup_property(iface->info, name);

	if (!info) {
		props_error(inv, DBUS_ERR "UnknownProperty", "No such property '%s'", name);
		return;
	}
	if (!(info->flags & G_DBUS_PROPERTY_INFO_FLAGS_WRITABLE) || !iface->ops->set) {
		props_error(inv, DBUS_ERR "PropertyReadOnly", "Property '%s' is not writable", name);
		return;
	}
	if (!g_hash_table_contains(iface->props, name)) {
		props_error(inv, DBUS_ERR "UnknownProperty", "No such property '%s'", name);
		return;
	}
	if (!g_variant_is_of_type(value, G_VARIANT_TYPE(info->signature))) {
		props_error(inv, DBUS_ERR "InvalidSignature", "Invalid signature for '%s'", name);
		return;
	}
	iface->ops->set(iface, name, value, inv, iface->user_data);
}

static struct obj_iface *obj_find_iface(struct obj *obj, const char *name)
{
	for (guint i = 0; i < obj->ifaces->len; i++) {
		struct obj_iface *iface = obj->ifaces->pdata[i];

		if (strcmp(iface->info->name, name) == 0)
			return iface;
	}
	return NULL;
}

/* The two standard interfaces bluetoothd lists on every object: known to it, without any property. */
static void props_standard(const char *method, const char *name, GDBusMethodInvocation *inv)
{
	if (strcmp(method, "GetAll") == 0)
		g_dbus_method_invocation_return_value(inv, g_variant_new("(@a{sv})",
		                                                         g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0)));
	else if (strcmp(method, "Get") == 0)
		props_error(inv, DBUS_ERR "InvalidArgs", "No such property '%s'", name);
	else
		props_error(inv, DBUS_ERR "UnknownProperty", "No such property '%s'", name);
}

static void props_method(GDBusConnection *c, const char *sender, const char *path, const char *iface_name,
                         const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer user_data)
{
	struct obj *obj = user_data;
	const char *interface, *name = "";
	g_autoptr(GVariant) value = NULL;
	struct obj_iface *iface;

	(void)c, (void)sender, (void)path, (void)iface_name;
	g_variant_get_child(params, 0, "&s", &interface);
	if (g_variant_n_children(params) > 1)
		g_variant_get_child(params, 1, "&s", &name);
	iface = obj_find_iface(obj, interface);
	if (!iface && (strcmp(interface, PROPS_IFACE) == 0 || strcmp(interface, INTROSPECT_IFACE) == 0)) {
		props_standard(method, name, inv);
		return;
	}
	if (!iface) {
		props_error(inv, DBUS_ERR "InvalidArgs", "No such interface '%s'", interface);
		return;
	}
	iface_flush_queued(iface);
	if (strcmp(method, "Get") == 0) {
		props_get(iface, name, inv);
	} else if (strcmp(method, "GetAll") == 0) {
		g_dbus_method_invocation_return_value(inv, g_variant_new("(@a{sv})", iface_all_props(iface)));
	} else {
		g_variant_get_child(params, 2, "v", &value);
		props_set(iface, name, value, inv);
	}
}

static const GDBusInterfaceVTable props_vtable = { .method_call = props_method };

void obj_announce(struct obj *obj)
{
	struct objtree *tree = obj->tree;
	GError *error = NULL;

	for (guint i = 0; i < obj->ifaces->len; i++) {
		struct obj_iface *iface = obj->ifaces->pdata[i];

		iface->registration = g_dbus_connection_register_object(tree->connection, obj->path, iface->info,
		                                                        &iface_vtable, iface, NULL, &error);
		if (!iface->registration)
			g_error("cannot register %s on %s: %s", iface->info->name, obj->path, error->message);
	}
	obj->props_registration = g_dbus_connection_register_object(tree->connection, obj->path,
	                                                            tree->props_node->interfaces[0], &props_vtable, obj,
	                                                            NULL, &error);
	if (!obj->props_registration)
		g_error("cannot register %s on %s: %s", PROPS_IFACE, obj->path, error->message);
	obj->announced = true;
	g_hash_table_insert(tree->objects, obj->path, obj);
	g_dbus_connection_emit_signal(tree->connection, NULL, "/", OM_IFACE, "InterfacesAdded",
	                              g_variant_new("(o@a{sa{sv}})", obj->path, obj_all_ifaces(obj)), NULL);
}

static void iface_free(struct obj_iface *iface)
{
	struct objtree *tree = iface->obj->tree;

	g_ptr_array_remove(tree->dirty, iface);
	if (iface->registration)
		g_dbus_connection_unregister_object(tree->connection, iface->registration);
	g_hash_table_destroy(iface->props);
	g_hash_table_destroy(iface->changed);
	g_ptr_array_free(iface->changed_order, TRUE);
	g_free(iface);
}

static void obj_free(struct obj *obj)
{
	if (obj->props_registration)
		g_dbus_connection_unregister_object(obj->tree->connection, obj->props_registration);
	for (guint i = 0; i < obj->ifaces->len; i++)
		iface_free(obj->ifaces->pdata[i]);
	g_ptr_array_free(obj->ifaces, TRUE);
	g_free(obj->path);
	g_free(obj);
}

void obj_remove(struct obj *obj)
{
	struct objtree *tree = obj->tree;

	if (obj->announced) {
		GVariantBuilder b;

		g_variant_builder_init(&b, G_VARIANT_TYPE("as"));
		g_variant_builder_add(&b, "s", INTROSPECT_IFACE);
		g_variant_builder_add(&b, "s", PROPS_IFACE);
		for (guint i = 0; i < obj->ifaces->len; i++)
			g_variant_builder_add(&b, "s", ((struct obj_iface *)obj->ifaces->pdata[i])->info->name);
		/* What was queued for this object goes first, as it would have in bluetoothd. */
		for (guint i = 0; i < obj->ifaces->len; i++)
			iface_flush_queued(obj->ifaces->pdata[i]);
		g_dbus_connection_emit_signal(tree->connection, NULL, "/", OM_IFACE, "InterfacesRemoved",
		                              g_variant_new("(oas)", obj->path, &b), NULL);
		g_hash_table_remove(tree->objects, obj->path);
	}
	obj_free(obj);
}

static gboolean flush_idle(gpointer user_data)
{
	struct objtree *tree = user_data;

	tree->idle = 0;
	while (tree->dirty->len > 0)
		iface_flush_queued(tree->dirty->pdata[0]);
	return G_SOURCE_REMOVE;
}

void objtree_set(struct obj_iface *iface, const char *property, GVariant *value, bool force)
{
	GVariant *old = g_hash_table_lookup(iface->props, property);
	struct objtree *tree = iface->obj->tree;

	if (value)
		g_variant_ref_sink(value);
	if (!force && ((!old && !value) || (old && value && g_variant_equal(old, value)))) {
		if (value)
			g_variant_unref(value);
		return;
	}
	if (value)
		g_hash_table_insert(iface->props, g_strdup(property), g_variant_ref(value));
	else
		g_hash_table_remove(iface->props, property);
	if (!iface->obj->announced) {
		if (value)
			g_variant_unref(value);
		return;
	}
	if (!g_hash_table_contains(iface->changed, property))
		g_ptr_array_add(iface->changed_order, g_strdup(property));
	g_hash_table_insert(iface->changed, g_strdup(property), value);
	if (!iface->dirty) {
		iface->dirty = true;
		g_ptr_array_add(tree->dirty, iface);
	}
	if (!tree->idle)
		tree->idle = g_idle_add(flush_idle, tree);
}

void objtree_set_quiet(struct obj_iface *iface, const char *property, GVariant *value)
{
	if (value)
		g_hash_table_insert(iface->props, g_strdup(property), g_variant_ref_sink(value));
	else
		g_hash_table_remove(iface->props, property);
}

GVariant *objtree_get(struct obj_iface *iface, const char *property)
{
	return g_hash_table_lookup(iface->props, property);
}

static void emit_changed(struct obj_iface *iface, GVariant *changed, GVariant *invalidated)
{
	g_dbus_connection_emit_signal(iface->obj->tree->connection, NULL, iface->obj->path, PROPS_IFACE,
	                              "PropertiesChanged",
	                              g_variant_new("(s@a{sv}@as)", iface->info->name, changed, invalidated), NULL);
}

static void iface_flush_queued(struct obj_iface *iface)
{
	GVariantBuilder changed, invalidated;

	if (!iface->dirty)
		return;
	g_variant_builder_init(&changed, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_init(&invalidated, G_VARIANT_TYPE("as"));
	for (guint i = 0; i < iface->changed_order->len; i++) {
		const char *name = iface->changed_order->pdata[i];
		GVariant *v = g_hash_table_lookup(iface->changed, name);

		if (v)
			g_variant_builder_add(&changed, "{sv}", name, v);
		else
			g_variant_builder_add(&invalidated, "s", name);
	}
	g_hash_table_remove_all(iface->changed);
	g_ptr_array_set_size(iface->changed_order, 0);
	iface->dirty = false;
	g_ptr_array_remove(iface->obj->tree->dirty, iface);
	emit_changed(iface, g_variant_builder_end(&changed), g_variant_builder_end(&invalidated));
}

void objtree_flush(struct obj_iface *iface)
{
	iface_flush_queued(iface);
}

void objtree_emit_value(struct obj_iface *iface, const char *property, GVariant *value)
{
	GVariantBuilder changed;

	g_variant_builder_init(&changed, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&changed, "{sv}", property, value);
	emit_changed(iface, g_variant_builder_end(&changed), g_variant_new_array(G_VARIANT_TYPE("s"), NULL, 0));
}
