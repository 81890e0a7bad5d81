-- manual: the user (or their hook scripts) performs the challenges.
-- --manual-auth-hook runs once per challenge; --manual-cleanup-hook gets the
-- same environment plus CERTBOT_AUTH_OUTPUT (what the auth hook printed).
-- Every challenge: CERTBOT_DOMAIN, CERTBOT_REMAINING_CHALLENGES,
-- CERTBOT_ALL_DOMAINS.  http-01 and dns-01: CERTBOT_VALIDATION;
-- http-01: CERTBOT_TOKEN.  tls-alpn-01 (where the user guide has its TLS
-- challenge): CERTBOT_CERT_PATH and CERTBOT_KEY_PATH, the challenge
-- certificate and its key (PEM files, 0600, in a 0700 directory of their
-- own under the work dir, removed at cleanup), and CERTBOT_SNI_DOMAIN, the
-- server name the CA asks for with ALPN "acme-tls/1".
local core = require("certbot.core")
local names = require("certbot.names")
local display = require("certbot.display")
local hooks = require("certbot.hooks")
local log = require("certbot.log")
local standalone = require("certbot.plugins.standalone")

local sys, crypto = core.sys, core.crypto

local P = {
  name = "manual",
  description = "Authenticate through manual configuration or custom shell scripts. When "
    .. "using shell scripts, an authenticator script must be provided. The environment "
    .. "variables available to this script depend on the type of challenge.",
  authenticator = true,
}

local Inst = {}
Inst.__index = Inst

function P.new(config)
  return setmetatable({ config = config, outputs = {}, tls_files = {} }, Inst)
end

function Inst:prepare()
  if not display.interactive and not self.config.manual_auth_hook then
    return nil, "An authentication script must be provided with --manual-auth-hook when "
      .. "using the manual plugin non-interactively."
  end
  return true
end

-- http-01 and dns-01 first, as Certbot has them; tls-alpn-01 when asked
-- for (--preferred-challenges tls-alpn) or when it is all the CA offers.
-- Like standalone, tls-alpn-01 only for DNS names (an IP identifier would
-- need the reverse-mapping SNI name and an iPAddress SAN).
function Inst.challenge_preferences(_, identifier)
  if identifier and identifier.type == "ip" then return { "http-01" } end
  return { "http-01", "dns-01", "tls-alpn-01" }
end

local function env_for(ch, remaining, all_domains, tls)
  local env = {
    CERTBOT_DOMAIN = ch.domain,
    CERTBOT_REMAINING_CHALLENGES = tostring(remaining),
    CERTBOT_ALL_DOMAINS = all_domains,
  }
  if ch.type == "dns-01" then
    env.CERTBOT_VALIDATION = ch.validation
  elseif ch.type == "http-01" then
    env.CERTBOT_VALIDATION = ch.key_authorization
    env.CERTBOT_TOKEN = ch.token
  elseif ch.type == "tls-alpn-01" and tls then
    env.CERTBOT_CERT_PATH = tls.cert
    env.CERTBOT_KEY_PATH = tls.key
    env.CERTBOT_SNI_DOMAIN = tls.sni
  end
  return env
end

