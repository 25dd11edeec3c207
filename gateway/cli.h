/* The command-line client of the daemon (DESIGN.md): scan, pair, status, and the operator actions, asked of
 * the running daemon over its API socket. */
#pragma once

#include <stdbool.h>

enum { CLI_EXIT_RUNTIME = 1, CLI_EXIT_USAGE = 2 };

bool cli_is_command(const char *word);
/* command: status, scan, pair, reconnect, reset, repair, reboot, sync, forget, factory-reset, notify; arg: the
 * address; text and category: notify's. (export reads the database itself: export.h.) */
int cli_run(const char *socket_path, const char *command, const char *arg, bool json, bool confirm,
            const char *text, const char *category);
