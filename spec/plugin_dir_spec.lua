-- Third-party plugins (docs/plugins.md): discovery from --plugin-dir and
-- <config-dir>/plugins, refusal of directories and files others may write,
-- broken files reported while the rest load, their options on the command
-- line, in cli.ini and in --help NAME, and `certbot plugins`.  Everything
-- goes through the built executable; no network.
local sys = require("certbot.core").sys
local proc = require("spec.helpers.proc")

local EXE = (os.getenv("CERTBOT_BUILD") or "build") .. "/certbot"

local function write(path, text, mode)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  assert(sys.chmod(path, mode or 420)) -- 0644
end

local function mkdir(path, mode)
  assert(sys.mkdir(path, 493, true)) -- 0755
  assert(sys.chmod(path, mode or 493))
  return path
end

-- A plugin whose prepare() fails with the value of its --<name>-port option
-- and where that value came from: the command line, cli.ini or the default.
local function echo_plugin(name, extra)
  return ([[
local P = {
  name = %q,
  description = "Says which port it was given (%s)",
  authenticator = true,
  options = {
    { name = "port", type = "int", default = 8080, min = 1, metavar = "PORT",
      help = "Port the %s responder would listen on." },
  },
}
%s
function P.new(config)
  local o = config:plugin(P.name)
  return {
    prepare = function()
      return nil, ("%s: port %%d from %%s"):format(o:number("port"), o:origin("port"))
    end,
    challenge_preferences = function() return { "http-01" } end,
    perform = function() return true end,
    cleanup = function() end,
  }
end
return P
]]):format(name, name, name, extra or "", name)
end