local function all_domains(challenges)
  local seen, list = {}, {}
  for _, ch in ipairs(challenges) do
    if not seen[ch.domain] then
      seen[ch.domain] = true
      list[#list + 1] = ch.domain
    end
  end
  return table.concat(list, ",")
end

-- A fresh 0700 directory under the work dir for this run's challenge
-- certificates and keys.
function Inst:tls_dir()
  if self.tls_dir_path then return self.tls_dir_path end
  local base = self.config.work_dir
  if type(base) ~= "string" or base == "" then return nil, "manual: no work directory" end
  for _ = 1, 5 do
    local rnd = crypto.random_bytes(8):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
    local dir = base .. "/manual-tls-alpn-01-" .. rnd
    local ok, err = sys.mkdir(dir, 448)
    if not ok then return nil, ("Unable to create %s: %s"):format(dir, tostring(err)) end
    if err ~= "exists" then
      self.tls_dir_path = dir
      return dir
    end
  end
  return nil, "Unable to create a directory for the tls-alpn-01 challenge under " .. base
end

-- Write the RFC 8737 challenge certificate (the one standalone serves) and
-- its key for challenge i.  -> { cert=, key=, sni= } | nil, err
function Inst:write_tls_files(i, ch)
  local dir, derr = self:tls_dir()
  if not dir then return nil, derr end
  -- the name comes from the CA: it goes into a file name only when it is
  -- a plain host name
  local domain = type(ch.domain) == "string" and ch.domain:lower() or ""
  if #domain > 253 or not domain:match("^[%w_][%w_%-%.]*$") or domain:find("..", 1, true)
    or domain:sub(-1) == "." then
    return nil, ("invalid name for tls-alpn-01: '%s'"):format(tostring(ch.domain))
  end
  local der, key = standalone.challenge_cert(domain, ch.key_authorization)
  if not der then return nil, key end
  local files = { cert = ("%s/%d-%s.crt"):format(dir, i, domain),
    key = ("%s/%d-%s.key"):format(dir, i, domain), sni = domain }
  self.tls_files[i] = files
  local pem, perr = key:pem()
  if not pem then return nil, perr end
  local ok, err = sys.write_atomic(files.key, pem, 384)
  if ok then ok, err = sys.write_atomic(files.cert, crypto.der_to_pem(der, "CERTIFICATE"), 384) end
  if not ok then return nil, ("Unable to write the tls-alpn-01 challenge files: %s"):format(err) end
  return files
end

local function tls_instructions(ch, files)
  return ("Configure the TLS server that answers for %s on port 443 to present the "
    .. "certificate\n\n%s\n\nwith the private key\n\n%s\n\nto a client that asks for the server "
    .. "name %s with the ALPN protocol \"acme-tls/1\" (and to select that protocol). The "
    .. "files are removed when validation is over.\n"):format(ch.domain, files.cert, files.key,
    files.sni)
end

function Inst:perform(challenges)
  local all = all_domains(challenges)
  for i, ch in ipairs(challenges) do
    local token, terr = names.token(ch.token)
    if not token then return nil, terr end
    local tls
    if ch.type == "tls-alpn-01" then
      local err
      tls, err = self:write_tls_files(i, ch)
      if not tls then return nil, err end
    end
    local env = env_for(ch, #challenges - i, all, tls)
    if self.config.manual_auth_hook then
      local _, out = hooks.run("manual-auth-hook", self.config.manual_auth_hook, env)
      -- a failing hook is reported; validation goes on and the CA decides
      self.outputs[i] = (out or ""):gsub("\n$", "")
    elseif ch.type == "dns-01" then
      display.pause(("Please deploy a DNS TXT record under the name:\n\n_acme-challenge.%s.\n\n"
        .. "with the following value:\n\n%s\n"):format(ch.domain, ch.validation))
    elseif ch.type == "tls-alpn-01" then
      display.pause(tls_instructions(ch, tls))
    else
      display.pause(("Create a file containing just this data:\n\n%s\n\nAnd make it available "
        .. "on your web server at this URL:\n\nhttp://%s/.well-known/acme-challenge/%s\n")
        :format(ch.key_authorization, ch.domain, ch.token))
    end
  end
  return true
end

-- Remove this run's challenge certificates and keys and their directory.
function Inst:remove_tls_files()
  for i, files in pairs(self.tls_files) do
    for _, path in ipairs({ files.key, files.cert }) do
      if sys.lstat(path) then
        local ok, err = sys.unlink(path)
        if not ok then log.warning("could not remove %s: %s", path, tostring(err)) end
      end
    end
    self.tls_files[i] = nil
  end
  if self.tls_dir_path then
    local ok, err = sys.rmdir(self.tls_dir_path)
    if not ok then log.warning("could not remove %s: %s", self.tls_dir_path, tostring(err)) end
    self.tls_dir_path = nil
  end
end

function Inst:cleanup(challenges)
  if self.config.manual_cleanup_hook then
    local all = all_domains(challenges)
    for i, ch in ipairs(challenges) do
      if names.token(ch.token) then
        local env = env_for(ch, #challenges - i, all, self.tls_files[i])
        env.CERTBOT_AUTH_OUTPUT = self.outputs[i] or ""
        hooks.run("manual-cleanup-hook", self.config.manual_cleanup_hook, env)
      end
    end
  end
  self:remove_tls_files()
end

return P
