-- acme: an RFC 8555 client.  JSON is built and read here (cjson.safe for
-- everything from the network); the C core signs and sends bytes.
--
--   local c = acme.new{ directory = url, key = key, kid = url|nil, http = {...} }
--   c:directory()                          -> dir | nil, problem
--   c:new_account{ contact, tos, eab = {kid, hmac_key, alg} } -> account, kid
--   c:new_order(identifiers, extra)        -> order (with .url)
--   c:get(url)  (POST-as-GET)              -> object
--   c:answer(challenge)                    -> challenge
--   c:poll(url, is_done, deadline)         -> object
--   c:finalize(order, csr_der, deadline)   -> order (valid)
--   c:download(url)                        -> pem, { alternate urls }
--   c:revoke(cert_der, reason, key|nil)    -> true
--   c:key_change(new_key)                  -> account (the client now signs with new_key)
--   c:find_account(key)                    -> account URL (onlyReturnExisting)
--   c:renewal_info(cert_id[, base])        -> ARI document, Retry-After (RFC 9773)
--
-- Answers are checked before anyone acts on them: JSON only under a JSON
-- media type, objects of the expected shape, https URLs only.  A 5xx
-- answer is retried (retry_policy below); a 429 never is in process: the
-- problem carries retry_after for the caller to record.
--
-- Failures return nil, problem where problem is a table
-- { type = "urn:...", detail = "...", status = n, subproblems = {...},
--   message = "one line for the user" } with __tostring.

local core = require("certbot.core")
local json = require("cjson.safe")
local log = require("certbot.log")

local crypto, jws, sys = core.crypto, core.jws, core.sys
local b64 = crypto.b64url_encode

local M = {}

local ERR = "urn:ietf:params:acme:error:"

local Problem = {}
Problem.__index = Problem
Problem.__tostring = function(p) return p.message end
M.Problem = Problem

local function problem(fields)
  if not fields.message then
    local t = fields.type and fields.type:gsub("^" .. ERR:gsub("%p", "%%%0"), "") or "error"
    fields.message = fields.detail and (t .. " :: " .. fields.detail) or t
  end
  return setmetatable(fields, Problem)
end
M.problem = problem

-- A transport or protocol failure that is not an ACME problem document.
local function local_problem(msg)
  return problem({ type = "local", message = msg })
end
M.local_problem = local_problem

function M.is_problem(p, short_type)
  return getmetatable(p) == Problem and p.type == ERR .. short_type
end

local Client = {}
Client.__index = Client

-- Retrying a CA's server errors (5xx): at most MAX_RETRIES more tries,
-- each after the Retry-After the CA gave (at least 1 s) or else 1, 2, 4 s;
-- a Retry-After longer than MAX_RETRY_WAIT is not waited out in process
-- (the caller gets the problem with retry_after), and the waits of one
-- request never add up to more than RETRY_BUDGET seconds.  Transport
-- failures (timeouts, refused connections) are not retried: a stalled CA
-- costs one request timeout, not four.
M.MAX_RETRIES = 3
M.MAX_RETRY_WAIT = 60
M.RETRY_BUDGET = 120

-- opts: directory (URL), key (account key userdata), kid (account URL),
-- http: options for core.http.new (ca_file, verify, user_agent, timeouts),
-- max_retries, max_retry_wait, retry_budget (see above).
function M.new(opts)
  local http, err = core.http.new(opts.http or {})
  if not http then return nil, local_problem(err) end
  return setmetatable({
    directory_url = opts.directory,
    key = opts.key,
    kid = opts.kid,
    http = http,
    max_bad_nonce = opts.max_bad_nonce or 15,
    max_retries = opts.max_retries or M.MAX_RETRIES,
    max_retry_wait = opts.max_retry_wait or M.MAX_RETRY_WAIT,
    retry_budget = opts.retry_budget or M.RETRY_BUDGET,
    stats = { requests = 0, bad_nonce_retries = 0, server_retries = 0 },
  }, Client)
end

function Client:close()
  if self.http then self.http:close() end
  self.http = nil
end

-- Every URL the CA hands us must be https.
local function check_url(u, what)
  if type(u) ~= "string" or not u:match("^https://[^/%s]+") then
    return nil, local_problem(("the CA sent a %s that is not an https URL: %s")
      :format(what, type(u) == "string" and u:sub(1, 200) or type(u)))
  end
  return u
end
M.check_url = check_url

