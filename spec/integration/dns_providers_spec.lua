-- The cloud DNS provider plugins end to end: certbot (the built
-- executable) publishes the dns-01 TXT records through each provider's API
-- as served by spec/helpers/dns_standin.py, the stand-in mirrors them into
-- pebble-challtestsrv, and Pebble validates them through challtestsrv's
-- DNS.  A wildcard and its base name share one record name with two values.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local standin = require("spec.helpers.dns_standin")
local core = require("certbot.core")
local cjson = require("cjson")

local PROVIDERS = { "cloudflare", "digitalocean", "dnsimple", "nsone", "google", "route53",
  "linode", "luadns" }

-- What each provider answers to wrong credentials (its own words).
local REFUSAL = {
  cloudflare = "Authentication error",
  digitalocean = "Unable to authenticate you",
  dnsimple = "Authentication failed",
  nsone = "Unauthorized",
  google = "Invalid JWT Signature.",
  route53 = "SignatureDoesNotMatch",
  linode = "Invalid Token",
  luadns = "Invalid email or API key",
}

local WRONG_INI = {
  cloudflare = { dns_cloudflare_api_token = "not-the-token" },
  digitalocean = { dns_digitalocean_token = "dop_v1_not-the-token" },
  dnsimple = { dns_dnsimple_token = "not-the-token" },
  nsone = { dns_nsone_api_key = "not-the-key" },
  linode = { dns_linode_key = "not-the-key" },
  luadns = { dns_luadns_token = "not-the-token" },
}

-- Pebble on ports of our own (other specs hold 5001/5002); a port taken
-- between picking and binding is retried with fresh ones.
local function start_pebble()
  local last
  for _ = 1, 3 do
    local a, b, c, d, e, f = proc.free_ports(6)
    -- no reuse of valid authorizations: a renewal must publish records again
    local ok, srv = pcall(pebble.start, { ports = { acme = a, management = b, dns = c,
      challtestsrv = d, http01 = e, tlsalpn01 = f }, env = { PEBBLE_AUTHZREUSE = "0" } })
    if ok then return srv end
    last = srv
    if not tostring(srv):find("address already in use", 1, true) then break end
  end
  error(last, 0)
end

-- No account was registered, so no order was placed (a fresh config dir).
local function no_account(cb)
  local dir = cb.config_dir .. "/accounts"
  local function walk(d)
    for _, name in ipairs(core.sys.listdir(d) or {}) do
      if name ~= "." and name ~= ".." then
        local st = core.sys.lstat(d .. "/" .. name)
        if not st or st.type ~= "directory" or not walk(d .. "/" .. name) then return false end
      end
    end
    return true
  end
  return walk(dir)
end

