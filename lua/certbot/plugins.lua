-- plugins: finding plugins by name and checking they have the interface.
--
-- A plugin is a Lua module returning a table:
--   { name = "webroot", description = "...", authenticator = true|nil,
--     installer = true|nil, new = function(config) -> instance }
-- An authenticator instance has prepare(), challenge_preferences(identifier),
-- perform(challenges) -> true | nil, err, and cleanup(challenges).
-- An installer instance has the methods listed in INSTALLER below.

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

-- load(name) -> plugin module | nil, err
function M.load(name)
  if type(name) ~= "string" or not name:match("^[%w][%w_-]*$") then
    return nil, ("invalid plugin name '%s'"):format(tostring(name))
  end
  local modname = M.BUILTIN[name]
  if not modname then
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
  if not mod then return nil, err end
  if not mod[role] then
    return nil, ("The %s plugin is not an %s"):format(name, role)
  end
  local inst = mod.new(config)
  return check_methods(inst, name, role, role == "authenticator" and AUTHENTICATOR or INSTALLER)
end

return M
