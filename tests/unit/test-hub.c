/* The event flow (gateway/hub.h): subscribers hear every event in subscription order; one that leaves while an
 * event is being delivered (itself or another) is never called after it left, and its destroy runs once; one
 * that joins meanwhile hears the next event, not this one; freeing the hub ends every subscription. */
#include <glib.h>

#include "hub.h"

struct sub {
	struct hub *hub;
	GString *log;     /* what every subscriber heard, in order */
	char name;
	unsigned id;
	unsigned leave;   /* this subscription's own id to end when called (0: none) */
	unsigned other;   /* another subscription to end when called (0: none) */
	struct sub *join; /* a subscriber to add when called */
	unsigned destroyed;
};

static void heard(const struct hub_event *ev, void *user_data)
{
	struct sub *s = user_data;

	g_string_append_printf(s->log, "%c%d ", s->name, (int)ev->time);
	if (s->leave)
		hub_unsubscribe(s->hub, s->leave);
	if (s->other)
		hub_unsubscribe(s->hub, s->other);
	if (s->join) {
		s->join->id = hub_subscribe(s->hub, heard, s->join, NULL);
		s->join = NULL;
	}
	s->leave = s->other = 0;
}

static void ended(gpointer user_data)
{
	((struct sub *)user_data)->destroyed++;
}

static void emit(struct hub *hub, int t)
{
	hub_emit(hub, &(struct hub_event){ .kind = HUB_BAND_CHANGED, .address = "C8:0F:10:11:22:33", .time = t });
}

static void test_order_and_unsubscribing_during_emit(void)
{
	struct hub *hub = hub_new();
	g_autoptr(GString) log = g_string_new(NULL);
	struct sub a = { .hub = hub, .log = log, .name = 'a' }, b = { .hub = hub, .log = log, .name = 'b' };
	struct sub c = { .hub = hub, .log = log, .name = 'c' }, d = { .hub = hub, .log = log, .name = 'd' };

	a.id = hub_subscribe(hub, heard, &a, ended);
	b.id = hub_subscribe(hub, heard, &b, ended);
	c.id = hub_subscribe(hub, heard, &c, ended);
	emit(hub, 1);
	g_assert_cmpstr(log->str, ==, "a1 b1 c1 ");
	/* a leaves by itself and sends c away before c is called; b adds d, which hears the next event only. */
	a.leave = a.id;
	a.other = c.id;
	b.join = &d;
	g_string_truncate(log, 0);
	emit(hub, 2);
	g_assert_cmpstr(log->str, ==, "a2 b2 ");
	g_assert_cmpuint(a.destroyed, ==, 1);
	g_assert_cmpuint(c.destroyed, ==, 1);
	g_string_truncate(log, 0);
	emit(hub, 3);
	g_assert_cmpstr(log->str, ==, "b3 d3 ");
	/* Unsubscribing an id that is gone changes nothing. */
	hub_unsubscribe(hub, a.id);
	hub_unsubscribe(hub, 9999);
	g_assert_cmpuint(a.destroyed, ==, 1);
	hub_free(hub);
	g_assert_cmpuint(b.destroyed, ==, 1);
	g_assert_cmpuint(c.destroyed, ==, 1);
}

static void test_no_subscriber(void)
{
	struct hub *hub = hub_new();

	emit(hub, 1);
	hub_free(hub);
	hub_free(NULL);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/hub/unsubscribe-during-emit", test_order_and_unsubscribing_during_emit);
	g_test_add_func("/hub/empty", test_no_subscriber);
	return g_test_run();
}
