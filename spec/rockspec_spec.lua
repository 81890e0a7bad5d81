-- The rockspec lists every Lua module, and `luarocks make` installs a
-- certbot.core that Debian's stock lua5.4 can load.
local gen = dofile("csrc/gen_embed.lua")
local sys = require("certbot.core").sys

local function load_rockspec()
  local env = {}
  local chunk = assert(loadfile("rocks/certbot-scm-1.rockspec", "t", env))
  chunk()
  return env
end

local function lua_files()
  local files = {}
  local p = io.popen("find lua plugins -name '*.lua' | sort")
  for line in p:lines() do files[#files + 1] = line end
  p:close()
  return files
end

describe("rocks/certbot-scm-1.rockspec", function()
  it("lists every Lua module under the name the executable uses", function()
    local spec = load_rockspec()
    local modules = spec.build.modules
    for _, path in ipairs(lua_files()) do
      local name = gen.modname(path)
      assert.equal(path, modules[name], "rockspec lacks " .. name .. " = " .. path)
    end
  end)

  it("lists every C source of the core", function()
    local spec = load_rockspec()
    local listed = {}
    for _, s in ipairs(spec.build.modules["certbot.core"].sources) do listed[s] = true end
    local p = io.popen("ls csrc/*.c")
    for line in p:lines() do
      if line ~= "csrc/main.c" then
        assert.is_true(listed[line] or false, "rockspec lacks " .. line)
      end
    end
    p:close()
  end)

  it("installs offline with luarocks make, and lua5.4 then loads certbot.core #slow", function()
    local tree = os.tmpname()
    os.remove(tree)
    local env = sys.environ()
    local code, out, err = sys.run({ "luarocks", "--lua-version=5.4", "--tree", tree,
      "make", "--no-manifest", "rocks/certbot-scm-1.rockspec" }, env)
    assert.equal(0, code, (out or "") .. (err or ""))
    local script = [[
      local core = require "certbot.core"
      assert(core.version and core.sys and core.crypto and core.jws)
      require "certbot.main"
      io.write("ok")
    ]]
    code, out, err = sys.run({ "lua5.4", "-e",
      ("package.path=%q..';'..package.path; package.cpath=%q..';'..package.cpath")
        :format(tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua",
                tree .. "/lib/lua/5.4/?.so")
        .. " " .. script }, env)
    os.execute("rm -rf '" .. tree .. "'")
    assert.equal(0, code, err)
    assert.equal("ok", out)
  end)
end)
