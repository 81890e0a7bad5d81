-- installer: putting a certificate into a server through an installer
-- plugin, and the enhancements (redirect, HSTS, upgrade-insecure-requests,
-- OCSP stapling), for run, install, enhance and renew.
--
-- Whatever fails half-way, the server is left on its last good
-- configuration: unsaved and temporary changes are undone (recovery), the
-- checkpoints this run finalized are rolled back, and the server is
-- reloaded; then the run fails naming the step.

local display = require("certbot.display")
local errors = require("certbot.errors")
local log = require("certbot.log")
local names = require("certbot.names")
local options = require("certbot.options")
local plugins = require("certbot.plugins")
local reverter = require("certbot.reverter")

local M = {}

local function fail(msg, code) errors.raise(msg, code or 1) end

local function first_line(s) return (tostring(s):match("^[^\n]*")) end

-- The installer the command line names (-i, --nginx, --apache,
-- --configurator), or on a terminal the user's choice.
function M.select(config, question)
  local inst = config.installer
  local function set(name)
    if inst and inst ~= name then
      fail(("Too many flags setting configurators/installers/authenticators '%s' -> '%s'")
        :format(inst, name), 2)
    end
    inst = name
  end
  for _, e in ipairs(options.list) do
    if e.selector and config[e.dest] == true then
      local mod = plugins.load(e.selector)
      if mod and mod.installer then set(e.selector) end
    end
  end
  if config.configurator then set(config.configurator) end
  if not inst then
    local choices, labels = {}, {}
    for _, name in ipairs(plugins.names()) do
      local mod = plugins.load(name)
      if mod and mod.installer and name ~= "null" then choices[#choices + 1] = name end
    end
    for i, name in ipairs(choices) do
      labels[i] = ("%s (%s)"):format(plugins.load(name).description or name, name)
    end
    if display.interactive and #choices > 0 then
      local i = display.menu(question or "How would you like to install certificates?", labels)
      if not i then fail("Operation canceled. You may re-run the client.") end
      inst = choices[i]
    else
      fail("Missing command line flags: choose an installer with -i/--installer, --nginx or --apache.")
    end
  end
  config.installer = inst
  return inst
end

function M.instance(config)
  local inst, err = plugins.instance(config.installer, "installer", config)
  if not inst then fail(err) end
  return inst
end

-- choose_names(config) -> domains | nil: on a terminal, the names the
-- installer finds in the server's configuration, as a checklist.
function M.choose_names(config)
  if not display.interactive or not config.installer or config.installer == "null" then return nil end
  local inst = M.instance(config)
  local found = {}
  for _, n in ipairs(inst:names() or {}) do
    if names.domains({ n }) then found[#found + 1] = n end
  end
  if #found == 0 then return nil end
  table.sort(found)
  local picked = display.checklist("Which names would you like to activate HTTPS for?\n"
    .. "We recommend selecting either all domains, or all domains in a VirtualHost/server block.",
    found)
  if not picked then fail("Operation canceled. You may re-run the client.") end
  local out = {}
  for i, idx in ipairs(picked) do out[i] = found[idx] end
  return out
end

local function supported(inst)
  local set = {}
  for _, n in ipairs(inst:supported_enhancements() or {}) do set[n] = true end
  return set
end

-- wanted(config, verb, paths, inst) -> { {name=, arg=, flag=} ... }: the
-- enhancements asked for.  The redirect is on for run and install unless
-- --no-redirect (asked on a terminal), off for enhance unless --redirect,
-- and never by default with an installer that cannot redirect.
function M.wanted(config, verb, paths, inst)
  local list = {}
  local function add(name, arg, flag) list[#list + 1] = { name = name, arg = arg, flag = flag } end
  local redirect = config.redirect
  if redirect == nil and verb ~= "enhance" and supported(inst).redirect then
    local i = display.menu("Please choose whether or not to redirect HTTP traffic to HTTPS, "
      .. "removing HTTP access.", {
        "No redirect - Make no further changes to the webserver configuration.",
        "Redirect - Make all requests redirect to secure HTTPS access. Choose this for new "
          .. "sites, or if you're confident your site works on HTTPS.",
      }, { default = 2, cli_flag = "--redirect / --no-redirect" })
    redirect = i == 2
  end
  if redirect then add("redirect", nil, "--redirect") end
  if config.hsts then add("ensure-http-header", "Strict-Transport-Security", "--hsts") end
  if config.uir then add("ensure-http-header", "Upgrade-Insecure-Requests", "--uir") end
  if config.staple then add("staple-ocsp", paths and paths.chain, "--staple-ocsp") end
  return list
end

-- The enhancements of the guide, for `enhance` on a terminal.
M.CHOICES = {
  { label = "Redirect HTTP to HTTPS (--redirect)", dest = "redirect" },
  { label = "Strict-Transport-Security header (--hsts)", dest = "hsts" },
  { label = "Content-Security-Policy: upgrade-insecure-requests header (--uir)", dest = "uir" },
  { label = "OCSP stapling (--staple-ocsp)", dest = "staple" },
}

-- Run fn(); on failure put the server back as it was before fn's
-- checkpoints existed, and fail with fn's message.  First an unfinished
-- change a killed run left is undone (the installer's recovery, which also
-- drops what it parsed), then the change is marked as in progress
-- (reverter begin_change): killed anywhere in fn, the next run's recovery
-- undoes all of it, the checkpoints fn finalized included, not only the
-- last unsaved part.
local function guarded(config, inst, fn)
  local rv = reverter.new(config)
  if rv:unfinished() then
    local rok0, rerr0 = inst:recovery()
    if not rok0 then
      fail("Unable to undo the changes of an unfinished run: " .. first_line(rerr0)
        .. ". Check the server's configuration now (certbot rollback, certbot config_changes).")
    end
  end
  local before = #rv:checkpoints()
  local ok, err = pcall(function()
    local bok, berr = rv:begin_change()
    if not bok then error("Unable to record the change: " .. first_line(berr), 0) end
    fn()
  end)
  if ok then
    local eok, eerr = rv:end_change()
    if not eok then log.warning("installer: %s", tostring(eerr)) end
    return true
  end
  local interrupt = type(err) == "table" and err.interrupted and err
  if errors.is(err) then err = err.message end
  log.error("installing failed: %s", tostring(err))
  local rok, rerr = inst:recovery()
  local made = #rv:checkpoints() - before
  if rok and made > 0 then rok, rerr = inst:rollback(made) end
  -- undone: the change is over; not undone, the next run tries again
  if rok then
    local eok, eerr = rv:end_change()
    if not eok then log.warning("installer: %s", tostring(eerr)) end
  end
  if rok then rok, rerr = inst:config_test() end
  if rok then rok, rerr = inst:restart() end
  if interrupt then error(interrupt, 0) end
  if rok then
    fail(first_line(err) .. ". We were unable to install your certificate, however, we "
      .. "successfully restored your server to its prior configuration.")
  end
  fail(first_line(err) .. "; restoring the previous configuration also failed: " .. first_line(rerr)
    .. ". Check the server's configuration now (certbot rollback, certbot config_changes).")
end

local function apply(config, inst, domains, list)
  local can = supported(inst)
  local done = {}
  for _, e in ipairs(list) do
    if not can[e.name] then
      display.warn(("The %s plugin does not support %s; skipped."):format(config.installer, e.flag))
    else
      if e.name == "staple-ocsp" then
        display.warn("Warning: OCSP stapling is enabled, but the CA may not run an OCSP "
          .. "responder (Let's Encrypt stopped in 2025); the server then staples nothing.")
      end
      for _, d in ipairs(domains) do
        local ok, err = inst:enhance(d, e.name, e.arg)
        if not ok then
          error(("Unable to set the %s enhancement for %s: %s"):format(e.flag, d, first_line(err)), 0)
        end
      end
      done[#done + 1] = e.flag
    end
  end
  if #done > 0 then
    local ok, err = inst:save("Add enhancements: " .. table.concat(done, " "))
    if not ok then error("Unable to save the enhancements: " .. first_line(err), 0) end
  end
  return done
end

local function test_and_restart(inst)
  local ok, err = inst:config_test()
  if not ok then error("The server's configuration test failed: " .. first_line(err), 0) end
  ok, err = inst:restart()
  if not ok then error("Unable to reload the server: " .. first_line(err), 0) end
end

-- deploy(config, paths, domains, opts): deploy_cert for every name, save,
-- the enhancements (opts.enhance, for run and install), test, reload.
-- paths = {cert=, chain=, fullchain=, privkey=}.
function M.deploy(config, paths, domains, opts)
  opts = opts or {}
  local inst = opts.inst or M.instance(config)
  local list = opts.enhance and M.wanted(config, opts.verb or "run", paths, inst) or {}
  guarded(config, inst, function()
    local where = {}
    for _, d in ipairs(domains) do
      local ok, err = inst:deploy_cert(d, paths)
      if not ok then
        error(("Unable to install the certificate for %s: %s"):format(d, first_line(err)), 0)
      end
      where[#where + 1] = { d, type(err) == "string" and err or nil }
    end
    local ok, err = inst:save(opts.title or "Deployed ACME certificate")
    if not ok then error("Unable to save the server's configuration: " .. first_line(err), 0) end
    apply(config, inst, domains, list)
    test_and_restart(inst)
    for _, w in ipairs(where) do
      display.notify(("Successfully deployed certificate for %s%s"):format(w[1],
        w[2] and " to " .. w[2] or ""))
    end
  end)
  if opts.congratulate then
    local urls = {}
    for i, d in ipairs(domains) do urls[i] = "https://" .. d end
    display.notify("Congratulations! You have successfully enabled HTTPS on "
      .. table.concat(urls, " and "))
  end
end

-- enhance(config, domains, list): only the enhancements.
function M.enhance(config, domains, list)
  local inst = M.instance(config)
  local done
  guarded(config, inst, function()
    done = apply(config, inst, domains, list)
    if #done > 0 then test_and_restart(inst) end
  end)
  return done
end

return M
