-- delete: remove one lineage (renewal/NAME.conf, live/NAME, archive/NAME)
-- after asking, as Certbot does.  The name comes from --cert-name, or from
-- a menu on a terminal; one lineage per run.

local display = require("certbot.display")
local errors = require("certbot.errors")
local log = require("certbot.log")
local names = require("certbot.names")
local obtain = require("certbot.obtain")
local storage = require("certbot.storage")

local M = {}

local WARNING = "WARNING: Before continuing, ensure that the listed certificates are not being used "
  .. "by any installed server software (e.g. Apache, nginx, mail servers). Deleting a "
  .. "certificate that is still being used will cause the server software to stop working. "
  .. "See https://certbot.org/deleting-certs for information on deleting certificates safely."

local function fail(msg, code) errors.raise(msg, code or 1) end

function M.run(config)
  display.setup(config)
  local name = config.certname
  if name then
    local ok, err = names.cert_name(name)
    if not ok then fail(err, 2) end
  end
  local ctx = obtain.context(config)
  local backend = ctx.backend
  local known = backend:lineage_names()
  table.sort(known, function(a, b) return a .. ".conf" < b .. ".conf" end)
  if not name then
    if #known == 0 then fail("No existing certificates found.") end
    local i = display.menu("Which certificate would you like to delete?", known, { cli_flag = "--cert-name" })
    if not i then fail("User ended interaction.") end
    name = known[i]
  else
    local found = false
    for _, n in ipairs(known) do
      if n == name then found = true end
    end
    if not found then
      fail(("No certificate found with name %s (expected %s)."):format(name, backend:conf_path(name)))
    end
  end

  local question = ("The following certificate(s) are selected for deletion:\n\n  * %s\n\n%s\n\n"
    .. "Are you sure you want to delete the above certificate(s)?"):format(name, WARNING)
  if not display.yesno(question, { default = true }) then
    log.info("Deletion of certificate(s) canceled.")
    return 0
  end
  local ok, err = storage.delete_lineage(backend, name)
  if not ok then fail(("Unable to delete all files of certificate %s: %s"):format(name, err)) end
  log.info("Deleted lineage %s", name)
  display.notify(("Deleted all files relating to certificate %s."):format(name))
  return 0
end

return M
