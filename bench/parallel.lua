-- bench/parallel.lua: see bench/parallel.sh.
package.path = "lua/?.lua;lua/?/init.lua;./?.lua;" .. package.path
local BUILD = os.getenv("CERTBOT_BUILD") or "build"
package.cpath = BUILD .. "/lib/?.so;" .. package.cpath
local core = require("certbot.core")
local proc = require("spec.helpers.proc")
local pebble = require("spec.helpers.pebble")

local sys = core.sys
local q = proc.quote

local LINEAGES = tonumber(os.getenv("LINEAGES") or "50")
local RUNS = tonumber(os.getenv("RUNS") or "1")
local MAXP = os.getenv("MAXP") or "8"
local SLEEPTIME = os.getenv("PEBBLE_VA_SLEEPTIME") or "3"
local OURS = os.getenv("OURS") or BUILD .. "/certbot"
local THEIRS = os.getenv("THEIRS") or "/usr/bin/certbot"
local keep = os.getenv("BENCH_DIR")
local work = keep or proc.tmpdir("bench-parallel-")
if keep then assert(sys.mkdir(work, 448, true)) end
OURS = assert(sys.realpath(OURS), "no " .. OURS)

local function sh(cmd)
  if not os.execute(cmd) then error("bench: command failed: " .. cmd, 2) end
end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) / 2] or (s[n / 2] + s[n / 2 + 1]) / 2
end

