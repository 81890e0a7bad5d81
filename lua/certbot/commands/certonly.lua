-- certonly (also `auth`): obtain or renew a certificate without installing
-- it.  `run` shares everything here and adds the installer step.

local core = require("certbot.core")
local display = require("certbot.display")
local errors = require("certbot.errors")
local hooks = require("certbot.hooks")
local log = require("certbot.log")
local names = require("certbot.names")
local obtain = require("certbot.obtain")
local options = require("certbot.options")
local plugins = require("certbot.plugins")
local storage = require("certbot.storage")

local crypto, sys = core.crypto, core.sys

local M = {}

local function fail(msg, code) errors.raise(msg, code or 1) end

-- Plugin selection flags (--standalone, --nginx, --dns-rfc2136 ...: the
-- option table marks them with `selector`) -> authenticator and installer,
-- as Certbot resolves them; a conflict is a usage error.
local INSTALLS = { nginx = true, apache = true }

function M.select_plugins(config, need_installer)
  local auth, inst = config.authenticator, config.installer
  local function set(kind, name)
    local cur
    if kind == "auth" then cur = auth else cur = inst end
    if cur and cur ~= name then
      fail(("Too many flags setting configurators/installers/authenticators '%s' -> '%s'")
        :format(cur, name), 2)
    end
    if kind == "auth" then auth = name else inst = name end
  end
  for _, e in ipairs(options.list) do
    if e.selector and config[e.dest] == true then
      set("auth", e.selector)
      if INSTALLS[e.selector] then set("inst", e.selector) end
    end
  end
  if config.configurator then
    set("auth", config.configurator)
    set("inst", config.configurator)
  end
  if not auth then
    if display.interactive then
      local choices = { "standalone", "webroot", "manual" }
      local i = display.menu("How would you like to authenticate with the ACME CA?", {
        "Spin up a temporary webserver (standalone)",
        "Place files in webroot directory (webroot)",
        "Obtain certificates using hooks or by hand (manual)",
      })
      if not i then fail("Operation canceled. You may re-run the client.") end
      auth = choices[i]
    else
      fail("Missing command line flags. For non-interactive execution, you will need to specify a "
        .. "plugin on the command line. Run with '--help plugins' to see a list of options.")
    end
  end
  if need_installer and not inst then
    fail("Missing command line flags: choose an installer with -i/--installer, --nginx or --apache "
      .. "(or -i null to install nothing).")
  end
  config.authenticator, config.installer = auth, inst
  return auth, inst
end

-- The names of the request, checked before any network request.
local function requested_domains(config)
  local domains, err = names.domains(config.domains)
  if not domains then fail(err) end
  return domains
end

-- The --ip-address values, normalised (RFC 8738 §3 text forms); a bad one
-- is a usage error naming it.
local function requested_ips(config)
  local ips, err = names.ip_addresses(config.ip_addresses)
  if not ips then errors.usage(err) end
  return ips
end

