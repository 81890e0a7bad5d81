-- ACME Renewal Information (RFC 9773) in renew and certificates, against
-- a real Pebble behind spec/helpers/faultproxy.py, which adds renewalInfo
-- to Pebble 2.4.0's directory and answers the windows each case chooses.
local pebble = require("spec.helpers.pebble")
local faultproxy = require("spec.helpers.faultproxy")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local ari = require("certbot.ari")
local core = require("certbot.core")
local sys, crypto = core.sys, core.crypto

local DAY = 86400

describe("ari: times and the conf's top level", function()
  it("reads RFC 3339 times, with fractions and offsets", function()
    assert.equal(0, ari.parse_time("1970-01-01T00:00:00Z"))
    assert.equal(1735689600, ari.parse_time("2025-01-01T00:00:00Z"))
    assert.equal(1735689600, ari.parse_time("2025-01-01T00:00:00.123456Z"))
    assert.equal(1735689600, ari.parse_time("2025-01-01T01:30:00+01:30"))
    assert.equal(1735689600, ari.parse_time("2024-12-31T22:00:00-02:00"))
    assert.equal("2025-01-01T00:00:00Z", ari.format_time(1735689600))
    for _, bad in ipairs({ "2025-01-01", "2025-13-01T00:00:00Z", "2025-01-01T00:00:00",
      "yesterday", "2025-01-01T00:00:00Zjunk", 5 }) do
      assert.is_nil(ari.parse_time(bad), tostring(bad))
    end
  end)

  it("checks a window before anyone acts on it", function()
    local s, e, url = ari.check_document({ suggestedWindow = { start = "2025-01-01T00:00:00Z",
      ["end"] = "2025-01-02T00:00:00Z" }, explanationURL = "https://ca.example/why" })
    assert.equal(1735689600, s)
    assert.equal(1735689600 + DAY, e)
    assert.equal("https://ca.example/why", url)
    assert.is_nil((ari.check_document({ suggestedWindow = { start = "2025-01-02T00:00:00Z",
      ["end"] = "2025-01-01T00:00:00Z" } })))
    assert.is_nil((ari.check_document({ suggestedWindow = { start = 5, ["end"] = 6 } })))
    assert.is_nil((ari.check_document({})))
    -- an explanationURL that is not a plain URL is dropped, the window kept
    local s2, _, url2 = ari.check_document({ suggestedWindow = { start = "2025-01-01T00:00:00Z",
      ["end"] = "2025-01-02T00:00:00Z" }, explanationURL = "https://x\n$(touch y)" })
    assert.equal(1735689600, s2)
    assert.is_nil(url2)
  end)

  it("edits only its own top-level keys of a renewal conf, keeping every other byte", function()
    local dir = proc.tmpdir("ari-conf-")
    local storage = require("certbot.storage")
    local backend = storage.filesystem(dir)
    assert(backend:setup())
    local text = "# renew_before_expiry = 30 days\nversion = 2.1.0\narchive_dir = " .. dir
      .. "/archive/x\ncert = " .. dir .. "/live/x/cert.pem\nprivkey = " .. dir .. "/live/x/privkey.pem\n"
      .. "chain = " .. dir .. "/live/x/chain.pem\nfullchain = " .. dir .. "/live/x/fullchain.pem\n\n"
      .. "# Options used in the renewal process\n[renewalparams]\nauthenticator = standalone\n"
      .. "[[webroot_map]]\nx = /var/www\n"
    assert(backend:write_conf("x", text))
    local confobj = require("certbot.confobj")
    local lineage = { name = "x", backend = backend, conf = assert(confobj.parse(text)) }
    assert(ari.write(lineage, { ari_cert = "abc.def", ari_explanation_url = "https://ca.example/a#b, c" }))
    local after = backend:read_conf("x")
    assert.equal(text:gsub("(fullchain = [^\n]*\n)", "%1ari_cert = abc.def\n"
      .. "ari_explanation_url = \"https://ca.example/a#b, c\"\n"), after)
    local parsed = assert(confobj.parse(after))
    assert.equal("https://ca.example/a#b, c", parsed.keys.ari_explanation_url)
    assert.equal("/var/www", parsed.sections.renewalparams.sections.webroot_map.keys.x)
    assert.equal("abc.def", lineage.conf.keys.ari_cert)
    assert(ari.clear(lineage))
    assert.equal(text, backend:read_conf("x"))
    proc.rm_rf(dir)
  end)
end)

