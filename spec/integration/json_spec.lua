-- --json (docs/json.md) against a real Pebble: certificates, show_account
-- and renew print one JSON document on standard output, whose fields agree
-- with openssl's reading of the files and with the human output; exit codes
-- are the ones the human runs give; without --json the output is as before.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local account = require("certbot.account")
local cjson = require("cjson")
local sys = require("certbot.core").sys

local sh, q = helper.sh, proc.quote

local ISO = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"

local function decode(out)
  local ok, doc = pcall(cjson.decode, out)
  assert(ok and type(doc) == "table", "stdout is not one JSON object:\n" .. tostring(out))
  return doc
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

-- openssl's notAfter of a PEM file as ISO 8601 UTC
local function openssl_not_after(path)
  local _, out = sh(("openssl x509 -noout -enddate -dateopt iso_8601 -in %s"):format(q(path)))
  local d, t = out:match("notAfter=(%d+%-%d+%-%d+) (%d+:%d+:%d+)Z")
  assert(d, out)
  return d .. "T" .. t .. "Z"
end

local function openssl_serial(path)
  local _, out = sh(("openssl x509 -noout -serial -in %s"):format(q(path)))
  return (out:match("serial=(%x+)"):lower():gsub("^0+", ""))
end

describe("--json #integration", function()
  local srv, cb, http_port, tls_port

  setup(function()
    http_port, tls_port = proc.free_ports(2)
    srv = pebble.start({ ports = { auto = true, http01 = http_port, tlsalpn01 = tls_port },
      -- every order validates anew, so a held port really fails a renewal
      env = { PEBBLE_AUTHZREUSE = "0" } })
    cb = helper.new(srv)
    for _, names in ipairs({ { "a.example", "www.a.example" }, { "b.example" } }) do
      local args = { "certonly", "--standalone", "--http-01-port", tostring(http_port) }
      for _, n in ipairs(names) do
        args[#args + 1] = "-d"
        args[#args + 1] = n
      end
      local code, out, err = cb:run(args)
      assert(code == 0, out .. err)
    end
    -- a renewal conf that does not parse
    assert(sys.write_atomic(cb.config_dir .. "/renewal/broken.conf", "this is [not a conf\n", 420))
  end)
  teardown(function()
    if cb then cb:cleanup() end
    if srv then srv.stop() end
  end)

  local function account_id()
    local base = cb.config_dir .. "/accounts/" .. account.server_path(srv.directory)
    return sys.listdir(base)[1]
  end

  describe("certificates --json", function()
    it("lists every lineage with stable fields, as openssl reads the files", function()
      local code, out, err = cb:run({ "certificates", "--json" })
      local hcode, hout = cb:run({ "certificates" })
      assert.equal(hcode, code)
      assert.equal(0, code, out .. err)
      local doc = decode(out)
      assert.equal(1, doc.format_version)
      assert.equal(2, #doc.certificates)
      local a, b = doc.certificates[1], doc.certificates[2]
      assert.equal("a.example", a.name)
      assert.equal("b.example", b.name)
      local live = cb:live("a.example")
      assert.same({ "a.example", "www.a.example" }, a.domains)
      assert.same({}, a.ip_addresses)
      assert.equal(openssl_serial(live.cert), a.serial)
      assert.equal(openssl_not_after(live.cert), a.not_after)
      assert.matches(ISO, a.not_after)
      assert.equal("ECDSA", a.key_type)
      assert.equal("valid", a.status)
      assert.is_false(a.test_cert)
      assert.equal(1, a.version)
      assert.same(live, a.paths)
      assert.equal(cb.config_dir .. "/renewal/a.example.conf", a.renewal_conf)
      assert.equal(account_id(), a.account)
      assert.equal(srv.directory, a.server)
      assert.equal("standalone", a.authenticator)
      assert.equal(cjson.null, a.installer)
      -- the broken conf, as the human listing reports it
      assert.equal(1, #doc.invalid)
      assert.equal("broken", doc.invalid[1].name)
      assert.equal(cb.config_dir .. "/renewal/broken.conf", doc.invalid[1].renewal_conf)
      assert.is_string(doc.invalid[1].error)
      assert.matches("broken.conf produced an unexpected error", err, 1, true)
      -- the same facts as the human listing, whose format is unchanged
      assert.matches("Certificate Name: a.example\n    Serial Number: " .. a.serial
        .. "\n    Key Type: ECDSA\n    Domains: a.example www.a.example\n    Expiry Date: "
        .. a.not_after:gsub("T", " "):gsub("Z", "+00:00") .. " (VALID: ", hout, 1, true)
      assert.not_matches("Account", hout)
      assert.not_matches("{", hout)
    end)

    it("filters as the listing does (--cert-name, -d)", function()
      local code, out, err = cb:run({ "certificates", "--json", "--cert-name", "b.example" })
      assert.equal(0, code, out .. err)
      local doc = decode(out)
      assert.equal(1, #doc.certificates)
      assert.equal("b.example", doc.certificates[1].name)
      code, out, err = cb:run({ "certificates", "--json", "-d", "www.a.example" })
      assert.equal(0, code, out .. err)
      doc = decode(out)
      assert.equal(1, #doc.certificates)
      assert.equal("a.example", doc.certificates[1].name)
      -- nothing matches: an empty list, still a list
      code, out = cb:run({ "certificates", "--json", "--cert-name", "none.example" })
      assert.equal(0, code)
      assert.matches('"certificates":[]', out, 1, true)
    end)
  end)

  describe("show_account --json", function()
    it("gives the account, as the human output and the files have it", function()
      local code, out, err = cb:run({ "show_account", "--json" }, { no_account_flags = true })
      assert.equal(0, code, out .. err)
      local doc = decode(out).account
      local hcode, hout = cb:run({ "show_account" }, { no_account_flags = true })
      assert.equal(hcode, code)
      assert.equal(1, decode(out).format_version)
      assert.equal(srv.directory, decode(out).server)
      assert.equal(account_id(), doc.id)
      assert.matches("Account URL: " .. doc.url .. "\n", hout, 1, true)
      assert.matches("Account Thumbprint: " .. doc.thumbprint .. "\n", hout, 1, true)
      assert.same({ "spec@example.org" }, doc.emails)
      assert.same({ "mailto:spec@example.org" }, doc.contact)
      assert.equal("valid", doc.status)
      assert.same({ type = "ecdsa", curve = "P-256", bits = 256 }, doc.key)
      assert.matches(ISO, doc.created_at)
      assert.is_string(doc.creation_host)
      assert.same({}, doc.previous_ids)
      assert.same({ "a.example", "b.example" }, doc.certificates)
      assert.matches("Certificates using this account: a.example, b.example\n", hout, 1, true)
      assert.equal("", err)
    end)
  end)

  describe("renew --json", function()
    it("puts one JSON summary on stdout and every message for people on stderr", function()
      local code, out, err = cb:run({ "renew", "--json" })
      local hcode = cb:run({ "renew" })
      assert.equal(1, code, out .. err) -- the parse failure, as without --json
      assert.equal(hcode, code)
      local doc = decode(out)
      assert.equal(1, doc.format_version)
      assert.is_false(doc.dry_run)
      assert.same({}, doc.renewed)
      assert.same({}, doc.failed)
      assert.equal(2, #doc.not_due)
      assert.equal("a.example", doc.not_due[1].name)
      assert.equal(cb:live("a.example").fullchain, doc.not_due[1].fullchain)
      assert.equal(openssl_not_after(cb:live("a.example").cert), doc.not_due[1].not_after)
      assert.same({ { renewal_conf = cb.config_dir .. "/renewal/broken.conf" } }, doc.parse_failures)
      -- the human report, unchanged, on stderr
      assert.matches("Processing " .. cb.config_dir .. "/renewal/a.example.conf", err, 1, true)
      assert.matches("The following certificates are not due for renewal yet:", err, 1, true)
      assert.matches("0 renew failure(s), 1 parse failure(s)", err, 1, true)
      assert.equal(1, #lines(out))
    end)

    it("reports renewals and failures by lineage", function()
      sys.unlink(cb.config_dir .. "/renewal/broken.conf")
      local code, out, err = cb:run({ "renew", "--json", "--force-renewal", "--cert-name", "a.example" })
      assert.equal(0, code, out .. err)
      local doc = decode(out)
      assert.equal(1, #doc.renewed)
      assert.equal("a.example", doc.renewed[1].name)
      assert.equal(openssl_not_after(cb:live("a.example").cert), doc.renewed[1].not_after)
      assert.equal("../../archive/a.example/cert2.pem", sys.readlink(cb:live("a.example").cert))
      assert.matches("Congratulations, all renewals succeeded", err, 1, true)

      -- b fails: its port is taken
      local holder = assert(require("certbot.core").standalone.http01({ address = "127.0.0.1",
        port = http_port }))
      code, out, err = cb:run({ "renew", "--json", "--force-renewal", "--cert-name", "b.example" })
      holder:stop()
      assert.equal(1, code, out .. err)
      doc = decode(out)
      assert.same({}, doc.renewed)
      assert.equal(1, #doc.failed)
      assert.equal("b.example", doc.failed[1].name)
      assert.equal(cb:live("b.example").fullchain, doc.failed[1].fullchain)
      assert.is_true(doc.failed[1].error == cjson.null or type(doc.failed[1].error) == "string")
      assert.matches("1 renew failure(s), 0 parse failure(s)", err, 1, true)

      -- --quiet: stdout still has the JSON, stderr nothing for people
      code, out, err = cb:run({ "renew", "--json", "--quiet" })
      assert.equal(0, code, out .. err)
      assert.equal(2, #decode(out).not_due)
      assert.equal("", err)

      -- a dry run says so
      code, out, err = cb:run({ "renew", "--json", "--dry-run", "--cert-name", "a.example" })
      assert.equal(0, code, out .. err)
      doc = decode(out)
      assert.is_true(doc.dry_run)
      assert.equal("a.example", doc.renewed[1].name)
    end)
  end)

  it("is refused by other subcommands (exit 2, one line)", function()
    local code, out, err = cb:run({ "certonly", "--json", "--standalone", "-d", "x.example" })
    assert.equal(2, code, out .. err)
    assert.matches("--json only works with the certificates, show_account and renew subcommands", err, 1, true)
    assert.equal(1, #lines(err))
    assert.equal("", out)
  end)
end)
