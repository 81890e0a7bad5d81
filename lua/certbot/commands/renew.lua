-- renew: renew every lineage that is due (or --cert-name), each with the
-- settings stored in its renewal conf, command-line options overriding
-- them.  One broken conf or one failing renewal does not stop the others.

local core = require("certbot.core")
local certonly = require("certbot.commands.certonly")
local display = require("certbot.display")
local errors = require("certbot.errors")
local hooks = require("certbot.hooks")
local log = require("certbot.log")
local obtain = require("certbot.obtain")
local ocsp = require("certbot.ocsp")
local plugins = require("certbot.plugins")
local renewal = require("certbot.renewal")
local storage = require("certbot.storage")

local sys = core.sys

local M = {}

local RULE = string.rep("- ", 40):sub(1, 79)

-- Hooks of a renew run: pre hooks once before the first renewal, deploy
-- hooks per renewed lineage, post hooks once at the end.  The same command
-- runs once, whether it comes from the command line, several lineages'
-- confs or renewal-hooks/.
local Hooks = {}
Hooks.__index = Hooks

function M.new_hooks(config)
  return setmetatable({ config = config, pre_ran = {}, post = {}, post_seen = {} }, Hooks)
end

function Hooks:dir(kind)
  if self.config.directory_hooks == false then return {} end
  return hooks.dir_hooks(self.config.config_dir, kind)
end

