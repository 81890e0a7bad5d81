-- spec/helpers/proc.lua: start a background process for a spec, remember
-- its PID, and stop exactly that PID later.  Nothing global: the caller
-- keeps the PIDs it was given.
local sys = require("certbot.core").sys

local M = {}

-- Single-quote a word for /bin/sh.
function M.quote(s)
  s = tostring(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function shell_words(argv)
  local out = {}
  for i, a in ipairs(argv) do out[i] = M.quote(a) end
  return table.concat(out, " ")
end

-- A fresh private directory (0700).
function M.tmpdir(prefix)
  local p = os.tmpname()
  os.remove(p)
  if prefix then p = p:gsub("[^/]*$", prefix .. "%0") end
  assert(sys.mkdir(p, 448))
  return p
end

function M.rm_rf(p)
  if p and p:match("^/tmp/") then os.execute("rm -rf " .. M.quote(p)) end
end

-- spawn(argv, opts) -> pid.  opts.env: extra environment {NAME = value};
-- opts.log: file that gets stdout and stderr (default /dev/null);
-- opts.cwd: working directory.  The child's stdin is /dev/null.
function M.spawn(argv, opts)
  opts = opts or {}
  local env = {}
  for k, v in pairs(opts.env or {}) do
    assert(tostring(k):match("^[%a_][%w_]*$"), "bad environment name " .. tostring(k))
    env[#env + 1] = M.quote(k .. "=" .. tostring(v))
  end
  table.sort(env)
  -- LD_PRELOAD (libasan under `make asan`) is for the spec's own process,
  -- not for the servers it starts.
  local cmd = "exec env -u LD_PRELOAD " .. table.concat(env, " ") .. " " .. shell_words(argv)
    .. " >" .. M.quote(opts.log or "/dev/null") .. " 2>&1 </dev/null"
  if opts.cwd then cmd = "cd " .. M.quote(opts.cwd) .. " && " .. cmd end
  -- The outer shell starts the program in the background and prints its
  -- PID: that PID is the program itself (exec), not a wrapper.
  local p = assert(io.popen("(" .. cmd .. ") & echo $!", "r"))
  local out = p:read("a")
  p:close()
  local pid = tonumber(out:match("^%s*(%d+)"))
  assert(pid, "spawn: no PID for " .. argv[1])
  return pid
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
M.read = read

-- Every file (anything not a directory) under dir, recursively, sorted.
function M.files_under(dir)
  local out = {}
  local function walk(d)
    for _, f in ipairs(sys.listdir(d) or {}) do
      local p = d .. "/" .. f
      local st = sys.lstat(p)
      if st and st.type == "directory" then walk(p) elseif st then out[#out + 1] = p end
    end
  end
  walk(dir)
  table.sort(out)
  return out
end

-- The process exists and is not a zombie.
function M.alive(pid)
  local stat = read("/proc/" .. pid .. "/stat")
  if not stat then return false end
  local state = stat:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

-- The program a PID runs: the base name of its argv[0] (a wrapper such as
-- a pyenv shim execs the real program under a full path).  Guards stop()
-- against PID reuse.
function M.comm(pid)
  local cmdline = read("/proc/" .. pid .. "/cmdline")
  local argv0 = cmdline and cmdline:match("^[^%z]*")
  return argv0 and argv0:match("[^/]*$")
end

-- Poll fn() every `step` seconds until it returns a true value or `timeout`
-- seconds pass; returns that value or nil.
function M.wait_until(fn, timeout, step)
  local deadline = sys.monotonic() + (timeout or 10)
  repeat
    local v = fn()
    if v then return v end
    sys.sleep(step or 0.05)
  until sys.monotonic() > deadline
  return fn()
end

-- stop(pid[, expect]): TERM, wait up to 3 s, then KILL.  Only the PID
-- given; when expect is set, only if that PID still runs a program of that
-- base name (M.comm).
function M.stop(pid, expect)
  if not pid or not M.alive(pid) then return true end
  if expect then
    local comm = M.comm(pid)
    if not comm or comm ~= expect then return true end
  end
  os.execute("kill -TERM " .. math.tointeger(pid) .. " 2>/dev/null")
  if M.wait_until(function() return not M.alive(pid) end, 3) then return true end
  os.execute("kill -KILL " .. math.tointeger(pid) .. " 2>/dev/null")
  return M.wait_until(function() return not M.alive(pid) end, 3)
end

-- Ports in use now, in any state (listening, or one end of a connection).
local function in_use()
  local used = {}
  local p = io.popen("ss -Htanu 2>/dev/null")
  if p then
    for port in p:read("a"):gmatch(":(%d+)%s") do used[tonumber(port)] = true end
    p:close()
  end
  return used
end

-- n free ports (distinct; checked against `ss`), below the kernel's
-- ephemeral range so no outgoing connection can take one before the
-- server that wants it binds it.
function M.free_ports(n)
  local range = M.read("/proc/sys/net/ipv4/ip_local_port_range") or ""
  local low = tonumber(range:match("^%s*(%d+)")) or 32768
  local hi = math.min(low - 1, 65535)
  local lo = math.min(20000, hi - 1000)
  -- a shard of a parallel run (spec/shard.lua) picks from its own range
  local slo, shi = (os.getenv("CERTBOT_SPEC_PORTS") or ""):match("^(%d+)%-(%d+)$")
  if slo then lo, hi = tonumber(slo), tonumber(shi) end
  local used, out = in_use(), {}
  while #out < n do
    local port = math.random(lo, hi) -- Lua 5.4 seeds randomly
    if not used[port] then
      used[port] = true
      out[#out + 1] = port
    end
  end
  return table.unpack(out)
end

-- listener_certs(dir[, opts]): a CA (dir/ca.pem, ca.key) and a server
-- certificate it signed (dir/cert.pem, key.pem) for a TLS listener the
-- specs start on loopback (Pebble, the fault proxy, the DNS stand-ins).
-- opts.cn: the CA's common name; opts.san: the server's subjectAltName
-- (default 127.0.0.1, ::1 and localhost).  Errors name the command.
function M.listener_certs(dir, opts)
  opts = opts or {}
  local q = M.quote
  local log = dir .. "/openssl.log"
  local function run(cmd)
    if not os.execute(cmd .. " >>" .. q(log) .. " 2>&1") then
      error("openssl failed: " .. cmd .. "\n" .. (M.read(log) or ""), 3)
    end
  end
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
  run("openssl req -x509 " .. ec .. " -keyout " .. q(dir .. "/ca.key") .. " -out "
    .. q(dir .. "/ca.pem") .. " -days 2 -subj " .. q("/CN=" .. (opts.cn or "certbot spec listener CA")))
  local ext = dir .. "/server.ext"
  local f = assert(io.open(ext, "w"))
  f:write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n",
    "extendedKeyUsage=serverAuth\nsubjectAltName=",
    opts.san or "IP:127.0.0.1,IP:::1,DNS:localhost", "\n")
  f:close()
  run("openssl req " .. ec .. " -keyout " .. q(dir .. "/key.pem") .. " -out "
    .. q(dir .. "/server.csr") .. " -subj /CN=localhost")
  run("openssl x509 -req -in " .. q(dir .. "/server.csr") .. " -CA " .. q(dir .. "/ca.pem")
    .. " -CAkey " .. q(dir .. "/ca.key") .. " -set_serial 2 -days 2 -extfile " .. q(ext)
    .. " -out " .. q(dir .. "/cert.pem"))
end

-- Debian's python3 (its standard library is what the spec servers use).
function M.python()
  local f = io.open("/usr/bin/python3", "rb")
  if f then
    f:close()
    return "/usr/bin/python3"
  end
  return "python3"
end

return M
