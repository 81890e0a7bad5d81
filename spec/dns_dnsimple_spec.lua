-- dns-dnsimple's client against the DNSimple API v2 stand-in
-- (spec/helpers/dns_standin.py): Bearer token, /whoami for the account,
-- zones looked up by name, records relative to the zone, paged listings,
-- {message, errors} answers, 429.
local standin = require("spec.helpers.dns_standin")

describe("dns-dnsimple", function()
  local sd, restore, P

  setup(function()
    sd = standin.start()
    restore = sd.use("dnsimple")
    P = require("certbot.plugins.dns.dnsimple")
  end)
  teardown(function()
    if restore then restore() end
    if sd then sd.stop() end
  end)
  before_each(function() sd.reset() end)

  local function client(token)
    return assert(P.dns.new_client({}, { dns_dnsimple_token = token or sd.creds.dnsimple.token }))
  end

  standin.shared({ it = it, assert = assert, provider = "dnsimple",
    sd = setmetatable({}, { __index = function(_, k) return sd[k] end }),
    client = function() return client() end,
    wrong_client = function() return client("wrong-token") end,
    refusal = "Authentication failed (HTTP 401)" })

  it("is registered as dns-dnsimple with its TTL", function()
    assert.are.equal("dns-dnsimple", P.name)
    assert.are.equal(60, P.dns.ttl)
    assert.are.same({ "dns_dnsimple_token" }, P.dns.credentials)
  end)

  it("learns the account from /whoami and looks the zone up name by name", function()
    local c = client()
    assert.is_true(c:add_txt("_acme-challenge.www.a.example", "v1", 60))
    local reqs = sd.requests("dnsimple")
    assert.are.same({
      "GET /dnsimple/v2/whoami",
      "GET /dnsimple/v2/1010/zones/_acme-challenge.www.a.example",
      "GET /dnsimple/v2/1010/zones/www.a.example",
      "GET /dnsimple/v2/1010/zones/a.example",
      "POST /dnsimple/v2/1010/zones/a.example/records",
    }, reqs)
    assert.is_true(c:del_txt("_acme-challenge.www.a.example", "v1"))
    assert.matches("^DELETE /dnsimple/v2/1010/zones/a%.example/records/%d+$", sd.requests("dnsimple")[6])
    assert.are.equal(6, #sd.requests("dnsimple"))
  end)

  it("finds its value in the paged record list when it has no id", function()
    for i = 1, 4 do sd.seed("dnsimple", "a.example", "_acme-challenge.a.example", "other" .. i) end
    sd.seed("dnsimple", "a.example", "_acme-challenge.a.example", "mine")
    assert.is_true(client():del_txt("_acme-challenge.a.example", "mine"))
    assert.are.equal(4, #sd.records("dnsimple"))
    local pages = 0
    for _, r in ipairs(sd.requests("dnsimple")) do
      if r:match("/records%?name=_acme%-challenge&type=TXT&page=%d") then pages = pages + 1 end
    end
    assert.are.equal(3, pages)
  end)

  it("refuses a user token, which names no account", function()
    local ok, err = client(sd.creds.dnsimple.user_token):add_txt("_acme-challenge.a.example", "v1", 60)
    assert.is_nil(ok)
    assert.matches("not an account token", err, 1, true)
  end)

  it("passes on DNSimple's validation errors", function()
    local c = client()
    local data, err = c:call("POST", "/1010/zones/a.example/records", { name = "x", type = "TXT",
      content = "", ttl = 5 })
    assert.is_nil(data)
    assert.matches("Validation failed: content can't be blank; ttl must be greater than or equal "
      .. "to 60 (HTTP 400)", err, 1, true)
  end)
end)