-- Every identifier of a request: the names, then the addresses.
local function identifiers(domains, ips)
  local out = {}
  for _, d in ipairs(domains) do out[#out + 1] = d end
  for _, ip in ipairs(ips) do out[#out + 1] = ip end
  return out
end

local function check_wildcards(domains, auth, config)
  local prefs = auth:challenge_preferences({ type = "dns", value = domains[1] or "" })
  local dns = false
  for _, t in ipairs(prefs) do if t == "dns-01" then dns = true end end
  local pref = obtain.preferred_challenges(config.pref_challs)
  if #pref > 0 then
    local any = false
    for _, t in ipairs(pref) do if t == "dns-01" then any = true end end
    dns = dns and any
  end
  for _, d in ipairs(domains) do
    if d:sub(1, 2) == "*." and not dns then
      fail(("Wildcard domains require the dns-01 challenge, which the %s plugin does not "
        .. "perform: %s. Use a DNS plugin or --manual with --preferred-challenges dns.")
        :format(config.authenticator, d))
    end
  end
end

-- Write the --csr outputs: cert, chain, fullchain at the given paths, or
-- fresh 0000_*.pem names in the current directory.
local function unique_path(kind)
  for i = 0, 9999 do
    local p = ("%04d_%s.pem"):format(i, kind)
    if not sys.lstat(p) then return p end
  end
  fail("no free file name for the " .. kind)
end

local function save_csr_outputs(config, result)
  local out = {}
  for _, kind in ipairs({ "cert", "chain", "fullchain" }) do
    local path = config[kind .. "_path"]
    if not path or path == "" then path = unique_path(kind) end
    local dir = path:match("^(.*)/[^/]+$")
    if dir and dir ~= "" then
      local ok, err = storage.makedirs(dir, 493)
      if not ok then fail("Unable to create " .. dir .. ": " .. err) end
    end
    local ok, err = storage.write_file(path, result[kind], 420)
    if not ok then fail("Unable to write " .. path .. ": " .. err) end
    out[kind] = path
  end
  return out
end

-- A new certificate runs --deploy-hook; a renewed one runs the renew hook
-- (--deploy-hook sets it too; the older --renew-hook sets only it).
local function run_deploy_hook(config, lineage_dir, domains, renewed)
  local cmd = renewed and config.renew_hook or config.deploy_hook
  if not cmd or cmd == "" then return end
  if config.dry_run and not config.run_deploy_hooks then
    display.notify("Dry run: skipping deploy hook command: " .. cmd)
    return
  end
  hooks.run("deploy-hook", cmd, {
    RENEWED_LINEAGE = lineage_dir,
    RENEWED_DOMAINS = table.concat(domains, " "),
  })
end

local function expiry_text(pem)
  local info = crypto.parse_cert(pem)
  return info and os.date("!%Y-%m-%d", info.not_after) or "(unknown)"
end

-- obtain_and_save(config, opts) -> lineage|nil, result
-- opts.installer: true for `run` (an installer will deploy the result);
-- opts.choose_names(config) -> domains|nil offers the installer's names.
function M.obtain_and_save(config, opts)
  opts = opts or {}
  local domains = requested_domains(config)
  local ips = requested_ips(config)
  local csr
  if config.csr then
    local data, err = sys.read_file(config.csr, 1 << 20)
    if not data then fail("Unable to read the CSR: " .. err) end
    local info, cerr = crypto.read_csr(data)
    if not info then fail(("%s: %s"):format(config.csr, cerr)) end
    local csr_domains = names.domains(info.dns or {})
    if not csr_domains then fail(config.csr .. ": the CSR names an invalid domain") end
    if #domains > 0 then
      local want = {}
      for _, d in ipairs(csr_domains) do want[d] = true end
      for _, d in ipairs(domains) do
        if not want[d] then
          fail(("Inconsistent domain requests:\nFrom the CSR: %s\nFrom command line/config: %s")
            :format(table.concat(csr_domains, ", "), table.concat(domains, ", ")))
        end
      end
    end
    domains, csr = csr_domains, info
    -- the CSR's iPAddress SANs join --ip-address (the order must name them all)
    local csr_ips = names.ip_addresses(info.ips or {}) or {}
    local seen = {}
    for _, ip in ipairs(ips) do seen[ip] = true end
    for _, ip in ipairs(csr_ips) do
      if not seen[ip] then ips[#ips + 1] = ip end
    end
  end
  if config.certname then
    local ok, err = names.cert_name(config.certname)
    if not ok then fail(err, 2) end
  end

  M.select_plugins(config, opts.installer)
  local hok, herr = hooks.validate_config(config)
  if not hok then fail(herr) end
  local ctx = obtain.context(config)
  local auth, aerr = plugins.instance(config.authenticator, "authenticator", config)
  if not auth then fail(aerr) end

  local lineage, how
  if #domains == 0 and #ips == 0 and config.certname then
    lineage = storage.load(ctx.backend, config.certname)
    if lineage then
      local info
      domains, info = obtain.lineage_domains(lineage)
      ips = info and info.ips or {}
      how = "named"
    end
  end
  if #domains == 0 and #ips == 0 and opts.choose_names then
    domains = opts.choose_names(config) or domains
  end
  if #domains == 0 and #ips == 0 then
    if display.interactive then
      local line = display.input("Please enter the domain name(s) you would like on your certificate "
        .. "(comma and/or space separated)")
      if not line then fail("Operation canceled. You may re-run the client.") end
      local list = {}
      for d in line:gmatch("[^,%s]+") do list[#list + 1] = d end
      local ok, err = names.domains(list)
      if not ok then fail(err) end
      domains = ok
    end
    if #domains == 0 then
      fail("Missing command line flag or config entry for this setting: the domain name(s) for the "
        .. "certificate (You can set this with the -d flag)")
    end
  end
  check_wildcards(domains, auth, config)
  local ok, perr = auth:prepare()
  if not ok then fail(tostring(perr)) end
  ctx.auth = auth

  -- Certificate from the user's CSR: no lineage, no key of ours.
  if csr then
    obtain.client(ctx)
    local result
    M.with_hooks(ctx, function()
      display.notify("Requesting a certificate for " .. M.describe(identifiers(domains, ips)))
      result = obtain.certificate(ctx, { domains = domains, ips = ips, csr_der = csr.der })
    end)
    if config.dry_run then
      display.notify("The dry run was successful.")
      return nil, result
    end
    local paths = save_csr_outputs(config, result)
    display.notify(("\nSuccessfully received certificate.\nCertificate is saved at:            %s\n"
      .. "Intermediate CA chain is saved at:  %s\nFull certificate chain is saved at: %s\n"
      .. "This certificate expires on %s."):format(paths.cert, paths.chain, paths.fullchain,
        expiry_text(result.cert)))
    return nil, result
  end

  local wanted = identifiers(domains, ips)
  if not how then lineage, how = obtain.find_lineage(ctx, wanted) end
  local action = obtain.decide(ctx, lineage, how, wanted)
  if action == "reinstall" then
    if not opts.installer then
      display.notify("Certificate not yet due for renewal; no action taken.")
    end
    return lineage, nil, "reinstall"
  end
  if lineage then
    obtain.check_key_type_change(ctx, lineage)
    obtain.check_test_cert(ctx, lineage)
  end
  ctx.lineage = lineage

  obtain.client(ctx) -- the account first, as Certbot does
  local result
  M.with_hooks(ctx, function()
    local key, reused
    if lineage then
      key, reused = obtain.renewal_key(ctx, lineage)
      display.notify("Renewing an existing certificate for " .. M.describe(wanted))
    else
      key = obtain.new_key(config)
      display.notify("Requesting a certificate for " .. M.describe(wanted))
    end
    if config.must_staple then
      display.warn("Warning: OCSP Must-Staple is requested; many CAs (Let's Encrypt among them) "
        .. "no longer issue such certificates.")
    end
    result = obtain.certificate(ctx, { domains = domains, key = key, ips = ips })
    result.privkey = (not reused) and key:pem() or nil
    if config.dry_run then return end
    local params = obtain.renewal_params(ctx)
    if lineage then
      local v, serr = lineage:save_successor({ cert = result.cert, chain = result.chain,
        fullchain = result.fullchain, privkey = result.privkey }, params)
      if not v then fail("Unable to save the renewed certificate: " .. serr) end
      log.info("saved version %d of %s", v, lineage.name)
      obtain.warn_world_readable_key(lineage, v)
      -- the ARI window and any hold were about the certificate just replaced
      local cok, cerr = require("certbot.ari").clear(lineage)
      if not cok then log.warning("%s: could not clear its ARI state: %s", lineage.name, tostring(cerr)) end
    else
      local l, serr = storage.new_lineage(ctx.backend, obtain.lineage_name(config, result.domains, ips),
        { cert = result.cert, chain = result.chain, fullchain = result.fullchain, privkey = result.privkey },
        params)
      if not l then fail("Unable to save the certificate: " .. serr) end
      lineage = l
    end
    run_deploy_hook(config, ctx.backend:live_dir(lineage.name), identifiers(result.domains, ips),
      action == "renew")
    lineage:deploy_done()
  end)

  if config.dry_run then
    display.notify("The dry run was successful.")
    return nil, result
  end
  if not opts.installer then
    display.notify(("\nSuccessfully received certificate.\nCertificate is saved at: %s\n"
      .. "Key is saved at:         %s\nThis certificate expires on %s.\n"
      .. "These files will be updated when the certificate renews.")
      :format(lineage.paths.fullchain, lineage.paths.privkey, expiry_text(result.cert)))
  end
  return lineage, result
end

function M.describe(domains)
  if #domains == 1 then return domains[1] end
  if #domains == 2 then return domains[1] .. " and " .. domains[2] end
  return ("%s and %d more domains"):format(domains[1], #domains - 1)
end

-- Pre hook before, post hook after (also when obtaining failed, or a
-- signal cut the pre hook short).
function M.with_hooks(ctx, fn)
  local config = ctx.config
  local ok, err = pcall(function()
    if config.pre_hook and config.pre_hook ~= "" then
      hooks.run("pre-hook", config.pre_hook)
    end
    return fn()
  end)
  if config.post_hook and config.post_hook ~= "" then
    hooks.run("post-hook", config.post_hook)
  end
  if not ok then error(err, 0) end
end

function M.run(config)
  M.obtain_and_save(config)
  return 0
end

return M
