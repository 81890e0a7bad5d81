-- unregister: deactivate the account at the CA (RFC 8555 §7.3.6) and
-- remove it from the config dir.  There is no undoing it.

local account = require("certbot.account")
local display = require("certbot.display")
local errors = require("certbot.errors")
local log = require("certbot.log")
local obtain = require("certbot.obtain")

local M = {}

local function fail(msg) errors.raise(msg, 1) end

function M.run(config)
  display.setup(config)
  local ctx = obtain.context(config)
  local server = obtain.server(config)
  if #account.list(ctx.backend, server) == 0 then
    fail(("Could not find existing account for server %s."):format(server))
  end
  local sure = display.yesno("Are you sure you would like to irrevocably deactivate your account?",
    { yes_label = "Deactivate", no_label = "Abort", default = true })
  if not sure then fail("Deactivation aborted.") end

  local client = obtain.client(ctx)
  local acc = ctx.account
  local body, err = client:update_account({ status = "deactivated" })
  if not body then
    fail(("Unable to deactivate the account %s: %s"):format(acc.uri, tostring(err)))
  end
  log.info("account %s (%s) deactivated", acc.id, acc.uri)
  local ok, rerr = account.remove(ctx.backend, server, acc.id)
  if not ok then
    fail(("The account was deactivated, but removing %s failed: %s"):format(acc.id, tostring(rerr)))
  end
  display.notify("Account deactivated.")
  return 0
end

return M
