-- certbot.core.crypto: keys, CSRs, certificates, PEM/DER, hashes.  The
-- openssl command line is the independent judge throughout.
local crypto = require("certbot.core").crypto

local dir

local function path(name) return dir .. "/" .. name end

local function write(name, data)
  local f = assert(io.open(path(name), "wb"))
  f:write(data)
  f:close()
  return path(name)
end

local function read(name)
  local f = assert(io.open(path(name), "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Run a shell command in the temp dir; returns its output (stdout and
-- stderr) and whether it exited 0.
local function sh(cmd)
  local p = assert(io.popen("cd '" .. dir .. "' && (" .. cmd .. ") 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok == true
end

local function must(cmd)
  local out, ok = sh(cmd)
  assert(ok, cmd .. " failed:\n" .. out)
  return out
end

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function unhex(h)
  return (h:gsub("%X", ""):gsub("..", function(b) return string.char(tonumber(b, 16)) end))
end

-- Epoch seconds of an openssl date such as "Dec  9 05:01:06 2026 GMT".
local function epoch(s)
  return tonumber((must("date -u -d '" .. s .. "' +%s"):gsub("%s", "")))
end

local REQ_CNF = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"

-- A CA with the Subject Key Identifier of RFC 9773's example and a leaf it
-- signed with serial 0x87654321: RFC 9773 §4.1 gives the leaf's CertID.
local function make_ca_and_leaf()
  write("req.cnf", REQ_CNF)
  must("openssl req -x509 -config req.cnf -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
    .. " -keyout ca.key -out ca.pem -subj '/CN=Test CA' -days 30"
    .. " -addext basicConstraints=critical,CA:TRUE"
    .. " -addext subjectKeyIdentifier=69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4")
  must("openssl req -new -config req.cnf -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
    .. " -keyout leaf.key -out leaf.csr -subj /CN=leaf.example")
  write("leaf.ext", "basicConstraints=CA:FALSE\nauthorityKeyIdentifier=keyid:always\n"
    .. "authorityInfoAccess=OCSP;URI:http://ocsp.example/\n"
    .. "subjectAltName=DNS:leaf.example,DNS:www.leaf.example,IP:192.0.2.7,IP:2001:db8::1\n")
  must("openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -set_serial 0x87654321"
    .. " -days 10 -extfile leaf.ext -out leaf.pem")
end

describe("core.crypto #core", function()
  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -m 700 '" .. dir .. "'"))
  end)
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  describe("keys", function()
    it("generates RSA keys openssl reads as such", function()
      local k = assert(crypto.generate_key("rsa", 2048))
      assert.same({ type = "rsa", bits = 2048, private = true }, k:info())
      local pem = k:pem()
      assert.matches("^%-%-%-%-%-BEGIN PRIVATE KEY%-%-%-%-%-\n", pem)
      write("rsa.pem", pem)
      local out = must("openssl pkey -in rsa.pem -noout -text")
      assert.matches("Private%-Key: %(2048 bit", out)
      assert.matches("publicExponent: 65537", out, 1, true)
    end)

    for _, c in ipairs({ { "P-256", "prime256v1", 256 }, { "secp384r1", "secp384r1", 384 },
                         { "P-521", "secp521r1", 521 } }) do
      it("generates EC " .. c[1] .. " keys", function()
        local k = assert(crypto.generate_key("ec", c[1]))
        local want = ({ [256] = "P-256", [384] = "P-384", [521] = "P-521" })[c[3]]
        assert.same({ type = "ec", bits = c[3], curve = want, private = true }, k:info())
        write("ec.pem", k:pem())
        local out = must("openssl pkey -in ec.pem -noout -text")
        assert.matches("ASN1 OID: " .. c[2], out, 1, true)
        assert.matches("NIST CURVE: " .. want, out, 1, true)
      end)
    end

    it("refuses sizes, curves and types outside the policy", function()
      for _, bits in ipairs({ 512, 1024, 2047, 2049, 8192, 16384, -1, 0 }) do
        local k, err = crypto.generate_key("rsa", bits)
        assert.is_nil(k)
        assert.matches("^generate_key: RSA key size", err)
      end
      local k, err = crypto.generate_key("ec", "secp256k1")
      assert.is_nil(k)
      assert.matches("generate_key: unsupported curve 'secp256k1'", err, 1, true)
      k, err = crypto.generate_key("dsa", 2048)
      assert.is_nil(k)
      assert.matches("unsupported key type 'dsa'", err, 1, true)
    end)

    it("writes public keys as openssl does, PEM and DER", function()
      local k = assert(crypto.generate_key("ec", "P-256"))
      write("k.pem", k:pem())
      assert.equal(must("openssl pkey -in k.pem -pubout"), k:public_pem())
      must("openssl pkey -in k.pem -pubout -outform DER -out pub.der")
      assert.equal(read("pub.der"), k:public_der())
    end)

    it("loads traditional RSA and SEC1 EC keys and writes them as PKCS#8", function()
      must("openssl genrsa -traditional -out trad.pem 2048")
      assert.matches("BEGIN RSA PRIVATE KEY", read("trad.pem"), 1, true)
      local k = assert(crypto.load_key(read("trad.pem")))
      assert.same({ type = "rsa", bits = 2048, private = true }, k:info())
      assert.equal(must("openssl pkey -in trad.pem"), k:pem())

      -- ecparam writes an EC PARAMETERS block before the key
      must("openssl ecparam -genkey -name secp384r1 -out sec1.pem")
      assert.matches("BEGIN EC PARAMETERS", read("sec1.pem"), 1, true)
      k = assert(crypto.load_key(read("sec1.pem")))
      assert.same({ type = "ec", bits = 384, curve = "P-384", private = true }, k:info())
      assert.equal(must("openssl pkey -in sec1.pem"), k:pem())
    end)

    it("loads PKCS#8 PEM and DER, and public keys", function()
      local k = assert(crypto.generate_key("ec", "P-521"))
      write("k.pem", k:pem())
      must("openssl pkey -in k.pem -outform DER -out k.der")
      local k2 = assert(crypto.load_key(read("k.der")))
      assert.is_true(k2:equals(k))
      assert.is_true(k2:info().private)

      local pub = assert(crypto.load_key(k:public_pem()))
      assert.same({ type = "ec", bits = 521, curve = "P-521", private = false }, pub:info())
      assert.is_true(pub:equals(k))
      local pem, err = pub:pem()
      assert.is_nil(pem)
      assert.matches("^pem: ", err)
      assert.equal(k:public_pem(), pub:public_pem())
      local pub2 = assert(crypto.load_key(k:public_der()))
      assert.is_false(pub2:info().private)
      assert.is_true(pub2:equals(k))

      must("openssl genrsa -traditional -out r.pem 2048 && openssl rsa -in r.pem -RSAPublicKey_out -out rpub.pem")
      assert.matches("BEGIN RSA PUBLIC KEY", read("rpub.pem"), 1, true)
      local rpub = assert(crypto.load_key(read("rpub.pem")))
      assert.is_true(rpub:equals(assert(crypto.load_key(read("r.pem")))))
    end)

    it("refuses encrypted keys without asking for a passphrase", function()
      must("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes256 -pass pass:x -out enc.pem")
      must("openssl pkcs8 -topk8 -in enc.pem -passin pass:x -passout pass:x -outform DER -out enc.der")
      must("openssl genrsa -traditional -aes128 -passout pass:x -out tenc.pem 2048")
      for _, f in ipairs({ "enc.pem", "enc.der", "tenc.pem" }) do
        local k, err = crypto.load_key(read(f))
        assert.is_nil(k)
        assert.equal("load_key: encrypted private keys are not supported", err)
      end
    end)

    it("refuses key types and curves it cannot sign with", function()
      must("openssl genpkey -algorithm ed25519 -out ed.pem")
      local k, err = crypto.load_key(read("ed.pem"))
      assert.is_nil(k)
      assert.matches("load_key: unsupported key type ED25519", err, 1, true)
      must("openssl ecparam -genkey -name secp256k1 -noout -out k1.pem")
      k, err = crypto.load_key(read("k1.pem"))
      assert.is_nil(k)
      assert.matches("load_key: unsupported EC curve secp256k1", err, 1, true)
    end)

    it("answers bad input with nil and a message", function()
      local good = assert(crypto.generate_key("ec", "P-256")):pem()
      for _, bad in ipairs({
        "", "garbage", "\48\3\1\1\1", string.rep("\48", 300),
        good:sub(1, 100),                                   -- no END line
        good:sub(1, 60) .. "\n-----END PRIVATE KEY-----\n",  -- truncated body
        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      }) do
        local k, err = crypto.load_key(bad)
        assert.is_nil(k)
        assert.matches("^load_key: .", err)
      end
    end)

    it("compares public keys and describes itself", function()
      local a = assert(crypto.generate_key("ec", "P-256"))
      local b = assert(crypto.generate_key("ec", "P-256"))
      local r = assert(crypto.generate_key("rsa", 2048))
      assert.is_true(a:equals(a))
      assert.is_true(a:equals(assert(crypto.load_key(a:pem()))))
      assert.is_false(a:equals(b))
      assert.is_false(a:equals(r))
      assert.matches("EC P%-256 private key", tostring(a))
      assert.has_error(function() a:equals("x") end)
    end)
  end)

  describe("CSRs", function()
    it("makes a CSR with DNS and IP SANs and must-staple that openssl verifies", function()
      local k = assert(crypto.generate_key("ec", "P-256"))
      local der = assert(crypto.make_csr(k, {
        { type = "dns", value = "example.com" },
        { type = "dns", value = "www.example.com" },
        { type = "ip", value = "192.0.2.1" },
        { type = "ip", value = "2001:db8::1" },
      }, { must_staple = true }))
      write("csr.der", der)
      local out = must("openssl req -inform DER -in csr.der -verify -noout -text")
      assert.matches("verify OK", out, 1, true)
      assert.matches("Subject: CN = example.com", out, 1, true)
      assert.matches("DNS:example.com, DNS:www.example.com, IP Address:192.0.2.1, "
        .. "IP Address:2001:DB8:0:0:0:0:0:1\n", out, 1, true)
      assert.matches("TLS Feature: %s*status_request", out)
      assert.matches("ecdsa-with-SHA256", out, 1, true)
      assert.not_matches("Subject Alternative Name: critical", out, 1, true)
    end)

    it("leaves must-staple out unless asked, and signs RSA with SHA-256", function()
      local k = assert(crypto.generate_key("rsa", 2048))
      write("csr.der", assert(crypto.make_csr(k, { { type = "dns", value = "a.example" } })))
      local out = must("openssl req -inform DER -in csr.der -verify -noout -text")
      assert.matches("sha256WithRSAEncryption", out, 1, true)
      assert.not_matches("TLS Feature", out, 1, true)
    end)

    it("leaves the subject empty when the first name is longer than 64", function()
      local k = assert(crypto.generate_key("ec", "P-256"))
      local long = string.rep("a", 60) .. ".example"
      write("csr.der", assert(crypto.make_csr(k, {
        { type = "ip", value = "10.0.0.1" }, { type = "dns", value = long },
      })))
      local out = must("openssl req -inform DER -in csr.der -verify -noout -text")
      assert.matches("Subject: *\n", out)
      assert.not_matches("CN =", out, 1, true)
      assert.matches("Subject Alternative Name: critical", out, 1, true)
      assert.matches("IP Address:10.0.0.1, DNS:" .. long, out, 1, true)
      -- the first DNS name decides, not the first short one
      write("csr.der", assert(crypto.make_csr(k, {
        { type = "dns", value = long }, { type = "dns", value = "short.example" },
      })))
      out = must("openssl req -inform DER -in csr.der -verify -noout -text")
      assert.not_matches("CN =", out, 1, true)
      assert.equal("short.example", assert(crypto.read_csr(must("openssl req -inform DER -in csr.der"))).dns[2])
    end)

    it("refuses bad identifiers", function()
      local k = assert(crypto.generate_key("ec", "P-256"))
      for _, ids in ipairs({
        {},
        { { type = "ip", value = "300.1.1.1" } },
        { { type = "ip", value = "1.2.3" } },
        { { type = "ip", value = "::1::2" } },
        { { type = "ip", value = "example.com" } },
        { { type = "dns", value = "" } },
        { { type = "dns", value = "bad name" } },
        { { type = "dns", value = "a\0b" } },
      }) do
        local der, err = crypto.make_csr(k, ids)
        assert.is_nil(der)
        assert.matches("^make_csr: .", err)
      end
      assert.has_error(function() crypto.make_csr(k, { { type = "email", value = "a@b" } }) end)
      assert.has_error(function() crypto.make_csr(k, { "example.com" }) end)
      local pub = assert(crypto.load_key(k:public_pem()))
      assert.has_error(function() crypto.make_csr(pub, { { type = "dns", value = "a.example" } }) end)
    end)

    it("reads back its own CSRs, DER and PEM", function()
      local k = assert(crypto.generate_key("rsa", 2048))
      local der = assert(crypto.make_csr(k, {
        { type = "dns", value = "example.org" }, { type = "ip", value = "::1" },
        { type = "dns", value = "b.example.org" },
      }))
      for _, input in ipairs({ der, crypto.der_to_pem(der, "CERTIFICATE REQUEST") }) do
        local csr = assert(crypto.read_csr(input))
        assert.equal(der, csr.der)
        assert.same({ "example.org", "b.example.org" }, csr.dns)
        assert.same({ "::1" }, csr.ips)
        assert.equal("example.org", csr.cn)
        assert.is_true(csr.key:equals(k))
        assert.is_false(csr.key:info().private)
      end
    end)

    it("reads a CSR openssl made", function()
      write("req.cnf", REQ_CNF)
      must("openssl req -new -config req.cnf -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes"
        .. " -keyout o.key -out o.csr -subj /CN=one.example"
        .. " -addext subjectAltName=DNS:one.example,DNS:two.example,IP:10.1.2.3")
      local csr = assert(crypto.read_csr(read("o.csr")))
      assert.same({ "one.example", "two.example" }, csr.dns)
      assert.same({ "10.1.2.3" }, csr.ips)
      assert.equal("one.example", csr.cn)
      assert.is_true(csr.key:equals(assert(crypto.load_key(read("o.key")))))
      must("openssl req -in o.csr -outform DER -out o.der")
      assert.equal(read("o.der"), csr.der)
    end)

    it("refuses a CSR whose signature does not verify, and garbage", function()
      local k = assert(crypto.generate_key("ec", "P-256"))
      local der = assert(crypto.make_csr(k, { { type = "dns", value = "abcdef.example" } }))
      local i = der:find("abcdef", 1, true)
      local bad = der:sub(1, i - 1) .. "x" .. der:sub(i + 1)
      local csr, err = crypto.read_csr(bad)
      assert.is_nil(csr)
      assert.equal("read_csr: the CSR's signature does not verify", err)
      for _, g in ipairs({ "", "garbage", der:sub(1, #der - 10), der .. "x",
                           "-----BEGIN CERTIFICATE REQUEST-----\nAAA\n" }) do
        csr, err = crypto.read_csr(g)
        assert.is_nil(csr)
        assert.matches("^read_csr: .", err)
      end
    end)
  end)

  describe("certificates", function()
    setup(make_ca_and_leaf)

    it("parses a certificate openssl signed", function()
      local pem = read("leaf.pem")
      local c = assert(crypto.parse_cert(pem))
      assert.equal("leaf.example", c.cn)
      assert.equal("Test CA", c.issuer_cn)
      assert.same({ "leaf.example", "www.leaf.example" }, c.dns)
      assert.same({ "192.0.2.7", "2001:db8::1" }, c.ips)
      assert.equal("87654321", c.serial)
      assert.equal(unhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4"), c.aki)
      assert.equal("http://ocsp.example/", c.ocsp_url)
      assert.is_false(c.is_ca)
      assert.is_false(c.self_signed)
      local dates = must("openssl x509 -in leaf.pem -noout -startdate -enddate")
      assert.equal(epoch(dates:match("notBefore=([^\n]+)")), c.not_before)
      assert.equal(epoch(dates:match("notAfter=([^\n]+)")), c.not_after)
      must("openssl x509 -in leaf.pem -outform DER -out leaf.der")
      assert.equal(read("leaf.der"), c.der)
      assert.same(c, assert(crypto.parse_cert(c.der)))

      local ca = assert(crypto.parse_cert(read("ca.pem")))
      assert.is_true(ca.is_ca)
      assert.is_true(ca.self_signed)
      assert.equal("Test CA", ca.cn)
      assert.is_nil(ca.aki)
      assert.is_nil(ca.ocsp_url)
      assert.same({}, ca.dns)
    end)

    it("gives the serial as openssl does, without leading zeros", function()
      write("req.cnf", REQ_CNF)
      for _, serial in ipairs({ "0x00ff00aa11", "0x7f", "0x0", "0x0102030405060708090a0b0c0d0e0f1011121314" }) do
        must("openssl req -x509 -config req.cnf -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
          .. " -keyout s.key -out s.pem -subj /CN=s -days 1 -set_serial " .. serial)
        local want = must("openssl x509 -in s.pem -noout -serial"):match("serial=(%x+)")
        want = want:gsub("^0+(%x)", "%1")
        assert.equal(want, assert(crypto.parse_cert(read("s.pem"))).serial)
      end
    end)

    it("reads GeneralizedTime dates (after 2049) the same way openssl does", function()
      write("req.cnf", REQ_CNF)
      must("openssl req -x509 -config req.cnf -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
        .. " -keyout g.key -out g.pem -subj /CN=g -days 20000")
      local want = epoch(must("openssl x509 -in g.pem -noout -enddate"):match("notAfter=([^\n]+)"))
      assert.is_true(want > 2524608000) -- 2050-01-01
      assert.equal(want, assert(crypto.parse_cert(read("g.pem"))).not_after)
      assert.equal(want, assert(crypto.cert_not_after(read("g.pem"))))
    end)

    it("takes notAfter fast, agreeing with parse_cert and openssl", function()
      local pem = read("leaf.pem")
      local want = epoch(must("openssl x509 -in leaf.pem -noout -enddate"):match("notAfter=([^\n]+)"))
      assert.equal(want, crypto.cert_not_after(pem))
      assert.equal(want, crypto.cert_not_after(crypto.pem_to_der(pem)))
      -- a fullchain: the first certificate counts
      local chain = "some text\n" .. pem .. read("ca.pem")
      assert.equal(want, crypto.cert_not_after(chain))
      local k = assert(crypto.generate_key("ec", "P-256"))
      local own = assert(crypto.self_signed_cert(k, { { type = "dns", value = "x.example" } },
        { not_before = 1700000000, not_after = 1800000123 }))
      assert.equal(1800000123, crypto.cert_not_after(own))
      assert.equal(1800000123, crypto.parse_cert(own).not_after)
      assert.equal(1700000000, crypto.parse_cert(own).not_before)
    end)

    it("takes notAfter when validity lies beyond the first 4 KiB", function()
      write("req.cnf", REQ_CNF)
      local ous = {}
      for i = 1, 90 do ous[#ous + 1] = "/OU=" .. string.rep(string.char(96 + i % 26 + 1), 60) end
      must("openssl req -x509 -config req.cnf -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
        .. " -keyout big.key -out big.pem -days 3 -subj '/CN=big" .. table.concat(ous) .. "'")
      local der = crypto.pem_to_der(read("big.pem"))
      assert.is_true(#der > 10000)
      local want = epoch(must("openssl x509 -in big.pem -noout -enddate"):match("notAfter=([^\n]+)"))
      assert.equal(want, crypto.cert_not_after(read("big.pem")))
      assert.equal(want, crypto.cert_not_after(der))
    end)

    it("survives truncated and corrupted certificates", function()
      local pem = read("leaf.pem")
      local der = crypto.pem_to_der(pem)
      for n = 0, #der - 1 do
        local t, err = crypto.cert_not_after(der:sub(1, n))
        assert.is_nil(t)
        assert.matches("^cert_not_after: .", err)
      end
      for n = 1, #pem - 30, 7 do
        local t, err = crypto.cert_not_after(pem:sub(1, n) .. "\n-----END CERTIFICATE-----\n")
        if t == nil then assert.matches("^cert_not_after: .", err) end
        assert.is_nil(crypto.parse_cert(pem:sub(1, n)))
      end
      -- flip each byte of the DER: a number or nil, err, never a crash
      for i = 1, #der do
        local bad = der:sub(1, i - 1) .. string.char(der:byte(i) ~ 0xff) .. der:sub(i + 1)
        local t, err = crypto.cert_not_after(bad)
        assert.is_true(math.type(t) == "integer" or type(err) == "string")
        local c, perr = crypto.parse_cert(bad)
        assert.is_true(type(c) == "table" or type(perr) == "string")
      end
      for _, g in ipairs({ "", "x", "\48", "\48\130\255\255", "\48\132\255\255\255\255\48",
                           "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----" }) do
        assert.is_nil(crypto.cert_not_after(g))
        local c, err = crypto.parse_cert(g)
        assert.is_nil(c)
        assert.matches("^parse_cert: .", err)
      end
    end)

    describe("cert_validity", function()
      -- cert_validity's two dates (without names_ocsp)
      local function dates(x)
        local b, a = crypto.cert_validity(x)
        return { b, a }
      end

      -- notBefore and notAfter as openssl prints them
      local function openssl_dates(file)
        local out = must("openssl x509 -in '" .. file .. "' -noout -startdate -enddate")
        return epoch(out:match("notBefore=([^\n]+)")), epoch(out:match("notAfter=([^\n]+)"))
      end

      it("gives notBefore and notAfter as openssl reads them", function()
        for _, f in ipairs({ "leaf.pem", "ca.pem" }) do
          local nb, na = openssl_dates(path(f))
          local b, a = crypto.cert_validity(read(f))
          assert.equal(nb, b, f)
          assert.equal(na, a, f)
          assert.equal("integer", math.type(b))
          -- DER, and a fullchain (the first certificate counts)
          assert.same({ nb, na }, dates(crypto.pem_to_der(read(f))))
          assert.same({ nb, na }, dates("text before\n" .. read(f) .. read("ca.pem")))
        end
        -- GeneralizedTime (after 2049), and a certificate whose DER passes 8 KiB
        write("req.cnf", REQ_CNF)
        must("openssl req -x509 -config req.cnf -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
          .. " -keyout v.key -out v.pem -subj /CN=v -days 20000")
        local ous = {}
        for i = 1, 90 do ous[#ous + 1] = "/OU=" .. string.rep(string.char(96 + i % 26 + 1), 60) end
        must("openssl req -x509 -config req.cnf -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
          .. " -keyout vb.key -out vb.pem -days 3 -subj '/CN=vb" .. table.concat(ous) .. "'")
        assert.is_true(#crypto.pem_to_der(read("vb.pem")) > 8192)
        for _, f in ipairs({ "v.pem", "vb.pem" }) do
          local nb, na = openssl_dates(path(f))
          assert.same({ nb, na }, dates(read(f)))
        end
        assert.is_true(dates(read("v.pem"))[2] > 2524608000) -- 2050-01-01
      end)

      it("agrees with parse_cert on every CA certificate Debian ships", function()
        local p = io.popen("ls /etc/ssl/certs/*.pem 2>/dev/null")
        local n = 0
        for file in p:lines() do
          local f = assert(io.open(file, "rb"))
          local pem = f:read("a")
          f:close()
          local c = crypto.parse_cert(pem)
          if c then
            n = n + 1
            assert.same({ c.not_before, c.not_after }, dates(pem), file)
          end
        end
        p:close()
        assert.is_true(n > 50, "only " .. n .. " CA certificates found")
      end)

      it("refuses truncated and malformed certificates with nil and a message", function()
        local pem = read("leaf.pem")
        local der = crypto.pem_to_der(pem)
        local nb, na = crypto.cert_validity(der)
        -- every prefix of the DER, and the DER with anything after it
        for n = 0, #der - 1 do
          local t, err = crypto.cert_validity(der:sub(1, n))
          assert.is_nil(t)
          assert.matches("^cert_validity: .", err)
        end
        assert.is_nil(crypto.cert_validity(der .. "\0"))
        -- the PEM cut short: nil unless what is left still decodes to the whole DER
        local body_end = pem:find("-----END", 1, true)
        for n = 1, body_end - 1, 3 do
          local cut = pem:sub(1, n) .. "\n-----END CERTIFICATE-----\n"
          local b, a = crypto.cert_validity(cut)
          if crypto.pem_to_der(cut) == der then
            assert.same({ nb, na }, { b, a })
          else
            assert.is_nil(b)
          end
        end
        -- one byte changed: the dates, or nil and a message; never a crash,
        -- and never dates that differ from what OpenSSL reads
        for i = 1, #der do
          local bad = der:sub(1, i - 1) .. string.char(der:byte(i) ~ 0x55) .. der:sub(i + 1)
          local b, a = crypto.cert_validity(bad)
          if b then
            local c = crypto.parse_cert(bad)
            if c then assert.same({ c.not_before, c.not_after }, { b, a }) end
          else
            assert.matches("^cert_validity: .", a)
          end
        end
        for _, g in ipairs({ "", "x", "\48", "\48\130\255\255", "\48\132\255\255\255\255\48",
                             "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----",
                             "-----BEGIN CERTIFICATE-----\nMIIB\n",
                             "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\nMIIB\n-----END CERTIFICATE-----\n",
                             "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n" }) do
          local t, err = crypto.cert_validity(g)
          assert.is_nil(t)
          assert.matches("^cert_validity: .", err)
        end
      end)

      it("tells whether the certificate holds the id-ad-ocsp OID (names an OCSP responder)", function()
        local oid = "\x06\x08\x2b\x06\x01\x05\x05\x07\x30\x01"
        -- leaf.pem names http://ocsp.example/ (openssl judge), ca.pem no responder
        assert.matches("OCSP %- URI:http://ocsp.example/", must("openssl x509 -in leaf.pem -noout -text"))
        assert.is_nil(must("openssl x509 -in ca.pem -noout -text"):find("OCSP", 1, true))
        for _, f in ipairs({ "leaf.pem", "ca.pem" }) do
          local der = crypto.pem_to_der(read(f))
          local want = der:find(oid, 1, true) ~= nil
          assert.equal(f == "leaf.pem", want)
          assert.equal(want, select(3, crypto.cert_validity(read(f))), f)
          assert.equal(want, select(3, crypto.cert_validity(der)), f)
        end
      end)

      it("reads the dates of a certificate made with exact dates", function()
        local k = assert(crypto.generate_key("ec", "P-256"))
        for _, d in ipairs({ { 0, 1 }, { 951782400, 951868800 }, -- 2000-02-29
                             { 1700000000, 2524607999 }, { 2524608000, 4102444800 } }) do
          local der = assert(crypto.self_signed_cert(k, { { type = "dns", value = "x.example" } },
            { not_before = d[1], not_after = d[2] }))
          assert.same(d, dates(crypto.der_to_pem(der, "CERTIFICATE")))
        end
      end)
    end)

    it("tells whether a certificate belongs to a key", function()
      local leaf = read("leaf.pem")
      assert.is_true(crypto.cert_matches_key(leaf, assert(crypto.load_key(read("leaf.key")))))
      assert.is_false(crypto.cert_matches_key(leaf, assert(crypto.load_key(read("ca.key")))))
      assert.is_false(crypto.cert_matches_key(leaf, assert(crypto.generate_key("rsa", 2048))))
      local ok, err = crypto.cert_matches_key("nope", assert(crypto.load_key(read("ca.key"))))
      assert.is_nil(ok)
      assert.matches("^cert_matches_key: ", err)
    end)

    it("computes the ARI CertID of RFC 9773 §4.1", function()
      -- RFC 9773's example: AKI 69:88:5B:..:D4, serial 00:87:65:43:21
      assert.equal("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", crypto.ari_cert_id(read("leaf.pem")))
      local id, err = crypto.ari_cert_id(read("ca.pem"))
      assert.is_nil(id)
      assert.matches("no Authority Key Identifier", err, 1, true)
    end)

    it("computes the CertID of a serial without the high bit, from openssl's text", function()
      must("openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -set_serial 0x1234"
        .. " -days 1 -extfile leaf.ext -out l2.pem")
      local text = must("openssl x509 -in l2.pem -noout -text")
      local aki = text:match("Authority Key Identifier: *\n%s*([%x:]+)")
      local serial = text:match("Serial Number: %d+ %(0x(%x+)%)")
      if #serial % 2 == 1 then serial = "0" .. serial end
      assert.equal(crypto.b64url_encode(unhex(aki)) .. "." .. crypto.b64url_encode(unhex(serial)),
        crypto.ari_cert_id(read("l2.pem")))
      assert.matches("%.EjQ$", crypto.ari_cert_id(read("l2.pem")))
    end)

    it("makes a tls-alpn-01 certificate (RFC 8737)", function()
      local k = assert(crypto.generate_key("ec", "P-256"))
      local digest = crypto.sha256("token.thumbprint")
      local der = assert(crypto.self_signed_cert(k, { { type = "dns", value = "alpn.example" } }, {
        extensions = { { oid = "1.3.6.1.5.5.7.1.31", critical = true, der = "\4\32" .. digest } },
      }))
      write("alpn.der", der)
      local out = must("openssl x509 -inform DER -in alpn.der -noout -text")
      assert.matches("1.3.6.1.5.5.7.1.31: critical", out, 1, true)
      local san = out:match("Subject Alternative Name:[^\n]*\n%s*([^\n]+)")
      assert.equal("DNS:alpn.example", san)
      -- the extension value is OCTET STRING { OCTET STRING (32) digest }
      local asn1 = must("openssl asn1parse -inform DER -in alpn.der")
      assert.matches(":1%.3%.6%.1%.5%.5%.7%.1%.31\n[^\n]*BOOLEAN *:255\n[^\n]*OCTET STRING *%[HEX DUMP%]:0420"
        .. hex(digest):upper() .. "\n", asn1)
      local c = assert(crypto.parse_cert(der))
      assert.is_true(c.self_signed)
      assert.equal(7 * 86400, c.not_after - c.not_before)
      assert.is_true(math.abs(c.not_before - os.time()) < 600)
      assert.is_true(crypto.cert_matches_key(der, k))
      assert.is_true(der:find("\4\34\4\32" .. digest, 1, true) ~= nil)
    end)

    it("makes certificates for IP identifiers with the days asked for", function()
      local k = assert(crypto.generate_key("rsa", 2048))
      local der = assert(crypto.self_signed_cert(k, { { type = "ip", value = "127.0.0.1" } }, { days = 30 }))
      write("ip.der", der)
      local out = must("openssl x509 -inform DER -in ip.der -noout -text")
      assert.matches("Subject Alternative Name: critical\n%s*IP Address:127.0.0.1\n", out)
      local c = assert(crypto.parse_cert(der))
      assert.same({ "127.0.0.1" }, c.ips)
      assert.is_nil(c.cn)
      assert.equal(30 * 86400, c.not_after - c.not_before)
    end)

    it("refuses bad extensions", function()
      local k = assert(crypto.generate_key("ec", "P-256"))
      local ids = { { type = "dns", value = "a.example" } }
      local der, err = crypto.self_signed_cert(k, ids, { extensions = { { oid = "not.an.oid", der = "\5\0" } } })
      assert.is_nil(der)
      assert.matches("bad extension OID", err, 1, true)
      der, err = crypto.self_signed_cert(k, ids, { extensions = { { oid = "1.2.3.4", der = "\4\5ab" } } })
      assert.is_nil(der)
      assert.matches("not one DER value", err, 1, true)
      assert.has_error(function() crypto.self_signed_cert(k, ids, { extensions = { { oid = "1.2.3" } } }) end)
    end)
  end)

  describe("PEM", function()
    setup(make_ca_and_leaf)

    it("splits a bundle into certificate blocks", function()
      local leaf, ca = read("leaf.pem"), read("ca.pem")
      local bundle = "junk before\n" .. leaf .. "between\r\n" .. ca:gsub("\n$", "")
      local blocks = crypto.split_pem(bundle)
      assert.same({ leaf, ca }, blocks)
      assert.same({}, crypto.split_pem(""))
      assert.same({}, crypto.split_pem("no certificates\n-----BEGIN PRIVATE KEY-----\n"))
      local t, err = crypto.split_pem(leaf .. ca:sub(1, 200))
      assert.is_nil(t)
      assert.matches("^split_pem: ", err)
    end)

    it("converts between PEM and DER as openssl does", function()
      must("openssl x509 -in leaf.pem -outform DER -out leaf.der")
      local der = read("leaf.der")
      assert.equal(der, crypto.pem_to_der(read("leaf.pem")))
      assert.equal(der, crypto.pem_to_der(read("leaf.pem"), "CERTIFICATE"))
      assert.equal(read("leaf.pem"), crypto.der_to_pem(der, "CERTIFICATE"))
      -- every length modulo 3 and a line of exactly 64 columns
      for n = 1, 100 do
        local bytes = crypto.random_bytes(n)
        local pem = crypto.der_to_pem(bytes, "TEST DATA")
        write("t.pem", pem)
        assert.equal(bytes, crypto.pem_to_der(pem, "TEST DATA"))
        for line in pem:gmatch("[^\n]+") do assert.is_true(#line <= 64) end
        assert.equal(hex(bytes), must("sed '1d;$d' t.pem | base64 -d | od -An -tx1 -v | tr -d ' \\n'"))
      end
      local key = read("leaf.key")
      assert.equal(must("openssl pkcs8 -topk8 -nocrypt -in leaf.key -outform DER | od -An -tx1 -v | tr -d ' \\n'"),
        hex(crypto.pem_to_der(key, "PRIVATE KEY")))
      local d, err = crypto.pem_to_der(key, "CERTIFICATE")
      assert.is_nil(d)
      assert.matches("^pem_to_der: ", err)
      d, err = crypto.pem_to_der("-----BEGIN X-----\nZm9v!\n-----END X-----\n")
      assert.is_nil(d)
      assert.matches("^pem_to_der: bad base64", err)
      assert.has_error(function() crypto.der_to_pem("x", "bad-label") end)
    end)
  end)

  describe("bytes", function()
    it("encodes and strictly decodes base64url", function()
      local vectors = { [""] = "", f = "Zg", fo = "Zm8", foo = "Zm9v", foob = "Zm9vYg",
                        fooba = "Zm9vYmE", foobar = "Zm9vYmFy", ["\251\255\254"] = "-__-" }
      for plain, enc in pairs(vectors) do
        assert.equal(enc, crypto.b64url_encode(plain))
        assert.equal(plain, crypto.b64url_decode(enc))
      end
      for n = 0, 70 do
        local s = crypto.random_bytes(n + 1):sub(2)
        assert.equal(s, crypto.b64url_decode(crypto.b64url_encode(s)))
      end
      for _, bad in ipairs({ "Zg==", "Zg=", "Z", "Zm9vY", "Zh", "Zm9=", "Zm 9v", "Zm9v\n",
                             "+/+/", "Zm9v!", "Zm\0v" }) do
        local s, err = crypto.b64url_decode(bad)
        assert.is_nil(s)
        assert.matches("^b64url_decode: ", err)
      end
    end)

    it("hashes and MACs as openssl does", function()
      assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        hex(crypto.sha256("abc")))
      write("data", "some data\n")
      assert.equal(must("openssl dgst -sha384 -r data"):match("^%x+"), hex(crypto.sha384("some data\n")))
      -- RFC 4231 test case 2
      assert.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        hex(crypto.hmac("sha256", "Jefe", "what do ya want for nothing?")))
      for _, alg in ipairs({ "sha256", "sha384", "sha512" }) do
        local want = must("printf 'what do ya want for nothing?' | openssl dgst -" .. alg .. " -hmac Jefe -r")
        assert.equal(want:match("^%x+"), hex(crypto.hmac(alg, "Jefe", "what do ya want for nothing?")))
      end
      assert.has_error(function() crypto.hmac("md5", "k", "d") end)
    end)

    it("compares in constant time and makes random bytes", function()
      assert.is_true(crypto.consttime_equal("abc", "abc"))
      assert.is_false(crypto.consttime_equal("abc", "abd"))
      assert.is_false(crypto.consttime_equal("abc", "abcd"))
      assert.is_true(crypto.consttime_equal("", ""))
      assert.equal(1, #crypto.random_bytes(1))
      assert.equal(4096, #crypto.random_bytes(4096))
      assert.not_equal(crypto.random_bytes(32), crypto.random_bytes(32))
      assert.has_error(function() crypto.random_bytes(0) end)
      assert.has_error(function() crypto.random_bytes(4097) end)
    end)
  end)
end)
