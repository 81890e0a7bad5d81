-- bench/issue.lua: see bench/issue.sh.
package.path = "lua/?.lua;lua/?/init.lua;./?.lua;" .. package.path
package.cpath = "build/lib/?.so;" .. package.cpath
local pebble = require("spec.helpers.pebble")
local proc = require("spec.helpers.proc")

local RUNS = tonumber(os.getenv("RUNS") or "7")
local srv = pebble.start({ ports = "auto" })
local work = proc.tmpdir("bench-issue-")

-- measure(argv) -> ok, cpu seconds, peak RSS KiB: the child's own rusage.
local function measure(argv)
  local script = [[
import os, sys, resource
pid = os.fork()
if pid == 0:
    fd = os.open("/dev/null", os.O_RDWR)
    os.dup2(fd, 0); os.dup2(fd, 1)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), ru.ru_utime + ru.ru_stime, ru.ru_maxrss)
]]
  local q = {}
  for i, a in ipairs(argv) do q[i] = proc.quote(a) end
  local p = io.popen("REQUESTS_CA_BUNDLE=" .. proc.quote(srv.ca_file) .. " python3 -c "
    .. proc.quote(script) .. " " .. table.concat(q, " ") .. " 2>>" .. proc.quote(work .. "/stderr.log"))
  local out = p:read("a")
  p:close()
  local code, cpu, rss = out:match("^(%-?%d+) (%S+) (%d+)")
  return tonumber(code) == 0, tonumber(cpu), tonumber(rss)
end

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) / 2] or (t[n / 2] + t[n / 2 + 1]) / 2
end

local clients = {
  { name = "ours", exe = "build/certbot" },
  { name = "certbot", exe = "/usr/bin/certbot" },
}

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
    local cpus, rsss = {}, {}
    for i = 1, RUNS do
      local argv = { c.exe, "certonly", "--standalone", "--http-01-port", "5002",
        "-d", ("bench%d-%s.example.org"):format(i, c.name) }
      for _, a in ipairs(common) do argv[#argv + 1] = a end
      local ok, cpu, rss = measure(argv)
      assert(ok, c.name .. " certonly failed; see " .. work .. "/stderr.log")
      cpus[#cpus + 1], rsss[#rsss + 1] = cpu, rss
    end
    results[c.name] = { cpu = median(cpus), rss = median(rsss) }
  end
end
srv.stop()

print(("certonly --standalone against Pebble, median of %d runs"):format(RUNS))
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
