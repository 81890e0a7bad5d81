-- certbot.sandbox: the environment users' Lua runs in is an allow-list;
-- anything else is an error naming it, and code loads as text only.

local sandbox = require("certbot.sandbox")
local sys = require("certbot.core").sys

-- Run src in a fresh sandbox; returns pcall's results.
local function run(src, opts)
  local env = sandbox.new(opts)
  local fn, err = sandbox.load(src, "/hooks/t.lua", env)
  if not fn then return false, err end
  return pcall(fn)
end

describe("sandbox", function()
  describe("new", function()
    it("holds exactly the allow-list, the print function and the extra globals", function()
      local env = sandbox.new({ globals = { hook = {} } })
      local want = { print = true, hook = true, _G = true, _VERSION = true }
      for _, n in ipairs(sandbox.BASE) do want[n] = true end
      for lib in pairs(sandbox.LIBS) do want[lib] = true end
      local got = {}
      for k in pairs(env) do got[k] = true end
      assert.same(want, got)
      -- the base functions are the real ones; the libraries are copies
      assert.equal(_G.pairs, env.pairs)
      assert.equal(string.format, env.string.format)
      assert.are_not.equal(string, env.string)
      local os_fields = {}
      for k in pairs(env.os) do os_fields[#os_fields + 1] = k end
      table.sort(os_fields)
      assert.same({ "clock", "date", "difftime", "getenv", "time" }, os_fields)
    end)

    it("raises 'undefined global' naming what is not there, at the line that named it", function()
      local cases = {
        { "io.open('/etc/passwd')", "io" },
        { "require('os')", "require" },
        { "load('return 1')", "load" },
        { "loadfile('/etc/passwd')", "loadfile" },
        { "dofile('/etc/passwd')", "dofile" },
        { "debug.getinfo(1)", "debug" },
        { "getmetatable('').__index.dump = nil", "getmetatable" },
        { "setmetatable({}, {})", "setmetatable" },
        { "collectgarbage()", "collectgarbage" },
        { "package.loaded.os.exit()", "package" },
        { "coroutine.wrap(print)", "coroutine" },
        { "string.dump(print)", "string.dump" },
        { "os.execute('true')", "os.execute" },
        { "os.exit(0)", "os.exit" },
        { "os.remove('/tmp/x')", "os.remove" },
        { "math.randomseed(1)", "math.randomseed" },
      }
      for _, c in ipairs(cases) do
        local ok, err = run("local a = 1\n" .. c[1] .. "\n", {})
        assert.is_false(ok, c[1])
        assert.equal("/hooks/t.lua:2: undefined global '" .. c[2] .. "'", err, c[1])
      end
    end)

    it("lets sandboxed code catch that error and go on", function()
      local ok, res = run("local ok, e = pcall(function() return io end) return ok, e")
      assert.is_true(ok)
      assert.is_false(res)
    end)

    it("keeps the sandbox's globals and library changes to itself", function()
      local ok, err = run("sandbox_spec_global = 1; string.upper = nil; return ('x'):upper()")
      assert.is_true(ok)
      assert.equal("X", err) -- string methods still work
      assert.is_nil(rawget(_G, "sandbox_spec_global"))
      assert.equal("function", type(string.upper))
      -- and the next sandbox starts clean
      local ok2, v = run("return string.upper('y')")
      assert.is_true(ok2)
      assert.equal("Y", v)
    end)

    it("sends print to opts.print, tab-separated with a newline", function()
      local seen = {}
      local ok = run("print('a', 1, nil, true) print()", { print = function(s) seen[#seen + 1] = s end })
      assert.is_true(ok)
      assert.same({ "a\t1\tnil\ttrue\n", "\n" }, seen)
    end)

    it("uses opts.getenv for os.getenv", function()
      local ok, v, home = run("return os.getenv('CERTBOT_X'), os.getenv('HOME')", {
        getenv = function(k) if k == "CERTBOT_X" then return "from-hook" end return os.getenv(k) end,
      })
      assert.is_true(ok)
      assert.equal("from-hook", v)
      assert.equal(os.getenv("HOME"), home)
    end)
  end)

  describe("load", function()
    it("refuses precompiled bytecode", function()
      local fn, err = sandbox.load(string.dump(function() return 1 end), "/hooks/b.lua", sandbox.new())
      assert.is_nil(fn)
      assert.matches("attempt to load a binary chunk", err, 1, true)
    end)

    it("names the file in syntax errors", function()
      local fn, err = sandbox.load("local x =\n", "/hooks/s.lua", sandbox.new())
      assert.is_nil(fn)
      assert.matches("^/hooks/s%.lua:2: ", err)
    end)

    it("blanks a #! first line and keeps line numbers", function()
      local ok, err = run("#!/usr/bin/env lua5.4\nlocal x = 1\nerror('third line')\n")
      assert.is_false(ok)
      assert.equal("/hooks/t.lua:3: third line", err)
    end)
  end)

  describe("loadfile", function()
    local path
    before_each(function() path = os.tmpname() end)
    after_each(function() os.remove(path) end)

    it("loads a file under its own name", function()
      assert(sys.write_atomic(path, "return ...\n", 384))
      local fn = assert(sandbox.loadfile(path, sandbox.new()))
      assert.equal(7, fn(7))
      assert(sys.write_atomic(path, "error('x')", 384))
      local ok, err = pcall(assert(sandbox.loadfile(path, sandbox.new())))
      assert.is_false(ok)
      assert.equal(path .. ":1: x", err)
    end)

    it("reports a missing file and refuses an oversized one", function()
      os.remove(path)
      local fn, err = sandbox.loadfile(path, sandbox.new())
      assert.is_nil(fn)
      assert.matches(path .. ": No such file", err, 1, true)
      assert(sys.write_atomic(path, string.rep("-- x\n", 100), 384))
      fn, err = sandbox.loadfile(path, sandbox.new(), 100)
      assert.is_nil(fn)
      assert.matches("larger than 100 bytes", err, 1, true)
    end)
  end)
end)
