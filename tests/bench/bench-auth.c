/* The login hash's cost (issue 16's figure): the time of one auth_verify (one yescrypt hash at libxcrypt's
 * default cost), the median of N, on this machine; a Raspberry Pi 3 core is taken as a quarter of one here.
 *     build/release/tests/bench/bench-auth [N]        (default 20) */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "auth.h"

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20;
	g_autofree char *hash = auth_hash("a password of the kind a person types", NULL);
	g_autofree double *ms = g_new(double, n > 0 ? n : 1);

	if (n < 1 || !hash) {
		fprintf(stderr, "usage: bench-auth [N >= 1]\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		int64_t t0 = g_get_monotonic_time();

		if (!auth_verify("a password of the kind a person types", hash))
			return 1;
		ms[i] = (double)(g_get_monotonic_time() - t0) / 1000.0;
	}
	qsort(ms, (size_t)n, sizeof(*ms), by_value);
	printf("yescrypt verify: median %.1f ms, min %.1f, max %.1f, N=%d\n", ms[n / 2], ms[0], ms[n - 1], n);
	printf("on a Raspberry Pi 3 core (a quarter of this one): about %.0f ms per login attempt\n", ms[n / 2] * 4);
	return 0;
}
