-- run (the default subcommand; also `everything`): obtain a certificate and
-- install it with the chosen installer.
local certonly = require("certbot.commands.certonly")
local display = require("certbot.display")
local obtain = require("certbot.obtain")

local M = {}

function M.run(config)
  local lineage, result, action = certonly.obtain_and_save(config, { installer = true })
  if config.dry_run then return 0 end
  if not lineage then return 0 end
  obtain.install(config, lineage, result and result.domains or obtain.lineage_domains(lineage),
    "Deployed ACME certificate")
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
