-- dns-cloudflare: dns-01 TXT records through the Cloudflare API v4.
--
-- Credentials INI: dns_cloudflare_api_token (an API token with Zone:Read
-- and DNS:Edit, sent as "Authorization: Bearer"), or the account's Global
-- API Key: dns_cloudflare_email + dns_cloudflare_api_key (X-Auth-Email and
-- X-Auth-Key).  Zones are found with GET /zones?name=<candidate>, walking
-- up the labels of the record name; records are created with POST
-- /zones/{id}/dns_records and deleted by the id Cloudflare gave them.
-- Every answer is the {success, errors, messages, result, result_info}
-- envelope; lists are paged (page, per_page, result_info.total_pages).
local dns = require("certbot.dns")
local common = require("certbot.plugins.dns.common")

local DEFAULT_URL = "https://api.cloudflare.com/client/v4"
local TTL = 120 -- seconds; Cloudflare takes 60..86400 (or 1, "automatic")
local PER_PAGE = 50

local Client = {}
Client.__index = Client

local function credentials(creds, path)
  local token = creds.dns_cloudflare_api_token
  local email, key = creds.dns_cloudflare_email, creds.dns_cloudflare_api_key
  if token and token ~= "" then
    if (email and email ~= "") or (key and key ~= "") then
      return nil, ("%s: give either dns_cloudflare_api_token (an API token) or "
        .. "dns_cloudflare_email and dns_cloudflare_api_key (the Global API Key), not both")
        :format(path)
    end
    return true
  end
  if email and email ~= "" and key and key ~= "" then return true end
  if email and email ~= "" then
    return nil, ("%s: dns_cloudflare_email is set but dns_cloudflare_api_key (the Global API "
      .. "Key) is missing"):format(path)
  end
  if key and key ~= "" then
    return nil, ("%s: dns_cloudflare_api_key is set but dns_cloudflare_email is missing")
      :format(path)
  end
  return nil, ("%s: missing dns_cloudflare_api_token (an API token with Zone:Read and "
    .. "DNS:Edit permissions), or dns_cloudflare_email and dns_cloudflare_api_key"):format(path)
end

