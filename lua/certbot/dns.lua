-- dns: the dns-01 engine every dns-* plugin shares.
--
--   local dns = require("certbot.dns")
--   return dns.authenticator{
--     id = "cloudflare",              -- plugin "dns-cloudflare", options dns_cloudflare_*
--     description = "...",
--     credentials = { "dns_cloudflare_api_token" }  -- keys the INI file must hold,
--                 | function(creds, path) -> true | nil, "one-line error"
--                 | false,                          -- no credentials file at all
--     new_client = function(config, creds) -> client | nil, err,
--     label = "Cloudflare",           -- optional: names the provider in prompts
--     ttl = 120,                      -- optional: TTL of the records (default 120)
--   }
--
-- client:add_txt(record_name, value, ttl) -> true | nil, err
-- client:del_txt(record_name, value)      -> true | nil, err
--
-- The plugin's instance reads and checks the credentials in prepare()
-- (before any order is placed), creates one TXT record per challenge at
-- _acme-challenge.<name> (a wildcard and its base name share one name with
-- two values), waits --dns-<id>-propagation-seconds (a countdown on a
-- terminal), and in cleanup() deletes exactly the records it created, also
-- after a failed validation or an interrupted run (main.c turns SIGINT and
-- SIGTERM into a Lua error, and obtain.authorize runs cleanup() on every
-- way out).  Secrets from the credentials file are never logged.

local core = require("certbot.core")
local cjson = require("cjson.safe")
local display = require("certbot.display")
local errors = require("certbot.errors")
local log = require("certbot.log")
local confobj = require("certbot.confobj")

local sys = core.sys

local M = {}

M.DEFAULT_TTL = 120
M.MAX_CREDENTIALS_SIZE = 64 * 1024

local UNSAFE_BITS = 63 -- 0077: any group or other permission

---------------------------------------------------------------------------
-- Names
---------------------------------------------------------------------------

