/* `bandgate passwd`: the dashboard's password, stored as a hash beside the database (web/auth.h). */
#pragma once

#include <stdbool.h>

/* Returns an enum exitcode. */
int passwd_run(const char *database, bool from_stdin);
