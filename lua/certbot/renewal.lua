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

-- validity(pem) -> not_before, not_after | nil: the two dates, read by
-- walking the certificate's DER to its validity field.  A full parse
-- (crypto.parse_cert) costs ~0.3 ms a certificate, most of it OpenSSL
-- decoding the public key and checking the self-signature; a no-op renew
-- does this once per lineage, at a few µs.  The walk also checks that the
-- certificate's outer framing holds (Certificate = tbsCertificate,
-- algorithm, BIT STRING, over the whole DER: a truncated file fails).  nil
-- for anything it does not expect: the caller then asks OpenSSL.
local byte = string.byte

-- The TLV at pos, inside [pos, limit]: tag, first and last content byte
-- (one byte() call: lengths up to 2 bytes, what certificates use).
local function tlv(s, pos, limit)
  local tag, l1, l2, l3 = byte(s, pos, pos + 3)
  if not l1 or tag & 0x1f == 0x1f then return nil end
  local first, len = pos + 2, l1
  if l1 >= 0x80 then
    if l1 == 0x81 and l2 then
      first, len = pos + 3, l2
    elseif l1 == 0x82 and l3 then
      first, len = pos + 4, l2 * 256 + l3
    else
      return nil
    end
  end
  local last = first + len - 1
  if last > limit then return nil end
  return tag, first, last
end

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

local MDAYS = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function two(a, b)
  if a < 48 or a > 57 or b < 48 or b > 57 then return -1 end
  return (a - 48) * 10 + b - 48
end

-- UTCTime "YYMMDDHHMMSSZ" or GeneralizedTime "YYYYMMDDHHMMSSZ", as DER
-- (RFC 5280 4.1.2.5) and crypto.parse_cert take them -> epoch | nil
local function der_time(s, tag, a, b)
  local y
  if tag == 0x17 and b - a == 12 then
    y = two(byte(s, a, a + 1))
    if y < 0 then return nil end
    y = y + (y >= 50 and 1900 or 2000)
    a = a + 2
  elseif tag == 0x18 and b - a == 14 then
    local c, d = two(byte(s, a, a + 1)), two(byte(s, a + 2, a + 3))
    if c < 0 or d < 0 then return nil end
    y = c * 100 + d
    a = a + 4
  else
    return nil
  end
  local m1, m2, d1, d2, h1, h2, i1, i2, s1, s2, z = byte(s, a, a + 10)
  local mo, d, h, mi, sec = two(m1, m2), two(d1, d2), two(h1, h2), two(i1, i2), two(s1, s2)
  if z ~= 90 or mo < 1 or mo > 12 or d < 1 or d > MDAYS[mo] or h < 0 or h > 23 or mi < 0 or mi > 59
    or sec < 0 or sec > 60 then
    return nil
  end
  if mo == 2 and d == 29 and not (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) then return nil end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec
end

local function validity(pem)
  local der = core.crypto.pem_to_der(pem, "CERTIFICATE")
  if not der then return nil end
  local n = #der
  -- Certificate: exactly tbsCertificate, signatureAlgorithm, signature
  local tag, a, b, _ = tlv(der, 1, n)
  if tag ~= 0x30 or b ~= n then return nil end
  local ttag, ta, tb = tlv(der, a, n)
  if ttag ~= 0x30 then return nil end
  tag, _, b = tlv(der, tb + 1, n)
  if tag ~= 0x30 then return nil end
  tag, _, b = tlv(der, b + 1, n)
  if tag ~= 0x03 or b ~= n then return nil end
  -- tbsCertificate: [0] version, serial, signature, issuer, validity
  tag, a, b = tlv(der, ta, tb)
  if tag == 0xa0 then tag, a, b = tlv(der, b + 1, tb) end
  if tag ~= 0x02 then return nil end
  for _ = 1, 3 do
    tag, a, b = tlv(der, b + 1, tb)
    if tag ~= 0x30 then return nil end
  end
  local vb = b
  local t1, a1, b1 = tlv(der, a, vb)
  if not t1 then return nil end
  local t2, a2, b2 = tlv(der, b1 + 1, vb)
  if not t2 or b2 ~= vb then return nil end
  local not_before, not_after = der_time(der, t1, a1, b1), der_time(der, t2, a2, b2)
  if not (not_before and not_after) then return nil end
  return not_before, not_after
end
M.validity = validity

-- due(cert_pem, renew_before_expiry|nil, now|nil) -> bool, reason, not_after
-- A renew_before_expiry that does not parse is reported in the reason and
-- the lifetime rule applies (rather than renewing on every run).
-- not_after is nil when the certificate cannot be read.
function M.due(cert_pem, renew_before_expiry, now)
  now = now or core.sys.time()
  local not_before, not_after
  if type(cert_pem) == "string" then not_before, not_after = validity(cert_pem) end
  if not not_before then
    local info, err = core.crypto.parse_cert(cert_pem)
    if not info then return true, "cannot read the certificate: " .. tostring(err) end
    not_after, not_before = info.not_after, info.not_before
  end
  local bad
  if renew_before_expiry then
    local interval, ierr = M.parse_interval(renew_before_expiry)
    if interval then
      local due = now >= not_after - interval
      return due, ("renew_before_expiry = %s"):format(renew_before_expiry), not_after
    end
    bad = "ignoring renew_before_expiry: " .. ierr .. "; "
  end
  local lifetime = not_after - not_before
  local short = lifetime < 10 * 86400
  local due = now >= not_after - lifetime * (short and 1 / 2 or 1 / 3)
  local rule = short and "half of its lifetime left rule" or "a third of its lifetime left rule"
  return due, bad and bad .. rule or rule, not_after
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

