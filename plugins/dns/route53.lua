-- dns-route53: dns-01 TXT records through the Amazon Route 53 API
-- (REST/XML, version 2013-04-01), signed with AWS Signature Version 4
-- (HMAC-SHA256 from the core).
--
-- Credentials, as AWS's own tools look for them: AWS_ACCESS_KEY_ID,
-- AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) in the environment, else
-- the profile AWS_PROFILE (default "default") of the shared credentials
-- file AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials).
--
-- The zone is the public hosted zone named by the first candidate (walking
-- up the record name's labels), from ListHostedZones followed through
-- IsTruncated/NextMarker.  Route 53 keeps every value of a name in one
-- record set: a value is added by an UPSERT of the set with the values it
-- already has plus ours, and removed by an UPSERT of the others (a DELETE
-- of the set when ours was the last).  Each change is polled with
-- GetChange until it is INSYNC.  Throttling answers are waited out.
local core = require("certbot.core")
local dns = require("certbot.dns")
local common = require("certbot.plugins.dns.common")

local crypto = core.crypto
local hex = common.hex

local DEFAULT_URL = "https://route53.amazonaws.com"
local API = "/2013-04-01"
local NS = "https://route53.amazonaws.com/doc/2013-04-01/"
local TTL = 10

local M = {}

---------------------------------------------------------------------------
-- AWS Signature Version 4
---------------------------------------------------------------------------

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- sign(creds, method, url, body, now, region, service) -> array of headers
-- (X-Amz-Date, [X-Amz-Security-Token], Authorization) for the request.
-- creds: { access_key_id, secret_access_key, session_token? }.
function M.sign(creds, method, url, body, now, region, service)
  region, service = region or "us-east-1", service or "route53"
  local scheme, host, path, query = url:match("^(%a+)://([^/?#]+)([^?#]*)%??([^#]*)")
  assert(scheme, "sign: not an absolute URL: " .. url)
  if scheme == "https" then host = host:gsub(":443$", "") else host = host:gsub(":80$", "") end
  if path == "" then path = "/" end
  local q = {}
  for part in query:gmatch("[^&]+") do
    local k, v = part:match("^([^=]*)=?(.*)$")
    q[#q + 1] = { common.escape(unescape(k)), common.escape(unescape(v)) }
  end
  table.sort(q, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  for i, kv in ipairs(q) do q[i] = kv[1] .. "=" .. kv[2] end
  local amzdate = os.date("!%Y%m%dT%H%M%SZ", now or os.time())
  local date = amzdate:sub(1, 8)
  local hdrs = { { "host", host }, { "x-amz-date", amzdate } }
  if creds.session_token then hdrs[#hdrs + 1] = { "x-amz-security-token", creds.session_token } end
  local canon, names = {}, {}
  for _, h in ipairs(hdrs) do
    canon[#canon + 1] = h[1] .. ":" .. h[2] .. "\n"
    names[#names + 1] = h[1]
  end
  local signed = table.concat(names, ";")
  local creq = table.concat({ method, path, table.concat(q, "&"), table.concat(canon), signed,
    hex(crypto.sha256(body or "")) }, "\n")
  local scope = table.concat({ date, region, service, "aws4_request" }, "/")
  local sts = table.concat({ "AWS4-HMAC-SHA256", amzdate, scope, hex(crypto.sha256(creq)) }, "\n")
  local k = crypto.hmac("sha256", "AWS4" .. creds.secret_access_key, date)
  k = crypto.hmac("sha256", k, region)
  k = crypto.hmac("sha256", k, service)
  k = crypto.hmac("sha256", k, "aws4_request")
  local out = { "X-Amz-Date: " .. amzdate }
  if creds.session_token then out[#out + 1] = "X-Amz-Security-Token: " .. creds.session_token end
  out[#out + 1] = ("Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
    .. "Signature=%s"):format(creds.access_key_id, scope, signed, hex(crypto.hmac("sha256", k, sts)))
  return out
end

---------------------------------------------------------------------------
-- Credentials
---------------------------------------------------------------------------

local function env(name)
  local v = os.getenv(name)
  if v == "" then return nil end
  return v
end

-- credentials() -> { access_key_id, secret_access_key, session_token?, source } | nil, err
function M.credentials()
  local id, secret = env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")
  if id or secret then
    if not (id and secret) then
      return nil, ("dns-route53: %s is set in the environment but %s is not"):format(
        id and "AWS_ACCESS_KEY_ID" or "AWS_SECRET_ACCESS_KEY",
        id and "AWS_SECRET_ACCESS_KEY" or "AWS_ACCESS_KEY_ID")
    end
    return { access_key_id = id, secret_access_key = secret,
      session_token = env("AWS_SESSION_TOKEN") or env("AWS_SECURITY_TOKEN"), source = "environment" }
  end
  local file = env("AWS_SHARED_CREDENTIALS_FILE")
  if not file then
    local home = env("HOME")
    if not home then
      return nil, "dns-route53: no AWS credentials: AWS_ACCESS_KEY_ID is not set and there is "
        .. "no HOME for ~/.aws/credentials"
    end
    file = home .. "/.aws/credentials"
  end
  local profile = env("AWS_PROFILE") or env("AWS_DEFAULT_PROFILE") or "default"
  local text = core.sys.read_file(file)
  if not text then
    return nil, ("dns-route53: no AWS credentials: set AWS_ACCESS_KEY_ID and "
      .. "AWS_SECRET_ACCESS_KEY, or put them in the [%s] profile of %s"):format(profile, file)
  end
  local section, found, values = nil, false, {}
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("^%s+", ""):gsub("%s+$", "")
    local s = line:match("^%[%s*(.-)%s*%]$")
    if s then
      section = s
      if s == profile then found = true end
    elseif line ~= "" and not line:match("^[#;]") and section == profile then
      local k, v = line:match("^([^=]-)%s*=%s*(.*)$")
      if not k then
        return nil, ("dns-route53: %s line %d: expected key = value"):format(file, n)
      end
      values[k:lower()] = v
    end
  end
  if not found then
    return nil, ("dns-route53: no AWS credentials: %s has no [%s] profile"):format(file, profile)
  end
  for _, k in ipairs({ "aws_access_key_id", "aws_secret_access_key" }) do
    if not values[k] or values[k] == "" then
      return nil, ("dns-route53: the [%s] profile of %s lacks %s"):format(profile, file, k)
    end
  end
  return { access_key_id = values.aws_access_key_id, secret_access_key = values.aws_secret_access_key,
    session_token = values.aws_session_token ~= "" and values.aws_session_token or nil,
    source = file .. " [" .. profile .. "]" }
end

---------------------------------------------------------------------------
-- XML, the little Route 53 answers need
---------------------------------------------------------------------------

local ENTITIES = { amp = "&", lt = "<", gt = ">", quot = '"', apos = "'" }
local function unxml(s)
  return (s:gsub("&(#?)([xX]?)(%w+);", function(num, x, name)
    if num == "#" then
      local c = tonumber(name, x ~= "" and 16 or 10)
      return c and c < 128 and string.char(c) or nil
    end
    return ENTITIES[name]
  end))
end

local function xml(s)
  return (tostring(s):gsub("[&<>]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;" }))
end

local function tag(s, name)
  local v = s:match("<" .. name .. ">(.-)</" .. name .. ">")
  return v and unxml(v) or nil
end

local function each(s, name)
  return s:gmatch("<" .. name .. ">(.-)</" .. name .. ">")
end

local function describe(body)
  local code = tag(body, "Code")
  if code then return code .. ": " .. (tag(body, "Message") or "") end
  local msgs = {}
  for m in each(body, "Message") do msgs[#msgs + 1] = unxml(m) end
  if #msgs > 0 then
    return (body:match("<(InvalidChangeBatch)") or "error") .. ": " .. table.concat(msgs, "; ")
  end
  return "request failed"
end

local HINT = {
  InvalidClientTokenId = "; check the AWS access key id",
  SignatureDoesNotMatch = "; check the AWS secret access key",
  AccessDenied = "; the credentials need route53:ListHostedZones, route53:GetChange and "
    .. "route53:ChangeResourceRecordSets",
}

---------------------------------------------------------------------------
-- The client
---------------------------------------------------------------------------

local Client = {}
Client.__index = Client
M.Client = Client

function Client.new(config, creds, http)
  if not creds then
    local err
    creds, err = M.credentials()
    if not creds then return nil, err end
  end
  return setmetatable({ http = http or dns.http(config), creds = creds,
    base = common.base_url("route53", DEFAULT_URL), poll_interval = 5, poll_timeout = 600 }, Client)
end

local function throttled(res)
  return res.status == 400 and (res.body:find("<Code>Throttling</Code>", 1, true)
    or res.body:find("<Code>PriorRequestNotComplete</Code>", 1, true)) and true or false
end

-- call(method, path, body) -> response body | nil, err, status
function Client:call(method, path, body)
  local url = self.base .. API .. path
  local res, err = common.request(self.http, method, url, {
    headers = M.sign(self.creds, method, url, body), body = body,
    content_type = body and "application/xml" or nil, limited = throttled })
  if not res then return nil, "Route 53 API: " .. tostring(err) end
  if res.status >= 400 then
    local code = tag(res.body, "Code")
    return nil, ("Route 53 API error: %s (HTTP %d)%s"):format(describe(res.body), res.status,
      HINT[code] or ""), res.status
  end
  return res.body
end

-- zones() -> { {id=, name=, private=} } of the account (cached)
function Client:hosted_zones()
  if self.zones then return self.zones end
  local out, marker, n = {}, nil, 0
  repeat
    local body, err = self:call("GET", "/hostedzone?" .. common.query{ { "marker", marker },
      { "maxitems", 100 } })
    if not body then return nil, err end
    for z in each(body, "HostedZone") do
      local id = tag(z, "Id") or ""
      out[#out + 1] = { id = id:gsub("^/hostedzone/", ""), name = (tag(z, "Name") or ""):lower(),
        private = tag(z, "PrivateZone") == "true" }
    end
    marker = tag(body, "IsTruncated") == "true" and tag(body, "NextMarker") or nil
    n = n + 1
  until not marker or n >= 1000
  self.zones = out
  return out
end

function Client:zone_for(record_name)
  local zones, err = self:hosted_zones()
  if not zones then return nil, err end
  local candidates = dns.zone_candidates(record_name)
  for _, cand in ipairs(candidates) do
    for _, z in ipairs(zones) do
      if z.name == cand .. "." and not z.private then return z.id end
    end
  end
  return nil, ("Route 53: no public hosted zone holds %s (tried %s)"):format(record_name,
    table.concat(candidates, ", "))
end

-- rrset(zone, record_name) -> { ttl=, values={...} } | false | nil, err
function Client:rrset(zone, record_name)
  local body, err = self:call("GET", ("/hostedzone/%s/rrset?%s"):format(zone, common.query{
    { "name", record_name .. "." }, { "type", "TXT" }, { "maxitems", 1 } }))
  if not body then return nil, err end
  for s in each(body, "ResourceRecordSet") do
    if (tag(s, "Name") or ""):lower() == record_name .. "." and tag(s, "Type") == "TXT" then
      local values = {}
      for v in each(s, "Value") do values[#values + 1] = unxml(v) end
      return { ttl = math.tointeger(tonumber(tag(s, "TTL"))) or TTL, values = values }
    end
  end
  return false
end

function Client:change(zone, action, record_name, ttl, values)
  local rrs = {}
  for _, v in ipairs(values) do
    rrs[#rrs + 1] = "<ResourceRecord><Value>" .. xml(v) .. "</Value></ResourceRecord>"
  end
  local body = table.concat({
    '<?xml version="1.0" encoding="UTF-8"?>\n',
    '<ChangeResourceRecordSetsRequest xmlns="', NS, '"><ChangeBatch>',
    "<Comment>certbot dns-01 challenge</Comment><Changes><Change><Action>", action,
    "</Action><ResourceRecordSet><Name>", xml(record_name), ".</Name><Type>TXT</Type><TTL>",
    tostring(ttl), "</TTL><ResourceRecords>", table.concat(rrs),
    "</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch>",
    "</ChangeResourceRecordSetsRequest>" })
  local res, err = self:call("POST", "/hostedzone/" .. zone .. "/rrset/", body)
  if not res then return nil, err end
  local id = (tag(res, "Id") or ""):gsub("^/change/", "")
  if id == "" then return nil, "Route 53 API: ChangeResourceRecordSets answered without a change id" end
  return self:wait(id, tag(res, "Status"))
end

-- wait(id, status): GetChange until INSYNC.
function Client:wait(id, status)
  local deadline = core.sys.monotonic() + self.poll_timeout
  local first = true
  while status ~= "INSYNC" do
    if not first then
      if core.sys.monotonic() > deadline then
        return nil, ("Route 53: change %s is still %s after %d s"):format(id, tostring(status),
          math.ceil(self.poll_timeout))
      end
      core.sys.sleep(self.poll_interval)
    end
    first = false
    local body, err = self:call("GET", "/change/" .. common.escape(id))
    if not body then return nil, err end
    status = tag(body, "Status")
  end
  return true
end

local function quoted(value) return '"' .. value .. '"' end

function Client:add_txt(record_name, value, ttl)
  local zone, zerr = self:zone_for(record_name)
  if not zone then return nil, zerr end
  local current, err = self:rrset(zone, record_name)
  if current == nil then return nil, err end
  local values = {}
  for _, v in ipairs(current and current.values or {}) do
    if v == quoted(value) then return true end
    values[#values + 1] = v
  end
  values[#values + 1] = quoted(value)
  return self:change(zone, "UPSERT", record_name, ttl or TTL, values)
end

function Client:del_txt(record_name, value)
  local zone, zerr = self:zone_for(record_name)
  if not zone then return nil, zerr end
  local current, err = self:rrset(zone, record_name)
  if current == nil then return nil, err end
  if not current then return true end
  local keep, found = {}, false
  for _, v in ipairs(current.values) do
    if v == quoted(value) then found = true else keep[#keep + 1] = v end
  end
  if not found then return true end
  if #keep == 0 then
    return self:change(zone, "DELETE", record_name, current.ttl, current.values)
  end
  return self:change(zone, "UPSERT", record_name, current.ttl, keep)
end

local P = dns.authenticator{
  id = "route53",
  ttl = TTL,
  description = "Obtain certificates using a DNS TXT record (if you are using AWS Route53 for DNS).",
  credentials = false, -- AWS's own sources: the environment, ~/.aws/credentials
  new_client = function(config) return Client.new(config) end,
}
P.Client = Client
P.sign = M.sign
P.credentials_from_env = M.credentials
return P
