-- renew: renew every lineage that is due (or --cert-name), each with the
-- settings stored in its renewal conf, command-line options overriding
-- them.  One broken conf or one failing renewal does not stop the others.

local ari = require("certbot.ari")
local core = require("certbot.core")
local certonly = require("certbot.commands.certonly")
local display = require("certbot.display")
local errors = require("certbot.errors")
local hooks = require("certbot.hooks")
local log = require("certbot.log")
local obtain = require("certbot.obtain")
local ocsp = require("certbot.ocsp")
local parallel = require("certbot.parallel")
local plugins = require("certbot.plugins")
local renewal = require("certbot.renewal")
local storage = require("certbot.storage")

local proc, sys = core.proc, core.sys

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
  -- this lineage's post hook runs at the end: remembered first, so that a
  -- run interrupted during a pre hook still runs it
  local post = lconfig.post_hook
  if post and post ~= "" and not self.post_seen[post] then
    self.post_seen[post] = true
    self.post[#self.post + 1] = post
  end
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

local expiry_by_day = {}
local function expiry(not_after)
  if not not_after then return "(unknown)" end
  local day = not_after // 86400
  local s = expiry_by_day[day]
  if not s then
    s = os.date("!%Y-%m-%d", not_after)
    expiry_by_day[day] = s
  end
  return s
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

-- The server a lineage's ARI is asked at: --server when given now, else
-- the one in its renewal conf (--staging moves Let's Encrypt's to staging,
-- as obtain.server does).
local function lineage_server(config, lineage)
  local s = lineage.params.server
  if config:set_by_user("server") or type(s) ~= "string" or s == "" then return obtain.server(config) end
  return obtain.server({ server = s, staging = config.staging })
end

-- The run's ARI context (certbot.ari), made when a lineage first needs it.
local function ari_run(state, config)
  if not state.ari then
    state.ari = ari.run_context(config.work_dir, function() return obtain.http_options(config) end)
  end
  return state.ari
end

-- The config whether a lineage is due is decided on: the run's, or the
-- lineage's own (get()) when a renewal conf could store --dry-run or
-- --force-renewal (a plugin's option table may say so).
local function decision_config(state, config, get)
  if state.restores_flags == nil then
    state.restores_flags = renewal.restores("dry_run") or renewal.restores("renew_by_default")
  end
  if state.restores_flags then return get() end
  return config
end

-- Is the lineage due?  -> due, why, not_after
-- dconfig: the run's config, or the lineage's when some conf could store
-- --dry-run or --force-renewal.  peek: decide without writing anything
-- and without asking anyone about this lineage (no OCSP, no renewalInfo
-- request); nil when that cannot be decided so (see skip_unlocked).
local function due_now(lineage, cert, live, dconfig, config, state, peek)
  -- a dry run simulates the renewal of every lineage, due or not
  local due, why, not_after = true, dconfig.dry_run and "--dry-run" or "--force-renewal", nil
  if not dconfig.renew_by_default and not dconfig.dry_run then
    local names_ocsp
    due, why, not_after, names_ocsp = renewal.due(cert, lineage.conf.keys.renew_before_expiry)
    if not due and names_ocsp ~= false then
      if peek then return nil end
      if revoked(lineage, cert, live, state) then due, why = true, "certificate is revoked" end
    end
    -- the CA refused an earlier order and said when to come back
    local now = sys.time()
    local held = cert and ari.held(lineage, cert, now)
    if held then
      due, why = false, ("the CA asked not to try before %s"):format(ari.format_time(held))
      display.notify(("The CA asked not to renew %s before %s: skipping it (--force-renewal "
        .. "tries now)."):format(lineage.name, ari.show_time(held)))
    elseif not due and cert then
      -- the CA's renewal window (RFC 9773) may make it due earlier
      local adue, awhy = ari.due(ari_run(state, config), lineage, cert, lineage_server(config, lineage), now, peek)
      if adue == nil then return nil end
      if adue then
        due, why = true, awhy
      elseif awhy then
        why = why .. "; " .. awhy
      end
    end
  end
  return due, why, not_after
end

-- Renew one lineage.  get() gives the lineage's config (its stored
-- settings under the command line's config), made only when needed: no
-- renewal conf stores --dry-run or --force-renewal, so whether a lineage
-- is due is decided on config, and one that is not due costs no copy.
-- -> "renewed", domains | "skipped", notAfter | raises
local function renew_lineage(ctx, lineage, get, config, state)
  local dconfig = decision_config(state, config, get)
  -- a run killed after its new version was live: its deploy hooks are due
  local pending, _, live = lineage:recover()
  if pending and not dconfig.dry_run then
    local lconfig = get()
    log.info("%s: running the deploy hooks of version %d left by an interrupted run", lineage.name, pending)
    state.hooks:deploy(lconfig, lineage, obtain.lineage_domains(lineage))
    lineage:deploy_done()
  end
  local cert = lineage:read("cert", live)
  local due, why, not_after = due_now(lineage, cert, live, dconfig, config, state)
  log.info("%s: %s (%s)", lineage.name, due and "due for renewal" or "not due", why)
  if not due then return "skipped", not_after end
  -- what was batched goes out before anything is done
  log.flush()
  display.flush()

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
  local identifiers = {}
  for _, d in ipairs(domains) do identifiers[#identifiers + 1] = d end
  for _, ip in ipairs(ips) do identifiers[#identifiers + 1] = ip end
  display.notify("Renewing an existing certificate for " .. certonly.describe(identifiers))
  local got, result = pcall(obtain.certificate, lctx, { domains = domains, ips = ips, key = key })
  if not got then
    -- a CA that said when to come back (429, or 503 with a long
    -- Retry-After) is not asked again before then: recorded for next runs
    if lctx.ca_retry_after and not lconfig.dry_run and cert then
      local untl, herr = ari.hold(lineage, lctx.ca_retry_after, cert)
      if untl then
        log.info("%s: the CA asked not to try again before %s", lineage.name, ari.format_time(untl))
        display.warn(("The CA asked not to try again before %s: renew skips %s until then "
          .. "(--force-renewal tries anyway)."):format(ari.show_time(untl), lineage.name))
      else
        log.warning("%s: cannot record the CA's retry time: %s", lineage.name, tostring(herr))
      end
    end
    error(result, 0)
  end
  if lconfig.dry_run then
    if lconfig.run_deploy_hooks then state.hooks:deploy(lconfig, lineage, domains) end
    return "renewed", domains
  end
  local v, serr = lineage:save_successor({ cert = result.cert, chain = result.chain,
    fullchain = result.fullchain, privkey = (not reused) and key:pem() or nil }, obtain.renewal_params(lctx))
  if not v then errors.raise("Unable to save the renewed certificate: " .. serr, 1) end
  obtain.warn_world_readable_key(lineage, v)
  -- what ARI and the CA said was about the certificate just replaced
  local cok, cerr = ari.clear(lineage)
  if not cok then log.warning("%s: cannot clear the ARI state: %s", lineage.name, tostring(cerr)) end
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

---------------------------------------------------------------------------
-- Running: locks, the serial loop, the parallel one and its workers
---------------------------------------------------------------------------

-- Per-lineage locks.  renew takes the directory locks shared (obtain.context):
-- any exclusive holder (Certbot's lockf, our other subcommands) still
-- excludes every renew, but two renews share the directories, and what
-- keeps them apart is an exclusive lock per lineage, held from before its
-- renewal conf is read (so a run that waited sees the other's renewal)
-- until its deploy hooks have run.  The lock file is
-- <config-dir>/renewal/.<name>.lock: beside the conf it guards, in the
-- directory the lineage lives in (a per-work-dir lock would let two runs
-- with different --work-dirs renew the same lineage), and invisible to
-- Certbot, which reads only renewal/*.conf.
function M.lineage_lock_path(backend, name)
  return backend:lock_path(name)
end

-- lock_lineage(ctx, name) -> lock | nil, message.  Never waits: a lineage
-- another run is renewing fails here with the lock's path (exit 1, like
-- Certbot's "Another instance" for its directory locks); waiting would
-- hold a cron run for as long as the other renewal takes.
function M.lock_lineage(ctx, name)
  local path = M.lineage_lock_path(ctx.backend, name)
  local lk, err, why = proc.lock(path, "exclusive")
  if lk then return lk end
  if why == "busy" then
    return nil, ("Another instance of Certbot is already renewing %s (%s is locked)."):format(name, path)
  end
  return nil, ("Unable to lock the lineage %s: %s"):format(name, tostring(err))
end

-- What happened to each lineage, by its place in conf-name order: the
-- summary lists them in that order whatever order they finished in.
--   { kind = "renewed"|"skipped"|"failed"|"parse", fullchain =, domains =,
--     not_after =, conf_path =, message = }
local function tally(results, n)
  local report = { renewed = {}, skipped = {}, failed = {}, parse = {}, errors = {} }
  local renewed_domains, failed_domains = {}, {}
  for i = 1, n do
    local r = results[i]
    if r and r.kind == "renewed" then
      report.renewed[#report.renewed + 1] = r.fullchain
      for _, d in ipairs(r.domains or {}) do renewed_domains[#renewed_domains + 1] = d end
    elseif r and r.kind == "skipped" then
      report.skipped[#report.skipped + 1] = ("%s expires on %s (skipped)"):format(r.fullchain, expiry(r.not_after))
    elseif r and r.kind == "failed" then
      report.failed[#report.failed + 1] = r.fullchain
      if r.message then report.errors[r.fullchain] = r.message end
      for _, d in ipairs(r.domains or {}) do failed_domains[#failed_domains + 1] = d end
    elseif r and r.kind == "parse" then
      report.parse[#report.parse + 1] = r.conf_path
    end
  end
  return report, renewed_domains, failed_domains
end

local function fail(run, i, name, fullchain, domains, msg)
  display.warn(("Failed to renew certificate %s with error: %s"):format(name, msg))
  run.results[i] = { kind = "failed", fullchain = fullchain, domains = domains, message = msg }
end

-- A lineage another run holds: a failure, with its names when its files
-- can be read.
local function busy_failure(ctx, run, i, name, msg)
  local lineage = storage.load(ctx.backend, name)
  local fullchain = lineage and lineage.paths.fullchain or ctx.backend:live_paths(name).fullchain
  fail(run, i, name, fullchain, lineage and obtain.lineage_domains(lineage) or {}, msg)
end

-- The lineage, loaded and checked; a broken one is a parse failure.
-- lk: the lineage's lock, just taken; whether the lineage was marked
-- dirty is read off it (storage's Lineage:recover).
local function load_checked(ctx, run, i, name, conf_path, lk)
  local lineage, lerr = storage.load(ctx.backend, name)
  if lineage then
    lineage.dirty = lk:size() > 0
    local ok, aerr = renewal.check(ctx.config, lineage)
    if not ok then lineage, lerr = nil, aerr end
  end
  if lineage then
    local link, target = lineage:foreign_link()
    if link then lineage, lerr = nil, ("%s points outside %s: %s"):format(link,
      ctx.backend:archive_dir(name), target) end
  end
  if not lineage then
    display.warn(("Renewal configuration file %s is broken.\nThe error was: %s\nSkipping.")
      :format(conf_path, tostring(lerr)))
    log.warning("parse failure: %s: %s", conf_path, tostring(lerr))
    run.results[i] = { kind = "parse", conf_path = conf_path }
  end
  return lineage
end

-- What pcall(renew_lineage, ...) gave, as lineage i's result.
-- -> "interrupted" when a signal stopped it
local function settle(run, i, lineage, ok, res, extra)
  if not ok and type(res) == "table" and res.interrupted then
    -- Ctrl-C or a TERM: no more lineages, but the post hooks still run
    run.results[i] = { kind = "failed", fullchain = lineage.paths.fullchain,
      domains = obtain.lineage_domains(lineage), message = res.message }
    return "interrupted"
  end
  if ok and res == "skipped" then
    run.results[i] = { kind = "skipped", fullchain = lineage.paths.fullchain, not_after = extra }
  elseif ok then
    run.results[i] = { kind = "renewed", fullchain = lineage.paths.fullchain, domains = extra }
  else
    local msg = errors.is(res) and res.message or tostring(res)
    if not errors.is(res) then log.error("%s", debug.traceback(tostring(res))) end
    fail(run, i, lineage.name, lineage.paths.fullchain, obtain.lineage_domains(lineage), msg)
  end
end

-- skip_unlocked(ctx, run, i, name) -> true when lineage i is not due,
-- decided without its lock and settled as skipped; false: take the lock
-- and go the whole way (renew_lineage, which decides again).  Most
-- lineages of a run are not due, and the lock cost a third of the system
-- calls of one that is not.  Nothing here writes: a lineage marked dirty
-- (something to finish), with a conf temp file to sweep, with live links
-- that disagree, that does not load, or whose decision needs a request
-- (OCSP, renewalInfo) or a write (ARI state) goes the locked way.  Reading
-- unlocked is safe: every file is replaced by rename, and a run renewing
-- the lineage meanwhile marks it first, so what is seen is either the
-- lineage before that run (not due then; the other run has it) or after.
local function skip_unlocked(ctx, run, i, name)
  local backend, config, state = ctx.backend, ctx.config, run.state
  if backend:is_dirty(name) or backend:has_conf_temps(name) then return false end
  local lineage = storage.load(backend, name)
  if not (lineage and renewal.check(config, lineage)) then return false end
  local live = lineage:consistent_version()
  if not live then return false end
  local dconfig = decision_config(state, config, lazy_config(config, lineage))
  local due, why, not_after = due_now(lineage, lineage:read("cert", live), live, dconfig, config, state, true)
  if due ~= false then return false end
  log.info("%s: not due (%s)", name, why)
  run.results[i] = { kind = "skipped", fullchain = lineage.paths.fullchain, not_after = not_after }
  return true
end

-- One lineage after the other (--max-parallel 1, a single lineage, or no
-- executable to start workers from).  -> the interrupt, if one came
local function run_serial(ctx, run, names)
  local config = ctx.config
  for i, name in ipairs(names) do
    local conf_path = ctx.backend:conf_path(name)
    display.notify(RULE .. "\nProcessing " .. conf_path)
    local lk, kerr
    if not skip_unlocked(ctx, run, i, name) then lk, kerr = M.lock_lineage(ctx, name) end
    if not lk then
      if kerr then busy_failure(ctx, run, i, name, kerr) end
    else
      local lineage = load_checked(ctx, run, i, name, conf_path, lk)
      if lineage then
        local ok, res, extra = pcall(renew_lineage, ctx, lineage, lazy_config(config, lineage), config, run.state)
        if settle(run, i, lineage, ok, res, extra) == "interrupted" then
          lk:unlock()
          return res
        end
      end
      lk:unlock()
    end
  end
end

-- Authenticators a worker process can run on its own: nothing of theirs
-- lives beyond the process (webroot files, standalone responders, DNS
-- records, manual hooks).  The webserver plugins lock and edit the
-- server's configuration, which the main process keeps, and third-party
-- plugins are not known to be safe side by side.
local WORKER_AUTH = { webroot = true, standalone = true, manual = true, null = true }

-- worker_keys(lconfig, lineage) -> keys | nil, why.  What a worker for
-- this lineage holds while it runs: two lineages sharing a key never run
-- at the same time.  A standalone responder owns its ports (two
-- processes cannot listen on one), and a name's challenge (its
-- _acme-challenge TXT record, a wildcard's too) belongs to one order at
-- a time.  nil, why: renew it in the main process instead.
function M.worker_keys(lconfig, lineage)
  local inst = lconfig.installer
  if inst and inst ~= "" and inst ~= "null" and inst ~= "None" then return nil, "installer " .. inst end
  local auth = tostring(lconfig.authenticator or "")
  if not (WORKER_AUTH[auth] or (auth:match("^dns%-") and plugins.BUILTIN[auth])) then
    return nil, "authenticator " .. auth
  end
  if auth == "manual" and not (lconfig.manual_auth_hook and lconfig.manual_auth_hook ~= "") then
    return nil, "manual without --manual-auth-hook"
  end
  local keys = {}
  local domains, info = obtain.lineage_domains(lineage)
  for _, d in ipairs(domains) do keys[#keys + 1] = "name:" .. d:lower():gsub("^%*%.", "") end
  for _, ip in ipairs(info and info.ips or {}) do keys[#keys + 1] = "name:" .. ip end
  if auth == "standalone" then
    keys[#keys + 1] = "port:" .. tostring(lconfig.http01_port or 80)
    keys[#keys + 1] = "port:" .. tostring(lconfig.tls_alpn01_port or 443)
  end
  return keys
end

-- The error renew_lineage is stopped with, in the main process, once it
-- has decided that a lineage is due, just before the pre hooks: the rest
-- happens in a worker (or here again, for a lineage no worker can take).
local DUE = {}

-- Would Hooks:pre(lconfig) run anything that has not run yet?
local function fresh_pre(hk, lconfig)
  for _, h in ipairs(hk:dir("pre")) do
    if not hk.pre_ran[h] then return true end
  end
  local cmd = lconfig.pre_hook
  return cmd ~= nil and cmd ~= "" and not hk.pre_ran[cmd]
end

-- Lineages side by side in up to `max` workers (certbot.parallel).  The
-- main process decides, in conf-name order, which lineages are due (a
-- no-op run starts no process at all), runs the pre hooks, and hands each
-- due lineage with its lock to a worker.  One due lineage alone is
-- renewed here, exactly as serial renew does.
--
-- Pre hooks keep serial renew's order: a lineage's pre hook runs before
-- its renewal and after the renewals of the lineages before it in conf
-- order (an admin's "stop the webserver" pre hook of a standalone lineage
-- must not cut off a webroot lineage renewing beside it).  So a lineage
-- that brings a pre hook not run yet waits until every lineage before it
-- is done, and those after it wait for it; lineages whose pre hooks have
-- run (the usual case: one --pre-hook, or renewal-hooks/pre) run side
-- by side.  Each command still runs once, before the first renewal that
-- needs it.
-- -> the interrupt, if one came
local function run_parallel(ctx, run, names, max, cmd)
  local config, state = ctx.config, run.state
  local hk = state.hooks
  hk.pre = function(self, lconfig)
    if state.deciding then error({ [DUE] = true, lconfig = lconfig }, 0) end
    Hooks.pre(self, lconfig)
  end
  local pool = parallel.pool({ out = display.out, err = display.err })
  -- due lineages waiting, in conf order (with their locks); the keys
  -- held by running workers (M.worker_keys)
  local queue, held = {}, {}
  local next_i, started = 1, false
  local env = sys.environ()

  -- The pre hooks of the item's lineage.  -> true | nil when the item
  -- failed (settled) | raises an interrupt
  local function pre_hooks(item)
    local ok, err = pcall(Hooks.pre, hk, item.lconfig)
    if ok then return true end
    local st = settle(run, item.i, item.lineage, false, err)
    item.lock:unlock()
    if st == "interrupted" then error(err, 0) end
  end

  local function in_process(item)
    item.lineage = storage.load(ctx.backend, item.name) or item.lineage -- the decision may have written its conf
    local lineage = item.lineage
    local ok, res, extra = pcall(renew_lineage, ctx, lineage, lazy_config(config, lineage), config, state)
    local st = settle(run, item.i, lineage, ok, res, extra)
    item.lock:unlock()
    if st == "interrupted" then error(res, 0) end
  end

  local function decide(i)
    local name = names[i]
    local conf_path = ctx.backend:conf_path(name)
    display.notify(RULE .. "\nProcessing " .. conf_path)
    if skip_unlocked(ctx, run, i, name) then return end
    local lk, kerr = M.lock_lineage(ctx, name)
    if not lk then return busy_failure(ctx, run, i, name, kerr) end
    local lineage = load_checked(ctx, run, i, name, conf_path, lk)
    if not lineage then return lk:unlock() end
    state.deciding = true
    local ok, res, extra = pcall(renew_lineage, ctx, lineage, lazy_config(config, lineage), config, state)
    state.deciding = false
    if not ok and type(res) == "table" and res[DUE] then
      local item = { i = i, name = name, lock = lk, lineage = lineage, lconfig = res.lconfig }
      local why
      item.keys, why = M.worker_keys(res.lconfig, lineage)
      if not item.keys then
        log.info("%s: renewed in the main process (%s)", name, why)
        item.keys, item.here = {}, true
      end
      queue[#queue + 1] = item
      return
    end
    local st = settle(run, i, lineage, ok, res, extra)
    lk:unlock()
    if st == "interrupted" then error(res, 0) end
  end

  local function launch(item)
    local argv = { cmd.argv0 }
    for _, a in ipairs(cmd.args) do argv[#argv + 1] = a end
    -- this lineage only, asking nothing, without a second random sleep
    for _, a in ipairs({ "--cert-name", item.name, "-n", "--no-random-sleep-on-renew", "--renew-worker" }) do
      argv[#argv + 1] = a
    end
    log.flush()
    display.flush()
    local fds = { [parallel.LOCK_FD] = item.lock }
    if io.type(log.file) == "file" then fds[parallel.LOG_FD] = log.file end
    local w, err = pool:start(item.name, cmd.path, argv, env, fds, item)
    -- the worker shares the lock now (one open file description): it ends
    -- with the worker, even if this process dies first
    item.lock:unlock()
    if not w then
      return fail(run, item.i, item.name, item.lineage.paths.fullchain, obtain.lineage_domains(item.lineage),
        "cannot start a worker process: " .. tostring(err))
    end
    started = true
    for _, k in ipairs(item.keys) do held[k] = item.name end
    log.info("%s: renewing in worker process %d", item.name, w.pid)
  end

  local function collect(w)
    local item, r = w.data, w.result
    for _, k in ipairs(item.keys) do held[k] = nil end
    local fullchain = item.lineage.paths.fullchain
    local how = w.status == "signaled" and ("killed by signal " .. tostring(w.code)) or ("exit " .. tostring(w.code))
    log.info("%s: worker %d ended (%s) after %.1f s: %s", item.name, w.pid, how, w.elapsed,
      r and tostring(r.status) or w.result_error)
    if r and r.status == "renewed" then
      run.results[item.i] = { kind = "renewed", fullchain = fullchain, domains = r.domains }
    elseif r and r.status == "skipped" then
      run.results[item.i] = { kind = "skipped", fullchain = fullchain, not_after = math.tointeger(r.not_after) }
    elseif r and r.status == "parse" then
      run.results[item.i] = { kind = "parse", conf_path = ctx.backend:conf_path(item.name) }
    elseif r and r.status == "interrupted" then
      run.results[item.i] = { kind = "failed", fullchain = fullchain,
        domains = obtain.lineage_domains(item.lineage), message = r.message }
    else
      local msg = r and type(r.message) == "string" and r.message
        or ("its worker process ended (%s) without a result"):format(how)
      fail(run, item.i, item.name, fullchain, obtain.lineage_domains(item.lineage), msg)
    end
  end

  local function can_start(item)
    for _, k in ipairs(item.keys) do
      if held[k] then return false end
    end
    return true
  end

  -- Start what can start, in conf order: a lineage with a pre hook not
  -- run yet is a barrier (see above).
  local function start_ready()
    local k = 1
    while k <= #queue do
      local item = queue[k]
      if fresh_pre(hk, item.lconfig) and (k > 1 or pool:count() > 0) then return end
      local alone = not started and #queue == 1 and next_i > #names
      if item.here or alone then
        table.remove(queue, k)
        -- (renew_lineage runs the pre hooks itself)
        in_process(item)
      elseif pool:count() < max and can_start(item) then
        table.remove(queue, k)
        if pre_hooks(item) then launch(item) end
      else
        k = k + 1
      end
    end
  end

  local function loop()
    while true do
      -- decide ahead while there is room: at most `max` due lineages wait
      while next_i <= #names and #queue < max do
        next_i = next_i + 1
        decide(next_i - 1)
      end
      start_ready()
      if pool:count() == 0 and #queue == 0 and next_i > #names then return end
      if pool:count() > 0 then
        for _, w in ipairs(pool:pump(1)) do collect(w) end
      end
    end
  end

  local ok, err = pcall(loop)
  hk.pre = nil
  if ok then return nil end
  -- Interrupted (or a bug): start nothing more, pass the signal on to the
  -- workers, wait for their cleanup, and let the post hooks run.
  local interrupted = type(err) == "table" and err.interrupted and err or nil
  for _, item in ipairs(queue) do item.lock:unlock() end
  if pool:count() > 0 then
    pool:signal(interrupted and interrupted.signal or "TERM")
    while pool:count() > 0 do
      local pok, perr = pcall(function()
        for _, w in ipairs(pool:pump(1)) do collect(w) end
      end)
      if not pok then
        if type(perr) == "table" and perr.interrupted then
          pool:signal(perr.signal or "TERM") -- another ^C: passed on too
        else
          log.error("%s", tostring(perr))
        end
      end
    end
  end
  if not interrupted then error(err, 0) end
  return interrupted
end

-- A worker (--renew-worker): the one lineage of --cert-name, for a
-- parallel renew that decided it is due, ran the pre hooks and passed the
-- lineage's lock (descriptor 3).  Its result goes back as JSON on
-- descriptor 4; the summary and the post hooks are the parent's.
function M.run_worker(config)
  local name = config.certname
  if not name then errors.usage("--renew-worker needs --cert-name") end
  local channel, cerr = parallel.result_channel()
  if not channel then
    errors.raise("--renew-worker is for a parallel renew's own use (" .. tostring(cerr) .. ")", 1)
  end
  local result = { status = "failed" }
  local ok, err = pcall(function()
    local ctx = obtain.context(config, { shared = true, log_setup = parallel.worker_log(name) })
    local lk, lerr = proc.adopt_lock(parallel.LOCK_FD, M.lineage_lock_path(ctx.backend, name))
    if not lk then errors.raise(("Unable to take over the lock of %s: %s"):format(name, tostring(lerr)), 1) end
    local conf_path = ctx.backend:conf_path(name)
    local run = { results = {} }
    local lineage = load_checked(ctx, run, 1, name, conf_path, lk)
    if not lineage then
      result = { status = "parse" }
      return
    end
    -- the parent ran the pre hooks and runs the post hooks; the random
    -- sleep was its too
    local state = { hooks = M.new_hooks(config), slept = true }
    state.hooks.pre = function() end
    local rok, res, extra = pcall(renew_lineage, ctx, lineage, lazy_config(config, lineage), config, state)
    if state.ocsp_client then state.ocsp_client:close() end
    if state.ari then ari.close(state.ari) end
    if rok and res == "skipped" then
      result = { status = "skipped", not_after = extra }
    elseif rok then
      result = { status = "renewed", domains = extra }
    elseif type(res) == "table" and res.interrupted then
      error(res, 0)
    else
      if not errors.is(res) then log.error("%s", debug.traceback(tostring(res))) end
      result = { status = "failed", message = errors.is(res) and res.message or tostring(res) }
    end
    lk:unlock()
  end)
  if not ok then
    local interrupted = type(err) == "table" and err.interrupted
    result = { status = interrupted and "interrupted" or "failed",
      message = errors.is(err) and err.message or type(err) == "table" and err.message or tostring(err) }
  end
  parallel.send(channel, result)
  if not ok then error(err, 0) end
  return result.status == "failed" and 1 or 0
end

function M.run(config)
  if config.renew_worker then return M.run_worker(config) end
  local hok, herr = hooks.validate_config(config)
  if not hok then errors.raise(herr, 1) end
  local ctx = obtain.context(config, { shared = true, log_setup = parallel.log_setup })
  local run = { state = { hooks = M.new_hooks(config) }, results = {} }
  local state = run.state
  local names = lineage_names(ctx)

  local max = math.min(math.tointeger(config.max_parallel) or 1, 64)
  local cmd
  if max > 1 and #names > 1 then
    local path, argv0, args = parallel.self_command()
    if path then cmd = { path = path, argv0 = argv0, args = args } end
  end
  local interrupted, report, closed
  -- The end of the run, post hooks included, happens whatever a signal
  -- does: held (errors.hold), and run after all when the signal came just
  -- before the hold began (its interrupt then lands before any of it ran).
  local function close_run()
    if state.ocsp_client then state.ocsp_client:close() end
    if state.ari then ari.close(state.ari) end
    state.ocsp_client, state.ari = nil, nil
    local renewed_domains, failed_domains
    report, renewed_domains, failed_domains = tally(run.results, #names)
    if next(state.hooks.pre_ran) or #report.renewed > 0 or #report.failed > 0 then
      state.hooks:finish(renewed_domains, failed_domains)
    end
    closed = true
  end
  local ok, err = pcall(function()
    -- a lineage that is not due costs a log line and a message or two:
    -- batched (certbot.log), until one is due
    log.batch(true)
    display.batch(true)
    if cmd then
      interrupted = run_parallel(ctx, run, names, max, cmd)
    else
      interrupted = run_serial(ctx, run, names)
    end
    log.batch(false)
    display.batch(false)
    errors.hold(close_run)
  end)
  if not ok then
    if not errors.interrupted(err) then error(err, 0) end
    interrupted = interrupted or err
    if not closed then errors.hold(close_run) end
  end
  if interrupted then error(interrupted, 0) end
  M.summary(config, report)
  if #report.failed > 0 or #report.parse > 0 then return 1 end
  return 0
end

-- The --json summary (docs/json.md) from the run's report: report.renewed,
-- .failed (fullchain paths), .skipped ("<fullchain> expires on <date>
-- (skipped)"), .parse (renewal conf paths) and, when the run kept them,
-- report.errors[<fullchain>] = message.  Names and dates are read back
-- from the paths: the live cert's notAfter (one DER walk each).
function M.json_summary(config, report)
  local json = require("certbot.json")
  local crypto = core.crypto
  local errs = type(report.errors) == "table" and report.errors or {}
  local function lineage(path)
    local name = path:match("/live/([^/]+)/fullchain%.pem$") or json.null
    local pem = sys.read_file((path:gsub("fullchain%.pem$", "cert.pem")), 1 << 20)
    local not_after = pem and crypto.cert_not_after(pem)
    return { name = name, fullchain = path, not_after = json.time(not_after) }
  end
  local doc = {
    format_version = 1,
    dry_run = config.dry_run and true or false,
    renewed = json.array(), not_due = json.array(), failed = json.array(),
    parse_failures = json.array(),
  }
  for _, p in ipairs(report.renewed) do doc.renewed[#doc.renewed + 1] = lineage(p) end
  for _, s in ipairs(report.skipped) do
    doc.not_due[#doc.not_due + 1] = lineage(s:match("^(.-) expires on ") or s)
  end
  for _, p in ipairs(report.failed) do
    local e = lineage(p)
    e.not_after = nil
    e.error = type(errs[p]) == "string" and errs[p] or json.null
    doc.failed[#doc.failed + 1] = e
  end
  for _, p in ipairs(report.parse) do
    doc.parse_failures[#doc.parse_failures + 1] = { renewal_conf = p }
  end
  return doc
end

-- The closing report, in Certbot's words.  With --json it goes to
-- standard error like every other human message (display), and standard
-- output gets the JSON summary alone.
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
  elseif config.json then
    if not config.quiet then display.warn(text) end
  elseif not config.quiet then
    display.notify(text)
  end
  if config.json then
    io.stdout:write(require("certbot.json").encode(M.json_summary(config, report)), "\n")
    io.stdout:flush()
  end
end

return M
