/* auth.h. libxcrypt does the hashing (crypt_gensalt_rn, crypt_rn): the same code and cost Debian uses for
 * system passwords, kept by its maintainers, rather than a KDF call and an encoding of our own. */
#define G_LOG_DOMAIN "bandgate-web" /* G_MESSAGES_DEBUG=bandgate-web turns on its debug lines alone */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"

#define PREFIX "$y$"

bool auth_password_valid(const char *password, GError **error)
{
	size_t len = password ? strnlen(password, AUTH_PASSWORD_MAX + 1) : 0;

	if (len < AUTH_PASSWORD_MIN || len > AUTH_PASSWORD_MAX) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "a password is %d to %d bytes long",
		            AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
		return false;
	}
	if (!g_utf8_validate(password, (gssize)len, NULL)) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "a password is UTF-8 text");
		return false;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)password[i] < 0x20 || password[i] == 0x7f) {
			g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			                    "a password holds no control characters");
			return false;
		}
	return true;
}

char *auth_hash(const char *password, GError **error)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data;
	char *out = NULL;

	if (!auth_password_valid(password, error))
		return NULL;
	/* count 0: libxcrypt's default cost for yescrypt; a NULL random source: it reads the kernel's. */
	if (!crypt_gensalt_rn(PREFIX, 0, NULL, 0, setting, sizeof(setting))) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "no salt for the hash: %s", g_strerror(errno));
		return NULL;
	}
	data = g_new0(struct crypt_data, 1);
	if (crypt_rn(password, setting, data, sizeof(*data)) && g_str_has_prefix(data->output, PREFIX))
		out = g_strdup(data->output);
	else
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the password could not be hashed: %s", g_strerror(errno));
	explicit_bzero(data, sizeof(*data));
	g_free(data);
	return out;
}

bool auth_verify(const char *password, const char *hash)
{
	struct crypt_data *data;
	bool ok = false;
	size_t len;

	if (!password || !hash || !g_str_has_prefix(hash, PREFIX) || strnlen(password, AUTH_PASSWORD_MAX + 1) >
	    AUTH_PASSWORD_MAX)
		return false;
	data = g_new0(struct crypt_data, 1);
	if (crypt_rn(password, hash, data, sizeof(*data))) {
		len = strlen(hash);
		ok = strlen(data->output) == len && CRYPTO_memcmp(data->output, hash, len) == 0;
	}
	explicit_bzero(data, sizeof(*data));
	g_free(data);
	return ok;
}

char *auth_random_password(void)
{
	static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"; /* 56 */
	unsigned char bytes[20];
	char *out = g_malloc(sizeof(bytes) + 1);

	/* 256 % 56 != 0: bytes past the last whole multiple are drawn again, so every character is as likely. */
	for (size_t i = 0; i < sizeof(bytes); i++) {
		do {
			if (RAND_bytes(&bytes[i], 1) != 1)
				g_error("no random bytes from OpenSSL"); /* nothing safe to fall back on */
		} while (bytes[i] >= 256 - 256 % (sizeof(alphabet) - 1));
		out[i] = alphabet[bytes[i] % (sizeof(alphabet) - 1)];
	}
	out[sizeof(bytes)] = '\0';
	explicit_bzero(bytes, sizeof(bytes));
	return out;
}

bool auth_store(const char *path, const char *hash, GError **error)
{
	g_autofree char *text = g_strconcat(hash, "\n", NULL);

	/* g_file_set_contents writes a temporary file and renames it: never a half-written hash. The mode is set on
	 * the temporary file before the rename, so the hash is never readable by others for a moment. */
	return g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

char *auth_path(const char *database)
{
	g_autofree char *dir = g_path_get_dirname(database);

	return g_build_filename(dir, "web-password", NULL);
}

char *auth_prepare(const char *path, GError **error)
{
	g_autoptr(GError) missing = NULL;
	g_autofree char *password = NULL, *hash = auth_load(path, &missing);

	if (hash || !g_error_matches(missing, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
		if (missing)
			g_propagate_error(error, g_steal_pointer(&missing));
		return g_steal_pointer(&hash);
	}
	password = auth_random_password();
	hash = auth_hash(password, error);
	if (!hash || !auth_store(path, hash, error))
		return NULL;
	/* The one place a secret is logged, as the issue asks: a first password nobody could know otherwise. */
	g_message("the dashboard's password is %s (shown this once; 'bandgate passwd' sets another)", password);
	explicit_bzero(password, strlen(password));
	return g_steal_pointer(&hash);
}

char *auth_load(const char *path, GError **error)
{
	g_autofree char *text = NULL;
	struct stat st;

	if (stat(path, &st) != 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s", path, g_strerror(errno));
		return NULL;
	}
	if (st.st_mode & 077) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
		            "%s: others may read it (mode %04o); only the daemon's user may (chmod 600)", path,
		            (unsigned)(st.st_mode & 07777));
		return NULL;
	}
	if (!g_file_get_contents(path, &text, NULL, error))
		return NULL;
	g_strchomp(text);
	if (!g_str_has_prefix(text, PREFIX) || strchr(text, '\n') || strlen(text) >= CRYPT_OUTPUT_SIZE) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not a password hash ('bandgate passwd' makes one)",
		            path);
		return NULL;
	}
	return g_steal_pointer(&text);
}
