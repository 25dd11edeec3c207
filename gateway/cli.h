/* The command-line client of the daemon (DESIGN.md): scan, pair, status, and the operator actions, asked of
 * the running daemon over its API socket. */
#pragma once

#include <stdbool.h>

#include "exitcode.h"

/* Whether word is a client command (or an action) rather than the daemon's run. */
bool cli_is_command(const char *word);
/* command: status, scan, pair, or an action of action.h; arg: the address; text and category: notify's.
 * (export reads the database itself: export.h.) Returns an enum exitcode. */
int cli_run(const char *socket_path, const char *command, const char *arg, bool json, bool confirm,
            const char *text, const char *category);
