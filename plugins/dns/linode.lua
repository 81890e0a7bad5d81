-- dns-linode: dns-01 TXT records through the Linode API v4.
--
-- Credentials INI: dns_linode_key (a personal access token with
-- Domains read/write), sent as "Authorization: Bearer";
-- dns_linode_version, when given, must be 4 (API v3 is gone).  The
-- account's domains come from GET /v4/domains, paged (page, pages); the
-- zone is the longest of them the record name ends in.  Records are
-- created with POST /v4/domains/{id}/records (name relative to the
-- domain, target the value, ttl_sec) and deleted by id.  Errors are
-- {errors: [{reason, field}]}.
local dns = require("certbot.dns")
local common = require("certbot.plugins.dns.common")

local DEFAULT_URL = "https://api.linode.com/v4"
local TTL = 300 -- Linode's smallest TTL
local PAGE_SIZE = 500

local Client = {}
Client.__index = Client

local function credentials(creds, path)
  if not creds.dns_linode_key or creds.dns_linode_key == "" then
    return nil, ('Missing property "dns_linode_key" in credentials configuration file %s'):format(path)
  end
  local v = creds.dns_linode_version
  if v and v ~= "" and v ~= "4" then
    return nil, ("%s: dns_linode_version is %s; only Linode's API version 4 exists now"):format(path, v)
  end
  return true
end

function Client.new(config, creds, http)
  return setmetatable({ http = http or dns.http(config),
    base = common.base_url("linode", DEFAULT_URL),
    headers = { "Authorization: Bearer " .. creds.dns_linode_key }, ids = {} }, Client)
end

local function describe(data)
  local parts = {}
  for _, e in ipairs(type(data) == "table" and type(data.errors) == "table" and data.errors or {}) do
    if type(e) == "table" and e.reason then
      parts[#parts + 1] = tostring(e.reason) .. (e.field and (" (" .. tostring(e.field) .. ")") or "")
    end
  end
  return #parts > 0 and table.concat(parts, "; ") or "request failed"
end

-- call(method, path, body) -> data | nil, err, status
function Client:call(method, path, body)
  local res, data = common.request(self.http, method, self.base .. path,
    { headers = self.headers, json = body })
  if not res then return nil, "Linode API: " .. tostring(data) end
  if res.status >= 400 then
    return nil, ("Linode API error: %s (HTTP %d)%s"):format(describe(data), res.status,
      res.status == 401 and "; check dns_linode_key" or ""), res.status
  end
  if type(data) ~= "table" then
    return nil, ("Linode API: %s %s answered HTTP %d without a JSON body"):format(method,
      (path:gsub("%?.*$", "")), res.status)
  end
  return data
end

-- list(path) -> every item of a paged list | nil, err
function Client:list(path)
  local out, page = {}, 1
  repeat
    local data, err = self:call("GET", path .. (path:find("?", 1, true) and "&" or "?")
      .. common.query{ { "page", page }, { "page_size", PAGE_SIZE } })
    if not data then return nil, err end
    for _, item in ipairs(type(data.data) == "table" and data.data or {}) do out[#out + 1] = item end
    local pages = math.tointeger(data.pages) or 1
    page = page + 1
  until page > pages or page > 1000
  return out
end

function Client:zone_for(record_name)
  if not self.domains then
    local list, err = self:list("/domains")
    if not list then return nil, err end
    self.domains = {}
    for _, d in ipairs(list) do
      if type(d) == "table" and type(d.domain) == "string" and d.id then
        self.domains[d.domain:lower()] = math.tointeger(d.id) or d.id
      end
    end
  end
  local candidates = dns.zone_candidates(record_name)
  for _, cand in ipairs(candidates) do
    if self.domains[cand] then return self.domains[cand], cand end
  end
  return nil, ("Linode: no domain of this account holds %s (tried %s)"):format(record_name,
    table.concat(candidates, ", "))
end

local function key(name, value) return name .. "\0" .. value end

function Client:add_txt(record_name, value, ttl)
  local id, zone = self:zone_for(record_name)
  if not id then return nil, zone end
  local data, err = self:call("POST", ("/domains/%s/records"):format(tostring(id)),
    { type = "TXT", name = common.relative(record_name, zone), target = value,
      ttl_sec = math.max(TTL, ttl or TTL) })
  if not data then return nil, err end
  if data.id then self.ids[key(record_name, value)] = { domain = id, id = data.id } end
  return true
end

function Client:del_txt(record_name, value)
  local targets = {}
  local known = self.ids[key(record_name, value)]
  if known then
    targets[1] = known
  else
    local id, zone = self:zone_for(record_name)
    if not id then return nil, zone end
    local recs, err = self:list(("/domains/%s/records"):format(tostring(id)))
    if not recs then return nil, err end
    local rel = common.relative(record_name, zone)
    for _, r in ipairs(recs) do
      if type(r) == "table" and r.type == "TXT" and r.name == rel and r.target == value and r.id then
        targets[#targets + 1] = { domain = id, id = r.id }
      end
    end
  end
  for _, t in ipairs(targets) do
    local ok, err, status = self:call("DELETE", ("/domains/%s/records/%s"):format(tostring(t.domain),
      tostring(math.tointeger(t.id) or t.id)))
    if not ok and status ~= 404 then return nil, err end
  end
  self.ids[key(record_name, value)] = nil
  return true
end

local P = dns.authenticator{
  id = "linode",
  description = "Obtain certificates using a DNS TXT record (if you are using Linode for DNS).",
  credentials = credentials,
  ttl = TTL,
  new_client = function(config, creds) return Client.new(config, creds) end,
}
P.Client = Client
return P
