-- dns-luadns's client against the LuaDNS REST API v1 stand-in
-- (spec/helpers/dns_standin.py): HTTP Basic authentication with the email
-- and API key, Accept: application/json, fully qualified record names,
-- record lists paged through x-total-pages, {status, message} errors, 429.
local standin = require("spec.helpers.dns_standin")

describe("dns-luadns", function()
  local sd, restore, P

  setup(function()
    sd = standin.start()
    restore = sd.use("luadns")
    P = require("certbot.plugins.dns.luadns")
  end)
  teardown(function()
    if restore then restore() end
    if sd then sd.stop() end
  end)
  before_each(function() sd.reset() end)

  local function client(token)
    return assert(P.dns.new_client({}, { dns_luadns_email = sd.creds.luadns.email,
      dns_luadns_token = token or sd.creds.luadns.token }))
  end

  standin.shared({ it = it, assert = assert, provider = "luadns",
    sd = setmetatable({}, { __index = function(_, k) return sd[k] end }),
    client = function() return client() end,
    wrong_client = function() return client("wrong-token") end,
    refusal = "Invalid email or API key (HTTP 401)" })

  it("is registered as dns-luadns with its keys", function()
    assert.are.equal("dns-luadns", P.name)
    assert.are.same({ "dns_luadns_email", "dns_luadns_token" }, P.dns.credentials)
  end)

  it("lists the zones once, then adds and deletes by id", function()
    local c = client()
    assert.is_true(c:add_txt("_acme-challenge.www.a.example", "v1", 300))
    assert.is_true(c:add_txt("_acme-challenge.www.a.example", "v2", 300))
    assert.is_true(c:del_txt("_acme-challenge.www.a.example", "v1"))
    local reqs = sd.requests("luadns")
    assert.are.equal("GET /luadns/v1/zones", reqs[1])
    assert.matches("^POST /luadns/v1/zones/%d+/records$", reqs[2])
    assert.matches("^POST /luadns/v1/zones/%d+/records$", reqs[3])
    assert.matches("^DELETE /luadns/v1/zones/%d+/records/%d+$", reqs[4])
    assert.are.equal(4, #reqs)
    local recs = sd.records("luadns")
    assert.are.equal(1, #recs)
    assert.are.equal("v2", recs[1].value)
  end)

  it("finds its value through the pages of the record list when it has no id", function()
    for i = 1, 4 do sd.seed("luadns", "a.example", "_acme-challenge.a.example", "other" .. i) end
    sd.seed("luadns", "a.example", "_acme-challenge.a.example", "mine")
    assert.is_true(client():del_txt("_acme-challenge.a.example", "mine"))
    assert.are.equal(4, #sd.records("luadns"))
    local pages = 0
    for _, r in ipairs(sd.requests("luadns")) do
      if r:match("/records%?page=%d+&limit=100$") then pages = pages + 1 end
    end
    assert.are.equal(3, pages)
  end)

  it("encodes the Basic credentials as RFC 7617 says", function()
    local common = require("certbot.plugins.dns.common")
    assert.are.equal("Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", common.basic("Aladdin", "open sesame"))
    assert.are.equal("Authorization: Basic YTpi", common.basic("a", "b"))
    assert.are.equal("Authorization: Basic YTo+Pz8=", common.basic("a", ">??"))
  end)
end)
