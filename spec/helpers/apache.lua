-- spec/helpers/apache.lua: a real Apache (Debian's apache2) in a private
-- server root, on high loopback ports, for the apache plugin's specs.
--
--   local apache = require("spec.helpers.apache")
--   local srv = apache.new{ layout = "debian" }   -- or "single"; ports picked free
--   srv:start()            -- apache2 -d ROOT -DFOREGROUND, by PID
--   srv.root, srv.http_port, srv.https_port
--   srv:get("a.example", "/")          -> status, headers, body (plain HTTP)
--   srv:get_tls("a.example", "/")      -> status, headers, body (HTTPS, not verified)
--   srv:served_cert("a.example")       -> PEM the HTTPS port presents for that SNI
--   srv:snapshot()                     -> { [relpath] = bytes | "symlink -> target" }
--   srv:ctl("configtest")              -> exit code, output (APACHE_CONFDIR=ROOT apache2ctl)
--   srv:cleanup()                      -- stops that PID only, removes ROOT
--
-- The root is a copy of spec/fixtures/apache/<layout> with @ROOT@,
-- @HTTP_PORT@ and @HTTPS_PORT@ filled in.  The Debian layout gets
-- Debian's own /etc/apache2/mods-available and the links of a2enmod and
-- a2ensite for a few modules and sites.  Debian's apache2ctl, a2enmod
-- and a2ensite follow APACHE_CONFDIR, and apache2ctl reads ROOT/envvars,
-- so `APACHE_CONFDIR=ROOT apache2ctl graceful` reloads this server (it
-- signals the PID in ROOT/run/apache2.pid), as the plugin does.
local sys = require("certbot.core").sys
local proc = require("spec.helpers.proc")

local M = {}

M.FIXTURES = "spec/fixtures/apache"
M.BASE_MODS = { "mpm_event", "authz_core", "authz_host", "alias", "dir", "mime" }
M.SITES = { "000-default", "a.example", "b.example" }
M.DOCROOTS = { "default", "a", "b", "c", "s" }

local S = {}
S.__index = S

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return ok and 0 or code, out
end
M.sh = sh

-- (plain writes: a server root is scratch, no fsync needed)
local function write(path, data, mode)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
  assert(sys.chmod(path, mode or 420))
end

local function copy_tree(src, dst, subst)
  for _, n in ipairs(assert(sys.listdir(src))) do
    local from, to = src .. "/" .. n, dst .. "/" .. n
    local st = assert(sys.lstat(from))
    if st.type == "directory" then
      assert(sys.mkdir(to, 493))
      copy_tree(from, to, subst)
    elseif st.type == "file" then
      local data = assert(sys.read_file(from))
      if subst then data = data:gsub("@(%u[%u_]*)@", subst) end
      write(to, data, st.mode & 511)
    end
  end
end

-- new(opts) -> server (not started).  opts.layout: "debian" (default) or
-- "single"; opts.http_port / opts.https_port: else two free ports
-- (below the ephemeral range: the HTTPS port stays unbound until the
-- installer adds its Listen).
function M.new(opts)
  opts = opts or {}
  local layout = opts.layout or "debian"
  local root = proc.tmpdir("apache-")
  -- Apache's children run as www-data: they read the document roots and
  -- the challenge responses under this root.
  assert(sys.chmod(root, 493))
  local http, https = opts.http_port, opts.https_port
  if not http then http, https = proc.free_ports(2) end
  local self = setmetatable({ root = root, layout = layout, http_port = http,
    https_port = https }, S)
  local vars = { ROOT = root, HTTP_PORT = tostring(http), HTTPS_PORT = tostring(https) }
  copy_tree(M.FIXTURES .. "/" .. layout, root, function(k) return vars[k] end)
  for _, d in ipairs({ "run", "lock", "logs", "www" }) do assert(sys.mkdir(root .. "/" .. d, 493)) end
  for _, d in ipairs(M.DOCROOTS) do
    assert(sys.mkdir(root .. "/www/" .. d, 493))
    write(root .. "/www/" .. d .. "/index.html", "site " .. d .. "\n")
  end
  if layout == "debian" then
    for _, d in ipairs({ "mods-available", "mods-enabled", "sites-enabled", "conf-available",
      "conf-enabled" }) do
      if not sys.stat(root .. "/" .. d) then assert(sys.mkdir(root .. "/" .. d, 493)) end
    end
    copy_tree("/etc/apache2/mods-available", root .. "/mods-available")
    for _, m in ipairs(opts.mods or M.BASE_MODS) do
      for _, ext in ipairs({ ".load", ".conf" }) do
        if sys.stat(root .. "/mods-available/" .. m .. ext) then
          assert(sys.symlink_swap("../mods-available/" .. m .. ext, root .. "/mods-enabled/" .. m .. ext))
        end
      end
    end
    for _, s in ipairs(opts.sites or M.SITES) do
      assert(sys.symlink_swap("../sites-available/" .. s .. ".conf",
        root .. "/sites-enabled/" .. s .. ".conf"))
    end
  end
  -- what envvars exports, for the apache2 this helper starts itself
  self.run_env = { APACHE_RUN_USER = "www-data", APACHE_RUN_GROUP = "www-data",
    APACHE_PID_FILE = root .. "/run/apache2.pid", APACHE_RUN_DIR = root .. "/run",
    APACHE_LOCK_DIR = root .. "/lock", APACHE_LOG_DIR = root .. "/logs", LANG = "C" }
  -- for the plugin's a2enmod: its state markers stay in the root
  self.state_dir = root .. "/state"
  return self
end

-- The environment a certbot run needs to drive this server.
function S:certbot_env()
  return { APACHE_STATE_DIRECTORY = self.state_dir }
end

-- The plugin's flags for this server.
function S:flags()
  return { "--apache-server-root", self.root, "--https-port", tostring(self.https_port) }
end

function S:log()
  return (proc.read(self.root .. "/logs/error.log") or "") .. (proc.read(self.root
    .. "/logs/stderr.log") or "")
end

-- status, headers (lower-case names), body of an HTTP request with curl.
local function curl(args)
  local hdr = os.tmpname()
  local code, out = sh("curl -s -m 5 -D " .. proc.quote(hdr) .. " " .. args)
  local text = proc.read(hdr) or ""
  os.remove(hdr)
  local headers, status = {}, nil
  for line in text:gmatch("[^\r\n]+") do
    local s = line:match("^HTTP/[%d.]+ (%d+)")
    if s then
      status, headers = tonumber(s), {}
    else
      local k, v = line:match("^([^:]+):%s*(.*)$")
      if k then headers[k:lower()] = v end
    end
  end
  if code ~= 0 and not status then return nil, out end
  return status, headers, out
end

function S:get(host, path)
  return curl(("-H %s %s"):format(proc.quote("Host: " .. host),
    proc.quote(("http://127.0.0.1:%d%s"):format(self.http_port, path or "/"))))
end

function S:get_tls(host, path)
  return curl(("-k --resolve %s %s"):format(proc.quote(("%s:%d:127.0.0.1"):format(host,
    self.https_port)), proc.quote(("https://%s:%d%s"):format(host, self.https_port, path or "/"))))
end

-- The certificate (PEM) the HTTPS port presents for SNI host, or nil.
function S:served_cert(host)
  local _, out = sh(("openssl s_client -connect 127.0.0.1:%d -servername %s </dev/null 2>/dev/null"
    .. " | openssl x509 2>/dev/null"):format(self.https_port, proc.quote(host)))
  return out:match("%-%-%-%-%-BEGIN CERTIFICATE%-%-%-%-%-.-%-%-%-%-%-END CERTIFICATE%-%-%-%-%-\n?")
end

-- wait_cert(host, pem[, timeout]) -> true once the HTTPS port serves pem
-- (a graceful reload takes a moment).
function S:wait_cert(host, pem, timeout)
  local want = pem:match("%-%-%-%-%-BEGIN CERTIFICATE%-%-%-%-%-.-%-%-%-%-%-END CERTIFICATE%-%-%-%-%-")
  return proc.wait_until(function()
    local got = self:served_cert(host)
    return got ~= nil and got:find(want, 1, true) ~= nil
  end, timeout or 10, 0.2)
end

-- ctl(...) -> exit code, output of APACHE_CONFDIR=ROOT apache2ctl ...
function S:ctl(...)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = proc.quote(a) end
  return sh("env -u LD_PRELOAD APACHE_CONFDIR=" .. proc.quote(self.root) .. " apache2ctl "
    .. table.concat(args, " "))
end

function S:start()
  assert(not self.pid, "apache helper: already started")
  self.pid = proc.spawn({ "apache2", "-d", self.root, "-DFOREGROUND" },
    { env = self.run_env, log = self.root .. "/logs/stderr.log" })
  local ready = proc.wait_until(function()
    if not proc.alive(self.pid) then return "dead" end
    if not sys.stat(self.root .. "/run/apache2.pid") then return false end
    local code = sh(("curl -s -o /dev/null -m 2 http://127.0.0.1:%d/"):format(self.http_port))
    return code == 0
  end, 10, 0.05)
  if ready ~= true then
    local log = self:log()
    self:stop()
    error("apache helper: apache2 did not start (" .. tostring(ready) .. "):\n" .. log, 2)
  end
  return self
end

-- The PID apache2 wrote (the one this helper started, unless it died).
function S:running()
  return self.pid ~= nil and proc.alive(self.pid)
end

function S:stop()
  if self.pid then proc.stop(self.pid, "apache2") end
  self.pid = nil
end

function S:cleanup()
  self:stop()
  proc.rm_rf(self.root)
end

-- Every configuration file and link under the root (not the runtime dirs,
-- the documents, or the lock file): relpath -> bytes | "symlink -> target".
function S:snapshot()
  local out = {}
  local skip = { run = true, lock = true, logs = true, www = true, state = true,
    [".certbot.lock"] = true }
  local function walk(dir, rel)
    for _, n in ipairs(sys.listdir(dir) or {}) do
      local r = rel == "" and n or rel .. "/" .. n
      if not (rel == "" and skip[n]) then
        local p = dir .. "/" .. n
        local st = sys.lstat(p)
        if st.type == "link" or st.type == "symlink" then
          out[r] = "symlink -> " .. tostring(sys.readlink(p))
        elseif st.type == "directory" then
          walk(p, r)
        else
          out[r] = sys.read_file(p)
        end
      end
    end
  end
  walk(self.root, "")
  return out
end

-- diff(a, b) -> list of relpaths that differ (added, removed, changed).
function M.diff(a, b)
  local out = {}
  for k, v in pairs(a) do if b[k] ~= v then out[#out + 1] = k end end
  for k in pairs(b) do if a[k] == nil then out[#out + 1] = k end end
  table.sort(out)
  return out
end

return M
