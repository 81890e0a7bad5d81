-- dns-cloudflare's client against the Cloudflare API v4 stand-in
-- (spec/helpers/dns_standin.py): tokens and Global API Keys, zones by
-- name, records by id, the {success, errors} envelope, paging, 429.
local standin = require("spec.helpers.dns_standin")

describe("dns-cloudflare", function()
  local sd, restore, P

  setup(function()
    sd = standin.start()
    restore = sd.use("cloudflare")
    P = require("certbot.plugins.dns.cloudflare")
  end)
  teardown(function()
    if restore then restore() end
    if sd then sd.stop() end
  end)
  before_each(function() sd.reset() end)

  local function client(creds)
    return assert(P.dns.new_client({}, creds or { dns_cloudflare_api_token = sd.creds.cloudflare.token }))
  end

  standin.shared({ it = it, assert = assert, provider = "cloudflare", sd = setmetatable({}, {
      __index = function(_, k) return sd[k] end }),
    client = function() return client() end,
    wrong_client = function() return client({ dns_cloudflare_api_token = "wrong-token" }) end,
    refusal = "Authentication error (code 10000) (HTTP 403)" })

  it("is registered as dns-cloudflare with its TTL", function()
    assert.are.equal("dns-cloudflare", P.name)
    assert.is_true(P.authenticator)
    assert.are.equal(120, P.dns.ttl)
    assert.are.equal("certbot.plugins.dns.cloudflare", require("certbot.plugins").BUILTIN["dns-cloudflare"])
  end)

  it("asks Cloudflare for each candidate zone by name, with a Bearer token", function()
    local c = client()
    assert.is_true(c:add_txt("_acme-challenge.x.a.example", "v1", 120))
    local reqs = sd.requests("cloudflare")
    assert.matches("^GET /cloudflare/client/v4/zones%?name=_acme%-challenge%.x%.a%.example&", reqs[1])
    assert.matches("^GET /cloudflare/client/v4/zones%?name=x%.a%.example&", reqs[2])
    assert.matches("^GET /cloudflare/client/v4/zones%?name=a%.example&page=1&per_page=50$", reqs[3])
    assert.matches("^POST /cloudflare/client/v4/zones/%x+/dns_records$", reqs[4])
    assert.are.equal(4, #reqs)
    -- the zone and the misses are remembered
    assert.is_true(c:add_txt("_acme-challenge.x.a.example", "v2", 120))
    assert.are.equal(5, #sd.requests("cloudflare"))
    assert.are.equal(120, sd.records("cloudflare")[1].ttl)
  end)

  it("authenticates with the Global API Key (X-Auth-Email and X-Auth-Key)", function()
    local c = client({ dns_cloudflare_email = sd.creds.cloudflare.email,
      dns_cloudflare_api_key = sd.creds.cloudflare.key })
    assert.is_true(c:add_txt("_acme-challenge.a.example", "v1", 120))
    assert.is_true(c:del_txt("_acme-challenge.a.example", "v1"))
    local bad = client({ dns_cloudflare_email = sd.creds.cloudflare.email,
      dns_cloudflare_api_key = "0123456789abcdef" })
    local ok, err = bad:add_txt("_acme-challenge.a.example", "v1", 120)
    assert.is_nil(ok)
    assert.matches("Unknown X-Auth-Key or X-Auth-Email (code 9103) (HTTP 403)", err, 1, true)
  end)

  it("passes on the error chain of a malformed token", function()
    local ok, err = client({ dns_cloudflare_api_token = "has space" }):add_txt(
      "_acme-challenge.a.example", "v1", 120)
    assert.is_nil(ok)
    assert.matches("Authentication error", err, 1, true)
  end)

  it("deletes every copy of its value, following the pages of the record list", function()
    for _ = 1, 5 do sd.seed("cloudflare", "a.example", "_acme-challenge.a.example", "left-over") end
    sd.seed("cloudflare", "a.example", "_acme-challenge.a.example", "other")
    -- a new client has no ids: it lists name+content, 2 a page here
    assert.is_true(client():del_txt("_acme-challenge.a.example", "left-over"))
    local recs = sd.records("cloudflare")
    assert.are.equal(1, #recs)
    assert.are.equal("other", recs[1].value)
    local pages = 0
    for _, r in ipairs(sd.requests("cloudflare")) do
      if r:match("dns_records%?.*page=%d") then pages = pages + 1 end
    end
    assert.are.equal(3, pages)
  end)

  it("takes an identical record that already exists as added", function()
    sd.seed("cloudflare", "a.example", "_acme-challenge.a.example", "v1")
    local c = client()
    assert.is_true(c:add_txt("_acme-challenge.a.example", "v1", 120))
    assert.is_true(c:del_txt("_acme-challenge.a.example", "v1"))
    assert.are.same({}, sd.records("cloudflare"))
  end)

  it("checks the keys of the credentials file", function()
    local check = P.check_credentials
    assert.is_true(check({ dns_cloudflare_api_token = "t" }, "/c.ini"))
    assert.is_true(check({ dns_cloudflare_email = "e", dns_cloudflare_api_key = "k" }, "/c.ini"))
    local ok, err = check({ dns_cloudflare_email = "e" }, "/c.ini")
    assert.is_nil(ok)
    assert.matches("/c.ini: dns_cloudflare_email is set but dns_cloudflare_api_key", err, 1, true)
    ok, err = check({}, "/c.ini")
    assert.is_nil(ok)
    assert.matches("missing dns_cloudflare_api_token", err, 1, true)
    ok, err = check({ dns_cloudflare_api_token = "t", dns_cloudflare_api_key = "k" }, "/c.ini")
    assert.is_nil(ok)
    assert.matches("not both", err, 1, true)
  end)
end)
