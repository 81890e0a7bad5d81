-- dns-dnsimple: dns-01 TXT records through the DNSimple API v2.
--
-- Credentials INI: dns_dnsimple_token (an account API token), sent as
-- "Authorization: Bearer".  GET /v2/whoami names the account; the zone is
-- the first candidate (walking up the record name's labels) for which GET
-- /v2/{account}/zones/{zone} answers.  Records are created with POST
-- /v2/{account}/zones/{zone}/records (name relative to the zone, "" at the
-- apex) and deleted by id; listings are paged (pagination.total_pages).
-- Errors are {message[, errors{field: [...]}]}.
local dns = require("certbot.dns")
local common = require("certbot.plugins.dns.common")

local DEFAULT_URL = "https://api.dnsimple.com/v2"
local TTL = 60 -- DNSimple's smallest TTL
local PER_PAGE = 100

local Client = {}
Client.__index = Client

function Client.new(config, creds, http)
  return setmetatable({ http = http or dns.http(config),
    base = common.base_url("dnsimple", DEFAULT_URL),
    headers = { "Authorization: Bearer " .. creds.dns_dnsimple_token },
    zones = {}, misses = {}, ids = {} }, Client)
end

local function describe(data)
  if type(data) ~= "table" then return "request failed" end
  local msg = tostring(data.message or "request failed")
  if type(data.errors) == "table" then
    local fields = {}
    for field, list in pairs(data.errors) do
      if type(list) == "table" then
        local texts = {}
        for _, t in ipairs(list) do texts[#texts + 1] = tostring(t) end
        fields[#fields + 1] = tostring(field) .. " " .. table.concat(texts, ", ")
      end
    end
    table.sort(fields)
    if #fields > 0 then msg = msg .. ": " .. table.concat(fields, "; ") end
  end
  return msg
end

-- call(method, path, body) -> data | nil, err, status
function Client:call(method, path, body)
  local res, data = common.request(self.http, method, self.base .. path,
    { headers = self.headers, json = body })
  if not res then return nil, "DNSimple API: " .. tostring(data) end
  if res.status >= 400 then
    return nil, ("DNSimple API error: %s (HTTP %d)%s"):format(describe(data), res.status,
      res.status == 401 and "; check dns_dnsimple_token" or ""), res.status
  end
  if res.status ~= 204 and type(data) ~= "table" then
    return nil, ("DNSimple API: %s %s answered HTTP %d without a JSON body"):format(method,
      (path:gsub("%?.*$", "")), res.status)
  end
  return data or {}
end

function Client:account_id()
  if self.account then return self.account end
  local data, err = self:call("GET", "/whoami")
  if not data then return nil, err end
  local d = type(data.data) == "table" and data.data or {}
  local acct = type(d.account) == "table" and d.account or nil
  local id = acct and math.tointeger(acct.id)
  if not id then
    return nil, "DNSimple: the token in dns_dnsimple_token is not an account token "
      .. "(/whoami names no account); create an account API token"
  end
  self.account = tostring(id)
  return self.account
end

function Client:zone_for(record_name)
  local acct, aerr = self:account_id()
  if not acct then return nil, aerr end
  local candidates = dns.zone_candidates(record_name)
  for _, cand in ipairs(candidates) do
    if self.zones[cand] then return cand, acct end
    if not self.misses[cand] then
      local data, err, status = self:call("GET", "/" .. acct .. "/zones/" .. common.escape(cand))
      if data then
        self.zones[cand] = true
        return cand, acct
      elseif status ~= 404 then
        return nil, err
      end
      self.misses[cand] = true
    end
  end
  return nil, ("DNSimple: no zone of account %s holds %s (tried %s)"):format(acct, record_name,
    table.concat(candidates, ", "))
end

local function key(name, value) return name .. "\0" .. value end

function Client:add_txt(record_name, value, ttl)
  local zone, acct = self:zone_for(record_name)
  if not zone then return nil, acct end
  local data, err = self:call("POST", ("/%s/zones/%s/records"):format(acct, zone),
    { name = common.relative(record_name, zone), type = "TXT", content = value,
      ttl = math.max(TTL, ttl or TTL) })
  if not data then return nil, err end
  local rec = type(data.data) == "table" and data.data or {}
  if rec.id then self.ids[key(record_name, value)] = { zone = zone, id = rec.id } end
  return true
end

function Client:del_txt(record_name, value)
  local zone, acct = self:zone_for(record_name)
  if not zone then return nil, acct end
  local targets = {}
  local known = self.ids[key(record_name, value)]
  if known then
    targets[1] = known.id
  else
    local page = 1
    repeat
      local data, err = self:call("GET", ("/%s/zones/%s/records?%s"):format(acct, zone,
        common.query{ { "name", common.relative(record_name, zone) }, { "type", "TXT" },
          { "page", page }, { "per_page", PER_PAGE } }))
      if not data then return nil, err end
      for _, r in ipairs(type(data.data) == "table" and data.data or {}) do
        if type(r) == "table" and r.content == value and r.id then targets[#targets + 1] = r.id end
      end
      local pg = type(data.pagination) == "table" and data.pagination or {}
      local pages = math.tointeger(pg.total_pages) or 1
      page = page + 1
    until page > pages or page > 1000
  end
  for _, id in ipairs(targets) do
    local ok, err, status = self:call("DELETE", ("/%s/zones/%s/records/%s"):format(acct, zone,
      tostring(math.tointeger(id) or id)))
    if not ok and status ~= 404 then return nil, err end
  end
  self.ids[key(record_name, value)] = nil
  return true
end

local P = dns.authenticator{
  id = "dnsimple",
  ttl = TTL,
  description = "Obtain certificates using a DNS TXT record (if you are using DNSimple for DNS).",
  credentials = { "dns_dnsimple_token" },
  new_client = function(config, creds) return Client.new(config, creds) end,
}
P.Client = Client
return P
