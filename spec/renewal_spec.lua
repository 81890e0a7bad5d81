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
end)
