-- certbot.log: letsencrypt.log lines and their rotation, as Certbot writes
-- them ("2024-01-02 03:04:05,678:INFO:message"; letsencrypt.log.1 the
-- newest backup).
local log = require("certbot.log")
local sys = require("certbot.core").sys

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(sys.mkdir(p, 448))
  return p
end

local function lines(path)
  local out = {}
  for l in assert(sys.read_file(path)):gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

describe("log", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function()
    log.close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("writes each line with a UTC timestamp, milliseconds and the level", function()
    assert(log.setup(dir, 0, 0))
    local t0 = os.time()
    log.info("%s: %s (%s)", "a.example", "not due", "a third of its lifetime left rule")
    log.debug("plain text, 100%% kept as it is")
    log.warning("%d%%", 5)
    log.error("%s and %s", nil, false)
    for i = 1, 50 do log.info("line %d", i) end
    local t1 = os.time()
    local got = lines(dir .. "/letsencrypt.log")
    assert.equal(54, #got)
    local want = { "INFO:a.example: not due (a third of its lifetime left rule)",
      "DEBUG:plain text, 100%% kept as it is", "WARNING:5%", "ERROR:nil and false" }
    for i, l in ipairs(got) do
      local y, mo, d, h, mi, s, ms, rest = l:match("^(%d%d%d%d)%-(%d%d)%-(%d%d) (%d%d):(%d%d):(%d%d),(%d%d%d):(.*)$")
      assert.is_not_nil(y, l)
      local t = os.time({ year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h),
        min = tonumber(mi), sec = tonumber(s), isdst = false })
      -- os.time reads the table as local time: undo the offset to compare in UTC
      local offset = os.time(os.date("!*t", t0)) - t0
      assert.is_true(t - offset >= t0 and t - offset <= t1, l)
      assert.is_true(tonumber(ms) < 1000)
      assert.equal(want[i] or ("INFO:line " .. (i - 4)), rest)
    end
    -- the file is private
    assert.equal(384, sys.stat(dir .. "/letsencrypt.log").mode)
  end)

  it("keeps --max-log-backups backups, newest first, and leaves other files alone", function()
    sys.write_atomic(dir .. "/letsencrypt.log.02", "not a backup\n", 420)
    sys.write_atomic(dir .. "/letsencrypt.log.x", "not a backup\n", 420)
    for run = 1, 5 do
      assert(log.setup(dir, 3, 0))
      log.info("run %d", run)
      log.close()
    end
    local names = sys.listdir(dir)
    assert.same({ "letsencrypt.log", "letsencrypt.log.02", "letsencrypt.log.1", "letsencrypt.log.2",
      "letsencrypt.log.3", "letsencrypt.log.x" }, names)
    for i, f in ipairs({ "letsencrypt.log", "letsencrypt.log.1", "letsencrypt.log.2", "letsencrypt.log.3" }) do
      assert.matches(":INFO:run " .. (6 - i) .. "$", lines(dir .. "/" .. f)[1])
      assert.equal(1, #lines(dir .. "/" .. f))
    end
    assert.equal("not a backup\n", sys.read_file(dir .. "/letsencrypt.log.02"))
    -- with a gap: the oldest (.3) goes, only the backups there move up
    assert(os.remove(dir .. "/letsencrypt.log.2"))
    assert(log.setup(dir, 3, 0))
    log.close()
    assert.same({ "letsencrypt.log", "letsencrypt.log.02", "letsencrypt.log.1", "letsencrypt.log.2",
      "letsencrypt.log.x" }, sys.listdir(dir))
    assert.matches(":INFO:run 5$", lines(dir .. "/letsencrypt.log.1")[1])
    assert.matches(":INFO:run 4$", lines(dir .. "/letsencrypt.log.2")[1])
    -- 0: no rotation, one file that grows
    assert.equal(0, #lines(dir .. "/letsencrypt.log"))
    assert(log.setup(dir, 0, 0))
    log.info("more")
    log.close()
    assert(log.setup(dir, 0, 0))
    log.info("again")
    log.close()
    local got = lines(dir .. "/letsencrypt.log")
    assert.equal(2, #got)
    assert.matches(":INFO:more$", got[1])
    assert.matches(":INFO:again$", got[2])
    assert.same({ "letsencrypt.log", "letsencrypt.log.02", "letsencrypt.log.1", "letsencrypt.log.2",
      "letsencrypt.log.x" }, sys.listdir(dir))
  end)

  it("echoes info with -v and debug with -vv on standard error", function()
    local err = {}
    local real = io.stderr
    -- luacheck: ignore 122
    io.stderr = { write = function(_, ...) for _, s in ipairs({ ... }) do err[#err + 1] = s end end }
    local ok, e = pcall(function()
      for v = 0, 2 do
        assert(log.setup(dir, 0, v))
        log.debug("debug %d", v)
        log.info("info %d", v)
        log.warning("warning %d", v)
        log.close()
      end
    end)
    io.stderr = real
    assert(ok, e)
    assert.equal("info 1\ndebug 2\ninfo 2\n", table.concat(err))
  end)
end)
