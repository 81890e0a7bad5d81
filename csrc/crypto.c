/* crypto.c: keys, CSRs, X.509 parsing, hashes, base64url. */
#include <string.h>

#include <openssl/evp.h>

#include "core.h"

/* ---- base64url (RFC 4648 §5, no padding) ---- */

static const char b64url_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t cb_b64url_len(size_t n)
{
	return (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t cb_b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
		out[o++] = b64url_chars[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

void cb_push_b64url(lua_State *L, const unsigned char *in, size_t n)
{
	luaL_Buffer b;
	char *p = luaL_buffinitsize(L, &b, cb_b64url_len(n) + 1);

	luaL_pushresultsize(&b, cb_b64url_encode(in, n, p));
}

/* ---- key userdata ---- */

cb_key *cb_newkey(lua_State *L)
{
	cb_key *k = lua_newuserdatauv(L, sizeof *k, 0);

	k->pkey = NULL;
	k->is_private = 0;
	luaL_setmetatable(L, CB_KEY_MT);
	return k;
}

cb_key *cb_checkkey(lua_State *L, int idx, int want_private)
{
	cb_key *k = luaL_checkudata(L, idx, CB_KEY_MT);

	if (k->pkey == NULL)
		luaL_argerror(L, idx, "key has been freed");
	if (want_private && !k->is_private)
		luaL_argerror(L, idx, "expected a private key, got a public key");
	return k;
}

static int key_gc(lua_State *L)
{
	cb_key *k = luaL_checkudata(L, 1, CB_KEY_MT);

	if (k->pkey) {
		EVP_PKEY_free(k->pkey);
		k->pkey = NULL;
	}
	return 0;
}

static const luaL_Reg key_meta[] = {
	{ "__gc", key_gc },
	{ "__close", key_gc },
	{ NULL, NULL }
};

static int l_b64url_encode(lua_State *L)
{
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);

	cb_push_b64url(L, (const unsigned char *)s, n);
	return 1;
}

static const luaL_Reg crypto_funcs[] = {
	{ "b64url_encode", l_b64url_encode },
	{ NULL, NULL }
};

int cb_open_crypto(lua_State *L)
{
	if (luaL_newmetatable(L, CB_KEY_MT))
		luaL_setfuncs(L, key_meta, 0);
	lua_pop(L, 1);
	luaL_newlib(L, crypto_funcs);
	return 1;
}
