-- config_changes: the configuration changes installers made, newest
-- first (--num N of them), as the checkpoints under --work-dir record them.

local display = require("certbot.display")
local obtain = require("certbot.obtain")
local reverter = require("certbot.reverter")

local M = {}

function M.run(config)
  obtain.context(config)
  local list = reverter.new(config):view_config_changes()
  local n = config.num or #list
  if #list == 0 then
    display.notify("No configuration changes have been made by Certbot.")
    return 0
  end
  local out = {}
  for i = 1, math.min(n, #list) do
    local c = list[i]
    out[#out + 1] = os.date("%a %b %d %H:%M:%S %Y", math.floor(c.time))
    out[#out + 1] = (c.notes:gsub("\n$", ""))
    out[#out + 1] = "Affected files:"
    for _, f in ipairs(c.files) do out[#out + 1] = "  " .. f end
    if #c.new_files > 0 then
      out[#out + 1] = "New Configuration Files:"
      for _, f in ipairs(c.new_files) do out[#out + 1] = "  " .. f end
    end
    out[#out + 1] = ""
  end
  display.notify(table.concat(out, "\n"))
  return 0
end

return M
