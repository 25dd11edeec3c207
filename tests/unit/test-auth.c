/* The dashboard's password (web/auth.h): yescrypt hashes that verify the right password only, with a fresh salt
 * each time; passwords a person can type; the file written 0600 and refused when others may read it; a first
 * start that makes a password and logs it once. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.h"

static void test_hash_and_verify(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *a = auth_hash("correct horse battery", &error), *b = auth_hash("correct horse battery", NULL);

	g_assert_no_error(error);
	g_assert_true(g_str_has_prefix(a, "$y$"));
	g_assert_cmpstr(a, !=, b); /* salted */
	g_assert_true(auth_verify("correct horse battery", a));
	g_assert_true(auth_verify("correct horse battery", b));
	g_assert_false(auth_verify("correct horse batterY", a));
	g_assert_false(auth_verify("correct horse battery ", a));
	g_assert_false(auth_verify("", a));
	g_assert_false(auth_verify(NULL, a));
	g_assert_false(auth_verify("correct horse battery", NULL));
	/* Only yescrypt: a DES or MD5 crypt string, or nothing at all, matches no password. */
	g_assert_false(auth_verify("correct horse battery", "abJnggxhB/yWI"));
	g_assert_false(auth_verify("correct horse battery", "$1$salt$x"));
	g_assert_false(auth_verify("correct horse battery", ""));
}

static void test_what_a_password_may_be(void)
{
	g_autofree char *longest = g_strnfill(AUTH_PASSWORD_MAX, 'x'), *too_long = g_strnfill(AUTH_PASSWORD_MAX + 1, 'x');
	static const char *const bad[] = { "", "short", "with\ttab inside", "new\nline inside", "bad \xff utf8 here",
		                           "del\x7f inside" };

	g_assert_true(auth_password_valid("Grüße, Welt", NULL));
	g_assert_true(auth_password_valid(longest, NULL));
	g_assert_false(auth_password_valid(too_long, NULL));
	g_assert_null(auth_hash(too_long, NULL));
	g_assert_false(auth_verify(too_long, "$y$j9T$abc$def"));
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;

		g_assert_false(auth_password_valid(bad[i], &error));
		g_assert_nonnull(error);
		g_assert_null(auth_hash(bad[i], NULL));
	}
}

static void test_random_passwords(void)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	for (int i = 0; i < 200; i++) {
		char *p = auth_random_password();

		g_assert_cmpuint(strlen(p), ==, 20);
		g_assert_cmpuint(strspn(p, "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"), ==, 20);
		g_assert_true(auth_password_valid(p, NULL));
		g_assert_false(g_hash_table_contains(seen, p));
		g_hash_table_add(seen, p);
	}
}

static void test_file(void)
{
	g_autofree char *dir = g_dir_make_tmp("bandgate-auth-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "web-password", NULL);
	g_autofree char *hash = auth_hash("a password here", NULL), *back = NULL;
	g_autoptr(GError) error = NULL;
	struct stat st;

	g_assert_true(auth_store(path, hash, &error));
	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 07777, ==, 0600);
	back = auth_load(path, &error);
	g_assert_cmpstr(back, ==, hash);
	/* Readable by others: refused, with the cure. */
	g_assert_cmpint(chmod(path, 0644), ==, 0);
	g_assert_null(auth_load(path, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
	g_assert_nonnull(strstr(error->message, "chmod 600"));
	g_clear_error(&error);
	/* Not a hash. */
	g_assert_true(g_file_set_contents_full(path, "hunter2\n", -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL));
	g_assert_null(auth_load(path, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_clear_error(&error);
	g_unlink(path);
	g_rmdir(dir);
}

static void test_first_start_makes_a_password_once(void)
{
	g_autofree char *dir = g_dir_make_tmp("bandgate-auth-XXXXXX", NULL);
	g_autofree char *db = g_build_filename(dir, "bandgate.db", NULL), *path = auth_path(db);
	g_autofree char *first = NULL, *again = NULL;

	g_assert_cmpstr(path + strlen(dir), ==, "/web-password");
	g_test_expect_message("bandgate-web", G_LOG_LEVEL_MESSAGE, "the dashboard's password is *");
	first = auth_prepare(path, NULL);
	g_test_assert_expected_messages();
	g_assert_true(g_str_has_prefix(first, "$y$"));
	/* The second start reads it, makes nothing and logs nothing (an unexpected message would fail here). */
	again = auth_prepare(path, NULL);
	g_assert_cmpstr(again, ==, first);
	g_unlink(path);
	g_rmdir(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/auth/hash-verify", test_hash_and_verify);
	g_test_add_func("/auth/valid", test_what_a_password_may_be);
	g_test_add_func("/auth/random", test_random_passwords);
	g_test_add_func("/auth/file", test_file);
	g_test_add_func("/auth/first-start", test_first_start_makes_a_password_once);
	return g_test_run();
}
