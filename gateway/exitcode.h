/* The exit codes of every bandgate command, daemon and clients alike (DESIGN.md, "Interfaces others rely on"). */
#pragma once

enum exitcode {
	EXITCODE_OK = 0,
	EXITCODE_RUNTIME = 1, /* the command could not do its work: no daemon, no database, no such band, ... */
	EXITCODE_USAGE = 2,   /* the command line or the config is wrong (a config error names its file and line) */
};
