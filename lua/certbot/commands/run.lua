-- run (the default subcommand; also `everything`): obtain a certificate and
-- install it with the chosen installer.
local certonly = require("certbot.commands.certonly")
local display = require("certbot.display")
local errors = require("certbot.errors")
local obtain = require("certbot.obtain")
local plugins = require("certbot.plugins")

local M = {}

function M.run(config)
  local lineage, result, action = certonly.obtain_and_save(config, { installer = true })
  if config.dry_run then return 0 end
  if not lineage then return 0 end
  local inst, err = plugins.instance(config.installer, "installer", config)
  if not inst then errors.raise(err, 1) end
  local domains = result and result.domains or obtain.lineage_domains(lineage)
  for _, domain in ipairs(domains) do
    local ok, derr = inst:deploy_cert(domain, lineage.paths)
    if not ok then errors.raise(("Unable to install the certificate for %s: %s"):format(domain, derr), 1) end
  end
  local ok, serr = inst:save("Deployed ACME certificate")
  if ok then ok, serr = inst:restart() end
  if not ok then errors.raise(tostring(serr), 1) end
  if action == "reinstall" then
    display.notify("Keeping the existing certificate: " .. lineage.paths.fullchain)
  else
    display.notify(("\nSuccessfully received certificate.\nCertificate is saved at: %s\n"
      .. "Key is saved at:         %s"):format(lineage.paths.fullchain, lineage.paths.privkey))
  end
  if config.installer == "null" then
    display.notify("The null installer was chosen: the certificate was not installed anywhere.")
  end
  return 0
end

return M
