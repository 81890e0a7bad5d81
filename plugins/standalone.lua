-- standalone: answers http-01 and tls-alpn-01 itself, from responders in
-- the C core listening on --http-01-address:--http-01-port and
-- --tls-alpn-01-address:--tls-alpn-01-port for the seconds it takes.
--
-- The challenge is chosen per name (obtain.authorize): the first type in
-- --preferred-challenges order (default: http-01, then tls-alpn-01) that
-- this plugin can do for that name and the CA offers for it.  When that
-- differs between the names of one order (a CA offering tls-alpn-01 for
-- some names only), both responders run side by side in the same run, each
-- started only if a name needs it.
--
-- IP identifiers (RFC 8738): http-01 as for a name (the validator's Host
-- header is the address, "[::1]:80" for IPv6, which the responder does not
-- look at); tls-alpn-01 with the §6 differences: the validator sends the
-- address's reverse-mapping name as SNI ("1.0.0.127.in-addr.arpa",
-- names.reverse_name) and the challenge certificate's one SAN is the
-- iPAddress.
local core = require("certbot.core")
local names = require("certbot.names")
local log = require("certbot.log")

local crypto = core.crypto

-- id-pe-acmeIdentifier (RFC 8737 §3)
local ACME_IDENTIFIER_OID = "1.3.6.1.5.5.7.1.31"

-- Seconds a client may hold a connection to a responder before it is
-- dropped (slow or idle clients; Certbot allows 30 too, certbot #7388).
local CONNECTION_TIMEOUT = 30

local P = {
  name = "standalone",
  description = "Answers the CA itself: an HTTP server for http-01 serving the validation "
    .. "files under /.well-known/acme-challenge/, and a TLS server for tls-alpn-01.",
  authenticator = true,
}

local Inst = {}
Inst.__index = Inst

function P.new(config)
  return setmetatable({ config = config }, Inst)
end

function Inst.prepare() return true end

-- http-01 first, as Certbot prefers it; both for names and IP addresses.
function Inst.challenge_preferences()
  return { "http-01", "tls-alpn-01" }
end

local function address_of(v)
  if v == "" then return nil end
  return v
end

-- "[::]:80", "127.0.0.1:5002": what a responder is bound to
local function where(r)
  local addr, port = r:address()
  if not addr then return "?" end
  return (addr:find(":", 1, true) and "[%s]:%d" or "%s:%d"):format(addr, port)
end

function Inst:start_http01()
  if self.responder then return true end
  local r, err = core.standalone.http01({
    address = address_of(self.config.http01_address),
    port = tonumber(self.config.http01_port) or 80,
    timeout = CONNECTION_TIMEOUT,
  })
  if not r then return nil, err end
  log.info("Listening for http-01 on %s", where(r))
  self.responder = r
  return true
end

function Inst:start_tlsalpn01()
  if self.tls_responder then return true end
  local r, err = core.standalone.tlsalpn01({
    address = address_of(self.config.tls_alpn01_address),
    port = tonumber(self.config.tls_alpn01_port) or 443,
    timeout = CONNECTION_TIMEOUT,
  })
  if not r then return nil, err end
  log.info("Listening for tls-alpn-01 on %s", where(r))
  self.tls_responder = r
  return true
end

-- challenge_cert(identifier, key_authorization) -> cert DER, key | nil, err
-- The RFC 8737 §3 validation certificate: self-signed, exactly one SAN
-- (the identifier: a dNSName, or for an IP identifier the iPAddress, RFC
-- 8738 §6) and the critical acmeIdentifier extension holding OCTET STRING
-- (SIZE(32)) SHA-256(key authorization).  identifier: { type = "dns"|"ip",
-- value = ... }, or a plain DNS name.
function P.challenge_cert(identifier, key_authorization)
  if type(identifier) ~= "table" then identifier = { type = "dns", value = identifier } end
  local key, kerr = crypto.generate_key("ec", "P-256")
  if not key then return nil, kerr end
  local der, err = crypto.self_signed_cert(key, { { type = identifier.type, value = identifier.value } }, {
    days = 7,
    extensions = { { oid = ACME_IDENTIFIER_OID, critical = true,
      der = "\4\32" .. crypto.sha256(key_authorization) } },
  })
  if not der then return nil, err end
  return der, key
end

-- The identifier of a challenge ({type, value}) and the SNI name the
-- validator sends for it: the name itself, or an address's reverse name.
-- -> identifier, sni | nil, err
function P.tls_alpn_target(ch)
  local id = type(ch.identifier) == "table" and ch.identifier or { type = "dns", value = ch.domain }
  if id.type == "ip" then
    local ip, err = names.ip_address(id.value)
    if not ip then return nil, err end
    return { type = "ip", value = ip }, names.reverse_name(ip)
  end
  local name = tostring(id.value):lower()
  return { type = "dns", value = name }, name
end

function Inst:perform(challenges)
  for _, ch in ipairs(challenges) do
    local token, terr = names.token(ch.token)
    if not token then return nil, terr end
    if ch.type == "tls-alpn-01" then
      local ok, err = self:start_tlsalpn01()
      if not ok then return nil, err end
      local id, sni = P.tls_alpn_target(ch)
      if not id then return nil, sni end
      local der, key = P.challenge_cert(id, ch.key_authorization)
      if not der then return nil, key end
      ok, err = self.tls_responder:set(sni, der, key)
      if not ok then return nil, err end
    else
      local ok, err = self:start_http01()
      if not ok then return nil, err end
      ok, err = self.responder:set(token, ch.key_authorization)
      if not ok then return nil, err end
    end
  end
  return true
end

function Inst:cleanup(challenges)
  for _, ch in ipairs(challenges) do
    if ch.type == "tls-alpn-01" then
      local id, sni = P.tls_alpn_target(ch)
      if self.tls_responder and id then self.tls_responder:remove(sni) end
    elseif self.responder and names.token(ch.token) then
      self.responder:remove(ch.token)
    end
  end
  if self.responder then self.responder:stop() end
  if self.tls_responder then self.tls_responder:stop() end
  self.responder, self.tls_responder = nil, nil
end

return P
