-- account: ACME accounts in Certbot's layout, found or registered.
--
--   accounts/<server host+path>/<id>/meta.json          {"creation_dt", "creation_host", "register_to_eff"}
--                                   /private_key.json   the account key as a private JWK (0400)
--                                   /regr.json          {"body": {}, "uri": "<account URL>"}
--
-- <id> is the MD5 of the account public key's PEM, as Certbot computes it,
-- so Certbot finds and accepts the accounts we create and the reverse.
--
-- Key rollover (RFC 8555 §7.3.5; `update_account --new-key`) keeps that
-- rule: the account moves to the directory named after its new key, and
-- every renewal conf that said `account = <old id>` says the new id.  The
-- old directory name could not stay: Certbot (2.1, account.py) takes an
-- account's id from its key, not from its directory, writes that id into
-- the renewal conf of every lineage it renews (`account = <new id>`), and
-- on its next run looks for a directory of that name, which would not
-- exist.  meta.json lists the ids the account had before ("previous_ids",
-- a key Certbot's Meta ignores), so an `--account OLD` in a cli.ini, or a
-- renewal conf that could not be rewritten, still finds it.
--
-- Crash safety: the new key is written into the old directory as
-- ".rollover_key.json" (0400) before the CA is asked.  After the CA
-- accepts: the new directory is written whole (temp dir + rename), the
-- renewal confs are rewritten, and the old directory goes last.  A run
-- killed anywhere leaves either the old account with its key (the CA never
-- took the new one; the staged key is dropped), or a staged key whose fate
-- the CA tells (settle(): newAccount with onlyReturnExisting signed by the
-- staged key), or both directories, which recover() finishes from disk.

local acme = require("certbot.acme")
local core = require("certbot.core")
local json = require("cjson.safe")
local display = require("certbot.display")
local errors = require("certbot.errors")
local log = require("certbot.log")
local storage = require("certbot.storage")

local crypto, jws, sys = core.crypto, core.jws, core.sys

-- The staged new key of a rollover in progress, in the old account's dir.
local STAGED = ".rollover_key.json"

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
  local acc = { id = id, key = key, uri = regr.uri, regr = regr, meta = meta, server = server }
  local staged = decode_file(backend, sp, id, STAGED)
  if staged then
    acc.staged_key = jws.key_from_jwk(staged)
    if not acc.staged_key then log.warning("account %s: unreadable %s ignored", id, STAGED) end
  end
  return acc
end

-- matches(acc, id): id names acc (its directory, or an id it had before
-- a key rollover).
function M.matches(acc, id)
  if acc.id == id then return true end
  local prev = type(acc.meta) == "table" and acc.meta.previous_ids
  if type(prev) == "table" then
    for _, p in ipairs(prev) do if p == id then return true end end
  end
  return false
end

-- find(accounts, id) -> the account id names | nil
function M.find(accounts, id)
  for _, a in ipairs(accounts) do if a.id == id then return a end end
  for _, a in ipairs(accounts) do if M.matches(a, id) then return a end end
  return nil
end

-- All accounts stored for a server, oldest first.  A key rollover that
-- was cut short after the CA accepted it is finished first (recover), so
-- callers must hold the config dir's lock, as every subcommand does.
function M.list(backend, server)
  local sp = M.server_path(server)
  M.recover(backend, server)
  local out = {}
  for _, id in ipairs(backend:account_ids(sp)) do
    local acc, err = M.load(backend, server, id)
    if acc then out[#out + 1] = acc else log.warning("skipping account %s: %s", id, err) end
  end
  table.sort(out, function(a, b)
    local x, y = tostring(a.meta.creation_dt or ""), tostring(b.meta.creation_dt or "")
    if x ~= y then return x < y end
    return a.id < b.id -- created in the same second: a stable order all the same
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

-- The kind of key for a new account (register) or a rollover:
-- --account-key-type ecdsa (P-256, ES256, which every RFC 8555 CA takes)
-- or rsa (--rsa-key-size bits, at least 2048, as Certbot makes its
-- account keys).  like: a key whose kind is kept when the option is not
-- given (a rollover keeps the account's key type and size).
function M.key_spec(config, like)
  local want = config.account_key_type
  if not want and like then
    local info = like:info()
    if info.type == "rsa" then return { type = "rsa", param = math.max(info.bits, 2048) } end
    if info.type == "ec" and info.curve then return { type = "ec", param = info.curve } end
  end
  if want == "rsa" then
    return { type = "rsa", param = math.max(tonumber(config.rsa_key_size) or 2048, 2048) }
  end
  return { type = "ec", param = "P-256" }
end

-- describe_key(key) -> "ECDSA P-256" | "RSA 2048", and the JSON fields.
function M.describe_key(key)
  local info = key:info()
  if info.type == "rsa" then
    return ("RSA %d"):format(info.bits), { type = "rsa", bits = info.bits }
  end
  return ("ECDSA %s"):format(tostring(info.curve)), { type = "ecdsa", curve = info.curve, bits = info.bits }
end

-- Which account?  --account ID names one (its id, or one it had before a
-- rollover); without it, the only one; with several, a menu on a terminal,
-- and under -n an error listing them (Certbot shows the same menu, and
-- fails under -n).  -> account | nil (there is none: register one)
function M.choose(config, accounts, server)
  local function ids()
    local t = {}
    for _, a in ipairs(accounts) do t[#t + 1] = a.id end
    return table.concat(t, ", ")
  end
  if config.account and config.account ~= "" then
    local acc = M.find(accounts, config.account)
    if acc then return acc end
    if #accounts == 0 then
      errors.raise(("Account %s does not exist for %s: there is no account for that server.")
        :format(config.account, server), 1)
    end
    errors.raise(("Account %s does not exist for %s; the accounts there are: %s")
      :format(config.account, server, ids()), 1)
  end
  if #accounts <= 1 then return accounts[1] end
  if not display.interactive then
    errors.raise(("There are %d accounts for %s (%s): choose one with --account ID.")
      :format(#accounts, server, ids()), 1)
  end
  local labels = {}
  for i, a in ipairs(accounts) do
    labels[i] = ("%s (created %s on %s)"):format(a.id, tostring(a.meta.creation_dt or "?"),
      tostring(a.meta.creation_host or "?"))
  end
  local i = display.menu("Please choose an account", labels, { cli_flag = "--account" })
  if not i then errors.raise("No account has been chosen.", 1) end
  return accounts[i]
end

-- lineages(backend, acc) -> sorted names of the lineages whose renewal conf
-- names this account (`account = <id>`, or an id it had before).
function M.lineages(backend, acc)
  local out = {}
  for _, name in ipairs(backend:lineage_names()) do
    local l = storage.load(backend, name)
    local id = l and l.params.account
    if type(id) == "string" and M.matches(acc, id) then out[#out + 1] = name end
  end
  table.sort(out)
  return out
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

---------------------------------------------------------------------------
-- Key rollover
---------------------------------------------------------------------------

local function staged_path(backend, sp, id)
  return backend:accounts_dir(sp) .. "/" .. id .. "/" .. STAGED
end

-- Point every renewal conf that names old_id at new_id.  A conf that does
-- not parse is left as it is (meta.json's previous_ids still resolves it).
-- -> number of lineages changed
local function relink_lineages(backend, old_id, new_id)
  local n = 0
  for _, name in ipairs(backend:lineage_names()) do
    local l = storage.load(backend, name)
    if l and l.params.account == old_id then
      local ok, err = l:update_params({ { "account", new_id }, known = { account = true } },
        { version = l.conf.keys.version })
      if ok then
        n = n + 1
        log.info("lineage %s: account %s -> %s", name, old_id, new_id)
      else
        log.warning("lineage %s still names account %s: %s", name, old_id, tostring(err))
      end
    end
  end
  return n
end

-- After the CA took the new key: the account's directory under the new
-- key's id (written whole), the lineages pointed at it, the old directory
-- removed.  Each step can be repeated.  -> new account | nil, err
local function move_account(backend, server, acc, new_key)
  local sp = M.server_path(server)
  local new_id = M.account_id(new_key)
  if new_id ~= acc.id and not M.load(backend, server, new_id) then
    local regr = backend:read_account_file(sp, acc.id, "regr.json")
      or json.encode({ body = {}, uri = acc.uri })
    local meta = {}
    for k, v in pairs(acc.meta or {}) do meta[k] = v end
    local prev = {}
    for _, p in ipairs(type(meta.previous_ids) == "table" and meta.previous_ids or {}) do
      if p ~= new_id then prev[#prev + 1] = p end
    end
    prev[#prev + 1] = acc.id
    meta.previous_ids = prev
    if meta.creation_dt == nil then meta.creation_dt = os.date("!%Y-%m-%dT%H:%M:%SZ") end
    if meta.creation_host == nil then meta.creation_host = "localhost" end
    local ok, err = backend:write_account(sp, new_id, {
      { "private_key.json", json.encode(jws.private_jwk(new_key)), 256 }, -- 0400
      { "regr.json", regr, 420 },
      { "meta.json", json.encode(meta), 420 },
    })
    if not ok then return nil, ("writing account %s: %s"):format(new_id, tostring(err)) end
  end
  local moved = relink_lineages(backend, acc.id, new_id)
  if new_id ~= acc.id then
    local ok, err = backend:remove_account(sp, acc.id)
    if not ok then return nil, ("removing the old account directory %s: %s"):format(acc.id, tostring(err)) end
  else
    sys.unlink(staged_path(backend, sp, acc.id))
  end
  local new, lerr = M.load(backend, server, new_id)
  if not new then return nil, lerr end
  new.relinked = moved
  new.previous_id = acc.id
  return new
end

-- recover(backend, server): finish rollovers the CA accepted whose run was
-- cut short (the new directory exists and holds the staged key).
function M.recover(backend, server)
  local sp = M.server_path(server)
  for _, id in ipairs(backend:account_ids(sp)) do
    local text = backend:read_account_file(sp, id, STAGED)
    local staged = text and json.decode(text)
    local key = type(staged) == "table" and jws.key_from_jwk(staged)
    if key then
      local new = M.load(backend, server, M.account_id(key))
      if new and new.id ~= id and new.key:equals(key) then
        local old = M.load(backend, server, id)
        if old then
          local ok, err = move_account(backend, server, old, key)
          if ok then
            log.info("finished the key rollover of account %s (now %s)", id, ok.id)
          else
            log.warning("could not finish the key rollover of account %s: %s", id, tostring(err))
          end
        end
      end
    end
  end
end

-- settle(backend, server, acc, client) -> account: a rollover whose outcome
-- was not known (the run ended between asking the CA and hearing back) is
-- resolved by asking the CA which account the staged key opens.
function M.settle(backend, server, acc, client)
  if not acc.staged_key then return acc end
  local sp = M.server_path(server)
  local url, err = client:find_account(acc.staged_key)
  if url == acc.uri then
    log.info("account %s: the CA holds the staged new key; finishing the rollover", acc.id)
    local new, merr = move_account(backend, server, acc, acc.staged_key)
    if not new then errors.raise("Unable to finish the account key rollover: " .. merr, 1) end
    return new
  end
  if url or acme.is_problem(err, "accountDoesNotExist") then
    -- the staged key opens no account, or another one: the CA never took it
    log.info("account %s: the CA never took the staged key; dropping it", acc.id)
    sys.unlink(staged_path(backend, sp, acc.id))
    acc.staged_key = nil
    return acc
  end
  log.warning("account %s: could not ask the CA about the staged key: %s", acc.id, tostring(err))
  return acc
end

-- rollover(backend, server, acc, client, new_key) -> new account | raises.
-- client is signed in as acc; it signs with new_key afterwards.
function M.rollover(backend, server, acc, client, new_key)
  local sp = M.server_path(server)
  if new_key:equals(acc.key) then errors.raise("The new account key is the current one.", 1) end
  local dir = client:directory()
  if not (dir and type(dir.keyChange) == "string") then
    errors.raise(("The ACME server %s offers no account key change (its directory has no "
      .. "keyChange)."):format(server), 1)
  end
  local ok, err = backend:update_account_file(sp, acc.id, STAGED,
    json.encode(jws.private_jwk(new_key)), 256)
  if not ok then errors.raise(("Unable to stage the new account key: %s"):format(tostring(err)), 1) end
  local body, perr = client:key_change(new_key)
  if not body then
    if type(perr) == "table" and perr.status and perr.status < 500 then
      sys.unlink(staged_path(backend, sp, acc.id))
      errors.raise(("The ACME server refused the new account key for %s: %s")
        :format(acc.uri, tostring(perr)), 1)
    end
    errors.raise(("Unable to roll the account key over at %s: %s. Whether the server took "
      .. "the new key is unknown: run update_account again to find out and finish.")
      :format(acc.uri, tostring(perr)), 1)
  end
  log.info("account %s (%s): the CA accepted the new key", acc.id, acc.uri)
  local new, merr = move_account(backend, server, acc, new_key)
  if not new then
    errors.raise(("The ACME server took the new account key, but saving it failed: %s. It is "
      .. "staged in %s; the next run finishes."):format(merr, staged_path(backend, sp, acc.id)), 1)
  end
  new.body = body
  return new
end

return M
