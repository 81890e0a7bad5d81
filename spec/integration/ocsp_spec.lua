-- OCSP revocation checks in renew and certificates, against a real Pebble
-- whose certificates name an OCSP responder (its ocspResponderURL) and a
-- real responder there (`openssl ocsp` with Pebble's intermediate as the
-- signer, spec/helpers/ocsp.lua), all on ports of this spec's own.
local core = require("certbot.core")
local helper = require("spec.helpers.certbot")
local ocsp_helper = require("spec.helpers.ocsp")
local pebble = require("spec.helpers.pebble")
local proc = require("spec.helpers.proc")

local sys = core.sys
local q = proc.quote

local function version(cb, name)
  local t = sys.readlink(cb.config_dir .. "/live/" .. name .. "/cert.pem")
  return tonumber(t and t:match("cert(%d+)%.pem$"))
end

-- the log of the last run
local function last_log(cb)
  return proc.read(cb.logs_dir .. "/letsencrypt.log") or ""
end

local function count(s, plain)
  local n, pos = 0, 1
  while true do
    local a, b = s:find(plain, pos, true)
    if not a then return n end
    n, pos = n + 1, b + 1
  end
end

-- The "Expiry Date:" line of a lineage in `certbot certificates` output.
local function expiry_line(out, name)
  local block = out:match("Certificate Name: " .. name:gsub("%p", "%%%0") .. "\n(.-)\n    Certificate Path:")
  return block and block:match("Expiry Date: ([^\n]*)")
end