-- The entries renew stores, computed again only when a plugin has added
-- options since (options.list only grows).
-- by_key: conf key (dest or old_dest) -> positions in stored.  Hot loops
-- below count with numbers: ipairs costs a C call per step, and check()
-- runs once per lineage.
local options_mod, stored, stored_for, stored_dests, selectors, by_key
local function stored_options()
  options_mod = options_mod or require("certbot.options")
  if stored_for ~= #options_mod.list then
    stored, stored_for = options_mod.renewal_options(), #options_mod.list
    stored_dests = { authenticator = true, installer = true, server = true, account = true,
      webroot_map = true }
    by_key = {}
    for i, e in ipairs(stored) do
      stored_dests[e.dest] = true
      for _, k in ipairs({ e.dest, e.old_dest ~= e.dest and e.old_dest or nil }) do
        by_key[k] = by_key[k] or {}
        table.insert(by_key[k], i)
      end
    end
    selectors = {}
    for _, e in ipairs(options_mod.list) do
      if e.selector then selectors[#selectors + 1] = e end
    end
  end
  return stored, selectors
end

local PLUGIN_KEYS = { "authenticator", "installer" }
local ACCOUNT_KEYS = { "server", "account" }
-- restored on their own, not through the loop over stored options
local OWN = { authenticator = true, installer = true, server = true, account = true, webroot_map = true }

-- restore(config, lineage, set): what apply does; with set false, only
-- the checks (the same result, config untouched).
local function restore(config, lineage, set)
  local renewal_options, selector_options = stored_options()
  local rp = lineage.conf.sections.renewalparams
  if not rp then return nil, lineage.conf_path .. ": no [renewalparams] section" end
  local where = lineage.conf_path
  local keys, order = rp.keys, rp.order
  -- The plugin choice: kept from the conf unless the user chose plugins
  -- now.  Only a bad name or a set needs to know (check() of a good conf
  -- skips asking).
  local chose
  local function user_chose()
    if chose == nil then
      chose = config:set_by_user("authenticator") or config:set_by_user("installer")
        or config:set_by_user("configurator") or false
      for j = 1, #selector_options do
        local e = selector_options[j]
        if config[e.dest] == true and config:set_by_user(e.dest) then chose = true end
      end
    end
    return chose
  end
  for j = 1, 2 do
    local k = PLUGIN_KEYS[j]
    local v = keys[k]
    if type(v) == "string" and v ~= "None" and v ~= "" then
      local bad = not v:match("^[%w][%w_-]*$")
      if (bad or set) and not user_chose() then
        if bad then return nil, ("%s: invalid %s '%s'"):format(where, k, v) end
        config:set(k, v, "renewal", where)
      end
    end
  end
  for j = 1, 2 do
    local k = ACCOUNT_KEYS[j]
    local v = keys[k]
    if set and type(v) == "string" and v ~= "" and not config:set_by_user(k) then
      config:set(k, v, "renewal", where)
    end
  end
  -- The stored options the section holds a value for, found from its
  -- keys (a dozen) rather than by walking every option (seventy).  Each
  -- is seen once: under dest, or under old_dest when dest is absent.  The
  -- error reported is that of the first such option in option order, as
  -- such a walk would report it.
  local err_at, err, sets
  for j = 1, #order do
    local key = order[j]
    local v = keys[key]
    local ps = v ~= nil and by_key[key]
    if ps then
      for m = 1, #ps do
        local i = ps[m]
        local e = renewal_options[i]
        local k = e.dest
        -- (converting is cheaper than asking whether the user set k, and
        -- has no effect: ask only when it matters)
        if (key == k or keys[k] == nil) and not OWN[k] then
          local val, why = M.convert(e, v)
          if val == nil and why ~= "none" then
            if (not err_at or i < err_at) and not config:set_by_user(k) then
              err_at, err = i, ("%s: %s = %s: %s"):format(where, k, tostring(v), why)
            end
          elseif set and val ~= nil and not config:set_by_user(k) then
            sets = sets or {}
            sets[#sets + 1] = k
            sets[#sets + 1] = val
          end
        end
      end
    end
  end
  if err then return nil, err end
  for j = 1, sets and #sets or 0, 2 do config:set(sets[j], sets[j + 1], "renewal", where) end
  local wm = rp.sections.webroot_map
  if set and wm and not config:set_by_user("webroot_map") and not config:set_by_user("webroot_path") then
    local map = {}
    for _, d in ipairs(wm.order) do map[d] = wm.keys[d] end
    config:set("webroot_map", map, "renewal", where)
  end
  return true
end

-- apply(config, lineage): every stored option the user did not give on the
-- command line or in cli.ini is set from the lineage's [renewalparams]
-- (Certbot's restore_required_config_elements).  -> true | nil, error
function M.apply(config, lineage)
  return restore(config, lineage, true)
end

-- check(config, lineage) -> true | nil, error: what apply(config:copy(),
-- lineage) would return, without the copy (renew checks every lineage's
-- conf, and copies the config only for one that is due).
function M.check(config, lineage)
  return restore(config, lineage, false)
end

-- restores(dest) -> whether apply may set that option from a renewal conf.
function M.restores(dest)
  stored_options()
  return stored_dests[dest] == true
end

return M
