-- dns-route53: AWS Signature Version 4 against AWS's published test
-- vectors, the credential sources, and the client against the Route 53
-- stand-in (spec/helpers/dns_standin.py, which checks every signature):
-- ListHostedZones paged by NextMarker, record sets changed by UPSERT and
-- DELETE, GetChange until INSYNC, XML errors, Throttling.
local standin = require("spec.helpers.dns_standin")
local core = require("certbot.core")
local proc = require("spec.helpers.proc")

local sys = core.sys

-- with_env({NAME = value|false}, fn): run fn with those variables set
-- (false: unset), then put them back.
local function with_env(vars, fn)
  local saved = {}
  for k, v in pairs(vars) do
    saved[k] = os.getenv(k) or false
    sys.setenv(k, v or nil)
  end
  local ok, a, b = pcall(fn)
  for k, v in pairs(saved) do sys.setenv(k, v or nil) end
  if not ok then error(a, 0) end
  return a, b
end

local NO_AWS = { AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false, AWS_SESSION_TOKEN = false,
  AWS_SECURITY_TOKEN = false, AWS_PROFILE = false, AWS_DEFAULT_PROFILE = false,
  AWS_SHARED_CREDENTIALS_FILE = false }

local function env(extra)
  local t = {}
  for k, v in pairs(NO_AWS) do t[k] = v end
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

