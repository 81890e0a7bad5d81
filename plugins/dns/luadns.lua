-- dns-luadns: dns-01 TXT records through the LuaDNS REST API v1.
--
-- Credentials INI: dns_luadns_email and dns_luadns_token (the account's
-- email and an API key), sent with HTTP Basic authentication; every
-- request says "Accept: application/json".  The zone is the longest of
-- the account's zones (GET /v1/zones) the record name ends in.  Records
-- are created with POST /v1/zones/{id}/records (fully qualified name with
-- the final dot) and deleted by id; record lists are paged through the
-- x-total-pages header.  Errors are {status, request_id, message}.
local dns = require("certbot.dns")
local common = require("certbot.plugins.dns.common")

local DEFAULT_URL = "https://api.luadns.com/v1"
local TTL = 300

local Client = {}
Client.__index = Client

function Client.new(config, creds, http)
  return setmetatable({ http = http or dns.http(config),
    base = common.base_url("luadns", DEFAULT_URL),
    headers = { common.basic(creds.dns_luadns_email, creds.dns_luadns_token) }, ids = {} }, Client)
end

-- call(method, path, body) -> data, response | nil, err, status
function Client:call(method, path, body)
  local res, data = common.request(self.http, method, self.base .. path,
    { headers = self.headers, json = body })
  if not res then return nil, "LuaDNS API: " .. tostring(data) end
  if res.status >= 400 then
    local msg = type(data) == "table" and (data.message or data.status) or nil
    return nil, ("LuaDNS API error: %s (HTTP %d)%s"):format(tostring(msg or "request failed"),
      res.status, res.status == 401 and "; check dns_luadns_email and dns_luadns_token" or ""),
      res.status
  end
  if type(data) ~= "table" then
    return nil, ("LuaDNS API: %s %s answered HTTP %d without a JSON body"):format(method,
      (path:gsub("%?.*$", "")), res.status)
  end
  return data, res
end

function Client:zone_for(record_name)
  if not self.zones then
    local list, err = self:call("GET", "/zones")
    if not list then return nil, err end
    self.zones = {}
    for _, z in ipairs(list) do
      if type(z) == "table" and type(z.name) == "string" and z.id then
        self.zones[z.name:lower()] = math.tointeger(z.id) or z.id
      end
    end
  end
  local candidates = dns.zone_candidates(record_name)
  for _, cand in ipairs(candidates) do
    if self.zones[cand] then return self.zones[cand] end
  end
  return nil, ("LuaDNS: no zone of this account holds %s (tried %s)"):format(record_name,
    table.concat(candidates, ", "))
end

local function key(name, value) return name .. "\0" .. value end

function Client:add_txt(record_name, value, ttl)
  local zone, zerr = self:zone_for(record_name)
  if not zone then return nil, zerr end
  local data, err = self:call("POST", ("/zones/%s/records"):format(tostring(zone)),
    { name = record_name .. ".", type = "TXT", content = value, ttl = math.max(TTL, ttl or TTL) })
  if not data then return nil, err end
  if data.id then self.ids[key(record_name, value)] = { zone = zone, id = data.id } end
  return true
end

function Client:del_txt(record_name, value)
  local targets = {}
  local known = self.ids[key(record_name, value)]
  if known then
    targets[1] = known
  else
    local zone, zerr = self:zone_for(record_name)
    if not zone then return nil, zerr end
    local page = 1
    repeat
      local recs, res = self:call("GET", ("/zones/%s/records?%s"):format(tostring(zone),
        common.query{ { "page", page }, { "limit", 100 } }))
      if not recs then return nil, res end
      for _, r in ipairs(recs) do
        if type(r) == "table" and r.type == "TXT" and type(r.name) == "string"
          and r.name:lower():gsub("%.$", "") == record_name and r.content == value and r.id then
          targets[#targets + 1] = { zone = zone, id = r.id }
        end
      end
      local pages = math.tointeger(tonumber(res.headers["x-total-pages"] or "")) or 1
      page = page + 1
    until page > pages or page > 1000
  end
  for _, t in ipairs(targets) do
    local ok, err, status = self:call("DELETE", ("/zones/%s/records/%s"):format(tostring(t.zone),
      tostring(math.tointeger(t.id) or t.id)))
    if not ok and status ~= 404 then return nil, err end
  end
  self.ids[key(record_name, value)] = nil
  return true
end

local P = dns.authenticator{
  id = "luadns",
  description = "Obtain certificates using a DNS TXT record (if you are using LuaDNS for DNS).",
  credentials = { "dns_luadns_email", "dns_luadns_token" },
  ttl = TTL,
  new_client = function(config, creds) return Client.new(config, creds) end,
}
P.Client = Client
return P
