-- rollback: undo the last --checkpoints N finalized changes an installer
-- made to the server's configuration, then reload the server.

local display = require("certbot.display")
local errors = require("certbot.errors")
local installer = require("certbot.installer")
local obtain = require("certbot.obtain")
local reverter = require("certbot.reverter")

local M = {}

local function fail(msg, code) errors.raise(msg, code or 1) end

function M.run(config)
  local n = config.checkpoints or 1
  installer.select(config, "Which installer would you like to use to rollback?")
  obtain.context(config)
  local rv = reverter.new(config)
  local have = #rv:checkpoints()
  -- (a killed run's unfinished change is still undone: the installer's
  -- rollback recovers it first)
  if (have == 0 or n == 0) and not rv:unfinished() then
    display.notify("Certbot hasn't modified your configuration, so rollback isn't available.")
    return 0
  end
  local inst = installer.instance(config)
  local ok, err = inst:rollback(n)
  if not ok then fail("Rollback failed: " .. tostring(err)) end
  ok, err = inst:config_test()
  if not ok then fail("The configuration test failed after the rollback: " .. tostring(err)) end
  ok, err = inst:restart()
  if not ok then fail("Unable to reload the server after the rollback: " .. tostring(err)) end
  display.notify(("Rolled back %d checkpoint(s)."):format(math.min(n, have)))
  return 0
end

return M
