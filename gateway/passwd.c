/* `bandgate passwd [--stdin]`: the dashboard's password, read twice (from the terminal without echo, or two lines
 * of standard input), stored as a hash where the daemon reads it (auth.h). The running daemon takes it on its
 * next reload (SIGHUP: `systemctl reload bandgate`) or start. */
#define G_LOG_DOMAIN "bandgate-cli" /* G_MESSAGES_DEBUG=bandgate-cli turns on its debug lines alone */
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth.h"
#include "exitcode.h"
#include "passwd.h"

/* One line, without its newline; echo off while a terminal types it. NULL at the end of input. */
static char *read_line(const char *prompt, bool terminal)
{
	char buf[AUTH_PASSWORD_MAX + 2];
	struct termios old, quiet;
	bool hidden = terminal && tcgetattr(STDIN_FILENO, &old) == 0;
	char *got;

	if (terminal)
		fputs(prompt, stderr);
	if (hidden) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	got = fgets(buf, sizeof(buf), stdin);
	if (hidden) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (!got)
		return NULL;
	buf[strcspn(buf, "\n")] = '\0';
	got = g_strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return got;
}

int passwd_run(const char *database, bool from_stdin)
{
	bool terminal = !from_stdin && isatty(STDIN_FILENO);
	g_autofree char *path = auth_path(database), *hash = NULL;
	char *first, *second;
	g_autoptr(GError) error = NULL;
	int status = EXITCODE_OK;

	if (!from_stdin && !terminal) {
		fputs("bandgate passwd: not a terminal; give the password twice on standard input with --stdin\n", stderr);
		return EXITCODE_USAGE;
	}
	first = read_line("New password for the dashboard: ", terminal);
	second = read_line("The same again: ", terminal);
	if (!first || !second || strcmp(first, second) != 0) {
		fputs("bandgate passwd: the two passwords differ (or one is missing); nothing changed\n", stderr);
		status = EXITCODE_USAGE;
	} else if (!(hash = auth_hash(first, &error))) {
		fprintf(stderr, "bandgate passwd: %s; nothing changed\n", error->message);
		status = EXITCODE_USAGE;
	} else if (!auth_store(path, hash, &error)) {
		fprintf(stderr, "bandgate passwd: %s\n", error->message);
		status = EXITCODE_RUNTIME;
	} else {
		printf("stored in %s; the daemon takes it on its next reload (systemctl reload bandgate) or start\n", path);
	}
	if (first)
		explicit_bzero(first, strlen(first));
	if (second)
		explicit_bzero(second, strlen(second));
	g_free(first);
	g_free(second);
	return status;
}
