/* Bluetooth addresses (gateway/address.h): both forms in, one canonical form out, and everything else refused
 * with the output untouched, whatever the locale. */
#include <glib.h>
#include <locale.h>
#include <string.h>

#include "address.h"

static void test_valid_and_normalise(void)
{
	char out[ADDRESS_SIZE];

	g_assert_true(address_valid("C8:0F:10:11:22:33"));
	g_assert_true(address_valid("c8:0f:10:aa:bb:cc"));
	g_assert_true(address_normalise("c8:0f:10:aa:bb:cc", out));
	g_assert_cmpstr(out, ==, "C8:0F:10:AA:BB:CC");
	static const char *const bad[] = {
		"", "C8:0F:10:11:22", "C8:0F:10:11:22:33:", "C8:0F:10:11:22:3G", "C8-0F-10-11-22-33", "C80F:10:11:22:33:",
		"c80f10112233", " C8:0F:10:11:22:33", "C8:0F:10:11:22:33\n", "C8:0F:10:11:22:\xc3\xa9",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		memset(out, 'x', sizeof(out));
		g_assert_false(address_valid(bad[i]));
		g_assert_false(address_normalise(bad[i], out));
		g_assert_cmpint(out[0], ==, 'x'); /* untouched */
	}
	g_assert_false(address_valid(NULL));
	g_assert_false(address_normalise(NULL, out));
}

static void test_parse_both_forms(void)
{
	char out[ADDRESS_SIZE];

	g_assert_true(address_parse("c80f10aabbcc", 12, out));
	g_assert_cmpstr(out, ==, "C8:0F:10:AA:BB:CC");
	g_assert_true(address_parse("C8:0F:10:aa:bb:cc", 17, out));
	g_assert_cmpstr(out, ==, "C8:0F:10:AA:BB:CC");
	/* A length that cuts a longer string: the id of a URL path such as "c80f10aabbcc/actions/sync". */
	g_assert_true(address_parse("c80f10aabbcc/actions/sync", 12, out));
	g_assert_cmpstr(out, ==, "C8:0F:10:AA:BB:CC");
	g_assert_false(address_parse("c80f10aabbc", 11, out));
	g_assert_false(address_parse("c80f10aabbcg", 12, out));
	g_assert_false(address_parse("c80f10aabbcc0", 13, out));
	g_assert_false(address_parse("c8:0f10aabbcc", 13, out));
	g_assert_false(address_parse("", 0, out));
}

static void test_id_round_trip(void)
{
	char id[ADDRESS_ID_SIZE], back[ADDRESS_SIZE];

	address_to_id("C8:0F:10:AA:BB:CC", id);
	g_assert_cmpstr(id, ==, "c80f10aabbcc");
	g_assert_true(address_parse(id, strlen(id), back));
	g_assert_cmpstr(back, ==, "C8:0F:10:AA:BB:CC");
}

/* In a Turkish locale toupper('i') is not 'I'; hex digits have no i, but the rule is: no locale at all. */
static void test_locale_free(void)
{
	char out[ADDRESS_SIZE];

	setlocale(LC_ALL, "tr_TR.UTF-8");
	g_assert_true(address_normalise("ab:cd:ef:ab:cd:ef", out));
	g_assert_cmpstr(out, ==, "AB:CD:EF:AB:CD:EF");
	setlocale(LC_ALL, "C");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/address/valid", test_valid_and_normalise);
	g_test_add_func("/address/parse", test_parse_both_forms);
	g_test_add_func("/address/id", test_id_round_trip);
	g_test_add_func("/address/locale", test_locale_free);
	return g_test_run();
}
