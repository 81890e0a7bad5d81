-- spec/helpers/nginx.lua: a real nginx (Debian's /usr/sbin/nginx) with a
-- configuration root of its own in a tmpdir, on loopback high ports.
--
--   local ng = nginx.new{ http = port, https = port, sites = { ["a.example"] = "body" } }
--   ng:start()            nginx -p ROOT/ -c ROOT/nginx.conf -g 'daemon off;', by PID
--   ng:get("a.example", "/x"[, "https"]) -> status, headers, body   (curl)
--   ng:served_cert("a.example") -> PEM of the certificate the HTTPS port serves
--   ng:snapshot() -> { [relative path] = contents | "-> target" } of the configuration
--   ng:restore(snap)      put the configuration back to a snapshot
--   nginx.diff(a, b) -> nil | "changed: <path>" (first difference of two snapshots)
--   ng:test() -> exit code, output of nginx -t
--   ng:args() -> the certbot flags that point the nginx plugin at this root
--   ng:stop(); ng:cleanup()
--
-- Relative paths in the configuration (pid, logs, temp paths) resolve
-- against the prefix given with -p: the plugin must run nginx the same way
-- for its reloads to reach this server.  Only the PID started here is ever
-- signalled.
local sys = require("certbot.core").sys
local proc = require("spec.helpers.proc")

local M = {}

M.NGINX = "/usr/sbin/nginx"

local q = proc.quote

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end
M.write = write

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return ok and 0 or code, out
end
M.sh = sh

-- The main configuration for a root.
function M.main_conf(opts)
  return table.concat({
    "# nginx for certbot specs: every path below is relative to the prefix (-p)",
    "worker_processes 1;",
    "pid nginx.pid;",
    "error_log logs/error.log info;",
    "",
    "events {",
    "    worker_connections 64;",
    "}",
    "",
    "http {",
    "    access_log logs/access.log;",
    "    client_body_temp_path tmp/body;",
    "    proxy_temp_path tmp/proxy;",
    "    fastcgi_temp_path tmp/fastcgi;",
    "    uwsgi_temp_path tmp/uwsgi;",
    "    scgi_temp_path tmp/scgi;",
    "    default_type text/plain;",
    "",
    "    # sites",
    "    include sites-enabled/*;",
    opts.http_extra or "",
    "}",
    "",
  }, "\n")
end

-- A site file: one server block on 127.0.0.1:<http> for the names.
function M.site(http, names, body)
  return ("server {\n    listen 127.0.0.1:%d;\n    server_name %s;\n\n    location / {\n"
    .. "        return 200 \"%s\\n\";\n    }\n}\n"):format(http, names, body)
end

-- n free TCP ports below the kernel's ephemeral range: a listening port
-- picked inside it can be taken at any moment by the local end of some
-- outgoing connection (hundreds are open while specs run), and nginx's
-- bind() then fails.
M.ports = proc.free_ports

local N = {}
N.__index = N

-- new(opts): opts.http, opts.https (ports; free ones by default);
-- opts.sites: { [file name] = text } written to sites-available/ and
-- linked from sites-enabled/ (default: a.example and a default server);
-- opts.files: more { [relative path] = text }; opts.root: use this
-- directory (already filled) instead of writing one.
function M.new(opts)
  opts = opts or {}
  local self = setmetatable({}, N)
  if not opts.http or not opts.https then
    local a, b = M.ports(2)
    self.http, self.https = opts.http or a, opts.https or b
  else
    self.http, self.https = opts.http, opts.https
  end
  self.root = opts.root or proc.tmpdir("nginx-")
  self.conf = self.root .. "/nginx.conf"
  for _, d in ipairs({ "logs", "tmp" }) do assert(sys.mkdir(self.root .. "/" .. d, 493)) end
  if not opts.root then
    assert(sys.mkdir(self.root .. "/sites-available", 493))
    assert(sys.mkdir(self.root .. "/sites-enabled", 493))
    write(self.conf, M.main_conf(opts))
    local sites = opts.sites or {
      ["00-default"] = ("server {\n    listen 127.0.0.1:%d default_server;\n    server_name _;\n"
        .. "    return 404;\n}\n"):format(self.http),
      ["a.example"] = M.site(self.http, "a.example www.a.example", "site a"),
    }
    for name, text in pairs(sites) do
      write(self.root .. "/sites-available/" .. name, text)
      assert(os.execute(("ln -s ../sites-available/%s %s"):format(q(name),
        q(self.root .. "/sites-enabled/" .. name))))
    end
  end
  for rel, text in pairs(opts.files or {}) do
    local dir = (self.root .. "/" .. rel):match("^(.*)/[^/]*$")
    assert(sys.mkdir(dir, 493, true))
    write(self.root .. "/" .. rel, text)
  end
  return self
end

function N:argv(extra)
  local argv = { M.NGINX, "-p", self.root .. "/", "-c", self.conf }
  for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
  return argv
end

function N:test()
  local words = {}
  for i, a in ipairs(self:argv({ "-t" })) do words[i] = q(a) end
  return sh(table.concat(words, " "))
end

-- Does our nginx still run, as the process we started?
function N:alive()
  if not self.pid or not proc.alive(self.pid) then return false end
  local cmdline = proc.read("/proc/" .. self.pid .. "/cmdline") or ""
  return cmdline:find("nginx", 1, true) ~= nil and cmdline:find(self.root, 1, true) ~= nil
end

function N:start()
  local code, out = self:test()
  assert(code == 0, "nginx -t failed before start:\n" .. out)
  self.log_path = self.root .. "/logs/stderr.log"
  -- in the foreground, so the PID spawned is the master's
  self.pid = proc.spawn(self:argv({ "-g", "daemon off;" }), { log = self.log_path })
  local ok = proc.wait_until(function()
    if not proc.alive(self.pid) then return "dead" end
    local c = sh(("curl -s -o /dev/null --max-time 1 http://127.0.0.1:%d/"):format(self.http))
    return c == 0
  end, 10, 0.05)
  if ok ~= true then
    local log = (proc.read(self.log_path) or "") .. (proc.read(self.root .. "/logs/error.log") or "")
    self:stop()
    error("nginx did not start:\n" .. log, 2)
  end
  return self
end

function N:stop()
  if self.pid and self:alive() then proc.stop(self.pid) end
  self.pid = nil
end

function N:cleanup()
  self:stop()
  proc.rm_rf(self.root)
end

-- The flags for build/certbot.
function N:args(extra)
  local t = { "--nginx-server-root", self.root, "--nginx-ctl", M.NGINX,
    "--nginx-sleep-seconds", "1", "--http-01-port", tostring(self.http),
    "--https-port", tostring(self.https) }
  for _, a in ipairs(extra or {}) do t[#t + 1] = a end
  return t
end

-- A config table for the plugin in this process.
function N:config(dirs)
  return {
    nginx_server_root = self.root, nginx_ctl = M.NGINX, nginx_sleep_seconds = 1,
    http01_port = self.http, https_port = self.https,
    config_dir = dirs.config_dir, work_dir = dirs.work_dir,
  }
end

-- curl: status, headers (lower-cased names), body.
function N:get(host, path, scheme)
  scheme = scheme or "http"
  local port = scheme == "https" and self.https or self.http
  local hdr = os.tmpname()
  local cmd = ("curl -s -k -A certbot-spec --max-time 5 -D %s --resolve %s:%d:127.0.0.1 %s"):format(q(hdr),
    q(host), port, q(("%s://%s:%d%s"):format(scheme, host, port, path or "/")))
  local p = io.popen(cmd)
  local body = p:read("a")
  p:close()
  local raw = proc.read(hdr) or ""
  os.remove(hdr)
  local status = tonumber(raw:match("^HTTP/[%d.]+ (%d+)"))
  local headers = {}
  for k, v in raw:gmatch("\n([^:\r\n]+):%s*([^\r\n]*)") do headers[k:lower()] = v end
  return status, headers, body
end

-- The PEM certificate the HTTPS port serves for an SNI name (nil if the
-- handshake fails).
function N:served_cert(host)
  local code, out = sh(("openssl s_client -connect 127.0.0.1:%d -servername %s </dev/null"
    .. " 2>/dev/null | openssl x509"):format(self.https, q(host)))
  if code ~= 0 then return nil, out end
  return out:match("%-%-%-%-%-BEGIN CERTIFICATE%-%-%-%-%-.-%-%-%-%-%-END CERTIFICATE%-%-%-%-%-\n?")
end

-- Files of the configuration (not the runtime ones: pid, logs, temp
-- paths, the lock): relative path -> contents, or "-> target" for a link.
local RUNTIME = { ["nginx.pid"] = true, logs = true, tmp = true, [".certbot.lock"] = true }

function N:snapshot()
  local out = {}
  local function walk(dir, rel)
    for _, name in ipairs(sys.listdir(dir) or {}) do
      local r = rel == "" and name or (rel .. "/" .. name)
      if not (rel == "" and RUNTIME[name]) then
        local p = dir .. "/" .. name
        local st = sys.lstat(p)
        if st.type == "link" then
          out[r] = "-> " .. sys.readlink(p)
        elseif st.type == "directory" then
          walk(p, r)
        else
          out[r] = proc.read(p)
        end
      end
    end
  end
  walk(self.root, "")
  return out
end

-- Put the configuration back to a snapshot: files and links it names get
-- its contents and targets, files and links it does not name go (a fault
-- sweep's reset between points).  Runtime files are left alone.
function N:restore(snap)
  local function walk(dir, rel)
    for _, name in ipairs(sys.listdir(dir) or {}) do
      local r = rel == "" and name or (rel .. "/" .. name)
      if not (rel == "" and RUNTIME[name]) then
        local p = dir .. "/" .. name
        local st = sys.lstat(p)
        if st.type == "directory" then
          walk(p, r)
        elseif snap[r] == nil then
          assert(os.remove(p))
        end
      end
    end
  end
  walk(self.root, "")
  for r, v in pairs(snap) do
    local p = self.root .. "/" .. r
    local target = v:match("^%-> (.*)$")
    if target then
      if sys.readlink(p) ~= target then
        os.remove(p)
        assert(os.execute(("ln -s %s %s"):format(q(target), q(p))))
      end
    elseif proc.read(p) ~= v then
      local st = sys.lstat(p)
      if st and st.type == "link" then os.remove(p) end
      assert(sys.mkdir(p:match("^(.*)/[^/]*$"), 493, true))
      write(p, v)
    end
  end
end

-- Compare two snapshots: nil when equal, else what differs first.
function M.diff(a, b)
  local keys = {}
  for k in pairs(a) do keys[#keys + 1] = k end
  for k in pairs(b) do if a[k] == nil then keys[#keys + 1] = k end end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if a[k] == nil then return "new: " .. k end
    if b[k] == nil then return "missing: " .. k end
    if a[k] ~= b[k] then return "changed: " .. k end
  end
  return nil
end

function N:read(rel) return proc.read(self.root .. "/" .. rel) end

-- Sleep until fn() is true (nginx starts new workers after a reload).
function M.eventually(fn, timeout)
  return proc.wait_until(fn, timeout or 5, 0.1)
end

return M
