-- profiles: list the certificate profiles the ACME server offers (the
-- directory's meta.profiles, draft-ietf-acme-profiles), the names that
-- --preferred-profile and --required-profile take.  One unauthenticated
-- GET of the directory: no account is needed or made.

local display = require("certbot.display")
local obtain = require("certbot.obtain")

local M = {}

-- format(server, offered) -> the text shown; offered as obtain.offered_profiles.
function M.format(server, offered)
  if #offered == 0 then
    return ("The ACME server at %s offers no certificate profiles: every order gets "
      .. "its default."):format(server)
  end
  local lines = { ("Certificate profiles offered by %s:"):format(server) }
  for _, p in ipairs(offered) do
    local desc = obtain.printable(p.description)
    lines[#lines + 1] = ("  %s%s"):format(obtain.printable(p.name), desc ~= "" and (": " .. desc) or "")
  end
  lines[#lines + 1] = "Ask for one with --preferred-profile NAME (or --required-profile NAME)."
  return table.concat(lines, "\n")
end

function M.run(config)
  local ctx = obtain.context(config)
  local client = obtain.client(ctx, { no_account = true })
  display.notify(M.format(obtain.server(config), obtain.offered_profiles(client.dir)))
  return 0
end

return M