describe("third-party plugins", function()
  local dir, pdir, cfg

  -- run(args) -> code, stdout, stderr; private config/work/logs dirs and
  -- no cli.ini but the ones a test writes
  local function run(args, opts)
    opts = opts or {}
    local argv = { EXE }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    if not opts.bare then
      for _, a in ipairs({ "--config-dir", cfg, "--work-dir", dir .. "/work",
        "--logs-dir", dir .. "/logs", "-n" }) do argv[#argv + 1] = a end
    end
    local env = { "PATH=/usr/bin:/bin", "HOME=" .. dir .. "/home",
      "XDG_CONFIG_HOME=" .. dir .. "/xdg",
      "CERTBOT_DEFAULT_CLI_INI=" .. (opts.system_ini or "") }
    -- a developer may run the Lua from disk (arch.md); CI runs the build
    local dev = os.getenv("CERTBOT_LUA_DEV")
    if dev then env[#env + 1] = "CERTBOT_LUA_DEV=" .. dev end
    local code, out, err = sys.run(argv, env, { stdin = "" })
    assert(code, out)
    return code, out, err
  end

  before_each(function()
    dir = proc.tmpdir("papi-")
    assert(sys.chmod(dir, 493))
    pdir = mkdir(dir .. "/plugins-a")
    cfg = dir .. "/config"
  end)
  after_each(function() proc.rm_rf(dir) end)

  it("finds a plugin in --plugin-dir and lists it with its description, roles and file", function()
    write(pdir .. "/echo.lua", echo_plugin("spec-echo"))
    local code, out, err = run({ "plugins", "--plugin-dir", pdir })
    assert.equals(0, code, err)
    assert.equals("", err)
    assert.matches("\n%* spec%-echo\nDescription: Says which port it was given %(spec%-echo%)\n"
      .. "Interfaces: Authenticator, Plugin\nEntry point: spec%-echo = "
      .. pdir:gsub("%p", "%%%0") .. "/echo%.lua\n", out)
    -- the built-in ones are still there, in name order with it
    local a, b, c = out:find("* manual\n", 1, true), out:find("* spec-echo\n", 1, true),
      out:find("* standalone\n", 1, true)
    assert.truthy(a and b and c and a < b and b < c, out)
    -- without the directory it is unknown
    code, out = run({ "plugins" })
    assert.equals(0, code)
    assert.falsy(out:find("spec-echo", 1, true))
  end)

  it("finds plugins in <config-dir>/plugins and in several --plugin-dir, first one winning", function()
    mkdir(cfg, 448)
    local cdir = mkdir(cfg .. "/plugins")
    local second = mkdir(dir .. "/plugins-b")
    write(cdir .. "/c.lua", echo_plugin("spec-cfg"))
    write(pdir .. "/a.lua", echo_plugin("spec-dup"))
    write(second .. "/b.lua", echo_plugin("spec-dup"))
    write(second .. "/other.lua", echo_plugin("spec-other"))
    local code, out, err = run({ "plugins", "--plugin-dir", pdir, "--plugin-dir", second })
    assert.equals(0, code, err)
    assert.matches("Entry point: spec%-cfg = [^\n]*/config/plugins/c%.lua", out)
    assert.matches("Entry point: spec%-other = [^\n]*/plugins%-b/other%.lua", out)
    assert.matches("Entry point: spec%-dup = [^\n]*/plugins%-a/a%.lua", out)
    assert.equals(("Plugin file %s/b.lua was skipped: a plugin named 'spec-dup' was already "
      .. "loaded from %s/a.lua\n"):format(second, pdir), err)
  end)

  it("refuses a directory group or others may write, naming it, and loads the rest", function()
    local bad = mkdir(dir .. "/open", 509) -- 0775
    write(bad .. "/x.lua", echo_plugin("spec-open"))
    write(pdir .. "/ok.lua", echo_plugin("spec-ok"))
    local code, out, err = run({ "plugins", "--plugin-dir", bad, "--plugin-dir", pdir })
    assert.equals(0, code, err)
    assert.equals(("Refusing plugin directory %s: it is writable by group or others (mode 0775); "
      .. "remove that with chmod go-w\n"):format(bad), err)
    assert.falsy(out:find("spec-open", 1, true))
    assert.truthy(out:find("* spec-ok\n", 1, true))
    -- world-writable with the sticky bit (like /tmp) is refused too
    assert(sys.chmod(bad, 1023)) -- 01777
    code, out, err = run({ "plugins", "--plugin-dir", bad })
    assert.equals(0, code)
    assert.matches("^Refusing plugin directory " .. bad:gsub("%p", "%%%0") .. ": .*mode 1777", err)
    assert.falsy(out:find("spec-open", 1, true))
  end)

  it("refuses a writable file and, as root, a file or directory not owned by root", function()
    write(pdir .. "/open.lua", echo_plugin("spec-wfile"), 438) -- 0666
    write(pdir .. "/ok.lua", echo_plugin("spec-fine"))
    local code, out, err = run({ "plugins", "--plugin-dir", pdir })
    assert.equals(0, code)
    assert.equals(("Refusing plugin file %s/open.lua: it is writable by group or others "
      .. "(mode 0666); remove that with chmod go-w\n"):format(pdir), err)
    assert.falsy(out:find("spec-wfile", 1, true))
    assert.truthy(out:find("* spec-fine\n", 1, true))
    if sys.getuid() ~= 0 then return end
    assert(sys.chmod(pdir .. "/open.lua", 420))
    assert(sys.chown(pdir .. "/open.lua", 65534, 65534))
    code, out, err = run({ "plugins", "--plugin-dir", pdir })
    assert.equals(0, code)
    assert.equals(("Refusing plugin file %s/open.lua: it is owned by uid 65534, not by root\n")
      :format(pdir), err)
    assert.falsy(out:find("spec-wfile", 1, true))
    assert(sys.chown(pdir, 65534, 65534))
    code, out, err = run({ "plugins", "--plugin-dir", pdir })
    assert.equals(0, code)
    assert.equals(("Refusing plugin directory %s: it is owned by uid 65534, not by root\n")
      :format(pdir), err)
    assert.falsy(out:find("spec-fine", 1, true))
  end)

  it("reports each broken file with its error, and the others still load and work", function()
    write(pdir .. "/1-syntax.lua", "return {\n  name = 'spec-syntax',\n")
    write(pdir .. "/2-runtime.lua", "local t = nil\nreturn t.name\n")
    write(pdir .. "/3-notable.lua", "return 42\n")
    write(pdir .. "/4-nonew.lua", "return { name = 'spec-nonew', authenticator = true }\n")
    write(pdir .. "/5-norole.lua", "return { name = 'spec-norole', new = function() end }\n")
    write(pdir .. "/6-builtin.lua", "return { name = 'webroot', authenticator = true, "
      .. "new = function() end }\n")
    write(pdir .. "/7-badopt.lua", "return { name = 'spec-badopt', authenticator = true, "
      .. "new = function() end, options = { { name = 'x', type = 'nonsense' } } }\n")
    write(pdir .. "/8-clash.lua", "return { name = 'spec-clash', authenticator = true, "
      .. "new = function() end, options = { { names = { '--domains' }, dest = 'domains' } } }\n")
    write(pdir .. "/9-good.lua", echo_plugin("spec-good"))
    write(pdir .. "/README", "not a plugin")
    write(pdir .. "/.hidden.lua", "error('never loaded')")
    local code, out, err = run({ "plugins", "--plugin-dir", pdir })
    assert.equals(0, code, err)
    local lines = {}
    for l in err:gmatch("[^\n]+") do lines[#lines + 1] = l end
    local p = pdir
    assert.same({
      ("Plugin file %s/1-syntax.lua is broken and was skipped: %s/1-syntax.lua:3: unexpected "
        .. "symbol near <eof>"):format(p, p),
      ("Plugin file %s/2-runtime.lua is broken and was skipped: %s/2-runtime.lua:2: attempt to "
        .. "index a nil value (local 't')"):format(p, p),
      ("Plugin file %s/3-notable.lua is broken and was skipped: it returned number, not a "
        .. "plugin table"):format(p),
      ("Plugin file %s/4-nonew.lua is broken and was skipped: it has no new(config) function"):format(p),
      ("Plugin file %s/5-norole.lua is broken and was skipped: it is neither an authenticator "
        .. "nor an installer (set authenticator = true and/or installer = true)"):format(p),
      ("Plugin file %s/6-builtin.lua was skipped: 'webroot' is the name of a built-in plugin"):format(p),
      ("Plugin file %s/7-badopt.lua was skipped: plugin 'spec-badopt': option --spec-badopt-x has "
        .. "unknown type nonsense"):format(p),
      ("Plugin file %s/8-clash.lua was skipped: plugin 'spec-clash': option --domains is already "
        .. "defined or malformed"):format(p),
    }, lines)
    assert.truthy(out:find("* spec-good\n", 1, true))
    for _, n in ipairs({ "spec-syntax", "spec-nonew", "spec-norole", "spec-badopt", "spec-clash" }) do
      assert.falsy(out:find(n, 1, true), n)
    end
    -- the good one is selectable with -a despite its broken neighbours
    code, out, err = run({ "certonly", "-a", "spec-good", "-d", "example.com", "--plugin-dir", pdir })
    assert.equals(1, code)
    assert.matches("\nspec%-good: port 8080 from the default\n$", err)
    assert.equals("", out)
  end)

  it("takes its options on the command line and in cli.ini, and -a selects it", function()
    write(pdir .. "/echo.lua", echo_plugin("spec-echo"))
    local code, _, err = run({ "certonly", "-a", "spec-echo", "-d", "example.com",
      "--plugin-dir", pdir, "--spec-echo-port", "4242" })
    assert.equals(1, code)
    assert.matches("spec%-echo: port 4242 from %-%-spec%-echo%-port on the command line\n$", err)
    -- an abbreviation works as for any long option
    code, _, err = run({ "certonly", "-a", "spec-echo", "-d", "example.com",
      "--plugin-dir", pdir, "--spec-echo-p=4343" })
    assert.equals(1, code)
    assert.matches("port 4343 from", err)
    -- its int type and min are checked like a built-in option's
    code, _, err = run({ "certonly", "-a", "spec-echo", "-d", "example.com",
      "--plugin-dir", pdir, "--spec-echo-port", "zero" })
    assert.equals(2, code)
    assert.matches("argument %-%-spec%-echo%-port: invalid int value: 'zero'", err)
    -- cli.ini: the plugin directory and the option, both from the file
    local ini = dir .. "/cli.ini"
    write(ini, "plugin-dir = " .. pdir .. "\nspec-echo-port = 4444\nauthenticator = spec-echo\n")
    code, _, err = run({ "certonly", "-d", "example.com", "-c", ini })
    assert.equals(1, code)
    assert.matches("spec%-echo: port 4444 from " .. ini:gsub("%p", "%%%0") .. ":2\n$", err)
    -- the system-wide cli.ini, with a list of directories
    local sysini = dir .. "/etc-cli.ini"
    local other = mkdir(dir .. "/plugins-b")
    write(other .. "/o.lua", echo_plugin("spec-listed"))
    write(sysini, "plugin-dir = [" .. other .. ", " .. pdir .. "]\n")
    code, _, err = run({ "certonly", "-d", "example.com", "-a", "spec-listed",
      "--spec-echo-port", "4545" }, { system_ini = sysini })
    assert.equals(1, code)
    assert.matches("spec%-listed: port 8080 from the default\n$", err)
    -- --plugin-dir on the command line replaces what cli.ini says
    code, _, err = run({ "certonly", "-d", "example.com", "-a", "spec-listed",
      "--plugin-dir", pdir }, { system_ini = sysini })
    assert.equals(1, code)
    assert.matches("The requested spec%-listed plugin does not appear to be installed", err)
    -- without the plugin, its option is unknown
    code, _, err = run({ "certonly", "-a", "spec-echo", "-d", "example.com", "--spec-echo-port", "1" })
    assert.equals(2, code)
    assert.matches("unrecognized arguments: %-%-spec%-echo%-port", err)
    code, _, err = run({ "certonly", "-a", "spec-echo", "-d", "example.com" })
    assert.equals(1, code)
    assert.equals("The requested spec-echo plugin does not appear to be installed\n", err)
  end)

  it("implements a plugin whose options the option table declares but this build does not ship", function()
    -- in this process: declare the options of an unshipped plugin, as
    -- options.lua may for a guide plugin whose code is not written yet
    local options = require("certbot.options")
    local plugins = require("certbot.plugins")
    local name = "spec-declared-" .. tostring(sys.getpid())
    assert(options.register(name, {
      { name = "propagation-seconds", type = "int", min = 0, default = 42, help = "Declared." },
    }, { title = name, description = "declared", selector = "Select the declared plugin." }))
    write(pdir .. "/p.lua", ([[
return { name = %q, description = "A drop-in implementation", authenticator = true,
  options = {
    { name = "propagation-seconds", type = "int", default = 1 },  -- declared already: left out
    { name = "zone", default = "example.com" },                     -- new: registered
  },
  new = function() return {} end }
]]):format(name))
    local said = {}
    local report = plugins.report
    plugins.report = function(msg) said[#said + 1] = msg end
    finally(function() plugins.report = report end)
    plugins.discover({ pdir }, dir .. "/no-config")
    assert.same({}, said)
    assert.equals(pdir .. "/p.lua", plugins.origin(name))
    assert.equals(42, options.by_long("--" .. name .. "-propagation-seconds").default)
    assert.equals(name, options.by_long("--" .. name .. "-zone").plugin)
    assert.equals(name, options.by_long("--" .. name).selector)
    -- a plugin that owns no declared option of that name still clashes
    write(pdir .. "/q.lua", "return { name = 'spec-thief', authenticator = true, new = function() end, "
      .. "options = { { names = { '--" .. name .. "-zone' }, dest = 'x' } } }\n")
    local other = mkdir(dir .. "/plugins-b")
    assert(os.rename(pdir .. "/q.lua", other .. "/q.lua"))
    plugins.discover({ other })
    assert.same({ ("Plugin file %s/q.lua was skipped: plugin 'spec-thief': option --%s-zone is already "
      .. "defined or malformed"):format(other, name) }, said)
  end)

  it("shows its options in --help NAME and --help all", function()
    write(pdir .. "/echo.lua", echo_plugin("spec-echo"))
    local code, out, err = run({ "--help", "spec-echo", "--plugin-dir", pdir }, { bare = true })
    assert.equals(0, code, err)
    assert.matches("\nspec%-echo:\n  Says which port it was given %(spec%-echo%)\n", out)
    assert.matches("%-%-spec%-echo%-port PORT%s+Port the spec%-echo responder would listen on%.%s+"
      .. "%(default: 8080%)", out)
    -- a plugin in <config-dir>/plugins, the config dir given after the topic
    mkdir(cfg, 448)
    mkdir(cfg .. "/plugins")
    write(cfg .. "/plugins/e.lua", echo_plugin("spec-cfghelp"))
    code, out = run({ "--help", "all", "--config-dir", cfg }, { bare = true })
    assert.equals(0, code)
    assert.matches("\nspec%-cfghelp:\n", out)
    assert.matches("%-%-spec%-cfghelp%-port PORT", out)
    -- unknown without its directory
    code, out, err = run({ "--help", "spec-echo" }, { bare = true })
    assert.equals(2, code)
    assert.matches("unknown help topic 'spec%-echo'", err)
    assert.equals("", out)
    -- --plugin-dir itself is documented under paths and plugins
    code, out = run({ "--help", "paths" }, { bare = true })
    assert.equals(0, code)
    assert.matches("%-%-plugin%-dir PLUGIN_DIR", out)
  end)

  it("--authenticators and --installers filter; --init and --prepare run the plugin", function()
    write(pdir .. "/echo.lua", echo_plugin("spec-echo"))
    write(pdir .. "/inst.lua", [[
local P = { name = "spec-inst", description = "An installer that installs nothing", installer = true }
function P.new()
  local i = {}
  for _, m in ipairs({ "names", "deploy_cert", "enhance", "supported_enhancements", "save",
    "rollback", "recovery", "config_test", "restart" }) do i[m] = function() return true end end
  i.prepare = function() return true end
  return i
end
return P
]])
    local code, out = run({ "plugins", "--installers", "--plugin-dir", pdir })
    assert.equals(0, code)
    assert.truthy(out:find("* spec-inst\nDescription: An installer that installs nothing\n"
      .. "Interfaces: Installer, Plugin\n", 1, true))
    assert.falsy(out:find("spec-echo", 1, true))
    code, out = run({ "plugins", "--authenticators", "--plugin-dir", pdir })
    assert.equals(0, code)
    assert.truthy(out:find("* spec-echo\n", 1, true))
    assert.falsy(out:find("spec-inst", 1, true))
    code, out = run({ "plugins", "--prepare", "--plugin-dir", pdir })
    assert.equals(0, code)
    assert.truthy(out:find("Entry point: spec-echo = " .. pdir .. "/echo.lua\n"
      .. "Initialized: spec-echo plugin\nPrep: Error: spec-echo: port 8080 from the default\n", 1, true), out)
    assert.truthy(out:find("Initialized: spec-inst plugin\nPrep: True\n", 1, true), out)
  end)

  it("runs plugin code with the full interpreter, not the hook sandbox", function()
    -- io and os are there: the plugin records that it ran
    write(pdir .. "/full.lua", ([[
local f = assert(io.open(%q, "w"))
f:write(os.getenv("HOME"), " ", type(require("certbot.core").sys.run))
f:close()
]]):format(dir .. "/ran") .. echo_plugin("spec-full"))
    local code = run({ "plugins", "--plugin-dir", pdir })
    assert.equals(0, code)
    assert.equals(dir .. "/home function", proc.read(dir .. "/ran"))
  end)

  it("reports a --plugin-dir that does not exist, but not a missing <config-dir>/plugins", function()
    local code, _, err = run({ "plugins", "--plugin-dir", dir .. "/nope" })
    assert.equals(0, code)
    assert.equals(("Plugin directory %s/nope: No such file or directory\n"):format(dir), err)
    code, _, err = run({ "plugins" })
    assert.equals(0, code)
    assert.equals("", err)
    write(dir .. "/file", "x")
    code, _, err = run({ "plugins", "--plugin-dir", dir .. "/file" })
    assert.equals(0, code)
    assert.equals(("Plugin directory %s/file is not a directory\n"):format(dir), err)
  end)

  it("--version reads no plugin directory at all", function()
    write(pdir .. "/boom.lua", ("local f = io.open(%q, 'w') f:write('loaded') f:close()\n")
      :format(dir .. "/loaded") .. "return 1\n")
    local code, out = run({ "--version", "--plugin-dir", pdir }, { bare = true })
    assert.equals(0, code)
    assert.matches("^certbot ", out)
    assert.is_nil(proc.read(dir .. "/loaded"))
  end)
end)
