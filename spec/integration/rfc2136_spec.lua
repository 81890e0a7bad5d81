-- dns-rfc2136 end to end: a real BIND 9 (spec/helpers/bind.lua) holding
-- example.test, updated with TSIG by build/certbot, and a real Pebble that
-- resolves through that BIND, so the CA validates the records we wrote.
local core = require("certbot.core")
local proc = require("spec.helpers.proc")
local bind = require("spec.helpers.bind")
local pebble = require("spec.helpers.pebble")
local certbot = require("spec.helpers.certbot")
local rfc = require("certbot.plugins.dns.rfc2136")

local crypto, sys = core.crypto, core.sys
local EXE = (os.getenv("CERTBOT_BUILD") or "build") .. "/certbot"
local NAME = "_acme-challenge.example.test"

describe("dns-rfc2136 with BIND", function()
  local ns, srv, tmp

  setup(function()
    ns = bind.start()
    local p1, p2 = proc.free_ports(2)
    srv = pebble.start({ ports = { auto = true, http01 = p1, tlsalpn01 = p2 }, dnsserver = ns.address,
      -- every order validates anew: the renewal below must wait and count down
      env = { PEBBLE_AUTHZREUSE = "0" } })
    tmp = proc.tmpdir("rfc2136-")
  end)

  teardown(function()
    if srv then srv.stop() end
    if ns then ns.stop() end
    proc.rm_rf(tmp)
  end)

  local function client(key, extra)
    local creds = { dns_rfc2136_server = "127.0.0.1", dns_rfc2136_port = tostring(ns.port),
      dns_rfc2136_name = key.name, dns_rfc2136_secret = key.secret, dns_rfc2136_algorithm = key.algorithm }
    for k, v in pairs(extra or {}) do creds[k] = v end
    local s = assert(rfc.settings(creds, tmp .. "/creds.ini"))
    s.timeout = 5
    return rfc.Client.new(s)
  end

  local function txt(name) return assert(ns.dig(name or NAME, "TXT")) end

  local function common_args(cb, s)
    return { "--config-dir", cb.config_dir, "--work-dir", cb.work_dir, "--logs-dir", cb.logs_dir,
      "-n", "-c", cb.cli_ini, "--server", s.directory, "--agree-tos", "-m", "spec@example.org" }
  end

  -- Start certbot in the background (SIGINT not ignored); -> a handle with
  -- pid(), done() -> exit status (as sh reports it) | nil, out(), err().
  local function background(cb, s, args)
    local d = proc.tmpdir("rfc2136-bg-")
    local argv = { "/bin/sh", "-c", 'env --default-signal=INT "$@" >"$D/out" 2>"$D/err" & '
      .. 'echo $! >"$D/pid"; wait $!; echo $? >"$D/rc"', "sh", EXE }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    for _, a in ipairs(common_args(cb, s)) do argv[#argv + 1] = a end
    local shpid = proc.spawn(argv, { env = { D = d, REQUESTS_CA_BUNDLE = s.ca_file,
      CERTBOT_DEFAULT_CLI_INI = "", XDG_CONFIG_HOME = cb.dir } })
    local h = { dir = d }
    function h.pid() return tonumber((proc.read(d .. "/pid") or ""):match("%d+")) end
    function h.done() return tonumber((proc.read(d .. "/rc") or ""):match("%d+")) end
    function h.out() return proc.read(d .. "/out") or "" end
    function h.err() return proc.read(d .. "/err") or "" end
    function h.wait(secs) return proc.wait_until(h.done, secs or 60, 0.05) end
    function h.cleanup()
      local pid = h.pid()
      if pid then proc.stop(pid, "certbot") end
      proc.stop(shpid, "sh")
      proc.rm_rf(d)
    end
    assert(proc.wait_until(h.pid, 10, 0.02), "certbot did not start")
    return h
  end

  -- Poll dig while fn's run goes on: the largest set of TXT values seen.
  local function watch(h, secs)
    local seen = {}
    proc.wait_until(function()
      local v = ns.dig(NAME, "TXT")
      if v and #v > #seen then seen = v end
      return h.done()
    end, secs or 60, 0.05)
    return seen
  end

  local function b64url43(v) return #v == 43 and v:match("^[%w_-]+$") ~= nil end

  describe("the client", function()
    for _, case in ipairs({ { "md5", "HMAC-MD5" }, { "sha256", "HMAC-SHA256" }, { "sha512", "HMAC-SHA512" } }) do
      it("adds values and deletes exactly the one asked, signed with " .. case[2], function()
        local c = client(ns.keys[case[1]])
        assert(c:add_txt(NAME, "first-" .. case[1], 60))
        assert(c:add_txt(NAME, "second-" .. case[1], 60))
        assert.same({ "first-" .. case[1], "second-" .. case[1] }, txt())
        assert(c:del_txt(NAME, "first-" .. case[1]))
        assert.same({ "second-" .. case[1] }, txt())
        assert(c:del_txt(NAME, "second-" .. case[1]))
        assert.same({}, txt())
      end)
    end

    it("talks to a server on an IPv6 address", function()
      local c = client(ns.keys.sha256, { dns_rfc2136_server = "::1" })
      assert.equal(("[::1]:%d"):format(ns.port), c.label)
      assert(c:add_txt(NAME, "over-ipv6", 60))
      assert.same({ "over-ipv6" }, ns.dig(NAME, "TXT", "::1"))
      assert(c:del_txt(NAME, "over-ipv6"))
      assert.same({}, txt())
    end)

    it("finds the zone by SOA queries walking up the labels", function()
      local c = client(ns.keys.sha256)
      assert.equal("sub.example.test", c:find_zone("_acme-challenge.a.b.sub.example.test"))
      assert.equal("example.test", c:find_zone("_acme-challenge.other.example.test"))
      assert(c:add_txt("_acme-challenge.a.sub.example.test", "deep", 60))
      assert.same({ "deep" }, txt("_acme-challenge.a.sub.example.test"))
      assert(c:del_txt("_acme-challenge.a.sub.example.test", "deep"))
      assert.same({}, txt("_acme-challenge.a.sub.example.test"))
      local ok, err = c:find_zone("_acme-challenge.example.org")
      assert.is_nil(ok)
      assert.equal("Unable to determine base domain for _acme-challenge.example.org using names: "
        .. "_acme-challenge.example.org, example.org, org (no authoritative SOA answer from "
        .. ns.address .. "; it refused the queries for _acme-challenge.example.org, example.org, org: it "
        .. "does not serve them, or it answers only signed queries (dns_rfc2136_sign_query = true))", err)
    end)

    it("signs the SOA queries too with dns_rfc2136_sign_query", function()
      -- signed.test answers signed queries only
      local plain = client(ns.keys.sha512)
      local ok, err = plain:find_zone("_acme-challenge.signed.test")
      assert.is_nil(ok)
      assert.equal("Unable to determine base domain for _acme-challenge.signed.test using names: "
        .. "_acme-challenge.signed.test, signed.test, test (no authoritative SOA answer from " .. ns.address
        .. "; it refused the queries for _acme-challenge.signed.test, signed.test, test: it does not serve "
        .. "them, or it answers only signed queries (dns_rfc2136_sign_query = true))", err)
      local c = client(ns.keys.sha512, { dns_rfc2136_sign_query = "True" })
      assert.is_true(c.sign_query)
      assert.equal("signed.test", c:find_zone("_acme-challenge.signed.test"))
      assert(c:add_txt("_acme-challenge.signed.test", "signed-value", 60))
      assert(c:del_txt("_acme-challenge.signed.test", "signed-value"))
      assert.equal("example.test", c:find_zone(NAME))
      local bad = client({ name = ns.keys.sha512.name, secret = ns.keys.md5.secret, algorithm = "HMAC-SHA512" },
        { dns_rfc2136_sign_query = "true" })
      ok, err = bad:find_zone(NAME)
      assert.is_nil(ok)
      assert.matches("^the SOA query for _acme%-challenge%.example%.test was not accepted by 127%.0%.0%.1:%d+: "
        .. "NOTAUTH %(TSIG error BADSIG: ", err)
    end)

    it("turns BIND's refusals into one line naming the server, the zone and the cause", function()
      local where = ("Error adding TXT record %s: the DNS server %s answered for zone example.test: ")
        :format(NAME, ns.address)
      local path = tmp .. "/creds.ini"
      local cases = {
        { { name = ns.keys.sha256.name, secret = ns.keys.md5.secret, algorithm = "HMAC-SHA256" },
          "NOTAUTH (TSIG error BADSIG: the TSIG signature does not verify: check dns_rfc2136_secret and "
            .. "dns_rfc2136_algorithm (HMAC-SHA256) in " .. path .. ")" },
        { { name = "unknown-key.", secret = ns.keys.sha256.secret, algorithm = "HMAC-SHA256" },
          "NOTAUTH (TSIG error BADKEY: the server knows no TSIG key 'unknown-key' with algorithm HMAC-SHA256 "
            .. "(dns_rfc2136_name, dns_rfc2136_algorithm in " .. path .. "))" },
        { { name = ns.keys.md5.name, secret = ns.keys.md5.secret, algorithm = "HMAC-SHA256" },
          "NOTAUTH (TSIG error BADKEY: the server knows no TSIG key 'md5-key' with algorithm HMAC-SHA256 "
            .. "(dns_rfc2136_name, dns_rfc2136_algorithm in " .. path .. "))" },
        { ns.keys.other,
          "REFUSED (is the key allowed to update this zone? see its allow-update or update-policy)" },
      }
      for _, case in ipairs(cases) do
        local ok, err = client(case[1]):add_txt(NAME, "never", 60)
        assert.is_nil(ok)
        assert.equal(where .. case[2], err)
        assert.is_nil(err:find("\n", 1, true))
      end
      assert.same({}, txt())
    end)

    it("checks the credentials as Certbot does", function()
      local base = { dns_rfc2136_server = "127.0.0.1", dns_rfc2136_name = "k.", dns_rfc2136_secret = "c2VjcmV0" }
      local function check(extra)
        local c = {}
        for k, v in pairs(base) do c[k] = v end
        for k, v in pairs(extra) do c[k] = v or nil end
        return rfc.settings(c, "/etc/letsencrypt/rfc2136.ini")
      end
      local s = assert(check({}))
      assert.equal(53, s.port)
      assert.equal("HMAC-MD5", s.key.alg_text)
      assert.equal("secret", s.key.secret)
      assert.is_false(s.sign_query)
      assert(check({ dns_rfc2136_server = "::1" }))
      assert(check({ dns_rfc2136_server = "fe80::1%lo", dns_rfc2136_algorithm = "hmac-sha384" }))
      assert.equal("secret!", assert(check({ dns_rfc2136_secret = "c2Vj cmV0IQ==" })).key.secret)
      assert.same({ nil, "The configured target DNS server (ns1.example.test) is not a valid IPv4 or IPv6 "
        .. "address. A hostname is not allowed. (dns_rfc2136_server in /etc/letsencrypt/rfc2136.ini)" },
        { check({ dns_rfc2136_server = "ns1.example.test" }) })
      assert.same({ nil, "Unknown algorithm: HMAC-SHA3. (dns_rfc2136_algorithm in /etc/letsencrypt/rfc2136.ini; "
        .. "one of HMAC-MD5, HMAC-SHA1, HMAC-SHA224, HMAC-SHA256, HMAC-SHA384, HMAC-SHA512)" },
        { check({ dns_rfc2136_algorithm = "HMAC-SHA3" }) })
      assert.same({ nil, "dns_rfc2136_port in /etc/letsencrypt/rfc2136.ini must be a port number from 1 to 65535" },
        { check({ dns_rfc2136_port = "99999" }) })
      assert.same({ nil, "dns_rfc2136_secret in /etc/letsencrypt/rfc2136.ini is not valid base64" },
        { check({ dns_rfc2136_secret = "not*base64" }) })
      assert.same({ nil, "dns_rfc2136_sign_query in /etc/letsencrypt/rfc2136.ini must be true or false" },
        { check({ dns_rfc2136_sign_query = "maybe" }) })
      assert.same({ nil, 'Missing properties "dns_rfc2136_name", "dns_rfc2136_secret" in credentials '
        .. "configuration file /etc/letsencrypt/rfc2136.ini" },
        { check({ dns_rfc2136_name = false, dns_rfc2136_secret = false }) })
    end)
  end)

  describe("certonly", function()
    local cb

    before_each(function() cb = certbot.new(srv) end)
    after_each(function() cb:cleanup() end)

    it("issues a wildcard certificate; the records are in BIND during validation, gone afterwards", function()
      local creds = ns.credentials(cb.dir .. "/rfc2136.ini", ns.keys.sha256)
      local h = background(cb, srv, { "certonly", "--dns-rfc2136", "--dns-rfc2136-credentials", creds,
        "--dns-rfc2136-propagation-seconds", "2", "-d", "*.example.test", "-d", "example.test" })
      local ok, err = pcall(function()
        local seen = watch(h, 90)
        assert.equal(0, h.done(), h.out() .. h.err())
        -- the wildcard and its base name: two values under one name
        assert.equal(2, #seen, table.concat(seen, ","))
        assert.is_true(b64url43(seen[1]) and b64url43(seen[2]) and seen[1] ~= seen[2])
        assert.same({}, txt())
        assert.matches("Waiting 2 seconds for DNS changes to propagate", h.out(), 1, true)
        assert.matches("Successfully received certificate", h.out(), 1, true)
        local cert = assert(crypto.parse_cert(assert(proc.read(cb:live("example.test").cert))))
        table.sort(cert.dns)
        assert.same({ "*.example.test", "example.test" }, cert.dns)
        assert.equal(0, (certbot.verify_chain(cb, "example.test")))
        local conf = assert(cb:read("renewal/example.test.conf"))
        assert.matches("\nauthenticator = dns%-rfc2136\n", conf)
        assert.matches("\ndns_rfc2136_credentials = " .. creds:gsub("%p", "%%%0") .. "\n", conf)
        -- the secret is in no log
        local logs = assert(proc.read(cb.logs_dir .. "/letsencrypt.log"))
        assert.is_nil(logs:find(ns.keys.sha256.secret, 1, true))
        assert.matches("added TXT record _acme-challenge.example.test", logs, 1, true)
      end)
      h.cleanup()
      assert(ok, err)

      -- renewal from the stored conf, on a terminal (script(1) gives a pty):
      -- the wait counts down
      local cmd = { EXE, "renew", "--cert-name", "example.test", "--force-renewal",
        "--dns-rfc2136-propagation-seconds", "2" }
      for _, a in ipairs(common_args(cb, srv)) do cmd[#cmd + 1] = a end
      local words = {}
      for i, a in ipairs(cmd) do words[i] = proc.quote(a) end
      local code, out = certbot.sh(("REQUESTS_CA_BUNDLE=%s CERTBOT_DEFAULT_CLI_INI= XDG_CONFIG_HOME=%s "
        .. "script -qec %s /dev/null </dev/null"):format(proc.quote(srv.ca_file), proc.quote(cb.dir),
        proc.quote(table.concat(words, " "))))
      assert.equal(0, code, out)
      assert.matches("\rWaiting 2 seconds for DNS changes to propagate: 2 s left", out, 1, true)
      assert.matches("\rWaiting 2 seconds for DNS changes to propagate: 1 s left", out, 1, true)
      assert.matches("Congratulations, all renewals succeeded", out, 1, true)
      assert.truthy(cb:exists("archive/example.test/cert2.pem"))
      assert.same({}, txt())
    end)

    it("fails with BIND's refusal for a wrong key, before any order, leaving no lineage", function()
      local bad = { name = ns.keys.sha256.name, secret = ns.keys.md5.secret, algorithm = "HMAC-SHA256" }
      local creds = ns.credentials(cb.dir .. "/bad.ini", bad)
      local code, out, err = cb:run({ "certonly", "--dns-rfc2136", "--dns-rfc2136-credentials", creds,
        "--dns-rfc2136-propagation-seconds", "0", "-d", "*.example.test", "-d", "example.test" })
      assert.equal(1, code, out .. err)
      assert.matches(("Error adding TXT record _acme-challenge.example.test: the DNS server %s answered for "
        .. "zone example.test: NOTAUTH (TSIG error BADSIG: the TSIG signature does not verify: check "
        .. "dns_rfc2136_secret and dns_rfc2136_algorithm (HMAC-SHA256) in %s)"):format(ns.address, creds),
        err, 1, true)
      assert.is_false(cb:exists("live/example.test"))
      assert.is_false(cb:exists("renewal/example.test.conf"))
      assert.same({}, txt())
      local code2, _, err2 = cb:run({ "certonly", "--dns-rfc2136", "--dns-rfc2136-credentials",
        ns.credentials(cb.dir .. "/other.ini", ns.keys.other), "-d", "example.test" })
      assert.equal(1, code2)
      assert.matches("answered for zone example.test: REFUSED (is the key allowed to update this zone? ",
        err2, 1, true)
      assert.is_false(cb:exists("live/example.test"))
    end)

    it("checks the credentials file before any request to the CA", function()
      local missing = cb.dir .. "/missing.ini"
      local code, out, err = cb:run({ "certonly", "--dns-rfc2136", "--dns-rfc2136-credentials", missing,
        "-d", "example.test" })
      assert.equal(1, code, out .. err)
      assert.equal("File not found: " .. missing .. "\n", err)
      assert.same({}, sys.listdir(cb.config_dir .. "/accounts") or {}) -- no account: nothing was asked
      local partial = ns.credentials(cb.dir .. "/partial.ini", ns.keys.sha256, { dns_rfc2136_secret = false })
      code, out, err = cb:run({ "certonly", "--dns-rfc2136", "--dns-rfc2136-credentials", partial,
        "-d", "example.test" })
      assert.equal(1, code, out)
      assert.equal('Missing property "dns_rfc2136_secret" in credentials configuration file ' .. partial .. "\n", err)
      code, out, err = cb:run({ "certonly", "--dns-rfc2136", "-d", "example.test" })
      assert.equal(1, code, out)
      assert.equal("Missing command line flag or config entry for this setting: Input the path to your RFC 2136 "
        .. "credentials INI file (You can set this with the --dns-rfc2136-credentials flag)\n", err)
      assert.same({}, sys.listdir(cb.config_dir .. "/accounts") or {}) -- no account: nothing was asked
    end)

    it("warns about a credentials file others can read", function()
      local creds = ns.credentials(cb.dir .. "/open.ini", ns.keys.sha256)
      assert(sys.chmod(creds, 420))
      local code, out, err = cb:run({ "certonly", "--dns-rfc2136", "--dns-rfc2136-credentials", creds,
        "--dns-rfc2136-propagation-seconds", "0", "-d", "example.test" })
      assert.equal(0, code, out .. err)
      assert.matches("Unsafe permissions on credentials configuration file: " .. creds, err, 1, true)
      assert.same({}, txt())
    end)

    it("deletes its records after a failed validation", function()
      -- a second Pebble that resolves through pebble-challtestsrv, which
      -- never sees the records in BIND: validation fails
      local p1, p2 = proc.free_ports(2)
      local blind = pebble.start({ ports = { auto = true, http01 = p1, tlsalpn01 = p2 } })
      local bcb = certbot.new(blind)
      local ok, err = pcall(function()
        local creds = ns.credentials(bcb.dir .. "/rfc2136.ini", ns.keys.md5)
        local h = background(bcb, blind, { "certonly", "--dns-rfc2136", "--dns-rfc2136-credentials", creds,
          "--dns-rfc2136-propagation-seconds", "1", "-d", "*.example.test", "-d", "example.test" })
        local hok, herr = pcall(function()
          local seen = watch(h, 90)
          assert.equal(1, h.done(), h.out() .. h.err())
          assert.equal(2, #seen)
          assert.matches("Certbot failed to authenticate some domains (authenticator: dns-rfc2136)",
            h.err(), 1, true)
          assert.same({}, txt())
          assert.is_false(bcb:exists("live/example.test"))
        end)
        h.cleanup()
        assert(hok, herr)
      end)
      bcb:cleanup()
      blind.stop()
      assert(ok, err)
    end)

    for _, case in ipairs({ { "INT", 1, "Exiting due to user request." },
      { "TERM", 143, "Exiting due to SIGTERM." } }) do
      it("cleans up when SIG" .. case[1] .. " interrupts the wait, and exits as Certbot does", function()
        local creds = ns.credentials(cb.dir .. "/rfc2136.ini", ns.keys.sha512)
        local h = background(cb, srv, { "certonly", "--dns-rfc2136", "--dns-rfc2136-credentials", creds,
          "--dns-rfc2136-propagation-seconds", "120", "-d", "*.example.test", "-d", "example.test" })
        local ok, err = pcall(function()
          local seen = proc.wait_until(function()
            local v = ns.dig(NAME, "TXT")
            return v and #v == 2 and v
          end, 30, 0.05)
          assert.truthy(seen, "the records never appeared: " .. h.out() .. h.err())
          local t0 = sys.monotonic()
          assert.is_true(os.execute("kill -" .. case[1] .. " " .. math.tointeger(h.pid())))
          assert.truthy(h.wait(20), "certbot did not stop")
          assert.is_true(sys.monotonic() - t0 < 5)
          -- 143: killed by SIGTERM, re-raised after the cleanup
          assert.equal(case[2], h.done())
          assert.equal(case[3] .. "\n", h.err())
          assert.same({}, txt())
          assert.is_false(cb:exists("live/example.test"))
        end)
        h.cleanup()
        assert(ok, err)
      end)
    end
  end)
end)
