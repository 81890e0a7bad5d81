-- enhance: add security enhancements (--redirect, --hsts, --uir,
-- --staple-ocsp) to a server that already serves a certificate.

local display = require("certbot.display")
local errors = require("certbot.errors")
local installer = require("certbot.installer")
local names = require("certbot.names")
local obtain = require("certbot.obtain")
local storage = require("certbot.storage")

local M = {}

local function fail(msg, code) errors.raise(msg, code or 1) end

local NONE = "Please specify one or more enhancement types to configure. To list the available "
  .. "enhancement types, run: certbot --help enhance"

function M.run(config)
  if config.certname then
    local ok, err = names.cert_name(config.certname)
    if not ok then fail(err, 2) end
  end
  installer.select(config, "Which installer would you like to use to configure the selected enhancements?")
  local asked = config.redirect or config.hsts or config.uir or config.staple
  if not asked then
    if not display.interactive then fail(NONE) end
    local labels = {}
    for i, c in ipairs(installer.CHOICES) do labels[i] = c.label end
    local picked = display.checklist("Which enhancements would you like to enable?", labels)
    if not picked or #picked == 0 then fail("User cancelled the enhancement selection.") end
    for _, i in ipairs(picked) do config[installer.CHOICES[i].dest] = true end
  end
  local ctx = obtain.context(config)
  local domains, lineage = {}, nil
  if config.domains and #config.domains > 0 then
    local list, err = names.domains(config.domains)
    if not list then fail(err) end
    domains = list
  end
  if config.certname then
    lineage = storage.load(ctx.backend, config.certname)
    if not lineage then
      fail(("No certificate found with name %s (expected %s)."):format(config.certname,
        ctx.backend:conf_path(config.certname)))
    end
    if #domains == 0 then domains = obtain.lineage_domains(lineage) end
  elseif #domains == 0 then
    domains = installer.choose_names(config) or {}
    if #domains == 0 then
      fail("Missing command line flag or config entry for this setting: the names to enhance "
        .. "(You can set this with the --cert-name or -d flag)")
    end
  end
  if not lineage then lineage = obtain.find_lineage(ctx, domains) end
  local paths = lineage and lineage.paths or {}
  if config.staple and not paths.chain then
    fail("--staple-ocsp needs the certificate's chain: name the lineage with --cert-name.")
  end
  local list = installer.wanted(config, "enhance", paths)
  local done = installer.enhance(config, domains, list)
  if #done > 0 then
    display.notify(("Successfully enabled %s for %s"):format(table.concat(done, ", "),
      table.concat(domains, ", ")))
  end
  return 0
end

return M
