-- certbot.core.sys: the door to the disk and to child processes.
local sys = require("certbot.core").sys

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(sys.mkdir(p, 448))
  return p
end

local function rm_rf(p) os.execute("rm -rf '" .. p .. "'") end

describe("core.sys #core", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() rm_rf(dir) end)

  it("writes atomically with the mode asked for, whatever the umask", function()
    local old = sys.umask(0)
    assert.is_true(sys.write_atomic(dir .. "/k.pem", "secret", 384)) -- 0600
    sys.umask(old)
    local st = assert(sys.stat(dir .. "/k.pem"))
    assert.equal(384, st.mode)
    assert.equal("secret", sys.read_file(dir .. "/k.pem"))
    -- no temp file left beside it
    assert.same({ "k.pem" }, sys.listdir(dir))
  end)

  it("replaces an existing file whole", function()
    assert(sys.write_atomic(dir .. "/f", "one", 420))
    assert(sys.write_atomic(dir .. "/f", "two", 420))
    assert.equal("two", sys.read_file(dir .. "/f"))
  end)

  it("returns nil and a message naming the path on failure", function()
    local ok, err = sys.write_atomic(dir .. "/missing/f", "x", 420)
    assert.is_nil(ok)
    assert.matches("missing/f: No such file or directory", err, 1, true)
    local data, rerr = sys.read_file(dir .. "/nope")
    assert.is_nil(data)
    assert.matches("nope: No such file", rerr, 1, true)
  end)

  it("swaps several links of one directory together, or none when one cannot be made", function()
    assert(sys.symlink_swap("old-a", dir .. "/a"))
    assert(sys.symlink_swap("old-b", dir .. "/b"))
    assert.is_true(sys.symlinks_swap({ { "new-a", dir .. "/a" }, { "new-b", dir .. "/b" } }))
    assert.equal("new-a", sys.readlink(dir .. "/a"))
    assert.equal("new-b", sys.readlink(dir .. "/b"))
    -- the second link's directory is missing: nothing moves, nothing is left
    local ok, err = sys.symlinks_swap({ { "x", dir .. "/a" }, { "y", dir .. "/nodir/b" } })
    assert.is_nil(ok)
    assert.matches("nodir/b: No such file or directory", err, 1, true)
    assert.equal("new-a", sys.readlink(dir .. "/a"))
    local left = sys.listdir(dir)
    table.sort(left)
    assert.same({ "a", "b" }, left)
    assert.has_error(function() sys.symlinks_swap({ { "x" } }) end)
  end)

  it("keeps a flag in a file it writes in place, never following a link", function()
    local f = dir .. "/.x.lock"
    assert.is_true(sys.flag(f, false)) -- off: a missing file stays missing
    assert.is_nil(sys.lstat(f))
    local old = sys.umask(0)
    assert.is_true(sys.flag(f, true))
    sys.umask(old)
    local st = assert(sys.lstat(f))
    assert.equal(384, st.mode)
    assert.equal("1\n", sys.read_file(f))
    assert.is_true(sys.flag(f, true))
    assert.equal("1\n", sys.read_file(f))
    assert.is_true(sys.flag(f, false))
    assert.equal("", sys.read_file(f))
    assert.equal(st.ino, sys.lstat(f).ino)
    assert(os.execute("ln -s /etc/hostname '" .. dir .. "/link'"))
    local ok, err = sys.flag(dir .. "/link", true)
    assert.is_nil(ok)
    assert.matches("link: Too many levels of symbolic links", err, 1, true)
  end)

  it("caps what read_file reads", function()
    assert(sys.write_atomic(dir .. "/big", string.rep("x", 5000), 420))
    local data, err = sys.read_file(dir .. "/big", 100)
    assert.is_nil(data)
    assert.matches("larger than 100 bytes", err)
  end)

  it("reads files of every size whole, around its buffer sizes", function()
    for _, n in ipairs({ 0, 1, 1023, 1024, 1025, 16382, 16383, 16384, 16385, 100000 }) do
      local data = {}
      for i = 1, n do data[i] = string.char(i * 7 % 256) end
      data = table.concat(data)
      assert(sys.write_atomic(dir .. "/f" .. n, data, 420))
      assert.equal(data, sys.read_file(dir .. "/f" .. n), n)
      -- max counts the bytes read: exactly max is fine, one more is not
      assert.equal(data, sys.read_file(dir .. "/f" .. n, n))
      if n > 0 then
        local none, err = sys.read_file(dir .. "/f" .. n, n - 1)
        assert.is_nil(none)
        assert.matches("larger than " .. (n - 1) .. " bytes", err, 1, true)
      end
    end
    local none, err = sys.read_file(dir)
    assert.is_nil(none)
    assert.matches("Is a directory", err, 1, true)
  end)

  it("reads what is not a plain file to its end: /proc files (size 0) and pipes", function()
    local status = assert(sys.read_file("/proc/self/status"))
    assert.matches("^Name:", status)
    assert.matches("\nPid:%s+%d+\n", status)
    -- a FIFO fed in pieces, each read short
    assert(os.execute("mkfifo '" .. dir .. "/fifo'"))
    assert(os.execute("(printf abc; sleep 0.2; printf def; sleep 0.2; printf ghi) > '" .. dir .. "/fifo' &"))
    assert.equal("abcdefghi", sys.read_file(dir .. "/fifo"))
  end)

  it("leaves no temp file behind, for files and for links, however many it writes", function()
    for i = 1, 200 do
      assert(sys.write_atomic(dir .. "/f", tostring(i), 420))
      assert(sys.symlink_swap("target" .. i, dir .. "/l"))
    end
    assert.same({ "f", "l" }, sys.listdir(dir))
    assert.equal("200", sys.read_file(dir .. "/f"))
    assert.equal("target200", sys.readlink(dir .. "/l"))
  end)

  it("makes directories with an exact mode and accepts existing ones", function()
    local old = sys.umask(18) -- 022
    assert.is_true(sys.mkdir(dir .. "/d", 448))
    sys.umask(old)
    assert.equal(448, sys.stat(dir .. "/d").mode)
    local ok, note = sys.mkdir(dir .. "/d", 493)
    assert.is_true(ok)
    assert.equal("exists", note)
  end)

  it("swaps a symlink in place, keeping it relative", function()
    assert(sys.write_atomic(dir .. "/a1", "1", 420))
    assert(sys.write_atomic(dir .. "/a2", "2", 420))
    assert(sys.symlink_swap("a1", dir .. "/live"))
    assert.equal("1", sys.read_file(dir .. "/live"))
    assert(sys.symlink_swap("a2", dir .. "/live"))
    assert.equal("a2", sys.readlink(dir .. "/live"))
    assert.equal("link", sys.lstat(dir .. "/live").type)
    assert.same({ "a1", "a2", "live" }, sys.listdir(dir))
  end)

  it("takes fcntl locks that exclude another process", function()
    local lk = assert(sys.lock(dir .. "/.certbot.lock"))
    -- flock(1) uses flock(2), which does not see fcntl locks; python's
    -- fcntl.lockf does.  A child process tries the same lock:
    local code = sys.run({ "python3", "-c", [[
import fcntl, sys
f = open(sys.argv[1], "a")
try:
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(7)
]], dir .. "/.certbot.lock" }, sys.environ())
    assert.equal(7, code)
    lk:unlock()
    code = sys.run({ "python3", "-c", [[
import fcntl, sys
f = open(sys.argv[1], "a")
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
]], dir .. "/.certbot.lock" }, sys.environ())
    assert.equal(0, code)
  end)

  it("runs a program with exactly the environment given", function()
    local code, out, err = sys.run({ "/bin/sh", "-c", 'printf "%s" "$CERTBOT_X"; echo oops >&2; exit 3' },
      { "CERTBOT_X=$(touch /tmp/never) ;`x`", "PATH=/usr/bin:/bin" })
    assert.equal(3, code)
    assert.equal("$(touch /tmp/never) ;`x`", out)
    assert.equal("oops\n", err)
  end)

  it("gives a hook only descriptors 0, 1 and 2", function()
    local lk = assert(sys.lock(dir .. "/.certbot.lock"))
    local code, out = sys.run({ "/bin/sh", "-c", "ls /proc/self/fd" }, { "PATH=/usr/bin:/bin" })
    lk:unlock()
    assert.equal(0, code)
    -- ls itself opens one descriptor for the directory it lists
    local fds = {}
    for fd in out:gmatch("%d+") do fds[#fds + 1] = tonumber(fd) end
    table.sort(fds)
    assert.same({ 0, 1, 2, 3 }, fds)
  end)

  it("reports a program killed by a signal", function()
    local code, err = sys.run({ "/bin/sh", "-c", "kill -9 $$" }, { "PATH=/usr/bin:/bin" })
    assert.is_nil(code)
    assert.equal("killed by signal 9", err)
  end)

  it("feeds standard input", function()
    local code, out = sys.run({ "cat" }, { "PATH=/usr/bin:/bin" }, { stdin = "hello" })
    assert.equal(0, code)
    assert.equal("hello", out)
  end)

  it("reports a program that cannot be found with exit 127", function()
    local code, _, err = sys.run({ "no-such-program-xyz" }, { "PATH=/usr/bin:/bin" })
    assert.equal(127, code)
    assert.matches("No such file", err)
  end)
end)
