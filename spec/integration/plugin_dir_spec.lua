-- Third-party plugins end to end against Pebble: a plugin file dropped in
-- --plugin-dir or <config-dir>/plugins obtains a certificate and renews it
-- with the options stored in the renewal conf; the example DNS provider in
-- docs/examples obtains a wildcard through pebble-challtestsrv, with no
-- change to the project.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local sys = require("certbot.core").sys

local sh, q = helper.sh, proc.quote

-- An http-01 authenticator of its own: the core's responder on
-- --spec-http-port.  It logs through certbot.log, so the log shows it ran.
local HTTP_PLUGIN = [[
local core = require("certbot.core")
local log = require("certbot.log")

local P = {
  name = "spec-http",
  description = "Answers http-01 from a responder of its own",
  authenticator = true,
  options = {
    { name = "port", type = "int", min = 1, default = 80, metavar = "PORT",
      help = "Port the responder listens on (127.0.0.1)." },
  },
}

local I = {}
I.__index = I

function P.new(config)
  return setmetatable({ opts = config:plugin("spec-http") }, I)
end

function I.prepare() return true end
function I.challenge_preferences() return { "http-01" } end

function I:perform(challenges)
  local port = self.opts:number("port", 1, 65535)
  local r, err = core.standalone.http01({ address = "127.0.0.1", port = port })
  if not r then return nil, err end
  self.responder = r
  for _, ch in ipairs(challenges) do
    local ok, serr = r:set(ch.token, ch.key_authorization)
    if not ok then return nil, serr end
  end
  log.info("spec-http: answering %d challenge(s) on port %d", #challenges, port)
  return true
end

function I:cleanup()
  if self.responder then self.responder:stop() end
  self.responder = nil
end

return P
]]

local function write(path, text, mode)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  assert(sys.chmod(path, mode or 420))
end

local function mkdir(path)
  assert(sys.mkdir(path, 493, true))
  assert(sys.chmod(path, 493))
  return path
end

local function names_of(path)
  local _, out = sh("openssl x509 -noout -ext subjectAltName -in " .. q(path))
  local list = {}
  for n in out:gmatch("DNS:([^,%s]+)") do list[#list + 1] = n end
  table.sort(list)
  return list
end

describe("third-party plugins against Pebble #integration", function()
  local srv, ports, cbs = nil, nil, {}

  setup(function()
    -- ports of our own: other specs use Pebble's default 5002/5001
    for attempt = 1, 3 do
      local p = { proc.free_ports(6) }
      ports = { acme = p[1], management = p[2], dns = p[3], challtestsrv = p[4],
        http01 = p[5], tlsalpn01 = p[6] }
      -- no reused authorizations: every renewal must run the plugin again
      local ok, s = pcall(pebble.start, { ports = ports, env = { PEBBLE_AUTHZREUSE = "0" } })
      if ok then
        srv = s
        break
      end
      if attempt == 3 or not tostring(s):find("address already in use", 1, true) then error(s, 0) end
    end
  end)
  teardown(function()
    for _, cb in ipairs(cbs) do cb:cleanup() end
    if srv then srv.stop() end
  end)

  local function new_cb()
    local cb = helper.new(srv)
    cbs[#cbs + 1] = cb
    assert(sys.chmod(cb.dir, 493))
    return cb
  end

  local function ok_run(cb, args)
    local code, out, err = cb:run(args)
    assert.equals(0, code, ("certbot %s:\n%s%s"):format(table.concat(args, " "), out or "", err or ""))
    return out, err
  end

  it("an http-01 plugin in --plugin-dir obtains a certificate and renews from what the conf stored", function()
    local cb = new_cb()
    local pdir = mkdir(cb.dir .. "/my-plugins")
    write(pdir .. "/spec_http.lua", HTTP_PLUGIN)
    local _, err = ok_run(cb, { "certonly", "-a", "spec-http", "--plugin-dir", pdir,
      "--spec-http-port", tostring(ports.http01), "-d", "pa.example" })
    assert.equals("", err)
    assert.equals(0, (helper.verify_chain(cb, "pa.example")))
    local conf = cb:read("renewal/pa.example.conf")
    assert.matches("\nauthenticator = spec%-http\n", conf)
    assert.matches("\nplugin_dir = " .. pdir:gsub("%p", "%%%0") .. ",\n", conf)
    assert.matches("\nspec_http_port = " .. ports.http01 .. "\n", conf)
    assert.matches("spec%-http: answering 1 challenge%(s%) on port " .. ports.http01,
      proc.read(cb.logs_dir .. "/letsencrypt.log"))
    -- renew names neither the directory nor the port: both come from the conf
    ok_run(cb, { "renew", "--cert-name", "pa.example", "--force-renewal" })
    assert.truthy(cb:exists("archive/pa.example/cert2.pem"))
    assert.equals(0, (helper.verify_chain(cb, "pa.example")))
    assert.matches("spec%-http: answering 1 challenge%(s%) on port " .. ports.http01,
      proc.read(cb.logs_dir .. "/letsencrypt.log"))
  end)

  it("a plugin in <config-dir>/plugins needs no flag at all, also for renew", function()
    local cb = new_cb()
    mkdir(cb.config_dir)
    write(mkdir(cb.config_dir .. "/plugins") .. "/spec_http.lua", HTTP_PLUGIN)
    -- the option from cli.ini, like any other
    local f = assert(io.open(cb.cli_ini, "a"))
    f:write("spec-http-port = ", ports.http01, "\n")
    f:close()
    ok_run(cb, { "certonly", "-a", "spec-http", "-d", "pb.example" })
    assert.equals(0, (helper.verify_chain(cb, "pb.example")))
    assert.falsy(cb:read("renewal/pb.example.conf"):find("plugin_dir", 1, true))
    ok_run(cb, { "renew", "--force-renewal" })
    assert.truthy(cb:exists("archive/pb.example/cert2.pem"))
    -- `plugins` shows where it came from
    local out = ok_run(cb, { "plugins", "--authenticators" })
    assert.truthy(out:find("* spec-http\nDescription: Answers http-01 from a responder of its own\n"
      .. "Interfaces: Authenticator, Plugin\nEntry point: spec-http = " .. cb.config_dir
      .. "/plugins/spec_http.lua\n", 1, true), out)
  end)

  it("the example installer in docs/examples deploys, redeploys on renew, and rolls back", function()
    local cb = new_cb()
    local pdir = mkdir(cb.dir .. "/my-plugins")
    write(pdir .. "/spec_http.lua", HTTP_PLUGIN)
    local tls = cb.dir .. "/tls"
    local out = ok_run(cb, { "run", "-a", "spec-http", "-i", "deploy-dir", "--plugin-dir", "docs/examples",
      "--plugin-dir", pdir, "--spec-http-port", tostring(ports.http01), "--deploy-dir-path", tls,
      "-d", "pc.example" })
    assert.matches("Successfully deployed certificate for pc%.example to " .. (tls .. "/pc.example"):gsub("%p", "%%%0"),
      out)
    local first = proc.read(tls .. "/pc.example/fullchain.pem")
    assert.equals(proc.read(cb:live("pc.example").fullchain), first)
    assert.equals(proc.read(cb:live("pc.example").privkey), proc.read(tls .. "/pc.example/privkey.pem"))
    assert.equals(384, sys.stat(tls .. "/pc.example/privkey.pem").mode)
    local conf = cb:read("renewal/pc.example.conf")
    assert.matches("\ninstaller = deploy%-dir\n", conf)
    assert.matches("\ndeploy_dir_path = " .. tls:gsub("%p", "%%%0") .. "\n", conf)
    -- renew: both plugins and their options from the conf; the installer redeploys
    ok_run(cb, { "renew", "--force-renewal" })
    local second = proc.read(tls .. "/pc.example/fullchain.pem")
    assert.equals(proc.read(cb:live("pc.example").fullchain), second)
    assert.not_equals(first, second)
    -- rollback undoes the renewal's deployment through the reverter
    ok_run(cb, { "rollback", "--checkpoints", "1", "-i", "deploy-dir", "--plugin-dir", "docs/examples" })
    assert.equals(first, proc.read(tls .. "/pc.example/fullchain.pem"))
    -- and the first one's: the files it created are gone
    ok_run(cb, { "rollback", "--checkpoints", "1", "-i", "deploy-dir", "--plugin-dir", "docs/examples" })
    assert.is_nil(sys.stat(tls .. "/pc.example/fullchain.pem"))
  end)

  it("the example DNS provider in docs/examples issues a wildcard through challtestsrv", function()
    local cb = new_cb()
    local _, err = ok_run(cb, { "certonly", "-a", "dns-challtestsrv", "--plugin-dir", "docs/examples",
      "--dns-challtestsrv-url", srv.challtestsrv, "-d", "*.wild.example", "-d", "wild.example" })
    assert.equals("", err)
    assert.same({ "*.wild.example", "wild.example" }, names_of(cb:live("wild.example").cert))
    assert.equals(0, (helper.verify_chain(cb, "wild.example")))
    local conf = cb:read("renewal/wild.example.conf")
    assert.matches("\nauthenticator = dns%-challtestsrv\n", conf)
    assert.matches("\ndns_challtestsrv_url = " .. srv.challtestsrv:gsub("%p", "%%%0") .. "\n", conf)
    -- the records are gone: challtestsrv answers no TXT for the name
    local _, txt = sh(("dig +short -p %d @127.0.0.1 TXT _acme-challenge.wild.example")
      :format(ports.dns))
    assert.equals("", txt)
    -- the engine's log lines name the records it added and deleted
    local log = proc.read(cb.logs_dir .. "/letsencrypt.log")
    assert.matches("dns%-challtestsrv: added TXT record _acme%-challenge%.wild%.example", log)
    assert.matches("dns%-challtestsrv: deleted TXT record _acme%-challenge%.wild%.example", log)
    ok_run(cb, { "renew", "--force-renewal" })
    assert.truthy(cb:exists("archive/wild.example/cert2.pem"))
  end)

  it("a failed validation still removes the example provider's records", function()
    local cb = new_cb()
    -- a second challtestsrv, one Pebble does not ask: the record is set
    -- there, Pebble finds none, and the plugin must still clear it
    local pid, dns_port, mgmt_port, clog
    for attempt = 1, 3 do
      dns_port, mgmt_port = proc.free_ports(2)
      clog = ("%s/other-challtestsrv-%d.log"):format(cb.dir, attempt)
      pid = proc.spawn({ "pebble-challtestsrv", "-http01", "", "-https01", "", "-tlsalpn01", "",
        "-defaultIPv6", "", "-defaultIPv4", "127.0.0.1", "-dns01", "127.0.0.1:" .. dns_port,
        "-management", "127.0.0.1:" .. mgmt_port }, { log = clog })
      local up = proc.wait_until(function()
        if (proc.read(clog) or ""):find("address already in use", 1, true) then return "taken" end
        return sh(("curl -sf -o /dev/null -d '{\"host\":\"ready.\"}' http://127.0.0.1:%d/clear-txt")
          :format(mgmt_port)) == 0 and "up" or nil
      end, 10)
      if up == "up" then break end
      proc.stop(pid, "pebble-challtestsrv")
      pid = nil
      -- another run took a port between picking and binding: pick again
      assert(up == "taken" and attempt < 3, "second challtestsrv did not start: " .. (proc.read(clog) or ""))
    end
    finally(function() proc.stop(pid, "pebble-challtestsrv") end)
    local code, out, err = cb:run({ "certonly", "-a", "dns-challtestsrv", "--plugin-dir", "docs/examples",
      "--dns-challtestsrv-url", "http://127.0.0.1:" .. mgmt_port, "-d", "nowhere.example" })
    assert.equals(1, code, out .. err)
    assert.matches("Certbot failed to authenticate some domains %(authenticator: dns%-challtestsrv%)",
      out .. err)
    assert.falsy(cb:exists("live/nowhere.example"))
    local log = proc.read(clog)
    assert.matches('Added DNS%-01 TXT challenge for Host "_acme%-challenge%.nowhere%.example%."', log)
    assert.matches('Removed DNS%-01 TXT challenge for Host "_acme%-challenge%.nowhere%.example%."', log)
    local _, txt = sh(("dig +short -p %d @127.0.0.1 TXT _acme-challenge.nowhere.example"):format(dns_port))
    assert.equals("", txt)
  end)

  it("an unreachable provider fails before validation with one line naming it", function()
    local cb = new_cb()
    local url = "http://127.0.0.1:" .. proc.free_ports(1)
    local code, _, err = cb:run({ "certonly", "-a", "dns-challtestsrv", "--plugin-dir", "docs/examples",
      "--dns-challtestsrv-url", url, "-d", "unreachable.example" })
    assert.equals(1, code)
    assert.matches("POST " .. url:gsub("%p", "%%%0") .. "/set%-txt: [^\n]+\n$", err)
  end)
end)
