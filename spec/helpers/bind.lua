-- spec/helpers/bind.lua: a real BIND 9 (Debian's bind9) on loopback, for
-- the dns-rfc2136 specs.
--
--   local bind = require("spec.helpers.bind")
--   local ns = bind.start()        -- named -g on 127.0.0.1 and ::1, a free port
--   ns.port, ns.keys.sha256 = { name=, secret=, algorithm= } (also md5, sha512,
--   other: a key BIND knows that may not update anything)
--   ns.credentials(path, key[, extra])  -- writes a dns-rfc2136 INI file
--   ns.dig("_acme-challenge.example.test", "TXT") -> { "value", ... }
--   ns.stop()
--
-- Zones (primary, in the helper's private directory, journals there too):
--   example.test      SOA, NS, A 127.0.0.1 at the apex, ns and *
--   sub.example.test  a zone of its own below it (zone discovery)
-- Both allow updates signed by the sha256, md5 and sha512 keys.
--   signed.test       answers (and takes updates) only signed with the sha512 key
-- Only the PID started here is ever signalled.
local core = require("certbot.core")
local proc = require("spec.helpers.proc")

local M = {}

local crypto = core.crypto

-- A random TSIG secret in standard base64.
local function secret()
  local b = crypto.b64url_encode(crypto.random_bytes(32)):gsub("[-_]", { ["-"] = "+", ["_"] = "/" })
  return b .. string.rep("=", (4 - #b % 4) % 4)
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local ZONE = [[
$TTL 60
@       IN SOA ns.example.test. hostmaster.example.test. ( 1 3600 600 86400 60 )
@       IN NS  ns.example.test.
@       IN A   127.0.0.1
ns      IN A   127.0.0.1
*       IN A   127.0.0.1
]]

local SUBZONE = [[
$TTL 60
@       IN SOA ns.example.test. hostmaster.example.test. ( 1 3600 600 86400 60 )
@       IN NS  ns.example.test.
@       IN A   127.0.0.1
*       IN A   127.0.0.1
]]

local SIGNED = [[
$TTL 60
@       IN SOA ns.example.test. hostmaster.example.test. ( 1 3600 600 86400 60 )
@       IN NS  ns.example.test.
@       IN A   127.0.0.1
]]

local function config(dir, port, keys)
  local t = {
    "options {",
    '  directory "' .. dir .. '";',
    '  pid-file "' .. dir .. '/named.pid";',
    '  session-keyfile "' .. dir .. '/session.key";',
    '  managed-keys-directory "' .. dir .. '";',
    "  listen-on port " .. port .. " { 127.0.0.1; };",
    "  listen-on-v6 port " .. port .. " { ::1; };",
    "  recursion no;",
    "  dnssec-validation no;",
    "  notify no;",
    "  allow-transfer { none; };",
    "};",
    "controls { };",
  }
  local allowed = {}
  for _, id in ipairs({ "sha256", "md5", "sha512", "other" }) do
    local k = keys[id]
    t[#t + 1] = ('key "%s" { algorithm %s; secret "%s"; };'):format(k.name, k.bind_algorithm, k.secret)
    if id ~= "other" then allowed[#allowed + 1] = ('key "%s";'):format(k.name) end
  end
  for _, z in ipairs({ "example.test", "sub.example.test" }) do
    t[#t + 1] = ('zone "%s" { type primary; file "%s/%s.zone"; allow-update { %s }; };')
      :format(z, dir, z, table.concat(allowed, " "))
  end
  -- answers only queries signed with the sha512 key
  t[#t + 1] = ('zone "signed.test" { type primary; file "%s/signed.test.zone"; allow-query { key "%s"; }; '
    .. 'allow-update { key "%s"; }; };'):format(dir, keys.sha512.name, keys.sha512.name)
  return table.concat(t, "\n") .. "\n"
end

-- dig(port, name, type[, server]) -> array of answers (+short lines; TXT
-- values unquoted and joined), nil on a dig failure.
function M.dig(port, name, rtype, server)
  local cmd = ("dig @%s -p %d +short +time=2 +tries=1 %s %s 2>&1"):format(server or "127.0.0.1",
    port, proc.quote(rtype or "A"), proc.quote(name))
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok = p:close()
  if not ok then return nil, out end
  local list = {}
  for line in out:gmatch("[^\n]+") do
    if line:sub(1, 1) == ";" then return nil, out end
    if rtype == "TXT" then
      local parts = {}
      for s in line:gmatch('"([^"]*)"') do parts[#parts + 1] = s end
      line = table.concat(parts)
    end
    list[#list + 1] = line
  end
  table.sort(list)
  return list
end

local function start(opts)
  local dir = proc.tmpdir("bind-")
  local port = opts.port or proc.free_ports(1)
  local keys = {
    sha256 = { name = "certbot-key.", algorithm = "HMAC-SHA256", bind_algorithm = "hmac-sha256" },
    md5 = { name = "md5-key.", algorithm = "HMAC-MD5", bind_algorithm = "hmac-md5" },
    sha512 = { name = "sha512-key.", algorithm = "HMAC-SHA512", bind_algorithm = "hmac-sha512" },
    other = { name = "other-key.", algorithm = "HMAC-SHA256", bind_algorithm = "hmac-sha256" },
  }
  for _, k in pairs(keys) do k.secret = secret() end
  write(dir .. "/example.test.zone", ZONE)
  write(dir .. "/sub.example.test.zone", SUBZONE)
  write(dir .. "/signed.test.zone", SIGNED)
  write(dir .. "/named.conf", config(dir, port, keys))
  local ns = { dir = dir, port = port, keys = keys, log_path = dir .. "/named.log",
    address = "127.0.0.1:" .. port }
  local pid = proc.spawn({ "named", "-g", "-n", "1", "-c", dir .. "/named.conf" }, { log = ns.log_path })
  ns.pid = pid

  function ns.stop()
    if pid then proc.stop(pid, "named") end
    pid = nil
    if not opts.keep then proc.rm_rf(dir) end
  end

  function ns.log() return proc.read(ns.log_path) or "" end

  function ns.dig(name, rtype, server) return M.dig(port, name, rtype, server) end

  -- credentials(path, key[, extra]) -> path: a dns-rfc2136 INI file (0600)
  -- for key (a ns.keys entry or a table like one); extra: more lines or
  -- overrides { dns_rfc2136_port = "..." }.
  function ns.credentials(path, key, extra)
    local v = {
      dns_rfc2136_server = "127.0.0.1",
      dns_rfc2136_port = tostring(port),
      dns_rfc2136_name = key.name,
      dns_rfc2136_secret = key.secret,
      dns_rfc2136_algorithm = key.algorithm,
    }
    for k, x in pairs(extra or {}) do v[k] = x or nil end
    local names = {}
    for k in pairs(v) do names[#names + 1] = k end
    table.sort(names)
    local lines = { "# dns-rfc2136 credentials for a spec" }
    for _, k in ipairs(names) do
      if v[k] ~= false then lines[#lines + 1] = k .. " = " .. v[k] end
    end
    write(path, table.concat(lines, "\n") .. "\n")
    assert(core.sys.chmod(path, 384))
    return path
  end

  local ready = proc.wait_until(function()
    local log = ns.log()
    -- named logs a failed bind and goes on without that listener
    if log:find("address in use", 1, true) or log:find("interface ignored", 1, true) then
      return "address in use"
    end
    if not proc.alive(pid) then return "exited" end
    local soa = M.dig(port, "example.test", "SOA")
    return soa and #soa == 1
  end, opts.timeout or 15, 0.1)
  if ready ~= true then
    local log = ns.log()
    ns.stop()
    error(("bind helper: named did not answer on port %d (%s)\n--- named log:\n%s"):format(port,
      tostring(ready or "timed out"), log), 0)
  end
  return ns
end

-- start([opts]) -> server.  opts.port (default: a free one), opts.keep
-- (leave the directory), opts.timeout (seconds to wait, default 15).
function M.start(opts)
  opts = opts or {}
  -- A free port is picked before named binds it: another run may take it in
  -- between; try again with a fresh one.
  local last
  for _ = 1, 3 do
    local ok, ns = pcall(start, opts)
    if ok then return ns end
    last = ns
    if opts.port or not tostring(ns):find("address in use", 1, true) then error(ns, 2) end
  end
  error(last, 2)
end

return M
