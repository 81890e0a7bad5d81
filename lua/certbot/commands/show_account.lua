-- show_account: fetch the account from the CA (POST-as-GET to its URL) and
-- show its URL, its key's RFC 7638 thumbprint and its e-mail contacts, in
-- Certbot 2.x's format.

local account = require("certbot.account")
local core = require("certbot.core")
local display = require("certbot.display")
local errors = require("certbot.errors")
local obtain = require("certbot.obtain")

local M = {}

-- format(server, uri, thumbprint, emails) -> the text Certbot prints.
function M.format(server, uri, thumbprint, emails)
  return table.concat({
    ("Account details for server %s:"):format(server),
    ("  Account URL: %s"):format(uri),
    ("  Account Thumbprint: %s"):format(thumbprint),
    ("  Email contact%s: %s"):format(#emails > 1 and "s" or "",
      #emails > 0 and table.concat(emails, ", ") or "none"),
  }, "\n")
end

function M.run(config)
  display.setup(config)
  local ctx = obtain.context(config)
  local server = obtain.server(config)
  if #account.list(ctx.backend, server) == 0 then
    errors.raise(("Could not find an existing account for server %s."):format(server), 1)
  end
  local client = obtain.client(ctx)
  local acc = ctx.account
  local body, err = client:get(acc.uri)
  if not body then
    errors.raise(("Unable to fetch the account %s from the ACME server: %s")
      :format(acc.uri, tostring(err)), 1)
  end
  display.notify(M.format(server, acc.uri, core.jws.thumbprint(acc.key), account.emails(body)))
  return 0
end

return M