describe("OCSP revocation checks against Pebble and an openssl responder #integration", function()
  local srv, ports, ocsp_port, url, dir, responder, int_cn

  -- Pebble on ports of its own, http-01 included; retried when another
  -- run took one of them in between.
  local function start_pebble()
    for attempt = 1, 3 do
      local a, m, d, c, h, t, o = proc.free_ports(7)
      ports = { acme = a, management = m, dns = d, challtestsrv = c, http01 = h, tlsalpn01 = t }
      ocsp_port, url = o, ("http://127.0.0.1:%d/"):format(o)
      local ok, s = pcall(pebble.start, { ports = ports, config = { ocspResponderURL = url } })
      if ok then return s end
      if attempt == 3 or not tostring(s):find("address already in use", 1, true) then error(s, 0) end
    end
  end

  local function fetch(path)
    local res = assert(srv.client:request("GET", srv.management .. path))
    assert.equal(200, res.status, path)
    return res.body
  end

  -- the responder answering with this signer (default: the intermediate)
  local function respond_as(signer)
    local entries = responder and responder.entries
    if responder then responder.stop() end
    responder = nil
    signer = signer or "int"
    responder = ocsp_helper.start({ port = ocsp_port, dir = dir, ca = dir .. "/int.pem",
      signer = dir .. "/" .. signer .. ".pem", key = dir .. "/" .. signer .. ".key", entries = entries })
    responder.signer = signer
  end

  setup(function()
    srv = start_pebble()
    dir = proc.tmpdir("ocsp-int-")
    assert(sys.write_atomic(dir .. "/int.pem", fetch("/intermediates/0"), 420))
    assert(sys.write_atomic(dir .. "/int.key", fetch("/intermediate-keys/0"), 384))
    int_cn = assert(core.crypto.parse_cert(proc.read(dir .. "/int.pem"))).cn
    respond_as("int")
  end)
  teardown(function()
    if responder then responder.stop() end
    if srv then srv.stop() end
    proc.rm_rf(dir)
  end)

  local cb
  before_each(function()
    cb = helper.new(srv)
    if not (responder and responder.signer == "int") then respond_as("int") end
  end)
  after_each(function() cb:cleanup() end)

  local function issue(name)
    local code, out, err = cb:run({ "certonly", "--standalone", "--http-01-port", tostring(ports.http01),
      "-d", name })
    assert.equal(0, code, out .. err)
    local pem = assert(proc.read(cb:live(name).cert))
    -- the real thing: Pebble put our responder in the certificate, and
    -- its issuer is the first certificate of chain.pem
    assert.same({ url }, core.ocsp.urls(pem))
    assert.equal(0, (helper.sh(("openssl verify -partial_chain -CAfile %s %s"):format(
      q(dir .. "/int.pem"), q(cb:live(name).cert)))))
    return pem
  end

  it("a good certificate: renew skips it after asking, certificates shows it VALID", function()
    local name = "good.example.org"
    responder.set(issue(name), "good")
    local before = responder.requests()

    local code, out, err = cb:run({ "renew" })
    assert.equal(0, code, out .. err)
    assert.matches("live/" .. name .. "/fullchain.pem expires on %d+%-%d+%-%d+ %(skipped%)", out)
    assert.matches("No renewals were attempted.", out, 1, true)
    assert.equal(1, version(cb, name))
    local log = last_log(cb)
    assert.matches(name .. ": not due (", log, 1, true)
    assert.matches(url .. " says good", log, 1, true)
    assert.equal(before + 1, responder.requests())

    code, out, err = cb:run({ "certificates" })
    assert.equal(0, code, out .. err)
    assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d%+00:00 %(VALID: %d+ days%)$", expiry_line(out, name))
    assert.equal(0, count(out .. err, "REVOKED"))
    assert.equal(before + 2, responder.requests())
  end)

  it("a revoked certificate: certificates shows INVALID: REVOKED, renew renews it and only it", function()
    local name, other = "rev.example.org", "fine.example.org"
    local pem = issue(name)
    responder.set(issue(other), "good")
    -- revoked at Pebble through our revoke, and so at the responder
    local code, out, err = cb:run({ "revoke", "--cert-name", name, "--no-delete-after-revoke",
      "--reason", "superseded" })
    assert.equal(0, code, out .. err)
    local serial = ocsp_helper.serial_of(pem)
    local status = fetch("/cert-status-by-serial/" .. serial:gsub("^0+", ""):lower())
    assert.matches('"Status": *"Revoked"', status)
    responder.set(pem, "revoked", { reason = "superseded" })

    code, out, err = cb:run({ "certificates" })
    assert.equal(0, code, out .. err)
    assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d%+00:00 %(INVALID: REVOKED%)$", expiry_line(out, name))
    assert.matches("%(VALID: %d+ days%)$", expiry_line(out, other))
    -- the word appears in that one place and nowhere else
    assert.equal(1, count(out .. err, "REVOKED"))

    code, out, err = cb:run({ "renew" })
    assert.equal(0, code, out .. err)
    assert.matches("Congratulations, all renewals succeeded:", out, 1, true)
    assert.matches("live/" .. name .. "/fullchain.pem (success)", out, 1, true)
    assert.matches("live/" .. other .. "/fullchain.pem expires on %d+%-%d+%-%d+ %(skipped%)", out)
    assert.equal(2, version(cb, name))
    assert.equal(1, version(cb, other))
    local log = last_log(cb)
    assert.matches(name .. ": due for renewal (certificate is revoked)", log, 1, true)
    assert.matches("OCSP: " .. name .. " is revoked at .- %(reason: superseded%) according to "
      .. url:gsub("%p", "%%%0"), log)
    assert.matches(other .. ": not due (", log, 1, true)

    -- the new certificate is one the responder does not know: no verdict
    code, out, err = cb:run({ "certificates" })
    assert.equal(0, code, out .. err)
    assert.matches("%(VALID: %d+ days%)$", expiry_line(out, name))
    assert.equal(0, count(out .. err, "REVOKED"))
    assert.matches(url .. " says unknown; not treating it as revoked", last_log(cb), 1, true)
  end)

  it("no responder answering: not treated as revoked", function()
    local name, name2 = "down.example.org", "down2.example.org"
    responder.set(issue(name), "revoked")
    responder.set(issue(name2), "revoked")
    responder.stop()
    responder = nil

    local code, out, err = cb:run({ "renew" })
    assert.equal(0, code, out .. err)
    assert.matches("live/" .. name .. "/fullchain.pem expires on %d+%-%d+%-%d+ %(skipped%)", out)
    assert.matches("live/" .. name2 .. "/fullchain.pem expires on %d+%-%d+%-%d+ %(skipped%)", out)
    assert.equal(1, version(cb, name))
    assert.equal(1, version(cb, name2))
    local log = last_log(cb)
    assert.matches("OCSP check failed for " .. name .. ": .*127%.0%.0%.1.*; not treating it as revoked", log)
    assert.matches(name .. ": not due (", log, 1, true)
    -- the second lineage names the same responder: not asked again
    assert.matches("OCSP check failed for " .. name2 .. ": " .. url:gsub("%p", "%%%0")
      .. " did not answer earlier in this run", log)

    code, out, err = cb:run({ "certificates" })
    assert.equal(0, code, out .. err)
    assert.matches("%(VALID: %d+ days%)$", expiry_line(out, name))
    assert.equal(0, count(out .. err, "REVOKED"))
  end)

  it("a response signed by another key under the intermediate's name: not treated as revoked", function()
    local name = "forged.example.org"
    local pem = issue(name)
    assert(helper.sh(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s "
      .. "-out %s -days 2 -subj %s"):format(q(dir .. "/forger.key"), q(dir .. "/forger.pem"),
      q("/CN=" .. int_cn))) == 0)
    respond_as("forger")
    responder.set(pem, "revoked")
    local before = responder.requests()

    local code, out, err = cb:run({ "renew" })
    assert.equal(0, code, out .. err)
    assert.matches("live/" .. name .. "/fullchain.pem expires on %d+%-%d+%-%d+ %(skipped%)", out)
    assert.equal(1, version(cb, name))
    assert.matches("OCSP check failed for " .. name .. ": .*signature failure; not treating it as revoked",
      last_log(cb))

    code, out, err = cb:run({ "certificates" })
    assert.equal(0, code, out .. err)
    assert.matches("%(VALID: %d+ days%)$", expiry_line(out, name))
    assert.equal(0, count(out .. err, "REVOKED"))
    -- the responder was asked both times: its answer was refused
    assert.equal(before + 2, responder.requests())
  end)
end)
