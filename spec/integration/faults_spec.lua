-- Server faults, hostile answers and TLS checks (TESTPLAN D8-D15, E9, G2,
-- I1-I4) against a real Pebble behind spec/helpers/faultproxy.py.  The
-- slow cases (request timeouts, the token sweep) are tagged #faults.
local pebble = require("spec.helpers.pebble")
local faultproxy = require("spec.helpers.faultproxy")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local core = require("certbot.core")
local sys = core.sys

local EXE = (os.getenv("CERTBOT_BUILD") or "build") .. "/certbot"

-- The error a failed run printed: its last non-empty line of stderr, and
-- whether stderr held only that one line.
local function last_error(err)
  local lines = {}
  for l in (err or ""):gmatch("[^\n]+") do lines[#lines + 1] = l end
  return lines[#lines] or "", #lines == 1
end

local function gap(a, b) return b.t - a.t end

local function exists(path) return sys.lstat(path) ~= nil end

local files_under = proc.files_under

describe("server faults through the fault proxy #integration", function()
  local srv, fp, cb, p1

  setup(function()
    local p2
    p1, p2 = proc.free_ports(2)
    srv = pebble.start({ ports = { auto = true, http01 = p1, tlsalpn01 = p2 },
      env = { PEBBLE_WFE_NONCEREJECT = "0" } })
    fp = faultproxy.start(srv)
  end)
  teardown(function()
    if fp then fp.stop() end
    if srv then srv.stop() end
  end)
  before_each(function()
    fp.reset()
    cb = helper.new(fp.srv)
  end)
  after_each(function() cb:cleanup() end)

  local function certonly(name, extra, opts)
    local args = { "certonly", "--standalone", "--http-01-port", tostring(p1), "-d", name }
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    local t0 = sys.monotonic()
    local code, out, err = cb:run(args, opts)
    return code, out, err, sys.monotonic() - t0
  end

  -- The run of cb:run under /usr/bin/time: -> code, out, err, peak RSS (KiB)
  local function certonly_rss(name)
    local rss = cb.dir .. "/rss"
    local argv = { "/usr/bin/time", "-f", "%M", "-o", rss, EXE, "certonly", "--standalone",
      "--http-01-port", tostring(p1), "-d", name, "--config-dir", cb.config_dir, "--work-dir",
      cb.work_dir, "--logs-dir", cb.logs_dir, "-n", "-c", cb.cli_ini, "--server", fp.directory,
      "--agree-tos", "-m", "spec@example.org" }
    local env = { "REQUESTS_CA_BUNDLE=" .. fp.bundle, "CERTBOT_DEFAULT_CLI_INI=", "XDG_CONFIG_HOME=" .. cb.dir }
    for _, kv in ipairs(sys.environ()) do
      local k = kv:match("^([^=]*)=")
      if k ~= "REQUESTS_CA_BUNDLE" and k ~= "CERTBOT_DEFAULT_CLI_INI" and k ~= "XDG_CONFIG_HOME" then
        env[#env + 1] = kv
      end
    end
    local code, out, err = sys.run(argv, env, { stdin = "" })
    return code, out, err, tonumber((proc.read(rss) or ""):match("(%d+)%s*$"))
  end

  describe("D8 server errors", function()
    it("retries newOrder after two 500s, backing off, and issues", function()
      fp.fault({ path = "^/order-plz$", respond = { status = 500 }, times = 2 })
      local code, out, err = certonly("d8.example.org")
      assert.equal(0, code, out .. err)
      local orders = fp.requests("^/order%-plz$", "POST")
      assert.equal(3, #orders)
      assert.equal(500, orders[1].status)
      assert.equal(500, orders[2].status)
      assert.equal(201, orders[3].status)
      assert.is_true(gap(orders[1], orders[2]) >= 0.9, "first backoff too short")
      assert.is_true(gap(orders[2], orders[3]) >= 1.9, "second backoff too short")
      assert.equal(0, (helper.verify_chain(cb, "d8.example.org")))
    end)

    it("does not resubmit a finalize the CA took although it answered 500", function()
      -- Pebble gets the CSR; the client sees a 500
      fp.fault({ path = "^/finalize-order/", set_status = 500 })
      local code, out, err = certonly("d8f.example.org")
      assert.equal(0, code, out .. err)
      local fin = fp.requests("^/finalize%-order/", "POST")
      assert.equal(2, #fin)
      assert.equal(500, fin[1].status)
      assert.equal(0, (helper.verify_chain(cb, "d8f.example.org")))
    end)

    it("gives up after the configured retries and time when the 500s go on", function()
      fp.fault({ path = "^/order-plz$", respond = { status = 500, detail = "down for good" }, times = 0 })
      local code, out, err, took = certonly("d8b.example.org")
      assert.equal(1, code, out .. err)
      local line, only = last_error(err)
      assert.is_true(only, err)
      assert.matches("Unable to place the order: serverInternal :: down for good", line, 1, true)
      -- one try and three retries (acme.MAX_RETRIES), waiting 1 + 2 + 4 s
      assert.equal(4, #fp.requests("^/order%-plz$", "POST"))
      assert.is_true(took >= 7 and took < 7 + 10, ("took %.1f s"):format(took))
      assert.is_false(cb:exists("live/d8b.example.org"))
    end)
  end)

  describe("D9 503 with Retry-After", function()
    it("waits the seconds form out, and issues", function()
      fp.fault({ path = "^/order-plz$", respond = { status = 503, type = "serverInternal",
        headers = { ["Retry-After"] = "3" } } })
      local code, out, err = certonly("d9a.example.org")
      assert.equal(0, code, out .. err)
      local orders = fp.requests("^/order%-plz$", "POST")
      assert.equal(2, #orders)
      local g = gap(orders[1], orders[2])
      assert.is_true(g >= 3 and g <= 3 + 3, ("waited %.1f s"):format(g))
    end)

    it("waits the HTTP-date form out, and issues", function()
      local at = os.time() + 5
      fp.fault({ path = "^/order-plz$", respond = { status = 503,
        headers = { ["Retry-After"] = os.date("!%a, %d %b %Y %H:%M:%S GMT", at) } } })
      local code, out, err = certonly("d9b.example.org")
      assert.equal(0, code, out .. err)
      local orders = fp.requests("^/order%-plz$", "POST")
      assert.equal(2, #orders)
      local g = gap(orders[1], orders[2])
      assert.is_true(g >= 3 and g <= 5 + 3, ("waited %.1f s"):format(g))
    end)

    it("does not sit out a Retry-After beyond the cap in process", function()
      fp.fault({ path = "^/order-plz$", respond = { status = 503, detail = "maintenance",
        headers = { ["Retry-After"] = "3600" } } })
      local code, out, err, took = certonly("d9c.example.org")
      assert.equal(1, code, out .. err)
      assert.is_true(took < 10, ("took %.1f s"):format(took))
      assert.equal(1, #fp.requests("^/order%-plz$", "POST"))
      assert.matches("maintenance", (last_error(err)), 1, true)
    end)
  end)

  describe("D10 rate limits during renew", function()
    local function make_due(name)
      local path = cb.config_dir .. "/renewal/" .. name .. ".conf"
      local text = proc.read(path):gsub("# renew_before_expiry = 30 days\n", "renew_before_expiry = 100 years\n")
      assert(sys.write_atomic(path, text, 420))
    end
    local function version(name)
      local t = sys.readlink(cb.config_dir .. "/live/" .. name .. "/cert.pem")
      return tonumber(t and t:match("cert(%d+)%.pem$"))
    end

    it("records A's retry time without sleeping, renews B, skips A next time, and a flag forces it", function()
      assert.equal(0, (certonly("rl-a.example.org")))
      assert.equal(0, (certonly("rl-b.example.org")))
      make_due("rl-a.example.org")
      make_due("rl-b.example.org")
      fp.clear_log()
      fp.fault({ path = "^/order-plz$", payload = "rl-a\\.example\\.org", respond = { status = 429,
        type = "rateLimited", detail = "too many certificates for rl-a.example.org",
        headers = { ["Retry-After"] = "86400" } }, times = 0 })
      local t0, now = sys.monotonic(), os.time()
      local code, out, err = cb:run({ "renew" })
      local took = sys.monotonic() - t0
      assert.equal(1, code, out .. err)
      assert.is_true(took < 30, ("took %.1f s"):format(took))
      assert.matches("rateLimited :: too many certificates for rl-a.example.org", err, 1, true)
      assert.equal(1, version("rl-a.example.org"))
      assert.equal(2, version("rl-b.example.org"))
      assert.matches("1 renew failure(s), 0 parse failure(s)", err, 1, true)
      local conf = cb:read("renewal/rl-a.example.org.conf")
      local untl = conf:match("\nrenew_not_before = (%S+)\n")
      assert.is_not_nil(untl, conf)
      local ari = require("certbot.ari")
      assert.is_true(math.abs(ari.parse_time(untl) - (now + 86400)) < 60, untl)
      assert.is_nil(cb:read("renewal/rl-b.example.org.conf"):find("renew_not_before", 1, true))
      local c2, o2, e2 = cb:run({ "certificates", "--cert-name", "rl-a.example.org" })
      assert.equal(0, c2, o2 .. e2)
      assert.matches("    Renewal Held Until: " .. ari.show_time(ari.parse_time(untl)) .. " (the CA asked to wait)\n",
        o2, 1, true)
      -- the next run leaves A alone: no order for it reaches the CA
      fp.clear_log()
      code, out, err = cb:run({ "renew" })
      assert.equal(0, code, out .. err)
      assert.matches("The CA asked not to renew rl-a.example.org before", out, 1, true)
      for _, r in ipairs(fp.requests("^/order%-plz$", "POST")) do
        assert.is_nil(r.payload_text:find("rl-a", 1, true))
      end
      assert.equal(1, version("rl-a.example.org"))
      -- --force-renewal tries anyway; success clears the hold
      fp.reset()
      code, out, err = cb:run({ "renew", "--cert-name", "rl-a.example.org", "--force-renewal" })
      assert.equal(0, code, out .. err)
      assert.equal(2, version("rl-a.example.org"))
      assert.is_nil(cb:read("renewal/rl-a.example.org.conf"):find("renew_not_before", 1, true))
    end)

    it("lets a hold lapse once something else replaced its certificate", function()
      assert.equal(0, (certonly("rl-c.example.org")))
      make_due("rl-c.example.org")
      fp.fault({ path = "^/order-plz$", respond = { status = 429, type = "rateLimited",
        headers = { ["Retry-After"] = "86400" } } })
      local code, out, err = cb:run({ "renew" })
      assert.equal(1, code, out .. err)
      assert.matches("\nrenew_not_before = ", cb:read("renewal/rl-c.example.org.conf"), 1, true)
      -- certonly replaces the certificate (Certbot would leave the key too)
      code, out, err = certonly("rl-c.example.org", { "--force-renewal" })
      assert.equal(0, code, out .. err)
      assert.equal(2, version("rl-c.example.org"))
      code, out, err = cb:run({ "renew" })
      assert.equal(0, code, out .. err)
      assert.equal(3, version("rl-c.example.org"))
    end)
  end)

  describe("D11 stalls #faults", function()
    it("gives up on a server that accepts the connection and never answers", function()
      fp.fault({ stall = "connection" })
      local code, out, err, took = certonly("d11a.example.org")
      assert.equal(1, code, out .. err)
      local line, only = last_error(err)
      assert.is_true(only, err)
      assert.matches(fp.directory, line, 1, true)
      assert.is_true(took <= 60 + 5, ("took %.1f s"):format(took))
    end)

    it("gives up on a server that reads the request and never answers", function()
      fp.fault({ path = "^/dir$", stall = "request" })
      local code, out, err, took = certonly("d11b.example.org")
      assert.equal(1, code, out .. err)
      local line, only = last_error(err)
      assert.is_true(only, err)
      assert.matches(fp.directory, line, 1, true)
      assert.is_true(took <= 60 + 5, ("took %.1f s"):format(took))
    end)

    it("gives up on a body that stalls after the headers", function()
      fp.fault({ path = "^/order-plz$", stall = "body" })
      local code, out, err, took = certonly("d11c.example.org")
      assert.equal(1, code, out .. err)
      local line, only = last_error(err)
      assert.is_true(only, err)
      assert.matches(fp.base .. "/order-plz", line, 1, true)
      assert.is_true(took <= 60 + 5, ("took %.1f s"):format(took))
      assert.equal(1, #fp.requests("^/order%-plz$", "POST"))
    end)
  end)

  describe("D12 malformed answers", function()
    local cases = {
      { "malformed JSON", { path = "^/order-plz$", body = '{"status": "pending", "identifiers": [' },
        "order-plz: the CA sent malformed JSON" },
      { "truncated JSON", { path = "^/authZ/", truncate = true },
        "the CA sent malformed JSON" },
      { "the wrong Content-Type", { path = "^/order-plz$", content_type = "text/html" },
        "the CA sent Content-Type text/html where JSON was expected" },
      { "JSON of the wrong type", { path = "^/order-plz$", json = { { { "status" }, 5 } } },
        "order without a status" },
      { "an authorization of the wrong shape", { path = "^/authZ/", json = { { { "identifier" }, "x" } } },
        "malformed authorization" },
      { "a missing Location", { path = "^/order-plz$", headers = { Location = faultproxy.null } },
        "the CA sent no Location for the order" },
      { "a certificate that is not a PEM chain", { path = "^/certZ/", content_type = "application/json" },
        "where a PEM certificate chain was expected" },
      { "a body cut short", { path = "^/order-plz$", short = true }, "order-plz" },
    }
    for i, c in ipairs(cases) do
      it("fails on " .. c[1] .. " with one line", function()
        fp.fault(c[2])
        local code, out, err = certonly(("d12-%d.example.org"):format(i))
        assert.equal(1, code, out .. err)
        local line, only = last_error(err)
        assert.is_true(only, err)
        assert.matches(c[3], line, 1, true)
        assert.is_false(cb:exists("live/" .. ("d12-%d.example.org"):format(i)))
      end)
    end
  end)

  describe("D13 oversized answers", function()
    local cases = {
      { "a 200 MiB JSON body", { path = "^/order-plz$", huge = 200 * 1024 * 1024 },
        "response body larger than max_body" },
      { "an endless chunked body", { path = "^/dir$", endless = true }, "response body larger than max_body" },
      { "a 1 MiB header line", { path = "^/order-plz$", big_header = 1024 * 1024 },
        "order-plz: response too large to hold (a header line over libcurl's limit" },
      { "a 200 KiB header line", { path = "^/order-plz$", big_header = 200 * 1024 }, "order-plz: response" },
      { "a 80 KiB header line", { path = "^/order-plz$", big_header = 80 * 1024 },
        "order-plz: response headers larger than max_header (65536 bytes)" },
    }
    for i, c in ipairs(cases) do
      it("aborts " .. c[1] .. " at the cap, in little memory", function()
        fp.fault(c[2])
        local t0 = sys.monotonic()
        local code, out, err, rss = certonly_rss(("d13-%d.example.org"):format(i))
        assert.equal(1, code, out .. err)
        assert.is_true(sys.monotonic() - t0 < 30)
        local line, only = last_error(err)
        assert.is_true(only, err)
        assert.matches(c[3], line, 1, true)
        assert.is_not_nil(rss)
        assert.is_true(rss < 64 * 1024, ("peak RSS %d KiB"):format(rss))
      end)
    end
  end)

  describe("D14 http:// URLs from the CA", function()
    local function run_case(name, rule, words)
      rule.path = rule.path or "^/order-plz$"
      fp.fault(rule)
      local code, out, err = certonly(name)
      assert.equal(1, code, out .. err)
      local line, only = last_error(err)
      assert.is_true(only, err)
      assert.matches(words, line, 1, true)
      assert.matches("not an https URL: " .. fp.trap, line, 1, true)
      assert.same({}, fp.trap_log())
    end
    it("refuses an http:// Location", function()
      run_case("d14a.example.org", { headers = { Location = fp.trap .. "/order/1" } }, "Location header")
    end)
    it("refuses http:// authorization URLs", function()
      run_case("d14b.example.org", { json = { { { "authorizations", "*" }, fp.trap .. "/authz/1" } } },
        "authorization URL")
    end)
    it("refuses an http:// finalize URL", function()
      run_case("d14c.example.org", { json = { { { "finalize" }, fp.trap .. "/finalize/1" } } }, "finalize URL")
    end)
    it("refuses an http:// certificate URL", function()
      run_case("d14d.example.org", { path = "^/(finalize-order|my-order)/", times = 0,
        json = { { { "certificate" }, fp.trap .. "/cert/1" } } }, "certificate URL")
    end)
    it("refuses an http:// challenge URL", function()
      run_case("d14e.example.org", { path = "^/authZ/", times = 0,
        json = { { { "challenges", "*", "url" }, fp.trap .. "/chall/1" } } }, "challenge URL")
    end)
  end)

  describe("D15 an order stuck in processing", function()
    it("gives up at the issuance deadline", function()
      fp.fault({ path = "^/(finalize-order|my-order)/", times = 0,
        json = { { { "status" }, "processing" }, { { "certificate" }, { ["$delete"] = true } } } })
      local code, out, err, took = certonly("d15.example.org", { "--issuance-timeout", "6" })
      assert.equal(1, code, out .. err)
      local line, only = last_error(err)
      assert.is_true(only, err)
      assert.matches("Failed to finalize the order: timed out waiting for the certificate", line, 1, true)
      assert.matches("(status processing)", line, 1, true)
      assert.is_true(took >= 6 and took < 6 + 10, ("took %.1f s"):format(took))
      assert.is_true(#fp.requests("^/my%-order/", "POST") >= 2)
      assert.is_false(cb:exists("live/d15.example.org"))
    end)
  end)

  describe("E9/G2 hostile tokens #faults", function()
    local marker = "/tmp/pwn-" .. core.crypto.b64url_encode(core.crypto.random_bytes(6)):gsub("[^%w]", "x")
    local tokens = {
      "../../../../tmp/pwn", "../../../.." .. marker, "..%2f..", "a/b", "..\\x",
      string.rep("A", 2048), "", "t\195\182ken", "$(touch " .. marker .. ")",
      "`touch " .. marker .. "`", "a;touch " .. marker, "a\ntouch " .. marker,
    }
    local pwn_before = exists("/tmp/pwn")
    for _, how in ipairs({ "webroot", "standalone", "manual" }) do
      it("refuses every hostile token with " .. how .. " before anything touches it", function()
        local www = cb.dir .. "/www"
        assert(sys.mkdir(www, 493))
        local hook_ran = cb.dir .. "/hook-ran"
        for i, tok in ipairs(tokens) do
          fp.reset()
          fp.fault({ path = "^/authZ/", times = 0, json = { { { "challenges", "*", "token" }, tok } } })
          local args = ({
            webroot = { "certonly", "--webroot", "-w", www },
            standalone = { "certonly", "--standalone", "--http-01-port", tostring(p1) },
            manual = { "certonly", "--manual", "--preferred-challenges", "http",
              "--manual-auth-hook", "touch " .. proc.quote(hook_ran),
              "--manual-cleanup-hook", "touch " .. proc.quote(hook_ran) },
          })[how]
          args[#args + 1] = "-d"
          args[#args + 1] = ("e9-%d.example.org"):format(i)
          local code, out, err = cb:run(args)
          assert.equal(1, code, ("token %q: %s%s"):format(tok, out, err))
          local line, only = last_error(err)
          assert.is_true(only, err)
          assert.matches("invalid token from the CA", line, 1, true)
          assert.is_false(exists(hook_ran), "a manual hook ran for token " .. tok)
          assert.is_false(exists(marker))
          assert.equal(pwn_before, exists("/tmp/pwn"))
          assert.same({}, files_under(www))
        end
      end)
    end
  end)

  describe("G2 other strings from the CA", function()
    local marker

    before_each(function() marker = cb.dir .. "/pwn" end)

    it("refuses an authorization for a name it did not ask for", function()
      local hook_ran = cb.dir .. "/hook-ran"
      fp.fault({ path = "^/authZ/", times = 0,
        json = { { { "identifier", "value" }, "$(touch " .. marker .. ").example.org" } } })
      local code, out, err = cb:run({ "certonly", "--manual", "--preferred-challenges", "http",
        "--manual-auth-hook", "touch " .. proc.quote(hook_ran), "-d", "g2a.example.org" })
      assert.equal(1, code, out .. err)
      local line, only = last_error(err)
      assert.is_true(only, err)
      assert.matches("The CA sent an authorization for dns $(touch " .. marker .. ").example.org, which was "
        .. "not asked for", line, 1, true)
      assert.is_false(exists(hook_ran))
      assert.is_false(exists(marker))
    end)

    it("passes a hostile problem detail on as text, never through a shell", function()
      local env_file = cb.dir .. "/cleanup.env"
      local hostile = "$(touch " .. marker .. ") `touch " .. marker .. "`; touch " .. marker .. "\nline two"
      -- the first look at the authorization is left alone; later ones
      -- carry the CA's failure with a hostile detail
      fp.fault({ { path = "^/authZ/", times = 1 },
        { path = "^/authZ/", times = 0, json = { { { "status" }, "invalid" },
          { { "challenges", "*", "status" }, "invalid" },
          { { "challenges", "*", "error" }, { type = "urn:ietf:params:acme:error:unauthorized",
            detail = hostile } } } } })
      local code, out, err = cb:run({ "certonly", "--manual", "--preferred-challenges", "http",
        "--manual-auth-hook", "true",
        "--manual-cleanup-hook", "env > " .. proc.quote(env_file), "-d", "g2b.example.org" })
      assert.equal(1, code, out .. err)
      assert.matches("Detail: $(touch " .. marker .. ") `touch " .. marker .. "`; touch " .. marker
        .. " line two", err, 1, true)
      assert.is_false(exists(marker))
      -- the cleanup hook ran, with the values in its environment
      local env = proc.read(env_file)
      assert.is_not_nil(env)
      assert.matches("CERTBOT_DOMAIN=g2b.example.org", env, 1, true)
    end)
  end)
end)

describe("TLS checks of the ACME server #integration", function()
  local srv, fp, cb, p1

  setup(function()
    local p2
    p1, p2 = proc.free_ports(2)
    srv = pebble.start({ ports = { auto = true, http01 = p1, tlsalpn01 = p2 } })
    fp = faultproxy.start(srv)
  end)
  teardown(function()
    if fp then fp.stop() end
    if srv then srv.stop() end
  end)
  before_each(function()
    fp.reset()
    cb = helper.new(fp.srv)
  end)
  after_each(function() cb:cleanup() end)

  it("I1 refuses a server whose certificate it cannot verify, before any JWS", function()
    local code, out, err = cb:run({ "certonly", "--standalone", "--http-01-port", tostring(p1),
      "-d", "i1.example.org" }, { env = { REQUESTS_CA_BUNDLE = "", CURL_CA_BUNDLE = "" } })
    assert.equal(1, code, out .. err)
    local line, only = last_error(err)
    assert.is_true(only, err)
    assert.matches("Unable to reach the ACME server at " .. fp.directory, line, 1, true)
    assert.matches("certificate", line, 1, true)
    assert.same({}, fp.requests("", "POST"))
  end)

  it("I2 refuses an http:// server and sends it nothing", function()
    local c2 = helper.new({ directory = fp.trap .. "/dir", ca_file = fp.bundle })
    local code, out, err = c2:run({ "certonly", "--standalone", "--http-01-port", tostring(p1),
      "-d", "i2.example.org" })
    c2:cleanup()
    assert.equal(2, code, out .. err)
    local line, only = last_error(err)
    assert.is_true(only, err)
    assert.matches("The ACME server URL must start with https://: " .. fp.trap .. "/dir", line, 1, true)
    assert.same({}, fp.trap_log())
  end)

  it("I3 refuses a certificate for another host name", function()
    local other = faultproxy.start(srv, { san = "DNS:localhost" })
    local ok, e = pcall(function()
      local c2 = helper.new(other.srv)
      local code, out, err = c2:run({ "certonly", "--standalone", "--http-01-port", tostring(p1),
        "-d", "i3.example.org" })
      assert.equal(1, code, out .. err)
      local line, only = last_error(err)
      assert.is_true(only, err)
      assert.matches(other.directory, line, 1, true)
      assert.matches("127.0.0.1", line, 1, true)
      assert.same({}, other.requests("", "POST"))
      -- the same listener is fine under the name on its certificate
      c2:cleanup()
      local c3 = helper.new({ directory = ("https://localhost:%d/dir"):format(other.port), ca_file = other.bundle })
      code, out, err = c3:run({ "profiles" })
      c3:cleanup()
      assert.equal(0, code, out .. err)
    end)
    other.stop()
    assert(ok, e)
  end)

  it("I4 --no-verify-ssl works without the CA, and warns on every run", function()
    local env = { REQUESTS_CA_BUNDLE = "", CURL_CA_BUNDLE = "" }
    local args = { "certonly", "--standalone", "--http-01-port", tostring(p1), "-d", "i4.example.org",
      "--no-verify-ssl" }
    local code, out, err = cb:run(args, { env = env })
    assert.equal(0, code, out .. err)
    assert.matches("--no-verify-ssl is set", err, 1, true)
    args[#args + 1] = "--force-renewal"
    code, out, err = cb:run(args, { env = env })
    assert.equal(0, code, out .. err)
    assert.matches("--no-verify-ssl is set", err, 1, true)
  end)
end)
