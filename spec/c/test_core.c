/* test_core.c: the C helpers every part of the core shares. */
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "core.h"
#include "tap.h"

static void b64(const char *in, const char *want)
{
	char out[64];
	size_t n = cb_b64url_encode((const unsigned char *)in, strlen(in), out);

	ok(n == strlen(want) && strcmp(out, want) == 0 &&
	   cb_b64url_len(strlen(in)) == n,
	   "base64url(\"%s\") = \"%s\" (got \"%s\")", in, want, out);
}

int main(void)
{
	lua_State *L;
	unsigned char bin[] = { 0xfb, 0xff, 0xfe };
	char out[8];

	/* RFC 4648 §10 vectors, without padding. */
	b64("", "");
	b64("f", "Zg");
	b64("fo", "Zm8");
	b64("foo", "Zm9v");
	b64("foob", "Zm9vYg");
	b64("fooba", "Zm9vYmE");
	b64("foobar", "Zm9vYmFy");
	cb_b64url_encode(bin, 3, out);
	ok(strcmp(out, "-__-") == 0, "base64url uses - and _ (got %s)", out);

	L = luaL_newstate();
	luaL_openlibs(L);
	ok(luaopen_certbot_core(L) == 1 && lua_istable(L, -1), "luaopen_certbot_core pushes a table");
	lua_getfield(L, -1, "version");
	ok(strcmp(lua_tostring(L, -1), CB_VERSION) == 0, "core.version is %s", CB_VERSION);
	lua_pop(L, 1);
	lua_getfield(L, -1, "sys");
	ok(lua_istable(L, -1), "core.sys is a table");
	lua_pop(L, 1);

	ok(cb_fail(L, "%s: %s", "thing", "why") == 2 && lua_isnil(L, -2) &&
	   strcmp(lua_tostring(L, -1), "thing: why") == 0,
	   "cb_fail pushes nil, message");
	lua_close(L);
	return done_testing();
}