-- send() -> response | nil, err, once more after each 5xx answer, as the
-- retry policy above allows.
function Client:_retrying(url, send)
  local waited, attempt = 0, 0
  while true do
    local resp, err = send()
    self.stats.requests = self.stats.requests + 1
    if not resp then return nil, err end
    if resp.status < 500 or resp.status > 599 or attempt >= self.max_retries then return resp end
    local wait = resp.retry_after and math.max(resp.retry_after, 1) or 2 ^ attempt
    if wait > self.max_retry_wait or waited + wait > self.retry_budget then return resp end
    attempt = attempt + 1
    self.stats.server_retries = self.stats.server_retries + 1
    log.info("%s: HTTP %d from the CA; trying again in %d s (retry %d of %d)", url, resp.status,
      math.floor(wait), attempt, self.max_retries)
    sys.sleep(wait)
    waited = waited + wait
  end
end

-- The media types an ACME JSON answer may have.
local JSON_TYPES = { ["application/json"] = true, ["application/problem+json"] = true }

-- Decode a JSON body; a problem document becomes a problem.
local function decode(resp, url)
  local ct = (resp.content_type or ""):lower()
  if resp.status >= 400 then
    local doc = json.decode(resp.body or "")
    if type(doc) == "table" and ct:find("problem+json", 1, true) then
      local p = problem({
        type = type(doc.type) == "string" and doc.type or "about:blank",
        detail = type(doc.detail) == "string" and doc.detail or nil,
        status = resp.status,
        subproblems = type(doc.subproblems) == "table" and doc.subproblems or nil,
        retry_after = resp.retry_after,
        url = url,
      })
      return nil, p
    end
    return nil, problem({ type = "http", status = resp.status, retry_after = resp.retry_after,
      url = url, message = ("%s: HTTP %d from the CA"):format(url, resp.status) })
  end
  if resp.body == nil or resp.body == "" then return {} end
  if not JSON_TYPES[ct] then
    return nil, local_problem(("%s: the CA sent %s where JSON was expected")
      :format(url, ct ~= "" and ("Content-Type " .. ct:sub(1, 60):gsub("[%c\128-\255]", "?"))
        or "no Content-Type"))
  end
  local doc, err = json.decode(resp.body)
  if type(doc) ~= "table" then
    return nil, local_problem(("%s: the CA sent malformed JSON (%s)"):format(url, err or "not an object"))
  end
  return doc
end

function Client:directory()
  if self.dir then return self.dir end
  local durl = self.directory_url
  if type(durl) ~= "string" or not durl:match("^https://[^/%s]+") then
    return nil, local_problem(("the ACME server URL must be an https URL: %s")
      :format(tostring(durl):sub(1, 200)))
  end
  local resp, err = self:_retrying(durl, function()
    return self.http:request("GET", durl, {})
  end)
  if not resp then return nil, local_problem(err) end
  local dir, derr = decode(resp, self.directory_url)
  if not dir then return nil, derr end
  for _, k in ipairs({ "newNonce", "newAccount", "newOrder" }) do
    local _, uerr = check_url(dir[k], "directory " .. k)
    if uerr then return nil, uerr end
  end
  if type(dir.meta) ~= "table" then dir.meta = {} end
  self.dir = dir
  return dir
end

-- The flattened JWS for url with payload (a string; "" for POST-as-GET).
function Client:_jws(url, payload, nonce, use_jwk)
  local protected = { alg = jws.alg(self.key), nonce = nonce, url = url }
  if use_jwk or not self.kid then
    protected.jwk = jws.jwk(self.key)
  else
    protected.kid = self.kid
  end
  local p64 = b64(json.encode(protected))
  local pl64 = b64(payload)
  local sig = jws.sign(self.key, protected.alg, p64 .. "." .. pl64)
  return json.encode({ protected = p64, payload = pl64, signature = b64(sig) })
end

-- Signed POST.  payload: a table (JSON-encoded), or nil for POST-as-GET.
-- opts.use_jwk: sign with the key's JWK (no kid); opts.no_retry: no retry
-- after a 5xx (for a request whose second try would not mean the same).
-- -> decoded body, response | nil, problem
function Client:post(url, payload, opts)
  opts = opts or {}
  local _, perr = check_url(url, "URL")
  if perr then return nil, perr end
  local dir, derr = self:directory()
  if not dir then return nil, derr end
  local body = payload == nil and "" or (type(payload) == "string" and payload or json.encode(payload))
  local function send()
    return self.http:post(url, function(nonce)
      return self:_jws(url, body, nonce, opts.use_jwk)
    end, { new_nonce = dir.newNonce, max_bad_nonce = self.max_bad_nonce })
  end
  local resp, err
  if opts.no_retry then
    resp, err = send()
    self.stats.requests = self.stats.requests + 1
  else
    resp, err = self:_retrying(url, send)
  end
  if not resp then return nil, local_problem(err) end
  self.stats.bad_nonce_retries = self.stats.bad_nonce_retries + (resp.bad_nonce_retries or 0)
  if resp.location then
    local _, lerr = check_url(resp.location, "Location header")
    if lerr then return nil, lerr end
  end
  local doc, perr2 = decode(resp, url)
  if not doc then return nil, perr2 end
  return doc, resp
