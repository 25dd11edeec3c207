/* /metrics in Prometheus's text format (version 0.0.4), from the core's health and the bands' views, and the
 * web's own count of answers by status code. Names and units as Prometheus's conventions say: a _total for a
 * counter, base units (bytes, seconds, a ratio for a share), labels for what varies. */
#pragma once

#include <stdint.h>

struct manager;

enum { METRICS_STATUS_MAX = 600 }; /* HTTP status codes counted: 100..599 */

char *metrics_text(struct manager *mgr, const uint64_t responses[METRICS_STATUS_MAX]);
