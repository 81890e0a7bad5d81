-- spec/helpers/dns_standin.lua: start spec/helpers/dns_standin.py, the
-- local HTTPS stand-ins for the DNS provider APIs, for specs.
--
--   local standin = require("spec.helpers.dns_standin")
--   local sd = standin.start{ challtestsrv = srv.challtestsrv, pebble_ca = srv.ca_file }
--   sd.url("cloudflare")        -> base URL for CERTBOT_TEST_DNS_CLOUDFLARE_URL
--   sd.env("cloudflare")        -> environment for cb:run (base URL + CA bundle)
--   sd.creds.cloudflare.token   -> the secrets the stand-in accepts
--   sd.credentials_file("cloudflare", dir[, overrides]) -> path of an INI file (0600)
--   sd.records("cloudflare")    -> { {name=, value=, ttl=, zone=}, ... } held now
--   sd.log()                    -> requests seen { {provider, method, path, status} }
--   sd.modes{ wrong_value = true, ratelimit = { cloudflare = 1 }, pending_polls = 2 }
--   sd.seed(provider, zone, name, value)   sd.reset()   sd.stop()
--
-- Only the PID started here is ever signalled.
local core = require("certbot.core")
local cjson = require("cjson")
local proc = require("spec.helpers.proc")

local M = {}

local HERE = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "spec/helpers"

-- Zones every provider hosts.  The fillers sort before a.example, so with
-- a small max_per_page a client must follow the pagination to find it.
M.zones = { "0-filler.test", "1-filler.test", "2-filler.test", "3-filler.test",
  "4-filler.test", "a.example", "example.net" }

local function run(cmd, log)
  local ok = os.execute(cmd .. " >>" .. proc.quote(log) .. " 2>&1")
  if not ok then
    error("dns stand-in helper: command failed: " .. cmd .. "\n" .. (proc.read(log) or ""), 3)
  end
end

local function write(path, data, mode)
  assert(core.sys.write_atomic(path, data, mode or 384))
  return path
end

local function make_certs(dir)
  proc.listener_certs(dir, { cn = "certbot spec DNS stand-in CA" })
  -- the Google service account's key (PKCS#8, as in a downloaded JSON key)
  local log, q = dir .. "/openssl.log", proc.quote
  run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "
    .. q(dir .. "/gsa.key"), log)
  run("openssl pkey -in " .. q(dir .. "/gsa.key") .. " -pubout -out " .. q(dir .. "/gsa.pub"), log)
end


