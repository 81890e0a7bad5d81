-- dns-digitalocean: dns-01 TXT records through the DigitalOcean API v2.
--
-- Credentials INI: dns_digitalocean_token (a personal access token with
-- write scope), sent as "Authorization: Bearer".  The account's domains
-- come from GET /v2/domains, followed page by page through
-- links.pages.next; the zone is the longest of them the record name ends
-- in.  Records are created with POST /v2/domains/{domain}/records (name
-- relative to the domain) and deleted by id.  Errors are {id, message}.
local dns = require("certbot.dns")
local common = require("certbot.plugins.dns.common")

local DEFAULT_URL = "https://api.digitalocean.com/v2"
local TTL = 30 -- DigitalOcean's smallest TTL
local PER_PAGE = 200

local Client = {}
Client.__index = Client

function Client.new(config, creds, http)
  return setmetatable({ http = http or dns.http(config),
    base = common.base_url("digitalocean", DEFAULT_URL),
    headers = { "Authorization: Bearer " .. creds.dns_digitalocean_token },
    ids = {} }, Client)
end

local function hint(status)
  if status == 401 then return "; check dns_digitalocean_token" end
  if status == 403 then return "; the token needs write scope" end
  return ""
end

-- call(method, url, body) -> data (may be nil for 204) | nil, err, status
function Client:call(method, url, body)
  local res, data = common.request(self.http, method, url, { headers = self.headers, json = body })
  if not res then return nil, "DigitalOcean API: " .. tostring(data) end
  if res.status >= 400 then
    local msg = type(data) == "table" and data.message or nil
    local id = type(data) == "table" and data.id or nil
    return nil, ("DigitalOcean API error: %s%s (HTTP %d)%s"):format(
      tostring(msg or "request failed"), id and (" [" .. tostring(id) .. "]") or "",
      res.status, hint(res.status)), res.status
  end
  if res.status ~= 204 and type(data) ~= "table" then
    return nil, ("DigitalOcean API: %s %s answered HTTP %d without a JSON body"):format(method,
      (url:gsub("%?.*$", "")), res.status)
  end
  return data or {}
end

-- list(url, field) -> every item of a paged list | nil, err.  The next
-- page is links.pages.next; only a URL under our API root is followed
-- (the token goes with it).
function Client:list(url, field)
  local out, n = {}, 0
  while url do
    local data, err = self:call("GET", url)
    if not data then return nil, err end
    for _, item in ipairs(type(data[field]) == "table" and data[field] or {}) do out[#out + 1] = item end
    local links = type(data.links) == "table" and data.links or {}
    local pages = type(links.pages) == "table" and links.pages or {}
    url = type(pages.next) == "string" and pages.next or nil
    if url and url:sub(1, #self.base + 1) ~= self.base .. "/" then
      return nil, "DigitalOcean API: the next page is outside the API: " .. url
    end
    n = n + 1
    if n > 1000 then return nil, "DigitalOcean API: more than 1000 pages in " .. field end
  end
  return out
end

function Client:zone_for(record_name)
  if not self.domains then
    local list, err = self:list(self.base .. "/domains?" .. common.query{ { "per_page", PER_PAGE } },
      "domains")
    if not list then return nil, err end
    local set = {}
    for _, d in ipairs(list) do
      if type(d) == "table" and type(d.name) == "string" then set[d.name:lower()] = true end
    end
    self.domains = set
  end
  local candidates = dns.zone_candidates(record_name)
  for _, cand in ipairs(candidates) do
    if self.domains[cand] then return cand end
  end
  return nil, ("DigitalOcean: no domain of this account holds %s (tried %s)"):format(record_name,
    table.concat(candidates, ", "))
end

local function key(name, value) return name .. "\0" .. value end

function Client:add_txt(record_name, value, ttl)
  local zone, zerr = self:zone_for(record_name)
  if not zone then return nil, zerr end
  local rel = common.relative(record_name, zone)
  local data, err = self:call("POST", self.base .. "/domains/" .. zone .. "/records",
    { type = "TXT", name = rel == "" and "@" or rel, data = value,
      ttl = math.max(TTL, ttl or TTL) })
  if not data then return nil, err end
  local rec = type(data.domain_record) == "table" and data.domain_record or {}
  if rec.id then self.ids[key(record_name, value)] = { zone = zone, id = rec.id } end
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
    local recs, err = self:list(self.base .. "/domains/" .. zone .. "/records?" .. common.query{
      { "type", "TXT" }, { "name", record_name }, { "per_page", PER_PAGE } }, "domain_records")
    if not recs then return nil, err end
    for _, r in ipairs(recs) do
      if type(r) == "table" and r.type == "TXT" and r.data == value and r.id then
        targets[#targets + 1] = { zone = zone, id = r.id }
      end
    end
  end
  for _, t in ipairs(targets) do
    local ok, err, status = self:call("DELETE", ("%s/domains/%s/records/%s"):format(self.base,
      t.zone, tostring(math.tointeger(t.id) or t.id)))
    if not ok and status ~= 404 then return nil, err end
  end
  self.ids[key(record_name, value)] = nil
  return true
end

local P = dns.authenticator{
  id = "digitalocean",
  ttl = TTL,
  description = "Obtain certificates using a DNS TXT record (if you are using DigitalOcean for DNS).",
  credentials = { "dns_digitalocean_token" },
  new_client = function(config, creds) return Client.new(config, creds) end,
}
P.Client = Client
return P
