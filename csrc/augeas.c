/*
 * augeas.c: a libaugeas binding for the apache plugin (core.augeas).
 *
 *   local aug, err = core.augeas.new{ root = "/", loadpath = nil,
 *                                     flags = { "no_modl_autoload", "no_load" } }
 *   aug:set("/augeas/load/Httpd/lens", "Httpd.lns")
 *   aug:set("/augeas/load/Httpd/incl[last()+1]", "/etc/apache2/apache2.conf")
 *   aug:load()
 *   for _, p in ipairs(aug:match("/files/etc/apache2//VirtualHost")) do ... end
 *   aug:save()  -> true | nil, "augeas: save failed: <file>: <why>"
 *
 * One userdata holds one augeas handle; __gc and __close close it.  Every
 * expected failure is nil, "augeas: <call> <path>: <why>"; a closed handle
 * or a wrong argument type is misuse and raises.
 *
 * libaugeas is dlopen()ed on the first new(), not linked: it brings libxml2
 * and libfa into the process, and only the apache plugin needs it.  The
 * table of entry points is written once under aug_once and only read
 * afterwards (the same scheme as http.c uses for libcurl).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <augeas.h>

#include "core.h"

#define AUG_MT "certbot.augeas"
#define AUG_LIB "libaugeas.so.0"

#define AUG_ENTRY_POINTS(X) \
	X(aug_init) X(aug_close) X(aug_get) X(aug_set) X(aug_setm) \
	X(aug_match) X(aug_insert) X(aug_rm) X(aug_mv) X(aug_cp) \
	X(aug_rename) X(aug_label) X(aug_save) X(aug_load) X(aug_defvar) \
	X(aug_defnode) X(aug_span) X(aug_transform) X(aug_load_file) \
	X(aug_error) X(aug_error_message) X(aug_error_minor_message) \
	X(aug_error_details)

static struct {
#define AUG_SLOT(name) __typeof__(&name) name;
	AUG_ENTRY_POINTS(AUG_SLOT)
#undef AUG_SLOT
} lib;

static pthread_once_t aug_once = PTHREAD_ONCE_INIT;
static char aug_load_error[256]; /* written once, under aug_once */