-- start(opts) -> stand-in.  opts.challtestsrv: pebble-challtestsrv's
-- management URL (records are mirrored there), or nil; opts.pebble_ca: a CA
-- file joined into the bundle env() gives; opts.max_per_page (default 2);
-- opts.zones (default M.zones).
function M.start(opts)
  opts = opts or {}
  local dir = proc.tmpdir("dns-standin-")
  local sd = { dir = dir, log_path = dir .. "/standin.log" }
  local pid, client
  local function stop()
    if pid then proc.stop(pid, "python3") end
    pid = nil
    if client then client:close() end
    client = nil
    if not opts.keep then proc.rm_rf(dir) end
  end
  sd.stop = stop

  local port
  local ok, err = pcall(function()
    make_certs(dir)
    port = opts.port or proc.free_ports(1)
    local base = "https://127.0.0.1:" .. port
    sd.base = base
    local rnd = function() return core.crypto.b64url_encode(core.crypto.random_bytes(18)) end
    sd.creds = {
      cloudflare = { token = "cf-token-" .. rnd(), email = "ops@example.org", key = rnd() },
      digitalocean = { token = "dop_v1_" .. rnd() },
      dnsimple = { token = "dnsimple-" .. rnd(), account = 1010, user_token = "user-" .. rnd() },
      nsone = { key = "ns1-" .. rnd() },
      linode = { key = "linode-" .. rnd() },
      luadns = { email = "ops@example.org", token = rnd() },
      google = { client_email = "certbot@spec-project.iam.gserviceaccount.com",
        project = "spec-project", token_uri = base .. "/google/token",
        public_key = dir .. "/gsa.pub" },
      route53 = { access_key_id = "AKIA" .. rnd():upper():gsub("[^%w]", "X"):sub(1, 16),
        secret_access_key = rnd() .. rnd(),
        temporary = { access_key_id = "ASIA" .. rnd():upper():gsub("[^%w]", "X"):sub(1, 16),
          secret_access_key = rnd() .. rnd(), session_token = "IQoJb3JpZ2luX2VjE" .. rnd() .. rnd() } },
    }
    local config = { port = port, cert = dir .. "/cert.pem", key = dir .. "/key.pem",
      challtestsrv = opts.challtestsrv or cjson.null, zones = opts.zones or M.zones,
      max_per_page = opts.max_per_page or 2 }
    for k, v in pairs(sd.creds) do config[k] = v end
    write(dir .. "/config.json", cjson.encode(config))
    -- the service account key file, as Google's console hands it out
    sd.google_key_file = write(dir .. "/google-key.json", cjson.encode({
      type = "service_account", project_id = "spec-project",
      private_key_id = "0123456789abcdef0123456789abcdef01234567",
      private_key = proc.read(dir .. "/gsa.key"),
      client_email = sd.creds.google.client_email, client_id = "100000000000000000001",
      auth_uri = "https://accounts.google.com/o/oauth2/auth",
      token_uri = sd.creds.google.token_uri,
      auth_provider_x509_cert_url = "https://www.googleapis.com/oauth2/v1/certs",
    }))
    sd.ca_file = dir .. "/ca.pem"
    local bundle = proc.read(sd.ca_file)
    if opts.pebble_ca then bundle = bundle .. (proc.read(opts.pebble_ca) or "") end
    sd.bundle = write(dir .. "/bundle.pem", bundle, 420)

    pid = proc.spawn({ proc.python(), HERE .. "/dns_standin.py", dir .. "/config.json" },
      { log = sd.log_path })
    client = assert(core.http.new({ ca_file = sd.ca_file, timeout = 10 }))
    local last
    local ready = proc.wait_until(function()
      if not proc.alive(pid) then error("dns_standin.py exited", 0) end
      local r, e = client:request("GET", base .. "/_standin/records")
      if r and r.status == 200 then return true end
      last = e or (r and r.status)
      return false
    end, 10, 0.05)
    if not ready then error("not answering: " .. tostring(last), 0) end
  end)
  if not ok then
    local log = proc.read(sd.log_path) or ""
    stop()
    error("dns stand-in helper: " .. tostring(err) .. "\n--- stand-in log:\n" .. log, 2)
  end
  sd.pid = pid

  local function call(method, path, body)
    local r, e = client:request(method, sd.base .. "/_standin/" .. path,
      body and { body = cjson.encode(body), content_type = "application/json" } or nil)
    if not r then error(e, 3) end
    if r.status ~= 200 then error(path .. ": status " .. r.status .. ": " .. r.body, 3) end
    return cjson.decode(r.body)
  end

  local PATHS = {
    cloudflare = "/cloudflare/client/v4", digitalocean = "/digitalocean/v2",
    dnsimple = "/dnsimple/v2", nsone = "/nsone/v1", google = "/google/dns/v1",
    route53 = "/route53", linode = "/linode/v4", luadns = "/luadns/v1",
  }
  function sd.url(provider)
    return sd.base .. assert(PATHS[provider], "no stand-in for " .. tostring(provider))
  end

  -- The environment a certbot run needs to reach the stand-in for provider.
  function sd.env(provider)
    local env = { REQUESTS_CA_BUNDLE = sd.bundle }
    env["CERTBOT_TEST_DNS_" .. provider:upper() .. "_URL"] = sd.url(provider)
    if provider == "google" then
      env.CERTBOT_TEST_DNS_GOOGLE_METADATA_URL = sd.base .. "/google/computeMetadata/v1"
    end
    return env
  end

  -- An INI credentials file (mode 0600) with the keys the plugin reads;
  -- overrides replace or add keys (false removes one).
  function sd.credentials_file(provider, where, overrides)
    local c = sd.creds[provider]
    local keys = ({
      cloudflare = { dns_cloudflare_api_token = c.token },
      digitalocean = { dns_digitalocean_token = c.token },
      dnsimple = { dns_dnsimple_token = c.token },
      nsone = { dns_nsone_api_key = c.key },
      linode = { dns_linode_key = c.key, dns_linode_version = "4" },
      luadns = { dns_luadns_email = c.email, dns_luadns_token = c.token },
    })[provider] or {}
    for k, v in pairs(overrides or {}) do keys[k] = v or nil end
    local lines, names = {}, {}
    for k in pairs(keys) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do lines[#lines + 1] = k .. " = " .. keys[k] end
    return write(where .. "/" .. provider .. ".ini", table.concat(lines, "\n") .. "\n", 384)
  end

  -- use(provider): point this process's clients at the stand-in (unit
  -- specs); returns a function that puts the environment back.
  function sd.use(provider)
    local env = sd.env(provider)
    env.REQUESTS_CA_BUNDLE = sd.ca_file
    local saved = {}
    for k, v in pairs(env) do
      saved[k] = os.getenv(k) or false
      core.sys.setenv(k, v)
    end
    return function()
      for k, v in pairs(saved) do core.sys.setenv(k, v or nil) end
    end
  end

  -- The request paths seen for provider, in order ("GET /zones?...").
  function sd.requests(provider)
    local out = {}
    for _, r in ipairs(sd.log()) do
      if r.provider == provider then out[#out + 1] = r.method .. " " .. r.path end
    end
    return out
  end

  function sd.records(provider)
    local all = call("GET", "records")
    if provider then return all[provider] or {} end
    return all
  end

  function sd.log() return call("GET", "log") end
  function sd.modes(t) return call("POST", "modes", t) end
  function sd.seed(provider, zone, name, value, ttl)
    return call("POST", "seed", { provider = provider, zone = zone, name = name, value = value,
      ttl = ttl })
  end
  function sd.reset() return call("POST", "reset", {}) end
  function sd.server_log() return proc.read(sd.log_path) or "" end

  return sd
end

-- shared(ctx): the examples every provider client must pass, for a
-- describe block of a unit spec.  ctx: provider, sd (started, with
-- sd.use(provider) in effect), client() -> a fresh client,
-- wrong_client() -> a client with wrong credentials, refusal (the
-- provider's words for them).  Busted's globals are passed in ctx.
function M.shared(ctx)
  local it, assert = ctx.it, ctx.assert
  local common = require("certbot.plugins.dns.common")
  local p, sd = ctx.provider, ctx.sd
  local rrdata = p == "google" or p == "route53"
  local function stored(v) return rrdata and ('"' .. v .. '"') or v end
  local function held()
    local out = {}
    for _, r in ipairs(sd.records(p)) do out[#out + 1] = r.name .. " " .. r.value end
    table.sort(out)
    return out
  end

  it("finds the zone by walking up the labels, and deletes what it added", function()
    local c = ctx.client()
    assert.is_true(c:add_txt("_acme-challenge.deep.sub.a.example", "v1", 60))
    local recs = sd.records(p)
    assert.are.equal(1, #recs)
    assert.are.equal("_acme-challenge.deep.sub.a.example", recs[1].name)
    assert.are.equal("a.example", recs[1].zone)
    assert.are.equal(stored("v1"), recs[1].value)
    assert.is_true(c:del_txt("_acme-challenge.deep.sub.a.example", "v1"))
    assert.are.same({}, sd.records(p))
  end)

  it("adds two values at one name and keeps the values it did not add", function()
    sd.seed(p, "a.example", "_acme-challenge.a.example", stored("someone-else"))
    local c = ctx.client()
    assert.is_true(c:add_txt("_acme-challenge.a.example", "v1", 60))
    assert.is_true(c:add_txt("_acme-challenge.a.example", "v2", 60))
    local n = "_acme-challenge.a.example "
    assert.are.same({ n .. stored("someone-else"), n .. stored("v1"), n .. stored("v2") }, held())
    assert.is_true(c:del_txt("_acme-challenge.a.example", "v1"))
    assert.are.same({ n .. stored("someone-else"), n .. stored("v2") }, held())
    assert.is_true(c:del_txt("_acme-challenge.a.example", "v2"))
    assert.are.same({ n .. stored("someone-else") }, held())
  end)

  it("deletes a value it does not find without complaint", function()
    sd.seed(p, "a.example", "_acme-challenge.a.example", stored("someone-else"))
    assert.is_true(ctx.client():del_txt("_acme-challenge.a.example", "never-added"))
    assert.are.equal(1, #sd.records(p))
  end)

  it("waits out the provider's rate-limit answer and tries again", function()
    local waits, sleep = {}, common.sleep
    common.sleep = function(s) waits[#waits + 1] = s end
    sd.modes({ ratelimit = { [p] = 2 } })
    local ok, err = pcall(function()
      local c = ctx.client()
      assert.is_true(c:add_txt("_acme-challenge.a.example", "v1", 60))
    end)
    common.sleep = sleep
    assert(ok, err)
    assert.are.equal(2, #waits)
    for _, w in ipairs(waits) do assert.is_true(w >= 1 and w <= common.MAX_WAIT) end
    assert.are.equal(1, #sd.records(p))
    local limited = 0
    for _, r in ipairs(sd.log()) do
      if r.provider == p and (r.status == 429 or (p == "route53" and r.status == 400)
        or (p == "google" and r.status == 403)) then
        limited = limited + 1
      end
    end
    assert.are.equal(2, limited)
  end)

  it("names the provider's refusal of wrong credentials, in one line", function()
    local c, cerr = ctx.wrong_client()
    local ok, err = nil, cerr
    if c then ok, err = c:add_txt("_acme-challenge.a.example", "v1", 60) end
    assert.is_nil(ok)
    assert.matches(ctx.refusal, err, 1, true)
    assert.is_nil(err:find("\n"))
    assert.are.same({}, sd.records(p))
  end)

  it("says so when no zone holds the name", function()
    local ok, err = ctx.client():add_txt("_acme-challenge.www.nowhere.invalid", "v1", 60)
    assert.is_nil(ok)
    assert.matches("www.nowhere.invalid", err, 1, true)
    assert.are.same({}, sd.records(p))
  end)
end

return M
