-- update_account (and the deprecated `register --update-registration`):
-- replace the account's contacts with the addresses from -m (comma
-- separated); with --register-unsafely-without-email and no -m, remove
-- them all.

local account = require("certbot.account")
local display = require("certbot.display")
local errors = require("certbot.errors")
local json = require("cjson.safe")
local log = require("certbot.log")
local obtain = require("certbot.obtain")

local M = {}

local function fail(msg) errors.raise(msg, 1) end

-- The update's JSON: {"contact": [...]} (an empty list must stay a list).
function M.payload(contacts)
  if #contacts == 0 then return '{"contact":[]}' end
  return json.encode({ contact = contacts })
end

local function ask_email()
  if not display.interactive then
    fail("You should register before running non-interactively, or provide --agree-tos and "
      .. "--email <email_address> flags.")
  end
  local e = display.input("Enter email address (used for urgent renewal and security notices)",
    { cli_flag = "-m" })
  if e == nil or e == "" then fail("An e-mail address or --register-unsafely-without-email must be provided.") end
  return e
end

function M.run(config)
  display.setup(config)
  local ctx = obtain.context(config)
  local server = obtain.server(config)
  if #account.list(ctx.backend, server) == 0 then
    fail(("Could not find an existing account for server %s."):format(server))
  end
  local email = config.email
  if email == nil and not config.register_unsafely_without_email then email = ask_email() end
  local contacts = account.contacts(email)

  local client = obtain.client(ctx)
  local acc = ctx.account
  local body, err = client:update_account(M.payload(contacts))
  if not body then
    fail(("Unable to update the account %s: %s"):format(acc.uri, tostring(err)))
  end
  local ok, werr = account.update_regr(ctx.backend, server, acc)
  if not ok then fail("The CA updated the account, but saving it failed: " .. tostring(werr)) end
  log.info("account %s: contacts now %s", acc.id, table.concat(contacts, ", "))
  if #contacts == 0 then
    display.notify("Any contact information associated with this account has been removed.")
  else
    display.notify(("Your e-mail address was updated to %s."):format(email))
  end
  return 0
end

return M
