-- reconfigure --cert-name NAME [options]: change the settings a lineage
-- renews with (authenticator, hooks, key options, ...) without renewing it.
-- The new settings are proved first by a dry-run renewal against the CA;
-- only when that succeeds are they saved in the renewal conf.

local display = require("certbot.display")
local errors = require("certbot.errors")
local obtain = require("certbot.obtain")
local renew = require("certbot.commands.renew")
local renewal = require("certbot.renewal")
local storage = require("certbot.storage")

local M = {}

function M.run(config)
  local ctx = obtain.context(config)
  local name = config.certname
  if not name then
    local names = ctx.backend:lineage_names()
    if #names == 0 then errors.raise("No existing certificates found.", 1) end
    local i = display.menu("Which certificate would you like to reconfigure?", names,
      { cli_flag = "--cert-name" })
    if not i then errors.raise("Operation canceled. You may re-run the client.", 1) end
    name = names[i]
  end
  local lineage, err = storage.load(ctx.backend, name)
  if not lineage then
    errors.raise(("No certificate found with name %s (%s)."):format(name, tostring(err)), 1)
  end
  local lconfig = config:copy()
  local ok, aerr = renewal.apply(lconfig, lineage)
  if not ok then errors.raise(aerr, 1) end
  -- prove the new settings with a simulated renewal
  local trial = lconfig:copy()
  trial:set("dry_run", true)
  trial:set("renew_by_default", true)
  display.notify("Simulating a renewal of " .. name .. " with the new settings...")
  local state = { hooks = renew.new_hooks(trial) }
  local rok, res = pcall(renew.renew_one, ctx, lineage, trial, state)
  state.hooks:finish({}, {})
  if not rok then
    local msg = errors.is(res) and res.message or tostring(res)
    errors.raise(("The new settings failed a test renewal, nothing was changed: %s"):format(msg), 1)
  end
  -- what the trial settled (webroots chosen per domain) is part of the settings
  if trial.webroot_map and next(trial.webroot_map) then lconfig:set("webroot_map", trial.webroot_map) end
  -- the plugin choice of the new settings (a --webroot given now, or the stored one)
  require("certbot.commands.certonly").select_plugins(lconfig, false)
  local lctx = setmetatable({ config = lconfig, lineage = lineage }, { __index = ctx })
  obtain.client(lctx)
  local params = obtain.renewal_params(lctx)
  local sok, serr = lineage:update_params(params)
  if not sok then errors.raise("Unable to save the renewal configuration: " .. serr, 1) end
  display.notify(("Successfully updated the renewal configuration of %s.\nThe new settings will "
    .. "apply when the certificate next renews (%s)."):format(name, lineage.conf_path))
  return 0
end

return M
