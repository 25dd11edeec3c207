/* A small D-Bus object tree with an ObjectManager at "/", written for the fake bluetoothd.
 *
 * GDBus's skeletons coalesce property changes in an idle handler and answer Properties calls themselves;
 * bluetoothd's observable behaviour depends on exactly which properties travel in one PropertiesChanged and
 * whether a signal goes before or after a method reply (bluez-5.66.md). So here a property change is queued
 * with objtree_set() and leaves as one signal, per interface, when the caller says objtree_flush(); method
 * calls and Properties.Set reach the owner with the invocation, to answer when it likes. Properties.Get and
 * GetAll are answered from the stored values, and every Properties error is bluetoothd's (gdbus/object.c),
 * not GDBus's. Anything left unflushed goes out on the next main-loop iteration, as bluetoothd's gdbus does. */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>

struct objtree;
struct obj;
struct obj_iface;

struct obj_iface_ops {
	/* A method call on this interface. */
	void (*method)(struct obj_iface *iface, const char *method, GVariant *params,
	               GDBusMethodInvocation *invocation, void *user_data);
	/* Properties.Set of a property the introspection data makes writable and that exists, with a value of its
	 * type; NULL: every property is read-only. The owner replies. */
	void (*set)(struct obj_iface *iface, const char *property, GVariant *value,
	            GDBusMethodInvocation *invocation, void *user_data);
};

/* xml holds the introspection data of every interface the tree will serve. */
struct objtree *objtree_new(GDBusConnection *connection, const char *xml);
/* Unregisters everything without a signal: the owner is going away (a crash, or after a clean goodbye). */
void objtree_free(struct objtree *tree);
GDBusConnection *objtree_connection(struct objtree *tree);

struct obj *objtree_add(struct objtree *tree, const char *path);
const char *obj_path(const struct obj *obj);
/* Properties set before obj_announce() are its initial values and make no signal. */
struct obj_iface *obj_add_iface(struct obj *obj, const char *name, const struct obj_iface_ops *ops, void *user_data);
/* Exports the object: registers it and sends one InterfacesAdded with every interface and property. */
void obj_announce(struct obj *obj);
/* One InterfacesRemoved, unregisters and frees the object. */
void obj_remove(struct obj *obj);

/* Queue a property change. force: signal even when the value is the same (bluetoothd does, e.g. Value
 * after every ReadValue). A NULL value removes the property (it goes out as invalidated). Takes a
 * floating reference. */
void objtree_set(struct obj_iface *iface, const char *property, GVariant *value, bool force);
/* Change a property without any signal: bluetoothd sets Connected silently when the ATT channel beat
 * the kernel's connect event (bluez-5.66.md), and MTU appears and goes without one. */
void objtree_set_quiet(struct obj_iface *iface, const char *property, GVariant *value);
GVariant *objtree_get(struct obj_iface *iface, const char *property); /* borrowed; NULL if absent */
/* Send the queued changes of this interface as one PropertiesChanged now. */
void objtree_flush(struct obj_iface *iface);
/* Send a PropertiesChanged for exactly one property value now, whatever is queued (bluetoothd sends one
 * Value signal per notify session). */
void objtree_emit_value(struct obj_iface *iface, const char *property, GVariant *value);
struct obj *obj_iface_obj(struct obj_iface *iface);
