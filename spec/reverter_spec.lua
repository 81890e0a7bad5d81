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
