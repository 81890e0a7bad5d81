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

-- "30 days" -> seconds | nil, err
function M.parse_interval(text)
  if type(text) ~= "string" then return nil, "not a time interval" end
  local total, any = 0, false
  for n, unit in text:lower():gmatch("(%d+)%s*(%a+)") do
    local mult = UNITS[unit]
    if not mult then return nil, ("unknown time unit '%s' in '%s'"):format(unit, text) end
    total = total + tonumber(n) * mult
    any = true
  end
  if not any then
    if text:match("^%s*%d+%s*$") then return tonumber(text) * 86400 end
    return nil, ("not a time interval: '%s'"):format(text)
  end
  return total
end

-- due(cert_pem, renew_before_expiry|nil, now|nil) -> bool, reason
function M.due(cert_pem, renew_before_expiry, now)
  now = now or core.sys.time()
  local info, err = core.crypto.parse_cert(cert_pem)
  if not info then return true, "cannot read the certificate: " .. tostring(err) end
  local not_after, not_before = info.not_after, info.not_before
  if renew_before_expiry then
    local interval, ierr = M.parse_interval(renew_before_expiry)
    if interval then
      local due = now >= not_after - interval
      return due, ("renew_before_expiry = %s"):format(renew_before_expiry)
    end
    return true, "bad renew_before_expiry: " .. ierr
  end
  local lifetime = not_after - not_before
  local fraction = lifetime < 10 * 86400 and 1 / 2 or 1 / 3
  local due = now >= not_after - lifetime * fraction
  return due, ("%s of its lifetime left rule"):format(fraction == 0.5 and "half" or "a third")
end

return M
