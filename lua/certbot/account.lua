-- account: ACME accounts in Certbot's layout, found or registered.
--
--   accounts/<server host+path>/<id>/meta.json          {"creation_dt", "creation_host", "register_to_eff"}
--                                   /private_key.json   the account key as a private JWK (0400)
--                                   /regr.json          {"body": {}, "uri": "<account URL>"}
--
-- <id> is the MD5 of the account public key's PEM, as Certbot computes it,
-- so Certbot finds and accepts the accounts we create and the reverse.

local core = require("certbot.core")
local json = require("cjson.safe")
local display = require("certbot.display")
local errors = require("certbot.errors")
local log = require("certbot.log")

local crypto, jws = core.crypto, core.jws

local M = {}

-- "https://acme-v02.api.letsencrypt.org/directory" -> "acme-v02.api.letsencrypt.org/directory"
function M.server_path(server)
  local rest = server:match("^%a[%w+.-]*://(.*)$") or server
  rest = rest:gsub("[?#].*$", "")
  -- no path components that could climb out of accounts/
  local parts = {}
  for part in rest:gmatch("[^/]+") do
    if part == ".." or part == "." then part = "_" end
    parts[#parts + 1] = part
  end
  return table.concat(parts, "/")
end

function M.account_id(key)
  return (crypto.md5(key:public_pem()):gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local function decode_file(backend, sp, id, file)
  local text, err = backend:read_account_file(sp, id, file)
  if not text then return nil, err end
  local doc, derr = json.decode(text)
  if type(doc) ~= "table" then
    return nil, ("%s/%s/%s: not valid JSON (%s)"):format(sp, id, file, derr or "not an object")
  end
  return doc
end

-- load(backend, server, id) -> account | nil, err
function M.load(backend, server, id)
  local sp = M.server_path(server)
  local regr, err = decode_file(backend, sp, id, "regr.json")
  if not regr then return nil, err end
  local kjwk, kerr = decode_file(backend, sp, id, "private_key.json")
  if not kjwk then return nil, kerr end
  local meta = decode_file(backend, sp, id, "meta.json") or {}
  local key, lerr = jws.key_from_jwk(kjwk)
  if not key then return nil, ("%s/%s/private_key.json: %s"):format(sp, id, lerr) end
  if type(regr.uri) ~= "string" then
    return nil, ("%s/%s/regr.json: no account URL"):format(sp, id)
  end
  return { id = id, key = key, uri = regr.uri, regr = regr, meta = meta, server = server }
end

-- All accounts stored for a server, oldest first.
function M.list(backend, server)
  local sp = M.server_path(server)
  local out = {}
  for _, id in ipairs(backend:account_ids(sp)) do
    local acc, err = M.load(backend, server, id)
    if acc then out[#out + 1] = acc else log.warning("skipping account %s: %s", id, err) end
  end
  table.sort(out, function(a, b)
    return tostring(a.meta.creation_dt or "") < tostring(b.meta.creation_dt or "")
  end)
  return out
end

local function hostname()
  local f = io.open("/proc/sys/kernel/hostname")
  local h = f and f:read("l") or "localhost"
  if f then f:close() end
  return h
end

function M.save(backend, server, acc)
  local sp = M.server_path(server)
  local meta = json.encode({
    creation_dt = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    creation_host = hostname(),
    register_to_eff = json.null,
  })
  local regr = json.encode({ body = {}, uri = acc.uri })
  return backend:write_account(sp, acc.id, {
    { "private_key.json", json.encode(jws.private_jwk(acc.key)), 256 }, -- 0400
    { "regr.json", regr, 420 },
    { "meta.json", meta, 420 },
  })
end

-- Contacts from -m/--email: "a@x,b@y" -> { "mailto:a@x", "mailto:b@y" }
function M.contacts(email)
  local out = {}
  for e in tostring(email or ""):gmatch("[^,%s]+") do out[#out + 1] = "mailto:" .. e end
  return out
end

-- The terms of service: agreed by flag, or asked on a terminal.
local function agree_tos(config, dir)
  if config.tos then return true end
  local url = dir.meta and dir.meta.termsOfService
  local q = "Please read the Terms of Service at " .. tostring(url or "(the CA gave no URL)")
    .. ". You must agree in order to register with the ACME server. Do you agree?"
  if not display.interactive then
    errors.raise("You must agree to the ACME server's Terms of Service: use --agree-tos "
      .. "(the terms are at " .. tostring(url) .. ")", 1)
  end
  if not display.yesno(q, { cli_flag = "--agree-tos", force = true }) then
    errors.raise("Registration cannot proceed without accepting the Terms of Service.", 1)
  end
  return true
end

local function ask_email(config)
  if config.email and config.email ~= "" then return config.email end
  if config.register_unsafely_without_email then return nil end
  if not display.interactive then
    errors.raise("No email was given: use -m/--email, or --register-unsafely-without-email "
      .. "to register without one (you will get no account notices).", 1)
  end
  local e = display.input("Enter email address or hit Enter to skip.", { cli_flag = "-m" })
  if e == nil then errors.raise("An e-mail address or --register-unsafely-without-email must be provided.", 1) end
  if e == "" then return nil end
  return e
end

-- register(config, backend, client) -> account.  client is an acme client
-- whose key is set to a fresh account key by this function.
function M.register(config, backend, client, key_opts)
  local dir, derr = client:directory()
  if not dir then errors.raise(tostring(derr), 1) end
  local email = ask_email(config)
  agree_tos(config, dir)
  local eab
  if config.eab_kid or config.eab_hmac_key then
    if not (config.eab_kid and config.eab_hmac_key) then
      errors.raise("--eab-kid and --eab-hmac-key must be given together", 1)
    end
    eab = { kid = config.eab_kid, hmac_key = config.eab_hmac_key, alg = config.eab_hmac_alg or "HS256" }
  elseif dir.meta.externalAccountRequired then
    errors.raise("Server requires external account binding. Please use --eab-kid and --eab-hmac-key.", 1)
  end
  local key = key_opts.key or assert(crypto.generate_key(key_opts.type, key_opts.param))
  client.key, client.kid = key, nil
  local body, uri = client:new_account({ contact = M.contacts(email), tos = true, eab = eab })
  if not body then
    errors.raise("Unable to register an account with the ACME server: " .. tostring(uri), 1)
  end
  local acc = { id = M.account_id(key), key = key, uri = uri, server = config.server, body = body }
  local ok, err = M.save(backend, config.server, acc)
  if not ok then errors.raise("Could not save the account: " .. err, 1) end
  log.info("registered account %s (%s)", acc.id, uri)
  return acc
end

---------------------------------------------------------------------------
-- Changing and removing a stored account (update_account, unregister)
---------------------------------------------------------------------------

-- remove(backend, server, id) -> true | nil, err: the account's directory
-- and its three files, as Certbot's AccountFileStorage.delete does.
function M.remove(backend, server, id)
  return backend:remove_account(M.server_path(server), id)
end

-- update_regr(backend, server, acc) -> true | nil, err: rewrite regr.json
-- after the CA accepted a change.  Certbot keeps only the URL there (an
-- empty body), so the file reads the same to both clients.
function M.update_regr(backend, server, acc)
  local regr = json.encode({ body = {}, uri = acc.uri })
  return backend:update_account_file(M.server_path(server), acc.id, "regr.json", regr, 420)
end

-- emails(body) -> { "a@x", ... }: the mailto: contacts of an account object
-- from the CA, in its order ({} when it has none).
function M.emails(body)
  local out = {}
  local contact = type(body) == "table" and body.contact
  if type(contact) ~= "table" then return out end
  for _, c in ipairs(contact) do
    if type(c) == "string" and c:sub(1, 7) == "mailto:" then out[#out + 1] = c:sub(8) end
  end
  return out
end

return M
