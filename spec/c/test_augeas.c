/* test_augeas.c: core.augeas through a plain Lua state, so that `make asan`
 * runs every path of csrc/augeas.c (match lists, spans, error lists, the
 * save error text, __gc and __close) under AddressSanitizer and UBSan. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "core.h"
#include "tap.h"

/* Run a chunk that returns a string: "ok" or what went wrong. */
static void check(lua_State *L, const char *name, const char *chunk)
{
	const char *got;

	if (luaL_dostring(L, chunk) != LUA_OK) {
		ok(0, "%s (error: %s)", name, lua_tostring(L, -1));
		lua_settop(L, 0);
		return;
	}
	got = lua_tostring(L, -1);
	ok(got && strcmp(got, "ok") == 0, "%s%s%s", name, got && strcmp(got, "ok") ? ": " : "",
	   got && strcmp(got, "ok") ? got : "");
	lua_settop(L, 0);
}

int main(void)
{
	char dir[] = "/tmp/test_augeas.XXXXXX";
	lua_State *L;
	char cmd[128];

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return done_testing();
	}
	L = luaL_newstate();
	luaL_openlibs(L);
	luaL_requiref(L, "certbot.core", luaopen_certbot_core, 0);
	lua_setglobal(L, "core");
	lua_pushstring(L, dir);
	lua_setglobal(L, "root");

	check(L, "a site file is written",
	      "local f = assert(io.open(root .. '/site.conf', 'w'))\n"
	      "f:write('# a site\\n<VirtualHost *:80>\\n    ServerName a.example\\n"
	      "    ServerAlias www.a.example\\n</VirtualHost>\\n')\n"
	      "f:close()\n"
	      "f = assert(io.open(root .. '/broken.conf', 'w'))\n"
	      "f:write('<VirtualHost *:80>\\nServerName b\\n')\n"
	      "f:close() return 'ok'");

	check(L, "new, load, match, get, span",
	      "aug = assert(core.augeas.new{ root = root, flags = { 'no_modl_autoload', 'no_load',"
	      " 'enable_span' } })\n"
	      "assert(aug:set('/augeas/load/Httpd/lens', 'Httpd.lns'))\n"
	      "assert(aug:set('/augeas/load/Httpd/incl[1]', '/site.conf'))\n"
	      "assert(aug:set('/augeas/load/Httpd/incl[2]', '/broken.conf'))\n"
	      "assert(aug:load())\n"
	      "local m = assert(aug:match('/files/site.conf/VirtualHost/directive'))\n"
	      "if #m ~= 2 then return 'matches: ' .. #m end\n"
	      "if aug:get(m[1]) ~= 'ServerName' then return 'get: ' .. tostring(aug:get(m[1])) end\n"
	      "if aug:get(m[1] .. '/arg') ~= 'a.example' then return 'arg' end\n"
	      "if aug:count('/files/site.conf//arg') ~= 3 then return 'count' end\n"
	      "local sp = assert(aug:span(m[1] .. '/arg'))\n"
	      "local text = io.open(root .. '/site.conf'):read('a')\n"
	      "if text:sub(sp.value_start + 1, sp.value_end) ~= 'a.example' then\n"
	      "  return 'span ' .. sp.value_start .. '-' .. sp.value_end end\n"
	      "if sp.filename ~= root .. '/site.conf' then return 'span file ' .. sp.filename end\n"
	      "return 'ok'");

	check(L, "errors() lists the parse failure",
	      "local errs = assert(aug:errors())\n"
	      "if #errs ~= 1 then return 'errors: ' .. #errs end\n"
	      "local e = errs[1]\n"
	      "if e.file ~= '/broken.conf' or e.error ~= 'parse_failed' or not e.line then\n"
	      "  return 'fields ' .. tostring(e.file) .. ' ' .. tostring(e.error) end\n"
	      "return 'ok'");

	check(L, "expected failures are nil, message",
	      "local v, err = aug:get('/files/site.conf/VirtualHost/directive')\n"
	      "if v ~= nil or not err:find('^augeas: get /files/site.conf') then return tostring(err) end\n"
	      "v, err = aug:match('/files[[')\n"
	      "if v ~= nil or not err:find('Invalid path expression') then return tostring(err) end\n"
	      "v, err = aug:insert('/files/nothing', 'x', true)\n"
	      "if v ~= nil or not err:find('^augeas: insert /files/nothing') then return tostring(err) end\n"
	      "return 'ok'");

	check(L, "insert, set, rm and save change only what changed",
	      "assert(aug:insert('/files/site.conf/VirtualHost/directive[1]', 'directive', false))\n"
	      "assert(aug:set('/files/site.conf/VirtualHost/directive[2]', 'DocumentRoot'))\n"
	      "assert(aug:set('/files/site.conf/VirtualHost/directive[2]/arg', '/srv/a'))\n"
	      "if aug:rm('/files/site.conf/VirtualHost/directive[3]') ~= 2 then return 'rm' end\n"
	      "assert(aug:save())\n"
	      "local text = io.open(root .. '/site.conf'):read('a')\n"
	      "local want = '# a site\\n<VirtualHost *:80>\\n    ServerName a.example\\n"
	      "    DocumentRoot /srv/a\\n</VirtualHost>\\n'\n"
	      "if text ~= want then return 'text: ' .. text end\n"
	      "return 'ok'");

	check(L, "a tree the lens cannot write fails save() with one line and a list",
	      "assert(aug:set('/files/site.conf/VirtualHost/bogus', 'x'))\n"
	      "local ok, err, list = aug:save()\n"
	      "if ok ~= nil or not err:find('^augeas: save failed: /site.conf: put_failed: ') then\n"
	      "  return tostring(err) end\n"
	      "if err:find('\\n') then return 'multi-line: ' .. err end\n"
	      "if #list ~= 1 or list[1].file ~= '/site.conf' then return 'list' end\n"
	      "assert(aug:rm('/files/site.conf/VirtualHost/bogus') == 1)\n"
	      "return 'ok'");

	check(L, "defvar, setm, mv, cp, rename, label, transform, load_file",
	      "if aug:defvar('vh', '/files/site.conf/VirtualHost') ~= 1 then return 'defvar' end\n"
	      "if aug:setm('$vh', 'directive', 'ServerName') ~= 2 then return 'setm' end\n"
	      "assert(aug:cp('$vh/directive[1]', '$vh/copy'))\n"
	      "if aug:rename('$vh/copy', 'moved') ~= 1 then return 'rename' end\n"
	      "if aug:label('$vh/moved') ~= 'moved' then return 'label' end\n"
	      "assert(aug:mv('$vh/moved', '/scratch/x'))\n"
	      "if aug:get('/scratch/x') ~= 'ServerName' then return 'mv' end\n"
	      "local n, created = aug:defnode('sc', '/scratch/y', 'v')\n"
	      "if n ~= 1 or created ~= true then return 'defnode' end\n"
	      "assert(aug:transform('Httpd.lns', '/other.conf', false))\n"
	      "if aug:count('/augeas/load/*[incl = \"/other.conf\"]') ~= 1 then return 'transform' end\n"
	      "local ok2, e2 = aug:load_file('/site.conf')\n"
	      "if not ok2 then return 'load_file: ' .. tostring(e2) end\n"
	      "return 'ok'");

	check(L, "close, then misuse raises; __close and __gc",
	      "aug:close()\n"
	      "if not tostring(aug):find('closed') then return 'tostring' end\n"
	      "local ok = pcall(aug.get, aug, '/x')\n"
	      "if ok then return 'closed handle used' end\n"
	      "aug:close()\n"
	      "do local a <close> = assert(core.augeas.new{ root = root, flags = { 'no_load' } }) end\n"
	      "for _ = 1, 3 do core.augeas.new{ root = root, flags = { 'no_modl_autoload' } } end\n"
	      "collectgarbage()\n"
	      "local ok2, err = pcall(core.augeas.new, { flags = { 'nonsense' } })\n"
	      "if ok2 or not tostring(err):find('unknown augeas flag') then return tostring(err) end\n"
	      "return 'ok'");

	check(L, "init fails cleanly on a lens that does not exist",
	      "local a, err = core.augeas.new{ root = root, loadpath = root, flags = { 'no_stdinc', "
	      "'no_modl_autoload', 'no_load' } }\n"
	      "if not a then return 'no handle: ' .. tostring(err) end\n"
	      "a:set('/augeas/load/X/lens', 'Nope.lns')\n"
	      "a:set('/augeas/load/X/incl', '/site.conf')\n"
	      "assert(a:load())\n"
	      "local errs = a:errors()\n"
	      "if #errs == 0 then return 'no error for a missing lens' end\n"
	      "a:close() return 'ok'");

	lua_close(L);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		ok(0, "cleanup %s", dir);
	return done_testing();
}
