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

return M
