-- The nginx plugin through build/certbot against a real Pebble and a real
-- nginx (spec/helpers/nginx.lua: own root, loopback high ports).  Pebble
-- validates http-01 on the nginx HTTP port: certonly --nginx passes
-- through the running server and leaves its configuration byte-identical;
-- run --nginx makes the HTTPS port serve the new certificate, with
-- --redirect and --hsts; a broken change is rolled back automatically;
-- rollback restores the originals.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local nginx = require("spec.helpers.nginx")
local proc = require("spec.helpers.proc")

local q = proc.quote
local sys = require("certbot.core").sys

local function fingerprint_file(path)
  local _, out = nginx.sh("openssl x509 -noout -fingerprint -sha256 -in " .. q(path))
  return out
end

local function fingerprint(pem)
  local f = os.tmpname()
  nginx.write(f, pem)
  local out = fingerprint_file(f)
  os.remove(f)
  return out
end

local function same_snapshot(a, b)
  for k, v in pairs(a) do
    if b[k] ~= v then return false, "changed: " .. k end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, "new: " .. k end
  end
  return true
end

describe("nginx plugin against Pebble #integration", function()
  local srv, ng, cb

  setup(function()
    -- Pebble's http-01 port is the nginx HTTP port
    local http, https, acme, mgmt, dns, chall, tlsalpn = nginx.ports(7)
    ng = nginx.new({ http = http, https = https, sites = {
      ["00-default"] = ("server {\n    listen 127.0.0.1:%d default_server;\n    server_name _;\n"
        .. "    return 404;\n}\n"):format(http),
      ["a.example"] = nginx.site(http, "a.example", "site a"),
      ["b.example"] = nginx.site(http, "b.example", "site b"),
    } })
    ng:start()
    -- no authorization reuse: every order validates through nginx again
    srv = pebble.start({ env = { PEBBLE_AUTHZREUSE = "0" }, ports = { acme = acme, management = mgmt,
      dns = dns, challtestsrv = chall, http01 = http, tlsalpn01 = tlsalpn } })
  end)

  teardown(function()
    if srv then srv.stop() end
    if ng then ng:cleanup() end
  end)

  before_each(function() cb = helper.new(srv) end)
  after_each(function() cb:cleanup() end)

  local function run(args)
    local code, out, err = cb:run(ng:args(args))
    return code, out or "", err or ""
  end

  local function serves(name, live)
    local want = fingerprint_file(live.cert)
    return nginx.eventually(function()
      local pem = ng:served_cert(name)
      return pem and fingerprint(pem) == want
    end, 10)
  end

  it("certonly --nginx passes http-01 through the running nginx and changes no byte", function()
    local before = ng:snapshot()
    -- a.example has a block; c.example has none (a temporary block answers)
    local code, out, err = run({ "certonly", "--nginx", "-d", "a.example", "-d", "c.example" })
    assert.equal(0, code, out .. err)
    assert.matches("Successfully received certificate", out)
    local vcode, vout = helper.verify_chain(cb, "a.example")
    assert.equal(0, vcode, vout)
    assert(same_snapshot(before, ng:snapshot()))
    assert.is_true(ng:alive())
    -- Pebble fetched the challenges from nginx
    local access = ng:read("logs/access.log") or ""
    assert.matches("GET /%.well%-known/acme%-challenge/[%w_-]+ HTTP/1%.1\" 200", access)
    -- nothing is left in the reverter's temporary checkpoint
    assert.is_nil(sys.stat(cb.work_dir .. "/temp_checkpoint"))
  end)

  it("run --nginx serves the new certificate; --redirect and --hsts; rollback restores", function()
    local before = ng:snapshot()
    local code, out, err = run({ "run", "--nginx", "-d", "a.example", "--no-redirect" })
    assert.equal(0, code, out .. err)
    assert.matches("Successfully deployed certificate for a%.example to .*sites%-enabled/a%.example", out)
    local live = cb:live("a.example")
    assert(serves("a.example", live), "the HTTPS port does not serve the new certificate")
    assert.equal(200, (ng:get("a.example", "/", "https")))
    assert.equal(200, (ng:get("a.example", "/"))) -- no redirect asked
    local code_t, out_t = ng:test()
    assert.equal(0, code_t, out_t)

    -- again with --redirect --hsts: the same certificate, now enhanced
    code, out, err = run({ "run", "--nginx", "-d", "a.example", "--redirect", "--hsts" })
    assert.equal(0, code, out .. err)
    local status, headers
    assert(nginx.eventually(function()
      status, headers = ng:get("a.example", "/page?q=1")
      return status == 301
    end), "no redirect")
    assert.equal(("https://a.example:%d/page?q=1"):format(ng.https), headers.location)
    status, headers = ng:get("a.example", "/page", "https")
    assert.equal(200, status)
    assert.equal("max-age=31536000", headers["strict-transport-security"])
    assert.is_nil(select(2, ng:get("b.example", "/"))["strict-transport-security"])
    assert(serves("a.example", live))

    -- a renewal validates through the redirecting block, redeploys and
    -- reloads; the configuration stays as it was
    local enhanced = ng:snapshot()
    code, out, err = run({ "renew", "--force-renewal", "--cert-name", "a.example" })
    assert.equal(0, code, out .. err)
    assert.equal("../../archive/a.example/cert2.pem", sys.readlink(live.cert))
    assert(serves("a.example", live), "the renewed certificate is not served")
    assert(same_snapshot(enhanced, ng:snapshot()))

    -- config_changes lists what was done; rollback undoes all of it
    code, out = run({ "config_changes" })
    assert.equal(0, code, out)
    assert.matches("a%.example", out)
    code, out, err = run({ "rollback", "--nginx", "--checkpoints", "10" })
    assert.equal(0, code, out .. err)
    assert(same_snapshot(before, ng:snapshot()))
    code_t, out_t = ng:test()
    assert.equal(0, code_t, out_t)
    assert(nginx.eventually(function() return ng:get("a.example", "/") == 200 end))
    assert.is_nil(ng:served_cert("a.example"))
  end)

  it("a change nginx refuses is rolled back: exit 1, same files, nginx still serves", function()
    local before = ng:snapshot()
    -- the admin's options file has a syntax error: including it breaks nginx -t
    sys.mkdir(cb.config_dir, 448)
    nginx.write(cb.config_dir .. "/options-ssl-nginx.conf", "ssl_protocols TLSv1.2\n")
    local code, out, err = run({ "run", "--nginx", "-d", "b.example", "--no-redirect" })
    assert.equal(1, code, out .. err)
    assert.matches("nginx %-t", err)
    assert.matches("restored your server to its prior configuration", err)
    assert(same_snapshot(before, ng:snapshot()))
    assert.is_true(ng:alive())
    local status, _, body = ng:get("b.example", "/")
    assert.same({ 200, "site b\n" }, { status, body })
    local code_t, out_t = ng:test()
    assert.equal(0, code_t, out_t)
  end)
end)
