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

-- validity(pem) -> not_before, not_after, names_ocsp | nil, err: the two
-- dates of the first CERTIFICATE block, read by walking its DER in C
-- (crypto.cert_validity).  A full parse (crypto.parse_cert) costs ~0.3 ms
-- a certificate, most of it OpenSSL decoding the public key and checking
-- the self-signature; a no-op renew does this once per lineage, at a few
-- µs.  The walk also checks the certificate's outer framing (Certificate =
-- tbsCertificate, algorithm, BIT STRING, over the whole DER: a truncated
-- file fails).  nil for anything it does not expect: due() then asks
-- OpenSSL.  names_ocsp is false when the certificate holds no id-ad-ocsp
-- OID, so names no OCSP responder.
local cert_validity = core.crypto.cert_validity
M.validity = cert_validity

-- due(cert_pem, renew_before_expiry|nil, now|nil) -> bool, reason,
-- not_after, names_ocsp
-- A renew_before_expiry that does not parse is reported in the reason and
-- the lifetime rule applies (rather than renewing on every run).
-- not_after is nil when the certificate cannot be read.  names_ocsp is
-- false when the certificate surely names no OCSP responder (what
-- ocsp.may_have_url tells, without decoding the PEM again), nil when
-- unknown.
function M.due(cert_pem, renew_before_expiry, now)
  now = now or core.sys.time()
  local not_before, not_after, names_ocsp
  if type(cert_pem) == "string" then not_before, not_after, names_ocsp = cert_validity(cert_pem) end
  if not not_before then
    local info, err = core.crypto.parse_cert(cert_pem)
    if not info then return true, "cannot read the certificate: " .. tostring(err) end
    not_after, not_before, names_ocsp = info.not_after, info.not_before, nil
  end
  local bad
  if renew_before_expiry then
    local interval, ierr = M.parse_interval(renew_before_expiry)
    if interval then
      local due = now >= not_after - interval
      return due, ("renew_before_expiry = %s"):format(renew_before_expiry), not_after, names_ocsp
    end
    bad = "ignoring renew_before_expiry: " .. ierr .. "; "
  end
  local lifetime = not_after - not_before
  local short = lifetime < 10 * 86400
  local due = now >= not_after - lifetime * (short and 1 / 2 or 1 / 3)
  local rule = short and "half of its lifetime left rule" or "a third of its lifetime left rule"
  return due, bad and bad .. rule or rule, not_after, names_ocsp
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
-- check(): per conf key, the values that no option under that key
-- refuses (what a thousand confs mostly hold); emptied when the options
-- change.  A list value (a table) is weakly held.
local WEAK_KEYS = { __mode = "k" }
local clean = {}
local function stored_options()
  options_mod = options_mod or require("certbot.options")
  if stored_for ~= #options_mod.list then
    stored, stored_for = options_mod.renewal_options(), #options_mod.list
    clean = {}
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

-- The option types whose conversion can fail; any other (string, path,
-- choice, list) takes whatever the conf says.
local CAN_FAIL = { int = true, count = true, float = true, flag = true, flag_false = true, bool = true }

-- What convert makes of a conf value, remembered per type and value for
-- check(): the error (why), or false when it converts.  A thousand confs
-- hold a handful of distinct values ("True", "2048", "5002"); a list (a
-- table) is weakly held.
local verdicts = {}
local function verdict(e, v)
  local vt = verdicts[e.type]
  if not vt then
    vt = setmetatable({}, WEAK_KEYS)
    verdicts[e.type] = vt
  end
  local r = vt[v]
  if r == nil then
    local val, why = M.convert(e, v)
    r = val == nil and why ~= "none" and why
    vt[v] = r
  end
  return r
end

-- Plugin names already found well formed (or not).
local plugin_name_ok = {}
local function good_plugin_name(v)
  local ok = plugin_name_ok[v]
  if ok == nil then
    ok = v:match("^[%w][%w_-]*$") ~= nil
    plugin_name_ok[v] = ok
  end
  return ok
end

-- Did the user choose plugins on this run (then the conf's do not count)?
local function user_chose(config, selector_options)
  local chose = config:set_by_user("authenticator") or config:set_by_user("installer")
    or config:set_by_user("configurator") or false
  for j = 1, #selector_options do
    local e = selector_options[j]
    if config[e.dest] == true and config:set_by_user(e.dest) then chose = true end
  end
  return chose
end

-- restore(config, lineage, set): what apply does; with set false, only
-- the checks (the same result, config untouched).
local function restore(config, lineage, set)
  local rp = lineage.conf.sections.renewalparams
  if not rp then return nil, lineage.conf_path .. ": no [renewalparams] section" end
  -- Third-party plugins in the --plugin-dir given at issuance join the
  -- option table first, so that their options below are known (a no-op
  -- for a directory already read).
  if rp.keys.plugin_dir ~= nil and not config:set_by_user("plugin_dir") then
    require("certbot.plugins").discover(rp.keys.plugin_dir)
  end
  local renewal_options, selector_options = stored_options()
  local where = lineage.conf_path
  local keys, order = rp.keys, rp.order
  -- The plugin choice: kept from the conf unless the user chose plugins
  -- now.  Only a bad name or a set needs to know (check() of a good conf
  -- skips asking).
  local chose
  for j = 1, 2 do
    local k = PLUGIN_KEYS[j]
    local v = keys[k]
    if type(v) == "string" and v ~= "None" and v ~= "" then
      -- a name that is no plugin here fails the lineage before anything
      -- is ordered (Certbot picks its plugins first, too)
      local bad = not good_plugin_name(v) and ("%s: invalid %s '%s'"):format(where, k, v)
        or not require("certbot.plugins").origin(v)
          and ("%s: %s '%s' is not an installed plugin"):format(where, k, v)
      if bad or set then
        if chose == nil then chose = user_chose(config, selector_options) end
        if not chose then
          if bad then return nil, bad end
          config:set(k, v, "renewal", where)
        end
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
    local known = ps and not set and clean[key]
    if ps and not (known and known[v]) then
      local all_clean = true
      for m = 1, #ps do
        local i = ps[m]
        local e = renewal_options[i]
        local k = e.dest
        if set then
          -- (converting is cheaper than asking whether the user set k,
          -- and has no effect: ask only when it matters)
          if (key == k or keys[k] == nil) and not OWN[k] then
            local val, why = M.convert(e, v)
            if val == nil and why ~= "none" then
              if (not err_at or i < err_at) and not config:set_by_user(k) then
                err_at, err = i, ("%s: %s = %s: %s"):format(where, k, tostring(v), why)
              end
            elseif val ~= nil and not config:set_by_user(k) then
              sets = sets or {}
              sets[#sets + 1] = k
              sets[#sets + 1] = val
            end
          end
        else
          local why = CAN_FAIL[e.type] and verdict(e, v)
          if why then
            all_clean = false
            if (key == k or keys[k] == nil) and not OWN[k] and (not err_at or i < err_at)
              and not config:set_by_user(k) then
              err_at, err = i, ("%s: %s = %s: %s"):format(where, k, tostring(v), why)
            end
          end
        end
      end
      -- no option under this key refuses this value, in any conf
      if not set and all_clean then
        known = clean[key]
        if not known then
          known = setmetatable({}, WEAK_KEYS)
          clean[key] = known
        end
        known[v] = true
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
