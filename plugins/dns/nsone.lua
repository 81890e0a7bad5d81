-- dns-nsone: dns-01 TXT records through the NS1 API v1.
--
-- Credentials INI: dns_nsone_api_key, sent as "X-NSONE-Key".  The zone is
-- the first candidate (walking up the record name's labels) for which GET
-- /v1/zones/{zone} answers.  NS1 keeps every value of a name in one record,
-- /v1/zones/{zone}/{domain}/TXT, with one answer per value: a value is
-- added by creating the record (PUT) or by updating its answers (POST), and
-- removed by updating the answers, or by deleting the record when ours was
-- the last one.  Errors are {message}.
local dns = require("certbot.dns")
local common = require("certbot.plugins.dns.common")

local DEFAULT_URL = "https://api.nsone.net/v1"
local TTL = 60

local Client = {}
Client.__index = Client

function Client.new(config, creds, http)
  return setmetatable({ http = http or dns.http(config),
    base = common.base_url("nsone", DEFAULT_URL),
    headers = { "X-NSONE-Key: " .. creds.dns_nsone_api_key }, zones = {}, misses = {} }, Client)
end

-- call(method, path, body) -> data | nil, err, status
function Client:call(method, path, body)
  local res, data = common.request(self.http, method, self.base .. path,
    { headers = self.headers, json = body })
  if not res then return nil, "NS1 API: " .. tostring(data) end
  if res.status >= 400 then
    local msg = type(data) == "table" and data.message or nil
    return nil, ("NS1 API error: %s (HTTP %d)%s"):format(tostring(msg or "request failed"),
      res.status, res.status == 401 and "; check dns_nsone_api_key" or ""), res.status
  end
  if type(data) ~= "table" then
    return nil, ("NS1 API: %s %s answered HTTP %d without a JSON body"):format(method, path,
      res.status)
  end
  return data
end

function Client:zone_for(record_name)
  local candidates = dns.zone_candidates(record_name)
  for _, cand in ipairs(candidates) do
    if self.zones[cand] then return cand end
    if not self.misses[cand] then
      local data, err, status = self:call("GET", "/zones/" .. cand)
      if data then
        self.zones[cand] = true
        return cand
      elseif status ~= 404 then
        return nil, err
      end
      self.misses[cand] = true
    end
  end
  return nil, ("NS1: no zone of this account holds %s (tried %s)"):format(record_name,
    table.concat(candidates, ", "))
end

-- The values of the record's answers, in order.
local function values_of(rec)
  local out = {}
  for _, a in ipairs(type(rec.answers) == "table" and rec.answers or {}) do
    local ans = type(a) == "table" and a.answer
    if type(ans) == "table" and type(ans[1]) == "string" then out[#out + 1] = ans[1] end
  end
  return out
end

local function answers(values)
  local out = {}
  for i, v in ipairs(values) do out[i] = { answer = { v } } end
  return out
end

function Client:add_txt(record_name, value, ttl)
  local zone, zerr = self:zone_for(record_name)
  if not zone then return nil, zerr end
  local path = ("/zones/%s/%s/TXT"):format(zone, record_name)
  local rec, err, status = self:call("GET", path)
  if not rec then
    if status ~= 404 then return nil, err end
    local ok, perr = self:call("PUT", path, { zone = zone, domain = record_name, type = "TXT",
      answers = answers({ value }), ttl = ttl or TTL })
    if not ok then return nil, perr end
    return true
  end
  local values = values_of(rec)
  for _, v in ipairs(values) do if v == value then return true end end
  values[#values + 1] = value
  local ok, perr = self:call("POST", path, { answers = answers(values) })
  if not ok then return nil, perr end
  return true
end

function Client:del_txt(record_name, value)
  local zone, zerr = self:zone_for(record_name)
  if not zone then return nil, zerr end
  local path = ("/zones/%s/%s/TXT"):format(zone, record_name)
  local rec, err, status = self:call("GET", path)
  if not rec then
    if status == 404 then return true end
    return nil, err
  end
  local keep, found = {}, false
  for _, v in ipairs(values_of(rec)) do
    if v == value then found = true else keep[#keep + 1] = v end
  end
  if not found then return true end
  local ok, derr, dstatus
  if #keep == 0 then
    ok, derr, dstatus = self:call("DELETE", path)
    if not ok and dstatus == 404 then ok = true end
  else
    ok, derr = self:call("POST", path, { answers = answers(keep) })
  end
  if not ok then return nil, derr end
  return true
end

local P = dns.authenticator{
  id = "nsone",
  ttl = TTL,
  description = "Obtain certificates using a DNS TXT record (if you are using NS1 for DNS).",
  credentials = { "dns_nsone_api_key" },
  new_client = function(config, creds) return Client.new(config, creds) end,
}
P.Client = Client
return P
