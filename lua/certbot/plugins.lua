-- plugins: finding plugins by name and checking they have the interface.
--
-- A plugin is a Lua module returning a table:
--   { name = "webroot", description = "...", authenticator = true|nil,
--     installer = true|nil, new = function(config) -> instance }
-- An authenticator instance has prepare(), challenge_preferences(identifier),
-- perform(challenges) -> true | nil, err, and cleanup(challenges).
-- An installer instance has the methods listed in INSTALLER below.
--
-- Third-party plugins are Lua files an administrator puts in a plugin
-- directory: every --plugin-dir DIR (in the order given), then
-- <config-dir>/plugins.  Each *.lua file there returns such a table, plus
-- `options`, the specs its options join the option table with
-- (options.register).  They run with the full interpreter, like the pip
-- plugins of Certbot: they are code the administrator chose to install,
-- not hooks.  So a directory or file anyone but its owner may write is
-- refused, and so is one not owned by root (or, without root, by us or
-- root).  A broken file is reported and skipped; the others still load.
-- docs/plugins.md describes the interface.

local M = {}

-- Built-in plugins: name -> module.  (dns-* and the webserver plugins join
-- as they are written.)
M.BUILTIN = {
  standalone = "certbot.plugins.standalone",
  webroot = "certbot.plugins.webroot",
  manual = "certbot.plugins.manual",
  null = "certbot.plugins.null",
  apache = "certbot.plugins.apache",
  nginx = "certbot.plugins.nginx",
  ["dns-cloudflare"] = "certbot.plugins.dns.cloudflare",
  ["dns-cloudxns"] = "certbot.plugins.dns.cloudxns",
  ["dns-digitalocean"] = "certbot.plugins.dns.digitalocean",
  ["dns-dnsimple"] = "certbot.plugins.dns.dnsimple",
  ["dns-google"] = "certbot.plugins.dns.google",
  ["dns-linode"] = "certbot.plugins.dns.linode",
  ["dns-luadns"] = "certbot.plugins.dns.luadns",
  ["dns-nsone"] = "certbot.plugins.dns.nsone",
  ["dns-route53"] = "certbot.plugins.dns.route53",
  ["dns-rfc2136"] = "certbot.plugins.dns.rfc2136",
}

local AUTHENTICATOR = { "prepare", "challenge_preferences", "perform", "cleanup" }
local INSTALLER = { "names", "deploy_cert", "enhance", "supported_enhancements", "save",
  "rollback", "recovery", "config_test", "restart" }

------------------------------------------------------------------------
-- Third-party plugins
------------------------------------------------------------------------

-- name -> { module = the plugin table, path = its file, dir = its directory }
M.THIRD = {}
-- The one-line messages discovery gave (refused and broken files), in order.
M.problems = {}

-- How discovery tells the user.  It runs while the command line is read,
-- before the log or the display are set up: standard error.
function M.report(msg)
  io.stderr:write(msg, "\n")
end

local scanned = {} -- directory -> true: each is read once per run

