-- bench/renew.lua: see bench/renew.sh.
package.path = "lua/?.lua;lua/?/init.lua;./?.lua;" .. package.path
-- CERTBOT_BUILD names the build dir (default build/), as for the specs
local BUILD = os.getenv("CERTBOT_BUILD") or "build"
package.cpath = BUILD .. "/lib/?.so;" .. package.cpath
local core = require("certbot.core")
local proc = require("spec.helpers.proc")

local sys = core.sys
local q = proc.quote

local RUNS = tonumber(os.getenv("RUNS") or "5")
-- Our client takes a fraction of a second: it runs OURS_RUNS times (five
-- per run of Debian's certbot by default), which steadies its median on
-- a machine whose speed wanders.
local OURS_RUNS = tonumber(os.getenv("OURS_RUNS") or tostring(5 * RUNS))
local SEEDS = tonumber(os.getenv("SEEDS") or "20")
local SIZES = {}
for n in (os.getenv("SIZES") or "100,1000"):gmatch("%d+") do SIZES[#SIZES + 1] = tonumber(n) end
local OURS = os.getenv("OURS") or BUILD .. "/certbot"
local THEIRS = os.getenv("THEIRS") or "/usr/bin/certbot"
-- BENCH_DIR keeps the issued seeds and the cloned config dirs between runs
-- (handy while profiling); by default everything lives in a temp dir.
local keep = os.getenv("BENCH_DIR")
local work = keep or proc.tmpdir("bench-renew-")
if keep then assert(sys.mkdir(work, 448, true)) end
local ERRLOG = work .. "/stderr.log"

local function sh(cmd)
  local ok = os.execute(cmd)
  if not ok then error("bench: command failed: " .. cmd, 2) end
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function exists(path) return sys.lstat(path) ~= nil end

---------------------------------------------------------------------------
-- Measuring a child: wall and CPU (user+sys) from wait4(), peak RSS
---------------------------------------------------------------------------

local MEASURE = [[
import os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
if argv[0].startswith("@"):
    argv = open(argv[0][1:], "rb").read().rstrip(b"\0").split(b"\0")
pid = os.fork()
if pid == 0:
    fd = os.open("/dev/null", os.O_RDWR)
    os.dup2(fd, 0)
    os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if out != "-" else fd, 1)
    os.execvp(argv[0], argv)
t0 = time.perf_counter()
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
print(os.waitstatus_to_exitcode(status), wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss)
]]

-- Peak RSS comes from GNU time when it is there: wait4()'s ru_maxrss of a
-- child forked from python counts python's own pages from before the exec
-- (~10 MiB), which would hide most of a small client's footprint.
local GNU_TIME = sys.stat("/usr/bin/time") and "/usr/bin/time" or nil

-- measure(argv, out, env, want_rss) -> exit code, wall s, cpu s, peak RSS
-- KiB.  The child's stdout goes to the file out (or /dev/null), stderr to
-- ERRLOG.  With want_rss, the child runs under GNU time for its peak RSS
-- (wall and CPU then include GNU time's own small share).
local function measure(argv, out, env, want_rss)
  if want_rss and GNU_TIME then
    local wrapped = { GNU_TIME, "-f", "%M", "-o", work .. "/rss.txt" }
    for _, a in ipairs(argv) do wrapped[#wrapped + 1] = a end
    local code, wall, cpu = measure(wrapped, out, env)
    return code, wall, cpu, tonumber(read(work .. "/rss.txt"):match("(%d+)%s*$"))
  end
  local words = {}
  for i, a in ipairs(argv) do words[i] = q(a) end
  local prefix = ""
  for k, v in pairs(env or {}) do prefix = prefix .. k .. "=" .. q(v) .. " " end
  local p = assert(io.popen(prefix .. "python3 -c " .. q(MEASURE) .. " " .. q(out or "-") .. " "
    .. table.concat(words, " ") .. " 2>>" .. q(ERRLOG)))
  local res = p:read("a")
  p:close()
  local code, wall, cpu, rss = res:match("^(%-?%d+) (%S+) (%S+) (%d+)")
  if not code then error("bench: measuring failed: " .. res .. "\nsee " .. ERRLOG) end
  return tonumber(code), tonumber(wall), tonumber(cpu), tonumber(rss)
end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) / 2] or (s[n / 2] + s[n / 2 + 1]) / 2
end

---------------------------------------------------------------------------
-- Seeds: real lineages issued by our client from Pebble
---------------------------------------------------------------------------

local seed = work .. "/seed"
local function dirs_args(base)
  return { "--config-dir", base .. "/config", "--work-dir", base .. "/work", "--logs-dir", base .. "/logs" }
end

local function seed_names()
  local names = {}
  for _, f in ipairs(sys.listdir(seed .. "/config/renewal") or {}) do
    local n = f:match("^(.+)%.conf$")
    if n then names[#names + 1] = n end
  end
  table.sort(names)
  return names
end

local function issue_seeds()
  local pebble = require("spec.helpers.pebble")
  local srv = pebble.start({ ports = "auto" })
  local ok, err = pcall(function()
    local env = { REQUESTS_CA_BUNDLE = srv.ca_file, XDG_CONFIG_HOME = work }
    local common = dirs_args(seed)
    for _, a in ipairs({ "--server", srv.directory, "-n", "--agree-tos", "-m", "bench@example.org" }) do
      common[#common + 1] = a
    end
    local reg = { OURS, "register" }
    for _, a in ipairs(common) do reg[#reg + 1] = a end
    assert(measure(reg, nil, env) == 0, "register failed; see " .. ERRLOG)
    for i = #seed_names() + 1, SEEDS do
      -- one to three names each, RSA and ECDSA keys, as a real host has
      local argv = { OURS, "certonly", "--standalone", "--http-01-port", tostring(srv.ports.http01),
        "--http-01-address", "127.0.0.1", "--cert-name", ("seed%02d.example.org"):format(i),
        "--key-type", i % 3 == 0 and "rsa" or "ecdsa" }
      for j = 1, 1 + (i % 3) do
        argv[#argv + 1] = "-d"
        argv[#argv + 1] = j == 1 and ("seed%02d.example.org"):format(i) or ("www%d.seed%02d.example.org"):format(j, i)
      end
      for _, a in ipairs(common) do argv[#argv + 1] = a end
      local code
      for _ = 1, 60 do -- port 5002 may be briefly taken by someone else's spec
        local mark = #(io.open(ERRLOG) and read(ERRLOG) or "")
        code = measure(argv, nil, env)
        if code == 0 or not read(ERRLOG):sub(mark + 1):lower():find("could not bind", 1, true) then break end
        sys.sleep(1)
      end
      assert(code == 0, "certonly failed; see " .. ERRLOG)
    end
  end)
  srv.stop()
  if not ok then error(err, 0) end
end

---------------------------------------------------------------------------
-- Clones: N lineages made from the seeds, each with its own name
---------------------------------------------------------------------------

local KINDS = { "cert", "privkey", "chain", "fullchain" }

-- A renewal conf for the clone: the same settings, paths under its name.
local function clone_conf(text, base, name)
  local cfg = base .. "/config"
  local paths = { archive_dir = cfg .. "/archive/" .. name }
  for _, k in ipairs(KINDS) do paths[k] = ("%s/live/%s/%s.pem"):format(cfg, name, k) end
  local dirs = { config_dir = cfg, work_dir = base .. "/work", logs_dir = base .. "/logs" }
  local out, section = {}, nil
  for line in (text:gsub("\n$", "") .. "\n"):gmatch("([^\n]*)\n") do
    section = line:match("^%[+([^%]]+)%]+$") or section
    local k = line:match("^([%w_]+) = ")
    if k and not section and paths[k] then line = k .. " = " .. paths[k] end
    if k and section == "renewalparams" and dirs[k] then line = k .. " = " .. dirs[k] end
    out[#out + 1] = line
  end
  return table.concat(out, "\n") .. "\n"
end

local function make_clones(n)
  local base = ("%s/n%d"):format(work, n)
  local cfg = base .. "/config"
  -- (count the confs only: a client may keep other files there, lock files say)
  local confs = 0
  for _, f in ipairs(sys.listdir(cfg .. "/renewal") or {}) do
    if f:match("%.conf$") then confs = confs + 1 end
  end
  if confs == n then return base end
  proc.rm_rf(base)
  sh("mkdir -p " .. q(base .. "/work") .. " " .. q(base .. "/logs") .. " && cp -a " .. q(seed .. "/config")
    .. " " .. q(cfg) .. " && rm -rf " .. q(cfg .. "/archive") .. " " .. q(cfg .. "/live") .. " "
    .. q(cfg .. "/renewal") .. " && mkdir -m 700 " .. q(cfg .. "/archive") .. " " .. q(cfg .. "/live")
    .. " && mkdir -m 755 " .. q(cfg .. "/renewal"))
  local seeds = {}
  for _, s in ipairs(seed_names()) do
    local files = {}
    for _, k in ipairs(KINDS) do files[k] = read(("%s/config/archive/%s/%s1.pem"):format(seed, s, k)) end
    seeds[#seeds + 1] = { name = s, files = files, conf = read(("%s/config/renewal/%s.conf"):format(seed, s)),
      readme = read(("%s/config/live/%s/README"):format(seed, s)) }
  end
  assert(#seeds > 0, "no seed lineages")
  for i = 1, n do
    local s = seeds[(i - 1) % #seeds + 1]
    local name = ("l%04d-%s"):format(i, s.name)
    assert(sys.mkdir(cfg .. "/archive/" .. name, 448))
    assert(sys.mkdir(cfg .. "/live/" .. name, 448))
    for _, k in ipairs(KINDS) do
      assert(sys.write_atomic(("%s/archive/%s/%s1.pem"):format(cfg, name, k), s.files[k],
        k == "privkey" and 384 or 420))
      assert(sys.symlink_swap(("../../archive/%s/%s1.pem"):format(name, k),
        ("%s/live/%s/%s.pem"):format(cfg, name, k)))
    end
    write(("%s/live/%s/README"):format(cfg, name), s.readme)
    write(("%s/renewal/%s.conf"):format(cfg, name), clone_conf(s.conf, base, name))
  end
  return base
end

---------------------------------------------------------------------------
-- The runs
---------------------------------------------------------------------------

local clients = {
  { name = "ours", exe = OURS },
  { name = "certbot", exe = THEIRS },
}
local have_theirs = exists(THEIRS)

local COMMANDS = {
  -- what each client prints once per lineage, to check it saw them all
  renew = { args = { "renew", "--no-random-sleep-on-renew" }, per = "%(skipped%)" },
  certificates = { args = { "certificates" }, per = "Certificate Name: " },
}
-- ONLY=renew (or certificates) runs that command alone
local ORDER = {}
for _, c in ipairs({ "renew", "certificates" }) do
  if not os.getenv("ONLY") or os.getenv("ONLY") == c then ORDER[#ORDER + 1] = c end
end
assert(#ORDER > 0, "bench: ONLY must be renew or certificates")

local function count(text, pat)
  local c = 0
  for _ in text:gmatch(pat) do c = c + 1 end
  return c
end

-- One command over one config dir, every client: a checked warm-up run
-- each (which also gives the peak RSS), then RUNS rounds taking turns (in
-- each, Debian's certbot once and ours OURS_RUNS / RUNS times), so a
-- slower spell of the machine hits both clients alike.
local function bench(cmd, base, n)
  local env = { XDG_CONFIG_HOME = work }
  local out = work .. "/out.txt"
  local argvs, res, active = {}, {}, {}
  for _, c in ipairs(clients) do
    if c.name == "ours" or have_theirs then
      local argv = { c.exe }
      for _, a in ipairs(COMMANDS[cmd].args) do argv[#argv + 1] = a end
      for _, a in ipairs(dirs_args(base)) do argv[#argv + 1] = a end
      local code, _, _, rss = measure(argv, out, env, true)
      local seen = count(read(out), COMMANDS[cmd].per)
      if code ~= 0 or seen ~= n then
        error(("bench: %s %s over %d lineages: exit %d, %d lineages listed; see %s and %s")
          :format(c.name, cmd, n, code, seen, out, ERRLOG))
      end
      argvs[c.name], active[#active + 1] = argv, c.name
      res[c.name] = { walls = {}, cpus = {}, rss = rss }
    end
  end
  for round = 1, RUNS do
    for _, name in ipairs(active) do
      -- ours: its share of OURS_RUNS, spread evenly over the rounds
      local times = name == "ours" and (OURS_RUNS * round // RUNS - OURS_RUNS * (round - 1) // RUNS) or 1
      for _ = 1, times do
        local rc, wall, cpu = measure(argvs[name], nil, env)
        assert(rc == 0, name .. " " .. cmd .. " failed; see " .. ERRLOG)
        local r = res[name]
        r.walls[#r.walls + 1], r.cpus[#r.cpus + 1] = wall, cpu
      end
    end
  end
  for _, name in ipairs(active) do
    local r = res[name]
    res[name] = { wall = median(r.walls), cpu = median(r.cpus), rss = r.rss }
  end
  return res
end

-- The file-I/O floor, two ways: one `cat` of every renewal conf and
-- cert1.pem (DESIGN.md's measure), and a Lua process reading the same
-- files through core.sys.read_file (what a no-op renew cannot avoid).
local READ_ALL = [[
local cfg, build = ...
package.cpath = build .. "/lib/?.so;" .. package.cpath
local sys = require("certbot.core").sys
for _, f in ipairs(sys.listdir(cfg .. "/renewal")) do
  local name = f:match("^(.+)%.conf$")
  if name then
    assert(sys.read_file(cfg .. "/renewal/" .. f, 1 << 20))
    assert(sys.read_file(cfg .. "/archive/" .. name .. "/cert1.pem", 1 << 20))
  end
end
]]

local function floor(base)
  local cfg = base .. "/config"
  local argv = { "cat" }
  for _, f in ipairs(sys.listdir(cfg .. "/renewal")) do
    if f:match("%.conf$") then argv[#argv + 1] = cfg .. "/renewal/" .. f end
  end
  for _, d in ipairs(sys.listdir(cfg .. "/archive")) do argv[#argv + 1] = cfg .. "/archive/" .. d .. "/cert1.pem" end
  local argfile = work .. "/floor.args"
  write(argfile, table.concat(argv, "\0") .. "\0")
  local function median_wall(cmd)
    assert(measure(cmd) == 0, "bench: floor command failed; see " .. ERRLOG)
    local walls = {}
    for _ = 1, math.max(RUNS, 11) do
      local _, wall = measure(cmd)
      walls[#walls + 1] = wall
    end
    return median(walls)
  end
  write(work .. "/read_all.lua", READ_ALL)
  return median_wall({ "@" .. argfile }), median_wall({ "lua5.4", work .. "/read_all.lua", cfg, BUILD })
end

if #seed_names() < SEEDS then
  io.stderr:write(("bench: issuing %d seed lineages from Pebble with %s\n"):format(SEEDS, OURS))
  issue_seeds()
end

local results = {}
for _, n in ipairs(SIZES) do
  io.stderr:write(("bench: %d lineages\n"):format(n))
  local base = make_clones(n)
  -- a first run of each client, untimed: it creates the logs (our first
  -- log file costs OpenSSL's start-up, +2 MiB, for its temp name) and
  -- fills the page cache
  for _, c in ipairs(clients) do
    if c.name == "ours" or have_theirs then
      local argv = { c.exe, "renew", "--no-random-sleep-on-renew" }
      for _, a in ipairs(dirs_args(base)) do argv[#argv + 1] = a end
      measure(argv, nil, { XDG_CONFIG_HOME = work })
    end
  end
  results[n] = {}
  results[n].floor, results[n].lua_floor = floor(base)
  for _, cmd in ipairs(ORDER) do
    results[n][cmd] = bench(cmd, base, n)
  end
end

print(("No-op renew and certificates (all lineages valid for 5 years): median of %d runs of"
  .. " Debian's certbot, %d of ours"):format(RUNS, OURS_RUNS))
print(("%-13s %6s %-8s %10s %10s %10s"):format("command", "certs", "client", "wall (ms)", "CPU (ms)", "RSS (MiB)"))
for _, cmd in ipairs(ORDER) do
  for _, n in ipairs(SIZES) do
    local r = results[n][cmd]
    for _, c in ipairs(clients) do
      local m = r[c.name]
      if m then
        print(("%-13s %6d %-8s %10.1f %10.1f %10.1f"):format(cmd, n, c.name, m.wall * 1000, m.cpu * 1000,
          m.rss / 1024))
      end
    end
    if r.ours and r.certbot then
      print(("%-13s %6d %-8s %9.1fx %9.1fx %9.1fx"):format(cmd, n, "ratio", r.certbot.wall / r.ours.wall,
        r.certbot.cpu / r.ours.cpu, r.certbot.rss / r.ours.rss))
    end
  end
end
if results[SIZES[1]].renew then
  print("")
  print("File-I/O floor, median wall: one `cat` of every renewal conf and cert1.pem; a Lua")
  print("process reading the same files with core.sys.read_file; our no-op renew as a multiple")
  for _, n in ipairs(SIZES) do
    local r = results[n]
    print(("  %5d lineages: cat %6.1f ms, Lua %6.1f ms; our renew is %.1fx cat, %.1fx Lua"):format(n,
      r.floor * 1000, r.lua_floor * 1000, r.renew.ours.wall / r.floor, r.renew.ours.wall / r.lua_floor))
  end
end
if #SIZES >= 2 then
  local a, b = SIZES[1], SIZES[#SIZES]
  for _, c in ipairs(clients) do
    local parts = {}
    for _, cmd in ipairs(ORDER) do
      local ra, rb = results[a][cmd][c.name], results[b][cmd][c.name]
      if ra and rb then parts[#parts + 1] = ("%s %.1fx"):format(cmd, rb.wall / ra.wall) end
    end
    if #parts > 0 then
      print(("Growth from %d to %d lineages (wall), %s: %s"):format(a, b, c.name, table.concat(parts, ", ")))
    end
  end
end
if not keep then proc.rm_rf(work) end
