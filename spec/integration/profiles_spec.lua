-- Certificate profiles (draft-ietf-acme-profiles): --preferred-profile,
-- --required-profile and `certbot profiles`, against a real Pebble behind
-- spec/helpers/faultproxy.py, which adds meta.profiles to Pebble 2.4.0's
-- directory; the proxy's log shows the newOrder payloads.
local pebble = require("spec.helpers.pebble")
local faultproxy = require("spec.helpers.faultproxy")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")

local PROFILES = {
  classic = "The same profile you're accustomed to",
  shortlived = "A short-lived certificate (160 hours)",
  tlsserver = "https://ca.example/docs/profiles#tlsserver",
}

describe("certificate profiles #integration", function()
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

  local function offer() fp.directory_add({ meta = { profiles = PROFILES } }) end
  local function certonly(name, extra)
    local args = { "certonly", "--standalone", "--http-01-port", tostring(p1), "-d", name }
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    return cb:run(args)
  end
  local function orders()
    local out = {}
    for _, r in ipairs(fp.requests("^/order%-plz$", "POST")) do out[#out + 1] = r.payload end
    return out
  end
  local function conf(name) return cb:read("renewal/" .. name .. ".conf") end

  it("asks for an offered --preferred-profile, stores it, and asks again on renewal", function()
    offer()
    local code, out, err = certonly("pref.example.org", { "--preferred-profile", "shortlived" })
    assert.equal(0, code, out .. err)
    local o = orders()
    assert.equal(1, #o)
    assert.equal("shortlived", o[1].profile)
    assert.matches("\npreferred_profile = shortlived\n", conf("pref.example.org"), 1, true)
    fp.clear_log()
    code, out, err = cb:run({ "renew", "--force-renewal" })
    assert.equal(0, code, out .. err)
    o = orders()
    assert.equal(1, #o)
    assert.equal("shortlived", o[1].profile)
  end)

  it("takes the CA's default, with a notice, when the preferred profile is not offered", function()
    offer()
    local code, out, err = certonly("nopref.example.org", { "--preferred-profile", "longlived" })
    assert.equal(0, code, out .. err)
    assert.matches("The ACME server does not offer the profile 'longlived' (it offers: classic, shortlived, "
      .. "tlsserver); using its default profile.", out, 1, true)
    local o = orders()
    assert.equal(1, #o)
    assert.is_nil(o[1].profile)
    -- and a directory without profiles at all
    fp.reset()
    code, out, err = certonly("noprofiles.example.org", { "--preferred-profile", "shortlived" })
    assert.equal(0, code, out .. err)
    assert.matches("does not offer the profile 'shortlived' (it offers no profiles)", out, 1, true)
    assert.is_nil(orders()[1].profile)
  end)

  it("fails clearly, before ordering, when the required profile is absent", function()
    offer()
    local code, out, err = certonly("req.example.org", { "--required-profile", "longlived" })
    assert.equal(1, code, out .. err)
    local last = err:match("([^\n]+)\n?$")
    assert.equal("The ACME server does not offer the required profile 'longlived' (it offers: classic, "
      .. "shortlived, tlsserver)", last)
    assert.same({}, orders())
    assert.is_false(cb:exists("live/req.example.org"))
  end)

  it("asks for an offered --required-profile; a later --preferred-profile replaces it", function()
    offer()
    local code, out, err = certonly("req2.example.org", { "--required-profile", "tlsserver" })
    assert.equal(0, code, out .. err)
    assert.equal("tlsserver", orders()[1].profile)
    assert.matches("\nrequired_profile = tlsserver\n", conf("req2.example.org"), 1, true)
    fp.clear_log()
    code, out, err = cb:run({ "renew", "--force-renewal", "--preferred-profile", "classic" })
    assert.equal(0, code, out .. err)
    assert.equal("classic", orders()[1].profile)
    local c = conf("req2.example.org")
    assert.matches("\npreferred_profile = classic\n", c, 1, true)
    assert.is_nil(c:find("required_profile", 1, true))
    -- the stored one comes back on the next renewal
    fp.clear_log()
    code, out, err = cb:run({ "renew", "--force-renewal" })
    assert.equal(0, code, out .. err)
    assert.equal("classic", orders()[1].profile)
  end)

  it("refuses both options together", function()
    offer()
    local code, out, err = certonly("both.example.org", { "--required-profile", "classic",
      "--preferred-profile", "shortlived" })
    assert.equal(2, code, out .. err)
    assert.matches("--preferred-profile and --required-profile cannot be used together", err, 1, true)
    assert.same({}, orders())
  end)

  it("lists what the CA offers with `certbot profiles`, without an account", function()
    offer()
    local code, out, err = cb:run({ "profiles" }, { no_account_flags = true })
    assert.equal(0, code, out .. err)
    assert.equal(("Certificate profiles offered by %s:\n"
      .. "  classic: The same profile you're accustomed to\n"
      .. "  shortlived: A short-lived certificate (160 hours)\n"
      .. "  tlsserver: https://ca.example/docs/profiles#tlsserver\n"
      .. "Ask for one with --preferred-profile NAME (or --required-profile NAME).\n"):format(fp.directory), out)
    assert.same({}, fp.requests("", "POST"))
    local _, found = helper.sh("find " .. proc.quote(cb.config_dir) .. " -name regr.json")
    assert.equal("", found) -- no account was made
    fp.reset()
    code, out, err = cb:run({ "profiles" }, { no_account_flags = true })
    assert.equal(0, code, out .. err)
    assert.matches("offers no certificate profiles", out, 1, true)
  end)

  it("reports the CA's invalidProfile refusal in one line", function()
    offer()
    fp.fault({ path = "^/order-plz$", respond = { status = 400, type = "invalidProfile",
      detail = "profile shortlived is not allowed for this account" } })
    local code, out, err = certonly("inv.example.org", { "--preferred-profile", "shortlived" })
    assert.equal(1, code, out .. err)
    assert.equal("Unable to place the order: invalidProfile :: profile shortlived is not allowed for this account",
      err:match("([^\n]+)\n?$"))
  end)
end)
