-- TESTPLAN J4: out-of-range numbers from the user end as a clear refusal
-- or a clamped value, never as undefined behaviour (`make asan` runs the
-- ASan + UBSan executable through these too).  --max-log-backups here;
-- Retry-After and Content-Length are in spec/http_spec.lua.
local sys = require("certbot.core").sys
local log = require("certbot.log")
local proc = require("spec.helpers.proc")

local EXE = (os.getenv("CERTBOT_BUILD") or "build") .. "/certbot"

describe("--max-log-backups limits (J4)", function()
  local dir

  before_each(function() dir = proc.tmpdir("limits-") end)
  after_each(function() proc.rm_rf(dir) end)

  -- certificates with private dirs; cli.ini from dir/cli.ini if written
  local function run(...)
    local argv = { EXE, "certificates", "--config-dir", dir .. "/config", "--work-dir", dir .. "/work",
      "--logs-dir", dir .. "/logs", ... }
    return sys.run(argv, { "PATH=/usr/bin:/bin", "HOME=" .. dir, "XDG_CONFIG_HOME=" .. dir .. "/xdg",
      "CERTBOT_DEFAULT_CLI_INI=" .. dir .. "/cli.ini" })
  end

  local function logs()
    local names = {}
    for _, n in ipairs(sys.listdir(dir .. "/logs") or {}) do
      if n:find("^letsencrypt%.log") then names[#names + 1] = n end
    end
    table.sort(names)
    return names
  end

  it("refuses a negative, overflowing or non-decimal count on the command line", function()
    for _, v in ipairs({ "-1", "-9223372036854775808", "99999999999999999999", "9223372036854775808",
      "1e3", "0x10", "" }) do
      local code, out, err = run("--max-log-backups=" .. v)
      assert.equal(2, code, v .. ": " .. tostring(out) .. tostring(err))
      assert.matches("argument %-%-max%-log%-backups", err, 1, false)
      assert.equal(1, select(2, err:gsub("\n", "")), "one line: " .. err)
      assert.is_nil(sys.stat(dir .. "/logs"), v .. ": nothing written")
    end
  end)

  it("refuses the same in cli.ini, naming the file and line", function()
    for _, v in ipairs({ "-5", "99999999999999999999", "lots" }) do
      assert(sys.write_atomic(dir .. "/cli.ini", "# limits\nmax-log-backups = " .. v .. "\n", 420))
      local code, _, err = run()
      assert.equal(2, code, v)
      assert.matches(dir .. "/cli.ini:2", err, 1, true)
    end
  end)

  it("clamps the largest count it accepts, and rotation still works", function()
    for _, v in ipairs({ "9223372036854775807", "100001" }) do
      proc.rm_rf(dir .. "/logs")
      local t0 = sys.monotonic()
      for _ = 1, 3 do
        local code, out, err = run("--max-log-backups", v)
        assert.equal(0, code, tostring(out) .. tostring(err))
      end
      -- clamped to 100000 backups: three runs, three files, in well under
      -- the time 2^63 rename attempts would take
      assert.same({ "letsencrypt.log", "letsencrypt.log.1", "letsencrypt.log.2" }, logs())
      assert.is_true(sys.monotonic() - t0 < 30)
    end
  end)

  it("log.setup clamps whatever number it is handed", function()
    local logs_dir = dir .. "/logs"
    for _, v in ipairs({ -5, math.mininteger, -math.huge, 0 }) do
      -- negative or zero: no rotation, one file that grows
      assert(log.setup(logs_dir, v, 0))
      log.info("kept %s", tostring(v))
      log.close()
      assert.same({ "letsencrypt.log" }, logs())
    end
    -- huge: clamped to 100000, so each run adds one backup
    for i, v in ipairs({ math.maxinteger, math.huge, 1e308, 2 ^ 63, "99999999999999999999" }) do
      assert(log.setup(logs_dir, v, 0))
      log.close()
      assert.equal(i + 1, #logs(), tostring(v))
    end
    for _, n in ipairs(logs()) do
      assert.matches("^letsencrypt%.log[.%d]*$", n)
    end
  end)
end)
