-- run (the default subcommand; also `everything`): obtain a certificate and
-- install it with the chosen installer, with the enhancements asked for.
local certonly = require("certbot.commands.certonly")
local display = require("certbot.display")
local installer = require("certbot.installer")
local obtain = require("certbot.obtain")

local M = {}

function M.run(config)
  local lineage, result, action = certonly.obtain_and_save(config,
    { installer = true, choose_names = installer.choose_names })
  if config.dry_run then return 0 end
  if not lineage then return 0 end
  if action == "reinstall" then
    display.notify("Keeping the existing certificate: " .. lineage.paths.fullchain)
  else
    display.notify(("\nSuccessfully received certificate.\nCertificate is saved at: %s\n"
      .. "Key is saved at:         %s"):format(lineage.paths.fullchain, lineage.paths.privkey))
  end
  if config.installer == "null" then
    display.notify("The null installer was chosen: the certificate was not installed anywhere.")
    return 0
  end
  installer.deploy(config, lineage.paths,
    result and result.domains or obtain.lineage_domains(lineage),
    { enhance = true, verb = "run", congratulate = true })
  return 0
end

return M
