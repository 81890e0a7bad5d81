-- --apache end to end: the built client, a real Pebble, and a real Apache
-- (Debian's apache2) in a private server root on loopback ports.  Pebble
-- validates http-01 on the Apache's HTTP port.
local apache = require("spec.helpers.apache")
local helper = require("spec.helpers.certbot")
local pebble = require("spec.helpers.pebble")
local proc = require("spec.helpers.proc")
local sys = require("certbot.core").sys

local function args(web, list)
  local out = {}
  for _, a in ipairs(list) do out[#out + 1] = a end
  for _, a in ipairs(web:flags()) do out[#out + 1] = a end
  return out
end

local function fingerprint(pem)
  local f = os.tmpname()
  local h = assert(io.open(f, "w"))
  h:write(pem)
  h:close()
  local _, out = helper.sh("openssl x509 -noout -fingerprint -sha256 -in " .. proc.quote(f))
  os.remove(f)
  return out
end

describe("certbot --apache against Pebble and apache2 #integration", function()
  local web, srv, cb

  setup(function()
    web = apache.new({ layout = "debian" }):start()
    local acme, mgmt, dns, cts, alpn = proc.free_ports(5)
    srv = pebble.start({ ports = { acme = acme, management = mgmt, dns = dns, challtestsrv = cts,
      http01 = web.http_port, tlsalpn01 = alpn } })
  end)
  teardown(function()
    if srv then srv.stop() end
    if web then web:cleanup() end
  end)
  local pristine
  before_each(function()
    cb = helper.new(srv, { env = web:certbot_env() })
    pristine = web:snapshot()
  end)
  after_each(function()
    -- a test that failed half-way leaves its changes: undo them (the
    -- reverter in its work dir) so the next test starts clean
    if #apache.diff(pristine, web:snapshot()) > 0 then
      local config = { apache_server_root = web.root, https_port = web.https_port,
        work_dir = cb.work_dir, config_dir = cb.config_dir }
      local inst = require("certbot.plugins.apache").new(config)
      inst:recovery()
      inst:rollback(#require("certbot.reverter").new(config):checkpoints())
      inst:restart()
    end
    cb:cleanup()
  end)

  it("certonly --apache answers http-01 through the running server and changes nothing", function()
    local before = web:snapshot()
    local code, out, err = cb:run(args(web, { "certonly", "--apache", "-d", "a.example",
      "-d", "www.a.example" }))
    assert.equal(0, code, out .. err .. web:log())
    assert.truthy(out:find("Successfully received certificate", 1, true))
    assert.equal(0, (helper.verify_chain(cb, "a.example")))
    assert.same({}, apache.diff(before, web:snapshot()))
    local conf = cb:read("renewal/a.example.conf")
    assert.truthy(conf:find("\nauthenticator = apache\n", 1, true), conf)
    assert.truthy(conf:find("\napache_server_root = " .. web.root .. "\n", 1, true), conf)
    -- the challenge is gone from the server too
    assert.is_nil(sys.stat(web.root .. "/le_http_01_challenge.conf"))
    assert.equal(0, (web:ctl("configtest")))
  end)

  it("run --apache installs and enhances; rollback puts every byte back", function()
    local before = web:snapshot()
    local code, out, err = cb:run(args(web, { "run", "--apache", "-d", "b.example",
      "--redirect", "--hsts" }))
    assert.equal(0, code, out .. err .. web:log())
    assert.truthy(out:find("Congratulations! You have successfully enabled HTTPS on https://b.example",
      1, true), out)
    local live = cb:live("b.example")
    -- the HTTPS port serves the new certificate for b.example
    assert.is_true(web:wait_cert("b.example", cb:read("live/b.example/cert.pem")), web:log())
    assert.equal(fingerprint(proc.read(live.cert)), fingerprint(web:served_cert("b.example")))
    -- --redirect: 301 to https on the HTTPS port, and the TLS side is the site
    local status, headers = web:get("b.example", "/page?q=1")
    assert.equal(301, status)
    assert.equal(("https://b.example:%d/page?q=1"):format(web.https_port), headers.location)
    local tstatus, theaders, body = web:get_tls("b.example", "/")
    assert.equal(200, tstatus)
    assert.equal("site b\n", body)
    -- --hsts
    assert.equal("max-age=31536000", theaders["strict-transport-security"])

    -- config_changes lists what was done
    local ccode, cout, cerr = cb:run(args(web, { "config_changes", "--num", "5" }))
    assert.equal(0, ccode, cout .. cerr)
    assert.truthy(cout:find("b.example-le-ssl.conf", 1, true), cout)

    -- a renewal-style certonly through the same server passes the redirect
    local installed = web:snapshot()
    code, out, err = cb:run(args(web, { "certonly", "--apache", "-d", "b.example",
      "--force-renewal" }))
    assert.equal(0, code, out .. err .. web:log())
    assert.same({}, apache.diff(installed, web:snapshot()))

    -- renew: validates through the redirect, redeploys, reloads; the
    -- configuration already names the live/ paths, so no file changes
    local first = fingerprint(web:served_cert("b.example"))
    code, out, err = cb:run(args(web, { "renew", "--cert-name", "b.example", "--force-renewal" }))
    assert.equal(0, code, out .. err .. web:log())
    assert.is_true(web:wait_cert("b.example", cb:read("live/b.example/cert.pem")), web:log())
    assert.is_not.equal(first, fingerprint(web:served_cert("b.example")))
    assert.same({}, apache.diff(installed, web:snapshot()))

    -- rollback of both checkpoints (install, enhancements)
    code, out, err = cb:run(args(web, { "rollback", "--apache", "--checkpoints", "2" }))
    assert.equal(0, code, out .. err)
    assert.same({}, apache.diff(before, web:snapshot()))
    local tcode, tout = web:ctl("configtest")
    assert.equal(0, tcode, tout)
    assert.truthy(proc.wait_until(function() return web:served_cert("b.example") == nil end, 10, 0.1))
    assert.equal(200, (web:get("b.example", "/")))
  end)

  it("rolls a change Apache refuses back: the server keeps serving, exit 1", function()
    -- the TLS options file is written once and kept: one with a directive
    -- Apache does not know breaks every vhost that includes it
    assert(sys.mkdir(cb.config_dir, 448, true))
    assert(sys.write_atomic(cb.config_dir .. "/options-ssl-apache.conf",
      "NoSuchDirective on\n", 420))
    local before = web:snapshot()
    local code, out, err = cb:run(args(web, { "run", "--apache", "-d", "a.example",
      "--no-redirect" }))
    assert.equal(1, code, out .. err)
    assert.truthy(err:find("configtest", 1, true), err)
    assert.truthy(err:find("NoSuchDirective", 1, true), err)
    assert.truthy(err:find("successfully restored your server to its prior configuration", 1, true), err)
    assert.same({}, apache.diff(before, web:snapshot()))
    assert.is_true(web:running())
    local status, _, body = web:get("a.example", "/")
    assert.equal(200, status)
    assert.equal("site a\n", body)
    assert.equal(0, (web:ctl("configtest")))
    -- the certificate was issued and kept; only the install was undone
    assert.truthy(cb:exists("live/a.example/fullchain.pem"))
  end)

  it("validates a name only an available site has, then installs into that site", function()
    local before = web:snapshot()
    -- no enabled vhost names c.example: the challenge goes into all of them
    local code, out, err = cb:run(args(web, { "certonly", "--apache", "-d", "c.example" }))
    assert.equal(0, code, out .. err .. web:log())
    assert.same({}, apache.diff(before, web:snapshot()))
    code, out, err = cb:run(args(web, { "install", "--apache", "--cert-name", "c.example",
      "--no-redirect" }))
    assert.equal(0, code, out .. err .. web:log())
    assert.equal("../sites-available/c.example-le-ssl.conf",
      sys.readlink(web.root .. "/sites-enabled/c.example-le-ssl.conf"))
    assert.is_true(web:wait_cert("c.example", cb:read("live/c.example/cert.pem")), web:log())
    local status, _, body = web:get_tls("c.example", "/")
    assert.equal(200, status)
    assert.equal("site c\n", body)
    code, out, err = cb:run(args(web, { "rollback", "--apache" }))
    assert.equal(0, code, out .. err)
    assert.same({}, apache.diff(before, web:snapshot()))
  end)
end)
