-- spec/helpers/pebble.lua: a real Pebble (Debian's pebble 2.4.0) and
-- pebble-challtestsrv on loopback, for specs.
--
--   local pebble = require("spec.helpers.pebble")
--   local srv = pebble.start{ env = { PEBBLE_WFE_NONCEREJECT = "0" },
--                             config = { certificateValidityPeriod = 300 },
--                             ports = "auto" }
--   ... srv.directory, srv.ca_file, srv.root_pem() ...
--   srv.stop()
--
-- Each spec file that needs Pebble starts it in setup() and stops it in
-- teardown().  Only the two PIDs started here are ever signalled.
local core = require("certbot.core")
local cjson = require("cjson")
local proc = require("spec.helpers.proc")

local M = {}

M.default_ports = {
  acme = 14000,       -- pebble's ACME listener (listenAddress)
  management = 15000, -- pebble's management listener (roots, cert status)
  dns = 8053,         -- challtestsrv's DNS server, pebble's -dnsserver
  challtestsrv = 8055, -- challtestsrv's management interface (set-txt...)
  http01 = 5002,      -- where pebble validates http-01 (config httpPort)
  tlsalpn01 = 5001,   -- where pebble validates tls-alpn-01 (config tlsPort)
}

-- want: nil (the defaults), "auto" (free ports for acme, management, dns
-- and challtestsrv; the validation ports stay 5002/5001), or a table of
-- ports by name, where auto = true picks free ports for those four unless
-- the table names them: { auto = true, http01 = p1, tlsalpn01 = p2 }.
local function resolve_ports(want)
  local ports = {}
  for k, v in pairs(M.default_ports) do ports[k] = v end
  local auto = want == "auto" or (type(want) == "table" and want.auto)
  if auto then
    ports.acme, ports.management, ports.dns, ports.challtestsrv = proc.free_ports(4)
  end
  if type(want) == "table" then
    for k, v in pairs(want) do
      if k ~= "auto" then
        assert(M.default_ports[k], "pebble.start: unknown port name " .. tostring(k))
        ports[k] = math.tointeger(v) or error("pebble.start: port " .. k .. " must be an integer")
      end
    end
  end
  return ports
end

local function http_json(client, url, body)
  local res, err = client:request("POST", url, { body = cjson.encode(body),
    content_type = "application/json" })
  if not res then return nil, err end
  if res.status ~= 200 then return nil, url .. ": status " .. res.status .. ": " .. res.body end
  return true
end

-- start(opts) -> server.  opts.env: extra environment for pebble (e.g.
-- PEBBLE_WFE_NONCEREJECT, PEBBLE_VA_ALWAYS_VALID); opts.config: keys merged
-- into pebble's config object (certificateValidityPeriod,
-- externalAccountBindingRequired, externalAccountMACKeys, domainBlocklist,
-- retryAfter, profiles, ...); opts.ports: "auto" or a table overriding
-- M.default_ports by name, with auto = true for free ports for the rest of
-- Pebble's own (see resolve_ports); opts.timeout: seconds to wait (default 10).
local function start(opts)
  local ports = resolve_ports(opts.ports)
  local dir = proc.tmpdir("pebble-")
  local srv = { dir = dir, ports = ports, log_path = dir .. "/pebble.log",
    challtestsrv_log_path = dir .. "/challtestsrv.log" }
  local pids = {}
  local keep = opts.keep

  local function stop()
    if pids.pebble then proc.stop(pids.pebble, "pebble") end
    if pids.chall then proc.stop(pids.chall, "pebble-challtestsrv") end
    pids = {}
    if srv.client then srv.client:close() end
    if srv.plain then srv.plain:close() end
    if not keep then proc.rm_rf(dir) end
  end
  srv.stop = stop

  local ok, err = pcall(function()
    proc.listener_certs(dir, { cn = "certbot spec Pebble listener CA" })
    local config = {
      listenAddress = "127.0.0.1:" .. ports.acme,
      managementListenAddress = "127.0.0.1:" .. ports.management,
      certificate = dir .. "/cert.pem",
      privateKey = dir .. "/key.pem",
      httpPort = ports.http01,
      tlsPort = ports.tlsalpn01,
      ocspResponderURL = "",
      externalAccountBindingRequired = false,
    }
    for k, v in pairs(opts.config or {}) do config[k] = v end
    local f = assert(io.open(dir .. "/pebble-config.json", "w"))
    f:write(cjson.encode({ pebble = config }))
    f:close()

    pids.chall = proc.spawn({ "pebble-challtestsrv",
      "-http01", "", "-https01", "", "-tlsalpn01", "",
      "-defaultIPv6", "", "-defaultIPv4", "127.0.0.1",
      "-dns01", "127.0.0.1:" .. ports.dns,
      "-management", "127.0.0.1:" .. ports.challtestsrv }, { log = srv.challtestsrv_log_path })
    local env = { PEBBLE_VA_NOSLEEP = "1" }
    -- `make test-nonce` (TESTPLAN D2): the whole suite with this share of
    -- nonces rejected; a spec's own setting wins
    local nr = os.getenv("CERTBOT_SPEC_NONCEREJECT")
    if nr and nr ~= "" then env.PEBBLE_WFE_NONCEREJECT = nr end
    for k, v in pairs(opts.env or {}) do env[k] = v end
    pids.pebble = proc.spawn({ "pebble", "-strict", "-config", dir .. "/pebble-config.json",
      -- opts.dnsserver ("127.0.0.1:PORT", e.g. a BIND of spec/helpers/bind.lua)
      -- replaces challtestsrv as the resolver Pebble validates through
      "-dnsserver", opts.dnsserver or ("127.0.0.1:" .. ports.dns) }, { env = env, log = srv.log_path, cwd = dir })

    srv.directory = "https://127.0.0.1:" .. ports.acme .. "/dir"
    srv.management = "https://127.0.0.1:" .. ports.management
    srv.challtestsrv = "http://127.0.0.1:" .. ports.challtestsrv
    srv.ca_file = dir .. "/ca.pem"
    srv.client = assert(core.http.new({ ca_file = srv.ca_file, timeout = 5 }))
    srv.plain = assert(core.http.new({ https_only = false, timeout = 5 }))

    local last
    local ready = proc.wait_until(function()
      if not proc.alive(pids.pebble) then error("pebble exited", 0) end
      if not proc.alive(pids.chall) then error("pebble-challtestsrv exited", 0) end
      -- challtestsrv logs a failed bind and keeps running: fail fast
      local clog = proc.read(srv.challtestsrv_log_path) or ""
      if clog:find("address already in use", 1, true) then
        error("pebble-challtestsrv: address already in use", 0)
      end
      local r1, r2, e
      r1, e = srv.client:request("GET", srv.directory)
      if r1 and r1.status == 200 then
        r2, e = srv.client:request("GET", srv.management .. "/roots/0")
        if r2 and r2.status == 200 then
          local r3
          r3, e = srv.plain:request("GET", srv.challtestsrv .. "/")
          if r3 then return true end
        end
      end
      last = e or (r1 and ("status " .. r1.status))
      return false
    end, opts.timeout or 10, 0.05)
    if not ready then error("not answering: " .. tostring(last), 0) end
  end)
  if not ok then
    local plog = proc.read(srv.log_path) or ""
    local clog = proc.read(srv.challtestsrv_log_path) or ""
    keep = false
    stop()
    error("pebble helper: " .. tostring(err) .. "\n--- pebble log:\n" .. plog
      .. "\n--- challtestsrv log:\n" .. clog, 2)
  end

  srv.pids = { pebble = pids.pebble, challtestsrv = pids.chall }

  -- The PEM of Pebble's current root (it changes on every start).
  function srv.root_pem(n)
    local url = srv.management .. "/roots/" .. (n or 0)
    local res, e = srv.client:request("GET", url)
    if not res then error(e, 2) end
    if res.status ~= 200 then error(url .. ": status " .. res.status, 2) end
    return res.body
  end

  -- Pebble's log so far, for a failing spec to print.
  function srv.log() return proc.read(srv.log_path) or "" end

  local function fqdn(host)
    return host:sub(-1) == "." and host or host .. "."
  end

  -- dns-01: challtestsrv answers TXT queries for host with value.
  function srv.set_txt(host, value)
    return assert(http_json(srv.plain, srv.challtestsrv .. "/set-txt",
      { host = fqdn(host), value = value }))
  end

  function srv.clear_txt(host)
    return assert(http_json(srv.plain, srv.challtestsrv .. "/clear-txt", { host = fqdn(host) }))
  end

  return srv
end

function M.start(opts)
  opts = opts or {}
  if opts.ports ~= "auto" and not (type(opts.ports) == "table" and opts.ports.auto) then
    return start(opts)
  end
  -- Free ports are picked before they are bound: another run may take one
  -- in between.  Try again with fresh ones when that happens.
  for _ = 1, 3 do
    local ok, srv = pcall(start, opts)
    if ok then return srv end
    if not tostring(srv):find("address already in use", 1, true) then error(srv, 0) end
  end
  return start(opts)
end

return M