local function environ(extra)
  local env, seen = {}, {}
  for k, v in pairs(extra) do
    env[#env + 1] = k .. "=" .. v
    seen[k] = true
  end
  for _, kv in ipairs(sys.environ()) do
    local k = kv:match("^([^=]*)=")
    if not seen[k] and k ~= "LD_PRELOAD" then env[#env + 1] = kv end
  end
  return env
end

local function dirs(base)
  return { "--config-dir", base .. "/config", "--work-dir", base .. "/work", "--logs-dir", base .. "/logs" }
end

local function names()
  local t = {}
  for i = 1, LINEAGES do t[i] = ("b%02d.example.org"):format(i) end
  return t
end

local function version(base, name)
  local t = sys.readlink(base .. "/config/live/" .. name .. "/cert.pem")
  return tonumber(t and t:match("cert(%d+)%.pem$"))
end

-- One Pebble for the whole bench: its accounts live in memory.
local p1, p2 = proc.free_ports(2)
local srv = pebble.start({ ports = { auto = true, http01 = p1, tlsalpn01 = p2 },
  -- no injected badNonce (Pebble's default rejects 5%): Debian's certbot
  -- 2.1.0 gives a lineage up on one, and a failed round measures nothing
  env = { PEBBLE_VA_NOSLEEP = "0", PEBBLE_VA_SLEEPTIME = SLEEPTIME, PEBBLE_AUTHZREUSE = "0",
    PEBBLE_WFE_NONCEREJECT = "0" } })
local www = work .. "/www"
sys.mkdir(www, 493)
local web = proc.spawn({ "python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", www, tostring(p1) })
local ENV = environ({ REQUESTS_CA_BUNDLE = srv.ca_file, XDG_CONFIG_HOME = work, CERTBOT_DEFAULT_CLI_INI = "" })

local function run(argv)
  local t0 = sys.monotonic()
  local code, out, err = sys.run(argv, ENV, { stdin = "" })
  return code, sys.monotonic() - t0, out or "", err or ""
end

local ok, failure = pcall(function()
  assert(proc.wait_until(function()
    local res = srv.plain:request("GET", "http://127.0.0.1:" .. p1 .. "/")
    return res and res.status == 200
  end, 10), "python http.server did not start")

  -- the set, issued once by our client (Pebble is new: always anew)
  local seed = work .. "/seed"
  proc.rm_rf(seed)
  local common = dirs(seed)
  for _, a in ipairs({ "--server", srv.directory, "-n", "--agree-tos", "-m", "bench@example.org" }) do
    common[#common + 1] = a
  end
  io.stderr:write(("issuing %d lineages (Pebble's random validation sleep: at most %s s)...\n")
    :format(LINEAGES, SLEEPTIME))
  local t0 = sys.monotonic()
  for _, n in ipairs(names()) do
    local argv = { OURS, "certonly", "--webroot", "-w", www, "-d", n }
    for _, a in ipairs(common) do argv[#argv + 1] = a end
    local code, _, out, err = run(argv)
    assert(code == 0, "certonly " .. n .. " failed:\n" .. out .. err)
  end
  io.stderr:write(("issued in %.1f s\n"):format(sys.monotonic() - t0))

  -- a copy of the set at base: the renewal confs name their paths
  local function copy(base)
    proc.rm_rf(base)
    sh("mkdir -p " .. q(base .. "/work") .. " " .. q(base .. "/logs") .. " && cp -a " .. q(seed .. "/config")
      .. " " .. q(base .. "/config"))
    for _, f in ipairs(sys.listdir(base .. "/config/renewal")) do
      local path = base .. "/config/renewal/" .. f
      local text = assert(sys.read_file(path))
      local fixed = text:gsub(seed:gsub("%p", "%%%0"), (base:gsub("%%", "%%%%")))
      assert(sys.write_atomic(path, fixed, 420))
    end
  end

  local clients = {
    { key = "ours" .. MAXP, label = "ours, --max-parallel " .. MAXP,
      argv = { OURS, "renew", "--force-renewal", "--max-parallel", MAXP, "--no-random-sleep-on-renew" } },
    { key = "ours1", label = "ours, --max-parallel 1",
      argv = { OURS, "renew", "--force-renewal", "--max-parallel", "1", "--no-random-sleep-on-renew" } },
    { key = "debian", label = "Debian's certbot " .. (io.popen(THEIRS .. " --version 2>&1"):read("l") or ""),
      argv = { THEIRS, "renew", "--force-renewal", "--no-random-sleep-on-renew" } },
  }
  local times = {}
  for round = 1, RUNS do
    for _, c in ipairs(clients) do
      local base = ("%s/%s-%d"):format(work, c.key, round)
      copy(base)
      local argv = {}
      for _, a in ipairs(c.argv) do argv[#argv + 1] = a end
      for _, a in ipairs(dirs(base)) do argv[#argv + 1] = a end
      for _, a in ipairs({ "-n", "--server", srv.directory }) do argv[#argv + 1] = a end
      local code, wall, out, err = run(argv)
      if code ~= 0 then error(("%s exited %s:\n%s\n%s"):format(c.label, tostring(code), out, err), 0) end
      for _, n in ipairs(names()) do
        if version(base, n) ~= 2 then error(c.label .. ": " .. n .. " was not renewed", 0) end
      end
      times[c.key] = times[c.key] or {}
      table.insert(times[c.key], wall)
      io.stderr:write(("round %d: %-40s %7.2f s\n"):format(round, c.label, wall))
      if not keep then proc.rm_rf(base) end
    end
  end

  local m = {}
  print(("renew --force-renewal of %d due webroot lineages, Pebble's random validation sleep at most %s s, "
    .. "%d round(s), %d cores"):format(LINEAGES, SLEEPTIME, RUNS, tonumber(io.popen("nproc"):read("l")) or 0))
  for _, c in ipairs(clients) do
    m[c.key] = median(times[c.key])
    print(("  %-48s %7.2f s  (%.2f s per lineage)"):format(c.label, m[c.key], m[c.key] / LINEAGES))
  end
  local k = "ours" .. MAXP
  print(("  Debian's certbot / ours --max-parallel %s   %6.2fx"):format(MAXP, m.debian / m[k]))
  print(("  ours --max-parallel 1 / --max-parallel %s   %6.2fx"):format(MAXP, m.ours1 / m[k]))
  print(("  Debian's certbot / ours --max-parallel 1    %6.2fx"):format(m.debian / m.ours1))
end)

proc.stop(web)
srv.stop()
if not keep then proc.rm_rf(work) end
if not ok then
  io.stderr:write("bench: ", tostring(failure), "\n")
  os.exit(1)
end
