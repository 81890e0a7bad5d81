-- dns-google: dns-01 TXT records through the Google Cloud DNS API v1.
--
-- --dns-google-credentials names a service account's JSON key file: its
-- client_email and private_key sign a JWT (RS256, core.jws) that the
-- key's token_uri exchanges for an OAuth 2.0 access token (grant type
-- jwt-bearer, scope ndev.clouddns.readwrite).  Without a key file, on
-- Compute Engine, the instance's service account token comes from the
-- metadata server.  The project is --dns-google-project, else the key
-- file's project_id, else the metadata server's.
--
-- The zone is the public managed zone whose dnsName is the first
-- candidate (walking up the record name's labels); managedZones.list is
-- paged by nextPageToken.  Cloud DNS keeps every value of a name in one
-- resource record set: a change deletes the set as it is and adds it back
-- with our value added (or removed); the change is then polled until its
-- status is "done".  Errors are {error: {code, message, status}}.
local cjson = require("cjson.safe")
local core = require("certbot.core")
local dns = require("certbot.dns")
local common = require("certbot.plugins.dns.common")
local log = require("certbot.log")
local display = require("certbot.display")

local DEFAULT_URL = "https://dns.googleapis.com/dns/v1"
local METADATA_URL = "http://metadata.google.internal/computeMetadata/v1"
local SCOPE = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
local JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
local TTL = 60

local b64 = core.crypto.b64url_encode

local Client = {}
Client.__index = Client

-- read_key(path) -> key table | nil, err: a service account JSON key file.
local function read_key(path)
  local st = core.sys.stat(path)
  if st and st.type == "file" and st.mode & 63 ~= 0 then -- 0077: a key anyone else may read
    local msg = "Unsafe permissions on credentials configuration file: " .. path
    log.warning("%s", msg)
    display.warn(msg)
  end
  local text, rerr = core.sys.read_file(path)
  if not text then
    return nil, ("dns-google: cannot read the credentials file %s: %s"):format(path, tostring(rerr))
  end
  local k = cjson.decode(text)
  if type(k) ~= "table" then
    return nil, ("dns-google: %s is not JSON; --dns-google-credentials takes a service account's "
      .. "JSON key file"):format(path)
  end
  if k.type ~= "service_account" then
    return nil, ("dns-google: %s is not a service account key (its type is %s, not "
      .. "\"service_account\")"):format(path, tostring(k.type))
  end
  for _, f in ipairs({ "client_email", "private_key", "token_uri" }) do
    if type(k[f]) ~= "string" or k[f] == "" then
      return nil, ("dns-google: %s lacks %s"):format(path, f)
    end
  end
  if not k.token_uri:match("^https://") then
    return nil, ("dns-google: %s: token_uri %s is not an https URL"):format(path, k.token_uri)
  end
  local key, kerr = core.crypto.load_key(k.private_key)
  if not key then
    return nil, ("dns-google: %s: private_key: %s"):format(path, tostring(kerr))
  end
  if core.jws.alg(key) ~= "RS256" then
    return nil, ("dns-google: %s: private_key is not an RSA key"):format(path)
  end
  k.key = key
  return k
end

-- Google's error body as one line.
local function describe(data)
  if type(data) == "table" and type(data.error) == "table" then
    local e = data.error
    local s = tostring(e.message or "request failed")
    if e.status then s = s .. " [" .. tostring(e.status) .. "]" end
    return s
  end
  if type(data) == "table" and type(data.error) == "string" then
    -- the OAuth token endpoint: {error, error_description}
    return data.error .. (data.error_description and (": " .. tostring(data.error_description)) or "")
  end
  return "request failed"
end

function Client.new(config, opts)
  opts = opts or {}
  local self = setmetatable({ config = config, http = opts.http or dns.http(config),
    base = common.base_url("google", DEFAULT_URL), project = config.dns_google_project,
    poll_interval = 1, poll_timeout = 120 }, Client)
  local path = config.dns_google_credentials
  if path and path ~= "" then
    local k, err = read_key(path)
    if not k then return nil, err end
    self.sa = k
    self.project = self.project or k.project_id
  else
    -- plain http, on the instance's own link: not dns.http, which is https only
    local ca = os.getenv("REQUESTS_CA_BUNDLE")
    local mhttp, merr = opts.metadata_http, nil
    if not mhttp then
      mhttp, merr = core.http.new({ https_only = false, ca_file = ca ~= "" and ca or nil,
        connect_timeout = 5, timeout = 10 })
    end
    if not mhttp then return nil, "dns-google: " .. tostring(merr) end
    self.metadata = { http = mhttp,
      base = common.base_url("google_metadata", METADATA_URL) }
  end
  if not self.project or self.project == "" then
    if self.metadata then
      local res, err = self.metadata.http:request("GET", self.metadata.base
        .. "/project/project-id", { headers = { "Metadata-Flavor: Google" } })
      if not res or res.status ~= 200 then
        return nil, ("dns-google: no --dns-google-credentials, and the Compute Engine metadata "
          .. "server did not answer (%s); give a service account's JSON key file with "
          .. "--dns-google-credentials"):format(res and ("HTTP " .. res.status) or tostring(err))
      end
      self.project = res.body:match("^%s*(.-)%s*$")
    else
      return nil, ("dns-google: %s has no project_id; give --dns-google-project"):format(path)
    end
  end
  return self
end

-- token() -> access token | nil, err
function Client:token()
  if self.access_token and os.time() < self.token_expiry then return self.access_token end
  local res, data, what
  if self.sa then
    local now = os.time()
    local header = b64(cjson.encode({ alg = "RS256", typ = "JWT", kid = self.sa.private_key_id }))
    local claims = b64(cjson.encode({ iss = self.sa.client_email, scope = SCOPE,
      aud = self.sa.token_uri, iat = now, exp = now + 3600 }))
    local input = header .. "." .. claims
    local jwt = input .. "." .. b64(core.jws.sign(self.sa.key, "RS256", input))
    what = "the OAuth token endpoint " .. self.sa.token_uri
    res, data = common.request(self.http, "POST", self.sa.token_uri, {
      body = "grant_type=" .. common.escape(JWT_BEARER) .. "&assertion=" .. jwt,
      content_type = "application/x-www-form-urlencoded" })
  else
    what = "the Compute Engine metadata server"
    res, data = common.request(self.metadata.http, "GET", self.metadata.base
      .. "/instance/service-accounts/default/token", { headers = { "Metadata-Flavor: Google" } })
  end
  if not res then return nil, "Google OAuth: " .. tostring(data) end
  if res.status ~= 200 or type(data) ~= "table" or type(data.access_token) ~= "string" then
    return nil, ("Google OAuth error from %s: %s (HTTP %d)%s"):format(what, describe(data),
      res.status, self.sa and "; check the service account key in --dns-google-credentials" or "")
  end
  self.access_token = data.access_token
  self.token_expiry = os.time() + math.max(60, (math.tointeger(data.expires_in) or 3600) - 60)
  return self.access_token
end

-- Google answers some quota errors with 403 and a rate-limit reason, not 429.
local function rate_limited(res)
  return res.status == 403 and (res.body:find('"rateLimitExceeded"', 1, true)
    or res.body:find('"userRateLimitExceeded"', 1, true)) and true or false
end

-- call(method, path, body) -> data | nil, err, status
function Client:call(method, path, body)
  local token, terr = self:token()
  if not token then return nil, terr end
  local url = self.base .. "/projects/" .. common.escape(self.project) .. path
  local res, data = common.request(self.http, method, url,
    { headers = { "Authorization: Bearer " .. token }, json = body, limited = rate_limited })
  if not res then return nil, "Google Cloud DNS API: " .. tostring(data) end
  if res.status >= 400 then
    return nil, ("Google Cloud DNS API error: %s (HTTP %d)"):format(describe(data), res.status),
      res.status
  end
  if type(data) ~= "table" then
    return nil, ("Google Cloud DNS API: %s %s answered HTTP %d without a JSON body"):format(method,
      (path:gsub("%?.*$", "")), res.status)
  end
  return data
end

-- zone_for(record_name) -> managed zone name | nil, err
function Client:zone_for(record_name)
  self.zones, self.misses = self.zones or {}, self.misses or {}
  local candidates = dns.zone_candidates(record_name)
  for _, cand in ipairs(candidates) do
    if self.zones[cand] then return self.zones[cand] end
    local token, pages = nil, 0
    if self.misses[cand] then pages = -1 end
    while pages >= 0 do
      local data, err = self:call("GET", "/managedZones?" .. common.query{
        { "dnsName", cand .. "." }, { "pageToken", token } })
      if not data then return nil, err end
      for _, z in ipairs(type(data.managedZones) == "table" and data.managedZones or {}) do
        if type(z) == "table" and type(z.dnsName) == "string" and z.dnsName:lower() == cand .. "."
          and z.visibility ~= "private" and type(z.name) == "string" then
          self.zones[cand] = z.name
          return z.name
        end
      end
      token = type(data.nextPageToken) == "string" and data.nextPageToken ~= ""
        and data.nextPageToken or nil
      pages = pages + 1
      if not token or pages >= 1000 then
        self.misses[cand] = true
        pages = -1
      end
    end
  end
  return nil, ("Google Cloud DNS: no public managed zone of project %s holds %s (tried %s)")
    :format(self.project, record_name, table.concat(candidates, ", "))
end

-- rrset(zone, record_name) -> the TXT set at record_name (or false) | nil, err
function Client:rrset(zone, record_name)
  local data, err = self:call("GET", ("/managedZones/%s/rrsets?%s"):format(zone, common.query{
    { "name", record_name .. "." }, { "type", "TXT" } }))
  if not data then return nil, err end
  for _, s in ipairs(type(data.rrsets) == "table" and data.rrsets or {}) do
    if type(s) == "table" and type(s.name) == "string" and s.name:lower() == record_name .. "."
      and s.type == "TXT" then
      return s
    end
  end
  return false
end

-- wait(zone, change) -> true | nil, err: poll the change until "done".
function Client:wait(zone, change)
  local deadline = core.sys.monotonic() + self.poll_timeout
  local first = true
  while change.status ~= "done" do
    if not first then
      if core.sys.monotonic() > deadline then
        return nil, ("Google Cloud DNS: change %s in zone %s is still %s after %d s"):format(
          tostring(change.id), zone, tostring(change.status), math.ceil(self.poll_timeout))
      end
      core.sys.sleep(self.poll_interval)
    end
    first = false
    local data, err = self:call("GET", ("/managedZones/%s/changes/%s"):format(zone,
      common.escape(tostring(change.id))))
    if not data then return nil, err end
    change = data
  end
  return true
end

local function quoted(value) return '"' .. value .. '"' end

-- update(record_name, fn): read the set, let fn(values) give the new
-- values (nil: nothing to do), and replace the set in one change.  A 409
-- or 412 (someone changed the set meanwhile) starts over, up to 3 times.
function Client:update(record_name, ttl, fn)
  local zone, zerr = self:zone_for(record_name)
  if not zone then return nil, zerr end
  for attempt = 1, 3 do
    local current, err = self:rrset(zone, record_name)
    if current == nil then return nil, err end
    local values = {}
    for _, v in ipairs(current and type(current.rrdatas) == "table" and current.rrdatas or {}) do
      values[#values + 1] = v
    end
    local new = fn(values)
    if not new then return true end
    local change = { kind = "dns#change" }
    if current then
      change.deletions = { { kind = "dns#resourceRecordSet", name = current.name, type = "TXT",
        ttl = current.ttl, rrdatas = current.rrdatas } }
    end
    if #new > 0 then
      change.additions = { { kind = "dns#resourceRecordSet", name = record_name .. ".",
        type = "TXT", ttl = current and current.ttl or ttl, rrdatas = new } }
    end
    local data, cerr, status = self:call("POST", ("/managedZones/%s/changes"):format(zone), change)
    if data then return self:wait(zone, data) end
    if (status ~= 409 and status ~= 412) or attempt == 3 then return nil, cerr end
    log.info("Google Cloud DNS: %s changed meanwhile (%s); reading it again", record_name, cerr)
  end
end

function Client:add_txt(record_name, value, ttl)
  return self:update(record_name, ttl or TTL, function(values)
    for _, v in ipairs(values) do if v == quoted(value) then return nil end end
    values[#values + 1] = quoted(value)
    return values
  end)
end

function Client:del_txt(record_name, value)
  return self:update(record_name, TTL, function(values)
    local keep, found = {}, false
    for _, v in ipairs(values) do
      if v == quoted(value) then found = true else keep[#keep + 1] = v end
    end
    return found and keep or nil
  end)
end

local P = dns.authenticator{
  id = "google",
  ttl = TTL,
  description = "Obtain certificates using a DNS TXT record (if you are using Google Cloud DNS "
    .. "for DNS).",
  -- not an INI file: the JSON key file (or none, on Compute Engine) is
  -- read and checked by the client
  credentials = false,
  new_client = function(config) return Client.new(config) end,
}
P.Client = Client
return P