describe("dns-route53", function()
  local P = require("certbot.plugins.dns.route53")

  describe("Signature Version 4", function()
    -- AWS's Signature Version 4 test suite: credential scope
    -- AKIDEXAMPLE/20150830/us-east-1/service/aws4_request.
    local creds = { access_key_id = "AKIDEXAMPLE",
      secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" }
    local T = 1440938160 -- 2015-08-30T12:36:00Z

    local function auth(headers)
      for _, h in ipairs(headers) do
        local v = h:match("^Authorization: (.*)$")
        if v then return v end
      end
    end

    it("signs get-vanilla", function()
      local h = P.sign(creds, "GET", "https://example.amazonaws.com/", "", T, "us-east-1", "service")
      assert.are.equal("X-Amz-Date: 20150830T123600Z", h[1])
      assert.are.equal("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
        .. "aws4_request, SignedHeaders=host;x-amz-date, "
        .. "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", auth(h))
    end)

    it("signs get-vanilla-query-order-key-case (parameters sorted)", function()
      local h = P.sign(creds, "GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1", "",
        T, "us-east-1", "service")
      assert.matches("Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500$",
        auth(h))
    end)

    it("signs the session token of temporary credentials", function()
      local h = P.sign({ access_key_id = "ASIAX", secret_access_key = "s", session_token = "tok" },
        "POST", "https://route53.amazonaws.com/2013-04-01/hostedzone/Z1/rrset/", "<x/>", T)
      assert.are.equal("X-Amz-Security-Token: tok", h[2])
      assert.matches("Credential=ASIAX/20150830/us%-east%-1/route53/aws4_request, "
        .. "SignedHeaders=host;x%-amz%-date;x%-amz%-security%-token, Signature=%x+$", auth(h))
    end)
  end)

  describe("credentials", function()
    local dir
    setup(function() dir = proc.tmpdir("dns-route53-") end)
    teardown(function() proc.rm_rf(dir) end)

    local function file(text)
      local path = dir .. "/credentials"
      assert(sys.write_atomic(path, text, 384))
      return path
    end

    it("come from the environment first", function()
      local c = with_env(env({ AWS_ACCESS_KEY_ID = "AKIA1", AWS_SECRET_ACCESS_KEY = "s1",
        AWS_SESSION_TOKEN = "t1", AWS_SHARED_CREDENTIALS_FILE = file("[default]\n"
          .. "aws_access_key_id = AKIA2\naws_secret_access_key = s2\n") }), P.credentials_from_env)
      assert.are.same({ access_key_id = "AKIA1", secret_access_key = "s1", session_token = "t1",
        source = "environment" }, c)
    end)

    it("want both halves of a key in the environment", function()
      local c, err = with_env(env({ AWS_ACCESS_KEY_ID = "AKIA1" }), P.credentials_from_env)
      assert.is_nil(c)
      assert.matches("AWS_ACCESS_KEY_ID is set in the environment but AWS_SECRET_ACCESS_KEY is not",
        err, 1, true)
    end)

    it("come from the profile of the shared credentials file", function()
      local path = file("# keys\n[default]\naws_access_key_id = AKIA2\naws_secret_access_key = s2\n"
        .. "\n[work]\nAWS_ACCESS_KEY_ID=AKIA3\naws_secret_access_key=s3\naws_session_token = t3\n")
      local c = with_env(env({ AWS_SHARED_CREDENTIALS_FILE = path }), P.credentials_from_env)
      assert.are.equal("AKIA2", c.access_key_id)
      assert.are.equal("s2", c.secret_access_key)
      assert.is_nil(c.session_token)
      c = with_env(env({ AWS_SHARED_CREDENTIALS_FILE = path, AWS_PROFILE = "work" }),
        P.credentials_from_env)
      assert.are.same({ access_key_id = "AKIA3", secret_access_key = "s3", session_token = "t3",
        source = path .. " [work]" }, c)
    end)

    it("come from ~/.aws/credentials by default", function()
      assert(sys.mkdir(dir .. "/.aws", 448))
      assert(sys.write_atomic(dir .. "/.aws/credentials",
        "[default]\naws_access_key_id = AKIA4\naws_secret_access_key = s4\n", 384))
      local c = with_env(env({ HOME = dir }), P.credentials_from_env)
      assert.are.equal("AKIA4", c.access_key_id)
    end)

    it("say where they were looked for when they are missing", function()
      local c, err = with_env(env({ AWS_SHARED_CREDENTIALS_FILE = dir .. "/nothing" }),
        P.credentials_from_env)
      assert.is_nil(c)
      assert.matches("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put "
        .. "them in the [default] profile of " .. dir .. "/nothing", err, 1, true)
      local path = file("[default]\naws_access_key_id = AKIA2\n")
      c, err = with_env(env({ AWS_SHARED_CREDENTIALS_FILE = path }), P.credentials_from_env)
      assert.is_nil(c)
      assert.matches("the [default] profile of " .. path .. " lacks aws_secret_access_key", err, 1, true)
      c, err = with_env(env({ AWS_SHARED_CREDENTIALS_FILE = path, AWS_PROFILE = "prod" }),
        P.credentials_from_env)
      assert.is_nil(c)
      assert.matches(path .. " has no [prod] profile", err, 1, true)
    end)
  end)

  describe("client", function()
    local sd, restore

    setup(function()
      sd = standin.start()
      restore = sd.use("route53")
    end)
    teardown(function()
      if restore then restore() end
      if sd then sd.stop() end
    end)
    before_each(function() sd.reset() end)

    local function client(creds)
      local r = sd.creds.route53
      local c, err = with_env(env({ AWS_ACCESS_KEY_ID = (creds or r).access_key_id,
        AWS_SECRET_ACCESS_KEY = (creds or r).secret_access_key,
        AWS_SESSION_TOKEN = (creds or {}).session_token or false }), function()
        return P.dns.new_client({})
      end)
      if c then c.poll_interval = 0.01 end
      return c, err
    end

    standin.shared({ it = it, assert = assert, provider = "route53",
      sd = setmetatable({}, { __index = function(_, k) return sd[k] end }),
      client = function() return assert(client()) end,
      wrong_client = function()
        return client({ access_key_id = sd.creds.route53.access_key_id, secret_access_key = "wrong" })
      end,
      refusal = "SignatureDoesNotMatch: The request signature we calculated does not match" })

    it("is registered as dns-route53, with AWS's own credential sources", function()
      assert.are.equal("dns-route53", P.name)
      assert.is_false(P.dns.credentials)
      assert.are.equal(10, P.dns.ttl)
      local c, err = with_env(env({ AWS_SHARED_CREDENTIALS_FILE = "/nonexistent/x" }), function()
        return P.dns.new_client({})
      end)
      assert.is_nil(c)
      assert.matches("dns-route53: no AWS credentials", err, 1, true)
    end)

    it("pages through the hosted zones, then changes the record set and waits for INSYNC", function()
      sd.modes({ pending_polls = 2 })
      local c = assert(client())
      assert.is_true(c:add_txt("_acme-challenge.a.example", "v1", 10))
      local reqs = sd.requests("route53")
      local lists, polls = 0, 0
      for _, r in ipairs(reqs) do
        if r:match("^GET /route53/2013%-04%-01/hostedzone%?") then lists = lists + 1 end
        if r:match("^GET /route53/2013%-04%-01/change/C%x+$") then polls = polls + 1 end
      end
      assert.are.equal(4, lists) -- 7 zones, 2 a page
      assert.matches("marker=Z%x+&maxitems=100$", reqs[2])
      assert.are.equal(2, polls)
      assert.matches("^POST /route53/2013%-04%-01/hostedzone/Z%x+/rrset/$", reqs[#reqs - 2])
      assert.are.equal(10, math.tointeger(sd.records("route53")[1].ttl))
    end)

    it("signs with temporary credentials and their session token", function()
      local c = assert(client(sd.creds.route53.temporary))
      assert.is_true(c:add_txt("_acme-challenge.a.example", "v1", 10))
      assert.is_true(c:del_txt("_acme-challenge.a.example", "v1"))
      local bad = assert(client({ access_key_id = sd.creds.route53.temporary.access_key_id,
        secret_access_key = sd.creds.route53.temporary.secret_access_key }))
      local ok, err = bad:add_txt("_acme-challenge.a.example", "v1", 10)
      assert.is_nil(ok)
      assert.matches("InvalidClientTokenId: The security token included in the request is invalid. "
        .. "(HTTP 403); check the AWS access key id", err, 1, true)
    end)

    it("passes on Route 53's InvalidChangeBatch messages", function()
      local c = assert(client())
      local zone = assert(c:zone_for("_acme-challenge.a.example"))
      local ok, err = c:change(zone, "DELETE", "_acme-challenge.a.example", 10, { '"absent"' })
      assert.is_nil(ok)
      assert.matches("InvalidChangeBatch: Tried to delete resource record set "
        .. "[name='_acme-challenge.a.example.', type='TXT'] but it was not found (HTTP 400)", err, 1, true)
    end)
  end)
end)
