-- revoke: revoke a certificate named by --cert-path or --cert-name, signed
-- by the account key (kid) or, with --key-path, by the certificate's own
-- key (jwk).  A revoked lineage is then deleted (asked; yes under -n) or
-- kept (--no-delete-after-revoke), as `certbot delete` removes one.

local core = require("certbot.core")
local display = require("certbot.display")
local errors = require("certbot.errors")
local log = require("certbot.log")
local names = require("certbot.names")
local obtain = require("certbot.obtain")
local storage = require("certbot.storage")

local crypto, sys = core.crypto, core.sys

local M = {}

local MAX_FILE = 1 << 20

local function fail(msg, code) errors.raise(msg, code or 1) end

-- The lineage named by --cert-name, or a clear error.
local function lineage_by_name(backend, name)
  local valid, verr = names.cert_name(name)
  if not valid then fail(verr, 2) end
  local l, err = storage.load(backend, name)
  if l then return l end
  if not sys.lstat(backend:conf_path(name)) then
    fail(("No certificate found with name %s (expected %s)."):format(name, backend:conf_path(name)))
  end
  fail(err)
end

-- The lineage whose certificate --cert-path names: its live cert.pem or
-- fullchain.pem, or one of its archived certN.pem / fullchainN.pem.
-- -> lineage | nil (a certificate Certbot does not manage)
function M.lineage_for_path(backend, path)
  local real = sys.realpath(path)
  if not real then return nil end
  local found = storage.all(backend)
  for _, l in ipairs(found.lineages) do
    for _, k in ipairs({ "cert", "fullchain" }) do
      if sys.realpath(l.paths[k]) == real then return l end
    end
    local adir = sys.realpath(backend:archive_dir(l.name))
    local dir, base = real:match("^(.*)/([^/]+)$")
    if adir and dir == adir and (base:match("^cert%d+%.pem$") or base:match("^fullchain%d+%.pem$")) then
      return l
    end
  end
  return nil
end

-- The first certificate in a PEM file (cert.pem or fullchain.pem), as DER.
local function read_cert(path)
  local text, err = sys.read_file(path, MAX_FILE)
  if not text then fail(("Unable to read the certificate at %s: %s"):format(path, err)) end
  local first = (crypto.split_pem(text) or {})[1]
  local der = first and crypto.pem_to_der(first, "CERTIFICATE")
  if not der or not crypto.parse_cert(der) then
    fail(("%s does not contain a PEM certificate"):format(path))
  end
  return der
end

-- The certificate's private key from --key-path, checked against it.
local function read_key(key_path, cert_path, der)
  local text, err = sys.read_file(key_path, MAX_FILE)
  if not text then fail(("Unable to read the private key at %s: %s"):format(key_path, err)) end
  local key, kerr = crypto.load_key(text)
  if not key then fail(("Unable to load the private key at %s: %s"):format(key_path, kerr)) end
  if not key:info().private then
    fail(("%s holds a public key; revoking with --key-path needs the certificate's private key")
      :format(key_path))
  end
  local match, merr = crypto.cert_matches_key(der, key)
  if not match then
    fail(("verifying the certificate located at %s matches the private key located at %s has "
      .. "failed. Details: %s"):format(cert_path, key_path, merr or "key values mismatch"))
  end
  return key
end

-- Certbot asks (default yes; -n takes the default) unless
-- --delete-after-revoke / --no-delete-after-revoke answered already.
local function delete_if_wanted(ctx, lineage)
  local want = ctx.config.delete_after_revoke
  if want == nil then
    want = display.yesno("Would you like to delete the certificate(s) you just revoked, along with "
      .. "all earlier and later versions of the certificate?",
      { yes_label = "Yes (recommended)", no_label = "No", default = true })
  end
  if not want then
    log.info("keeping the revoked lineage %s", lineage.name)
    return
  end
  local ok, err = storage.delete_lineage(ctx.backend, lineage.name)
  if not ok then
    fail(("The certificate was revoked, but deleting %s failed: %s"):format(lineage.name, err))
  end
  display.notify(("Deleted all files relating to certificate %s."):format(lineage.name))
end

function M.run(config)
  display.setup(config)
  -- Both together could name two different certificates: refused, as Certbot does.
  if (config.cert_path == nil) == (config.certname == nil) then
    fail("Error! Exactly one of --cert-path or --cert-name must be specified!")
  end
  local ctx = obtain.context(config)
  local lineage, cert_path
  if config.certname then
    lineage = lineage_by_name(ctx.backend, config.certname)
    cert_path = lineage.paths.cert
    -- the lineage's CA, unless --server (or cli.ini) says otherwise
    local server = lineage.params.server
    if type(server) == "string" and server ~= "" and not config:set_by_user("server") then
      config:set("server", server, "renewal", lineage.conf_path)
    end
  else
    cert_path = config.cert_path
  end
  local der = read_cert(cert_path)
  local reason = math.tointeger(tonumber(config.reason) or 0) or 0

  local client, key
  if config.key_path then
    log.debug("Revoking %s using certificate key %s", cert_path, config.key_path)
    key = read_key(config.key_path, cert_path, der)
    client = obtain.client(ctx, { no_account = true })
  else
    log.debug("Revoking %s using the account key", cert_path)
    client = obtain.client(ctx)
  end
  log.debug("Reason code for revocation: %d", reason)
  local ok, err = client:revoke(der, reason, key)
  if not ok then
    fail(("Unable to revoke the certificate at %s: %s"):format(cert_path, tostring(err)))
  end
  log.info("revoked %s (reason %d)", cert_path, reason)

  if not lineage then lineage = M.lineage_for_path(ctx.backend, cert_path) end
  if lineage then delete_if_wanted(ctx, lineage) end
  display.notify(("Congratulations! You have successfully revoked the certificate that was "
    .. "located at %s."):format(cert_path))
  return 0
end

return M
