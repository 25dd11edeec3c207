/* The dashboard's files (web/assets/), embedded at build time by web/embed.cmake: nothing is read from disk or
 * fetched at run time (the LAN may have no internet). */
#pragma once

#include <stddef.h>

struct asset {
	const char *path;         /* "/index.html" */
	const char *content_type;
	const char *etag;         /* quoted, as the header carries it */
	const unsigned char *data;
	size_t size;
	const unsigned char *gzip; /* NULL when gzip would not pay */
	size_t gzip_size;
};

extern const struct asset assets[]; /* ends with a zeroed entry */

/* The file a GET path names ("/" is "/index.html"), by exact name: no path is ever joined or opened. */
const struct asset *asset_find(const char *path);
