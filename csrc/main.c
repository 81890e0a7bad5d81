/*
 * main.c: the certbot executable.  One Lua 5.4 state; certbot.core, cjson,
 * cjson.safe and every embedded Lua module are preloaded; certbot.main runs
 * through one protected call with a traceback handler.
 *
 * CERTBOT_LUA_DEV=<tree> loads the Lua modules from that source tree instead
 * of the embedded copies, so Lua changes need no rebuild.
 *
 * Signals: SIGINT, SIGTERM, SIGHUP and SIGQUIT (unless inherited as
 * ignored, as under nohup) do not kill the process outright.  The handler
 * arms a count hook, which raises a Lua error at the next instruction, so
 * the pcall paths that clean up (challenge records, responders, webroot
 * files) still run.  As Certbot does: after SIGINT the run ends with
 * "Exiting due to user request." and status 1; after the others, once the
 * cleanup is done, the signal is raised again with its default action, so
 * the parent sees the process killed by it.
 */
#include <signal.h>
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

static int luaopen_signals(lua_State *L);

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
	lua_pushcfunction(L, luaopen_signals);
	lua_setfield(L, -2, "certbot.signals");
	for (i = 0; i < cb_embedded_count; i++) {
		lua_pushinteger(L, (lua_Integer)i);
		lua_pushcclosure(L, load_embedded, 1);
		lua_setfield(L, -2, cb_embedded[i].modname);
	}
	lua_pop(L, 1);
}

/* An error value raised by interrupt_hook (below). */
static int is_interrupt(lua_State *L, int idx)
{
	int yes;

	if (!lua_istable(L, idx))
		return 0;
	lua_getfield(L, idx, "interrupted");
	yes = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return yes;
}

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	if (is_interrupt(L, 1))
		return 1; /* kept as it is: main() reports it */
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

/* ---- signals ----
 *
 * The one place with mutable process-wide state: a signal handler can only
 * reach the Lua state and record the signal through statics.  Both are
 * written before the handlers are installed (the state) or only as a
 * sig_atomic_t (the signal), and read after they are removed.
 */
static lua_State *sig_L;
static volatile sig_atomic_t sig_caught;
/* A signal not yet turned into an interrupt; > 0: in a held section. */
static volatile sig_atomic_t sig_pending, sig_hold;

static const int handled_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define N_HANDLED (sizeof handled_signals / sizeof handled_signals[0])

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGINT: return "SIGINT";
	case SIGTERM: return "SIGTERM";
	case SIGHUP: return "SIGHUP";
	case SIGQUIT: return "SIGQUIT";
	default: return "a signal";
	}
}

/* The count hook: runs at the next Lua instruction after a signal, in
 * normal (not signal) context.  It removes itself and raises an error value
 * that certbot.errors recognises: { message, exit = 1, interrupted = true,
 * signal = N }. */
static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
	int sig = sig_caught;

	(void)ar;
	lua_sethook(L, NULL, 0, 0);
	sig_pending = 0;
	lua_createtable(L, 0, 4);
	if (sig == SIGINT)
		lua_pushliteral(L, "Exiting due to user request.");
	else
		lua_pushfstring(L, "Exiting due to %s.", signal_name(sig));
	lua_setfield(L, -2, "message");
	lua_pushinteger(L, 1);
	lua_setfield(L, -2, "exit");
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "interrupted");
	lua_pushinteger(L, sig);
	lua_setfield(L, -2, "signal");
	lua_error(L);
}

static void on_signal(int sig)
{
	sig_caught = sig;
	sig_pending = 1;
	/* lua_sethook may be called from a signal handler (ldebug.c). */
	if (!sig_hold)
		lua_sethook(sig_L, interrupt_hook, LUA_MASKCOUNT, 1);
}

/* certbot.signals.hold(fn, ...) -> fn(...): fn runs whole, with the
 * interrupt of a signal that arrives meanwhile held back until it returns
 * or raises (certbot.storage moves a lineage's live links and writes its
 * versions this way: a Ctrl-C never leaves them half moved).  Holds nest.
 * Outside the executable (the LuaRocks library) there is no such module:
 * the embedding program owns its signals. */
static int hold(lua_State *L)
{
	int status;

	luaL_checktype(L, 1, LUA_TFUNCTION);
	sig_hold++;
	status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
	sig_hold--;
	/* (decremented first: a signal from here on arms the hook itself) */
	if (sig_hold == 0 && sig_pending)
		lua_sethook(sig_L, interrupt_hook, LUA_MASKCOUNT, 1);
	if (status != LUA_OK)
		return lua_error(L);
	return lua_gettop(L);
}

static int luaopen_signals(lua_State *L)
{
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, hold);
	lua_setfield(L, -2, "hold");
	return 1;
}

/* No SA_RESTART: a blocking read of a prompt's answer, a lock wait, a
 * poll or a sleep returns EINTR, so control comes back to Lua and the hook
 * runs at once (sys.c retries where a retry is needed, e.g. waitpid).
 * Whatever such a call returns is then superseded by the interrupt. */
static void install_signals(lua_State *L)
{
	struct sigaction sa;
	size_t i;

	sig_L = L;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < N_HANDLED; i++)
		sigaddset(&sa.sa_mask, handled_signals[i]);
	sa.sa_flags = 0;
	for (i = 0; i < N_HANDLED; i++) {
		struct sigaction old;

		if (sigaction(handled_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue; /* nohup, or a background job of a shell */
		sigaction(handled_signals[i], &sa, NULL);
	}
}

/* Back to the default actions (the ignored ones stay ignored). */
static void remove_signals(void)
{
	size_t i;

	for (i = 0; i < N_HANDLED; i++) {
		struct sigaction old;

		if (sigaction(handled_signals[i], NULL, &old) == 0 && old.sa_handler == on_signal)
			signal(handled_signals[i], SIG_DFL);
	}
}

static void finish_signal(void)
{
	int sig = sig_caught;

	if (sig == 0 || sig == SIGINT)
		return;
	/* Certbot re-raises a terminating signal after its cleanup. */
	fflush(NULL);
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	lua_State *L = luaL_newstate();
	int status;

	if (L == NULL) {
		fputs("certbot: cannot create the Lua state: out of memory\n", stderr);
		return 1;
	}
	install_signals(L);
	lua_pushcfunction(L, run);
	lua_pushinteger(L, argc);
	lua_pushlightuserdata(L, argv);
	if (cb_pcall(L, 2, 1) != LUA_OK) {
		if (is_interrupt(L, -1)) {
			/* raised before certbot.main took charge of errors */
			const char *msg;

			lua_getfield(L, -1, "message");
			msg = lua_tostring(L, -1);
			fprintf(stderr, "%s\n", msg ? msg : "Interrupted");
		} else {
			/* certbot.main handles its own errors; this is the last resort. */
			const char *msg = lua_tostring(L, -1);
			fprintf(stderr, "certbot: internal error: %s\n",
				msg ? msg : "(no message)");
		}
		remove_signals();
		lua_sethook(L, NULL, 0, 0);
		lua_close(L);
		finish_signal();
		return 1;
	}
	status = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
	remove_signals();
	lua_sethook(L, NULL, 0, 0);
	lua_close(L);
	finish_signal();
	return status;
}
