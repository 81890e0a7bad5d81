-- renewal: when a lineage is due.
--
-- Due when renew_before_expiry in its renewal conf says so ("30 days",
-- "2 weeks", "12 hours"...), else when a third of its lifetime is left
-- (half, for lifetimes under 10 days), as Certbot decides since 4.0.

local core = require("certbot.core")

local M = {}

local UNITS = {
  second = 1, seconds = 1, s = 1,
  minute = 60, minutes = 60, m = 60,
  hour = 3600, hours = 3600, h = 3600,
  day = 86400, days = 86400, d = 86400,
  week = 604800, weeks = 604800, w = 604800,
  month = 2592000, months = 2592000,
  year = 31536000, years = 31536000, y = 31536000,
}

-- "30 days", "2 weeks 3 days", "10" (days) -> seconds | nil, err.  The
-- whole text must be such terms.
function M.parse_interval(text)
  if type(text) ~= "string" then return nil, "not a time interval" end
  local t = text:lower()
  if t:match("^%s*%d+%s*$") then return tonumber(t) * 86400 end
  local total, pos, any = 0, 1, false
  while true do
    local s, e, n, unit = t:find("^%s*(%d+)%s*(%a+)%s*,?", pos)
    if not s then break end
    local mult = UNITS[unit]
    if not mult then return nil, ("unknown time unit '%s' in '%s'"):format(unit, text) end
    total, pos, any = total + tonumber(n) * mult, e + 1, true
  end
  if not any or not t:sub(pos):match("^%s*$") then
    return nil, ("not a time interval: '%s'"):format(text)
  end
  return total
end

-- due(cert_pem, renew_before_expiry|nil, now|nil) -> bool, reason
-- A renew_before_expiry that does not parse is reported in the reason and
-- the lifetime rule applies (rather than renewing on every run).
function M.due(cert_pem, renew_before_expiry, now)
  now = now or core.sys.time()
  local info, err = core.crypto.parse_cert(cert_pem)
  if not info then return true, "cannot read the certificate: " .. tostring(err) end
  local not_after, not_before = info.not_after, info.not_before
  local bad
  if renew_before_expiry then
    local interval, ierr = M.parse_interval(renew_before_expiry)
    if interval then
      local due = now >= not_after - interval
      return due, ("renew_before_expiry = %s"):format(renew_before_expiry)
    end
    bad = "ignoring renew_before_expiry: " .. ierr .. "; "
  end
  local lifetime = not_after - not_before
  local fraction = lifetime < 10 * 86400 and 1 / 2 or 1 / 3
  local due = now >= not_after - lifetime * fraction
  return due, ("%s%s of its lifetime left rule"):format(bad or "", fraction == 0.5 and "half" or "a third")
end


---------------------------------------------------------------------------
-- Restoring a lineage's stored settings into a run's config
---------------------------------------------------------------------------

local function to_bool(v)
  if type(v) == "boolean" then return v end
  v = tostring(v):lower()
  if v == "true" or v == "1" or v == "yes" or v == "on" then return true end
  if v == "false" or v == "0" or v == "no" or v == "off" or v == "none" or v == "" then return false end
  return nil
end

-- convert(entry, value) -> typed value | nil, why
function M.convert(entry, value)
  local t = entry.type
  if t == "int" or t == "count" then
    local n = math.tointeger(tonumber(value))
    if not n then return nil, "not an integer" end
    return n
  elseif t == "float" then
    local n = tonumber(value)
    if not n then return nil, "not a number" end
    return n
  elseif t == "flag" or t == "flag_false" or t == "bool" then
    local b = to_bool(value)
    if b == nil then return nil, "not True or False" end
    return b
  elseif t == "list" then
    if type(value) == "table" then return value end
    local out = {}
    for item in tostring(value):gmatch("[^,]+") do
      item = item:gsub("^%s+", ""):gsub("%s+$", "")
      if item ~= "" then out[#out + 1] = item end
    end
    return out
  end
  if type(value) == "table" then value = table.concat(value, ",") end
  if value == "None" then return nil, "none" end
  return value
end

-- apply(config, lineage): every stored option the user did not give on the
-- command line or in cli.ini is set from the lineage's [renewalparams]
-- (Certbot's restore_required_config_elements).  -> true | nil, error
function M.apply(config, lineage)
  local options = require("certbot.options")
  local rp = lineage.conf.sections.renewalparams
  if not rp then return nil, lineage.conf_path .. ": no [renewalparams] section" end
  local where = lineage.conf_path
  -- the plugin choice: kept from the conf unless the user chose plugins now
  local chose = config:set_by_user("authenticator") or config:set_by_user("installer")
    or config:set_by_user("configurator")
  for _, e in ipairs(options.list) do
    if e.selector and config[e.dest] == true and config:set_by_user(e.dest) then chose = true end
  end
  for _, k in ipairs({ "authenticator", "installer" }) do
    local v = rp.keys[k]
    if not chose and type(v) == "string" and v ~= "None" and v ~= "" then
      if not v:match("^[%w][%w_-]*$") then
        return nil, ("%s: invalid %s '%s'"):format(where, k, v)
      end
      config:set(k, v, "renewal", where)
    end
  end
  for _, k in ipairs({ "server", "account" }) do
    local v = rp.keys[k]
    if type(v) == "string" and v ~= "" and not config:set_by_user(k) then
      config:set(k, v, "renewal", where)
    end
  end
  for _, e in ipairs(options.renewal_options()) do
    local k = e.dest
    local v = rp.keys[k]
    if v == nil and e.old_dest then v = rp.keys[e.old_dest] end
    if v ~= nil and k ~= "authenticator" and k ~= "installer" and k ~= "server"
      and k ~= "account" and k ~= "webroot_map" and not config:set_by_user(k) then
      local val, why = M.convert(e, v)
      if val == nil and why ~= "none" then
        return nil, ("%s: %s = %s: %s"):format(where, k, tostring(v), why)
      end
      if val ~= nil then config:set(k, val, "renewal", where) end
    end
  end
  local wm = rp.sections.webroot_map
  if wm and not config:set_by_user("webroot_map") and not config:set_by_user("webroot_path") then
    local map = {}
    for _, d in ipairs(wm.order) do map[d] = wm.keys[d] end
    config:set("webroot_map", map, "renewal", where)
  end
  return true
end

return M