end

function Client:get(url)
  return self:post(url, nil)
end

-- External Account Binding (RFC 8555 §7.3.4): a JWS over the account's
-- public JWK, MACed with the CA-issued key.
local function eab_binding(eab, account_jwk, url)
  local key = crypto.b64url_decode(eab.hmac_key) or crypto.b64url_decode((eab.hmac_key:gsub("=+$", "")))
  if not key then
    return nil, local_problem("--eab-hmac-key is not base64url")
  end
  local alg = eab.alg or "HS256"
  local p64 = b64(json.encode({ alg = alg, kid = eab.kid, url = url }))
  local pl64 = b64(json.encode(account_jwk))
  local sig = jws.hmac_sign(alg, key, p64 .. "." .. pl64)
  return { protected = p64, payload = pl64, signature = b64(sig) }
end

-- new_account{ contact = {...}, tos = bool, only_existing = bool, eab = {...} }
-- -> account body, account URL
function Client:new_account(opts)
  local dir, derr = self:directory()
  if not dir then return nil, derr end
  local payload = { termsOfServiceAgreed = opts.tos and true or nil }
  if opts.contact and #opts.contact > 0 then payload.contact = opts.contact end
  if opts.only_existing then payload.onlyReturnExisting = true end
  if opts.eab then
    local binding, err = eab_binding(opts.eab, jws.jwk(self.key), dir.newAccount)
    if not binding then return nil, err end
    payload.externalAccountBinding = binding
  end
  local acct, resp = self:post(dir.newAccount, payload, { use_jwk = true })
  if not acct then return nil, resp end
  if not resp.location then
    return nil, local_problem(dir.newAccount .. ": the CA sent no Location for the account")
  end
  self.kid = resp.location
  return acct, resp.location
end

function Client:update_account(fields)
  return self:post(self.kid, fields)
end

-- identifiers: { {type="dns", value=...}, ... }; extra: profile, replaces...
function Client:new_order(identifiers, extra)
  local dir, derr = self:directory()
  if not dir then return nil, derr end
  local payload = { identifiers = identifiers }
  for k, v in pairs(extra or {}) do payload[k] = v end
  local order, resp = self:post(dir.newOrder, payload)
  if not order then return nil, resp end
  if not resp.location then
    return nil, local_problem(dir.newOrder .. ": the CA sent no Location for the order")
  end
  local ok, err = M.check_order(order, dir.newOrder)
  if not ok then return nil, err end
  order.url = resp.location
  return order
end

function M.check_order(order, url)
  if type(order.status) ~= "string" then
    return nil, local_problem(url .. ": order without a status")
  end
  if type(order.authorizations) ~= "table" then
    return nil, local_problem(url .. ": order without authorizations")
  end
  for _, a in ipairs(order.authorizations) do
    local _, e = check_url(a, "authorization URL")
    if e then return nil, e end
  end
  local _, fe = check_url(order.finalize, "finalize URL")
  if fe then return nil, fe end
  if order.certificate ~= nil then
    local _, ce = check_url(order.certificate, "certificate URL")
    if ce then return nil, ce end
  end
  return true
end

function M.check_authz(authz, url)
  if type(authz.status) ~= "string" or type(authz.identifier) ~= "table"
    or type(authz.identifier.value) ~= "string" then
    return nil, local_problem(url .. ": malformed authorization")
  end
  if type(authz.challenges) ~= "table" then authz.challenges = {} end
  for _, ch in ipairs(authz.challenges) do
    if type(ch) ~= "table" or type(ch.type) ~= "string" then
      return nil, local_problem(url .. ": malformed challenge")
    end
    local _, e = check_url(ch.url, "challenge URL")
    if e then return nil, e end
  end
  return true
end

function Client:authorization(url)
  local authz, err = self:get(url)
  if not authz then return nil, err end
  local ok, cerr = M.check_authz(authz, url)
  if not ok then return nil, cerr end
  authz.url = url
  return authz
