/* jws.c: JWK, RFC 7638 thumbprint, flattened JWS signatures. */
#include "core.h"

static const luaL_Reg jws_funcs[] = {
	{ NULL, NULL }
};

int cb_open_jws(lua_State *L)
{
	luaL_newlib(L, jws_funcs);
	return 1;
}