local function one_line(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

describe("dns provider plugins against Pebble #integration", function()
  local srv, sd, cb

  setup(function()
    srv = start_pebble()
    sd = standin.start({ challtestsrv = srv.challtestsrv, pebble_ca = srv.ca_file })
  end)
  teardown(function()
    if sd then sd.stop() end
    if srv then srv.stop() end
  end)
  before_each(function()
    sd.reset()
    cb = helper.new(srv)
  end)
  after_each(function()
    cb:cleanup()
  end)

  -- certonly --dns-<p> for *.a.example and a.example; opts.wrong: wrong
  -- credentials.
  local function certonly(p, opts)
    opts = opts or {}
    local args = { "certonly", "--dns-" .. p, "--dns-" .. p .. "-propagation-seconds", "0",
      "-d", "*.a.example", "-d", "a.example" }
    local env = sd.env(p)
    -- route53 reads AWS's own places; keep the real ones out of reach
    env.HOME = cb.dir
    env.AWS_SHARED_CREDENTIALS_FILE = cb.dir .. "/no-aws-credentials"
    if p == "google" then
      local key = sd.google_key_file
      if opts.wrong then
        -- the same account, signed with a key Google does not know
        local k = cjson.decode(proc.read(key))
        k.private_key = assert(core.crypto.generate_key("rsa", 2048)):pem()
        key = cb.dir .. "/google-wrong.json"
        assert(core.sys.write_atomic(key, cjson.encode(k), 384))
      end
      args[#args + 1] = "--dns-google-credentials"
      args[#args + 1] = key
    elseif p == "route53" then
      env.AWS_ACCESS_KEY_ID = sd.creds.route53.access_key_id
      env.AWS_SECRET_ACCESS_KEY = opts.wrong and "not-the-secret" or sd.creds.route53.secret_access_key
    else
      args[#args + 1] = "--dns-" .. p .. "-credentials"
      args[#args + 1] = sd.credentials_file(p, cb.dir, opts.wrong and WRONG_INI[p] or nil)
    end
    return cb:run(args, { env = env })
  end

  -- The requests that changed records (create, update, delete).
  local function writes(p)
    local n = 0
    for _, r in ipairs(sd.log()) do
      if r.provider == p and r.method ~= "GET" and r.status < 300
        and not r.path:find("/token", 1, true) then
        n = n + 1
      end
    end
    return n
  end

  for _, p in ipairs(PROVIDERS) do
    describe("dns-" .. p, function()
      it("issues a wildcard certificate and leaves no record behind", function()
        local code, out, err = certonly(p)
        assert.are.equal(0, code, (out or "") .. (err or "") .. sd.server_log():sub(-2000))
        local live = cb:live("a.example")
        local cert = assert(core.crypto.parse_cert(assert(proc.read(live.cert))))
        local sans = {}
        for _, n in ipairs(cert.dns or {}) do sans[n] = true end
        assert.is_true(sans["*.a.example"] and sans["a.example"] or false)
        assert.are.equal(0, helper.verify_chain(cb, "a.example"))
        assert.is_false(no_account(cb))
        assert.are.same({}, sd.records(p))
        -- two values published and removed (how many requests that takes
        -- depends on the provider's model: records or record sets)
        assert.is_true(writes(p) >= 3, "only " .. writes(p) .. " writes")
      end)

      it("removes its records after a failed validation", function()
        sd.modes({ wrong_value = true })
        local code, out, err = certonly(p)
        assert.are.equal(1, code, out .. err)
        assert.matches("Correct value not found for DNS challenge", out .. err, 1, true)
        assert.are.same({}, sd.records(p))
        assert.is_true(writes(p) >= 3, "only " .. writes(p) .. " writes")
        assert.is_false(cb:exists("live/a.example"))
      end)

      it("names the provider's refusal of wrong credentials in one line", function()
        local code, out, err = certonly(p, { wrong = true })
        assert.are.equal(1, code, out .. err)
        local line = one_line(err)
        assert.matches(REFUSAL[p], line, 1, true)
        assert.is_nil(line:find("\n"), line)
        assert.is_nil(line:find("traceback", 1, true), line)
        assert.is_false(cb:exists("live/a.example"))
        assert.are.same({}, sd.records(p))
      end)
    end)
  end

  it("renews with the plugin and credentials file the renewal configuration names", function()
    local code, out, err = certonly("cloudflare")
    assert.are.equal(0, code, out .. err)
    local conf = assert(cb:read("renewal/a.example.conf"))
    assert.matches("authenticator = dns-cloudflare", conf, 1, true)
    assert.matches("dns_cloudflare_credentials = " .. cb.dir .. "/cloudflare.ini", conf, 1, true)
    assert.matches("dns_cloudflare_propagation_seconds = 0", conf, 1, true)
    local before = #sd.log()
    code, out, err = cb:run({ "renew", "--force-renewal" }, { env = sd.env("cloudflare") })
    assert.are.equal(0, code, out .. err)
    assert.is_true(#sd.log() > before)
    assert.are.same({}, sd.records("cloudflare"))
    assert.is_true(cb:exists("archive/a.example/cert2.pem"))
  end)

  it("dns-route53 reads the [default] profile of ~/.aws/credentials", function()
    local home = cb.dir .. "/home"
    assert(core.sys.mkdir(home, 448))
    assert(core.sys.mkdir(home .. "/.aws", 448))
    assert(core.sys.write_atomic(home .. "/.aws/credentials", ("[other]\naws_access_key_id = X\n"
      .. "aws_secret_access_key = Y\n\n[default]\naws_access_key_id = %s\n"
      .. "aws_secret_access_key = %s\n"):format(sd.creds.route53.access_key_id,
      sd.creds.route53.secret_access_key), 384))
    local env = sd.env("route53")
    env.HOME = home
    env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY = "", ""
    local code, out, err = cb:run({ "certonly", "--dns-route53", "--dns-route53-propagation-seconds",
      "0", "-d", "a.example" }, { env = env })
    assert.are.equal(0, code, out .. err)
    assert.are.same({}, sd.records("route53"))
  end)

  it("dns-route53 without AWS credentials fails before any order", function()
    local env = sd.env("route53")
    env.HOME = cb.dir
    env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY = "", ""
    local code, out, err = cb:run({ "certonly", "--dns-route53", "-d", "a.example" }, { env = env })
    assert.are.equal(1, code, out .. err)
    assert.matches("no AWS credentials", one_line(err), 1, true)
    assert.is_nil(one_line(err):find("\n"))
    assert.is_true(no_account(cb))
    assert.are.same({}, sd.log())
  end)

  it("dns-cloudflare with a credentials file lacking the key fails before any order", function()
    local ini = sd.credentials_file("cloudflare", cb.dir, { dns_cloudflare_api_token = false,
      dns_cloudflare_email = "ops@example.org" })
    local code, out, err = cb:run({ "certonly", "--dns-cloudflare", "--dns-cloudflare-credentials",
      ini, "-d", "a.example" }, { env = sd.env("cloudflare") })
    assert.are.equal(1, code, out .. err)
    assert.matches("dns_cloudflare_api_key", one_line(err), 1, true)
    assert.matches(ini, one_line(err), 1, true)
    assert.is_true(no_account(cb))
  end)

  it("dns-cloudxns says the service has shut down, before any order", function()
    local code, out, err = cb:run({ "certonly", "--dns-cloudxns", "-d", "a.example" })
    assert.are.equal(1, code, out .. err)
    local line = one_line(err)
    assert.matches("CloudXNS has shut down", line, 1, true)
    assert.is_nil(line:find("\n"), line)
    assert.is_true(no_account(cb))
    local _, hout = cb:run({ "--help", "dns-cloudxns" }, { bare = true })
    assert.matches("shut down", hout, 1, true)
  end)
end)
