-- dns-linode's client against the Linode API v4 stand-in
-- (spec/helpers/dns_standin.py): Bearer token, the domain list paged by
-- page/pages, records relative to the domain with target and ttl_sec,
-- {errors: [{reason}]} answers, 429.
local standin = require("spec.helpers.dns_standin")

describe("dns-linode", function()
  local sd, restore, P

  setup(function()
    sd = standin.start()
    restore = sd.use("linode")
    P = require("certbot.plugins.dns.linode")
  end)
  teardown(function()
    if restore then restore() end
    if sd then sd.stop() end
  end)
  before_each(function() sd.reset() end)

  local function client(key)
    return assert(P.dns.new_client({}, { dns_linode_key = key or sd.creds.linode.key }))
  end

  standin.shared({ it = it, assert = assert, provider = "linode",
    sd = setmetatable({}, { __index = function(_, k) return sd[k] end }),
    client = function() return client() end,
    wrong_client = function() return client("wrong-key") end,
    refusal = "Invalid Token (HTTP 401); check dns_linode_key" })

  it("is registered as dns-linode with its TTL", function()
    assert.are.equal("dns-linode", P.name)
    assert.are.equal(300, P.dns.ttl)
    assert.are.equal("certbot.plugins.dns.linode", require("certbot.plugins").BUILTIN["dns-linode"])
  end)

  it("pages through the domains, then adds and deletes by id", function()
    local c = client()
    assert.is_true(c:add_txt("_acme-challenge.www.a.example", "v1", 300))
    local reqs = sd.requests("linode")
    assert.are.equal(5, #reqs) -- 7 domains, 2 a page here, then the record
    assert.are.equal("GET /linode/v4/domains?page=1&page_size=500", reqs[1])
    assert.are.equal("GET /linode/v4/domains?page=4&page_size=500", reqs[4])
    assert.matches("^POST /linode/v4/domains/%d+/records$", reqs[5])
    local rec = sd.records("linode")[1]
    assert.are.equal("_acme-challenge.www.a.example", rec.name)
    assert.are.equal(300, math.tointeger(rec.ttl))
    assert.is_true(c:del_txt("_acme-challenge.www.a.example", "v1"))
    assert.matches("^DELETE /linode/v4/domains/%d+/records/%d+$", sd.requests("linode")[6])
  end)

  it("finds its value in the paged record list when it has no id", function()
    for i = 1, 4 do sd.seed("linode", "a.example", "_acme-challenge.a.example", "other" .. i) end
    sd.seed("linode", "a.example", "_acme-challenge.a.example", "mine")
    assert.is_true(client():del_txt("_acme-challenge.a.example", "mine"))
    assert.are.equal(4, #sd.records("linode"))
  end)

  it("checks the credentials file", function()
    local check = P.dns.credentials
    assert.is_true(check({ dns_linode_key = "k" }, "/l.ini"))
    assert.is_true(check({ dns_linode_key = "k", dns_linode_version = "4" }, "/l.ini"))
    local ok, err = check({ dns_linode_key = "k", dns_linode_version = "3" }, "/l.ini")
    assert.is_nil(ok)
    assert.matches("/l.ini: dns_linode_version is 3", err, 1, true)
    ok, err = check({}, "/l.ini")
    assert.is_nil(ok)
    assert.matches('"dns_linode_key"', err, 1, true)
  end)
end)
