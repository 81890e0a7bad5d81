-- spec/helpers/faultproxy.lua: start spec/helpers/faultproxy.py, a
-- fault-injecting HTTPS proxy in front of a Pebble from
-- spec/helpers/pebble.lua, and drive it from a spec.
--
--   local faultproxy = require("spec.helpers.faultproxy")
--   local fp = faultproxy.start(srv)            -- srv: a started Pebble
--   local cb = require("spec.helpers.certbot").new(fp.srv)
--   fp.fault{ path = "^/order-plz$", respond = { status = 500 }, times = 2 }
--   fp.ari{ ["*"] = { start = t1, ["end"] = t2, retry_after = 3600 } }
--   fp.directory{ add = { renewalInfo = true }, meta = { profiles = {...} } }
--   fp.log()  fp.requests("^/order%-plz")  fp.trap_log()  fp.reset()  fp.stop()
--
-- fp.srv stands in for srv in spec/helpers/certbot.lua: its directory is
-- the proxy's and its ca_file trusts the proxy's own certificate (made
-- here with openssl, like pebble.lua makes Pebble's).  Rules are matched
-- by Python regular expressions (re.search) on the request path and on
-- the decoded JWS payload; faultproxy.py documents every fault.  Only the
-- PID started here is ever signalled.
local core = require("certbot.core")
local cjson = require("cjson")
local proc = require("spec.helpers.proc")

local M = {}

-- JSON null, for a rule that removes a header: headers = { Location = M.null }
M.null = cjson.null

local HERE = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "spec/helpers"

local function write(path, data, mode)
  assert(core.sys.write_atomic(path, data, mode or 384))
  return path
end

-- The proxy's CA and listener certificate; san: the subjectAltName
-- (default the loopback addresses and localhost).


-- RFC 3339 UTC for a Unix time.
function M.time(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

-- start(upstream[, opts]) -> fp.  upstream: a Pebble from pebble.start.
-- opts.san: the proxy certificate's subjectAltName (e.g. "DNS:localhost"
-- for a hostname mismatch); opts.keep: leave the temp dir.
function M.start(upstream, opts)
  opts = opts or {}
  local dir = proc.tmpdir("faultproxy-")
  local fp = { dir = dir, log_path = dir .. "/faultproxy.log" }
  local pid, ctl
  local function stop()
    if pid then proc.stop(pid, "python3") end
    pid = nil
    if ctl then ctl:close() end
    ctl = nil
    if not opts.keep then proc.rm_rf(dir) end
  end
  fp.stop = stop

  local ok, err = pcall(function()
    proc.listener_certs(dir, { cn = "certbot spec fault proxy CA", san = opts.san })
    for _ = 1, 3 do
      local port, control, trap = proc.free_ports(3)
      fp.port, fp.control_port, fp.trap_port = port, control, trap
      write(dir .. "/config.json", cjson.encode({ port = port, control_port = control,
        trap_port = trap, cert = dir .. "/cert.pem", key = dir .. "/key.pem",
        upstream = "https://127.0.0.1:" .. upstream.ports.acme, upstream_ca = upstream.ca_file }))
      pid = proc.spawn({ proc.python(), HERE .. "/faultproxy.py", dir .. "/config.json" },
        { log = fp.log_path })
      ctl = ctl or assert(core.http.new({ https_only = false, timeout = 10 }))
      local ready = proc.wait_until(function()
        if not proc.alive(pid) then return "exited" end
        local r = ctl:request("GET", "http://127.0.0.1:" .. control .. "/log")
        return r and r.status == 200 and "up"
      end, 10, 0.05)
      if ready == "up" then break end
      local log = proc.read(fp.log_path) or ""
      proc.stop(pid, "python3")
      pid = nil
      if not log:find("Address already in use", 1, true) then
        error("faultproxy.py did not start: " .. tostring(ready) .. "\n" .. log, 0)
      end
    end
    if not pid then error("faultproxy.py: no free ports", 0) end
    fp.base = "https://127.0.0.1:" .. fp.port
    fp.directory = fp.base .. "/dir"
    fp.trap = "http://127.0.0.1:" .. fp.trap_port
    fp.ca_file = dir .. "/ca.pem"
    -- what a certbot run trusts: the proxy, and Pebble too (harmless)
    fp.bundle = write(dir .. "/bundle.pem", proc.read(fp.ca_file) .. proc.read(upstream.ca_file), 420)
    -- a stand-in for the Pebble srv table of spec/helpers/certbot.lua
    fp.srv = setmetatable({ directory = fp.directory, ca_file = fp.bundle, pebble = upstream },
      { __index = upstream })
  end)
  if not ok then
    local log = proc.read(fp.log_path) or ""
    stop()
    error("fault proxy helper: " .. tostring(err) .. "\n--- proxy log:\n" .. log, 2)
  end
  fp.pid = pid

  local control = "http://127.0.0.1:" .. fp.control_port
  local function call(method, path, body)
    local r, e = ctl:request(method, control .. path,
      body ~= nil and { body = cjson.encode(body), content_type = "application/json" } or nil)
    if not r then error(e, 3) end
    if r.status ~= 200 then error(path .. ": status " .. r.status .. ": " .. r.body, 3) end
    return cjson.decode(r.body)
  end

  -- fault(rule) or fault{ rule, rule, ... }: queue rules (faultproxy.py).
  function fp.fault(rules)
    return call("POST", "/rules", rules)
  end

  -- ari{ [certid or "*"] = { start=, ["end"]=, explanationURL=, retry_after=,
  --      status=, type=, detail= } | false }: renewalInfo answers.  start
  -- and end may be Unix times (turned into RFC 3339 here) or strings.
  function fp.ari(answers)
    local t = {}
    for k, v in pairs(answers) do
      if v then
        local a = {}
        for f, x in pairs(v) do
          a[f] = (f == "start" or f == "end") and type(x) == "number" and M.time(x) or x
        end
        t[k] = a
      else
        t[k] = cjson.null
      end
    end
    return call("POST", "/ari", t)
  end

  -- directory{ add = { renewalInfo = true | url, ... }, meta = { profiles = {...} } }
  function fp.directory_add(d)
    return call("POST", "/directory", d)
  end

  -- Every request so far: { seq, t (Unix time), method, path, status,
  -- protected, payload (decoded JWS payload), fault }.
  function fp.log() return call("GET", "/log") end

  -- The requests whose path matches a Lua pattern (and method, if given).
  function fp.requests(pattern, method)
    local out = {}
    for _, r in ipairs(fp.log()) do
      if r.path:find(pattern) and (not method or r.method == method) then out[#out + 1] = r end
    end
    return out
  end

  -- Requests that reached the plain-HTTP trap listener.
  function fp.trap_log() return call("GET", "/trap") end

  function fp.clear_log() return call("POST", "/clear-log", {}) end
  function fp.reset() return call("POST", "/reset", {}) end
  function fp.server_log() return proc.read(fp.log_path) or "" end

  return fp
end

return M
