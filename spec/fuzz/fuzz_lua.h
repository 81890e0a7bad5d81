/*
 * fuzz_lua.h: one Lua 5.4 state for the targets that reach the C core
 * through Lua, or drive the project's own Lua modules (fuzz_acme,
 * fuzz_pem, fuzz_cli_ini, fuzz_renewal_conf, fuzz_jws).
 *
 * certbot.core (the fuzz-instrumented objects), cjson and cjson.safe are
 * preloaded, as main.c does; the project's Lua modules load from the
 * source tree (CB_FUZZ_TREE, set by the Makefile), so a target always runs
 * the Lua of the tree it was built from (CERTBOT_LUA_DEV=<tree>: another
 * tree's, to try a fix).  The driver spec/fuzz/fuzz_<name>.lua returns a
 * function run(input); every input is one protected call of it:
 *  - a Lua error out of run() is an ordinary outcome (the drivers here
 *    catch the errors that matter themselves and report them as below;
 *    FUZZ_SHOW_ERRORS=1 prints the others);
 *  - run() returning false, why is a broken property: the target prints
 *    why and abort()s, so libFuzzer keeps the input as a crash;
 *  - a sanitizer report is a crash as always.
 * A full garbage collection after every input runs the __gc of whatever C
 * objects the input made, so LeakSanitizer sees a leak in the C core
 * while the input that caused it is still the current one.
 *
 * Lua code is not compiled with coverage instrumentation, so libFuzzer
 * would see only the C edges and mutate the Lua-only parsers blind.  A
 * line hook feeds it the Lua side too: each (source, previous line, line)
 * step bumps one of FUZZ_LUA_COUNTERS 8-bit counters in libFuzzer's extra
 * counters section, which it treats as coverage features.
 */
#ifndef CERTBOT_FUZZ_LUA_H
#define CERTBOT_FUZZ_LUA_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#ifndef CB_FUZZ_TREE
#error "CB_FUZZ_TREE (the source tree) must be defined; see the Makefile's fuzz block"
#endif

int luaopen_certbot_core(lua_State *L);
int luaopen_cjson(lua_State *L);
int luaopen_cjson_safe(lua_State *L);

/* Test-harness state: the one Lua state of the run and its driver, and
 * the Lua line coverage libFuzzer reads. */
static lua_State *fuzz_L;
static int fuzz_run_ref = LUA_NOREF;

#define FUZZ_LUA_COUNTERS (1 << 16)
__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t fuzz_lua_counters[FUZZ_LUA_COUNTERS];
static uintptr_t fuzz_lua_prev;

static void fuzz_line_hook(lua_State *L, lua_Debug *ar)
{
	uintptr_t h;

	if (!lua_getinfo(L, "S", ar))
		return;
	/* a chunk's source string lives as long as its functions */
	h = ((uintptr_t)ar->source >> 4) * 0x9E3779B1u + (uintptr_t)ar->currentline;
	h ^= h >> 15;
	fuzz_lua_counters[(h ^ (fuzz_lua_prev >> 1)) % FUZZ_LUA_COUNTERS]++;
	fuzz_lua_prev = h;
}

static void fuzz_lua_close(void)
{
	if (fuzz_L != NULL)
		lua_close(fuzz_L);
	fuzz_L = NULL;
}

/* Load spec/fuzz/<driver> into a new state; abort() when it cannot. */
static void fuzz_lua_init(const char *driver)
{
	lua_State *L = luaL_newstate();

	if (L == NULL)
		abort();
	luaL_openlibs(L);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, luaopen_certbot_core);
	lua_setfield(L, -2, "certbot.core");
	lua_pushcfunction(L, luaopen_cjson);
	lua_setfield(L, -2, "cjson");
	lua_pushcfunction(L, luaopen_cjson_safe);
	lua_setfield(L, -2, "cjson.safe");
	lua_pop(L, 1);
	/* The tree's modules only: no system Lua path, no C modules.
	 * CERTBOT_LUA_DEV=<tree> takes them from another tree, as it does
	 * for the executable (to try a fix without rebuilding). */
	{
		const char *tree = getenv("CERTBOT_LUA_DEV");

		if (tree == NULL || *tree == '\0')
			tree = CB_FUZZ_TREE;
		lua_getglobal(L, "package");
		lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;%s/?.lua", tree, tree, tree);
		lua_setfield(L, -2, "path");
	}
	lua_pushliteral(L, "");
	lua_setfield(L, -2, "cpath");
	lua_pop(L, 1);
	lua_pushfstring(L, "%s/spec/fuzz/%s", CB_FUZZ_TREE, driver);
	if (luaL_loadfilex(L, lua_tostring(L, -1), "t") != LUA_OK ||
	    lua_pcall(L, 0, 1, 0) != LUA_OK || !lua_isfunction(L, -1)) {
		fprintf(stderr, "fuzz: cannot load the driver %s: %s\n", driver,
			lua_isstring(L, -1) ? lua_tostring(L, -1) : "it returned no function");
		abort();
	}
	fuzz_run_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT, 0);
	lua_sethook(L, fuzz_line_hook, LUA_MASKLINE, 0);
	fuzz_L = L;
	atexit(fuzz_lua_close); /* before LeakSanitizer's own exit check */
}

/* One input through the driver's run(). */
static int fuzz_lua_run(const uint8_t *data, size_t size)
{
	lua_State *L = fuzz_L;

	lua_rawgeti(L, LUA_REGISTRYINDEX, fuzz_run_ref);
	lua_pushlstring(L, (const char *)data, size);
	if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
		/* FUZZ_SHOW_ERRORS=1: print them, to see what inputs reach */
		const char *show = getenv("FUZZ_SHOW_ERRORS");
		if (show && *show == '1')
			fprintf(stderr, "fuzz: Lua error: %s\n",
				lua_isstring(L, -1) ? lua_tostring(L, -1) : "(not a string)");
	} else if (lua_isboolean(L, -2) && !lua_toboolean(L, -2)) {
		fprintf(stderr, "fuzz: property broken: %s\n",
			lua_isstring(L, -1) ? lua_tostring(L, -1) : "(no reason given)");
		abort();
	}
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT, 0);
	return 0;
}

#endif
