-- reverter: checkpoints restore files byte for byte, with their modes;
-- files a change created are removed; Certbot's on-disk layout.
local sys = require("certbot.core").sys
local proc = require("spec.helpers.proc")
local reverter = require("certbot.reverter")

local function write(path, data, mode)
  assert(sys.write_atomic(path, data, mode or 420))
end

local function read(path) return (sys.read_file(path)) end

describe("reverter", function()
  local dir, work, rv, a, b

  before_each(function()
    dir = proc.tmpdir("reverter-")
    work = dir .. "/work"
    assert(sys.mkdir(work, 448))
    rv = reverter.new({ work_dir = work })
    a, b = dir .. "/a.conf", dir .. "/b.conf"
    write(a, "server {\n  listen 80;\n}\n", 416) -- 0640
    write(b, "# b\n")
  end)

  after_each(function() proc.rm_rf(dir) end)

  it("rolls a finalized checkpoint back byte for byte, mode included", function()
    assert(rv:add_to_checkpoint({ a, b }, "edit a and b"))
    write(a, "changed\n", 420)
    write(b, "changed too\n")
    local created = dir .. "/new.conf"
    write(created, "new\n")
    assert(rv:register_file_creation(false, { created }))
    assert(rv:finalize_checkpoint("Deployed ACME certificate"))
    assert.is_nil(sys.stat(work .. "/IN_PROGRESS"))
    local cps = rv:checkpoints()
    assert.equal(1, #cps)
    -- Certbot's layout: FILEPATHS, copies <basename>_<i>, NEW_FILES, CHANGES_SINCE
    local cp = work .. "/backups/" .. cps[1]
    assert.equal(a .. "\n" .. b .. "\n", read(cp .. "/FILEPATHS"))
    assert.equal("server {\n  listen 80;\n}\n", read(cp .. "/a.conf_0"))
    assert.equal("# b\n", read(cp .. "/b.conf_1"))
    assert.equal(created .. "\n", read(cp .. "/NEW_FILES"))
    assert.equal("-- Deployed ACME certificate --\nedit a and b\n", read(cp .. "/CHANGES_SINCE"))
    assert.equal(384, sys.stat(cp .. "/a.conf_0").mode & 511)
    assert.equal(448, sys.stat(work .. "/backups").mode & 511)

    assert(rv:rollback_checkpoints(1))
    assert.equal("server {\n  listen 80;\n}\n", read(a))
    assert.equal(416, sys.stat(a).mode & 511)
    assert.equal("# b\n", read(b))
    assert.is_nil(sys.lstat(created))
    assert.equal(0, #rv:checkpoints())
  end)

  it("keeps the first copy of a file changed twice in one checkpoint", function()
    assert(rv:add_to_checkpoint({ a }, "one"))
    write(a, "first change\n")
    assert(rv:add_to_checkpoint({ a }, "two"))
    write(a, "second change\n")
    assert(rv:finalize_checkpoint("t"))
    assert(rv:rollback_checkpoints(1))
    assert.equal("server {\n  listen 80;\n}\n", read(a))
  end)

  it("rolls back N checkpoints, newest first", function()
    assert(rv:add_to_checkpoint({ a }, "1"))
    write(a, "v2\n")
    assert(rv:finalize_checkpoint("first"))
    assert(rv:add_to_checkpoint({ a }, "2"))
    write(a, "v3\n")
    assert(rv:finalize_checkpoint("second"))
    local changes = rv:view_config_changes()
    assert.equal(2, #changes)
    assert.equal("second", changes[1].title)
    assert.equal("first", changes[2].title)
    assert.same({ a }, changes[1].files)
    assert(rv:rollback_checkpoints(1))
    assert.equal("v2\n", read(a))
    assert(rv:rollback_checkpoints(5))
    assert.equal("server {\n  listen 80;\n}\n", read(a))
  end)

  it("reverts a temporary change and leaves permanent ones alone", function()
    assert(rv:add_to_checkpoint({ b }, "perm"))
    write(b, "perm change\n")
    assert(rv:finalize_checkpoint("perm"))
    assert(rv:add_to_temp_checkpoint({ a }, "challenge"))
    write(a, "challenge location\n")
    local tmpfile = dir .. "/challenge.conf"
    write(tmpfile, "x")
    assert(rv:register_file_creation(true, tmpfile))
    assert(rv:revert_temporary_config())
    assert.equal("server {\n  listen 80;\n}\n", read(a))
    assert.is_nil(sys.lstat(tmpfile))
    assert.is_nil(sys.stat(work .. "/temp_checkpoint"))
    assert.equal("perm change\n", read(b))
  end)

  it("recovery undoes unsaved and temporary changes", function()
    assert(rv:add_to_checkpoint({ a }, "unsaved"))
    write(a, "half-done\n")
    assert(rv:add_to_temp_checkpoint({ b }, "challenge"))
    write(b, "temp\n")
    assert(rv:recovery_routine())
    assert.equal("server {\n  listen 80;\n}\n", read(a))
    assert.equal("# b\n", read(b))
    assert.is_nil(sys.stat(work .. "/IN_PROGRESS"))
  end)

  -- A copy of the module with a marker table of its own: "another process"
  -- (the killed run) for the change markers.
  local function other_process()
    local saved = package.loaded["certbot.reverter"]
    package.loaded["certbot.reverter"] = nil
    local fresh = require("certbot.reverter")
    package.loaded["certbot.reverter"] = saved
    return fresh.new({ work_dir = work })
  end

  it("undoes every checkpoint of a killed run that began a change, and only those", function()
    -- an earlier, finished change
    assert(rv:begin_change())
    assert(rv:add_to_checkpoint({ b }, "earlier"))
    write(b, "earlier change\n")
    assert(rv:finalize_checkpoint("earlier"))
    assert(rv:end_change())
    assert.is_nil(sys.lstat(work .. "/CHANGE_IN_PROGRESS"))
    -- the killed run: one finalized checkpoint, one unsaved change, and a
    -- temp file sys.write_atomic left beside a.conf
    local killed = other_process()
    assert(killed:begin_change())
    assert(killed:add_to_checkpoint({ a }, "deploy"))
    write(a, "deployed\n")
    assert(killed:finalize_checkpoint("Deployed ACME certificate"))
    assert(killed:add_to_checkpoint({ a, b }, "enhance"))
    write(a, "deployed and enhanced\n")
    write(dir .. "/.b.conf.0123456789ab.tmp", "half")
    write(dir .. "/.other.conf.0123456789ab.tmp", "not ours")
    assert.equal(2, #rv:checkpoints())
    -- the next run
    local next_run = other_process()
    assert.is_true(next_run:unfinished())
    assert(next_run:recovery_routine())
    assert.is_false(next_run:unfinished())
    assert.equal("server {\n  listen 80;\n}\n", read(a))
    assert.equal("earlier change\n", read(b))
    assert.equal(1, #next_run:checkpoints())
    assert.is_nil(sys.lstat(work .. "/CHANGE_IN_PROGRESS"))
    assert.is_nil(sys.lstat(work .. "/IN_PROGRESS"))
    assert.is_nil(sys.lstat(dir .. "/.b.conf.0123456789ab.tmp"))
    assert.is_truthy(sys.lstat(dir .. "/.other.conf.0123456789ab.tmp"))
    -- again: nothing more to do
    assert(other_process():recovery_routine())
    assert.equal(1, #rv:checkpoints())
  end)

  it("leaves the checkpoints of its own change in progress alone", function()
    assert.is_false(rv:unfinished())
    assert(rv:begin_change())
    -- its own marker is no unfinished change
    assert.is_false(rv:unfinished())
    assert(rv:add_to_checkpoint({ a }, "deploy"))
    write(a, "deployed\n")
    assert(rv:finalize_checkpoint("Deployed ACME certificate"))
    assert(rv:add_to_checkpoint({ a }, "enhance"))
    write(a, "enhanced\n")
    -- (the plugin's own recovery at its start runs after begin_change)
    assert(rv:recovery_routine())
    assert.equal("deployed\n", read(a))
    assert.equal(1, #rv:checkpoints())
    assert.is_truthy(sys.lstat(work .. "/CHANGE_IN_PROGRESS"))
    assert(rv:end_change())
    assert.is_nil(sys.lstat(work .. "/CHANGE_IN_PROGRESS"))
    -- begin_change in a run after a killed one undoes that one first
    local killed = other_process()
    assert(killed:begin_change())
    assert(killed:add_to_checkpoint({ a }, "x"))
    write(a, "killed\n")
    assert(killed:finalize_checkpoint("x"))
    assert(rv:begin_change())
    assert.equal("deployed\n", read(a))
    assert.equal(1, #rv:checkpoints())
    assert(rv:end_change())
  end)

  it("leaves the change of a live run in another process alone", function()
    -- the other run: its marker, a finalized checkpoint, an unsaved change,
    -- and the change lock held by a live process
    local killed = other_process()
    assert(killed:begin_change())
    assert(killed:add_to_checkpoint({ a }, "deploy"))
    write(a, "deployed\n")
    assert(killed:finalize_checkpoint("Deployed ACME certificate"))
    assert(killed:add_to_checkpoint({ a }, "enhance"))
    write(a, "enhanced\n")
    assert(killed:end_change()) -- (drop this process's lock; the marker stays below)
    write(work .. "/CHANGE_IN_PROGRESS", "\n1 2\n", 384)
    local ready = dir .. "/ready"
    local pid = proc.spawn({ "lua5.4", "-e", ("package.cpath = %q .. package.cpath "
      .. "local sys = require('certbot.core').sys local lk = assert(sys.lock(%q)) "
      .. "io.open(%q, 'w'):close() sys.sleep(30)"):format((os.getenv("CERTBOT_BUILD") or "build")
      .. "/lib/?.so;", work .. "/.change.lock", ready) })
    local ok, err = pcall(function()
      assert(proc.wait_until(function() return sys.lstat(ready) end, 10), "the lock holder did not start")
      assert.is_true(rv:unfinished())
      assert(rv:recovery_routine())
      assert.equal("enhanced\n", read(a))
      assert.equal(1, #rv:checkpoints())
      assert.is_truthy(sys.lstat(work .. "/CHANGE_IN_PROGRESS"))
      local bok, berr = rv:begin_change()
      assert.is_nil(bok)
      assert.matches("Another instance of Certbot is changing the server configuration ("
        .. work .. "/.change.lock is locked).", berr, 1, true)
    end)
    proc.stop(pid)
    assert(ok, err)
    -- once it is gone, the next recovery undoes all of its change
    assert(rv:recovery_routine())
    assert.equal("server {\n  listen 80;\n}\n", read(a))
    assert.equal(0, #rv:checkpoints())
  end)

  it("ignores and sweeps a checkpoint killed while it was being removed", function()
    assert(rv:add_to_checkpoint({ a }, "1"))
    write(a, "v2\n")
    assert(rv:finalize_checkpoint("first"))
    local name = rv:checkpoints()[1]
    -- killed after its files were restored, half-way through deleting it
    assert(sys.rename(work .. "/backups/" .. name, work .. "/backups/" .. name .. ".removing"))
    assert(sys.unlink(work .. "/backups/" .. name .. ".removing/a.conf_0"))
    assert.equal(0, #rv:checkpoints())
    assert(rv:recovery_routine())
    assert.is_nil(sys.lstat(work .. "/backups/" .. name .. ".removing"))
    -- a half-deleted IN_PROGRESS likewise
    assert(sys.mkdir(work .. "/IN_PROGRESS.removing", 448))
    write(work .. "/IN_PROGRESS.removing/FILEPATHS", a .. "\n")
    assert(rv:recovery_routine())
    assert.is_nil(sys.lstat(work .. "/IN_PROGRESS.removing"))
    assert.equal("v2\n", read(a))
  end)

  it("names a new checkpoint after the newest one even if the clock went back", function()
    assert(sys.mkdir(work .. "/backups", 448, true))
    assert(sys.mkdir(work .. "/backups/9999999999.000000", 448))
    assert(rv:add_to_checkpoint({ a }, "1"))
    assert(rv:finalize_checkpoint("t"))
    local list = rv:checkpoints()
    assert.equal(2, #list)
    assert.equal("9999999999.000000", list[1])
    assert.is_true(tonumber(list[2]) > 9999999999)
  end)

  it("refuses what it cannot do, in one line", function()
    local ok, err = rv:add_to_checkpoint({ dir .. "/missing.conf" }, "x")
    assert.is_nil(ok)
    assert.matches("missing.conf: not a regular file", err, 1, true)
    ok, err = rv:register_file_creation(false, { "relative.conf" })
    assert.is_nil(ok)
    assert.matches("not an absolute path", err, 1, true)
    ok, err = rv:rollback_checkpoints(-1)
    assert.is_nil(ok)
    assert.matches("positive integer", err, 1, true)
    -- nothing to roll back is not an error
    assert.is_true((rv:rollback_checkpoints(1)))
  end)
end)
