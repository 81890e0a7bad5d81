-- certbot.core.proc: OFD locks (shared, exclusive, handed to a child),
-- processes started without waiting, their pipes and descriptors, waiting
-- without blocking, signals, and poll.
local core = require("certbot.core")
local proc, sys = core.proc, core.sys

local BUILD = os.getenv("CERTBOT_BUILD") or "build"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(sys.mkdir(p, 448))
  return p
end

local function rm_rf(p) os.execute("rm -rf '" .. p .. "'") end

-- Under `make asan` certbot.core is instrumented: a lua5.4 child loading
-- it needs the ASan runtime preloaded (spec/helpers/init.lua took
-- LD_PRELOAD away from this process's children).
local ASAN_PRELOAD
if os.getenv("CERTBOT_SAN") then
  local p = io.popen("cc -print-file-name=libasan.so")
  ASAN_PRELOAD = p and p:read("l")
  if p then p:close() end
end

-- The environment plus what a lua5.4 child needs to load certbot.core.
local function env(extra)
  local e = { "LUA_CPATH=" .. BUILD .. "/lib/?.so;;" }
  if ASAN_PRELOAD then e[#e + 1] = "LD_PRELOAD=" .. ASAN_PRELOAD end
  for _, kv in ipairs(extra or {}) do e[#e + 1] = kv end
  for _, kv in ipairs(sys.environ()) do
    if not kv:match("^LUA_CPATH=") then e[#e + 1] = kv end
  end
  return e
end

-- Everything a pipe's reading end gives until end of file.
local function drain(fd)
  local parts = {}
  while true do
    local ready = assert(proc.poll({ fd }, 10))
    assert.is_true(ready[1], "no data within 10 s")
    local s = assert(fd:read())
    if s == "" then break end
    parts[#parts + 1] = s
  end
  fd:close()
  return table.concat(parts)
end

-- One line from a pipe, however the writer split it.
local function read_line(fd)
  local got = ""
  repeat
    assert.is_true(assert(proc.poll({ fd }, 10))[1], "no line within 10 s")
    local s = assert(fd:read(1))
    assert.not_equal("", s, "end of file before a line")
    got = got .. s
  until s == "\n"
  return got
end

local function run(argv, opts)
  local r, w = assert(proc.pipe())
  opts = opts or {}
  opts.stdout = w
  local pid = assert(proc.spawn(argv, env(), opts))
  w:close()
  local out = drain(r)
  return out, proc.wait(pid)
end

local function alive(pid)
  local stat = io.open("/proc/" .. pid .. "/stat")
  if not stat then return false end
  local s = stat:read("a")
  stat:close()
  local state = s:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z"
end

-- A classic fcntl lock held by python (as Certbot's lockf takes it), or
-- the attempt to take one: "locked" or "busy".
local function python_lockf(path, hold)
  local script = ("import fcntl,sys,time\nf=open(%q,'w')\n"
    .. "try:\n  fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    .. "except OSError:\n  print('busy'); sys.exit(0)\n"
    .. "print('locked'); sys.stdout.flush()\ntime.sleep(%s)\n"):format(path, hold or 0)
  return { "python3", "-c", script }
end

describe("core.proc #core", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() rm_rf(dir) end)

  describe("lock", function()
    it("shares a shared lock and refuses an exclusive one beside it, and the reverse", function()
      local path = dir .. "/.certbot.lock"
      local a = assert(proc.lock(path, "shared"))
      local b = assert(proc.lock(path, "shared"))
      local st = assert(sys.stat(path))
      assert.equal(384, st.mode) -- 0600
      local none, err, why = proc.lock(path, "exclusive")
      assert.is_nil(none)
      assert.equal("busy", why)
      assert.equal(path .. ": held by another process", err)
      a:unlock()
      assert.is_nil((proc.lock(path, "exclusive")))
      b:unlock()
      local x = assert(proc.lock(path))
      assert.equal("busy", select(3, proc.lock(path, "shared")))
      assert.equal("busy", select(3, proc.lock(path, "exclusive")))
      x:unlock()
      assert(proc.lock(path, "shared")):unlock()
    end)

    it("conflicts with classic fcntl locks, as Certbot's lockf takes them, both ways", function()
      local path = dir .. "/.certbot.lock"
      local shared = assert(proc.lock(path, "shared"))
      local out = run(python_lockf(path))
      assert.equal("busy\n", out)
      shared:unlock()
      -- python holds it: we cannot take it, shared or not
      local r, w = assert(proc.pipe())
      local pid = assert(proc.spawn(python_lockf(path, 30), env(), { stdout = w }))
      w:close()
      assert.equal("locked\n", read_line(r))
      assert.equal("busy", select(3, proc.lock(path, "shared")))
      assert.equal("busy", select(3, proc.lock(path, "exclusive")))
      assert(proc.kill(pid, "KILL"))
      assert.same({ "signaled", 9 }, { proc.wait(pid) })
      r:close()
      assert(proc.lock(path, "shared")):unlock()
    end)

    it("hands an exclusive lock to a child that outlives the parent's copy", function()
      local path = dir .. "/lineage.lock"
      local lk = assert(proc.lock(path, "exclusive"))
      local r, w = assert(proc.pipe())
      local code = ([[
        local proc = require("certbot.core").proc
        local lk, err = proc.adopt_lock(3, %q)
        io.write(lk and "adopted\n" or ("failed: " .. tostring(err) .. "\n"))
        io.stdout:flush()
        io.read("l") -- until the parent closes our stdin
        lk:unlock()
        io.write("released\n")
      ]]):format(path)
      local in_r, in_w = assert(proc.pipe())
      local pid = assert(proc.spawn({ "lua5.4", "-e", code }, env(), { stdin = in_r, stdout = w, fds = { [3] = lk } }))
      w:close()
      in_r:close()
      assert.equal("adopted\n", read_line(r))
      -- the parent lets go of its copy: the child still holds the lock
      lk:unlock()
      assert.equal("busy", select(3, proc.lock(path, "exclusive")))
      assert.equal("busy", select(3, proc.lock(path, "shared")))
      in_w:close()
      assert.equal("released\n", drain(r))
      assert.same({ "exited", 0 }, { proc.wait(pid) })
      assert(proc.lock(path, "exclusive")):unlock()
    end)

    it("adopts only a descriptor of the named file, and only a lock no one else holds", function()
      local path, other = dir .. "/a.lock", dir .. "/b.lock"
      local lk = assert(proc.lock(other))
      local code = ([[
        local proc = require("certbot.core").proc
        local lk, err, why = proc.adopt_lock(3, %q)
        print(tostring(lk), err, why)
        local lk2, err2, why2 = proc.adopt_lock(4, %q)
        print(tostring(lk2), err2, why2)
      ]]):format(path, other)
      -- fd 3 is b.lock, not a.lock; fd 4 is a second open of b.lock,
      -- which the first holds
      local f = assert(io.open(other, "r+"))
      local out = run({ "lua5.4", "-e", code }, { fds = { [3] = lk, [4] = f } })
      f:close()
      local l1, l2 = out:match("^([^\n]*)\n([^\n]*)\n$")
      assert.equal("nil\tdescriptor 3 is not " .. path .. "\tnil", l1)
      assert.equal("nil\t" .. other .. ": held by another process\tbusy", l2)
      lk:unlock()
    end)
  end)

  describe("spawn", function()
    it("gives the child 0, 1, 2 and the descriptors mapped, nothing else", function()
      local extra = assert(io.open(dir .. "/x", "w")) -- open in the parent, not for the child
      local lk = assert(proc.lock(dir .. "/l"))
      -- (no pipeline: the shell's own pipes would show)
      local out, st, code = run({ "sh", "-c", "ls /proc/$$/fd; exit 7" }, { fds = { [5] = lk } })
      extra:close()
      local fds = {}
      for n in out:gmatch("%d+") do fds[#fds + 1] = tonumber(n) end
      table.sort(fds)
      assert.same({ 0, 1, 2, 5 }, fds)
      assert.equal("exited", st)
      assert.equal(7, code)
    end)

    it("feeds stdin from /dev/null by default and sends stderr where asked", function()
      local r, w = assert(proc.pipe())
      local pid = assert(proc.spawn({ "sh", "-c", "cat; echo oops >&2" }, env(), { stderr = w }))
      w:close()
      assert.equal("oops\n", drain(r))
      assert.same({ "exited", 0 }, { proc.wait(pid) })
    end)

    it("runs opts.path with argv[1] as the name the child sees", function()
      local out = run({ "renamed", "-c", "echo $0" }, { path = "/bin/sh" })
      assert.equal("renamed\n", out)
    end)

    it("reports a program that cannot be started, without a child left", function()
      local pid, err = proc.spawn({ dir .. "/missing" }, env())
      assert.is_nil(pid)
      assert.equal(dir .. "/missing: No such file or directory", err)
    end)

    it("waits without blocking, signals, and puts the child in its own process group", function()
      local pid = assert(proc.spawn({ "sleep", "30" }, env(), { pgroup = true }))
      assert.equal("running", proc.wait(pid, true))
      local f = assert(io.open("/proc/" .. pid .. "/stat"))
      local stat = f:read("a")
      f:close()
      local pgrp = tonumber(stat:match("^%d+ %b() %a %d+ (%d+)"))
      assert.equal(pid, pgrp)
      assert.is_true(proc.kill(pid, "TERM"))
      assert.same({ "signaled", 15 }, { proc.wait(pid) })
      assert.is_nil((proc.wait(pid, true))) -- reaped already
    end)

    it("sends parent_death's signal to a child whose parent dies", function()
      -- lua5.4 starts `sleep 30` with parent_death = TERM, prints its pid
      -- and exits: the sleep must die with it
      local code = [[
        local core = require("certbot.core")
        local pid = assert(core.proc.spawn({ "sleep", "30" }, core.sys.environ(), { parent_death = "TERM" }))
        print(pid)
      ]]
      local out, st, c = run({ "lua5.4", "-e", code })
      assert.same({ "exited", 0 }, { st, c })
      local child = assert(tonumber(out:match("^(%d+)")))
      local gone = false
      for _ = 1, 100 do
        if not alive(child) then gone = true break end
        sys.sleep(0.05)
      end
      assert.is_true(gone, "the orphan kept running")
    end)
  end)

  describe("descriptors", function()
    it("polls with a timeout, then sees data and end of file", function()
      local r, w = assert(proc.pipe())
      local t0 = sys.monotonic()
      local ready = assert(proc.poll({ r }, 0.2))
      assert.is_false(ready[1])
      assert.is_true(sys.monotonic() - t0 >= 0.15)
      assert.is_true(w:write("abc"))
      assert.is_true(assert(proc.poll({ r }, 1))[1])
      assert.equal("abc", r:read())
      w:close()
      assert.is_true(assert(proc.poll({ r }, 1))[1])
      assert.equal("", r:read())
      r:close()
      assert.equal("proc.fd (closed)", tostring(r))
      -- a closed descriptor in the list is skipped
      assert.same({ false }, assert(proc.poll({ r }, 0)))
    end)

    it("adopts an inherited descriptor and refuses one that is not open", function()
      local r, w = assert(proc.pipe())
      local pid = assert(proc.spawn({ "lua5.4", "-e", [[
        local proc = require("certbot.core").proc
        local fd = assert(proc.adopt_fd(4))
        fd:write("through 4\n")
        fd:close()
        print(proc.adopt_fd(9))
      ]] }, env(), { stdout = w, fds = { [4] = w } }))
      w:close()
      assert.equal("through 4\nnil\tdescriptor 9: Bad file descriptor\n", drain(r))
      assert.same({ "exited", 0 }, { proc.wait(pid) })
    end)

    it("names signals", function()
      assert.equal(15, proc.signum("TERM"))
      assert.equal(2, proc.signum("SIGINT"))
      assert.is_nil(proc.signum("NOPE"))
    end)
  end)
end)

-- certbot.parallel's pool, over plain shell children: what the parent of
-- a parallel renew does with its workers' output, results and exits.
describe("certbot.parallel pool #core", function()
  local parallel = require("certbot.parallel")

  local function sinks()
    return { out = assert(io.tmpfile()), err = assert(io.tmpfile()) }
  end

  local function text(f)
    f:seek("set", 0)
    return f:read("a")
  end

  -- pump until every worker is collected (30 s at most)
  local function collect(pool)
    local done, deadline = {}, sys.monotonic() + 30
    while pool:count() > 0 do
      assert.is_true(sys.monotonic() < deadline, "workers not collected in 30 s")
      for _, w in ipairs(pool:pump(1)) do done[w.tag] = w end
    end
    return done
  end

  it("prefixes each line of each worker, keeps streams apart and reads the JSON result", function()
    local s = sinks()
    local pool = parallel.pool(s)
    local result = '{"status":"renewed","domains":["a.example"]}'
    assert(pool:start("a", "/bin/sh", { "sh", "-c",
      "echo one; printf 'two\\nthree'; echo warn >&2; printf '%s' \"$R\" >&4" },
      env({ "R=" .. result }), {}, { i = 1 }))
    assert(pool:start("b", "/bin/sh", { "sh", "-c", "echo other; exit 3" }, env(), {}, { i = 2 }))
    local done = collect(pool)
    local lines = {}
    for l in text(s.out):gmatch("[^\n]*\n") do lines[#lines + 1] = l end
    table.sort(lines) -- the two workers' lines interleave; each one's keep their order
    assert.same({ "[a] one\n", "[a] three\n", "[a] two\n", "[b] other\n" }, lines)
    assert.matches("%[a%] two\n.*%[a%] three\n", text(s.out)) -- a last line without "\n" gets one
    assert.equal("[a] warn\n", text(s.err))
    assert.same({ status = "renewed", domains = { "a.example" } }, done.a.result)
    assert.same({ "exited", 0, 1 }, { done.a.status, done.a.code, done.a.data.i })
    assert.is_nil(done.b.result)
    assert.equal("no result", done.b.result_error)
    assert.same({ "exited", 3 }, { done.b.status, done.b.code })
  end)

  it("signals its workers and collects one whose pipes a daemon keeps open", function()
    local s = sinks()
    local pool = parallel.pool(s)
    -- the background sleep inherits stdout and outlives the worker
    local w = assert(pool:start("d", "/bin/sh", { "sh", "-c", "sleep 30 & echo started $!; wait" }, env(), {}))
    local t0 = sys.monotonic()
    while not text(s.out):find("started", 1, true) do
      pool:pump(0.2)
      assert.is_true(sys.monotonic() - t0 < 10)
    end
    pool:signal("TERM")
    local done = collect(pool)
    assert.same({ "signaled", 15 }, { done.d.status, done.d.code })
    -- collected after the linger, though the sleep still holds the pipe
    assert.is_true(sys.monotonic() - t0 < 10)
    assert.equal(w, done.d)
    local sleeper = tonumber(text(s.out):match("started (%d+)"))
    if sleeper then proc.kill(sleeper, "TERM") end
  end)
end)
