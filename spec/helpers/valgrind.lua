-- spec/helpers/valgrind.lua: `make valgrind` (TESTPLAN J2).  Under
--   valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
-- it runs BUILD/certbot twice:
--   1. certonly (standalone http-01) against a private Pebble;
--   2. a no-op renew over 100 lineages, which bench/renew.lua issues from
--      its own Pebble and clones (BENCH_DIR keeps them; one round of its
--      benchmark runs too, with Debian's certbot left out).
-- Pass: neither exits 99 (a memory error or a definite leak), and both
-- succeed (exit 0; renew reports every lineage as not due).  Valgrind's
-- reports stay in BUILD/valgrind/*.log; the tail of a failing one is shown.
-- With COUNTS=FILE (make check) the two runs count as two tests there.
--   lua5.4 spec/helpers/valgrind.lua [BUILD_DIR]
package.path = "lua/?.lua;lua/?/init.lua;./?.lua;" .. package.path
local build = arg[1] or "build"
package.cpath = build .. "/lib/?.so;" .. package.cpath

local sys = require("certbot.core").sys
local pebble = require("spec.helpers.pebble")
local proc = require("spec.helpers.proc")

local q = proc.quote
local LINEAGES = 100
local out = build .. "/valgrind"

local function sh(cmd)
  if not os.execute(cmd) then error("valgrind: command failed: " .. cmd, 2) end
end

sh("rm -rf " .. q(out) .. " && mkdir -p " .. q(out))
out = assert(sys.realpath(out))
local exe = assert(sys.realpath(build .. "/certbot"), "valgrind: no " .. build .. "/certbot")

-- The environment of a run: ours plus the extra names, without a cli.ini
-- from the system or the user's home.
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

-- One certbot run under valgrind.  -> true | false, why
local function under_valgrind(name, args, extra)
  local log = out .. "/" .. name .. ".log"
  local argv = { "valgrind", "--quiet", "--leak-check=full", "--errors-for-leak-kinds=definite",
    "--error-exitcode=99", "--track-fds=no", "--log-file=" .. log, exe }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  extra.CERTBOT_DEFAULT_CLI_INI = ""
  local t0 = sys.monotonic()
  local code, stdout, stderr = sys.run(argv, environ(extra), { stdin = "", timeout = 600 })
  local secs = sys.monotonic() - t0
  io.write(("# valgrind %s: exit %s in %.1f s\n"):format(name, tostring(code), secs))
  if code == 99 then
    return false, ("%s: valgrind found errors (exit 99); %s:\n%s"):format(name, log,
      (proc.read(log) or ""):sub(-4000))
  end
  if code ~= 0 then
    return false, ("%s: exit %s\nstdout:\n%s\nstderr:\n%s"):format(name, tostring(code),
      tostring(stdout), tostring(stderr or ""))
  end
  return true, stdout
end

local failures, passed = {}, 0
local function expect(ok, why)
  if not ok then failures[#failures + 1] = why end
  return ok
end
-- A run passed when it added no failure.
local function tally(before)
  if #failures == before then passed = passed + 1 end
end

-- 1. certonly against Pebble
do
  local dir = out .. "/certonly"
  local http01, tlsalpn01 = proc.free_ports(2)
  local srv = pebble.start({ ports = { auto = true, http01 = http01, tlsalpn01 = tlsalpn01 } })
  local before = #failures
  local ok, err = pcall(function()
    local done, why = under_valgrind("certonly", { "certonly", "--standalone",
      "--http-01-port", tostring(http01), "--http-01-address", "127.0.0.1",
      "-d", "valgrind.example.org", "-d", "www.valgrind.example.org",
      "--server", srv.directory, "--agree-tos", "-m", "valgrind@example.org", "-n",
      "--config-dir", dir .. "/config", "--work-dir", dir .. "/work", "--logs-dir", dir .. "/logs" },
      { REQUESTS_CA_BUNDLE = srv.ca_file, XDG_CONFIG_HOME = dir })
    if expect(done, why) then
      expect(sys.stat(dir .. "/config/live/valgrind.example.org/fullchain.pem") ~= nil,
        "certonly: no live/valgrind.example.org/fullchain.pem")
    end
  end)
  srv.stop()
  if not ok then error(err, 0) end
  tally(before)
end

-- 2. a no-op renew over LINEAGES lineages made by bench/renew.lua
do
  local bench = out .. "/bench"
  local t0 = sys.monotonic()
  local before = #failures
  local made = os.execute(("BENCH_DIR=%s SEEDS=3 SIZES=%d RUNS=1 OURS_RUNS=1 ONLY=renew "
    .. "THEIRS=/nonexistent CERTBOT_BUILD=%s OURS=%s lua5.4 bench/renew.lua >%s 2>&1")
    :format(q(bench), LINEAGES, q(build), q(exe), q(out .. "/bench.log")))
  io.write(("# bench/renew.lua made %d lineages in %.1f s\n"):format(LINEAGES, sys.monotonic() - t0))
  local base = ("%s/n%d"):format(bench, LINEAGES)
  local done, stdout = false, "renew: bench/renew.lua could not make the lineages; "
    .. out .. "/bench.log:\n" .. (proc.read(out .. "/bench.log") or ""):sub(-2000)
  if made then
    done, stdout = under_valgrind("renew", { "renew", "--no-random-sleep-on-renew",
      "--config-dir", base .. "/config", "--work-dir", base .. "/work", "--logs-dir", base .. "/logs" },
      { XDG_CONFIG_HOME = bench })
  end
  if expect(done, stdout) then
    local skipped = select(2, stdout:gsub("%(skipped%)", ""))
    expect(skipped == LINEAGES, ("renew: %d of %d lineages reported as not due:\n%s")
      :format(skipped, LINEAGES, stdout))
  end
  tally(before)
end

local counts = os.getenv("COUNTS")
if counts and counts ~= "" then
  local f = assert(io.open(counts, "a"))
  f:write(("%d %d 0\n"):format(passed, #failures))
  f:close()
end

for _, f in ipairs(failures) do io.stderr:write(f, "\n") end
if #failures > 0 then
  print("valgrind: FAILED")
  os.exit(1)
end
print("valgrind: certonly and a no-op renew over " .. LINEAGES .. " lineages, no error and no definite leak")
