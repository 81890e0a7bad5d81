-- register: create an ACME account with the server (one per server).
local account = require("certbot.account")
local errors = require("certbot.errors")
local obtain = require("certbot.obtain")

local M = {}

function M.run(config)
  -- Certbot's deprecated spelling of update_account (cli.lua already
  -- printed the deprecation notice).
  if config.update_registration then
    return require("certbot.commands.update_account").run(config)
  end
  local ctx = obtain.context(config)
  local server = obtain.server(config)
  if #account.list(ctx.backend, server) > 0 then
    errors.raise("There is an existing account; registration of a duplicate account with this "
      .. "command is currently unsupported.", 1)
  end
  obtain.client(ctx) -- registers, since there is none, and says so
  return 0
end

return M
