-- obtain: getting a certificate from the CA and saving it.  Shared by
-- certonly, run and (later) renew.
--
--   local ctx = obtain.context(config)        dirs, log, locks, account, client
--   local result = obtain.certificate(ctx, request)
--   obtain.save(ctx, result, lineage|nil)

local core = require("certbot.core")
local acme = require("certbot.acme")
local account = require("certbot.account")
local display = require("certbot.display")
local errors = require("certbot.errors")
local log = require("certbot.log")
local names = require("certbot.names")
local options = require("certbot.options")
local renewal = require("certbot.renewal")
local storage = require("certbot.storage")

local crypto, sys = core.crypto, core.sys

local M = {}

local STAGING = options.STAGING_SERVER

local function fail(msg, code) errors.raise(msg, code or 1) end

---------------------------------------------------------------------------
-- Setting up: directories, log, locks
---------------------------------------------------------------------------

-- The server to talk to.  --staging and --dry-run move Let's Encrypt's
-- production server to its staging twin (as Certbot does); any other server
-- (--server, or a lineage's stored one) stays.
function M.server(config)
  if (config.staging or config.dry_run) and config.server == options.DEFAULT_SERVER then
    return STAGING
  end
  return config.server
end

-- context(config[, opts]) -> ctx: the directories exist, the log is open,
-- the locks are held (logs, config, work: Certbot's order).
-- opts.shared: take the directory locks shared (renew; see below).
-- opts.log_setup: replaces log.setup (a parallel renew's worker appends to
-- its parent's log instead of rotating it).
function M.context(config, opts)
  opts = opts or {}
  local ctx = { config = config, locks = {} }
  local ok, err = (opts.log_setup or log.setup)(config.logs_dir, config.max_log_backups, config.verbose_count)
  if not ok then
    fail(("Unable to write the log in %s (%s); choose another directory with --logs-dir")
      :format(config.logs_dir, err))
  end
  ctx.backend = storage.filesystem(config.config_dir)
  ok, err = ctx.backend:setup()
  if not ok then fail("Unable to set up the config directory: " .. err) end
  ok, err = storage.makedirs(config.work_dir, 448)
  if not ok then fail("Unable to create the work directory: " .. err) end
  if config.strict_permissions then M.check_ownership(config) end
  -- Certbot takes an exclusive fcntl lock (lockf) on each .certbot.lock,
  -- and so do our other subcommands.  renew takes shared ones (OFD read
  -- locks, core.proc): any exclusive holder, Certbot or ours, still
  -- excludes a renew and is excluded by it, but two renews (a parallel
  -- renew's workers, or runs for different --cert-names) share the
  -- directories, and per-lineage locks (renew.lua) keep them apart.
  local lock = sys.lock
  if opts.shared then lock = function(path) return core.proc.lock(path, "shared") end end
  for _, dir in ipairs({ config.logs_dir, config.config_dir, config.work_dir }) do
    local lk, lerr, why = lock(dir .. "/.certbot.lock")
    if not lk then
      if why == "busy" then
        fail(("Another instance of Certbot is already running (%s is locked)."):format(dir .. "/.certbot.lock"))
      end
      fail("Unable to lock " .. dir .. ": " .. lerr)
    end
    ctx.locks[#ctx.locks + 1] = lk
  end
  log.info("certbot %s: %s", core.version, config.verb or "?")
  return ctx
end

-- --strict-permissions: the config, work and logs dirs and everything in
-- the config dir's renewal/, accounts/ and archive/ belong to us and are
-- writable by nobody else.
function M.check_ownership(config)
  local uid = sys.getuid()
  local function check(path)
    local st = sys.lstat(path)
    if not st then return end
    if st.uid ~= uid then
      fail(("%s is owned by uid %d, not by the current user (uid %d): refusing under "
        .. "--strict-permissions"):format(path, st.uid, uid))
    end
    if st.type ~= "link" and (st.mode & 18) ~= 0 then -- 022
      fail(("%s is writable by group or others: refusing under --strict-permissions"):format(path))
    end
  end
  local function walk(dir, depth)
    check(dir)
    if depth == 0 then return end
    for _, f in ipairs(sys.listdir(dir) or {}) do
      local p = dir .. "/" .. f
      local st = sys.lstat(p)
      if st and st.type == "directory" then walk(p, depth - 1) else check(p) end
    end
  end
  check(config.logs_dir)
  check(config.work_dir)
  check(config.config_dir)
  for _, sub in ipairs({ "renewal", "accounts", "archive", "live", "renewal-hooks" }) do
    walk(config.config_dir .. "/" .. sub, 4)
  end
end

---------------------------------------------------------------------------
-- ACME client and account
---------------------------------------------------------------------------

function M.user_agent(config)
  if config.user_agent and config.user_agent ~= "" then return config.user_agent end
  local flags = {}
  if config.dry_run then flags[#flags + 1] = "dry-run" end
  if config.staging then flags[#flags + 1] = "staging" end
  return ("CertbotLua/%s (certbot; %s) Authenticator/%s Installer/%s (%s; flags: %s)"):format(
    core.version, config.verb or "run", tostring(config.authenticator or "None"),
    tostring(config.installer or "None"), config.verb or "run", table.concat(flags, ","))
end

function M.http_options(config)
  local ca = os.getenv("REQUESTS_CA_BUNDLE")
  if not ca or ca == "" then ca = os.getenv("CURL_CA_BUNDLE") end
  if ca == "" then ca = nil end
  local verify = not config.no_verify_ssl
  if not verify then
    display.warn("Warning: --no-verify-ssl is set: the ACME server's TLS certificate is not checked.")
  end
  return {
    ca_file = ca,
    verify = verify,
    user_agent = M.user_agent(config),
    connect_timeout = 30,
    timeout = 60,
  }
end

-- client(ctx) -> acme client for the run's server, with its account
-- (ctx.account).  Clients are cached per server and account in ctx.clients,
-- which renew shares between the lineages of one run.
function M.client(ctx, opts)
  opts = opts or {}
  local config = ctx.config
  local server = M.server(config)
  ctx.clients = ctx.clients or {}
  local cache_key = server .. "\0" .. tostring(config.account or "") .. (opts.no_account and "\0-" or "")
  local cached = ctx.clients[cache_key]
  if cached then
    ctx.client, ctx.account = cached.client, cached.account
    return cached.client
  end
  if type(server) ~= "string" or not server:match("^https://") then
    fail(("The ACME server URL must start with https://: %s"):format(M.printable(server)), 2)
  end
  local c, err = acme.new({ directory = server, http = M.http_options(config) })
  if not c then fail(tostring(err)) end
  local dir, derr = c:directory()
  if not dir then fail(("Unable to reach the ACME server at %s: %s"):format(server, tostring(derr))) end
  ctx.client, ctx.account = c, nil
  if not opts.no_account then
    -- --account (also an id from before a key rollover), the only one, a
    -- menu, or under -n an error listing the ids
    local acc = account.choose(config, account.list(ctx.backend, server), server)
    if acc then
      acc = account.settle(ctx.backend, server, acc, c) -- a rollover cut short
    else
      acc = account.register(config, ctx.backend, c, M.account_key_spec(config))
      display.notify("Account registered.")
    end
    c.key, c.kid = acc.key, acc.uri
    ctx.account = acc
  end
  ctx.clients[cache_key] = { client = c, account = ctx.account }
  return c
end

-- Account keys: --account-key-type, ECDSA P-256 by default (account.key_spec).
function M.account_key_spec(config)
  return account.key_spec(config)
end

---------------------------------------------------------------------------
-- Keys and identifiers
---------------------------------------------------------------------------

local CURVES = { secp256r1 = "P-256", secp384r1 = "P-384", secp521r1 = "P-521" }

function M.new_key(config)
  if config.key_type == "rsa" then
    local bits = tonumber(config.rsa_key_size) or 2048
    local k, err = crypto.generate_key("rsa", bits)
    if not k then fail("Unable to generate an RSA key: " .. err) end
    return k
  end
  local curve = CURVES[config.elliptic_curve or "secp256r1"]
  if not curve then fail("Unsupported elliptic curve: " .. tostring(config.elliptic_curve), 2) end
  local k, err = crypto.generate_key("ec", curve)
  if not k then fail("Unable to generate an EC key: " .. err) end
  return k
end

function M.identifiers(domains, ips)
  local ids = {}
  for _, d in ipairs(domains or {}) do ids[#ids + 1] = { type = "dns", value = d } end
  for _, ip in ipairs(ips or {}) do ids[#ids + 1] = { type = "ip", value = ip } end
  return ids
end

---------------------------------------------------------------------------
-- Challenges
---------------------------------------------------------------------------

local SHORT = {
  http = "http-01", ["http-01"] = "http-01",
  dns = "dns-01", ["dns-01"] = "dns-01",
  ["tls-alpn"] = "tls-alpn-01", ["tls-alpn-01"] = "tls-alpn-01",
  ["tls-sni"] = "tls-alpn-01", ["tls-sni-01"] = "tls-alpn-01",
}

local warned_tls_sni = false

-- --preferred-challenges "http, dns" -> { "http-01", "dns-01" }
function M.preferred_challenges(list)
  if type(list) == "string" then list = { list } end
  local out, seen = {}, {}
  for _, item in ipairs(list or {}) do
    for word in tostring(item):gmatch("[^,%s]+") do
      local t = SHORT[word:lower()]
      if not t then
        fail(("Unrecognized challenges: %s"):format(word), 2)
      end
      if word:lower():match("^tls%-sni") and not warned_tls_sni then
        warned_tls_sni = true -- once a run, in cli.lua's words
        display.warn("The tls-sni-01 challenge is retired; using tls-alpn-01 instead.")
      end
      if not seen[t] then
        seen[t] = true
        out[#out + 1] = t
      end
    end
  end
  return out
end

-- Pick the challenge for an authorization: the user's preference order,
-- among those the authenticator supports and the CA offers.
local function choose_challenge(authz, supported, preferred)
  local offered = {}
  for _, ch in ipairs(authz.challenges) do offered[ch.type] = offered[ch.type] or ch end
  local order = {}
  if #preferred > 0 then
    local ok = {}
    for _, t in ipairs(supported) do ok[t] = true end
    for _, t in ipairs(preferred) do if ok[t] then order[#order + 1] = t end end
  else
    order = supported
  end
  for _, t in ipairs(order) do
    if offered[t] then return offered[t] end
  end
  return nil
end

local function describe_types(authz)
  local t = {}
  for _, ch in ipairs(authz.challenges) do t[#t + 1] = ch.type end
  return table.concat(t, ", ")
end

-- authorize(ctx, order, auth) -> failures (array of { identifier, problem })
-- Runs perform() once for every pending authorization's challenge, answers
-- them, waits, and always runs cleanup().
-- ids: the identifiers asked for ({type=, value=}); an authorization for
-- anything else is refused before any challenge is touched.
function M.authorize(ctx, order, auth, deadline, domains, ids)
  local config, client = ctx.config, ctx.client
  local preferred = M.preferred_challenges(config.pref_challs)
  local pending, failures = {}, {}
  local asked
  if ids then
    asked = {}
    for _, id in ipairs(ids) do
      asked[id.type .. ":" .. id.value:lower():gsub("^%*%.", "")] = true
    end
  end
  for _, url in ipairs(order.authorizations) do
    local authz, err = client:authorization(url)
    if not authz then fail("Unable to fetch an authorization: " .. tostring(err)) end
    local id = authz.identifier
    if asked and not asked[tostring(id.type) .. ":" .. id.value:lower()] then
      fail(("The CA sent an authorization for %s, which was not asked for (%s)")
        :format(M.printable(tostring(id.type) .. " " .. id.value), url))
    end
    if authz.status == "pending" then
      pending[#pending + 1] = authz
    elseif authz.status ~= "valid" then
      failures[#failures + 1] = { identifier = authz.identifier.value,
        problem = acme.problem({ type = "unauthorized", detail = "authorization is " .. authz.status }) }
    end
  end
  if #pending == 0 then return failures end
  -- in the order the user named them (the CA may list them in any order)
  local rank = {}
  for i, d in ipairs(domains or {}) do rank[d:gsub("^%*%.", "")] = rank[d:gsub("^%*%.", "")] or i end
  table.sort(pending, function(a, b)
    return (rank[a.identifier.value] or math.huge) < (rank[b.identifier.value] or math.huge)
  end)

  local challenges = {}
  for _, authz in ipairs(pending) do
    local id = authz.identifier
    local supported = auth:challenge_preferences(id)
    local ch = choose_challenge(authz, supported, preferred)
    if not ch then
      fail(("Client with the currently selected authenticator does not support any combination "
        .. "of challenges that will satisfy the CA. You may need to use an authenticator plugin "
        .. "that can do challenges over DNS. (%s offers: %s)"):format(id.value, describe_types(authz)))
    end
    local token, terr = names.token(ch.token)
    if not token then fail(terr) end
    local keyauth = client:key_authorization(token)
    challenges[#challenges + 1] = {
      type = ch.type, url = ch.url, token = token,
      key_authorization = keyauth,
      validation = crypto.b64url_encode(crypto.sha256(keyauth)),
      identifier = id, domain = id.value, wildcard = authz.wildcard and true or false,
      authz = authz,
    }
  end

  log.info("Performing the following challenges:")
  for _, ch in ipairs(challenges) do log.info("%s challenge for %s", ch.type, ch.domain) end
  local ok, perr = pcall(function()
    local done, err = auth:perform(challenges)
    if not done then fail(tostring(err)) end
    if config.debug_challenges and display.interactive then
      display.pause("Challenges are in place; press Enter to let the CA validate them.")
    end
    for _, ch in ipairs(challenges) do
      local r, aerr = client:answer(ch)
      if not r then
        failures[#failures + 1] = { identifier = ch.domain, problem = aerr }
        ch.failed = true
      end
    end
    log.info("Waiting for verification...")
    for _, ch in ipairs(challenges) do
      if not ch.failed then
        local authz, werr = client:poll(ch.authz.url, function(a)
          return a.status ~= "pending"
        end, deadline, "authorization of " .. ch.domain)
        if not authz then
          failures[#failures + 1] = { identifier = ch.domain, problem = werr }
        elseif authz.status ~= "valid" then
          local problem
          for _, c in ipairs(authz.challenges or {}) do
            if type(c) == "table" and type(c.error) == "table" then
              problem = acme.problem({ type = c.error.type, detail = c.error.detail })
            end
          end
          failures[#failures + 1] = { identifier = ch.domain, challenge = ch.type,
            problem = problem or acme.problem({ type = "unauthorized", detail = "authorization " .. authz.status }) }
        end
      end
    end
  end)
  local cok, cerr = pcall(auth.cleanup, auth, challenges)
  if not cok then log.warning("cleanup failed: %s", tostring(cerr)) end
  if not ok then error(perr, 0) end
  return failures
end

-- s with control and non-ASCII bytes shown as "?", at most 200 bytes:
-- for a string from the CA in a one-line message.
function M.printable(s)
  return (tostring(s):sub(1, 200):gsub("[%c\128-\255]", "?"))
end

-- Certbot's report of failed authorizations.
function M.report_failures(config, failures)
  local lines = { ("Certbot failed to authenticate some domains (authenticator: %s). The Certificate "
    .. "Authority reported these problems:"):format(tostring(config.authenticator)) }
  for _, f in ipairs(failures) do
    local p = f.problem or {}
    local t = p.type and M.printable(tostring(p.type):gsub("^urn:ietf:params:acme:error:", "")) or "error"
    -- the CA's words, on one line each: no control characters reach the terminal
    lines[#lines + 1] = ("  Domain: %s\n  Type:   %s\n  Detail: %s\n"):format(
      f.identifier, t, (tostring(p.detail or p.message or p):gsub("%c", " ")))
  end
  if config.authenticator == "standalone" then
    lines[#lines + 1] = "Hint: The Certificate Authority failed to download the challenge files from the "
      .. "temporary standalone webserver started by Certbot. Ensure that the listed domains point to this "
      .. "machine and that it can accept inbound connections from the internet."
  elseif config.authenticator == "webroot" then
    lines[#lines + 1] = "Hint: The Certificate Authority failed to download the temporary challenge files "
      .. "created by Certbot. Ensure that the listed domains serve their content from the provided "
      .. "--webroot-path/-w and that files created there can be downloaded from the internet."
  elseif config.authenticator == "manual" then
    lines[#lines + 1] = "Hint: The Certificate Authority failed to verify the manually created challenge "
      .. "files or DNS records. Ensure that you created these in the correct location."
  end
  display.warn(table.concat(lines, "\n"))
end

---------------------------------------------------------------------------
-- Getting a certificate
---------------------------------------------------------------------------

local function topmost_issuer(pem)
  local certs = crypto.split_pem(pem)
  local top = certs[#certs]
  local info = top and crypto.parse_cert(top)
  return info and info.issuer_cn
end

-- Pick the chain whose topmost certificate's issuer CN is preferred.
function M.choose_chain(client, pem, alternates, preferred)
  if not preferred or preferred == "" then return pem end
  if topmost_issuer(pem) == preferred then return pem end
  for _, url in ipairs(alternates) do
    local alt, err = client:download(url)
    if alt then
      if topmost_issuer(alt) == preferred then
        log.info("using the alternate chain issued by %s", preferred)
        return alt
      end
    else
      log.warning("could not fetch the alternate chain %s: %s", url, tostring(err))
    end
  end
  log.info("no chain matches --preferred-chain %s; using the default chain", preferred)
  return pem
end

-- Split what the CA sent into cert, chain and fullchain.
function M.split_chain(pem)
  local certs = crypto.split_pem(pem)
  if #certs == 0 then fail("The CA sent no certificate") end
  local cert = certs[1]
  local chain = table.concat(certs, "", 2)
  return { cert = cert, chain = chain, fullchain = cert .. chain }
end

-- The profiles the CA's directory offers (meta.profiles, draft-ietf-acme-
-- profiles): a sorted array of { name =, description = }; empty when none.
function M.offered_profiles(dir)
  local out = {}
  local p = type(dir) == "table" and type(dir.meta) == "table" and dir.meta.profiles
  if type(p) ~= "table" then return out end
  for name, desc in pairs(p) do
    if type(name) == "string" then
      out[#out + 1] = { name = name, description = type(desc) == "string" and desc or "" }
    end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

-- The profile to ask for: --required-profile (the CA must offer it, else
-- the run fails) or --preferred-profile (used when offered, else the CA's
-- default, with a notice).  Given both, the one given on this run wins; on
-- the same footing, the required one.  -> name | nil
function M.choose_profile(config, dir)
  local req, pref = config.required_profile, config.preferred_profile
  if req == "" then req = nil end
  if pref == "" then pref = nil end
  if not req and not pref then return nil end
  if req and pref then
    if config:set_by_user("required_profile") and config:set_by_user("preferred_profile") then
      fail("--preferred-profile and --required-profile cannot be used together", 2)
    end
    if config:set_by_user("preferred_profile") then req = nil else pref = nil end
  end
  local offered = M.offered_profiles(dir)
  local names_list = {}
  for _, p in ipairs(offered) do
    if p.name == (req or pref) then return p.name end
    names_list[#names_list + 1] = p.name
  end
  local what = #names_list > 0 and ("it offers: " .. M.printable(table.concat(names_list, ", ")))
    or "it offers no profiles"
  if req then
    fail(("The ACME server does not offer the required profile '%s' (%s)"):format(req, what))
  end
  display.notify(("The ACME server does not offer the profile '%s' (%s); using its default profile.")
    :format(pref, what))
  return nil
end

-- A CA's problem that says when to come back (a 429 rateLimited, or a
-- 503 whose Retry-After is too long to wait out in process) is kept on
-- ctx.ca_retry_after (seconds) for renew to record; then the run fails.
local function fail_with(ctx, prefix, err)
  if type(err) == "table" and err.retry_after and (err.status == 429 or err.status == 503) then
    ctx.ca_retry_after = err.retry_after
  end
  fail(prefix .. tostring(err))
end

-- The CertID (RFC 9773 §4.1) a new order of a renewal names in
-- "replaces": the lineage's current certificate, when the CA has ARI and
-- this is not a dry run (which must not mark the real one as replaced).
local function replaces(ctx, client)
  local lineage = ctx.lineage
  if not lineage or ctx.config.dry_run or type(client.dir.renewalInfo) ~= "string" then return nil end
  local pem = lineage:read("cert")
  local id = pem and crypto.ari_cert_id(pem)
  if not id then log.info("%s: no CertID for the replaces field", lineage.name) end
  return id
end

-- request: { domains = {...}, ips = {...}, key = key userdata (for the CSR)
--            or csr_der = DER (user's CSR) }
-- -> { cert=, chain=, fullchain=, domains = {...} } (domains: what was issued)
function M.certificate(ctx, request)
  local config = ctx.config
  local client = M.client(ctx)
  local auth = ctx.auth
  local deadline = sys.monotonic() + (tonumber(config.issuance_timeout) or 90)
  local domains = request.domains
  local extra = { profile = M.choose_profile(config, client.dir), replaces = replaces(ctx, client) }

  while true do
    local ids = M.identifiers(domains, request.ips)
    local order, err = client:new_order(ids, extra)
    -- the CA will not take "replaces" (it was replaced already, or the CA
    -- refuses the field): once more without it (RFC 9773 §5)
    if not order and extra.replaces and (acme.is_problem(err, "alreadyReplaced")
        or acme.is_problem(err, "malformed")) then
      log.info("the CA refused replaces=%s (%s); ordering again without it", extra.replaces, tostring(err))
      extra.replaces = nil
      order, err = client:new_order(ids, extra)
    end
    if not order then fail_with(ctx, "Unable to place the order: ", err) end
    if config.dry_run then
      -- a dry run must really validate: drop authorizations the CA reuses
      local dropped = false
      for _, url in ipairs(order.authorizations) do
        local a = client:authorization(url)
        if a and a.status == "valid" then
          client:deactivate_authorization(url)
          dropped = true
        end
      end
      if dropped then
        order, err = client:new_order(ids, extra)
        if not order then fail("Unable to place the order: " .. tostring(err)) end
      end
    end
    local failures = M.authorize(ctx, order, auth, deadline, domains, ids)
    if #failures == 0 then
      local csr = request.csr_der or crypto.make_csr(request.key, ids, { must_staple = config.must_staple })
      local final, ferr = client:finalize(order, csr, deadline)
      if not final then fail_with(ctx, "Failed to finalize the order: ", ferr) end
      local pem, alternates = client:download(final.certificate)
      if not pem then fail_with(ctx, "Failed to download the certificate: ", alternates) end
      pem = M.choose_chain(client, pem, alternates, config.preferred_chain)
      local result = M.split_chain(pem)
      result.domains = domains
      acme.log_stats(client)
      return result
    end
    M.report_failures(config, failures)
    if not config.allow_subset_of_names then
      fail("Some challenges have failed.")
    end
    local bad = {}
    for _, f in ipairs(failures) do bad[f.identifier] = true end
    local rest = {}
    for _, d in ipairs(domains) do
      if not bad[d] and not bad[d:gsub("^%*%.", "")] then rest[#rest + 1] = d end
    end
    if #rest == 0 or #rest == #domains then fail("Some challenges have failed.") end
    display.warn("Unable to obtain a certificate with every requested name; retrying without: "
      .. table.concat((function()
        local t = {}
        for d in pairs(bad) do t[#t + 1] = d end
        table.sort(t)
        return t
      end)(), ", "))
    domains = rest
  end
end

-- install(config, lineage, domains, title): redeploy a renewed lineage
-- through its stored installer (no enhancements: they are in place).
function M.install(config, lineage, domains, title)
  require("certbot.installer").deploy(config, lineage.paths, domains, { title = title })
end

---------------------------------------------------------------------------
-- Renewal parameters and saving
---------------------------------------------------------------------------

-- The [renewalparams] of a lineage from the run's config: every option the
-- option table marks as stored, when it differs from nothing.
function M.renewal_params(ctx)
  local config = ctx.config
  local params, known = {}, {}
  params.known = known
  local function add(k, v)
    if v == nil then return end
    known[k] = true
    if type(v) == "boolean" then v = v and "True" or "False" end
    if type(v) == "number" then v = tostring(math.tointeger(v) or v) end
    params[#params + 1] = { k, v }
  end
  add("account", ctx.account and ctx.account.id)
  add("authenticator", config.authenticator)
  add("installer", config.installer)
  add("server", M.server(config))
  for _, opt in ipairs(options.renewal_options()) do
    local k = opt.dest
    if k ~= "authenticator" and k ~= "installer" and k ~= "server" and k ~= "account"
      and k ~= "webroot_map" then
      local v = config[k]
      if k == "pref_challs" and type(v) == "table" then
        v = M.preferred_challenges(v)
        if #v == 0 then v = nil end
      end
      if type(v) == "table" and #v == 0 then v = nil end
      -- Given now: stored.  Not given: a new lineage stores what Certbot
      -- always stores (key type, reuse_key); an existing one keeps what
      -- its conf already says (build_conf keeps keys not marked known).
      if v ~= nil and (config:set_by_user(k) or k == "key_type"
          or (k == "reuse_key" and not ctx.lineage)) then
        add(k, v)
      end
    end
  end
  if config.authenticator == "webroot" and config.webroot_map and next(config.webroot_map) then
    local sec = {}
    local ds = {}
    for d in pairs(config.webroot_map) do ds[#ds + 1] = d end
    table.sort(ds)
    for _, d in ipairs(ds) do sec[#sec + 1] = { d, config.webroot_map[d] } end
    params[#params + 1] = { "webroot_map", { section = sec } }
  end
  known.webroot_map = true
  -- a profile given now replaces a stored one of the other kind
  if config:set_by_user("preferred_profile") or config:set_by_user("required_profile") then
    known.preferred_profile, known.required_profile = true, true
  end
  return params
end

-- The name of a new lineage: --cert-name, else the first identifier (the
-- first -d name, or the first --ip-address when there is none).
function M.lineage_name(config, domains, ips)
  if config.certname and config.certname ~= "" then return config.certname end
  local first = domains[1] or (ips or {})[1]
  return (first:gsub("^%*%.", ""))
end

-- Every identifier on a lineage's certificate: DNS names, then addresses.
function M.lineage_identifiers(lineage)
  local dns, info = M.lineage_domains(lineage)
  local out = {}
  for _, d in ipairs(dns) do out[#out + 1] = d end
  for _, ip in ipairs(info and info.ips or {}) do out[#out + 1] = ip end
  return out
end

function M.lineage_domains(lineage)
  local pem = lineage:read("cert")
  local info = pem and crypto.parse_cert(pem)
  if not info then return {} end
  local out = {}
  for _, d in ipairs(info.dns or {}) do out[#out + 1] = d end
  return out, info
end

-- Find the lineage this request is about: by --cert-name, else one whose
-- names equal the request's (identical) or are a subset of them (expand).
function M.find_lineage(ctx, domains)
  local config, backend = ctx.config, ctx.backend
  if config.certname then
    local l = storage.load(backend, config.certname)
    if l then return l, "named" end
    if backend:name_taken(config.certname) and not backend:is_leftover(config.certname) then
      fail(("The lineage %s is broken: %s"):format(config.certname,
        select(2, storage.load(backend, config.certname)) or "unreadable"))
    end
    return nil
  end
  if config.duplicate then return nil end
  local want = {}
  for _, d in ipairs(domains) do want[d] = true end
  local subset
  for _, l in ipairs(storage.all(backend).lineages) do
    local have = M.lineage_identifiers(l)
    local same, all_in = #have == #domains, true
    for _, d in ipairs(have) do
      if not want[d] then same, all_in = false, false end
    end
    if same then return l, "identical" end
    if all_in and #have > 0 and not subset then subset = l end
  end
  if subset then return subset, "subset" end
  return nil
end

local function same_set(a, b)
  if #a ~= #b then return false end
  local s = {}
  for _, x in ipairs(a) do s[x] = true end
  for _, x in ipairs(b) do if not s[x] then return false end end
  return true
end

-- What to do with an existing lineage: "renew", "reinstall" (keep) or a new
-- one ("newcert").
function M.decide(ctx, lineage, how, domains)
  local config = ctx.config
  if not lineage then return "newcert" end
  if how == "named" then
    local have = M.lineage_identifiers(lineage)
    if not same_set(have, domains) then
      local added, removed = {}, {}
      local hs, ds = {}, {}
      for _, d in ipairs(have) do hs[d] = true end
      for _, d in ipairs(domains) do ds[d] = true; if not hs[d] then added[#added + 1] = d end end
      for _, d in ipairs(have) do if not ds[d] then removed[#removed + 1] = d end end
      local msg = ("You are updating certificate %s to include new domain(s): %s\n\nYou are also "
        .. "removing previously included domain(s): %s\n\nDid you intend to make this change?")
        :format(lineage.name, #added > 0 and table.concat(added, ", ") or "(None)",
          #removed > 0 and table.concat(removed, ", ") or "(None)")
      if not display.yesno(msg, { yes_label = "Update certificate", no_label = "Cancel", default = true }) then
        fail("User chose to cancel the operation and may reinvoke the client.")
      end
      return "renew"
    end
    how = "identical"
  end
  if how == "subset" then
    if config.expand then return "renew" end
    local have = M.lineage_identifiers(lineage)
    local q = ("You have an existing certificate that contains a portion of the domains you "
      .. "requested (ref: %s)\n\nIt contains these names: %s\n\nYou requested these names for "
      .. "the new certificate: %s.\n\nDo you want to expand and replace this existing certificate "
      .. "with the new certificate?"):format(lineage.conf_path, table.concat(have, ", "),
        table.concat(domains, ", "))
    if display.yesno(q, { yes_label = "Expand", no_label = "Cancel",
      cli_flag = "--expand", force = true, short = ("the requested names extend the existing certificate %s")
      :format(lineage.name) }) then
      return "renew"
    end
    fail("User chose to cancel the operation and may reinvoke the client.")
  end
  -- identical names
  if config.renew_by_default then return "renew" end
  if config.reinstall then return "reinstall" end
  local pem = lineage:read("cert")
  local due = pem and renewal.due(pem, lineage.conf.keys.renew_before_expiry)
  -- a revoked certificate is due, as Certbot counts it
  if not due and pem and require("certbot.ocsp").lineage_revoked(lineage, pem) then due = true end
  if due then return "renew" end
  if not display.interactive then return "reinstall" end
  local choice = display.menu(("You have an existing certificate that has exactly the same domains "
    .. "or certificate name you requested and isn't close to expiry.\n(ref: %s)\n\n"
    .. "What would you like to do?"):format(lineage.conf_path),
    { "Keep the existing certificate for now", "Renew & replace the certificate (may be subject "
      .. "to CA rate limits)" }, { default = 1 })
  if choice == 2 then return "renew" end
  if choice == nil then fail("Operation canceled. You may re-run the client.") end
  return "reinstall"
end

-- A successor's key keeps the group and other read bits of the key before
-- it (Certbot's rule, storage.lua), so a key someone made readable by every
-- user stays so: kept, with a warning naming the file.
function M.warn_world_readable_key(lineage, version)
  local path = lineage.backend:archive_path(lineage.name, "privkey", version)
  local st = lineage.backend:key_stat(lineage.name, version)
  if st and st.mode & 4 ~= 0 then
    display.warn(("The private key %s is readable by every user of this machine (mode %04o, kept from "
      .. "the previous key as Certbot does); to make it private: chmod o-r %s"):format(path, st.mode & 4095, path))
    log.warning("%s: new key %s is world-readable (mode %04o, kept from the previous key)", lineage.name, path,
      st.mode & 4095)
  end
end

-- The key for a renewal: the lineage's current key with --reuse-key (or
-- reuse_key stored), unless --new-key or a change of key type.
function M.renewal_key(ctx, lineage)
  local config = ctx.config
  local reuse
  if config:set_by_user("reuse_key") then
    reuse = config.reuse_key and true or false
  else
    local stored = lineage.params.reuse_key
    reuse = stored == "True" or stored == "true"
  end
  if config.new_key then reuse = false end
  if not reuse then return M.new_key(config), false end
  local pem = lineage:read("privkey")
  local key = pem and crypto.load_key(pem)
  if not key then return M.new_key(config), false end
  local info = key:info()
  local want = config.key_type or "ecdsa"
  if (info.type == "rsa") ~= (want == "rsa") then
    fail("Unable to change the type of the reused key: use --new-key to change the key type "
      .. "of a lineage that has --reuse-key set.")
  end
  return key, true
end

-- A certificate from the staging server (Certbot's is_test_cert).
function M.is_test_cert(lineage)
  return lineage.params.server == STAGING
end

-- Replacing a real certificate with a staging one needs --break-my-certs.
function M.check_test_cert(ctx, lineage)
  local config = ctx.config
  if config.staging and not config.dry_run and not config.break_my_certs
    and not M.is_test_cert(lineage) then
    fail(("You've asked to renew/replace a seemingly valid certificate with a test certificate "
      .. "(domains: %s). We will not do that unless you use the --break-my-certs flag!")
      :format(table.concat(M.lineage_domains(lineage), ", ")))
  end
end

-- Check a key-type change against an existing lineage, as Certbot does.
function M.check_key_type_change(ctx, lineage)
  local config = ctx.config
  if not config:set_by_user("key_type") then
    -- keep the lineage's type unless the user asked for another
    local stored = lineage.params.key_type
    if stored then config.key_type = stored end
    if stored == "rsa" and lineage.params.rsa_key_size and not config:set_by_user("rsa_key_size") then
      config.rsa_key_size = tonumber(lineage.params.rsa_key_size)
    end
    if stored == "ecdsa" and lineage.params.elliptic_curve and not config:set_by_user("elliptic_curve") then
      config.elliptic_curve = lineage.params.elliptic_curve
    end
    return
  end
  local pem = lineage:read("privkey")
  local key = pem and crypto.load_key(pem)
  local current = key and (key:info().type == "rsa" and "rsa" or "ecdsa")
  if current and current ~= config.key_type and not config.certname then
    fail(("Are you trying to change the key type of the certificate named %s from %s to %s? "
      .. "Please provide both --cert-name and --key-type on the command line to confirm the change "
      .. "you are trying to make."):format(lineage.name, current:upper(), config.key_type:upper()))
  end
end

return M
