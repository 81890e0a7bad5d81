-- install: put a certificate Certbot already has (--cert-name) or any
-- certificate and key (--cert-path, --key-path, --fullchain-path,
-- --chain-path) into a server through an installer, with the enhancements
-- asked for.  Nothing is requested from the CA.

local core = require("certbot.core")
local errors = require("certbot.errors")
local installer = require("certbot.installer")
local names = require("certbot.names")
local obtain = require("certbot.obtain")
local storage = require("certbot.storage")

local M = {}

local function fail(msg, code) errors.raise(msg, code or 1) end

-- The names in a certificate file (for --cert-path without -d).
local function cert_names(path)
  local pem, err = core.sys.read_file(path, 1 << 20)
  if not pem then fail(("Unable to read the certificate %s: %s"):format(path, err)) end
  local info, perr = core.crypto.parse_cert(pem)
  if not info then fail(("%s: %s"):format(path, perr)) end
  return info.dns or {}
end

local function check_file(what, path)
  local st = core.sys.stat(path)
  if not st or st.type ~= "file" then fail(("%s %s does not exist or is not a file"):format(what, path)) end
end

function M.run(config)
  if config.certname then
    local ok, err = names.cert_name(config.certname)
    if not ok then fail(err, 2) end
  elseif not (config.cert_path and config.key_path) then
    fail("Either --cert-name, or --cert-path and --key-path together, must name the "
      .. "certificate to install.", 2)
  end
  installer.select(config, "Which installer would you like to use?")
  local ctx = obtain.context(config)
  local paths, domains
  if config.certname then
    local lineage = storage.load(ctx.backend, config.certname)
    if not lineage then
      fail(("No certificate found with name %s (expected %s)."):format(config.certname,
        ctx.backend:conf_path(config.certname)))
    end
    paths, domains = lineage.paths, obtain.lineage_domains(lineage)
  else
    check_file("The certificate", config.cert_path)
    check_file("The key", config.key_path)
    for _, k in ipairs({ "fullchain_path", "chain_path" }) do
      if config[k] then check_file("The " .. k:gsub("_path$", ""), config[k]) end
    end
    paths = { cert = config.cert_path, privkey = config.key_path,
      fullchain = config.fullchain_path, chain = config.chain_path }
    domains = cert_names(config.cert_path)
  end
  if config.domains and #config.domains > 0 then
    local list, err = names.domains(config.domains)
    if not list then fail(err) end
    domains = list
  end
  if #domains == 0 then fail("No names to install the certificate for: give them with -d.") end
  installer.deploy(config, paths, domains, { enhance = true, verb = "install", congratulate = true })
  return 0
end

return M
