/*
 * core.c: luaopen_certbot_core, the one exported symbol, and the helpers
 * every part of the core shares.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "core.h"

int cb_fail(lua_State *L, const char *fmt, ...)
{
	va_list ap;

	lua_pushnil(L);
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	return 2;
}

int cb_ossl_fail(lua_State *L, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e == 0) {
		ERR_clear_error();
		return cb_fail(L, "%s: failed", what);
	}
	/* The first error is the root cause; later ones are context. */
	ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	{
		/* OpenSSL's text is "error:XXXX:lib:func:reason"; keep the reason. */
		const char *r = strrchr(buf, ':');
		return cb_fail(L, "%s: %s", what, r && r[1] ? r + 1 : buf);
	}
}

static const struct {
	const char *name;
	int (*open)(lua_State *L);
} submodules[] = {
	{ "crypto", cb_open_crypto },
	{ "jws", cb_open_jws },
	{ "sys", cb_open_sys },
	{ "standalone", cb_open_standalone },
	{ "http", cb_open_http },
	{ "augeas", cb_open_augeas },
	{ "ocsp", cb_open_ocsp },
	{ "dnsnet", cb_open_dnsnet },
	{ "proc", cb_open_proc },
};

CB_EXPORT int luaopen_certbot_core(lua_State *L)
{
	size_t i;

	luaL_checkversion(L);
	lua_createtable(L, 0, (int)(sizeof submodules / sizeof submodules[0]) + 1);
	for (i = 0; i < sizeof submodules / sizeof submodules[0]; i++) {
		submodules[i].open(L);
		lua_setfield(L, -2, submodules[i].name);
	}
	lua_pushliteral(L, CB_VERSION);
	lua_setfield(L, -2, "version");
	return 1;
}
