/* route_number() in a process's first parse, while another thread is in g_once_init_enter(): the case where GLib
 * 2.74's g_ascii_string_to_unsigned() refuses a valid number (see route.h). Not a GTest program: g_test_init() and
 * g_test_trap_subprocess() parse numbers with GLib themselves, so their processes are never fresh. Each child here
 * is: its first parse meets a thread entering g_once_init_enter() for fresh flags. With GLib's parser in
 * route_number(), about one child in four fails. */
#include <glib.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "route.h"

enum { CHILDREN = 40 };

static gsize once_flags[1 << 22];

static gpointer enter_onces(gpointer unused)
{
	(void)unused;
	for (size_t i = 0; i < G_N_ELEMENTS(once_flags); i++)
		if (g_once_init_enter(&once_flags[i]))
			g_once_init_leave(&once_flags[i], 1);
	return NULL;
}

static int first_parse(void)
{
	uint64_t v = 1;

	g_thread_unref(g_thread_new("onces", enter_onces, NULL));
	g_usleep(2000);
	return route_number("0", 0, UINT64_MAX, &v) && v == 0 ? 0 : 1;
}

int main(void)
{
	int failed = 0;

	for (int i = 0; i < CHILDREN; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			_exit(first_parse());
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	printf("%d of %d first parses of \"0\" beside a thread in g_once_init_enter() refused it\n", failed, CHILDREN);
	return failed ? 1 : 0;
}
