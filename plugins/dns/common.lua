-- certbot.plugins.dns.common: what the cloud DNS provider plugins share
-- besides the engine (certbot.dns): the test-only base URL override, query
-- strings, JSON requests that wait out a provider's rate-limit answer, and
-- hex.  Not a plugin itself (plugins.lua does not list it).
local cjson = require("cjson.safe")
local core = require("certbot.core")
local log = require("certbot.log")

local M = {}

M.MAX_RETRIES = 4 -- rate-limited answers waited out per request
M.MAX_WAIT = 60   -- seconds, longest single wait
M.sleep = core.sys.sleep -- specs may count the waits

-- base_url(id, default) -> the provider's API root.  TEST ONLY: the
-- environment variable CERTBOT_TEST_DNS_<ID>_URL replaces it, so the specs
-- can point a plugin at a local stand-in of the provider; it is not an
-- option and is not documented for users.
function M.base_url(id, default)
  local v = os.getenv("CERTBOT_TEST_DNS_" .. id:upper() .. "_URL")
  if v and v ~= "" then return (v:gsub("/+$", "")) end
  return default
end

-- escape(s): percent-encoding of everything but RFC 3986's unreserved
-- characters (what AWS Signature Version 4 requires, and safe everywhere).
function M.escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- query{ {"name", v}, {"page", 2} } -> "name=...&page=2" (nil values skipped)
function M.query(pairs_)
  local out = {}
  for _, kv in ipairs(pairs_) do
    if kv[2] ~= nil then out[#out + 1] = M.escape(kv[1]) .. "=" .. M.escape(kv[2]) end
  end
  return table.concat(out, "&")
end

-- basic(user, password) -> "Authorization: Basic ..." (RFC 7617)
function M.basic(user, password)
  local b = core.crypto.b64url_encode(user .. ":" .. password):gsub("[-_]", { ["-"] = "+", ["_"] = "/" })
  return "Authorization: Basic " .. b .. string.rep("=", (4 - #b % 4) % 4)
end

function M.hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- The seconds to wait before trying a rate-limited request again:
-- Retry-After, else the reset time some providers send instead
-- (RateLimit-Reset, X-RateLimit-Reset: epoch seconds), else 1, 2, 4, ...
local function delay(res, attempt)
  local s = res.retry_after
  if not s then
    local h = res.headers or {}
    local reset = tonumber(h["ratelimit-reset"] or h["x-ratelimit-reset"] or "")
    if reset then
      reset = reset - os.time()
      if reset >= 0 then s = reset + 1 end
    end
  end
  s = s or 2 ^ attempt
  return math.max(1, math.min(M.MAX_WAIT, math.floor(s)))
end

-- request(http, method, url, opts) -> res, data | nil, err
-- opts.headers: array of "Name: value"; opts.json: a table sent as JSON;
-- opts.body + opts.content_type: a raw body; opts.limited(res) -> true
-- when an answer other than 429 means "slow down" (Route 53's
-- Throttling).  A 429 (or limited) answer is waited out and tried again
-- up to MAX_RETRIES times.  data is the decoded JSON body, when there is one.
function M.request(http, method, url, opts)
  opts = opts or {}
  local body, ctype = opts.body, opts.content_type
  if opts.json ~= nil then
    local err
    body, err = cjson.encode(opts.json)
    if not body then return nil, "cannot encode the request to " .. url .. ": " .. tostring(err) end
    ctype = "application/json"
  end
  local headers = { "Accept: application/json" }
  for _, h in ipairs(opts.headers or {}) do headers[#headers + 1] = h end
  for attempt = 0, M.MAX_RETRIES do
    local res, err = http:request(method, url, { headers = headers, body = body,
      content_type = ctype })
    if not res then return nil, err end
    local limited = res.status == 429 or (opts.limited and opts.limited(res))
    if not limited or attempt == M.MAX_RETRIES then
      local data
      if res.body ~= "" and (res.content_type or ""):find("json", 1, true) then
        data = cjson.decode(res.body)
      end
      return res, data
    end
    local d = delay(res, attempt)
    log.info("%s %s: rate limited (HTTP %d); trying again in %d s", method,
      (url:gsub("%?.*$", "")), res.status, d)
    M.sleep(d)
  end
end

-- The zone-relative name of record_name in zone ("" at the apex).
function M.relative(record_name, zone)
  if record_name == zone then return "" end
  return record_name:sub(1, #record_name - #zone - 1)
end

return M
