-- dns-google's client against stand-ins of Google's OAuth 2.0 token
-- endpoint, the Compute Engine metadata server and the Cloud DNS API v1
-- (spec/helpers/dns_standin.py): an RS256-signed JWT for a service
-- account (the stand-in checks it with openssl), managed zones by dnsName,
-- record sets replaced in one change (deletions + additions) and polled
-- until done, {error: {code, message, status}} answers, 429.
local standin = require("spec.helpers.dns_standin")
local core = require("certbot.core")
local cjson = require("cjson")
local proc = require("spec.helpers.proc")

describe("dns-google", function()
  local sd, restore, P, dir

  setup(function()
    sd = standin.start()
    restore = sd.use("google")
    P = require("certbot.plugins.dns.google")
    dir = proc.tmpdir("dns-google-")
  end)
  teardown(function()
    if restore then restore() end
    if sd then sd.stop() end
    proc.rm_rf(dir)
  end)
  before_each(function() sd.reset() end)

  local function client(config)
    local c, err = P.dns.new_client(config or { dns_google_credentials = sd.google_key_file })
    if c then c.poll_interval = 0.01 end
    return c, err
  end

  -- the stand-in's key file with some fields changed (nil values removed)
  local function key_file(changes, name)
    local k = cjson.decode(proc.read(sd.google_key_file))
    for f, v in pairs(changes) do
      if v == false then k[f] = nil else k[f] = v end
    end
    local path = dir .. "/" .. (name or "key.json")
    assert(core.sys.write_atomic(path, cjson.encode(k), 384))
    return path
  end

  standin.shared({ it = it, assert = assert, provider = "google",
    sd = setmetatable({}, { __index = function(_, k) return sd[k] end }),
    client = function() return assert(client()) end,
    wrong_client = function()
      local other = assert(core.crypto.generate_key("rsa", 2048)):pem()
      return client({ dns_google_credentials = key_file({ private_key = other }, "wrong.json") })
    end,
    refusal = "invalid_grant: Invalid JWT Signature. (HTTP 400)" })

  it("is registered as dns-google, reading its own JSON key file", function()
    assert.are.equal("dns-google", P.name)
    assert.is_false(P.dns.credentials)
    assert.are.equal(60, P.dns.ttl)
  end)

  it("gets one token and replaces the record set in one change each time", function()
    local c = assert(client())
    assert.is_true(c:add_txt("_acme-challenge.a.example", "v1", 60))
    assert.is_true(c:add_txt("_acme-challenge.a.example", "v2", 60))
    assert.is_true(c:del_txt("_acme-challenge.a.example", "v1"))
    local Z = "/google/dns/v1/projects/spec-project/managedZones"
    local reqs = sd.requests("google")
    assert.are.equal("POST /google/token", reqs[1])
    assert.are.equal("GET " .. Z .. "?dnsName=_acme-challenge.a.example.", reqs[2])
    assert.are.equal("GET " .. Z .. "?dnsName=a.example.", reqs[3])
    assert.are.equal("GET " .. Z .. "/zone-a-example/rrsets?name=_acme-challenge.a.example.&type=TXT",
      reqs[4])
    assert.are.equal("POST " .. Z .. "/zone-a-example/changes", reqs[5])
    assert.matches("^GET " .. Z:gsub("%-", "%%-") .. "/zone%-a%-example/changes/%d+$", reqs[6])
    local tokens = 0
    for _, r in ipairs(reqs) do if r == "POST /google/token" then tokens = tokens + 1 end end
    assert.are.equal(1, tokens)
    local recs = sd.records("google")
    assert.are.equal(1, #recs)
    assert.are.equal('"v2"', recs[1].value)
  end)

  it("polls a pending change until it is done", function()
    sd.modes({ pending_polls = 3 })
    local c = assert(client())
    assert.is_true(c:add_txt("_acme-challenge.a.example", "v1", 60))
    local polls = 0
    for _, r in ipairs(sd.requests("google")) do
      if r:match("/changes/%d+$") then polls = polls + 1 end
    end
    assert.are.equal(3, polls)
  end)

  it("gives up on a change that stays pending", function()
    sd.modes({ pending_polls = 1000 })
    local c = assert(client())
    c.poll_timeout = 0.2
    local ok, err = c:add_txt("_acme-challenge.a.example", "v1", 60)
    assert.is_nil(ok)
    assert.matches("is still pending after", err, 1, true)
  end)

  it("uses --dns-google-project over the key's project_id", function()
    local c = assert(client({ dns_google_credentials = sd.google_key_file,
      dns_google_project = "someone-elses" }))
    local ok, err = c:add_txt("_acme-challenge.a.example", "v1", 60)
    assert.is_nil(ok)
    assert.matches("does not have permission on project 'someone-elses' [PERMISSION_DENIED] (HTTP 403)",
      err, 1, true)
  end)

  it("uses the Compute Engine metadata server without a key file", function()
    local c = assert(client({}))
    assert.are.equal("spec-project", c.project)
    assert.is_true(c:add_txt("_acme-challenge.a.example", "v1", 60))
    assert.is_true(c:del_txt("_acme-challenge.a.example", "v1"))
    local reqs = sd.requests("google")
    assert.are.equal("GET /google/computeMetadata/v1/project/project-id", reqs[1])
    assert.are.equal("GET /google/computeMetadata/v1/instance/service-accounts/default/token", reqs[2])
    assert.are.same({}, sd.records("google"))
  end)

  it("says what is wrong with the key file, naming it", function()
    local cases = {
      { { type = "authorized_user" }, "is not a service account key" },
      { { client_email = false }, "lacks client_email" },
      { { private_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" }, "private_key:" },
      { { token_uri = "http://oauth.example/token" }, "is not an https URL" },
      { { project_id = false }, "has no project_id; give --dns-google-project" },
    }
    for i, case in ipairs(cases) do
      local path = key_file(case[1], "bad" .. i .. ".json")
      local c, err = client({ dns_google_credentials = path })
      assert.is_nil(c)
      assert.matches(path, err, 1, true)
      assert.matches(case[2], err, 1, true)
    end
    local path = dir .. "/not.json"
    assert(core.sys.write_atomic(path, "dns_google = ini?\n", 384))
    local c, err = client({ dns_google_credentials = path })
    assert.is_nil(c)
    assert.matches("is not JSON", err, 1, true)
    c, err = client({ dns_google_credentials = dir .. "/missing.json" })
    assert.is_nil(c)
    assert.matches("cannot read the credentials file " .. dir .. "/missing.json", err, 1, true)
  end)
end)
