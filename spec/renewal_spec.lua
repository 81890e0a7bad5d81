-- certbot.renewal: when a lineage is due.  Certificates are real ones made
-- by certbot.core with exact notBefore/notAfter, checked with openssl.

local renewal = require("certbot.renewal")
local core = require("certbot.core")
local crypto, sys = core.crypto, core.sys

local DAY = 86400
local T0 = 1700000000 -- 2023-11-14T22:13:20Z

local key
local function cert(not_before, not_after)
  key = key or assert(crypto.generate_key("ec", "P-256"))
  local der = assert(crypto.self_signed_cert(key, { { type = "dns", value = "x.example" } },
    { not_before = not_before, not_after = not_after }))
  return crypto.der_to_pem(der, "CERTIFICATE")
end

describe("renewal", function()
  describe("parse_interval", function()
    it("reads Certbot's renew_before_expiry forms", function()
      assert.equal(30 * DAY, renewal.parse_interval("30 days"))
      assert.equal(14 * DAY, renewal.parse_interval("2 weeks"))
      assert.equal(12 * 3600, renewal.parse_interval("12 hours"))
      assert.equal(365 * DAY, renewal.parse_interval("1 year"))
      assert.equal(DAY, renewal.parse_interval("1 day"))
      assert.equal(9 * DAY, renewal.parse_interval("1 week 2 days"))
      assert.equal(30 * DAY, renewal.parse_interval("30 DAYS"))
      assert.equal(90, renewal.parse_interval("90 seconds"))
    end)

    it("takes a bare number as days, as Certbot does", function()
      assert.equal(10 * DAY, renewal.parse_interval("10"))
      assert.equal(10 * DAY, renewal.parse_interval(" 10 "))
    end)

    it("refuses garbage with nil and a message", function()
      for _, s in ipairs({ "soon", "", "days", "30 fortnights", "ten days" }) do
        local v, err = renewal.parse_interval(s)
        assert.is_nil(v, s)
        assert.is_string(err)
        assert.matches(s, err, 1, true)
      end
      local v, err = renewal.parse_interval(nil)
      assert.is_nil(v)
      assert.equal("not a time interval", err)
    end)
  end)

  describe("due", function()
    it("makes certificates with the dates asked for (openssl judge)", function()
      local pem = cert(T0, T0 + 90 * DAY)
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write(pem)
      f:close()
      local p = assert(io.popen("openssl x509 -noout -startdate -enddate -dateopt iso_8601 -in '" .. path .. "'"))
      local out = p:read("a")
      p:close()
      os.remove(path)
      assert.matches("notBefore=2023%-11%-14 22:13:20Z", out)
      assert.matches("notAfter=2024%-02%-12 22:13:20Z", out)
    end)

    it("renews a 90-day certificate when a third of it is left: at 60 days, not 59", function()
      local pem = cert(T0, T0 + 90 * DAY)
      local due, why = renewal.due(pem, nil, T0 + 59 * DAY)
      assert.is_false(due)
      assert.equal("a third of its lifetime left rule", why)
      assert.is_false((renewal.due(pem, nil, T0 + 60 * DAY - 1)))
      due, why = renewal.due(pem, nil, T0 + 60 * DAY)
      assert.is_true(due)
      assert.equal("a third of its lifetime left rule", why)
      assert.is_true((renewal.due(pem, nil, T0 + 100 * DAY))) -- expired
    end)

    it("renews a certificate of under 10 days at half its lifetime", function()
      local pem = cert(T0, T0 + 6 * DAY)
      local due, why = renewal.due(pem, nil, T0 + 3 * DAY - 1)
      assert.is_false(due)
      assert.equal("half of its lifetime left rule", why)
      assert.is_true((renewal.due(pem, nil, T0 + 3 * DAY)))
      -- 9 days: half; 10 days: a third
      local nine = cert(T0, T0 + 9 * DAY)
      assert.is_false((renewal.due(nine, nil, T0 + 4 * DAY)))
      assert.is_true((renewal.due(nine, nil, T0 + 4.5 * DAY)))
      local ten = cert(T0, T0 + 10 * DAY)
      assert.is_false((renewal.due(ten, nil, T0 + 6 * DAY)))
      assert.is_true((renewal.due(ten, nil, T0 + 7 * DAY)))
    end)

    it("follows renew_before_expiry instead when the renewal conf has it", function()
      local pem = cert(T0, T0 + 365 * DAY)
      -- the default rule would renew at ~243 days
      assert.is_true((renewal.due(pem, nil, T0 + 300 * DAY)))
      local due, why = renewal.due(pem, "30 days", T0 + 300 * DAY)
      assert.is_false(due)
      assert.equal("renew_before_expiry = 30 days", why)
      assert.is_false((renewal.due(pem, "30 days", T0 + 335 * DAY - 1)))
      assert.is_true((renewal.due(pem, "30 days", T0 + 335 * DAY)))
      -- and earlier than the default rule too
      local pem90 = cert(T0, T0 + 90 * DAY)
      assert.is_true((renewal.due(pem90, "45 days", T0 + 45 * DAY)))
      assert.is_false((renewal.due(pem90, "45 days", T0 + 45 * DAY - 1)))
    end)

    it("uses the clock when no time is given", function()
      local now = math.floor(sys.time())
      assert.is_false((renewal.due(cert(now - DAY, now + 89 * DAY))))
      assert.is_true((renewal.due(cert(now - 89 * DAY, now + DAY))))
    end)

    it("counts an unreadable certificate as due, saying why", function()
      local due, why = renewal.due("not a certificate")
      assert.is_true(due)
      assert.matches("^cannot read the certificate: ", why)
    end)
  end)

  describe("validity", function()
    it("reads both dates without a full parse, as parse_cert does", function()
      local pem = cert(T0, T0 + 90 * DAY)
      -- (and no OCSP responder: the certificate has no such extension)
      assert.same({ T0, T0 + 90 * DAY, false }, { renewal.validity(pem) })
      local info = assert(crypto.parse_cert(pem))
      assert.is_nil(info.ocsp_url)
      assert.same({ info.not_before, info.not_after, false }, { renewal.validity(pem) })
      -- due() passes on whether the certificate may name an OCSP responder
      assert.is_false(select(4, renewal.due(pem, nil, T0)))
      assert.is_false(select(4, renewal.due(pem, "30 days", T0)))
    end)

    it("counts a truncated certificate file as unreadable, hence due", function()
      local pem = cert(T0, T0 + 90 * DAY)
      local cut = pem:sub(1, 200) .. "\n-----END CERTIFICATE-----\n"
      assert.is_nil(renewal.validity(cut))
      local due, why, not_after, names_ocsp = renewal.due(cut, nil, T0)
      assert.is_true(due)
      assert.matches("^cannot read the certificate: ", why)
      assert.is_nil(not_after)
      assert.is_nil(names_ocsp)
    end)
  end)

  describe("check and apply", function()
    local cli = require("certbot.cli")
    local confobj = require("certbot.confobj")

    local function lineage(params, path)
      local text = "version = 2.1.0\n[renewalparams]\n" .. params
      return { conf = assert(confobj.parse(text)), conf_path = path or "/etc/le/renewal/a.conf" }
    end
    local function config(...) return assert(cli.parse({ "renew", ... })) end

    it("passes a good conf and restores its values", function()
      local l = lineage("authenticator = webroot\nreuse_key = True\nrsa_key_size = 4096\n"
        .. "pref_challs = http-01,\nhttp01_port = 8080\n")
      local c = config()
      local size, auth = c.rsa_key_size, c.authenticator
      assert.is_true(renewal.check(c, l))
      -- check sets nothing
      assert.equal(size, c.rsa_key_size)
      assert.equal(auth, c.authenticator)
      assert.is_not_true(c.reuse_key)
      assert.is_true(renewal.apply(c, l))
      assert.equal("webroot", c.authenticator)
      assert.is_true(c.reuse_key)
      assert.equal(4096, c.rsa_key_size)
      assert.same({ "http-01" }, c.pref_challs)
      assert.equal(8080, c.http01_port)
    end)

    it("names the conf and the first bad option in option order, run after run", function()
      -- http01_port comes after rsa_key_size among the options, whatever the conf's order
      local l = lineage("http01_port = eighty\nrsa_key_size = big\nreuse_key = True\n")
      local want = "/etc/le/renewal/a.conf: rsa_key_size = big: not an integer"
      for _ = 1, 3 do -- (values found good or bad are remembered)
        assert.same({ nil, want }, { renewal.check(config(), l) })
        assert.same({ nil, want }, { renewal.apply(config(), l) })
      end
      -- the same bad value in another conf is that conf's error
      local l2 = lineage("rsa_key_size = big\n", "/etc/le/renewal/b.conf")
      assert.same({ nil, "/etc/le/renewal/b.conf: rsa_key_size = big: not an integer" },
        { renewal.check(config(), l2) })
      -- a value already seen good under one key is still checked under another
      local l3 = lineage("http01_port = True\n")
      assert.is_true(renewal.check(config(), lineage("reuse_key = True\n")))
      assert.same({ nil, "/etc/le/renewal/a.conf: http01_port = True: not an integer" },
        { renewal.check(config(), l3) })
    end)

    it("ignores a bad stored value of an option given on the command line", function()
      local l = lineage("rsa_key_size = big\nreuse_key = maybe\n")
      assert.same({ nil, "/etc/le/renewal/a.conf: reuse_key = maybe: not True or False" },
        { renewal.check(config("--rsa-key-size", "2048"), l) })
      local c = config("--rsa-key-size", "2048", "--reuse-key")
      assert.is_true(renewal.check(c, l))
      assert.is_true(renewal.apply(c, l))
      assert.equal(2048, c.rsa_key_size)
    end)

    it("refuses a malformed plugin name unless plugins were chosen on the command line", function()
      local l = lineage("authenticator = ../evil\n")
      assert.same({ nil, "/etc/le/renewal/a.conf: invalid authenticator '../evil'" },
        { renewal.check(config(), l) })
      assert.is_true(renewal.check(config("--standalone"), l))
      assert.same({ nil, "/etc/le/renewal/a.conf: no [renewalparams] section" },
        { renewal.check(config(), { conf = assert(confobj.parse("version = 1\n")),
          conf_path = "/etc/le/renewal/a.conf" }) })
    end)

    it("refuses a plugin that is not installed, unless plugins were chosen on the command line", function()
      local l = lineage("authenticator = standalone\ninstaller = nosuchinstaller\n")
      assert.same({ nil, "/etc/le/renewal/a.conf: installer 'nosuchinstaller' is not an installed plugin" },
        { renewal.check(config(), l) })
      assert.is_true(renewal.check(config("--standalone", "--installer", "null"), l))
      assert.is_true(renewal.check(config(), lineage("authenticator = standalone\ninstaller = nginx\n")))
    end)
  end)
end)
