-- certbot.hooks: users' commands run with /bin/sh -c, values only in the
-- environment.  Real shells run real commands; what the user would see
-- on standard error is captured from certbot.display.

local hooks = require("certbot.hooks")
local display = require("certbot.display")
local sys = require("certbot.core").sys

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(sys.mkdir(p, 448))
  return p
end

local function rm_rf(p) os.execute("rm -rf '" .. p .. "'") end

local function write(path, data, mode)
  assert(sys.write_atomic(path, data, mode or 420))
  return path
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local d = f:read("a")
  f:close()
  return d
end

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function env_map(list)
  local m, count = {}, {}
  for _, kv in ipairs(list) do
    local k, v = kv:match("^([^=]*)=(.*)$")
    m[k] = v
    count[k] = (count[k] or 0) + 1
  end
  return m, count
end

describe("hooks", function()
  local dir, saved_err, shown
  before_each(function()
    dir = tmpdir()
    shown = {}
    saved_err = display.err
    display.err = {
      write = function(self, ...)
        for _, s in ipairs({ ... }) do shown[#shown + 1] = s end
        return self
      end,
      flush = function() end,
    }
  end)
  after_each(function()
    display.err = saved_err
    sys.setenv("CERTBOT_SPEC_HOOK_VAR", nil)
    rm_rf(dir)
  end)

  describe("env", function()
    it("is this process's environment plus the extra values, extra overriding", function()
      sys.setenv("CERTBOT_SPEC_HOOK_VAR", "from-parent")
      local env = hooks.env({ CERTBOT_SPEC_HOOK_VAR = "from-hook", RENEWED_LINEAGE = "/x/live/a",
        RENEWED_DOMAINS = "a.example b.example" })
      local m, count = env_map(env)
      assert.equal("from-hook", m.CERTBOT_SPEC_HOOK_VAR)
      assert.equal(1, count.CERTBOT_SPEC_HOOK_VAR)
      assert.equal("/x/live/a", m.RENEWED_LINEAGE)
      assert.equal("a.example b.example", m.RENEWED_DOMAINS)
      -- every other variable of this process is there, once
      local parent = env_map(sys.environ())
      for k, v in pairs(parent) do
        if k ~= "CERTBOT_SPEC_HOOK_VAR" then
          assert.equal(v, m[k], k)
          assert.equal(1, count[k], k)
        end
      end
      assert.equal(os.getenv("PATH"), m.PATH)
    end)

    it("turns values into strings and works without extra values", function()
      local m = env_map(hooks.env({ CERTBOT_N = 3 }))
      assert.equal("3", m.CERTBOT_N)
      assert.same(env_map(sys.environ()), env_map(hooks.env()))
    end)
  end)

  describe("run", function()
    it("returns true and the output for exit 0", function()
      local ok, out, err = hooks.run("deploy-hook", 'printf "%s" "$RENEWED_LINEAGE"; printf warn >&2',
        { RENEWED_LINEAGE = "/etc/letsencrypt/live/x.example" })
      assert.is_true(ok)
      assert.equal("/etc/letsencrypt/live/x.example", out)
      assert.equal("warn", err)
      assert.same({}, shown)
    end)

    it("returns false and the code for a failure, showing stderr", function()
      local ok, out, err, code = hooks.run("pre-hook", "echo partial; echo 'it broke' >&2; exit 3")
      assert.is_false(ok)
      assert.equal("partial\n", out)
      assert.equal("it broke\n", err)
      assert.equal(3, code)
      local msg = table.concat(shown)
      assert.matches('pre-hook command "echo partial; echo \'it broke\' >&2; exit 3" returned error code 3',
        msg, 1, true)
      assert.matches("Error output from pre-hook command", msg, 1, true)
      assert.matches("it broke\n", msg, 1, true)
    end)

    it("reports a command that does not exist (exit 127)", function()
      local ok, _, err, code = hooks.run("post-hook", "/nonexistent/hook-xyz")
      assert.is_false(ok)
      assert.equal(127, code)
      assert.matches("nonexistent/hook%-xyz", err)
      assert.matches("returned error code 127", table.concat(shown), 1, true)
    end)

    it("reports a hook killed by a signal", function()
      local ok, out, _, code = hooks.run("deploy-hook", "echo before; kill -9 $$")
      assert.is_false(ok)
      assert.is_nil(code)
      assert.equal("before\n", out)
      assert.matches("killed by signal 9", table.concat(shown), 1, true)
    end)

    it("passes values with shell metacharacters literally", function()
      local pwn = ("/tmp/pwn-%d-%d"):format(sys.getpid(), math.floor(sys.time() * 1000) % 1000000)
      local x = "$(touch " .. pwn .. ");`touch " .. pwn .. "`; touch " .. pwn .. " 'q\" \\"
      local file = dir .. "/out"
      local ok = hooks.run("deploy-hook", 'printf %s "$X" > "$OUT"', { X = x, OUT = file })
      assert.is_true(ok)
      local f = assert(io.open(file, "rb"))
      assert.equal(x, f:read("a"))
      f:close()
      assert.is_nil(sys.lstat(pwn))
    end)
  end)

  describe("is_lua", function()
    it("takes exactly a path to a .lua file with nothing a shell would interpret", function()
      for _, c in ipairs({ "/etc/letsencrypt/hooks/reload.lua", "./x.lua", "hooks/a-b_c+d,e@f:g.lua" }) do
        assert.is_true(hooks.is_lua(c), c)
      end
      for _, c in ipairs({ "x.lua", "lua5.4 /x.lua", "/x.lua arg", "/x.lua; rm -rf /", "/a b.lua", "/$X.lua",
        "~/x.lua", "/x.lua.sh", "/x.LUA", "'/x.lua'", "/x*.lua", "", "/x.lua\n" }) do
        assert.is_false(hooks.is_lua(c), c)
      end
    end)
  end)

  describe("dir_hooks", function()
    local function names(list, d)
      local out = {}
      for i, p in ipairs(list) do
        assert.equal(d .. "/", p:sub(1, #d + 1))
        out[i] = p:sub(#d + 2)
      end
      return out
    end

    it("lists executable files in byte order, skipping backups, other files and directories", function()
      local d = dir .. "/renewal-hooks/deploy"
      assert(sys.mkdir(dir .. "/renewal-hooks", 493))
      assert(sys.mkdir(d, 493))
      local ran = dir .. "/ran"
      local script = '#!/bin/sh\necho "${0##*/}" >> ' .. sh_quote(ran) .. "\n"
      write(d .. "/10-a", script, 493)
      write(d .. "/20-b~", script, 493)
      write(d .. "/30-c", script, 420)
      assert(sys.mkdir(d .. "/40-d", 493))
      write(d .. "/9-nine", script, 493)
      write(d .. "/B-upper", script, 448)
      write(d .. "/a-lower", script, 493)
      assert(sys.symlink_swap("10-a", d .. "/50-link"))
      assert(sys.symlink_swap("40-d", d .. "/60-dirlink"))
      local list = hooks.dir_hooks(dir, "deploy")
      -- byte order: "10-a" < "9-nine" (no numeric sort), upper case before lower
      assert.same({ "10-a", "50-link", "9-nine", "B-upper", "a-lower" }, names(list, d))
      for _, p in ipairs(list) do assert.is_true((hooks.run_file("deploy-hook", p, {}))) end
      assert.equal("10-a\n50-link\n9-nine\nB-upper\na-lower\n", slurp(ran))
      assert.same({}, shown)
    end)

    it("agrees with test -x on who may execute what", function()
      local d = dir .. "/renewal-hooks/pre"
      assert(sys.mkdir(dir .. "/renewal-hooks", 493))
      assert(sys.mkdir(d, 493))
      for _, mode in ipairs({ 493, 448, 420, 385, 392, 384, 64, 8, 1 }) do
        write(("%s/m%04o"):format(d, mode), "#!/bin/sh\n", mode)
      end
      local want = {}
      for _, name in ipairs(sys.listdir(d)) do
        local p = d .. "/" .. name
        if sys.run({ "test", "-x", p }, hooks.env()) == 0 then want[#want + 1] = p end
      end
      assert.is_true(#want > 0)
      assert.same(want, hooks.dir_hooks(dir, "pre"))
    end)

    it("gives an empty list for a missing directory and refuses an unknown kind", function()
      assert.same({}, hooks.dir_hooks(dir, "post"))
      assert.has_error(function() hooks.dir_hooks(dir, "renew") end)
    end)

    it("runs a directory hook whose path has spaces and no #! line", function()
      local d = dir .. "/renewal-hooks/post"
      assert(sys.mkdir(dir .. "/renewal-hooks", 493))
      assert(sys.mkdir(d, 493))
      write(d .. "/10 say $HOME; it", 'printf "%s|%s" "$0" "$FAILED_DOMAINS"\n', 493)
      local list = hooks.dir_hooks(dir, "post")
      assert.equal(1, #list)
      local ok, out = hooks.run_file("post-hook", list[1], { FAILED_DOMAINS = "a.example $(x)" })
      assert.is_true(ok)
      assert.equal(list[1] .. "|a.example $(x)", out)
    end)
  end)

  describe("validate", function()
    local saved_path
    before_each(function() saved_path = os.getenv("PATH") end)
    after_each(function() sys.setenv("PATH", saved_path) end)

    it("accepts a program on PATH, an executable path, and an empty hook", function()
      assert.is_true(hooks.validate("echo hello", "pre"))
      assert.is_true(hooks.validate("  printf '%s' x", "post"))
      assert.is_true(hooks.validate("/bin/sh -c 'exit 1'", "deploy"))
      assert.is_true(hooks.validate(nil, "pre"))
      assert.is_true(hooks.validate("", "pre"))
    end)

    it("names a missing program, Certbot's message on one line", function()
      local ok, err = hooks.validate("certbot-spec-no-such-program --flag", "pre")
      assert.is_nil(ok)
      assert.equal("Unable to find pre-hook command certbot-spec-no-such-program in the PATH. (PATH is "
        .. saved_path .. ")", err)
      ok, err = hooks.validate("/nonexistent/dir/hook arg", "deploy-hook")
      assert.is_nil(ok)
      assert.equal("Unable to find deploy-hook command /nonexistent/dir/hook in the PATH. (PATH is "
        .. saved_path .. ")", err)
      assert.equal(saved_path, os.getenv("PATH"))
    end)

    it("says when the program exists but is not executable", function()
      local p = write(dir .. "/not-exec", "#!/bin/sh\n", 420)
      local ok, err = hooks.validate(p .. " x", "post")
      assert.is_nil(ok)
      assert.equal("post-hook command " .. p .. " exists, but is not executable.", err)
    end)

    it("finds a program in /usr/sbin when PATH lacks it, and adds the directory to PATH", function()
      local prog
      for _, name in ipairs(sys.listdir("/usr/sbin") or {}) do
        local st = sys.stat("/usr/sbin/" .. name)
        if st and st.type == "file" and st.mode & 73 ~= 0 and not sys.stat("/usr/bin/" .. name)
          and not sys.stat("/bin/" .. name) then
          prog = name
          break
        end
      end
      if not prog then return pending("no program only in /usr/sbin") end
      sys.setenv("PATH", dir)
      assert.is_true(hooks.validate(prog .. " --version", "pre"))
      assert.equal(dir .. ":/usr/sbin:/usr/local/bin:/usr/local/sbin", os.getenv("PATH"))
    end)

    it("checks a Lua hook compiles, with file and line", function()
      local good = write(dir .. "/good.lua", "print('x')\n")
      local bad = write(dir .. "/bad.lua", "local x = 1\nif x then\n")
      assert.is_true(hooks.validate(good, "deploy"))
      local ok, err = hooks.validate(bad, "deploy")
      assert.is_nil(ok)
      assert.matches("^deploy%-hook command " .. bad:gsub("%p", "%%%0") .. " cannot be loaded: "
        .. bad:gsub("%p", "%%%0") .. ":3: ", err)
      ok, err = hooks.validate(dir .. "/missing.lua", "pre")
      assert.is_nil(ok)
      assert.matches("Unable to find pre-hook command " .. dir .. "/missing.lua in the PATH.", err, 1, true)
    end)

    it("validate_config checks pre, post, deploy, renew unless --disable-hook-validation", function()
      local config = { pre_hook = "echo", post_hook = "certbot-spec-missing-post", renew_hook = "certbot-spec-r" }
      local ok, err = hooks.validate_config(config)
      assert.is_nil(ok)
      assert.matches("^Unable to find post%-hook command certbot%-spec%-missing%-post in the PATH%.", err)
      config.post_hook = nil
      ok, err = hooks.validate_config(config)
      assert.is_nil(ok)
      assert.matches("^Unable to find renew%-hook command certbot%-spec%-r ", err)
      config.validate_hooks = false
      assert.is_true(hooks.validate_config(config))
    end)
  end)

  describe("Lua hooks", function()
    it("see the hook table and write through hook.write_file", function()
      local out = dir .. "/out"
      local path = write(dir .. "/deploy.lua", ([[
local parts = { hook.event, hook.lineage, table.concat(hook.domains, ","),
  #hook.failed_domains, hook.paths.fullchain, hook.env.RENEWED_DOMAINS }
assert(hook.write_file(%q, table.concat(parts, "|")))
print("wrote", #parts)
]]):format(out))
      local ok, stdout, stderr = hooks.run("deploy-hook", path,
        { RENEWED_LINEAGE = "/etc/le/live/a.example", RENEWED_DOMAINS = "a.example b.example" })
      assert.is_true(ok)
      assert.equal("wrote\t6\n", stdout)
      assert.equal("", stderr)
      assert.equal("deploy|/etc/le/live/a.example|a.example,b.example|0|/etc/le/live/a.example/fullchain.pem|"
        .. "a.example b.example", slurp(out))
      assert.equal(384, sys.stat(out).mode) -- 0600 by default
      assert.same({}, shown)
    end)

    it("take info over the environment, and the manual plugin's names", function()
      local out = dir .. "/out"
      local path = write(dir .. "/post.lua", ([[
assert(hook.write_file(%q, table.concat({ hook.event, table.concat(hook.domains, ","),
  table.concat(hook.failed_domains, ","), tostring(hook.lineage), tostring(hook.paths and hook.paths.cert) }, "|"),
  tonumber("640", 8)))
]]):format(out))
      assert.is_true((hooks.run("post-hook", path, { RENEWED_DOMAINS = "x.example", FAILED_DOMAINS = "f.example" },
        { domains = { "r1.example", "r2.example" }, failed_domains = { "f1.example" } })))
      assert.equal("post|r1.example,r2.example|f1.example|nil|nil", slurp(out))
      assert.equal(416, sys.stat(out).mode)
      assert.is_true((hooks.run("post-hook", path, { RENEWED_DOMAINS = "x.example y.example",
        FAILED_DOMAINS = "f.example g.example" })))
      assert.equal("post|x.example,y.example|f.example,g.example|nil|nil", slurp(out))
      assert.is_true((hooks.run("manual-auth-hook", path, { CERTBOT_ALL_DOMAINS = "m.example,n.example" })))
      assert.equal("manual-auth|m.example,n.example||nil|nil", slurp(out))
      assert.is_true((hooks.run("deploy-hook", path, {}, { event = "deploy", lineage = "/l",
        paths = { cert = "/archive/cert3.pem" } })))
      assert.equal("deploy|||/l|/archive/cert3.pem", slurp(out))
    end)

    it("report an error with file and line, and the run goes on", function()
      local path = write(dir .. "/fail.lua", "print('before')\nlocal x = nil\nerror('no ' .. 'luck')\n")
      local ok, out, err, code = hooks.run("deploy-hook", path, {})
      assert.is_false(ok)
      assert.equal("before\n", out)
      assert.equal(path .. ":3: no luck", err)
      assert.is_nil(code)
      assert.equal("deploy-hook command " .. path .. " failed: " .. path .. ":3: no luck\n", table.concat(shown))
      -- a runtime error is the same
      write(path, "local t = nil\nreturn t.x\n")
      ok, out, err = hooks.run("post-hook", path, {})
      assert.is_false(ok)
      assert.equal("", out)
      assert.matches("^" .. path:gsub("%p", "%%%0") .. ":2: attempt to index a nil value", err)
      -- and the next hook runs
      local after = write(dir .. "/after.lua", "print('still here')\n")
      local ok2, out2 = hooks.run("post-hook", after, {})
      assert.is_true(ok2)
      assert.equal("still here\n", out2)
    end)

    it("cannot reach io, os.execute, require, load, string.dump or debug", function()
      local marker = dir .. "/marker"
      local cases = {
        { "io.open(%q, 'w')", "io" },
        { "os.execute('touch ' .. %q)", "os.execute" },
        { "require('io').open(%q, 'w')", "require" },
        { "load('io.open(' .. %q .. ')')", "load" },
        { "string.dump(print, %q)", "string.dump" },
        { "debug.sethook(print, %q)", "debug" },
        { "dofile(%q)", "dofile" },
        { "os.remove(%q)", "os.remove" },
      }
      for _, c in ipairs(cases) do
        shown = {}
        local path = write(dir .. "/bad.lua", "local a = 1\n" .. c[1]:format(marker) .. "\n")
        local ok, _, err = hooks.run("deploy-hook", path, {})
        assert.is_false(ok, c[1])
        assert.equal(path .. ":2: undefined global '" .. c[2] .. "'", err, c[1])
        assert.matches("failed: " .. path .. ":2: undefined global '" .. c[2] .. "'", table.concat(shown), 1, true)
      end
      assert.is_nil(sys.lstat(marker))
    end)

    it("refuse a precompiled chunk", function()
      local path = write(dir .. "/bin.lua", string.dump(function() return 1 end))
      local ok, _, err = hooks.run("deploy-hook", path, {})
      assert.is_false(ok)
      assert.matches("attempt to load a binary chunk", err, 1, true)
    end)

    it("get values with shell metacharacters literally, read-only in hook.env", function()
      local x = "$(touch /tmp/pwn);`id` 'q\" \\ \n*"
      local out = dir .. "/out"
      local path = write(dir .. "/env.lua", ([[
assert(hook.env.X == os.getenv("X"))
local ok, err = pcall(function() hook.env.X = "changed" end)
assert(not ok and err:find("hook.env is read%%-only"))
local n = 0
for _ in pairs(hook.env) do n = n + 1 end
assert(hook.write_file(%q, hook.env.X .. "|" .. n))
]]):format(out))
      assert.is_true((hooks.run("deploy-hook", path, { X = x, Y = 2 })))
      assert.equal(x .. "|2", slurp(out))
    end)

    it("run programs through hook.run without a shell, with the hook's environment", function()
      local out = dir .. "/out"
      local path = write(dir .. "/run.lua", ([[
local r = {}
local code, o, e = hook.run({ "printf", "%%s|%%s", "a b", "$HOME;`id`" })
r[#r + 1] = code .. ":" .. o .. ":" .. e
code, o = hook.run({ "printenv", "RENEWED_LINEAGE" })
r[#r + 1] = code .. ":" .. o:gsub("\n$", "")
code, o = hook.run({ "cat" }, "from stdin")
r[#r + 1] = code .. ":" .. o
local c2, why = hook.run({ "sh", "-c", "kill -9 $$" })
r[#r + 1] = tostring(c2) .. ":" .. why
code, o, e = hook.run({ "certbot-spec-no-such-program" })
r[#r + 1] = code .. ":" .. e:gsub("\n$", "")
local ok, err = pcall(hook.run, { "echo", {} })
r[#r + 1] = tostring(ok) .. ":" .. err
local data, rerr = hook.read_file(%q)
r[#r + 1] = tostring(data) .. ":" .. tostring(rerr ~= nil)
assert(hook.write_file(%q, table.concat(r, "\n")))
]]):format(dir .. "/nonexistent", out))
      local ok, _, err = hooks.run("deploy-hook", path, { RENEWED_LINEAGE = "/etc/le/live/r.example" })
      assert.is_true(ok, err)
      local lines = {}
      for l in (slurp(out) .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
      assert.equal("0:a b|$HOME;`id`:", lines[1])
      assert.equal("0:/etc/le/live/r.example", lines[2])
      assert.equal("0:from stdin", lines[3])
      assert.equal("nil:killed by signal 9", lines[4])
      assert.matches("^127:certbot%-spec%-no%-such%-program: ", lines[5])
      assert.equal("false:hook.run: argument 2 is a table, not a string", lines[6])
      assert.equal("nil:true", lines[7])
    end)

    it("log through hook.log into certbot's log", function()
      local log = require("certbot.log")
      assert(log.setup(dir .. "/logs", 0, 0))
      local path = write(dir .. "/log.lua", "hook.log('hello from ' .. hook.event)\n")
      local ok = hooks.run("pre-hook", path, {})
      log.close()
      assert.is_true(ok)
      local text = slurp(dir .. "/logs/letsencrypt.log")
      assert.matches("INFO:pre-hook command " .. path .. ": hello from pre\n", text, 1, true)
    end)

    it("print into the output a manual auth hook hands to the cleanup hook", function()
      local path = write(dir .. "/auth.lua", "print(hook.env.CERTBOT_VALIDATION)\n")
      local ok, out = hooks.run("manual-auth-hook", path, { CERTBOT_VALIDATION = "v-1" })
      assert.is_true(ok)
      assert.equal("v-1\n", out)
    end)

    it("start no process: strace sees no /bin/sh for a Lua hook, and one for a shell hook", function()
      if sys.run({ "strace", "-V" }, hooks.env()) ~= 0 then
        return pending("strace is not installed")
      end
      local script = write(dir .. "/driver.lua", ([[
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = %q .. "/lib/?.so;" .. package.cpath
local hooks = require("certbot.hooks")
local ok = hooks.run("deploy-hook", arg[1], { RENEWED_LINEAGE = arg[2] })
os.exit(ok and 0 or 1)
]]):format(os.getenv("CERTBOT_BUILD") or "build"))
      local out = dir .. "/out"
      local luahook = write(dir .. "/h.lua", ("assert(hook.write_file(%q, hook.lineage))\n"):format(out))
      local function traced(cmd)
        local trace = dir .. "/trace"
        os.remove(trace)
        local code, o, e = sys.run({ "strace", "-f", "-qq", "-e", "trace=execve", "-o", trace,
          "lua5.4", script, cmd, "/etc/le/live/s.example" }, hooks.env())
        if code ~= 0 and (e or ""):match("ptrace") then return nil, e end
        assert.equal(0, code, (o or "") .. (e or ""))
        local execs = {}
        for line in slurp(trace):gmatch("[^\n]+") do
          if line:match("execve%(") then execs[#execs + 1] = line end
        end
        return execs
      end
      local execs, why = traced(luahook)
      if not execs then return pending("strace cannot trace here: " .. why) end
      assert.equal("/etc/le/live/s.example", slurp(out))
      assert.equal(1, #execs, table.concat(execs, "\n")) -- lua5.4 itself, nothing else
      assert.matches("lua5.4", execs[1], 1, true)
      assert.is_nil(table.concat(execs, "\n"):match("/bin/sh"))
      -- the judge can see a shell when there is one
      execs = traced('printf %s "$RENEWED_LINEAGE" > ' .. sh_quote(out .. "2"))
      assert.equal("/etc/le/live/s.example", slurp(out .. "2"))
      assert.matches('execve("/bin/sh"', table.concat(execs, "\n"), 1, true)
    end)
  end)

  describe("example hooks in hooks/", function()
    local saved_path
    before_each(function() saved_path = os.getenv("PATH") end)
    after_each(function()
      sys.setenv("PATH", saved_path)
      sys.setenv("NGINX_SPEC_LOG", nil)
      sys.setenv("NGINX_SPEC_FAIL_T", nil)
    end)

    -- A stand-in nginx first on PATH: records its arguments; `-t` fails
    -- when NGINX_SPEC_FAIL_T is set.
    local function stub_nginx()
      local bin = dir .. "/bin"
      assert(sys.mkdir(bin, 493))
      write(bin .. "/nginx", '#!/bin/sh\necho "$*" >> "$NGINX_SPEC_LOG"\n'
        .. 'if [ "$1" = -t ] && [ -n "${NGINX_SPEC_FAIL_T:-}" ]; then echo "emerg: bad conf" >&2; exit 1; fi\n', 493)
      sys.setenv("PATH", bin .. ":" .. saved_path)
      sys.setenv("NGINX_SPEC_LOG", dir .. "/nginx.log")
    end

    for _, hook in ipairs({ "hooks/reload-nginx.sh", "hooks/reload-nginx.lua" }) do
      it(hook .. " checks the configuration, then reloads; a bad one is not reloaded", function()
        stub_nginx()
        local env = { RENEWED_LINEAGE = "/etc/le/live/n.example", RENEWED_DOMAINS = "n.example www.n.example" }
        assert.is_true(hooks.validate(hook, "deploy"))
        local ok, out = hooks.run("deploy-hook", hook, env)
        assert.is_true(ok)
        assert.equal("nginx reloaded for n.example www.n.example\n", out)
        assert.equal("-t -q\n-s reload\n", slurp(dir .. "/nginx.log"))
        os.remove(dir .. "/nginx.log")
        sys.setenv("NGINX_SPEC_FAIL_T", "1")
        ok = hooks.run("deploy-hook", hook, env)
        assert.is_false(ok)
        assert.equal("-t -q\n", slurp(dir .. "/nginx.log"))
        assert.matches("emerg: bad conf", table.concat(shown), 1, true)
      end)
    end

    it("hooks/copy-to-haproxy.sh writes fullchain and key as one 0600 PEM that openssl reads", function()
      local live = dir .. "/live/h.example"
      assert(sys.mkdir(dir .. "/live", 448))
      assert(sys.mkdir(live, 448))
      local code, o, e = sys.run({ "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-subj", "/CN=h.example", "-days", "1", "-keyout", live .. "/privkey.pem",
        "-out", live .. "/fullchain.pem" }, hooks.env())
      assert.equal(0, code, o .. e)
      local certs = dir .. "/haproxy"
      assert(sys.mkdir(certs, 493))
      local ok, out, err = hooks.run("deploy-hook", "hooks/copy-to-haproxy.sh",
        { RENEWED_LINEAGE = live, HAPROXY_CERT_DIR = certs })
      assert.is_true(ok, err)
      local pem = certs .. "/h.example.pem"
      assert.equal("wrote " .. pem .. "\n", out)
      assert.equal(slurp(live .. "/fullchain.pem") .. slurp(live .. "/privkey.pem"), slurp(pem))
      assert.equal(384, sys.stat(pem).mode)
      assert.same({ "h.example.pem" }, sys.listdir(certs)) -- no temp file left
      -- the independent judge: openssl finds a certificate and the matching key in it
      local c1, pub1 = sys.run({ "openssl", "x509", "-in", pem, "-noout", "-pubkey" }, hooks.env())
      local c2, pub2 = sys.run({ "openssl", "pkey", "-in", pem, "-pubout" }, hooks.env())
      assert.equal(0, c1)
      assert.equal(0, c2)
      assert.equal(pub1, pub2)
      -- without RENEWED_LINEAGE it refuses
      shown = {}
      ok = hooks.run("deploy-hook", "hooks/copy-to-haproxy.sh", { HAPROXY_CERT_DIR = certs })
      assert.is_false(ok)
      assert.matches("RENEWED_LINEAGE", table.concat(shown), 1, true)
    end)

    it("hooks/notify-failures.lua reports FAILED_DOMAINS and is quiet without", function()
      sys.setenv("NOTIFY_EMAIL", nil)
      local ok, out = hooks.run("post-hook", "hooks/notify-failures.lua",
        { RENEWED_DOMAINS = "ok.example", FAILED_DOMAINS = "bad1.example bad2.example" })
      assert.is_true(ok)
      assert.equal("certificate renewal failed for: bad1.example bad2.example\n", out)
      ok, out = hooks.run("post-hook", "hooks/notify-failures.lua", { RENEWED_DOMAINS = "ok.example",
        FAILED_DOMAINS = "" })
      assert.is_true(ok)
      assert.equal("", out)
      assert.same({}, shown)
    end)
  end)
end)
