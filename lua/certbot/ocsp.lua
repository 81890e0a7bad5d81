-- ocsp: is a certificate revoked?  Certbot's check: ask the OCSP
-- responder the certificate names (its Authority Information Access,
-- id-ad-ocsp) about it, with its issuer (the first certificate of
-- chain.pem), over plain HTTP POST with a 10 second timeout.
--
-- Only a verified "revoked" answer counts.  Anything else (no URL, no
-- answer, an HTTP error, a bad signature, a stale or malformed response,
-- "unknown") is "not revoked", and the reason goes to the log: a
-- responder that is down must never make every lineage renew.
--
-- Most certificates name no responder: Let's Encrypt stopped putting OCSP
-- URLs in its certificates in 2025 (2025-05-07; its responders went dark
-- that August).  So the first step is a scan of the
-- DER for the id-ad-ocsp OID (core.ocsp.has_url, or string.find on DER we
-- already hold), and a certificate without it costs no X.509 parse, no
-- chain read and no HTTP client.

local core = require("certbot.core")

local coreocsp = core.ocsp

local M = {}

-- id-ad-ocsp (1.3.6.1.5.5.7.48.1) as a whole OBJECT IDENTIFIER TLV
M.OID_TLV = "\x06\x08\x2b\x06\x01\x05\x05\x07\x30\x01"

M.TIMEOUT = 10       -- seconds, as Certbot
M.CLOCK_SKEW = 300   -- seconds of clock skew allowed on thisUpdate/nextUpdate
M.MAX_RESPONSE = 64 * 1024

-- may_have_url(cert) -> false when cert (PEM or DER) surely names no OCSP
-- responder.  No parse: a scan for the OID.
function M.may_have_url(cert)
  if type(cert) ~= "string" then return false end
  if cert:byte(1) == 0x30 then return cert:find(M.OID_TLV, 1, true) ~= nil end
  return coreocsp.has_url(cert)
end

-- A client for OCSP requests: http:// allowed (responders rarely speak
-- TLS, and the response is signed anyway).
-- An https:// responder is verified against REQUESTS_CA_BUNDLE when set,
-- as Certbot's requests does, else the system's CAs.
function M.client(opts)
  opts = opts or {}
  local timeout = opts.timeout or M.TIMEOUT
  local ca = opts.ca_file or os.getenv("REQUESTS_CA_BUNDLE")
  if ca == "" then ca = nil end
  return core.http.new({ https_only = false, timeout = timeout, connect_timeout = timeout,
    max_body = M.MAX_RESPONSE, ca_file = ca, user_agent = opts.user_agent })
end

local function when(t)
  return t and os.date("!%Y-%m-%d %H:%M:%S UTC", t) or "an unknown time"
end

-- query(cert, chain, opts) -> status, detail | nil, why
-- status "good" | "revoked" | "unknown" | "none" (no responder URL).
local function query(cert, chain, opts)
  if not M.may_have_url(cert) then return "none" end
  local urls, uerr = coreocsp.urls(cert)
  if not urls then return nil, uerr end
  local url = urls[1]
  if not url then return "none" end
  if not (url:match("^[hH][tT][tT][pP]://") or url:match("^[hH][tT][tT][pP][sS]://")) then
    return nil, ("unsupported OCSP responder URL %s"):format(url)
  end
  if type(chain) ~= "string" or chain == "" then return nil, "no issuer certificate (empty chain)" end
  local req, rerr = coreocsp.request(cert, chain)
  if not req then return nil, rerr end
  -- a responder that did not answer is not asked again in this run: a
  -- black hole would otherwise cost every lineage its 10 s
  local down = opts.down and opts.down[url]
  if down then return nil, ("%s did not answer earlier in this run (%s); not asked again"):format(url, down) end
  local client = opts.client
  if not client then
    local cerr
    client, cerr = M.client(opts)
    if not client then return nil, cerr end
  end
  local res, herr = client:request("POST", url, { body = req, content_type = "application/ocsp-request" })
  if not opts.client then client:close() end
  if not res then
    if opts.down then opts.down[url] = herr end
    return nil, herr .. " (are we offline?)"
  end
  if res.status ~= 200 then return nil, ("%s: HTTP status %d"):format(url, res.status) end
  local status, rtime, reason = coreocsp.check(res.body, cert, chain, { skew = opts.skew or M.CLOCK_SKEW })
  if not status then return nil, ("%s: %s"):format(url, rtime) end
  if status == "revoked" then
    return status, ("revoked at %s (reason: %s) according to %s"):format(when(rtime), reason or "not given", url)
  end
  return status, ("%s says %s"):format(url, status)
end

-- revoked(cert_pem, chain_pem, opts) -> true | false, reason
-- opts: timeout (seconds, default 10), client (an http client to reuse
-- across certificates; else one is made and closed), down (a table shared
-- across certificates: responders that did not answer, by URL, are not
-- asked again), log (a logger with debug/info, default certbot.log), name
-- (for the log lines), skew.
-- The caller skips expired certificates (CAs drop them from OCSP).
function M.revoked(cert_pem, chain_pem, opts)
  opts = opts or {}
  local log = opts.log or require("certbot.log")
  local name = opts.name or "certificate"
  local status, detail = query(cert_pem, chain_pem, opts)
  if status == "none" then
    return false, "no OCSP responder URL in the certificate"
  elseif not status then
    log.info("OCSP check failed for %s: %s; not treating it as revoked", name, detail)
    return false, "OCSP check failed: " .. detail
  elseif status == "revoked" then
    log.info("OCSP: %s is %s", name, detail)
    return true, detail
  elseif status == "unknown" then
    log.info("OCSP: %s: %s; not treating it as revoked", name, detail)
    return false, detail
  end
  log.debug("OCSP: %s: %s", name, detail)
  return false, detail
end

-- lineage_revoked(lineage, cert_pem, version, opts) -> true | false, reason
-- revoked() for a lineage's certificate, its issuer read from the chain
-- of that version (nil: the live one) only when the certificate names a
-- responder.  Certbot's RenewableCert.ocsp_revoked.
function M.lineage_revoked(lineage, cert_pem, version, opts)
  if not M.may_have_url(cert_pem) then return false, "no OCSP responder URL in the certificate" end
  opts = opts or {}
  local chain, err = lineage:read("chain", version)
  if not chain then
    local log = opts.log or require("certbot.log")
    local why = "cannot read the chain: " .. tostring(err)
    log.info("OCSP check failed for %s: %s; not treating it as revoked", lineage.name, why)
    return false, "OCSP check failed: " .. why
  end
  local o = setmetatable({ name = opts.name or lineage.name }, { __index = opts })
  return M.revoked(cert_pem, chain, o)
end

return M
