-- installer: the deploy/enhance sequence and its automatic rollback, driven
-- through a small file-editing installer over the real reverter (the
-- nginx and apache specs prove the same against the real servers).
local sys = require("certbot.core").sys
local proc = require("spec.helpers.proc")
local display = require("certbot.display")
local reverter = require("certbot.reverter")
local installer = require("certbot.installer")

-- An installer that appends lines to one file, checkpointing it first.
local function file_installer(config, path, opts)
  opts = opts or {}
  local rv = reverter.new(config)
  local calls = {}
  local inst = { calls = calls }
  local function edit(line)
    local ok, err = rv:add_to_checkpoint({ path }, "edit " .. path)
    if not ok then return nil, err end
    return sys.write_atomic(path, (sys.read_file(path)) .. line .. "\n", 420)
  end
  function inst.deploy_cert(_, domain, paths)
    calls[#calls + 1] = "deploy " .. domain
    return edit("cert " .. domain .. " " .. paths.fullchain)
  end
  function inst.enhance(_, domain, name, arg)
    calls[#calls + 1] = ("enhance %s %s %s"):format(domain, name, tostring(arg))
    return edit(("%s %s %s"):format(name, domain, tostring(arg)))
  end
  function inst.supported_enhancements() return { "redirect", "ensure-http-header" } end
  function inst.save(_, title)
    calls[#calls + 1] = "save " .. title
    return rv:finalize_checkpoint(title)
  end
  function inst.config_test()
    calls[#calls + 1] = "test"
    local data = sys.read_file(path)
    if opts.broken and data:find(opts.broken, 1, true) then return nil, "syntax error near " .. opts.broken end
    return true
  end
  function inst.restart() calls[#calls + 1] = "restart" return true end
  function inst.recovery() calls[#calls + 1] = "recovery" return rv:recovery_routine() end
  function inst.rollback(_, n) calls[#calls + 1] = "rollback " .. n return rv:rollback_checkpoints(n) end
  function inst.names() return { "a.example", "b.example" } end
  return inst
end

describe("installer", function()
  local dir, config, path, orig
  local quiet

  before_each(function()
    dir = proc.tmpdir("installer-")
    config = { work_dir = dir .. "/work", installer = "test" }
    assert(sys.mkdir(config.work_dir, 448))
    path = dir .. "/site.conf"
    orig = "server { listen 80; }\n"
    assert(sys.write_atomic(path, orig, 420))
    quiet = display.quiet
    display.quiet = true
  end)

  after_each(function()
    display.quiet = quiet
    proc.rm_rf(dir)
  end)

  local paths = { fullchain = "/x/fullchain.pem", chain = "/x/chain.pem", privkey = "/x/privkey.pem" }

  it("deploys, enhances, saves, tests and reloads in that order", function()
    config.redirect, config.hsts = true, true
    local inst = file_installer(config, path)
    installer.deploy(config, paths, { "a.example" }, { inst = inst, enhance = true })
    assert.same({ "deploy a.example", "save Deployed ACME certificate",
      "enhance a.example redirect nil",
      "enhance a.example ensure-http-header Strict-Transport-Security",
      "save Add enhancements: --redirect --hsts", "test", "restart" }, inst.calls)
    assert.equal(orig .. "cert a.example /x/fullchain.pem\nredirect a.example nil\n"
      .. "ensure-http-header a.example Strict-Transport-Security\n", sys.read_file(path))
    assert.equal(2, #reverter.new(config):checkpoints())
  end)

  it("redirects by default under -n for run, not for enhance, and skips what is unsupported", function()
    local saved = display.interactive
    display.interactive = false
    local inst = file_installer(config, path)
    local list = installer.wanted(config, "run", paths, inst)
    assert.same({ { name = "redirect", flag = "--redirect" } }, list)
    assert.same({}, installer.wanted(config, "enhance", paths, inst))
    config.redirect = false
    assert.same({}, installer.wanted(config, "run", paths, inst))
    display.interactive = saved
  end)

  it("a failed config test rolls every change of the run back and reloads", function()
    config.redirect = true
    local inst = file_installer(config, path, { broken = "redirect" })
    local ok, err = pcall(installer.deploy, config, paths, { "a.example" }, { inst = inst, enhance = true })
    assert.is_false(ok)
    assert.matches("configuration test failed: syntax error near redirect. We were unable to install "
      .. "your certificate, however, we successfully restored your server to its prior configuration.",
      err.message, 1, true)
    assert.equal(1, err.exit)
    assert.equal(orig, sys.read_file(path))
    assert.equal(0, #reverter.new(config):checkpoints())
    assert.equal("restart", inst.calls[#inst.calls])
    assert.equal("rollback 2", inst.calls[#inst.calls - 2])
  end)

  it("marks the change while it runs, and the next run undoes all of a killed one before its own", function()
    config.redirect = true
    local inst = file_installer(config, path)
    local seen
    local deploy = inst.deploy_cert
    inst.deploy_cert = function(...)
      seen = sys.read_file(config.work_dir .. "/CHANGE_IN_PROGRESS")
      return deploy(...)
    end
    installer.deploy(config, paths, { "a.example" }, { inst = inst, enhance = true })
    assert.is_truthy(seen, "no change marker while deploying")
    assert.is_nil(sys.lstat(config.work_dir .. "/CHANGE_IN_PROGRESS"))
    local done = sys.read_file(path)
    assert.equal(2, #reverter.new(config):checkpoints())

    -- a run killed between its two checkpoints (its reverter is another
    -- process's: a module copy with markers of its own)
    local saved = package.loaded["certbot.reverter"]
    package.loaded["certbot.reverter"] = nil
    local killed = require("certbot.reverter").new(config)
    package.loaded["certbot.reverter"] = saved
    assert(killed:begin_change())
    assert(killed:add_to_checkpoint({ path }, "deploy"))
    assert(sys.write_atomic(path, done .. "cert b.example /x/fullchain.pem\n", 420))
    assert(killed:finalize_checkpoint("Deployed ACME certificate"))
    assert(killed:add_to_checkpoint({ path }, "enhance"))
    assert(sys.write_atomic(path, done .. "cert b.example /x/fullchain.pem\nredirect b.example nil\n", 420))
    assert.equal(3, #reverter.new(config):checkpoints())

    -- the next run: the killed change is gone, the earlier one stays
    config.redirect = false
    inst = file_installer(config, path)
    installer.deploy(config, paths, { "c.example" }, { inst = inst, enhance = true })
    assert.equal("recovery", inst.calls[1])
    assert.equal(done .. "cert c.example /x/fullchain.pem\n", sys.read_file(path))
    assert.equal(3, #reverter.new(config):checkpoints())
    assert.is_nil(sys.lstat(config.work_dir .. "/CHANGE_IN_PROGRESS"))
    assert.is_nil(sys.lstat(config.work_dir .. "/IN_PROGRESS"))
  end)

  it("a failing deploy_cert undoes the unsaved change", function()
    local inst = file_installer(config, path)
    inst.deploy_cert = function(_, domain)
      assert(reverter.new(config):add_to_checkpoint({ path }, "x"))
      assert(sys.write_atomic(path, "half-written", 420))
      return nil, "no server block for " .. domain
    end
    local ok, err = pcall(installer.deploy, config, paths, { "c.example" }, { inst = inst })
    assert.is_false(ok)
    assert.matches("Unable to install the certificate for c.example: no server block for c.example",
      err.message, 1, true)
    assert.equal(orig, sys.read_file(path))
  end)
end)
