-- Loaded by busted before every spec file (.busted `helper`): point
-- package.cpath at the build under test and map certbot.plugins.* onto
-- plugins/, as the executable's embedded loader does.
local build = os.getenv("CERTBOT_BUILD") or "build"
package.cpath = build .. "/lib/?.so;" .. package.cpath

-- Under `make asan` libasan is preloaded into lua5.4 itself; children the
-- specs start (curl, openssl, python3, build/certbot) must not inherit it:
-- uninstrumented programs deadlock with it preloaded.
if os.getenv("CERTBOT_SAN") then
  require("certbot.core").sys.setenv("LD_PRELOAD", nil)
end
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local function plugin_searcher(name)
  local rel = name:match("^certbot%.plugins%.(.+)$")
  if not rel then return nil end
  rel = rel:gsub("%.", "/")
  for _, p in ipairs({ "plugins/" .. rel .. ".lua", "plugins/" .. rel .. "/init.lua" }) do
    local f = io.open(p)
    if f then
      f:close()
      return assert(loadfile(p, "t")), p
    end
  end
  return "\n\tno file plugins/" .. rel .. ".lua"
end
table.insert(package.searchers, 2, plugin_searcher)