-- zone_candidates("_acme-challenge.a.b.example.com") ->
--   { "_acme-challenge.a.b.example.com", "a.b.example.com", "b.example.com", "example.com" }
-- The name itself, then each parent down to two labels (a one-label name
-- gives just itself).  A trailing dot is dropped.
function M.zone_candidates(name)
  name = tostring(name):gsub("%.$", "")
  local labels = {}
  for l in name:gmatch("[^.]+") do labels[#labels + 1] = l end
  if #labels <= 1 then return { name } end
  local out = {}
  for i = 1, #labels - 1 do out[#out + 1] = table.concat(labels, ".", i) end
  return out
end

-- The TXT record name for a challenge: _acme-challenge.<name without "*.">.
function M.record_name(domain)
  return "_acme-challenge." .. tostring(domain):gsub("^%*%.", "")
end

---------------------------------------------------------------------------
-- Credentials INI files (Certbot's: configobj "key = value" lines)
---------------------------------------------------------------------------

-- Credentials print as their file, never as their values.
local Creds = {
  __name = "certbot.dns.credentials",
  __tostring = function() return "<credentials>" end,
}

-- parse_credentials(text, path) -> { key = value, ... } | nil, "path:line: message"
-- Top-level keys only, as Certbot reads them; a comma-separated (list)
-- value is refused, since Certbot would get a list where it wants a string.
function M.parse_credentials(text, path)
  local conf, err = confobj.parse(text, path)
  if not conf then return nil, err end
  local creds = {}
  for _, k in ipairs(conf.order) do
    local v = conf.keys[k]
    if type(v) ~= "string" then
      return nil, ("%s: the value of %s is a comma-separated list; put it in quotes"):format(path, k)
    end
    creds[k] = v
  end
  return setmetatable(creds, Creds)
end

-- read_credentials(path, required) -> creds | nil, err
-- required: array of keys, a function(creds, path) -> true | nil, err, or nil.
-- Warns (display and log) when the file is open to the group or others.
function M.read_credentials(path, required)
  if type(path) ~= "string" or path == "" then
    return nil, "no credentials file given"
  end
  local st, serr, errno = sys.stat(path)
  if not st then
    if errno == 2 then return nil, "File not found: " .. path end
    return nil, ("Cannot read credentials file %s: %s"):format(path, (tostring(serr):gsub("^.*: ", "")))
  end
  if st.type == "directory" then return nil, "Path is a directory: " .. path end
  if st.type ~= "file" then return nil, ("Credentials file %s is not a regular file"):format(path) end
  if st.mode & UNSAFE_BITS ~= 0 then
    local msg = "Unsafe permissions on credentials configuration file: " .. path
    log.warning("%s", msg)
    display.warn(msg)
  end
  local text, rerr = sys.read_file(path, M.MAX_CREDENTIALS_SIZE)
  if not text then
    return nil, ("Cannot read credentials file %s: %s"):format(path, (tostring(rerr):gsub("^.*: ", "")))
  end
  local creds, perr = M.parse_credentials(text, path)
  if not creds then return nil, "Error parsing credentials configuration file " .. perr end
  if type(required) == "table" then
    local missing = {}
    for _, k in ipairs(required) do
      if creds[k] == nil or creds[k] == "" then missing[#missing + 1] = '"' .. k .. '"' end
    end
    if #missing > 0 then
      return nil, ("Missing %s %s in credentials configuration file %s"):format(
        #missing == 1 and "property" or "properties", table.concat(missing, ", "), path)
    end
  elseif type(required) == "function" then
    local ok, err = required(creds, path)
    if not ok then return nil, tostring(err or ("invalid credentials in " .. path)) end
  end
  local keys = {}
  for k in pairs(creds) do keys[#keys + 1] = k end
  table.sort(keys)
  log.debug("read credentials file %s (keys: %s)", path, table.concat(keys, ", "))
  return creds
end

---------------------------------------------------------------------------
-- HTTP APIs
---------------------------------------------------------------------------

-- Test-only: CERTBOT_TEST_DNS_<ID>_URL points a provider at a local
-- stand-in.  When one such variable names an http:// URL, dns.http()
-- allows plain HTTP; nothing else ever does.
local function test_allows_http()
  for _, kv in ipairs(sys.environ()) do
    if kv:match("^CERTBOT_TEST_DNS_[%w_]+_URL=[Hh][Tt][Tt][Pp]://") then return true end
  end
  return false
end

-- http(config) -> a core.http client for a provider's API: https only,
-- verified against the system roots or REQUESTS_CA_BUNDLE (CURL_CA_BUNDLE),
-- as Certbot's provider libraries are.  --no-verify-ssl is for the ACME
-- server only and does not apply here.
function M.http(config)
  local ca = os.getenv("REQUESTS_CA_BUNDLE")
  if not ca or ca == "" then ca = os.getenv("CURL_CA_BUNDLE") end
  if ca == "" then ca = nil end
  local ua
  local ok, obtain = pcall(require, "certbot.obtain")
  if ok and config then ua = obtain.user_agent(config) end
  return core.http.new({ ca_file = ca, verify = true, https_only = not test_allows_http(),
    user_agent = ua, connect_timeout = 30, timeout = 60 })
end

-- Headers as core.http wants them: an array of "Name: value" lines.  A map
-- { Name = value } is accepted too (sorted, for a stable order).
local function header_lines(h)
  local out = {}
  if not h then return out end
  for _, line in ipairs(h) do out[#out + 1] = line end
  local names = {}
  for k in pairs(h) do if type(k) == "string" then names[#names + 1] = k end end
  table.sort(names)
  for _, k in ipairs(names) do out[#out + 1] = k .. ": " .. tostring(h[k]) end
  return out
end

local function has_header(lines, name)
  name = name:lower()
  for _, l in ipairs(lines) do
    if l:match("^([^:]*)"):lower() == name then return true end
  end
  return false
end

-- json_request(client, method, url, {headers=, body=table|string|nil,
--   content_type=}) -> status, decoded_json|nil, raw_body, headers | nil, err
-- Every HTTP answer comes back with its status (the provider reads its own
-- error message from the JSON); nil, err only when no answer came.  A table
-- body is sent as JSON; the answer is decoded with cjson.safe (nil when it
-- is empty or not JSON).
function M.json_request(client, method, url, opts)
  opts = opts or {}
  local headers = header_lines(opts.headers)
  if not has_header(headers, "accept") then headers[#headers + 1] = "Accept: application/json" end
  local body, ctype = opts.body, opts.content_type
  if type(body) == "table" then
    local enc, eerr = cjson.encode(body)
    if not enc then return nil, ("%s %s: cannot encode the request: %s"):format(method, url, eerr) end
    body = enc
    ctype = ctype or "application/json"
  end
  if ctype and has_header(headers, "content-type") then ctype = nil end
  local res, err = client:request(method, url, { headers = headers, body = body, content_type = ctype })
  if not res then return nil, ("%s %s: %s"):format(method, url, tostring(err)) end
  local decoded = nil
  if res.body ~= "" then decoded = cjson.decode(res.body) end
  return res.status, decoded, res.body, res.headers
end

---------------------------------------------------------------------------
-- The authenticator
---------------------------------------------------------------------------

local function is_interrupt(e)
  return type(e) == "table" and e.interrupted == true
end

local function option(config, key)
  if type(config.number) == "function" then return config:number(key, 0) end
  local v = config[key]
  local n = tonumber(v)
  if v ~= nil and not n then
    errors.raise(("%s: expected a number, got '%s'"):format(key, tostring(v)), 1)
  end
  return n
end

-- Wait `seconds`, counting down on a terminal.  Sleeps a second at a time,
-- so an interrupt is acted on at once.
function M.wait(seconds, opts)
  opts = opts or {}
  seconds = math.floor(tonumber(seconds) or 0)
  if seconds <= 0 then return end
  local msg = ("Waiting %d seconds for DNS changes to propagate"):format(seconds)
  log.info("%s", msg)
  local out = opts.out or display.out
  local tty = not display.quiet and (opts.tty == nil and sys.isatty(1) or opts.tty)
  if not tty then display.notify(msg) end
  local sleep, now = opts.sleep or sys.sleep, opts.clock or sys.monotonic
  local deadline = now() + seconds
  local shown
  while true do
    local left = deadline - now()
    if left <= 0 then break end
    local whole = math.ceil(left)
    if tty and whole ~= shown then
      out:write(("\r%s: %d s left "):format(msg, whole))
      out:flush()
      shown = whole
    end
    sleep(math.min(1, left - (whole - 1)))
  end
  if tty then
    out:write(("\r%s: done.%s\n"):format(msg, string.rep(" ", 8)))
    out:flush()
  end
end

local Inst = {}
Inst.__index = Inst

function Inst.challenge_preferences()
  return { "dns-01" }
end

function Inst:credentials_path()
  local spec, config = self.spec, self.config
  local key = self.prefix .. "_credentials"
  local path = config[key]
  if type(path) ~= "string" or path == "" then
    local label = spec.label or spec.id
    local answer = display.input(("Input the path to your %s credentials INI file"):format(label),
      { cli_flag = "--" .. self.plugin_name .. "-credentials" })
    if not answer or answer == "" then
      errors.raise("No credentials file given for " .. self.plugin_name, 1)
    end
    path = answer
    if path:sub(1, 2) == "~/" and os.getenv("HOME") then path = os.getenv("HOME") .. path:sub(2) end
    if path:sub(1, 1) ~= "/" then
      local cwd = os.getenv("PWD")
      if cwd and cwd ~= "" then path = cwd .. "/" .. path end
    end
    -- given at the prompt: stored for renewal like the flag
    if type(config.set) == "function" then
      config:set(key, path, "cli", "--" .. self.plugin_name .. "-credentials")
    else
      config[key] = path
    end
  end
  if path:sub(1, 2) == "~/" and os.getenv("HOME") then path = os.getenv("HOME") .. path:sub(2) end
  return path
end

function Inst:prepare()
  local spec = self.spec
  if spec.credentials ~= false then
    local path = self:credentials_path()
    local creds, err = M.read_credentials(path, spec.credentials)
    if not creds then return nil, err end
    self.creds = creds
  end
  local client, err = spec.new_client(self.config, self.creds)
  if not client then return nil, tostring(err or (self.plugin_name .. ": no client")) end
  self.client = client
  self.propagation = option(self.config, self.prefix .. "_propagation_seconds")
  return true
end

function Inst:perform(challenges)
  if not self.client then
    local ok, err = self:prepare()
    if not ok then return nil, err end
  end
  local ttl = self.spec.ttl or M.DEFAULT_TTL
  for _, ch in ipairs(challenges) do
    if ch.type ~= "dns-01" then
      return nil, ("%s answers dns-01 challenges only, not %s"):format(self.plugin_name, tostring(ch.type))
    end
    local name = M.record_name(ch.domain)
    local key = name .. "\0" .. ch.validation
    if not self.seen[key] then
      self.seen[key] = true
      -- noted before the call: a run interrupted while the provider is
      -- answering still removes the record
      local rec = { name = name, value = ch.validation, pending = true }
      self.records[#self.records + 1] = rec
      log.debug("%s: adding TXT record %s", self.plugin_name, name)
      local ok, err = self.client:add_txt(name, ch.validation, ttl)
      if not ok then
        -- the provider says it did not create it: nothing to delete
        table.remove(self.records)
        self.seen[key] = nil
        return nil, tostring(err or ("could not add the TXT record " .. name)):match("^[^\n]*")
      end
      rec.pending = false
      log.info("%s: added TXT record %s", self.plugin_name, name)
    end
  end
  M.wait(self.propagation or 0)
  return true
end

function Inst:cleanup()
  local records = self.records
  self.records, self.seen = {}, {}
  if not self.client then return end
  for _, rec in ipairs(records) do
    local ok, done, err = pcall(self.client.del_txt, self.client, rec.name, rec.value)
    if not ok then
      if is_interrupt(done) then error(done, 0) end
      err = tostring(done)
    end
    if ok and done then
      log.info("%s: deleted TXT record %s", self.plugin_name, rec.name)
    elseif rec.pending then
      -- it may never have been created
      log.debug("%s: could not delete TXT record %s: %s", self.plugin_name, rec.name, tostring(err))
    else
      local msg = ("Encountered error deleting TXT record %s: %s"):format(rec.name,
        tostring(err):match("^[^\n]*"))
      log.warning("%s", msg)
      display.warn(msg)
    end
  end
end

-- authenticator(spec) -> the plugin table for "dns-<id>".
function M.authenticator(spec)
  assert(type(spec) == "table", "dns.authenticator: spec table expected")
  assert(type(spec.id) == "string" and spec.id:match("^[%l%d][%l%d_-]*$"),
    "dns.authenticator: id must be a lowercase word")
  assert(type(spec.new_client) == "function", "dns.authenticator: new_client function expected")
  local c = spec.credentials
  assert(c == false or type(c) == "table" or type(c) == "function",
    "dns.authenticator: credentials must be a list of keys, a function or false")
  local plugin_name = "dns-" .. spec.id
  local prefix = "dns_" .. spec.id:gsub("%-", "_")
  return {
    name = plugin_name,
    description = spec.description or ("Obtain certificates using a DNS TXT record (" .. spec.id .. ")."),
    authenticator = true,
    dns = spec,
    new = function(config)
      return setmetatable({ config = config, spec = spec, plugin_name = plugin_name,
        prefix = prefix, records = {}, seen = {} }, Inst)
    end,
  }
end

return M
