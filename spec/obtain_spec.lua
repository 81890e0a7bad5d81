-- certbot.obtain: the pure parts (challenge names, splitting what the CA
-- sent, lineage names, the test-certificate guard).  No network: lineages
-- live in a temp config dir, certificates are made by certbot.core and
-- split_chain is checked against openssl.

local obtain = require("certbot.obtain")
local storage = require("certbot.storage")
local display = require("certbot.display")
local errors = require("certbot.errors")
local cli = require("certbot.cli")
local options = require("certbot.options")
local core = require("certbot.core")
local crypto, sys = core.crypto, core.sys

local STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
local PROD = "https://acme-v02.api.letsencrypt.org/directory"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(sys.mkdir(p, 448))
  return p
end

local function rm_rf(p) os.execute("rm -rf '" .. p .. "'") end

local function pem_cert(name, days)
  local key = assert(crypto.generate_key("ec", "P-256"))
  local der = assert(crypto.self_signed_cert(key, { { type = "dns", value = name } }, { days = days or 90 }))
  return crypto.der_to_pem(der, "CERTIFICATE"), key
end

-- The raised error value of f, which must raise.
local function raised(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return e
end

describe("obtain", function()
  local saved_err, shown
  before_each(function()
    shown = {}
    saved_err = display.err
    display.err = {
      write = function(self, ...)
        for _, s in ipairs({ ... }) do shown[#shown + 1] = s end
        return self
      end,
      flush = function() end,
    }
  end)
  after_each(function() display.err = saved_err end)

  it("knows Let's Encrypt's staging URL as Certbot does", function()
    assert.equal(STAGING, options.STAGING_SERVER)
  end)

  describe("preferred_challenges", function()
    it("maps short names to challenge types, keeping order", function()
      assert.same({ "http-01", "dns-01" }, obtain.preferred_challenges("http, dns"))
      assert.same({ "dns-01", "http-01" }, obtain.preferred_challenges("dns-01,http-01"))
      assert.same({ "tls-alpn-01" }, obtain.preferred_challenges("tls-alpn"))
      assert.same({ "http-01", "dns-01" }, obtain.preferred_challenges({ "HTTP", "dns", "http-01" }))
      assert.same({}, obtain.preferred_challenges(nil))
      assert.same({}, obtain.preferred_challenges({}))
      assert.same({}, shown)
    end)

    it("takes tls-sni-01 as tls-alpn-01 with a deprecation notice, once", function()
      assert.same({ "tls-alpn-01" }, obtain.preferred_challenges("tls-sni-01"))
      assert.same({ "tls-alpn-01", "http-01" }, obtain.preferred_challenges("tls-sni, http, tls-alpn-01"))
      assert.equal("The tls-sni-01 challenge is retired; using tls-alpn-01 instead.\n", table.concat(shown))
    end)

    it("refuses an unknown name with a usage error (exit 2)", function()
      local e = raised(obtain.preferred_challenges, "http, carrier-pigeon")
      assert.is_true(errors.is(e))
      assert.equal(2, e.exit)
      assert.equal("Unrecognized challenges: carrier-pigeon", e.message)
    end)
  end)

  describe("split_chain", function()
    it("splits a 3-certificate PEM into cert, chain and fullchain (openssl judge)", function()
      local a, b, c = pem_cert("leaf.example"), pem_cert("int.example"), pem_cert("root.example")
      local r = obtain.split_chain(a .. "\n" .. b .. c)
      assert.equal(a, r.cert)
      assert.equal(b .. c, r.chain)
      assert.equal(r.cert .. r.chain, r.fullchain)
      -- openssl sees one certificate in cert and two in chain
      local dir = tmpdir()
      local f = assert(io.open(dir .. "/chain.pem", "w"))
      f:write(r.chain)
      f:close()
      local p = assert(io.popen("openssl crl2pkcs7 -nocrl -certfile '" .. dir .. "/chain.pem' | "
        .. "openssl pkcs7 -print_certs -noout"))
      local out = p:read("a")
      p:close()
      rm_rf(dir)
      assert.equal(2, select(2, out:gsub("subject=", "")))
      assert.matches("int.example", out, 1, true)
      assert.matches("root.example", out, 1, true)
    end)

    it("gives an empty chain for a lone certificate", function()
      local a = pem_cert("leaf.example")
      local r = obtain.split_chain(a)
      assert.equal(a, r.cert)
      assert.equal("", r.chain)
      assert.equal(a, r.fullchain)
    end)

    it("fails when the CA sent no certificate", function()
      local e = raised(obtain.split_chain, "<html>oops</html>")
      assert.equal(1, e.exit)
      assert.equal("The CA sent no certificate", e.message)
    end)
  end)

  describe("lineage_name", function()
    it("is --cert-name, else the first name without '*.'", function()
      assert.equal("x.example", obtain.lineage_name(cli.new_config({}), { "x.example", "y.example" }))
      assert.equal("x.example", obtain.lineage_name(cli.new_config({}), { "*.x.example", "x.example" }))
      assert.equal("mine", obtain.lineage_name(cli.new_config({ certname = "mine" }), { "*.x.example" }))
      assert.equal("x.example", obtain.lineage_name(cli.new_config({ certname = "" }), { "x.example" }))
    end)
  end)

  describe("test certificates", function()
    local tmp, b
    before_each(function()
      tmp = tmpdir()
      b = storage.filesystem(tmp .. "/config")
      assert(b:setup())
    end)
    after_each(function() rm_rf(tmp) end)

    local function lineage(name, server)
      local cert, key = pem_cert(name)
      local p = { { "authenticator", "standalone" }, { "server", server }, known = {} }
      assert(storage.new_lineage(b, name, { cert = cert, chain = cert, fullchain = cert .. cert,
        privkey = key:pem() }, p))
      return assert(storage.load(b, name))
    end

    local function ctx(values) return { config = cli.new_config(values) } end

    it("is_test_cert is true only for a lineage from the staging server", function()
      assert.is_true(obtain.is_test_cert(lineage("s.example", STAGING)))
      assert.is_false(obtain.is_test_cert(lineage("p.example", PROD)))
    end)

    it("refuses to replace a real certificate with a staging one (exit 1)", function()
      local l = lineage("p.example", PROD)
      local e = raised(obtain.check_test_cert, ctx({ staging = true }), l)
      assert.is_true(errors.is(e))
      assert.equal(1, e.exit)
      assert.matches("with a test certificate (domains: p.example)", e.message, 1, true)
      assert.matches("--break-my-certs", e.message, 1, true)
    end)

    it("lets it through with --break-my-certs or --dry-run", function()
      local l = lineage("p.example", PROD)
      assert.has_no.errors(function() obtain.check_test_cert(ctx({ staging = true, break_my_certs = true }), l) end)
      assert.has_no.errors(function() obtain.check_test_cert(ctx({ staging = true, dry_run = true }), l) end)
    end)

    it("has nothing to say without --staging, or for a staging lineage", function()
      assert.has_no.errors(function() obtain.check_test_cert(ctx({}), lineage("p.example", PROD)) end)
      local s = lineage("s.example", STAGING)
      assert.has_no.errors(function() obtain.check_test_cert(ctx({ staging = true }), s) end)
    end)
  end)
end)