static void aug_lib_load(void)
{
	void *h = dlopen(AUG_LIB, RTLD_NOW | RTLD_LOCAL);

	if (h == NULL) {
		snprintf(aug_load_error, sizeof aug_load_error,
			 AUG_LIB " not found (install libaugeas0)");
		return;
	}
#define AUG_SYM(name) \
	if ((*(void **)&lib.name = dlsym(h, #name)) == NULL) { \
		snprintf(aug_load_error, sizeof aug_load_error, AUG_LIB " lacks %s", #name); \
		return; \
	}
	AUG_ENTRY_POINTS(AUG_SYM)
#undef AUG_SYM
}

/* ---- the handle ---- */

typedef struct cb_aug {
	augeas *aug;
} cb_aug;

static cb_aug *check_open(lua_State *L)
{
	cb_aug *a = luaL_checkudata(L, 1, AUG_MT);

	if (a->aug == NULL)
		luaL_argerror(L, 1, "augeas handle is closed");
	return a;
}

static void aug_free(cb_aug *a)
{
	if (a->aug) {
		lib.aug_close(a->aug);
		a->aug = NULL;
	}
}

static int l_gc(lua_State *L)
{
	aug_free(luaL_checkudata(L, 1, AUG_MT));
	return 0;
}

static int l_close(lua_State *L)
{
	aug_free(luaL_checkudata(L, 1, AUG_MT));
	return 0;
}

static int l_tostring(lua_State *L)
{
	cb_aug *a = luaL_checkudata(L, 1, AUG_MT);

	lua_pushfstring(L, "augeas (%s): %p", a->aug ? "open" : "closed", (void *)a);
	return 1;
}

/* nil, "augeas: <what>: <message>[: <minor>][: <details>]" from the
 * handle's last error. */
static int aug_fail(lua_State *L, augeas *aug, const char *what)
{
	const char *msg = lib.aug_error_message(aug);
	const char *minor = lib.aug_error_minor_message(aug);
	const char *details = lib.aug_error_details(aug);
	luaL_Buffer b;

	lua_pushnil(L);
	luaL_buffinit(L, &b);
	luaL_addstring(&b, "augeas: ");
	luaL_addstring(&b, what);
	luaL_addstring(&b, ": ");
	luaL_addstring(&b, msg ? msg : "failed");
	if (minor && *minor) {
		luaL_addstring(&b, ": ");
		luaL_addstring(&b, minor);
	}
	if (details && *details) {
		luaL_addstring(&b, ": ");
		luaL_addstring(&b, details);
	}
	luaL_pushresult(&b);
	return 2;
}

/* "what path" for messages. */
static const char *what_path(lua_State *L, const char *what, const char *path)
{
	return lua_pushfstring(L, "%s %s", what, path);
}

/* ---- aug_match results, owned by a GC box while they are pushed ---- */

typedef struct matches {
	char **v;
	int n;
} matches;

static void matches_free(void *p)
{
	matches *m = p;
	int i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++)
		free(m->v[i]);
	free(m->v);
	free(m);
}

/* Push the list of paths matching path; returns 1, or pushes nothing and
 * returns -1 with the count still in the handle's error state. */
static int push_matches(lua_State *L, augeas *aug, const char *path)
{
	void **slot = cb_box_new(L, matches_free);
	matches *m = calloc(1, sizeof *m);
	int n, i;

	if (m == NULL) {
		lua_pop(L, 1);
		luaL_error(L, "augeas: out of memory");
	}
	*slot = m;
	n = lib.aug_match(aug, path, &m->v);
	if (n < 0) {
		m->v = NULL;
		cb_box_free(slot);
		lua_pop(L, 1);
		return -1;
	}
	m->n = n;
	lua_createtable(L, n, 0);
	for (i = 0; i < n; i++) {
		lua_pushstring(L, m->v[i]);
		lua_rawseti(L, -2, i + 1);
	}
	cb_box_free(slot);
	lua_remove(L, -2); /* the box */
	return 1;
}

/* ---- functions ---- */

static const struct {
	const char *name;
	unsigned int flag;
} flag_names[] = {
	{ "save_backup", AUG_SAVE_BACKUP },
	{ "save_newfile", AUG_SAVE_NEWFILE },
	{ "type_check", AUG_TYPE_CHECK },
	{ "no_stdinc", AUG_NO_STDINC },
	{ "save_noop", AUG_SAVE_NOOP },
	{ "no_load", AUG_NO_LOAD },
	{ "no_modl_autoload", AUG_NO_MODL_AUTOLOAD },
	{ "enable_span", AUG_ENABLE_SPAN },
};

static unsigned int check_flags(lua_State *L, int idx)
{
	unsigned int flags = 0;
	lua_Integer i, n;
	size_t k;

	if (lua_isnil(L, idx))
		return 0;
	luaL_argcheck(L, lua_type(L, idx) == LUA_TTABLE, 1, "flags must be a list of names");
	n = luaL_len(L, idx);
	for (i = 1; i <= n; i++) {
		const char *name;

		lua_rawgeti(L, idx, i);
		name = lua_tostring(L, -1);
		if (name == NULL)
			luaL_argerror(L, 1, "flags must be a list of names");
		for (k = 0; k < sizeof flag_names / sizeof flag_names[0]; k++)
			if (strcmp(name, flag_names[k].name) == 0)
				break;
		if (k == sizeof flag_names / sizeof flag_names[0])
			luaL_argerror(L, 1, lua_pushfstring(L, "unknown augeas flag '%s'", name));
		flags |= flag_names[k].flag;
		lua_pop(L, 1);
	}
	return flags;
}

/* Optional string field of the options table at idx. */
static const char *opt_string(lua_State *L, int idx, const char *field)
{
	const char *s = NULL;

	lua_getfield(L, idx, field);
	if (!lua_isnil(L, -1)) {
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_argerror(L, 1, lua_pushfstring(L, "%s must be a string", field));
		s = lua_tostring(L, -1);
	}
	/* the string stays referenced by the options table */
	lua_pop(L, 1);
	return s;
}

/* augeas.new{root=, loadpath=, flags={...}} -> handle | nil, err */
static int l_new(lua_State *L)
{
	const char *root = NULL, *loadpath = NULL;
	unsigned int flags = 0;
	cb_aug *a;

	if (!lua_isnoneornil(L, 1)) {
		luaL_checktype(L, 1, LUA_TTABLE);
		root = opt_string(L, 1, "root");
		loadpath = opt_string(L, 1, "loadpath");
		lua_getfield(L, 1, "flags");
		flags = check_flags(L, lua_gettop(L));
		lua_pop(L, 1);
	}
	pthread_once(&aug_once, aug_lib_load);
	if (aug_load_error[0])
		return cb_fail(L, "augeas: %s", aug_load_error);

	a = lua_newuserdatauv(L, sizeof *a, 0);
	a->aug = NULL;
	luaL_setmetatable(L, AUG_MT);
	/* Without a root, libaugeas would read AUGEAS_ROOT from the
	 * environment: the caller decides, so "/" is the default. */
	a->aug = lib.aug_init(root ? root : "/", loadpath, flags | AUG_NO_ERR_CLOSE);
	if (a->aug == NULL)
		return cb_fail(L, "augeas: init %s: out of memory", root ? root : "/");
	if (lib.aug_error(a->aug) != AUG_NOERROR) {
		aug_fail(L, a->aug, lua_pushfstring(L, "init %s", root ? root : "/"));
		aug_free(a);
		return 2;
	}
	return 1;
}

/* aug:get(path) -> value | nil (no such node, or a node without a value) |
 * nil, err (an invalid path, several matches) */
static int l_get(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *path = luaL_checkstring(L, 2);
	const char *value = NULL;
	int r = lib.aug_get(a->aug, path, &value);

	if (r < 0)
		return aug_fail(L, a->aug, what_path(L, "get", path));
	if (r == 0 || value == NULL) {
		lua_pushnil(L);
		return 1;
	}
	lua_pushstring(L, value);
	return 1;
}

/* aug:label(path) -> label | nil */
static int l_label(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *path = luaL_checkstring(L, 2);
	const char *label = NULL;
	int r = lib.aug_label(a->aug, path, &label);

	if (r < 0)
		return aug_fail(L, a->aug, what_path(L, "label", path));
	if (r == 0 || label == NULL) {
		lua_pushnil(L);
		return 1;
	}
	lua_pushstring(L, label);
	return 1;
}

/* aug:set(path, value|nil) -> true | nil, err */
static int l_set(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *path = luaL_checkstring(L, 2);
	const char *value = luaL_optstring(L, 3, NULL);

	if (lib.aug_set(a->aug, path, value) < 0)
		return aug_fail(L, a->aug, what_path(L, "set", path));
	lua_pushboolean(L, 1);
	return 1;
}

/* aug:setm(base, sub|nil, value|nil) -> count | nil, err */
static int l_setm(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *base = luaL_checkstring(L, 2);
	const char *sub = luaL_optstring(L, 3, NULL);
	const char *value = luaL_optstring(L, 4, NULL);
	int r = lib.aug_setm(a->aug, base, sub, value);

	if (r < 0)
		return aug_fail(L, a->aug, what_path(L, "setm", base));
	lua_pushinteger(L, r);
	return 1;
}

/* aug:match(path) -> { path, ... } | nil, err */
static int l_match(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *path = luaL_checkstring(L, 2);

	if (push_matches(L, a->aug, path) < 0)
		return aug_fail(L, a->aug, what_path(L, "match", path));
	return 1;
}

/* aug:count(path) -> n | nil, err */
static int l_count(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *path = luaL_checkstring(L, 2);
	int n = lib.aug_match(a->aug, path, NULL);

	if (n < 0)
		return aug_fail(L, a->aug, what_path(L, "match", path));
	lua_pushinteger(L, n);
	return 1;
}

/* aug:insert(path, label, before) -> true | nil, err: a new sibling of the
 * one node path matches, before it when `before` is true, else after. */
static int l_insert(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *path = luaL_checkstring(L, 2);
	const char *label = luaL_checkstring(L, 3);
	int before = lua_toboolean(L, 4);

	if (lib.aug_insert(a->aug, path, label, before) < 0)
		return aug_fail(L, a->aug, what_path(L, "insert", path));
	lua_pushboolean(L, 1);
	return 1;
}

/* aug:rm(path) -> number of nodes removed | nil, err */
static int l_rm(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *path = luaL_checkstring(L, 2);
	int r = lib.aug_rm(a->aug, path);

	if (r < 0)
		return aug_fail(L, a->aug, what_path(L, "rm", path));
	lua_pushinteger(L, r);
	return 1;
}

/* aug:mv(src, dst) / aug:cp(src, dst) -> true | nil, err */
static int l_mv(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *src = luaL_checkstring(L, 2);
	const char *dst = luaL_checkstring(L, 3);

	if (lib.aug_mv(a->aug, src, dst) < 0)
		return aug_fail(L, a->aug, what_path(L, "mv", src));
	lua_pushboolean(L, 1);
	return 1;
}

static int l_cp(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *src = luaL_checkstring(L, 2);
	const char *dst = luaL_checkstring(L, 3);

	if (lib.aug_cp(a->aug, src, dst) < 0)
		return aug_fail(L, a->aug, what_path(L, "cp", src));
	lua_pushboolean(L, 1);
	return 1;
}

/* aug:rename(src, label) -> number renamed | nil, err */
static int l_rename(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *src = luaL_checkstring(L, 2);
	const char *label = luaL_checkstring(L, 3);
	int r = lib.aug_rename(a->aug, src, label);

	if (r < 0)
		return aug_fail(L, a->aug, what_path(L, "rename", src));
	lua_pushinteger(L, r);
	return 1;
}

/* aug:defvar(name, expr|nil) -> count | nil, err */
static int l_defvar(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *name = luaL_checkstring(L, 2);
	const char *expr = luaL_optstring(L, 3, NULL);
	int r = lib.aug_defvar(a->aug, name, expr);

	if (r < 0)
		return aug_fail(L, a->aug, what_path(L, "defvar", name));
	lua_pushinteger(L, r);
	return 1;
}

/* aug:defnode(name, expr, value|nil) -> count, created | nil, err */
static int l_defnode(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *name = luaL_checkstring(L, 2);
	const char *expr = luaL_checkstring(L, 3);
	const char *value = luaL_optstring(L, 4, NULL);
	int created = 0;
	int r = lib.aug_defnode(a->aug, name, expr, value, &created);

	if (r < 0)
		return aug_fail(L, a->aug, what_path(L, "defnode", name));
	lua_pushinteger(L, r);
	lua_pushboolean(L, created);
	return 2;
}

/* aug:span(path) -> { filename=, label_start=, label_end=, value_start=,
 * value_end=, span_start=, span_end= } | nil, err (needs "enable_span") */
static int l_span(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *path = luaL_checkstring(L, 2);
	void **slot = cb_box_new(L, free);
	unsigned int ls = 0, le = 0, vs = 0, ve = 0, ss = 0, se = 0;
	char *filename = NULL;

	if (lib.aug_span(a->aug, path, &filename, &ls, &le, &vs, &ve, &ss, &se) < 0)
		return aug_fail(L, a->aug, what_path(L, "span", path));
	*slot = filename;
	lua_createtable(L, 0, 7);
	lua_pushstring(L, filename ? filename : "");
	lua_setfield(L, -2, "filename");
#define SPAN_FIELD(v, name) lua_pushinteger(L, (lua_Integer)(v)); lua_setfield(L, -2, name);
	SPAN_FIELD(ls, "label_start")
	SPAN_FIELD(le, "label_end")
	SPAN_FIELD(vs, "value_start")
	SPAN_FIELD(ve, "value_end")
	SPAN_FIELD(ss, "span_start")
	SPAN_FIELD(se, "span_end")
#undef SPAN_FIELD
	cb_box_free(slot);
	return 1;
}

/* aug:transform(lens, file, excl) -> true | nil, err */
static int l_transform(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *lens = luaL_checkstring(L, 2);
	const char *file = luaL_checkstring(L, 3);
	int excl = lua_toboolean(L, 4);

	if (lib.aug_transform(a->aug, lens, file, excl) < 0)
		return aug_fail(L, a->aug, what_path(L, "transform", file));
	lua_pushboolean(L, 1);
	return 1;
}

/* aug:load() -> true | nil, err.  A file that does not parse is not an
 * error of load(): it shows in aug:errors(). */
static int l_load(lua_State *L)
{
	cb_aug *a = check_open(L);

	if (lib.aug_load(a->aug) < 0)
		return aug_fail(L, a->aug, "load");
	lua_pushboolean(L, 1);
	return 1;
}

/* aug:load_file(file) -> true | nil, err */
static int l_load_file(lua_State *L)
{
	cb_aug *a = check_open(L);
	const char *file = luaL_checkstring(L, 2);

	if (lib.aug_load_file(a->aug, file) < 0)
		return aug_fail(L, a->aug, what_path(L, "load_file", file));
	lua_pushboolean(L, 1);
	return 1;
}

/* Push the value of <base>/<sub> as a string, or nil. */
static void push_child(lua_State *L, augeas *aug, const char *base, const char *sub)
{
	const char *v = NULL;
	const char *p = lua_pushfstring(L, "%s/%s", base, sub);

	if (lib.aug_get(aug, p, &v) != 1 || v == NULL) {
		lua_pop(L, 1);
		lua_pushnil(L);
		return;
	}
	lua_pop(L, 1);
	lua_pushstring(L, v);
}

#define FILES_PREFIX "/augeas/files/"
#define ERROR_SUFFIX "/error"

/* An error node of a file: /augeas/files/<file>/error. */
static int is_file_error(const char *node, size_t len)
{
	return len > sizeof FILES_PREFIX - 1 + sizeof ERROR_SUFFIX - 1 &&
	       strncmp(node, FILES_PREFIX, sizeof FILES_PREFIX - 1) == 0 &&
	       strcmp(node + len - (sizeof ERROR_SUFFIX - 1), ERROR_SUFFIX) == 0;
}

/* Push the list of /augeas//error nodes as tables
 * { node=, file= (for a file's error), error=, message=, lens=, line=,
 *   char=, pos=, path= }; when only_save, only the files' errors that are
 * not parse failures (put_failed, mk_augtemp, ...).  Returns 1, or -1
 * with nothing pushed when matching failed. */
static int push_errors(lua_State *L, augeas *aug, int only_save)
{
	int i, n, out = 0;
	static const char *const fields[] = { "message", "lens", "line", "char", "pos", "path" };

	if (push_matches(L, aug, "/augeas//error") < 0)
		return -1;
	n = (int)luaL_len(L, -1);
	lua_createtable(L, n, 0);
	for (i = 1; i <= n; i++) {
		const char *node, *value = NULL;
		size_t len, k;

		lua_rawgeti(L, -2, i);
		node = lua_tolstring(L, -1, &len);
		if (lib.aug_get(aug, node, &value) != 1)
			value = NULL;
		if (only_save && (!is_file_error(node, len) ||
				  (value && strcmp(value, "parse_failed") == 0))) {
			lua_pop(L, 1);
			continue;
		}
		lua_createtable(L, 0, 8);
		lua_pushvalue(L, -2);
		lua_setfield(L, -2, "node");
		/* /augeas/files/etc/x.conf/error -> file = /etc/x.conf */
		if (is_file_error(node, len)) {
			lua_pushlstring(L, node + sizeof FILES_PREFIX - 2,
					len - (sizeof FILES_PREFIX - 2) - (sizeof ERROR_SUFFIX - 1));
			lua_setfield(L, -2, "file");
		}
		if (value) {
			lua_pushstring(L, value);
			lua_setfield(L, -2, "error");
		}
		for (k = 0; k < sizeof fields / sizeof fields[0]; k++) {
			push_child(L, aug, node, fields[k]);
			lua_setfield(L, -2, fields[k]);
		}
		lua_rawseti(L, -3, ++out);
		lua_pop(L, 1); /* node */
	}
	lua_remove(L, -2); /* the match list */
	return 1;
}

/* aug:errors() -> { {file=, error=, message=, lens=, line=, char=, pos=,
 * path=, node=}, ... } | nil, err */
static int l_errors(lua_State *L)
{
	cb_aug *a = check_open(L);

	if (push_errors(L, a->aug, 0) < 0)
		return aug_fail(L, a->aug, "errors");
	return 1;
}

/* aug:save() -> true | nil, "augeas: save failed: <file>: <error>: <message>"
 * (every file that failed, "; "-separated), the list as from aug:errors() */
static int l_save(lua_State *L)
{
	cb_aug *a = check_open(L);
	int list, i, n;

	if (lib.aug_save(a->aug) == 0) {
		lua_pushboolean(L, 1);
		return 1;
	}
	if (lib.aug_error(a->aug) != AUG_NOERROR)
		return aug_fail(L, a->aug, "save");
	/* A file could not be written: the reasons are in the tree. */
	if (push_errors(L, a->aug, 1) < 0)
		return aug_fail(L, a->aug, "save");
	list = lua_gettop(L);
	lua_pushnil(L);
	lua_pushliteral(L, "augeas: save failed");
	n = (int)luaL_len(L, list);
	for (i = 1; i <= n; i++) {
		int item, parts = 1;

		luaL_checkstack(L, 8, NULL);
		lua_rawgeti(L, list, i);
		item = lua_gettop(L);
		lua_pushstring(L, i == 1 ? ": " : "; ");
		lua_getfield(L, item, "file");
		if (lua_isstring(L, -1)) {
			lua_pushliteral(L, ": ");
			parts += 2;
		} else {
			lua_pop(L, 1);
		}
		lua_getfield(L, item, "error");
		if (!lua_isstring(L, -1)) {
			lua_pop(L, 1);
			lua_pushliteral(L, "error");
		}
		parts++;
		lua_getfield(L, item, "message");
		if (lua_isstring(L, -1)) {
			/* the first line: a put failure goes on with the tree and
			 * the lens's whole pattern (still in the list) */
			const char *m = lua_tostring(L, -1);
			const char *nl = strchr(m, '\n');

			lua_pushliteral(L, ": ");
			lua_pushlstring(L, m, nl ? (size_t)(nl - m) : strlen(m));
			lua_remove(L, -3);
			parts += 2;
		} else {
			lua_pop(L, 1);
		}
		lua_concat(L, parts);  /* this entry's text */
		lua_remove(L, item);
		lua_concat(L, 2);      /* joined to the message so far */
	}
	lua_pushvalue(L, list);
	lua_remove(L, list); /* nil, msg, list */
	return 3;
}

static const luaL_Reg aug_funcs[] = {
	{ "new", l_new },
	{ NULL, NULL }
};

static const luaL_Reg aug_methods[] = {
	{ "get", l_get },
	{ "label", l_label },
	{ "set", l_set },
	{ "setm", l_setm },
	{ "match", l_match },
	{ "count", l_count },
	{ "insert", l_insert },
	{ "rm", l_rm },
	{ "mv", l_mv },
	{ "cp", l_cp },
	{ "rename", l_rename },
	{ "defvar", l_defvar },
	{ "defnode", l_defnode },
	{ "span", l_span },
	{ "transform", l_transform },
	{ "load", l_load },
	{ "load_file", l_load_file },
	{ "errors", l_errors },
	{ "save", l_save },
	{ "close", l_close },
	{ NULL, NULL }
};

static const luaL_Reg aug_meta[] = {
	{ "__gc", l_gc },
	{ "__close", l_close },
	{ "__tostring", l_tostring },
	{ NULL, NULL }
};

int cb_open_augeas(lua_State *L)
{
	if (luaL_newmetatable(L, AUG_MT)) {
		luaL_setfuncs(L, aug_meta, 0);
		luaL_newlib(L, aug_methods);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	luaL_newlib(L, aug_funcs);
	return 1;
}