describe("ARI in renew and certificates #integration", function()
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

  local function issue(name)
    local code, out, err = cb:run({ "certonly", "--standalone", "--http-01-port", tostring(p1), "-d", name })
    assert.equal(0, code, out .. err)
  end
  local function conf_path(name) return cb.config_dir .. "/renewal/" .. name .. ".conf" end
  local function key(name, k)
    return (proc.read(conf_path(name)) or ""):match("\n" .. k .. " = ([^\n]*)\n")
  end
  local function set_key(name, k, v)
    local text = proc.read(conf_path(name))
    local n
    text, n = text:gsub("\n" .. k .. " = [^\n]*\n", "\n" .. k .. " = " .. v .. "\n")
    assert.equal(1, n, k)
    assert(sys.write_atomic(conf_path(name), text, 420))
  end
  local function version(name)
    local t = sys.readlink(cb.config_dir .. "/live/" .. name .. "/cert.pem")
    return tonumber(t and t:match("cert(%d+)%.pem$"))
  end
  local function cert_id(name) return assert(crypto.ari_cert_id(proc.read(cb:live(name).cert))) end
  local function near(a, b, slack) return math.abs(a - b) <= (slack or 120) end
  local function renew(args)
    local t = { "renew" }
    for _, a in ipairs(args or {}) do t[#t + 1] = a end
    local code, out, err = cb:run(t)
    assert.equal(0, code, out .. err)
    return out, err
  end
  local function with_ari() fp.directory_add({ add = { renewalInfo = true } }) end

  it("K3 without renewalInfo asks nothing and keeps the lifetime rule", function()
    issue("k3.example.org")
    fp.clear_log()
    renew()
    assert.same({}, fp.requests("renewal"))
    assert.equal(1, version("k3.example.org"))
    assert.is_nil(proc.read(conf_path("k3.example.org")):find("ari_", 1, true))
    assert.matches("k3.example.org: not due %(a third of its lifetime left rule%)",
      proc.read(cb.logs_dir .. "/letsencrypt.log"))
    -- the directory's answer is remembered: the next run makes no request
    fp.clear_log()
    renew()
    assert.same({}, fp.log())
  end)

  it("renews now for a window in the past, with replaces naming the old certificate", function()
    with_ari()
    issue("past.example.org")
    local old = cert_id("past.example.org")
    local now = os.time()
    fp.ari({ ["*"] = { start = now - 2 * DAY, ["end"] = now - DAY, retry_after = 3600 } })
    fp.clear_log()
    local out = renew()
    assert.matches("Congratulations, all renewals succeeded", out, 1, true)
    assert.equal(2, version("past.example.org"))
    local info = fp.requests("^/renewal%-info/")
    assert.equal(1, #info)
    assert.equal("/renewal-info/" .. old, info[1].path)
    assert.is_nil(info[1].protected) -- an unauthenticated GET
    local orders = fp.requests("^/order%-plz$", "POST")
    assert.equal(1, #orders)
    assert.equal(old, orders[1].payload.replaces)
    -- the cheap serial check agrees with the CertID of the core
    local first = proc.read(cb.config_dir .. "/archive/past.example.org/cert1.pem")
    assert.equal(old:match("%.(.*)$"), ari.serial_part(first))
    assert.is_true(ari.same_cert(old, first))
    assert.is_false(ari.same_cert(old, proc.read(cb:live("past.example.org").cert)))
    -- what was learned about the old certificate is gone with it
    assert.is_nil(proc.read(conf_path("past.example.org")):find("ari_", 1, true))
    assert.equal(0, (helper.verify_chain(cb, "past.example.org")))
  end)

  it("waits for a future window, shows it, honours the stored retry time, and says why it moved", function()
    with_ari()
    issue("future.example.org")
    local id = cert_id("future.example.org")
    local now = os.time()
    local s, e = now + 10 * DAY, now + 11 * DAY
    fp.ari({ ["*"] = { start = s, ["end"] = e, retry_after = 3600,
      explanationURL = "https://ca.example/why" } })
    renew()
    assert.equal(1, version("future.example.org"))
    assert.equal(id, key("future.example.org", "ari_cert"))
    assert.equal(faultproxy.time(s), key("future.example.org", "ari_window_start"))
    assert.equal(faultproxy.time(e), key("future.example.org", "ari_window_end"))
    local at = ari.parse_time(key("future.example.org", "ari_renew_at"))
    assert.is_true(at >= s and at <= e)
    assert.is_true(near(ari.parse_time(key("future.example.org", "ari_next_check")), now + 3600))
    assert.equal("https://ca.example/why", key("future.example.org", "ari_explanation_url"))

    -- certificates shows the window and the planned moment, offline
    fp.clear_log()
    local code, out, err = cb:run({ "certificates" })
    assert.equal(0, code, out .. err)
    assert.matches(("    Renewal Window (ARI): %s to %s; renewal planned for %s; see https://ca.example/why\n")
      :format(ari.show_time(s), ari.show_time(e), ari.show_time(at)), out, 1, true)
    assert.matches("Expiry Date: [^\n]+\n    Renewal Window %(ARI%)[^\n]+\n    Certificate Path:", out)
    assert.same({}, fp.log())

    -- the CA moves the window into the past; before the stored retry time
    -- the run does not ask
    fp.ari({ ["*"] = { start = now - 2 * DAY, ["end"] = now - DAY, retry_after = 3600,
      explanationURL = "https://ca.example/incident" } })
    fp.clear_log()
    renew()
    assert.same({}, fp.requests("^/renewal%-info/"))
    assert.equal(1, version("future.example.org"))
    -- once it has passed, it asks, renews, and shows why
    set_key("future.example.org", "ari_next_check", faultproxy.time(now - 60))
    out = renew()
    assert.equal(1, #fp.requests("^/renewal%-info/"))
    assert.equal(2, version("future.example.org"))
    assert.matches("The CA moved the renewal window of future.example.org earlier, to "
      .. ari.show_time(now - 2 * DAY) .. " .. " .. ari.show_time(now - DAY)
      .. ": see https://ca.example/incident", out, 1, true)
  end)

  it("renews before the next run when the chosen moment falls before it", function()
    with_ari()
    issue("soon.example.org")
    local now = os.time()
    fp.ari({ ["*"] = { start = now + 3600, ["end"] = now + 7200 } })
    renew()
    assert.equal(2, version("soon.example.org"))
  end)

  it("clamps Retry-After to a minute .. a day, with six hours when absent", function()
    with_ari()
    issue("clamp.example.org")
    local now = os.time()
    local window = { start = now + 10 * DAY, ["end"] = now + 11 * DAY }
    local function next_check_after(retry_after)
      local w = { start = window.start, ["end"] = window["end"], retry_after = retry_after }
      fp.ari({ ["*"] = w })
      if key("clamp.example.org", "ari_next_check") then
        set_key("clamp.example.org", "ari_next_check", faultproxy.time(os.time() - 60))
      end
      renew()
      return ari.parse_time(key("clamp.example.org", "ari_next_check")) - os.time()
    end
    assert.is_true(near(next_check_after(5), 60, 30))
    assert.is_true(near(next_check_after(10 * DAY), DAY))
    assert.is_true(near(next_check_after(nil), 6 * 3600))
    assert.is_true(near(next_check_after(7200), 7200))
    -- the chosen moment stays while the window does
    local at = key("clamp.example.org", "ari_renew_at")
    next_check_after(3600)
    assert.equal(at, key("clamp.example.org", "ari_renew_at"))
    assert.equal(1, version("clamp.example.org"))
  end)

  it("backs off ARI errors, keeps the lifetime rule meanwhile, and stores the retry time", function()
    with_ari()
    issue("err.example.org")
    issue("due.example.org")
    local text = proc.read(conf_path("due.example.org")):gsub("# renew_before_expiry = 30 days\n",
      "renew_before_expiry = 100 years\n")
    assert(sys.write_atomic(conf_path("due.example.org"), text, 420))
    -- temporary errors (5xx): 5 minutes, then 10
    fp.ari({ ["*"] = { status = 500, detail = "ARI is resting" } })
    local now = os.time()
    renew()
    assert.equal(1, version("err.example.org"))
    assert.equal(2, version("due.example.org")) -- the lifetime rule still renews
    assert.equal("1", key("err.example.org", "ari_failures"))
    assert.is_true(near(ari.parse_time(key("err.example.org", "ari_next_check")), now + 300, 60))
    -- before then, no request
    fp.clear_log()
    renew({ "--cert-name", "err.example.org" })
    assert.same({}, fp.requests("^/renewal%-info/"))
    set_key("err.example.org", "ari_next_check", faultproxy.time(os.time() - 60))
    now = os.time()
    renew({ "--cert-name", "err.example.org" })
    assert.equal("2", key("err.example.org", "ari_failures"))
    assert.is_true(near(ari.parse_time(key("err.example.org", "ari_next_check")), now + 600, 60))
    -- a long-term error (a 4xx): six hours
    fp.ari({ ["*"] = { status = 404, type = "malformed", detail = "no such certificate" } })
    set_key("err.example.org", "ari_next_check", faultproxy.time(os.time() - 60))
    now = os.time()
    renew({ "--cert-name", "err.example.org" })
    assert.equal("3", key("err.example.org", "ari_failures"))
    assert.is_true(near(ari.parse_time(key("err.example.org", "ari_next_check")), now + 6 * 3600, 60))
    -- an unusable window counts as a long-term error too
    fp.ari({ ["*"] = { start = now + 2 * DAY, ["end"] = now + DAY } })
    set_key("err.example.org", "ari_next_check", faultproxy.time(os.time() - 60))
    renew({ "--cert-name", "err.example.org" })
    assert.equal("4", key("err.example.org", "ari_failures"))
    assert.equal(1, version("err.example.org"))
    local code, out, err = cb:run({ "certificates", "--cert-name", "err.example.org" })
    assert.equal(0, code, out .. err)
    assert.matches("    Renewal Window (ARI): unknown (the CA's answer failed; asking again after ", out, 1, true)
    -- and the next good answer resets the count
    fp.ari({ ["*"] = { start = now + 10 * DAY, ["end"] = now + 11 * DAY } })
    set_key("err.example.org", "ari_next_check", faultproxy.time(os.time() - 60))
    renew({ "--cert-name", "err.example.org" })
    assert.is_nil(key("err.example.org", "ari_failures"))
    assert.is_not_nil(key("err.example.org", "ari_renew_at"))
  end)

  it("does not ask a directory that failed again for a while", function()
    with_ari()
    issue("down.example.org")
    fp.fault({ path = "^/dir$", times = 0, respond = { status = 503, detail = "down",
      headers = { ["Retry-After"] = "3600" } } })
    fp.clear_log()
    renew()
    assert.equal(1, #fp.requests("^/dir$"))
    assert.matches("ARI: cannot read the directory of " .. fp.directory,
      proc.read(cb.logs_dir .. "/letsencrypt.log"), 1, true)
    fp.clear_log()
    renew()
    assert.same({}, fp.log())
    assert.equal(1, version("down.example.org"))
  end)

  it("orders once more without replaces when the CA says alreadyReplaced", function()
    with_ari()
    issue("repl.example.org")
    local old = cert_id("repl.example.org")
    local now = os.time()
    fp.ari({ ["*"] = { start = now - 2 * DAY, ["end"] = now - DAY } })
    fp.fault({ path = "^/order-plz$", payload = '"replaces"', respond = { status = 409,
      type = "alreadyReplaced", detail = "already replaced" } })
    fp.clear_log()
    renew()
    assert.equal(2, version("repl.example.org"))
    local orders = fp.requests("^/order%-plz$", "POST")
    assert.equal(2, #orders)
    assert.equal(old, orders[1].payload.replaces)
    assert.equal(409, orders[1].status)
    assert.is_nil(orders[2].payload.replaces)
    assert.equal(201, orders[2].status)
  end)

  it("sends no replaces on a dry run, nor without ARI", function()
    issue("plain.example.org")
    fp.clear_log()
    renew({ "--force-renewal" })
    local orders = fp.requests("^/order%-plz$", "POST")
    assert.equal(1, #orders)
    assert.is_nil(orders[1].payload.replaces)
    with_ari()
    fp.ari({ ["*"] = { start = os.time() + 10 * DAY, ["end"] = os.time() + 11 * DAY } })
    fp.clear_log()
    renew({ "--dry-run" })
    orders = fp.requests("^/order%-plz$", "POST")
    assert.is_true(#orders >= 1)
    for _, o in ipairs(orders) do assert.is_nil(o.payload.replaces) end
  end)

  it("leaves a conf that configobj and Debian's certbot still read", function()
    with_ari()
    issue("compat.example.org")
    local now = os.time()
    fp.ari({ ["*"] = { start = now + 10 * DAY, ["end"] = now + 11 * DAY,
      explanationURL = "https://ca.example/why?a=1#frag" } })
    renew()
    local at = key("compat.example.org", "ari_renew_at")
    assert.is_not_nil(at)
    local code, out = helper.sh("/usr/bin/python3 -c 'import configobj,sys; c = configobj.ConfigObj(sys.argv[1]); "
      .. "print(c[\"ari_renew_at\"]); print(c[\"ari_explanation_url\"]); "
      .. "print(c[\"renewalparams\"][\"authenticator\"])' " .. proc.quote(conf_path("compat.example.org")))
    assert.equal(0, code, out)
    assert.equal(at .. "\nhttps://ca.example/why?a=1#frag\nstandalone\n", out)
    if sys.lstat("/usr/bin/certbot") then
      local c2, o2 = helper.sh(("/usr/bin/certbot certificates --config-dir %s --work-dir %s --logs-dir %s")
        :format(proc.quote(cb.config_dir), proc.quote(cb.work_dir), proc.quote(cb.dir .. "/certbot-logs")))
      assert.equal(0, c2, o2)
      assert.matches("Certificate Name: compat.example.org", o2, 1, true)
      assert.is_nil(o2:find("invalid", 1, true), o2)
      assert.is_nil(o2:find("unexpected error", 1, true), o2)
    end
  end)
end)
