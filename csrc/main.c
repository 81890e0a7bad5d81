/*
 * main.c: the certbot executable.  One Lua 5.4 state; certbot.core, cjson,
 * cjson.safe and every embedded Lua module are preloaded; certbot.main runs
 * through one protected call with a traceback handler.
 *
 * CERTBOT_LUA_DEV=<tree> loads the Lua modules from that source tree instead
 * of the embedded copies, so Lua changes need no rebuild.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "core.h"
#include "embed.h"

int luaopen_cjson(lua_State *L);
int luaopen_cjson_safe(lua_State *L);

/* package.preload loader for embedded module number upvalue(1). */
static int load_embedded(lua_State *L)
{
	const struct cb_embedded *m =
		&cb_embedded[lua_tointeger(L, lua_upvalueindex(1))];
	const char *dev = getenv("CERTBOT_LUA_DEV");
	int rc;

	if (dev && *dev) {
		lua_pushfstring(L, "%s/%s", dev, m->path);
		rc = luaL_loadfilex(L, lua_tostring(L, -1), "t");
	} else {
		/* Our own modules, precompiled by gen_embed.lua. */
		rc = luaL_loadbufferx(L, (const char *)m->data, m->len,
				      m->chunkname, "b");
	}
	if (rc != LUA_OK)
		return lua_error(L);
	lua_pushstring(L, m->modname);
	lua_call(L, 1, 1);
	return 1;
}

static void preload(lua_State *L)
{
	size_t i;

	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, luaopen_certbot_core);
	lua_setfield(L, -2, "certbot.core");
	lua_pushcfunction(L, luaopen_cjson);
	lua_setfield(L, -2, "cjson");
	lua_pushcfunction(L, luaopen_cjson_safe);
	lua_setfield(L, -2, "cjson.safe");
	for (i = 0; i < cb_embedded_count; i++) {
		lua_pushinteger(L, (lua_Integer)i);
		lua_pushcclosure(L, load_embedded, 1);
		lua_setfield(L, -2, cb_embedded[i].modname);
	}
	lua_pop(L, 1);
}

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	if (msg == NULL) {
		if (luaL_callmeta(L, 1, "__tostring") &&
		    lua_type(L, -1) == LUA_TSTRING)
			return 1;
		msg = lua_pushfstring(L, "(error object is a %s value)",
				      luaL_typename(L, 1));
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

/* The one door into Lua: f(args...) with a traceback on error. */
static int cb_pcall(lua_State *L, int nargs, int nresults)
{
	int base = lua_gettop(L) - nargs;
	int rc;

	lua_pushcfunction(L, traceback);
	lua_insert(L, base);
	rc = lua_pcall(L, nargs, nresults, base);
	lua_remove(L, base);
	return rc;
}

/* Lua side: require("certbot.main").main(argv) -> exit status. */
static int run(lua_State *L)
{
	int argc = (int)lua_tointeger(L, 1);
	char **argv = lua_touserdata(L, 2);
	int i;

	luaL_openlibs(L);
	/* Generational GC: a run makes many short-lived strings and tables
	 * (parsed JSON, PEM text) and few long-lived ones. */
	lua_gc(L, LUA_GCGEN, 0, 0);
	preload(L);
	lua_createtable(L, argc, 1);
	for (i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i);
	}
	lua_pushvalue(L, -1);
	lua_setglobal(L, "arg");
	lua_getglobal(L, "require");
	lua_pushliteral(L, "certbot.main");
	lua_call(L, 1, 1);
	lua_getfield(L, -1, "main");
	lua_pushvalue(L, -3);
	lua_call(L, 1, 1);
	return 1;
}

int main(int argc, char **argv)
{
	lua_State *L = luaL_newstate();
	int status;

	if (L == NULL) {
		fputs("certbot: cannot create the Lua state: out of memory\n", stderr);
		return 1;
	}
	lua_pushcfunction(L, run);
	lua_pushinteger(L, argc);
	lua_pushlightuserdata(L, argv);
	if (cb_pcall(L, 2, 1) != LUA_OK) {
		/* certbot.main handles its own errors; this is the last resort. */
		const char *msg = lua_tostring(L, -1);
		fprintf(stderr, "certbot: internal error: %s\n",
			msg ? msg : "(no message)");
		lua_close(L);
		return 1;
	}
	status = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
	lua_close(L);
	return status;
}