end

function Client:answer(challenge)
  return self:post(challenge.url, {})
end

function Client:deactivate_authorization(url)
  return self:post(url, { status = "deactivated" })
end

-- key authorization for a token (RFC 8555 §8.1)
function Client:key_authorization(token)
  self.thumb = self.thumb or jws.thumbprint(self.key)
  return token .. "." .. self.thumb
end

-- Poll url (POST-as-GET) until done(obj) is true, honouring Retry-After and
-- backing off, until deadline (monotonic seconds).  check(obj, url) -> true
-- | nil, problem vets each answer (M.check_order, M.check_authz).
-- -> obj | nil, problem
function Client:poll(url, done, deadline, what, check)
  local delay = 0.25
  while true do
    local obj, resp = self:get(url)
    if not obj then return nil, resp end
    if check then
      local ok, cerr = check(obj, url)
      if not ok then return nil, cerr end
    end
    if done(obj) then return obj end
    local wait = delay
    if resp.retry_after and resp.retry_after > 0 then wait = resp.retry_after end
    local left = deadline - sys.monotonic()
    if left <= 0 then
      return nil, local_problem(("timed out waiting for the %s at %s (status %s)")
        :format(what or "CA", url, tostring(obj.status)))
    end
    sys.sleep(math.min(wait, left))
    delay = math.min(delay * 2, 5)
  end
end

-- Finalize a ready order with a CSR and wait until it is valid.
function Client:finalize(order, csr_der, deadline)
  local url = order.url
  local function settled(o)
    return o.status == "valid" or o.status == "invalid"
  end
  local function ready(o)
    return o.status ~= "pending"
  end
  local tries = 0
  while true do
    local res, err = self:post(order.finalize, { csr = b64(csr_der) })
    if res then
      local ok, cerr = M.check_order(res, order.finalize)
      if not ok then return nil, cerr end
      order = res
      break
    end
    -- orderNotReady: the CA is not done with the authorizations; wait and resubmit
    if M.is_problem(err, "orderNotReady") and tries < 5 then
      tries = tries + 1
      local o, perr = self:poll(url, ready, deadline, "order", M.check_order)
      if not o then return nil, perr end
      -- past "ready": the CA has a CSR already (an earlier try that it
      -- took although its answer was lost, e.g. a 5xx): wait, do not resubmit
      if o.status ~= "ready" then
        order = o
        break
      end
    else
      return nil, err
    end
  end
  order.url = url
  if not settled(order) then
    local o, err = self:poll(url, settled, deadline, "certificate", M.check_order)
    if not o then return nil, err end
    order = o
    order.url = url
  end
  if order.status ~= "valid" then
    local e = type(order.error) == "table" and order.error or {}
    return nil, problem({ type = e.type or "orderInvalid", detail = e.detail or "the order became invalid" })
  end
  local ok, cerr = M.check_order(order, url)
  if not ok then return nil, cerr end
  if not order.certificate then return nil, local_problem(url .. ": valid order without a certificate URL") end
  return order
end

