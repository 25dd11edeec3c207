/* A standalone driver for libFuzzer-style targets, so the fuzzers build and run with gcc as ctest cases:
 *     fuzz-TARGET [-mutations=N] [-max_len=N] [-seed=N] FILE|DIRECTORY...
 * runs every seed file (a directory's regular files, in name order) through LLVMFuzzerTestOneInput, then N
 * pseudo-random mutations of each seed (default 2000), no input longer than max_len bytes (default 64; a seed
 * is read up to it). The generator starts from a constant, or from -seed, so a run is the same every time: a
 * failure found once is found again with the same flags. Each input is copied into a heap block of exactly
 * its size, so that ASan sees a read past the end. It is no coverage-guided fuzzer; for that build the
 * target with clang and -fsanitize=fuzzer (BANDGATE_LIBFUZZER). The flags are libFuzzer's names for the same
 * things, so one command line serves both builds. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

enum {
	MAX_LEN_DEFAULT = 64,    /* longer than any Mi Band 2 frame (20 bytes), so lengths past it get tried */
	SEEDS_MAX = 1024,
	MUTATIONS_DEFAULT = 2000,
};

struct seed {
	char *path;
	uint8_t *data;
	size_t size;
};

static struct seed seeds[SEEDS_MAX];
static size_t n_seeds;
static size_t max_len = MAX_LEN_DEFAULT;
static uint64_t rng_state = 0x6d69626164326667u;

/* xorshift64*: small, fast, and the same on every platform. */
static uint32_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1du) >> 32);
}

static size_t rng_below(size_t n)
{
	return n == 0 ? 0 : rng() % n;
}

/* Runs one input from its own heap block of exactly size bytes. */
static void run(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		abort();
	if (size > 0)
		memcpy(copy, data, size);
	LLVMFuzzerTestOneInput(copy, size);
	free(copy);
}

static int add_seed(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct seed *s = &seeds[n_seeds];

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (n_seeds == SEEDS_MAX) {
		fprintf(stderr, "%s: more than %d seeds\n", path, SEEDS_MAX);
		fclose(f);
		return -1;
	}
	s->data = malloc(max_len);
	s->path = strdup(path);
	if (!s->data || !s->path)
		abort();
	s->size = fread(s->data, 1, max_len, f);
	fclose(f);
	n_seeds++;
	return 0;
}

static int add_directory(const char *dir)
{
	struct dirent **entries;
	int n = scandir(dir, &entries, NULL, alphasort), r = 0;

	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, entries[i]->d_name);
		if (r == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			r = add_seed(path);
		free(entries[i]);
	}
	free(entries);
	return r;
}

/* One edit of buf[0..*size), which has room for max_len bytes. */
static void mutate_once(uint8_t *buf, size_t *size)
{
	static const uint8_t interesting[] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x10, 0x7f, 0x80, 0xc0, 0xe0, 0xf0, 0xff };
	const struct seed *other = &seeds[rng_below(n_seeds)];
	size_t pos = rng_below(*size), n;

	switch (rng_below(8)) {
	case 0: /* flip a bit */
		if (*size > 0)
			buf[pos] ^= (uint8_t)(1u << rng_below(8));
		break;
	case 1: /* a random byte */
		if (*size > 0)
			buf[pos] = (uint8_t)rng();
		break;
	case 2: /* a byte from the edges of ranges */
		if (*size > 0)
			buf[pos] = interesting[rng_below(sizeof(interesting))];
		break;
	case 3: /* insert a byte */
		if (*size < max_len) {
			memmove(buf + pos + 1, buf + pos, *size - pos);
			buf[pos] = (uint8_t)rng();
			(*size)++;
		}
		break;
	case 4: /* delete a byte */
		if (*size > 0) {
			memmove(buf + pos, buf + pos + 1, *size - pos - 1);
			(*size)--;
		}
		break;
	case 5: /* cut short */
		*size = rng_below(*size + 1);
		break;
	case 6: /* append random bytes */
		for (n = rng_below(8) + 1; n > 0 && *size < max_len; n--)
			buf[(*size)++] = (uint8_t)rng();
		break;
	case 7: /* splice: this seed's head, another's tail */
		n = rng_below(other->size + 1);
		if (pos + (other->size - n) <= max_len) {
			memcpy(buf + pos, other->data + n, other->size - n);
			*size = pos + (other->size - n);
		}
		break;
	}
}

static void fuzz_seed(const struct seed *s, unsigned long mutations)
{
	uint8_t *buf = malloc(max_len);
	size_t size;

	if (!buf)
		abort();
	run(s->data, s->size);
	for (unsigned long i = 0; i < mutations; i++) {
		memcpy(buf, s->data, s->size);
		size = s->size;
		for (size_t edits = rng_below(4) + 1; edits > 0; edits--)
			mutate_once(buf, &size);
		run(buf, size);
	}
	free(buf);
}

/* -name=N: true with *ret set when arg is that flag. */
static bool flag(const char *arg, const char *name, unsigned long long *ret)
{
	size_t len = strlen(name);

	if (strncmp(arg, name, len) != 0 || arg[len] != '=')
		return false;
	*ret = strtoull(arg + len + 1, NULL, 0);
	return true;
}

/* The flags first, wherever they stand: a seed is read up to max_len. */
static void parse_flags(int argc, char **argv, unsigned long *ret_mutations)
{
	unsigned long long v;

	for (int i = 1; i < argc; i++) {
		if (flag(argv[i], "-mutations", &v))
			*ret_mutations = (unsigned long)v;
		else if (flag(argv[i], "-max_len", &v) && v > 0)
			max_len = (size_t)v;
		else if (flag(argv[i], "-seed", &v) && v > 0)
			rng_state = v;
		else if (argv[i][0] == '-')
			fprintf(stderr, "%s: ignoring option %s\n", argv[0], argv[i]);
	}
}

int main(int argc, char **argv)
{
	unsigned long mutations = MUTATIONS_DEFAULT;
	struct stat st;

	parse_flags(argc, argv, &mutations);
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			continue;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return EXIT_FAILURE;
		}
		if ((S_ISDIR(st.st_mode) ? add_directory(argv[i]) : add_seed(argv[i])) < 0)
			return EXIT_FAILURE;
	}
	if (n_seeds == 0) {
		fprintf(stderr, "usage: %s [-mutations=N] [-max_len=N] [-seed=N] FILE|DIRECTORY...\n", argv[0]);
		return EXIT_FAILURE;
	}
	for (size_t i = 0; i < n_seeds; i++) {
		printf("%s: %zu bytes, %lu mutations\n", seeds[i].path, seeds[i].size, mutations);
		fflush(stdout);
		fuzz_seed(&seeds[i], mutations);
	}
	printf("%zu seeds, %lu runs: ok\n", n_seeds, (unsigned long)n_seeds * (mutations + 1));
	return EXIT_SUCCESS;
}
