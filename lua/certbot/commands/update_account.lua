-- update_account (and the deprecated `register --update-registration`):
-- replace the account's contacts with the addresses from -m (comma
-- separated); with --register-unsafely-without-email and no -m, remove
-- them all.
--
-- update_account --new-key: roll the account key over (RFC 8555 §7.3.5).
-- Why this form rather than a `rollover` subcommand: update_account is
-- already the subcommand that changes the account at the CA, --new-key
-- already means "make a new private key" (for certificates), and Certbot,
-- which has no rollover, gains no verb to tell apart from ours.  The new
-- key is of --account-key-type when given, else of the current key's kind
-- and size.  Contacts change too when -m or
-- --register-unsafely-without-email is given with it.  How the account's
-- files and id follow the key: certbot.account (rollover).

local account = require("certbot.account")
local core = require("certbot.core")
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

-- choose_account(config, ctx, server, missing): the account to act on,
-- as account.choose picks it (--account, the only one, a menu, or under -n
-- an error listing the ids), made the run's account (config.account) so
-- that obtain.client signs in with it.  missing: the message when the
-- server has no account.  Nothing is asked of the CA yet.
function M.choose_account(config, ctx, server, missing)
  local accounts = account.list(ctx.backend, server)
  if #accounts == 0 then fail(missing or ("Could not find an existing account for server %s."):format(server)) end
  config:set("account", account.choose(config, accounts, server).id)
end

-- sign_in(ctx, server) -> client, account: the chosen account, signed in;
-- a rollover an earlier run left unfinished is settled first.
function M.sign_in(ctx, server)
  local client = obtain.client(ctx)
  local acc = account.settle(ctx.backend, server, ctx.account, client)
  client.key, client.kid, client.thumb = acc.key, acc.uri, nil
  ctx.account = acc
  return client, acc
end

local function rollover(config, ctx, server, client, acc)
  local spec = account.key_spec(config, acc.key)
  local key, kerr = core.crypto.generate_key(spec.type, spec.param)
  if not key then fail("Unable to generate the new account key: " .. tostring(kerr)) end
  local new = account.rollover(ctx.backend, server, acc, client, key)
  log.info("account %s is now %s (%s)", acc.id, new.id, (account.describe_key(key)))
  local msg = ("The account key for %s was replaced by a new %s key; the server no longer accepts "
    .. "the old one.\nThe account ID follows the key: it was %s and is now %s.")
    :format(acc.uri, (account.describe_key(key)), acc.id, new.id)
  if new.relinked > 0 then
    msg = msg .. ("\n%d certificate lineage%s now name%s the new ID."):format(new.relinked,
      new.relinked == 1 and "" or "s", new.relinked == 1 and "s" or "")
  end
  display.notify(msg)
  return new
end

function M.run(config)
  display.setup(config)
  local ctx = obtain.context(config)
  local server = obtain.server(config)
  M.choose_account(config, ctx, server)
  local email = config.email
  local change_contacts = not config.new_key or email ~= nil or config.register_unsafely_without_email
  if change_contacts and email == nil and not config.register_unsafely_without_email then
    email = ask_email()
  end
  local client, acc = M.sign_in(ctx, server)
  if config.new_key then acc = rollover(config, ctx, server, client, acc) end
  if not change_contacts then return 0 end

  local contacts = account.contacts(email)
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