-- Cloudflare's errors[] (with their error_chain) as one line.
local function describe(errors)
  local parts = {}
  for _, e in ipairs(type(errors) == "table" and errors or {}) do
    if type(e) == "table" then
      local s = tostring(e.message or "unknown error")
      if e.code then s = s .. " (code " .. tostring(math.tointeger(e.code) or e.code) .. ")" end
      local chain = {}
      for _, c in ipairs(type(e.error_chain) == "table" and e.error_chain or {}) do
        if type(c) == "table" then
          local code = c.code and (" (code " .. tostring(math.tointeger(c.code) or c.code) .. ")")
          chain[#chain + 1] = tostring(c.message) .. (code or "")
        end
      end
      if #chain > 0 then s = s .. ": " .. table.concat(chain, "; ") end
      parts[#parts + 1] = s
    end
  end
  return #parts > 0 and table.concat(parts, "; ") or nil
end

-- A hint for the answers that mean the credentials are wrong.
local HINT = {
  [6003] = "check the credentials file: an API token goes in dns_cloudflare_api_token",
  [6111] = "check the credentials file: an API token goes in dns_cloudflare_api_token",
  [9103] = "check dns_cloudflare_email and dns_cloudflare_api_key",
  [10000] = "check the API token and that it has Zone:Read and DNS:Edit permissions",
}

function Client.new(config, creds, http)
  local self = setmetatable({ http = http or dns.http(config), base = common.base_url("cloudflare",
    DEFAULT_URL), zones = {}, misses = {}, ids = {} }, Client)
  if creds.dns_cloudflare_api_token and creds.dns_cloudflare_api_token ~= "" then
    self.headers = { "Authorization: Bearer " .. creds.dns_cloudflare_api_token }
  else
    self.headers = { "X-Auth-Email: " .. creds.dns_cloudflare_email,
      "X-Auth-Key: " .. creds.dns_cloudflare_api_key }
  end
  return self
end

-- call(method, path, body) -> envelope | nil, err, code (the first error code)
function Client:call(method, path, body)
  local res, data = common.request(self.http, method, self.base .. path,
    { headers = self.headers, json = body })
  if not res then return nil, "Cloudflare API: " .. tostring(data) end
  if type(data) ~= "table" then
    return nil, ("Cloudflare API: %s %s answered HTTP %d without a JSON body"):format(method,
      (path:gsub("%?.*$", "")), res.status)
  end
  if data.success ~= true or res.status >= 400 then
    local first = type(data.errors) == "table" and type(data.errors[1]) == "table"
      and data.errors[1] or {}
    local code = math.tointeger(first.code)
    local msg = ("Cloudflare API error: %s (HTTP %d)"):format(
      describe(data.errors) or "request failed", res.status)
    if HINT[code] then msg = msg .. "; " .. HINT[code] end
    return nil, msg, code
  end
  return data
end

-- list(path, params) -> every result of a paged list | nil, err
function Client:list(path, params)
  local out, page = {}, 1
  repeat
    local q = { table.unpack(params) }
    q[#q + 1] = { "page", page }
    q[#q + 1] = { "per_page", PER_PAGE }
    local data, err = self:call("GET", path .. "?" .. common.query(q))
    if not data then return nil, err end
    for _, r in ipairs(type(data.result) == "table" and data.result or {}) do out[#out + 1] = r end
    local info = type(data.result_info) == "table" and data.result_info or {}
    local pages = math.tointeger(info.total_pages) or 1
    page = page + 1
  until page > pages or page > 1000
  return out
end

-- zone_for(record_name) -> zone id, zone name | nil, err
function Client:zone_for(record_name)
  local candidates = dns.zone_candidates(record_name)
  for _, cand in ipairs(candidates) do
    if self.zones[cand] then return self.zones[cand], cand end
    if not self.misses[cand] then
      local zones, err = self:list("/zones", { { "name", cand } })
      if not zones then return nil, err end
      for _, z in ipairs(zones) do
        if type(z) == "table" and type(z.name) == "string" and z.name:lower() == cand
          and type(z.id) == "string" then
          self.zones[cand] = z.id
          return z.id, cand
        end
      end
      self.misses[cand] = true
    end
  end
  return nil, ("Cloudflare: no zone for %s (tried %s); is the domain in the Cloudflare account, "
    .. "and may these credentials read its zone (Zone:Read)?"):format(record_name,
    table.concat(candidates, ", "))
end

local function key(name, value) return name .. "\0" .. value end

function Client:add_txt(record_name, value, ttl)
  local zone, zerr = self:zone_for(record_name)
  if not zone then return nil, zerr end
  ttl = math.max(60, math.min(86400, ttl or TTL))
  local data, err, code = self:call("POST", "/zones/" .. zone .. "/dns_records",
    { type = "TXT", name = record_name, content = value, ttl = ttl })
  if not data then
    -- 81058: "An identical record already exists": ours, from an earlier
    -- run that did not finish; del_txt finds it by name and content.
    if code == 81058 then return true end
    return nil, err
  end
  local rec = type(data.result) == "table" and data.result or {}
  if type(rec.id) == "string" then self.ids[key(record_name, value)] = { zone = zone, id = rec.id } end
  return true
end

function Client:del_txt(record_name, value)
  local known = self.ids[key(record_name, value)]
  local targets = {}
  if known then
    targets[1] = known
  else
    local zone, zerr = self:zone_for(record_name)
    if not zone then return nil, zerr end
    local recs, err = self:list("/zones/" .. zone .. "/dns_records",
      { { "type", "TXT" }, { "name", record_name }, { "content", value } })
    if not recs then return nil, err end
    for _, r in ipairs(recs) do
      if type(r) == "table" and r.content == value and type(r.id) == "string" then
        targets[#targets + 1] = { zone = zone, id = r.id }
      end
    end
  end
  for _, t in ipairs(targets) do
    local data, err, code = self:call("DELETE", "/zones/" .. t.zone .. "/dns_records/" .. t.id)
    if not data and code ~= 81044 then return nil, err end -- 81044: already gone
  end
  self.ids[key(record_name, value)] = nil
  return true
end

local P = dns.authenticator{
  id = "cloudflare",
  ttl = TTL,
  description = "Obtain certificates using a DNS TXT record (if you are using Cloudflare for DNS).",
  credentials = credentials,
  new_client = function(config, creds) return Client.new(config, creds) end,
}
P.Client = Client
P.check_credentials = credentials
return P