local function problem(fmt, ...)
  local msg = fmt:format(...)
  M.problems[#M.problems + 1] = msg
  M.report(msg)
  return nil, msg
end

local function first_line(s)
  return (tostring(s):match("^[^\n]*"))
end

local function sys() return require("certbot.core").sys end

local GROUP_OTHER_WRITE = 18 -- 0022

-- trusted(path, st, what) -> true | nil (reported): nobody but root (or,
-- when we are not root, we) can have written it.
local function trusted(path, st, what)
  if st.mode & GROUP_OTHER_WRITE ~= 0 then
    return problem("Refusing plugin %s %s: it is writable by group or others (mode %04o); "
      .. "remove that with chmod go-w", what, path, st.mode)
  end
  local uid = sys().getuid()
  if st.uid ~= 0 and (uid == 0 or st.uid ~= uid) then
    return problem("Refusing plugin %s %s: it is owned by uid %d, not by root%s", what, path,
      st.uid, uid == 0 and "" or (" or uid " .. uid))
  end
  return true
end

-- check_table(p) -> true | nil, why
local function check_table(p)
  if type(p) ~= "table" then
    return nil, ("it returned %s, not a plugin table"):format(type(p))
  end
  if type(p.name) ~= "string" or not p.name:match("^[%w][%w_-]*$") then
    return nil, ("its name %s is not a word of letters, digits, '-' and '_'"):format(
      type(p.name) == "string" and ("'" .. p.name .. "'") or tostring(p.name))
  end
  if p.description ~= nil and type(p.description) ~= "string" then
    return nil, "its description is not a string"
  end
  if not p.authenticator and not p.installer then
    return nil, "it is neither an authenticator nor an installer "
      .. "(set authenticator = true and/or installer = true)"
  end
  if type(p.new) ~= "function" then return nil, "it has no new(config) function" end
  if p.options ~= nil then
    if type(p.options) ~= "table" then return nil, "its options are not a list of option specs" end
    for i, o in ipairs(p.options) do
      if type(o) ~= "table" then return nil, ("its option #%d is not a table"):format(i) end
    end
  end
  return true
end

-- The option specs of plugin `name` that are not declared yet.  When the
-- option table already declares options for a plugin this build does not
-- ship (options.lua may list a guide plugin before its code exists), a
-- third-party file of that name gets those, and its own specs of the same
-- names are left out rather than clash.
local function new_specs(name, specs)
  local options = require("certbot.options")
  local out = {}
  for _, s in ipairs(specs or {}) do
    local declared = false
    for _, n in ipairs(s.names or { "--" .. name .. "-" .. tostring(s.name) }) do
      local e = type(n) == "string" and n:sub(1, 2) == "--" and options.by_long(n)
      if e and e.plugin == name then declared = true end
    end
    if not declared then out[#out + 1] = s end
  end
  return out
end

local function load_file(path, dir)
  local chunk, err = loadfile(path, "t")
  if not chunk then return problem("Plugin file %s is broken and was skipped: %s", path, first_line(err)) end
  local ok, p = pcall(chunk, (path:match("([^/]+)%.lua$")), path)
  if not ok then return problem("Plugin file %s is broken and was skipped: %s", path, first_line(p)) end
  local good, why = check_table(p)
  if not good then return problem("Plugin file %s is broken and was skipped: %s", path, why) end
  if M.BUILTIN[p.name] then
    return problem("Plugin file %s was skipped: '%s' is the name of a built-in plugin", path, p.name)
  end
  if M.THIRD[p.name] then
    return problem("Plugin file %s was skipped: a plugin named '%s' was already loaded from %s",
      path, p.name, M.THIRD[p.name].path)
  end
  local rok, rerr = require("certbot.options").register(p.name, new_specs(p.name, p.options),
    { title = p.name, description = p.description })
  if not rok then return problem("Plugin file %s was skipped: %s", path, rerr) end
  M.THIRD[p.name] = { module = p, path = path, dir = dir }
  return true
end

-- scan_dir(dir, explicit): load every *.lua file of dir, in name order.  A
-- missing directory is silent unless the user named it (explicit).
function M.scan_dir(dir, explicit)
  if #dir > 1 then dir = dir:gsub("/+$", "") end
  if scanned[dir] then return end
  scanned[dir] = true
  local s = sys()
  local st, err, code = s.stat(dir)
  if not st then
    if code == 2 and not explicit then return end -- ENOENT
    return problem("Plugin directory %s", err)
  end
  if st.type ~= "directory" then return problem("Plugin directory %s is not a directory", dir) end
  if not trusted(dir, st, "directory") then return end
  local list, lerr = s.listdir(dir)
  if not list then return problem("Plugin directory %s", lerr) end
  for _, n in ipairs(list) do
    if n:match("^[^.].*%.lua$") then
      local path = dir .. "/" .. n
      local fst, ferr = s.stat(path)
      if not fst then
        problem("Plugin file %s", ferr)
      elseif fst.type == "file" and trusted(path, fst, "file") then
        load_file(path, dir)
      end
    end
  end
end

-- discover(plugin_dirs, config_dir): the --plugin-dir directories (a list,
-- or one string as a renewal conf may hold it), then <config_dir>/plugins.
function M.discover(plugin_dirs, config_dir)
  if type(plugin_dirs) == "string" then plugin_dirs = { plugin_dirs } end
  if type(plugin_dirs) == "table" then
    for _, d in ipairs(plugin_dirs) do
      if type(d) == "string" and d ~= "" then M.scan_dir(d, true) end
    end
  end
  if type(config_dir) == "string" and config_dir ~= "" then
    M.scan_dir(config_dir .. "/plugins", false)
  end
end

-- names() -> every plugin name, built-in and third-party, sorted.
function M.names()
  local list = {}
  for name in pairs(M.BUILTIN) do list[#list + 1] = name end
  for name in pairs(M.THIRD) do list[#list + 1] = name end
  table.sort(list)
  return list
end

-- origin(name) -> the module of a built-in plugin, the file of a
-- third-party one, or nil.
function M.origin(name)
  if M.BUILTIN[name] then return M.BUILTIN[name] end
  return M.THIRD[name] and M.THIRD[name].path
end

local function copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return t
end

-- A plugin found after the command line was read (the --plugin-dir a
-- renewal conf stores) has no defaults in the config yet.
local function fill_defaults(name, config)
  for _, e in ipairs(require("certbot.options").list) do
    if e.plugin == name and e.dest and not e.noop and rawget(config, e.dest) == nil then
      local def = e.default
      if def == nil and (e.type == "list" or e.type == "append_const") then def = {} end
      if def == nil and e.type == "flag" then def = false end
      if def == nil and e.type == "flag_false" then def = true end
      if def ~= nil then rawset(config, e.dest, copy(def)) end
    end
  end
end

-- load(name) -> plugin module | nil, err
function M.load(name)
  if type(name) ~= "string" or not name:match("^[%w][%w_-]*$") then
    return nil, ("invalid plugin name '%s'"):format(tostring(name))
  end
  local modname = M.BUILTIN[name]
  if not modname then
    local third = M.THIRD[name]
    if third then return third.module end
    return nil, ("The requested %s plugin does not appear to be installed"):format(name)
  end
  local ok, mod = pcall(require, modname)
  if not ok then return nil, ("plugin '%s' (%s) failed to load: %s"):format(name, modname, mod) end
  if type(mod) ~= "table" or type(mod.new) ~= "function" then
    return nil, ("plugin '%s' (%s) does not return a plugin table"):format(name, modname)
  end
  return mod
end

local function check_methods(inst, name, role, methods)
  for _, m in ipairs(methods) do
    if type(inst[m]) ~= "function" then
      return nil, ("plugin '%s' lacks %s() needed by an %s"):format(name, m, role)
    end
  end
  return inst
end

-- instance(name, role, config) -> instance | nil, err
function M.instance(name, role, config)
  local mod, err = M.load(name)
  if not mod and type(config) == "table" and type(name) == "string" and M.BUILTIN[name] == nil then
    M.discover(rawget(config, "plugin_dir"), rawget(config, "config_dir"))
    mod = M.load(name)
  end
  if not mod then return nil, err end
  if M.THIRD[name] and type(config) == "table" then fill_defaults(name, config) end
  if not mod[role] then
    return nil, ("The %s plugin is not an %s"):format(name, role)
  end
  local inst = mod.new(config)
  return check_methods(inst, name, role, role == "authenticator" and AUTHENTICATOR or INSTALLER)
end

return M
