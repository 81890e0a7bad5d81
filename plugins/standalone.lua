-- standalone: answers http-01 and tls-alpn-01 itself, from responders in
-- the C core listening on --http-01-address:--http-01-port and
-- --tls-alpn-01-address:--tls-alpn-01-port for the seconds it takes.
--
-- The challenge is chosen per name (obtain.authorize): the first type in
-- --preferred-challenges order (default: http-01, then tls-alpn-01) that
-- this plugin can do for that name and the CA offers for it.  When that
-- differs between the names of one order (a CA offering tls-alpn-01 for
-- some names only; an IP address, which gets http-01 here), both responders
-- run side by side in the same run, each started only if a name needs it.
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

-- http-01 first, as Certbot prefers it.  tls-alpn-01 is offered for DNS
-- names only: an IP identifier (RFC 8738) would need the reverse-mapping
-- SNI name and an iPAddress SAN, which this plugin does not do.
function Inst.challenge_preferences(_, identifier)
  if identifier and identifier.type == "ip" then return { "http-01" } end
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

-- challenge_cert(domain, key_authorization) -> cert DER, key | nil, err
-- The RFC 8737 §3 validation certificate: self-signed, exactly one SAN
-- (the identifier) and the critical acmeIdentifier extension holding
-- OCTET STRING (SIZE(32)) SHA-256(key authorization).
function P.challenge_cert(domain, key_authorization)
  local key, kerr = crypto.generate_key("ec", "P-256")
  if not key then return nil, kerr end
  local der, err = crypto.self_signed_cert(key, { { type = "dns", value = domain } }, {
    days = 7,
    extensions = { { oid = ACME_IDENTIFIER_OID, critical = true,
      der = "\4\32" .. crypto.sha256(key_authorization) } },
  })
  if not der then return nil, err end
  return der, key
end

function Inst:perform(challenges)
  for _, ch in ipairs(challenges) do
    local token, terr = names.token(ch.token)
    if not token then return nil, terr end
    if ch.type == "tls-alpn-01" then
      local ok, err = self:start_tlsalpn01()
      if not ok then return nil, err end
      local domain = ch.domain:lower()
      local der, key = P.challenge_cert(domain, ch.key_authorization)
      if not der then return nil, key end
      ok, err = self.tls_responder:set(domain, der, key)
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
      if self.tls_responder and type(ch.domain) == "string" then
        self.tls_responder:remove(ch.domain:lower())
      end
    elseif self.responder and names.token(ch.token) then
      self.responder:remove(ch.token)
    end
  end
  if self.responder then self.responder:stop() end
  if self.tls_responder then self.tls_responder:stop() end
  self.responder, self.tls_responder = nil, nil
end

return P
