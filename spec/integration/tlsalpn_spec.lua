-- tls-alpn-01 with the standalone plugin against a real Pebble, which
-- validates on port 5001 (TESTPLAN F4).
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local sys = require("certbot.core").sys

local sh, q = helper.sh, proc.quote

-- cb:run with a retry while another spec run holds one of Pebble's
-- validation ports for a moment.
local function run(cb, args)
  local code, out, err
  for _ = 1, 40 do
    code, out, err = cb:run(args)
    if code == 0 or not (err or ""):find("could not bind to 127.0.0.1:500[12]") then break end
    sys.sleep(0.5)
  end
  return code, out or "", err or ""
end

local function certonly_tls(cb, names, extra)
  local args = { "certonly", "--standalone", "--preferred-challenges", "tls-alpn-01",
    "--tls-alpn-01-port", "5001", "--tls-alpn-01-address", "127.0.0.1" }
  for _, d in ipairs(names) do
    args[#args + 1] = "-d"
    args[#args + 1] = d
  end
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  return run(cb, args)
end

-- The SAN DNS names of a PEM certificate file, sorted.
local function sans(path)
  local _, out = sh(("openssl x509 -noout -ext subjectAltName -in %s"):format(q(path)))
  local t = {}
  for n in out:gmatch("DNS:([^,%s]+)") do t[#t + 1] = n end
  table.sort(t)
  return t
end

describe("tls-alpn-01 against Pebble #integration", function()
  local srv, cb

  setup(function()
    srv = pebble.start({ ports = "auto", env = { PEBBLE_AUTHZREUSE = "0" } }) -- renewals validate again
  end)
  teardown(function()
    if srv then srv.stop() end
  end)
  before_each(function() cb = helper.new(srv) end)
  after_each(function() cb:cleanup() end)

  it("issues for one name via tls-alpn-01 and renews the same way", function()
    local code, out, err = certonly_tls(cb, { "one.example.org" })
    assert.equal(0, code, out .. err)
    assert.matches("Successfully received certificate", out)
    local p = cb:live("one.example.org")
    assert.same({ "one.example.org" }, sans(p.cert))
    local vcode, vout = helper.verify_chain(cb, "one.example.org")
    assert.equal(0, vcode, vout)
    -- the run used tls-alpn-01 (the log names the challenge it performed)
    local log = proc.read(cb.logs_dir .. "/letsencrypt.log") or ""
    assert.matches("tls%-alpn%-01 challenge for one%.example%.org", log)
    -- the renewal conf remembers the choice and the responder's settings
    local conf = cb:read("renewal/one.example.org.conf")
    -- a one-element list, as configobj writes it
    assert.matches("\npref_challs = tls%-alpn%-01,\n", conf)
    assert.matches("\ntls_alpn01_port = 5001\n", conf)
    local serial1 = select(2, sh("openssl x509 -noout -serial -in " .. q(p.cert)))
    -- renew --force-renewal repeats it
    code, out, err = run(cb, { "renew", "--force-renewal", "--cert-name", "one.example.org" })
    assert.equal(0, code, out .. err)
    assert.equal("../../archive/one.example.org/cert2.pem", sys.readlink(p.cert))
    assert.are_not.equal(serial1, select(2, sh("openssl x509 -noout -serial -in " .. q(p.cert))))
    -- each run starts a fresh log (the certonly one is now letsencrypt.log.1)
    assert.truthy(sys.lstat(cb.logs_dir .. "/letsencrypt.log.1"))
    log = proc.read(cb.logs_dir .. "/letsencrypt.log") or ""
    assert.matches("tls%-alpn%-01 challenge for one%.example%.org", log)
    assert.not_matches("http%-01 challenge for", log)
  end)

  it("validates several names in one order", function()
    local names = { "a.tls.example.org", "b.tls.example.org", "c.tls.example.org" }
    local code, out, err = certonly_tls(cb, names)
    assert.equal(0, code, out .. err)
    assert.same(names, sans(cb:live("a.tls.example.org").cert))
  end)

  it("names the address and port when 5001 is taken", function()
    local holder = assert(require("certbot.core").standalone.tlsalpn01({ address = "127.0.0.1",
      port = 0 }))
    local port = select(2, holder:address())
    local code, out, err = cb:run({ "certonly", "--standalone", "--preferred-challenges",
      "tls-alpn-01", "--tls-alpn-01-port", tostring(port), "--tls-alpn-01-address", "127.0.0.1",
      "-d", "busy.example.org" })
    holder:stop()
    assert.equal(1, code, out .. err)
    assert.matches(("could not bind to 127.0.0.1:%d"):format(port), err, 1, true)
  end)
end)
