-- dns-digitalocean's client against the DigitalOcean API v2 stand-in
-- (spec/helpers/dns_standin.py): Bearer token, the domain list followed
-- through links.pages.next, records relative to the domain, {id, message}
-- errors, 429.
local standin = require("spec.helpers.dns_standin")

describe("dns-digitalocean", function()
  local sd, restore, P

  setup(function()
    sd = standin.start()
    restore = sd.use("digitalocean")
    P = require("certbot.plugins.dns.digitalocean")
  end)
  teardown(function()
    if restore then restore() end
    if sd then sd.stop() end
  end)
  before_each(function() sd.reset() end)

  local function client(token)
    return assert(P.dns.new_client({}, { dns_digitalocean_token = token or sd.creds.digitalocean.token }))
  end

  standin.shared({ it = it, assert = assert, provider = "digitalocean",
    sd = setmetatable({}, { __index = function(_, k) return sd[k] end }),
    client = function() return client() end,
    wrong_client = function() return client("dop_v1_wrong") end,
    refusal = "Unable to authenticate you [Unauthorized] (HTTP 401)" })

  it("is registered as dns-digitalocean with its TTL", function()
    assert.are.equal("dns-digitalocean", P.name)
    assert.are.equal(30, P.dns.ttl)
    assert.are.same({ "dns_digitalocean_token" }, P.dns.credentials)
  end)

  it("follows links.pages.next through the domain list", function()
    local c = client()
    assert.is_true(c:add_txt("_acme-challenge.www.a.example", "v1", 30))
    local reqs = sd.requests("digitalocean")
    -- 7 domains, 2 a page: 4 pages, then the record
    assert.are.equal(5, #reqs)
    assert.matches("^GET /digitalocean/v2/domains%?per_page=200$", reqs[1])
    assert.matches("^GET /digitalocean/v2/domains%?.*%f[%w]page=2", reqs[2])
    assert.matches("^GET /digitalocean/v2/domains%?.*%f[%w]page=4", reqs[4])
    assert.matches("^POST /digitalocean/v2/domains/a%.example/records$", reqs[5])
    local rec = sd.records("digitalocean")[1]
    assert.are.equal("_acme-challenge.www.a.example", rec.name)
    assert.are.equal(30, math.tointeger(rec.ttl))
    -- the list is read once per client
    assert.is_true(c:del_txt("_acme-challenge.www.a.example", "v1"))
    assert.matches("^DELETE /digitalocean/v2/domains/a%.example/records/%d+$", sd.requests("digitalocean")[6])
  end)

  it("finds its value in the paged record list when it has no id", function()
    for i = 1, 4 do sd.seed("digitalocean", "a.example", "_acme-challenge.a.example", "other" .. i) end
    sd.seed("digitalocean", "a.example", "_acme-challenge.a.example", "mine")
    assert.is_true(client():del_txt("_acme-challenge.a.example", "mine"))
    assert.are.equal(4, #sd.records("digitalocean"))
    for _, r in ipairs(sd.records("digitalocean")) do assert.are_not.equal("mine", r.value) end
  end)

  it("does not send the token to a next page outside the API", function()
    local c = client()
    local calls = {}
    c.call = function(_, _, url)
      calls[#calls + 1] = url
      return { domains = {}, links = { pages = { next = "https://elsewhere.example/v2/domains?page=2" } } }
    end
    local ok, err = c:zone_for("_acme-challenge.a.example")
    assert.is_nil(ok)
    assert.matches("outside the API", err, 1, true)
    assert.are.equal(1, #calls)
  end)
end)