-- Directory hooks first, then the configured command unless it is one of
-- them (Certbot's order).
function Hooks:pre(lconfig)
  for _, h in ipairs(self:dir("pre")) do
    if not self.pre_ran[h] then
      self.pre_ran[h] = true
      hooks.run_file("pre-hook", h, {}, { event = "pre" })
    end
  end
  local cmd = lconfig.pre_hook
  if cmd and cmd ~= "" and not self.pre_ran[cmd] then
    self.pre_ran[cmd] = true
    hooks.run("pre-hook", cmd, {}, { event = "pre" })
  end
  -- remember this lineage's post hook for the end
  local post = lconfig.post_hook
  if post and post ~= "" and not self.post_seen[post] then
    self.post_seen[post] = true
    self.post[#self.post + 1] = post
  end
end

function Hooks:deploy(lconfig, lineage, domains)
  local env = {
    RENEWED_LINEAGE = lineage.backend:live_dir(lineage.name),
    RENEWED_DOMAINS = table.concat(domains, " "),
  }
  local info = { event = "deploy", lineage = env.RENEWED_LINEAGE, domains = domains, paths = lineage.paths }
  local ran = {}
  for _, h in ipairs(self:dir("deploy")) do
    ran[h] = true
    hooks.run_file("deploy-hook", h, env, info)
  end
  local cmd = lconfig.renew_hook
  if cmd and cmd ~= "" and not ran[cmd] then hooks.run("deploy-hook", cmd, env, info) end
end

function Hooks:finish(renewed, failed)
  local env = { RENEWED_DOMAINS = table.concat(renewed, " "), FAILED_DOMAINS = table.concat(failed, " ") }
  local info = { event = "post", domains = renewed, failed_domains = failed }
  local ran = {}
  for _, h in ipairs(self:dir("post")) do
    ran[h] = true
    hooks.run_file("post-hook", h, env, info)
  end
  for _, cmd in ipairs(self.post) do
    if not ran[cmd] then hooks.run("post-hook", cmd, env, info) end
  end
end

-- The lineages to look at: all, or the one --cert-name names.
local function lineage_names(ctx)
  local config = ctx.config
  if config.certname then
    if not ctx.backend:read_conf(config.certname) then
      errors.raise(("No certificate found with name %s (expected %s)."):format(config.certname,
        ctx.backend:conf_path(config.certname)), 1)
    end
    return { config.certname }
  end
  return ctx.backend:lineage_names()
end

local function expiry(not_after)
  return not_after and os.date("!%Y-%m-%d", not_after) or "(unknown)"
end

-- Random sleep before the first renewal of a non-interactive run, so timers
-- all over the world do not reach the CA at the same second.
local function maybe_sleep(config, state)
  if state.slept then return end
  state.slept = true
  if config.random_sleep_on_renew == false or display.interactive or sys.isatty(0) then return end
  local delay = math.random(1, 480)
  log.info("Non-interactive renewal: random delay of %d seconds", delay)
  -- test-only: the specs check the decision without waiting minutes
  if os.getenv("CERTBOT_TEST_SKIP_SLEEP") == "1" then return end
  sys.sleep(delay)
end

-- A lineage not due by its dates is due when its certificate is revoked
-- (Certbot's should_autorenew).  Only a certificate naming an OCSP
-- responder is asked about, and the scan that tells costs no parse: most
-- name none (Let's Encrypt dropped OCSP URLs in 2025), so a no-op renew
-- over many lineages stays as fast as it was.  One HTTP client serves the
-- whole run, and a responder that does not answer is asked only once.
local function revoked(lineage, cert, version, state)
  if not ocsp.may_have_url(cert) then return false end
  if state.ocsp_client == nil then state.ocsp_client, state.ocsp_down = ocsp.client() or false, {} end
  -- it logs what it found, and why a failed check counts as "not revoked"
  return (ocsp.lineage_revoked(lineage, cert, version, { client = state.ocsp_client or nil,
    down = state.ocsp_down }))
end

-- Renew one lineage.  get() gives the lineage's config (its stored
-- settings under the command line's config), made only when needed: no
-- renewal conf stores --dry-run or --force-renewal, so whether a lineage
-- is due is decided on config, and one that is not due costs no copy.
-- -> "renewed", domains | "skipped", notAfter | raises
local function renew_lineage(ctx, lineage, get, config, state)
  local dconfig = config
  if renewal.restores("dry_run") or renewal.restores("renew_by_default") then dconfig = get() end
  -- a run killed after its new version was live: its deploy hooks are due
  local pending, _, live = lineage:recover()
  if pending and not dconfig.dry_run then
    local lconfig = get()
    log.info("%s: running the deploy hooks of version %d left by an interrupted run", lineage.name, pending)
    state.hooks:deploy(lconfig, lineage, obtain.lineage_domains(lineage))
    lineage:deploy_done()
  end
  local cert = lineage:read("cert", live)
  -- a dry run simulates the renewal of every lineage, due or not
  local due, why, not_after = true, dconfig.dry_run and "--dry-run" or "--force-renewal", nil
  if not dconfig.renew_by_default and not dconfig.dry_run then
    due, why, not_after = renewal.due(cert, lineage.conf.keys.renew_before_expiry)
    if not due and revoked(lineage, cert, live, state) then due, why = true, "certificate is revoked" end
  end
  log.info("%s: %s (%s)", lineage.name, due and "due for renewal" or "not due", why)
  if not due then return "skipped", not_after end

  local lconfig = get()
  local lctx = setmetatable({ config = lconfig, lineage = lineage }, { __index = ctx })
  local domains, info = obtain.lineage_domains(lineage)
  local ips = info and info.ips or {}
  if #domains == 0 and #ips == 0 then errors.raise("cannot read the names of " .. lineage.paths.cert, 1) end
  certonly.select_plugins(lconfig, false)
  local auth, aerr = plugins.instance(lconfig.authenticator, "authenticator", lconfig)
  if not auth then errors.raise(aerr, 1) end
  local ok, perr = auth:prepare()
  if not ok then errors.raise(tostring(perr), 1) end
  lctx.auth = auth

  maybe_sleep(lconfig, state)
  state.hooks:pre(lconfig)
  obtain.client(lctx)
  obtain.check_key_type_change(lctx, lineage)
  local key, reused = obtain.renewal_key(lctx, lineage)
  display.notify("Renewing an existing certificate for " .. certonly.describe(domains))
  local result = obtain.certificate(lctx, { domains = domains, ips = ips, key = key })
  if lconfig.dry_run then
    if lconfig.run_deploy_hooks then state.hooks:deploy(lconfig, lineage, domains) end
    return "renewed", domains
  end
  local v, serr = lineage:save_successor({ cert = result.cert, chain = result.chain,
    fullchain = result.fullchain, privkey = (not reused) and key:pem() or nil }, obtain.renewal_params(lctx))
  if not v then errors.raise("Unable to save the renewed certificate: " .. serr, 1) end
  state.hooks:deploy(lconfig, lineage, domains)
  lineage:deploy_done()
  if lconfig.installer and lconfig.installer ~= "null" and lconfig.installer ~= "None" then
    obtain.install(lconfig, lineage, domains, "Renewed certificate")
  end
  return "renewed", domains
end

-- renew_one(ctx, lineage, lconfig, state) for a caller holding the
-- lineage's config.  -> "renewed", domains | "skipped", notAfter | raises
function M.renew_one(ctx, lineage, lconfig, state)
  return renew_lineage(ctx, lineage, function() return lconfig end, lconfig, state)
end

-- The lineage's config, made once on first use.  The conf was checked
-- (renewal.check), so apply does not fail here.
local function lazy_config(config, lineage)
  local lconfig
  return function()
    if not lconfig then
      lconfig = config:copy()
      local ok, err = renewal.apply(lconfig, lineage)
      if not ok then errors.raise(err, 1) end
    end
    return lconfig
  end
end

function M.run(config)
  local hok, herr = hooks.validate_config(config)
  if not hok then errors.raise(herr, 1) end
  local ctx = obtain.context(config)
  local state = { hooks = M.new_hooks(config) }
  local report = { renewed = {}, skipped = {}, failed = {}, parse = {} }
  local renewed_domains, failed_domains = {}, {}
  local interrupted

  for _, name in ipairs(lineage_names(ctx)) do
    local conf_path = ctx.backend:conf_path(name)
    display.notify(RULE .. "\nProcessing " .. conf_path)
    local lineage, lerr = storage.load(ctx.backend, name)
    if lineage then
      local ok, aerr = renewal.check(config, lineage)
      if not ok then lineage, lerr = nil, aerr end
    end
    if not lineage then
      display.warn(("Renewal configuration file %s is broken.\nThe error was: %s\nSkipping.")
        :format(conf_path, tostring(lerr)))
      log.warning("parse failure: %s: %s", conf_path, tostring(lerr))
      report.parse[#report.parse + 1] = conf_path
    else
      local ok, res, domains = pcall(renew_lineage, ctx, lineage, lazy_config(config, lineage), config, state)
      if not ok and type(res) == "table" and res.interrupted then
        -- Ctrl-C or a TERM: no more lineages, but the post hooks still run
        interrupted = res
        report.failed[#report.failed + 1] = lineage.paths.fullchain
        for _, d in ipairs(obtain.lineage_domains(lineage)) do failed_domains[#failed_domains + 1] = d end
        break
      end
      if ok and res == "skipped" then
        report.skipped[#report.skipped + 1] = ("%s expires on %s (skipped)")
          :format(lineage.paths.fullchain, expiry(domains))
      elseif ok then
        report.renewed[#report.renewed + 1] = lineage.paths.fullchain
        for _, d in ipairs(domains) do renewed_domains[#renewed_domains + 1] = d end
      else
        local msg = errors.is(res) and res.message or tostring(res)
        if not errors.is(res) then log.error("%s", debug.traceback(tostring(res))) end
        display.warn(("Failed to renew certificate %s with error: %s"):format(name, msg))
        report.failed[#report.failed + 1] = lineage.paths.fullchain
        for _, d in ipairs(obtain.lineage_domains(lineage)) do failed_domains[#failed_domains + 1] = d end
      end
    end
  end

  if state.ocsp_client then state.ocsp_client:close() end
  if next(state.hooks.pre_ran) or #report.renewed > 0 or #report.failed > 0 then
    state.hooks:finish(renewed_domains, failed_domains)
  end
  if interrupted then error(interrupted, 0) end
  M.summary(config, report)
  if #report.failed > 0 or #report.parse > 0 then return 1 end
  return 0
end

-- The closing report, in Certbot's words.
function M.summary(config, report)
  local dry = config.dry_run
  local out = { "", RULE }
  if #report.skipped > 0 then
    out[#out + 1] = "The following certificates are not due for renewal yet:"
    for _, s in ipairs(report.skipped) do out[#out + 1] = "  " .. s end
  end
  if #report.renewed == 0 and #report.failed == 0 then
    out[#out + 1] = "No renewals were attempted."
  elseif #report.failed == 0 then
    out[#out + 1] = dry and "Congratulations, all simulated renewals succeeded:"
      or "Congratulations, all renewals succeeded:"
    for _, s in ipairs(report.renewed) do out[#out + 1] = "  " .. s .. " (success)" end
  else
    if #report.renewed == 0 then
      out[#out + 1] = dry and "All simulated renewals failed. The following certificates could not be renewed:"
        or "All renewals failed. The following certificates could not be renewed:"
    else
      out[#out + 1] = dry and "The following simulated renewals succeeded:"
        or "The following renewals succeeded:"
      for _, s in ipairs(report.renewed) do out[#out + 1] = "  " .. s .. " (success)" end
      out[#out + 1] = ""
      out[#out + 1] = dry and "The following simulated renewals failed:" or "The following renewals failed:"
    end
    for _, s in ipairs(report.failed) do out[#out + 1] = "  " .. s .. " (failure)" end
  end
  if #report.parse > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "Additionally, the following renewal configurations were invalid: "
    for _, p in ipairs(report.parse) do out[#out + 1] = "  " .. p .. " (parsefail)" end
  end
  out[#out + 1] = RULE
  local text = table.concat(out, "\n")
  if #report.failed > 0 or #report.parse > 0 then
    display.warn(text)
    display.warn(("%d renew failure(s), %d parse failure(s)"):format(#report.failed, #report.parse))
  elseif not config.quiet then
    display.notify(text)
  end
end

return M
