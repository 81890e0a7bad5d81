-- update_symlinks: point the four links of live/NAME at the newest
-- complete version in the archive again (every lineage, or --cert-name),
-- after files were moved by hand or archive_dir was changed in a renewal
-- conf as the user guide describes.  Silent on success, like Certbot; a
-- lineage that cannot be fixed is named on standard error and the run
-- exits 1 after trying the others.

local display = require("certbot.display")
local errors = require("certbot.errors")
local log = require("certbot.log")
local names = require("certbot.names")
local obtain = require("certbot.obtain")
local storage = require("certbot.storage")

local M = {}

function M.run(config)
  display.setup(config)
  local name = config.certname
  if name then
    local ok, err = names.cert_name(name)
    if not ok then errors.raise(err, 2) end
  end
  local ctx = obtain.context(config)
  local backend = ctx.backend
  local list = backend:lineage_names()
  table.sort(list, function(a, b) return a .. ".conf" < b .. ".conf" end)
  if name then
    local found = false
    for _, n in ipairs(list) do
      if n == name then found = true end
    end
    if not found then
      errors.raise(("No certificate found with name %s (expected %s)."):format(name, backend:conf_path(name)), 1)
    end
    list = { name }
  end
  local failed = 0
  for _, n in ipairs(list) do
    local version, err = storage.update_symlinks(backend, n)
    if version then
      log.info("%s: live links point at version %d", n, version)
    else
      failed = failed + 1
      display.warn(("Unable to update the symlinks of %s: %s"):format(n, tostring(err)))
      log.warning("update_symlinks %s: %s", n, tostring(err))
    end
  end
  return failed > 0 and 1 or 0
end

return M
