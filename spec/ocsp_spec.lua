-- core.ocsp (csrc/ocsp.c) and certbot.ocsp against real OpenSSL: requests
-- read back by `openssl ocsp -req_text`, responses made by `openssl ocsp`
-- in responder mode from an index (and, for validity windows openssl
-- cannot backdate, by Debian's python3-cryptography), and revoked()
-- against a responder on loopback.
local core = require("certbot.core")
local ocsp = require("certbot.ocsp")
local proc = require("spec.helpers.proc")
local responder = require("spec.helpers.ocsp")

local coreocsp, crypto, sys = core.ocsp, core.crypto, core.sys
local q = proc.quote

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

local function must(cmd)
  local ok, out = sh(cmd)
  assert(ok, cmd .. "\n" .. out)
  return out
end

local EXT = [[
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign,digitalSignature
[leaf]
basicConstraints=critical,CA:FALSE
subjectAltName=DNS:leaf.example
authorityInfoAccess=OCSP;URI:%s,caIssuers;URI:http://127.0.0.1:9/ca.der
[plain]
basicConstraints=critical,CA:FALSE
subjectAltName=DNS:plain.example
authorityInfoAccess=caIssuers;URI:http://127.0.0.1:9/ca.der
[responder]
basicConstraints=critical,CA:FALSE
extendedKeyUsage=OCSPSigning
[noeku]
basicConstraints=critical,CA:FALSE
]]

describe("OCSP #core", function()
  local dir, port, url
  local pem = {}

  local function path(n) return dir .. "/" .. n end

  local function read(n) return assert(proc.read(path(n))) end

  -- a response to req.der from `openssl ocsp` with this index and signer
  local function respond(index_lines, signer, extra)
    local f = assert(io.open(path("idx.txt"), "w"))
    f:write(table.concat(index_lines))
    f:close()
    local f2 = assert(io.open(path("idx.txt.attr"), "w"))
    f2:write("unique_subject = no\n")
    f2:close()
    os.remove(path("resp.der"))
    must(("openssl ocsp -index %s -CA %s -rsigner %s -rkey %s -reqin %s -respout %s %s"):format(
      q(path("idx.txt")), q(path("int.pem")), q(path(signer .. ".pem")), q(path(signer .. ".key")),
      q(path("req.der")), q(path("resp.der")), extra or "-nmin 5"))
    return read("resp.der")
  end

  local function serial(n) return responder.serial_of(pem[n]) end
  local function good(n) return ("V\t491231235959Z\t\t%s\tunknown\t/CN=%s\n"):format(serial(n), n) end
  local function revoked(n, when, reason)
    return ("R\t491231235959Z\t%s%s\t%s\tunknown\t/CN=%s\n"):format(when, reason and "," .. reason or "",
      serial(n), n)
  end

  setup(function()
    dir = proc.tmpdir("ocsp-spec-")
    port = proc.free_ports(1)
    url = ("http://127.0.0.1:%d/"):format(port)
    local f = assert(io.open(path("ext.cnf"), "w"))
    f:write(EXT:format(url))
    f:close()
    local ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
    must(("openssl req -x509 %s -keyout %s -out %s -subj /CN=spec-root -days 2 "
      .. "-addext basicConstraints=critical,CA:TRUE"):format(ec, q(path("root.key")), q(path("root.pem"))))
    local function issue(n, ca, ext)
      must(("openssl req %s -keyout %s -out %s -subj /CN=%s"):format(ec, q(path(n .. ".key")),
        q(path(n .. ".csr")), n))
      must(("openssl x509 -req -in %s -CA %s -CAkey %s -set_serial 0x%s -days 2 -extfile %s "
        .. "-extensions %s -out %s"):format(q(path(n .. ".csr")), q(path(ca .. ".pem")), q(path(ca .. ".key")),
        ("%08x%06x"):format(math.random(0x10000000, 0x7fffffff), math.random(0, 0xffffff)),
        q(path("ext.cnf")), ext, q(path(n .. ".pem"))))
      pem[n] = read(n .. ".pem")
    end
    issue("int", "root", "ca")
    issue("leaf", "int", "leaf")
    issue("plain", "int", "plain")
    issue("responder", "int", "responder")
    issue("noeku", "int", "noeku")
    -- a self-signed CA under the intermediate's own name, and one under another
    must(("openssl req -x509 %s -keyout %s -out %s -subj /CN=int -days 2 "
      .. "-addext basicConstraints=critical,CA:TRUE"):format(ec, q(path("samename.key")), q(path("samename.pem"))))
    must(("openssl req -x509 %s -keyout %s -out %s -subj /CN=stranger -days 2 "
      .. "-addext basicConstraints=critical,CA:TRUE"):format(ec, q(path("stranger.key")), q(path("stranger.pem"))))
    pem.root = read("root.pem")
    must(("openssl ocsp -issuer %s -cert %s -no_nonce -reqout %s"):format(q(path("int.pem")),
      q(path("leaf.pem")), q(path("req.der"))))
  end)

  teardown(function() proc.rm_rf(dir) end)

  describe("has_url and urls", function()
    it("find the id-ad-ocsp responder of a certificate, in PEM or DER, without a parse", function()
      assert.is_true(coreocsp.has_url(pem.leaf))
      assert.is_true(coreocsp.has_url(crypto.pem_to_der(pem.leaf)))
      assert.is_true(ocsp.may_have_url(pem.leaf))
      assert.is_true(ocsp.may_have_url(crypto.pem_to_der(pem.leaf)))
      assert.same({ url }, coreocsp.urls(pem.leaf))
      assert.same({ url }, coreocsp.urls(crypto.pem_to_der(pem.leaf)))
    end)

    it("say no for a certificate whose AIA names only its issuer", function()
      assert.is_false(coreocsp.has_url(pem.plain))
      assert.is_false(coreocsp.has_url(crypto.pem_to_der(pem.plain)))
      assert.is_false(ocsp.may_have_url(pem.plain))
      assert.is_false(ocsp.may_have_url(crypto.pem_to_der(pem.plain)))
      assert.is_false(ocsp.may_have_url(nil))
      assert.same({}, coreocsp.urls(pem.plain))
    end)

    it("has_url reads the first CERTIFICATE block, wherever the PEM puts it", function()
      local crlf = pem.leaf:gsub("\n", "\r\n")
      assert.is_true(coreocsp.has_url("junk before\n" .. crlf))
      assert.is_false(coreocsp.has_url(pem.plain .. pem.leaf))
      assert.is_true(coreocsp.has_url(pem.leaf .. pem.plain))
    end)

    it("has_url cannot tell for input that is not a certificate, so it does not say no", function()
      assert.is_true(coreocsp.has_url("garbage"))
      assert.is_true(coreocsp.has_url("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"))
    end)

    it("urls of garbage: nil and why", function()
      local v, err = coreocsp.urls("garbage")
      assert.is_nil(v)
      assert.matches("^ocsp.urls: certificate: neither PEM nor DER", err)
      v, err = coreocsp.urls("\x30\x03\x02\x01\x01")
      assert.is_nil(v)
      assert.matches("^ocsp.urls: certificate: ", err)
      v, err = coreocsp.urls("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
      assert.is_nil(v)
      assert.matches("^ocsp.urls: certificate: ", err)
    end)
  end)

  describe("request", function()
    it("is the DER openssl makes for the same certificate and issuer, without a nonce", function()
      local der = assert(coreocsp.request(pem.leaf, pem.int))
      assert.equal(read("req.der"), der)
      -- and from DER inputs, and with the whole chain as the issuer
      assert.equal(der, coreocsp.request(crypto.pem_to_der(pem.leaf), pem.int .. pem.root))
      local f = assert(io.open(path("ours.der"), "wb"))
      f:write(der)
      f:close()
      local text = must("openssl ocsp -req_text -reqin " .. q(path("ours.der")))
      assert.matches("Hash Algorithm: sha1", text, 1, true)
      assert.matches("Serial Number: " .. serial("leaf"), text, 1, true)
      assert.not_matches("Nonce", text)
      local one = select(2, text:gsub("Certificate ID:", ""))
      assert.equal(1, one)
    end)

    it("refuses an issuer that did not issue the certificate", function()
      local v, err = coreocsp.request(pem.leaf, pem.root)
      assert.is_nil(v)
      assert.equal("ocsp.request: the issuer given did not issue the certificate", err)
      v, err = coreocsp.request(pem.leaf, read("samename.pem"))
      assert.is_nil(v)
      assert.equal("ocsp.request: the issuer given did not issue the certificate", err)
    end)

    it("garbage: nil and why", function()
      local v, err = coreocsp.request("garbage", pem.int)
      assert.is_nil(v)
      assert.matches("^ocsp.request: certificate: ", err)
      v, err = coreocsp.request(pem.leaf, "")
      assert.is_nil(v)
      assert.matches("^ocsp.request: issuer: ", err)
    end)
  end)

  describe("check", function()
    local function check(der, opts, cert)
      return coreocsp.check(der, cert or pem.leaf, pem.int, opts or { skew = 300 })
    end

    it("good", function()
      assert.same({ "good" }, { check(respond({ good("leaf") }, "int")) })
      -- no certificates in the response: the issuer is offered as the signer
      assert.same({ "good" }, { check(respond({ good("leaf") }, "int", "-nmin 5 -resp_no_certs")) })
    end)

    it("revoked, with the time and the reason", function()
      local status, rtime, reason = check(respond({ revoked("leaf", "260102030405Z", "keyCompromise") }, "int"))
      assert.equal("revoked", status)
      assert.equal("keyCompromise", reason)
      assert.equal("260102030405Z", os.date("!%y%m%d%H%M%SZ", rtime))
      status, rtime, reason = check(respond({ revoked("leaf", "260102030405Z") }, "int"))
      assert.equal("revoked", status)
      assert.is_number(rtime)
      assert.is_nil(reason)
    end)

    it("unknown, when the responder does not know the serial", function()
      assert.same({ "unknown" }, { check(respond({ good("plain") }, "int")) })
    end)

    it("accepts a delegated responder the issuer certified for OCSP signing", function()
      assert.same({ "good" }, { check(respond({ good("leaf") }, "responder")) })
    end)

    it("refuses a responder certificate without the OCSP signing usage", function()
      local v, err = check(respond({ revoked("leaf", "260102030405Z") }, "noeku"))
      assert.is_nil(v)
      assert.matches("^ocsp response: not signed by the issuer or its responder: .*missing ocspsigning usage", err)
    end)

    it("refuses a response signed by another key under the issuer's own name", function()
      local v, err = check(respond({ revoked("leaf", "260102030405Z") }, "samename"))
      assert.is_nil(v)
      assert.equal("ocsp response: not signed by the issuer or its responder: signature failure", err)
      v, err = check(respond({ revoked("leaf", "260102030405Z") }, "samename", "-nmin 5 -resp_no_certs"))
      assert.is_nil(v)
      assert.equal("ocsp response: not signed by the issuer or its responder: signature failure", err)
    end)

    it("refuses a response signed by a CA the issuer has nothing to do with", function()
      local v, err = check(respond({ revoked("leaf", "260102030405Z") }, "stranger"))
      assert.is_nil(v)
      assert.matches("^ocsp response: not signed by the issuer or its responder: certificate verify error", err)
      -- nor does a signer the chain's root vouches for count: only the issuer
      v, err = coreocsp.check(respond({ revoked("leaf", "260102030405Z") }, "root"), pem.leaf, pem.int .. pem.root,
        { skew = 300 })
      assert.is_nil(v)
      assert.matches("^ocsp response: not signed by the issuer or its responder: ", err)
    end)

    it("says when the response is about another certificate", function()
      local v, err = check(respond({ good("leaf") }, "int"), nil, pem.plain)
      assert.is_nil(v)
      assert.equal("ocsp response: no status for this certificate", err)
    end)

    it("garbage, empty, truncated and unsuccessful responses: nil and why", function()
      local good_der = respond({ good("leaf") }, "int")
      for _, bad in ipairs({ "garbage", good_der:sub(1, -2), good_der .. "x", "\x30\x00" }) do
        local v, err = check(bad)
        assert.is_nil(v)
        assert.matches("^ocsp response: ", err)
      end
      assert.same({ nil, "ocsp response: empty" }, { check("") })
      -- OCSPResponse { responseStatus tryLater }
      assert.same({ nil, "ocsp response: the responder answered trylater" }, { check("\x30\x03\x0a\x01\x03") })
      assert.same({ nil, "ocsp response: the responder answered unauthorized" }, { check("\x30\x03\x0a\x01\x06") })
    end)

    it("checks thisUpdate and nextUpdate, with the clock skew given", function()
      -- openssl cannot backdate a response; python3-cryptography can
      local py = [[
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
d, this_off, next_off = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
load = lambda n: x509.load_pem_x509_certificate(open(d + "/" + n, "rb").read())
cert, issuer = load("leaf.pem"), load("int.pem")
key = serialization.load_pem_private_key(open(d + "/int.key", "rb").read(), None)
now = datetime.datetime.utcnow()
b = ocsp.OCSPResponseBuilder().add_response(
    cert=cert, issuer=issuer, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.REVOKED,
    this_update=now + datetime.timedelta(seconds=this_off),
    next_update=now + datetime.timedelta(seconds=next_off),
    revocation_time=now - datetime.timedelta(days=1), revocation_reason=None,
).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
sys.stdout.buffer.write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
]]
      local f = assert(io.open(path("mkresp.py"), "w"))
      f:write(py)
      f:close()
      local function make(this_off, next_off)
        local p = assert(io.popen(("/usr/bin/python3 %s %s %d %d"):format(q(path("mkresp.py")), q(dir),
          this_off, next_off)))
        local der = p:read("a")
        assert(p:close(), "python3-cryptography failed")
        return der
      end
      -- fresh: revoked (and by key hash, not by name)
      assert.equal("revoked", (check(make(-60, 3600))))
      -- nextUpdate an hour ago: stale, whatever the skew
      local v, err = check(make(-7200, -3600))
      assert.is_nil(v)
      assert.equal("ocsp response: outside its validity period: status expired", err)
      -- nextUpdate two minutes ago: within 300 s of skew, not within 0
      assert.equal("revoked", (check(make(-7200, -120), { skew = 300 })))
      v, err = check(make(-7200, -120), { skew = 0 })
      assert.is_nil(v)
      assert.equal("ocsp response: outside its validity period: status expired", err)
      -- thisUpdate an hour ahead: not yet valid
      v, err = check(make(3600, 7200))
      assert.is_nil(v)
      assert.equal("ocsp response: outside its validity period: status not yet valid", err)
      -- no nextUpdate, and maxage
      local none = respond({ good("leaf") }, "int", "")
      assert.equal("good", (check(none)))
      sys.sleep(1.1)
      v, err = check(none, { skew = 0, maxage = 0 })
      assert.is_nil(v)
      assert.equal("ocsp response: outside its validity period: status too old", err)
    end)

    it("misuse raises", function()
      assert.has_error(function() coreocsp.check("x", pem.leaf, pem.int, { skew = -1 }) end)
      assert.has_error(function() coreocsp.check("x", pem.leaf, pem.int, "skew") end)
      assert.has_error(function() coreocsp.request(nil, pem.int) end)
    end)
  end)

  describe("certbot.ocsp.revoked against a responder", function()
    local r
    local lines = {}
    local logger = {
      info = function(fmt, ...) lines[#lines + 1] = "info: " .. fmt:format(...) end,
      debug = function(fmt, ...) lines[#lines + 1] = "debug: " .. fmt:format(...) end,
    }
    local function logged() return table.concat(lines, "\n") end

    before_each(function()
      lines = {}
      r = responder.start({ port = port, ca = path("int.pem"), signer = path("int.pem"), key = path("int.key") })
    end)
    after_each(function() if r then r.stop() end end)

    it("good: not revoked", function()
      r.set(pem.leaf, "good")
      local yes, why = ocsp.revoked(pem.leaf, pem.int .. pem.root, { log = logger, name = "leaf" })
      assert.is_false(yes)
      assert.equal(url .. " says good", why)
      assert.equal(1, r.requests())
    end)

    it("revoked: true, with when and why", function()
      r.set(pem.leaf, "revoked", { reason = "keyCompromise", time = 1767322800 })
      local yes, why = ocsp.revoked(pem.leaf, pem.int, { log = logger, name = "leaf" })
      assert.is_true(yes)
      assert.equal("revoked at 2026-01-02 03:00:00 UTC (reason: keyCompromise) according to " .. url, why)
      assert.matches("info: OCSP: leaf is revoked at", logged(), 1, true)
    end)

    it("unknown: not revoked, and logged", function()
      r.set(pem.plain, "revoked")
      local yes, why = ocsp.revoked(pem.leaf, pem.int, { log = logger, name = "leaf" })
      assert.is_false(yes)
      assert.equal(url .. " says unknown", why)
      assert.matches("info: OCSP: leaf: " .. url .. " says unknown; not treating it as revoked", logged(), 1, true)
    end)

    it("a certificate without a responder costs no request", function()
      local yes, why = ocsp.revoked(pem.plain, pem.int, { log = logger })
      assert.is_false(yes)
      assert.equal("no OCSP responder URL in the certificate", why)
      assert.equal(0, r.requests())
    end)

    it("a response signed by the wrong key: not revoked", function()
      r.stop()
      r = responder.start({ port = port, ca = path("int.pem"), signer = path("samename.pem"),
        key = path("samename.key") })
      r.set(pem.leaf, "revoked")
      local yes, why = ocsp.revoked(pem.leaf, pem.int, { log = logger, name = "leaf" })
      assert.is_false(yes)
      assert.equal("OCSP check failed: " .. url .. ": ocsp response: not signed by the issuer or its "
        .. "responder: signature failure", why)
      assert.matches("info: OCSP check failed for leaf: .*; not treating it as revoked", logged())
      assert.equal(1, r.requests())
    end)

    it("no responder listening: not revoked, and quickly", function()
      r.set(pem.leaf, "revoked")
      r.stop()
      r = nil
      local t0 = sys.monotonic()
      local yes, why = ocsp.revoked(pem.leaf, pem.int, { log = logger, name = "leaf" })
      assert.is_false(yes)
      assert.matches("^OCSP check failed: .*%(are we offline%?%)$", why)
      assert.is_true(sys.monotonic() - t0 < 5)
    end)

    it("a responder that never answers: not revoked, after the timeout", function()
      r.stop()
      r = nil
      -- a listener that accepts connections into its backlog and says nothing
      local pid = proc.spawn({ "/usr/bin/python3", "-c", ("import socket, time\ns = socket.socket()\n"
        .. "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', %d))\n"
        .. "s.listen(8)\nprint('listening', flush=True)\ntime.sleep(60)\n"):format(port) },
        { log = path("silent.log") })
      local ok, e = pcall(function()
        assert(proc.wait_until(function() return (proc.read(path("silent.log")) or ""):find("listening") end, 10))
        local down = {}
        local t0 = sys.monotonic()
        local yes, why = ocsp.revoked(pem.leaf, pem.int, { log = logger, name = "leaf", timeout = 1, down = down })
        local took = sys.monotonic() - t0
        assert.is_false(yes)
        assert.matches("^OCSP check failed: .*[Tt]imeout", why)
        assert.is_true(took >= 0.9 and took < 5, "took " .. took)
        -- with the same `down`, that responder is not asked again in the run
        assert.is_string(down[url])
        t0 = sys.monotonic()
        yes, why = ocsp.revoked(pem.leaf, pem.int, { log = logger, name = "leaf", timeout = 1, down = down })
        assert.is_false(yes)
        assert.matches("did not answer earlier in this run (", why, 1, true)
        assert.is_true(sys.monotonic() - t0 < 0.5)
      end)
      proc.stop(pid, "python3")
      assert(ok, e)
    end)

    it("an HTTP error from the responder: not revoked", function()
      r.stop()
      -- a key that does not exist: openssl fails, the front answers 500
      r = responder.start({ port = port, ca = path("int.pem"), signer = path("int.pem"), key = path("nope.key") })
      r.set(pem.leaf, "revoked")
      local yes, why = ocsp.revoked(pem.leaf, pem.int, { log = logger, name = "leaf" })
      assert.is_false(yes)
      assert.equal("OCSP check failed: " .. url .. ": HTTP status 500", why)
    end)

    it("lineage_revoked reads the issuer from the lineage's chain, and only when there is a responder", function()
      r.set(pem.leaf, "revoked", { reason = "superseded" })
      local reads = {}
      local lineage = { name = "lin", read = function(_, kind, v)
        reads[#reads + 1] = kind .. ":" .. tostring(v)
        if v == 7 then return nil, "archive/lin/chain7.pem: No such file or directory" end
        return pem.int .. pem.root
      end }
      local yes, why = ocsp.lineage_revoked(lineage, pem.leaf, 3, { log = logger })
      assert.is_true(yes)
      assert.matches("^revoked at .* %(reason: superseded%)", why)
      assert.matches("info: OCSP: lin is revoked at", logged(), 1, true)
      assert.is_false((ocsp.lineage_revoked(lineage, pem.plain, 3, { log = logger })))
      assert.same({ "chain:3" }, reads)
      yes, why = ocsp.lineage_revoked(lineage, pem.leaf, 7, { log = logger })
      assert.is_false(yes)
      assert.equal("OCSP check failed: cannot read the chain: archive/lin/chain7.pem: No such file or directory", why)
      assert.equal(1, r.requests())
    end)

    it("no chain: not revoked, and no request", function()
      r.set(pem.leaf, "revoked")
      local yes, why = ocsp.revoked(pem.leaf, "", { log = logger, name = "leaf" })
      assert.is_false(yes)
      assert.equal("OCSP check failed: no issuer certificate (empty chain)", why)
      yes = ocsp.revoked(pem.leaf, pem.root, { log = logger, name = "leaf" })
      assert.is_false(yes)
      assert.equal(0, r.requests())
    end)
  end)
end)
