-- dns-nsone's client against the NS1 API v1 stand-in
-- (spec/helpers/dns_standin.py): X-NSONE-Key, zones looked up by name, one
-- record per name with an answer per value (PUT to create, POST to update,
-- DELETE when the last value goes), {message} errors, 429.
local standin = require("spec.helpers.dns_standin")

describe("dns-nsone", function()
  local sd, restore, P

  setup(function()
    sd = standin.start()
    restore = sd.use("nsone")
    P = require("certbot.plugins.dns.nsone")
  end)
  teardown(function()
    if restore then restore() end
    if sd then sd.stop() end
  end)
  before_each(function() sd.reset() end)

  local function client(key)
    return assert(P.dns.new_client({}, { dns_nsone_api_key = key or sd.creds.nsone.key }))
  end

  standin.shared({ it = it, assert = assert, provider = "nsone",
    sd = setmetatable({}, { __index = function(_, k) return sd[k] end }),
    client = function() return client() end,
    wrong_client = function() return client("wrong-key") end,
    refusal = "Unauthorized (HTTP 401)" })

  it("is registered as dns-nsone with its TTL", function()
    assert.are.equal("dns-nsone", P.name)
    assert.are.equal(60, P.dns.ttl)
    assert.are.same({ "dns_nsone_api_key" }, P.dns.credentials)
  end)

  it("creates the record, adds an answer, removes it, then deletes the record", function()
    local c = client()
    local R = "/nsone/v1/zones/a.example/_acme-challenge.a.example/TXT"
    assert.is_true(c:add_txt("_acme-challenge.a.example", "v1", 60))
    assert.is_true(c:add_txt("_acme-challenge.a.example", "v2", 60))
    assert.is_true(c:del_txt("_acme-challenge.a.example", "v1"))
    assert.are.equal(1, #sd.records("nsone"))
    assert.is_true(c:del_txt("_acme-challenge.a.example", "v2"))
    assert.are.same({
      "GET /nsone/v1/zones/_acme-challenge.a.example",
      "GET /nsone/v1/zones/a.example",
      "GET " .. R, "PUT " .. R,     -- not there yet: created
      "GET " .. R, "POST " .. R,    -- there: answers updated
      "GET " .. R, "POST " .. R,    -- v1 removed, v2 stays
      "GET " .. R, "DELETE " .. R,  -- the last value: the record goes
    }, sd.requests("nsone"))
    assert.are.same({}, sd.records("nsone"))
  end)

  it("adds a value that is already there only once", function()
    local c = client()
    assert.is_true(c:add_txt("_acme-challenge.a.example", "v1", 60))
    assert.is_true(c:add_txt("_acme-challenge.a.example", "v1", 60))
    assert.are.equal(1, #sd.records("nsone"))
  end)
end)
