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
end)
