-- spec/fuzz/fuzz_acme.lua: the driver of fuzz_acme (see fuzz_lua.h).
--
-- One input is one response of the CA, as lua/certbot/acme.lua receives it
-- from core.http: a first line
--     <status> <content-type|-> <Location|-> <Retry-After seconds|-> <Link alternate|->
-- then the body.  A client of acme.lua whose transport answers every
-- request with that response (except, but for the first case, the
-- directory, which stays a good one) goes through every call that reads
-- what the CA sends: the directory, newAccount, newOrder (check_order),
-- an authorization (check_authz), POST-as-GET, finalize and polling,
-- the certificate download (split_pem, Link alternates), revokeCert,
-- keyChange, and the problem documents all of them turn errors into.
-- The body also goes to cjson and check_order/check_authz directly, and
-- to lua/certbot/ari.lua as a renewalInfo document (RFC 9773).
--
-- Must hold: every call returns (a value, or nil and a problem whose
-- tostring is a string); no Lua error (what main.lua would report as an
-- internal error); no crash.  URLs the client keeps are https.  An ARI
-- window that check_document accepts survives format_time/parse_time.
local core = require("certbot.core")
local json = require("cjson.safe")
local acme = require("certbot.acme")
local ari = require("certbot.ari")

local crypto, sys = core.crypto, core.sys

-- The client waits between retries (Retry-After, backoff): here time
-- stands still, so every retry path runs at once.  What it asked to
-- wait for must be a sane number of seconds.
sys.sleep = function(s)
  if type(s) ~= "number" or s ~= s or s < 0 or s > 315360000 then
    error({ broken = "sleep(" .. tostring(s) .. ")" })
  end
end

local DIR_URL = "https://ca.test/dir"
local GOOD_DIR = json.encode({
  newNonce = "https://ca.test/nonce", newAccount = "https://ca.test/acct",
  newOrder = "https://ca.test/order", revokeCert = "https://ca.test/revoke",
  keyChange = "https://ca.test/key-change", meta = { termsOfService = "https://ca.test/tos" },
})
local KEY = assert(crypto.generate_key("ec", "P-256"))
local KEY2 = assert(crypto.generate_key("ec", "P-256"))

-- The fields acme.new sets, from a real client (its transport closed).
local template = assert(acme.new({ directory = DIR_URL, key = KEY }))
local Client = getmetatable(template)
template:close()

local function word(w)
  if w == nil or w == "-" then return nil end
  return w
end

local function parse(input)
  local head, body = input:match("^([^\n]*)\n(.*)$")
  if not head then head, body = "", input end
  local w = {}
  for x in head:gmatch("%S+") do w[#w + 1] = x end
  local status = math.tointeger(tonumber(w[1] or "")) or 200
  local resp = {
    status = status,
    body = body,
    content_type = word(w[2]),
    location = word(w[3]),
    retry_after = math.tointeger(tonumber(word(w[4]) or "")),
    headers = {},
    links = {},
  }
  if word(w[5]) then resp.links[1] = { rel = "alternate", url = w[5] } end
  return resp
end

-- A copy: the code may keep or change what it gets.
local function copy(resp)
  local r = {}
  for k, v in pairs(resp) do r[k] = v end
  r.links = {}
  for i, l in ipairs(resp.links) do r.links[i] = { rel = l.rel, url = l.url } end
  return r
end

local function client(resp, fuzz_directory)
  local function answer(url)
    if url == DIR_URL and not fuzz_directory then
      return { status = 200, body = GOOD_DIR, content_type = "application/json", headers = {}, links = {} }
    end
    return copy(resp)
  end
  local transport = {}
  function transport.request(_, _, url) return answer(url) end
  function transport.post(_, url, make_body)
    local body = make_body("bm9uY2U")
    if type(body) ~= "string" then error("JWS body is not a string") end
    return answer(url)
  end
  function transport.close() end
  local c = setmetatable({}, Client)
  for k, v in pairs(template) do c[k] = v end
  c.http = transport
  c.key, c.kid = KEY, "https://ca.test/acct/1"
  c.stats = {}
  for k, v in pairs(template.stats) do c.stats[k] = v end
  return c
end

-- Check what one call returned.  -> true | false, why
local function outcome(what, ok, a, b)
  if not ok and type(a) == "table" and a.broken then return false, what .. ": " .. a.broken end
  if not ok then return false, what .. " raised: " .. tostring(a) end
  if a == nil then
    if b == nil then return false, what .. " returned nil without a problem" end
    local s = tostring(b)
    if type(s) ~= "string" then return false, what .. ": problem without a message" end
  end
  return true
end

return function(input)
  local resp = parse(input)
  local checks = {}
  local function run(what, f, ...)
    checks[#checks + 1] = { what, pcall(f, ...) }
  end

  run("directory", function()
    local c = client(resp, true)
    local dir, p = c:directory()
    if dir then
      for _, k in ipairs({ "newNonce", "newAccount", "newOrder" }) do
        if not acme.check_url(dir[k], k) then error("directory kept a non-https " .. k) end
      end
      if type(dir.meta) ~= "table" then error("directory without a meta table") end
    end
    return dir, p
  end)
  local c = client(resp, false)
  run("new_account", function() return c:new_account({ contact = { "mailto:a@example.org" }, tos = true }) end)
  run("new_order", function()
    local order, p = c:new_order({ { type = "dns", value = "a.example.org" } })
    if order and not acme.check_url(order.url, "order URL") then error("order kept a non-https URL") end
    return order, p
  end)
  run("authorization", function() return c:authorization("https://ca.test/authz/1") end)
  run("get", function() return c:get("https://ca.test/order/1") end)
  run("finalize", function()
    return c:finalize({ url = "https://ca.test/order/1", finalize = "https://ca.test/order/1/finalize" },
      "csr", sys.monotonic() - 1)
  end)
  run("download", function()
    local pem, alt = c:download("https://ca.test/cert/1")
    if pem then
      for _, u in ipairs(alt) do
        if not acme.check_url(u, "alternate") then error("download kept a non-https alternate") end
      end
    end
    return pem, alt
  end)
  run("revoke", function() return c:revoke("der", 0) end)
  run("find_account", function() return client(resp, false):find_account(KEY2) end)
  run("key_change", function() return client(resp, false):key_change(KEY2) end)
  local doc = json.decode(resp.body)
  if type(doc) == "table" then
    run("check_order", function() return acme.check_order(doc, "https://ca.test/order/1") end)
    run("check_authz", function() return acme.check_authz(doc, "https://ca.test/authz/1") end)
    run("ari.check_document", function()
      local s, e = ari.check_document(doc)
      if not s then return nil, e end
      for _, t in ipairs({ s, e }) do
        if math.type(t) ~= "integer" then error("ARI: a time that is not an integer") end
        if t >= 0 and t < 253402300800 and ari.parse_time(ari.format_time(t)) ~= t then
          error("ARI: " .. t .. " does not survive format_time/parse_time")
        end
      end
      return s, e
    end)
  end

  for _, r in ipairs(checks) do
    local ok, why = outcome(r[1], r[2], r[3], r[4])
    if not ok then return false, why end
  end
  return true
end
