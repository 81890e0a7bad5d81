-- bench/issue.lua: see bench/issue.sh.
package.path = "lua/?.lua;lua/?/init.lua;./?.lua;" .. package.path
-- CERTBOT_BUILD names the build dir (default build/), as for the specs
local BUILD = os.getenv("CERTBOT_BUILD") or "build"
package.cpath = BUILD .. "/lib/?.so;" .. package.cpath
local pebble = require("spec.helpers.pebble")
local proc = require("spec.helpers.proc")

local RUNS = tonumber(os.getenv("RUNS") or "7")
-- Peak RSS is taken from RSS_RUNS more issuances under GNU time (see
-- measure_rss); CPU from the RUNS ones.
local RSS_RUNS = tonumber(os.getenv("RSS_RUNS") or "3")
local srv = pebble.start({ ports = "auto" })
local work = proc.tmpdir("bench-issue-")

local function quote_all(argv)
  local q = {}
  for i, a in ipairs(argv) do q[i] = proc.quote(a) end
  return table.concat(q, " ")
end

-- measure(argv) -> ok, cpu seconds: the child's own rusage (user+sys),
-- through python's os.wait4().
local function measure(argv)
  local script = [[
import os, sys
pid = os.fork()
if pid == 0:
    fd = os.open("/dev/null", os.O_RDWR)
    os.dup2(fd, 0); os.dup2(fd, 1)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), ru.ru_utime + ru.ru_stime)
]]
  local p = io.popen("REQUESTS_CA_BUNDLE=" .. proc.quote(srv.ca_file) .. " python3 -c "
    .. proc.quote(script) .. " " .. quote_all(argv) .. " 2>>" .. proc.quote(work .. "/stderr.log"))
  local out = p:read("a")
  p:close()
  local code, cpu = out:match("^(%-?%d+) (%S+)")
  return tonumber(code) == 0, tonumber(cpu)
end

-- measure_rss(argv) -> ok, peak RSS KiB, from GNU time (Debian package
-- `time`), which forks the client from a small process.  ru_maxrss from
-- python's wait4() would count python's own ~10 MiB: Linux keeps the
-- larger of the child's peak and what it had before exec.
local GNU_TIME = "/usr/bin/time"
local function measure_rss(argv)
  local out = work .. "/rss.txt"
  local ok = os.execute("REQUESTS_CA_BUNDLE=" .. proc.quote(srv.ca_file) .. " " .. GNU_TIME .. " -f %M -o "
    .. proc.quote(out) .. " " .. quote_all(argv) .. " </dev/null >/dev/null 2>>" .. proc.quote(work .. "/stderr.log"))
  local f = io.open(out)
  local rss = f and tonumber(f:read("a"):match("(%d+)%s*$"))
  if f then f:close() end
  return ok == true, rss
end

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) / 2] or (t[n / 2] + t[n / 2 + 1]) / 2
end

local clients = {
  { name = "ours", exe = os.getenv("OURS") or BUILD .. "/certbot" },
  { name = "certbot", exe = "/usr/bin/certbot" },
}
assert(io.open(GNU_TIME), "bench: " .. GNU_TIME .. " is needed (apt-get install time)"):close()

local results = {}
for _, c in ipairs(clients) do
  local f = io.open(c.exe)
  if f then
    f:close()
    local dir = work .. "/" .. c.name
    local common = { "--config-dir", dir .. "/config", "--work-dir", dir .. "/work", "--logs-dir",
      dir .. "/logs", "--server", srv.directory, "-n", "--agree-tos", "-m", "bench@example.org" }
    local reg = { c.exe, "register" }
    for _, a in ipairs(common) do reg[#reg + 1] = a end
    assert(measure(reg), c.name .. " register failed; see " .. work .. "/stderr.log")
    local function issuance(i)
      local argv = { c.exe, "certonly", "--standalone", "--http-01-port", "5002",
        "-d", ("bench%d-%s.example.org"):format(i, c.name) }
      for _, a in ipairs(common) do argv[#argv + 1] = a end
      return argv
    end
    local cpus, rsss = {}, {}
    for i = 1, RUNS do
      local ok, cpu = measure(issuance(i))
      assert(ok, c.name .. " certonly failed; see " .. work .. "/stderr.log")
      cpus[#cpus + 1] = cpu
    end
    for i = RUNS + 1, RUNS + RSS_RUNS do
      local ok, rss = measure_rss(issuance(i))
      assert(ok and rss, c.name .. " certonly (under GNU time) failed; see " .. work .. "/stderr.log")
      rsss[#rsss + 1] = rss
    end
    results[c.name] = { cpu = median(cpus), rss = median(rsss) }
  end
end
srv.stop()

print(("certonly --standalone against Pebble: CPU, median of %d runs; peak RSS (GNU time),"
  .. " median of %d more"):format(RUNS, RSS_RUNS))
print(("%-10s %14s %14s"):format("client", "CPU (ms)", "peak RSS (MiB)"))
for _, c in ipairs(clients) do
  local r = results[c.name]
  if r then print(("%-10s %14.1f %14.1f"):format(c.name, r.cpu * 1000, r.rss / 1024)) end
end
if results.ours and results.certbot then
  print(("ratio      %13.1fx %13.1fx   (certbot / ours)"):format(
    results.certbot.cpu / results.ours.cpu, results.certbot.rss / results.ours.rss))
end
proc.rm_rf(work)