-- Download a chain.  -> pem, alternates (array of URLs)
function Client:download(url)
  local dir, derr = self:directory()
  if not dir then return nil, derr end
  local _, uerr = check_url(url, "certificate URL")
  if uerr then return nil, uerr end
  local resp, err = self:_retrying(url, function()
    return self.http:post(url, function(nonce)
      return self:_jws(url, "", nonce)
    end, { new_nonce = dir.newNonce, max_bad_nonce = self.max_bad_nonce })
  end)
  if not resp then return nil, local_problem(err) end
  if resp.status >= 400 then
    local _, p = decode(resp, url)
    return nil, p
  end
  local ct = resp.content_type or ""
  if ct ~= "application/pem-certificate-chain" then
    return nil, local_problem(("%s: the CA sent %s where a PEM certificate chain was expected")
      :format(url, ct ~= "" and ("Content-Type " .. ct:sub(1, 60):gsub("[%c\128-\255]", "?"))
        or "no Content-Type"))
  end
  local pem = resp.body or ""
  local blocks = crypto.split_pem(pem)
  if not blocks or #blocks == 0 then
    return nil, local_problem(url .. ": the CA sent no PEM certificate")
  end
  local alternates = {}
  for _, l in ipairs(resp.links or {}) do
    if l.rel == "alternate" and check_url(l.url, "alternate chain URL") then
      alternates[#alternates + 1] = l.url
    end
  end
  return pem, alternates
end

-- Revoke: signed by the account (kid), or by the certificate's key (jwk).
function Client:revoke(cert_der, reason, cert_key)
  local dir, derr = self:directory()
  if not dir then return nil, derr end
  local payload = { certificate = b64(cert_der), reason = reason }
  if cert_key then
    local saved_key, saved_kid = self.key, self.kid
    self.key, self.kid = cert_key, nil
    local ok, err = self:post(dir.revokeCert, payload, { use_jwk = true })
    self.key, self.kid = saved_key, saved_kid
    if not ok then return nil, err end
    return true
  end
  local ok, err = self:post(dir.revokeCert, payload)
  if not ok then return nil, err end
  return true
end

-- Account key rollover (RFC 8555 §7.3.5).  The outer JWS is the account's
-- usual one (old key, kid, nonce, url = keyChange); its payload is an inner
-- JWS signed by the new key, whose protected header holds that key as
-- "jwk" and the same url and no nonce, over {"account": <account URL>,
-- "oldKey": <old public JWK>}.  On success the client signs with the new
-- key from then on.  -> account object | nil, problem (problem.status is
-- set when the CA answered: it refused; without it the outcome is unknown)
function Client:key_change(new_key)
  local dir, derr = self:directory()
  if not dir then return nil, derr end
  local url, uerr = check_url(dir.keyChange, "directory keyChange")
  if not url then return nil, uerr end
  if not self.kid then return nil, local_problem("key change: the client has no account") end
  local protected = { alg = jws.alg(new_key), jwk = jws.jwk(new_key), url = url }
  local p64 = b64(json.encode(protected))
  local pl64 = b64(json.encode({ account = self.kid, oldKey = jws.jwk(self.key) }))
  local sig = jws.sign(new_key, protected.alg, p64 .. "." .. pl64)
  local inner = json.encode({ protected = p64, payload = pl64, signature = b64(sig) })
  -- not retried after a 5xx: had the CA rolled the key over anyway, a
  -- second try signed by the old key would read as a refusal
  local body, resp = self:post(url, inner, { no_retry = true })
  if not body then return nil, resp end
  self.key, self.thumb = new_key, nil
  return body
end

-- The account URL the CA holds for key (newAccount with onlyReturnExisting,
-- signed by key with its jwk; RFC 8555 §7.3.1).  The client's own key and
-- account are untouched.  -> URL | nil, problem (accountDoesNotExist when
-- the CA knows no account with that key)
function Client:find_account(key)
  local saved_key, saved_kid, saved_thumb = self.key, self.kid, self.thumb
  self.key, self.kid = key, nil
  local acct, url = self:new_account({ only_existing = true })
  self.key, self.kid, self.thumb = saved_key, saved_kid, saved_thumb
  if not acct then return nil, url end
  return url
end

-- ACME Renewal Information (RFC 9773 §4.1): an unauthenticated GET of
-- <renewalInfo>/<cert_id>.  -> document, Retry-After seconds (or nil) |
-- nil, problem, where problem.temporary is true for what may pass by
-- itself (no answer, a timeout, a 5xx or 429) and false for the rest
-- (a 4xx, an answer that is not JSON).  The document's fields are the
-- caller's to check (certbot.ari).  base: the directory's renewalInfo
-- when the caller already knows it (no directory request then).
function Client:renewal_info(cert_id, base)
  if base == nil then
    local dir, derr = self:directory()
    if not dir then
      derr.temporary = true
      return nil, derr
    end
    base = dir.renewalInfo
  end
  local berr
  base, berr = check_url(base, "directory renewalInfo")
  if not base then
    berr.temporary = false
    return nil, berr
  end
  local url = base:gsub("/+$", "") .. "/" .. cert_id
  local resp, err = self:_retrying(url, function() return self.http:request("GET", url, {}) end)
  if not resp then
    local p = local_problem(err)
    p.temporary = true
    return nil, p
  end
  local doc, perr = decode(resp, url)
  if not doc then
    perr.temporary = resp.status >= 500 or resp.status == 429
    return nil, perr
  end
  if resp.status ~= 200 then
    local p = local_problem(("%s: HTTP %d from the CA"):format(url, resp.status))
    p.temporary = false
    return nil, p
  end
  return doc, resp.retry_after
end

function M.log_stats(c)
  log.debug("ACME: %d requests, %d badNonce retries, %d retries after server errors",
    c.stats.requests, c.stats.bad_nonce_retries, c.stats.server_retries)
end

return M
