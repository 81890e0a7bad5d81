-- plugins: list the plugins this build has and the third-party ones found
-- in --plugin-dir and <config-dir>/plugins (--authenticators, --installers
-- to filter), and with --init / --prepare check that each one can be set
-- up here.  "Entry point" names the module of a built-in plugin and the
-- file of a third-party one.

local display = require("certbot.display")
local plugins = require("certbot.plugins")

local M = {}

local SEP = string.rep("- ", 40):sub(1, 79)

function M.run(config)
  local want = {}
  for _, i in ipairs(config.ifaces or {}) do want[i] = true end
  local list = plugins.names()
  local out = { SEP }
  for _, name in ipairs(list) do
    local mod, err = plugins.load(name)
    if not mod then
      out[#out + 1] = ("* %s\nError: %s\n"):format(name, err)
    elseif (not want.authenticator or mod.authenticator) and (not want.installer or mod.installer) then
      local ifaces = {}
      if mod.authenticator then ifaces[#ifaces + 1] = "Authenticator" end
      if mod.installer then ifaces[#ifaces + 1] = "Installer" end
      ifaces[#ifaces + 1] = "Plugin"
      out[#out + 1] = ("* %s\nDescription: %s\nInterfaces: %s\nEntry point: %s = %s")
        :format(name, mod.description or name, table.concat(ifaces, ", "), name, plugins.origin(name))
      if config.init or config.prepare then
        local ok, inst = pcall(mod.new, config)
        out[#out + 1] = ok and ("Initialized: %s plugin"):format(name)
          or ("Initialization failed: %s"):format(tostring(inst):match("^[^\n]*"))
        if ok and config.prepare then
          local pok, perr = true, nil
          if type(inst.prepare) == "function" then
            local c1, r1, r2 = pcall(inst.prepare, inst)
            if not c1 then pok, perr = false, r1 else pok, perr = r1, r2 end
          end
          out[#out + 1] = pok and "Prep: True"
            or ("Prep: Error: %s"):format(tostring(perr):match("^[^\n]*"))
        end
      end
      out[#out + 1] = ""
    end
  end
  out[#out + 1] = SEP
  display.notify(table.concat(out, "\n"))
  return 0
end

return M
