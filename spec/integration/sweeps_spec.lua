-- Crash and disk-fault sweeps (TESTPLAN groups A and B) against a real
-- Pebble: the client is run under `strace -f -e inject=...` and killed
-- (SIGKILL) or handed ENOSPC/EIO at sampled invocations of the syscalls
-- that touch the disk; after every fault the lineage and account dirs are
-- checked (spec/helpers/consistency.lua) and a recovery run must succeed,
-- running the deploy hook of the newest version exactly once.  Each sweep
-- appends its counts to the results file `make test-faults` turns into
-- docs/reliability.md.
--
-- Kill points: strace counts injections per syscall and per tracee, so a
-- sweep injects at invocation n of one syscall at a time, for the last
-- TAIL invocations of every syscall (where the storage writes are) plus an
-- even sample of the earlier ones, CAP points in all (SWEEP_CAP overrides).
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local st = require("spec.helpers.strace")
local cons = require("spec.helpers.consistency")
local sys = require("certbot.core").sys

local KILL_SET = "openat,write,fsync,rename,renameat2,symlink,symlinkat,unlink,unlinkat,mkdir"
local CAP = tonumber(os.getenv("SWEEP_CAP")) or 60
local TAIL = 8

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- The tree under dir as text: type, mode, size, link target, content hash.
local function snapshot(dir)
  local code, out = helper.sh(("cd %s && find . -path ./accounts -prune -o -printf '%%y %%m %%s %%p %%l\\n' | sort"
    .. " && find . -path ./accounts -prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum"):format(
      proc.quote(dir)))
  assert(code == 0, out)
  return out
end

describe("crash and disk sweeps #faults #integration", function()
  local srv, p1, p2, root
  local available, why = st.available()

  setup(function()
    p1, p2 = proc.free_ports(2)
    -- no nonce rejected: a sweep replays the baseline run's system calls,
    -- and a badNonce retry would shift them (and Debian's certbot, whose
    -- baseline must succeed, retries a badNonce only once)
    srv = pebble.start({ ports = { auto = true, http01 = p1, tlsalpn01 = p2 },
      env = { PEBBLE_WFE_NONCEREJECT = "0" } })
    root = os.tmpname()
    write(root, srv.root_pem())
  end)
  teardown(function()
    if srv then srv.stop() end
    os.remove(root)
  end)

  local function certonly(name, extra)
    local a = { "certonly", "--standalone", "--http-01-port", tostring(p1), "-d", name }
    for _, x in ipairs(extra or {}) do a[#a + 1] = x end
    return a
  end

  -- Counts of KILL_SET calls in the client's own process during args.
  local function baseline(cb, args, set, prepare)
    if prepare then prepare() end
    local log = cb.dir .. "/baseline.trace"
    local r = st.run(cb, args, { trace = set, log = log })
    assert(r.code == 0, "baseline run failed: " .. r.out .. r.err)
    local c = st.counts(log)
    os.remove(log)
    return c
  end

  local function sweep_points(counts)
    return st.kill_points(counts, CAP, TAIL)
  end

  local function reset_lineage(cb, name)
    proc.rm_rf(cb.config_dir .. "/live/" .. name)
    proc.rm_rf(cb.config_dir .. "/archive/" .. name)
    os.remove(cb.config_dir .. "/renewal/" .. name .. ".conf")
  end

  it("A1: certonly killed at sampled disk syscalls leaves the lineage absent or consistent; "
    .. "the next run takes the name", function()
    if not available then return pending(why) end
    local cb = helper.new(srv)
    local name = "a1.example.org"
    local hangs = 0
    local ok, err = pcall(function()
      assert.equal(0, (cb:run({ "register" })))
      local counts = baseline(cb, certonly(name), KILL_SET)
      reset_lineage(cb, name)
      local pts = sweep_points(counts)
      local killed, states, failures = 0, {}, {}
      for _, pt in ipairs(pts) do
        local r = st.run(cb, certonly(name), { inject = pt[1] .. ":signal=KILL:when=" .. pt[2] })
        if r.hung then hangs = hangs + 1; failures[#failures + 1] = pt[1] .. "#" .. pt[2]
          .. ": hung (killed after 120 s)" end
        local where = pt[1] .. "#" .. pt[2]
        if r.signal then killed = killed + 1 end
        if not r.signal and r.code ~= 0 then
          failures[#failures + 1] = where .. ": exit " .. tostring(r.code) .. ": " .. r.err
        end
        local s, w = cons.lineage(cb.config_dir, name, root)
        if not s then failures[#failures + 1] = where .. ": " .. w end
        states[s or "broken"] = (states[s or "broken"] or 0) + 1
        -- the next certonly creates live/x, never x-0001
        local code, _, e = cb:run(certonly(name))
        local out
        if code ~= 0 then failures[#failures + 1] = where .. ": recovery certonly exit " .. tostring(code) .. ": "
          .. e end
        local s2, w2 = cons.lineage(cb.config_dir, name, root)
        if s2 ~= "consistent" then failures[#failures + 1] = where .. ": after recovery: " .. tostring(w2) end
        if cb:exists("live/" .. name .. "-0001") or cb:exists("renewal/" .. name .. "-0001.conf") then
          failures[#failures + 1] = where .. ": recovery created " .. name .. "-0001"
        end
        code, out, e = cb:run({ "renew" })
        if code ~= 0 or not out:match("0 parse failure") and (out .. e):match("parse failure") then
          failures[#failures + 1] = where .. ": renew after recovery: " .. tostring(code) .. " " .. out .. e
        end
        reset_lineage(cb, name)
        proc.rm_rf(cb.config_dir .. "/live/" .. name .. "-0001")
        proc.rm_rf(cb.config_dir .. "/archive/" .. name .. "-0001")
        os.remove(cb.config_dir .. "/renewal/" .. name .. "-0001.conf")
      end
      cons.record({ group = "A", case = "A1", title = "kill -9 sweep over certonly",
        faults = killed, points = #pts, inputs = 1, lost = 0, exposed = 0, crashes = 0,
        failures = #failures, states = states, first_failure = failures[1] })
      assert.same({}, failures)
      assert.is_true(killed > 0)
    end)
    cb:cleanup()
    assert(ok, err)
  end)

  it("A2/A3/A4: renew --force-renewal killed at sampled points stays consistent; "
    .. "the recovery runs the deploy hook once", function()
    if not available then return pending(why) end
    local cb = helper.new(srv)
    local name = "a2.example.org"
    local probe = cb.dir .. "/probe"
    local hook = ("readlink %s/live/%s/cert.pem >> %s"):format(cb.config_dir, name, probe)
    local hangs = 0
    local ok, err = pcall(function()
      assert.equal(0, (cb:run(certonly(name, { "--deploy-hook", hook }))))
      local renew = { "renew", "--force-renewal", "--cert-name", name }
      local counts = baseline(cb, renew, KILL_SET)
      local pts = sweep_points(counts)
      local killed, failures, lost, mixed, dup_hooks, reported = 0, {}, 0, 0, 0, {}
      local function fail(m) failures[#failures + 1] = m end
      for _, pt in ipairs(pts) do
        local where = pt[1] .. "#" .. pt[2]
        local _, before = cons.lineage(cb.config_dir, name, root)
        local r = st.run(cb, renew, { inject = pt[1] .. ":signal=KILL:when=" .. pt[2] })
        if r.hung then hangs = hangs + 1; failures[#failures + 1] = pt[1] .. "#" .. pt[2]
          .. ": hung (killed after 120 s)" end
        if r.signal then killed = killed + 1 elseif r.code ~= 0 then
          fail(where .. ": exit " .. tostring(r.code) .. ": " .. r.err)
        end
        -- A2: consistent, at the old version or a newer one
        local s, v = cons.lineage(cb.config_dir, name, root)
        if not s and tostring(v):match("^mixed versions") then
          -- four symlinks cannot move in one step: killed between two
          -- swaps, the recovery run must bring them together (checked below)
          mixed = mixed + 1
        elseif s ~= "consistent" then
          fail(where .. ": after kill: " .. tostring(v))
          if not s then lost = lost + 1 end
        elseif before and v < before then fail(where .. ": went back from " .. before .. " to " .. v) end
        -- A3: the recovery run
        local code, out, e = cb:run({ "renew", "--cert-name", name })
        if code ~= 0 then fail(where .. ": recovery renew exit " .. tostring(code) .. ": " .. out .. e) end
        local s2, v2 = cons.lineage(cb.config_dir, name, root)
        if s2 ~= "consistent" then fail(where .. ": after recovery: " .. tostring(v2)) else
          -- live names the newest complete version in the archive
          local newest = 0
          for _, f in ipairs(sys.listdir(cb.config_dir .. "/archive/" .. name) or {}) do
            local n = tonumber(f:match("^cert(%d+)%.pem$"))
            if n and n > newest then
              local all = true
              for _, k in ipairs(cons.KINDS) do
                local stt = sys.stat(cb.config_dir .. "/archive/" .. name .. "/" .. k .. n .. ".pem")
                if not stt or stt.size == 0 then all = false end
              end
              if all then newest = n end
            end
          end
          if v2 ~= newest then fail(where .. ": live at " .. v2 .. ", newest complete " .. newest) end
        end
        -- the deploy hook ran exactly once for every version it ran for, and for the live one
        local seen = {}
        for line in (proc.read(probe) or ""):gmatch("[^\n]+") do
          local n = tonumber(line:match("cert(%d+)%.pem$"))
          seen[n] = (seen[n] or 0) + 1
        end
        for n, c in pairs(seen) do
          if c ~= 1 and not reported[n] then
            reported[n] = true
            -- killed in the one step between the hook's exit and the
            -- removal of the pending marker (an unlink), the recovery run
            -- cannot know the hook finished: at least once, not exactly
            if pt[1] == "unlink" and c == 2 then dup_hooks = dup_hooks + 1
            else fail(where .. ": deploy hook ran " .. c .. " times for version " .. n) end
          end
        end
        if s2 == "consistent" and not seen[v2] then fail(where .. ": deploy hook never ran for version " .. v2) end
        -- A4: no leftovers after the recovery run
        local left = cons.leftovers(cb.config_dir, name)
        if #left > 0 then fail(where .. ": leftovers after recovery: " .. table.concat(left, " ")) end
      end
      cons.record({ group = "A", case = "A2-A4", title = "kill -9 sweep over renew --force-renewal, recovery renew",
        faults = killed, points = #pts, inputs = 1, lost = lost, exposed = 0, crashes = 0, mixed = mixed,
          dup_hooks = dup_hooks,
        failures = #failures, first_failure = failures[1], failure_list = { table.unpack(failures, 1, 40) },
          hangs = hangs })
      assert.same({}, failures)
      assert.is_true(killed > 0)
    end)
    cb:cleanup()
    assert(ok, err)
  end)

  it("A6: SIGTERM, SIGINT and SIGHUP at moments spread over renew: live consistent, the post hook ran, "
    .. "no lock left, exit non-zero", function()
    local cb = helper.new(srv)
    local name = "a6.example.org"
    local pre, post = cb.dir .. "/pre", cb.dir .. "/post"
    local cproc = require("certbot.core").proc
    local ok, err = pcall(function()
      assert.equal(0, (cb:run(certonly(name))))
      local renew = { "renew", "--force-renewal", "--cert-name", name,
        "--pre-hook", "echo pre >> " .. proc.quote(pre), "--post-hook", "echo post >> " .. proc.quote(post) }
      local t0 = sys.monotonic()
      assert.equal(0, (cb:run(renew)))
      local span = sys.monotonic() - t0
      local per = tonumber(os.getenv("A6_RUNS")) or 8
      local failures, signalled, finished, mixed_seen = {}, 0, 0, 0
      local function fail(m) failures[#failures + 1] = m end
      math.randomseed(os.time())
      for _, sig in ipairs({ "TERM", "INT", "HUP" }) do
        for k = 1, per do
          os.remove(pre)
          os.remove(post)
          -- one moment in each of `per` slices of a run's span
          local delay = span * (k - 1 + math.random()) / per
          local where = ("SIG%s after %d ms"):format(sig, math.floor(delay * 1000))
          local h = st.start(cb, renew)
          sys.sleep(delay)
          cproc.kill(h.pid, sig)
          local code, out, e = st.finish(h)
          if code == 0 then
            finished = finished + 1 -- done before the signal came
          else
            signalled = signalled + 1
            -- (a signal in the first milliseconds, before the handlers are
            -- in place, kills outright: nothing has run yet)
            local killed = "signaled " .. ({ TERM = 15, INT = 2, HUP = 1 })[sig]
            local want = sig == "INT" and 1 or killed
            if code ~= want and not (code == killed and not proc.read(pre)) then
              fail(where .. ": exit " .. tostring(code) .. ", not " .. tostring(want) .. ": " .. out .. e)
            end
            if code == 1 and not e:match("Exiting due to user request%.") then
              fail(where .. ": no 'Exiting due to user request.': " .. e)
            end
          end
          local s, v = cons.lineage(cb.config_dir, name, root)
          if s ~= "consistent" then
            fail(where .. ": " .. tostring(v))
            if tostring(v):match("^mixed") then mixed_seen = mixed_seen + 1 end
          end
          if proc.read(pre) and not proc.read(post) then fail(where .. ": the pre hook ran, the post hook did not") end
          -- no lock left held: the next run proceeds at once
          local c2, o2, e2 = cb:run({ "renew", "--cert-name", name })
          if c2 ~= 0 then fail(where .. ": the next renew: exit " .. tostring(c2) .. ": " .. o2 .. e2) end
        end
      end
      cons.record({ group = "A", case = "A6", title = "SIGTERM, SIGINT, SIGHUP during renew --force-renewal",
        faults = signalled, points = 3 * per, inputs = 1, lost = mixed_seen, exposed = 0, crashes = 0,
        failures = #failures, first_failure = failures[1], failure_list = { table.unpack(failures, 1, 40) },
        note = finished .. " runs finished before the signal" })
      assert.same({}, failures)
      assert.is_true(signalled > 0)
    end)
    cb:cleanup()
    assert(ok, err)
  end)

  it("A8: register killed at sampled points leaves a whole account or none; the next run succeeds without --force",
    function()
    if not available then return pending(why) end
    local cb = helper.new(srv)
    local hangs = 0
    local ok, err = pcall(function()
      local counts = baseline(cb, { "register" }, KILL_SET)
      proc.rm_rf(cb.config_dir)
      local pts = sweep_points(counts)
      local killed, failures = 0, {}
      for _, pt in ipairs(pts) do
        local where = pt[1] .. "#" .. pt[2]
        local r = st.run(cb, { "register" }, { inject = pt[1] .. ":signal=KILL:when=" .. pt[2] })
        if r.hung then hangs = hangs + 1; failures[#failures + 1] = pt[1] .. "#" .. pt[2]
          .. ": hung (killed after 120 s)" end
        if r.signal then killed = killed + 1 elseif r.code ~= 0 then
          failures[#failures + 1] = where .. ": exit " .. tostring(r.code) .. ": " .. r.err
        end
        local n, w = cons.account_dirs(cb.config_dir)
        if not n then failures[#failures + 1] = where .. ": " .. w end
        local code, out, e
        if n == 1 then
          code, out, e = cb:run({ "show_account" })
        else
          code, out, e = cb:run({ "register" })
        end
        if code ~= 0 then failures[#failures + 1] = where .. ": next run exit " .. tostring(code) .. ": " .. out
          .. e end
        proc.rm_rf(cb.config_dir)
      end
      cons.record({ group = "A", case = "A8", title = "kill -9 sweep over register",
        faults = killed, points = #pts, inputs = 1, lost = 0, exposed = 0, crashes = 0,
        failures = #failures, first_failure = failures[1], failure_list = { table.unpack(failures, 1, 40) },
          hangs = hangs })
      assert.same({}, failures)
      assert.is_true(killed > 0)
    end)
    cb:cleanup()
    assert(ok, err)
  end)

  it("A9: every rename into archive/, live/ or renewal/ follows an fsync of the file "
    .. "and precedes an fsync of the directory", function()
    if not available then return pending(why) end
    local cb = helper.new(srv)
    local name = "a9.example.org"
    local hangs = 0
    local ok, err = pcall(function()
      assert.equal(0, (cb:run(certonly(name))))
      local log = cb.dir .. "/a9.trace"
      local r = st.run(cb, { "renew", "--force-renewal", "--cert-name", name }, { log = log,
        trace = "openat,write,fsync,fdatasync,rename,renameat,renameat2,symlink,symlinkat",
        strace_args = { "-y", "-s", "0" } })
      assert.equal(0, r.code, r.out .. r.err)
      local lines = st.lines(log)
      local synced = {}
      local checked, failures = 0, {}
      local cfg = cb.config_dir
      for i, l in ipairs(lines) do
        if l.call == "fsync" or l.call == "fdatasync" then
          local p = l.args:match("^%d+<(.*)>$")
          if p then synced[p] = i end
        elseif (l.call == "rename" or l.call == "renameat" or l.call == "renameat2") and l.ret == "0" then
          local src, dst = l.args:match('"([^"]*)".-"([^"]*)"')
          if dst and (dst:find(cfg .. "/archive/", 1, true) or dst:find(cfg .. "/live/", 1, true)
              or dst:find(cfg .. "/renewal/", 1, true)) then
            checked = checked + 1
            local dir = dst:match("^(.*)/[^/]*$")
            local is_link = false
            for j = i - 1, math.max(1, i - 6), -1 do
              if (lines[j].call == "symlink" or lines[j].call == "symlinkat") and lines[j].args:find(src, 1, true) then
                is_link = true
              end
            end
            if not is_link and not synced[src] then
              failures[#failures + 1] = "rename " .. src .. " -> " .. dst .. " without an fsync of it first"
            end
            local dir_synced = false
            for j = i + 1, #lines do
              local lj = lines[j]
              if lj.pid == l.pid and lj.call == "fsync" and lj.args:match("^%d+<(.*)>$") == dir then
                dir_synced = true
                break
              end
              if lj.pid == l.pid and lj.call:match("^rename") and j > i + 40 then break end
            end
            if not dir_synced then failures[#failures + 1] = "no fsync of " .. dir .. " after rename to " .. dst end
          end
        end
      end
      cons.record({ group = "A", case = "A9", title = "durability: fsync before rename, dir fsync after",
        faults = 0, points = checked, inputs = 1, lost = 0, exposed = 0, crashes = 0,
        failures = #failures, first_failure = failures[1], failure_list = { table.unpack(failures, 1, 40) },
          hangs = hangs })
      assert.same({}, failures)
      assert.is_true(checked >= 5, "only " .. checked .. " renames seen")
    end)
    cb:cleanup()
    assert(ok, err)
  end)

  -- B2: ENOSPC / EIO on sampled writes: never a signal; either the run
  -- failed with exit 1 and left the tree as it was, or the write did not
  -- matter (a log line) and the run succeeded; always consistent, no temp
  -- files left.
  for _, errno in ipairs({ "ENOSPC", "EIO" }) do
    it("B2: renew --force-renewal with " .. errno .. " at sampled writes fails cleanly or succeeds, never corrupts",
      function()
      if not available then return pending(why) end
      local cb = helper.new(srv)
      local name = "b2" .. errno:lower() .. ".example.org"
      local hangs = 0
    local ok, err = pcall(function()
        assert.equal(0, (cb:run(certonly(name))))
        local renew = { "renew", "--force-renewal", "--cert-name", name }
        local counts = baseline(cb, renew, "write")
        local pts = sweep_points(counts)
        local failures, failed_runs, crashes = {}, 0, 0
        for _, pt in ipairs(pts) do
          local where = pt[1] .. "#" .. pt[2]
          local before = snapshot(cb.config_dir)
          local r = st.run(cb, renew, { inject = "write:error=" .. errno .. ":when=" .. pt[2] })
          if r.hung then hangs = hangs + 1; failures[#failures + 1] = pt[1] .. "#" .. pt[2]
            .. ": hung (killed after 120 s)" end
          if r.signal and not r.hung then
            crashes = crashes + 1
            failures[#failures + 1] = where .. ": killed by signal " .. r.signal
          elseif not r.hung and r.code ~= 0 then
            failed_runs = failed_runs + 1
            if r.code ~= 1 then failures[#failures + 1] = where .. ": exit " .. r.code end
            local after = snapshot(cb.config_dir)
            -- the log dir may differ; the config tree must not
            if after ~= before then failures[#failures + 1] = where .. ": exit 1 but the config dir changed" end
          end
          local s, w = cons.lineage(cb.config_dir, name, root)
          if s ~= "consistent" then failures[#failures + 1] = where .. ": " .. tostring(w) end
          local left = cons.leftovers(cb.config_dir, name)
          if #left > 0 then failures[#failures + 1] = where .. ": leftovers " .. table.concat(left, " ") end
        end
        cons.record({ group = "B", case = "B2-" .. errno .. "-renew", title = errno
          .. " sweep over writes of renew --force-renewal",
          faults = #pts, points = #pts, inputs = 1, failed_runs = failed_runs, lost = 0, exposed = 0,
          crashes = crashes, failures = #failures, first_failure = failures[1],
            failure_list = { table.unpack(failures, 1, 40) }, hangs = hangs })
        assert.same({}, failures)
        assert.is_true(failed_runs > 0, "no injected " .. errno .. " made a run fail")
      end)
      cb:cleanup()
      assert(ok, err)
    end)
  end

  it("B2: certonly with ENOSPC at sampled writes leaves the lineage absent or consistent, and never crashes", function()
    if not available then return pending(why) end
    local cb = helper.new(srv)
    local name = "b2c.example.org"
    local hangs = 0
    local ok, err = pcall(function()
      assert.equal(0, (cb:run({ "register" })))
      local counts = baseline(cb, certonly(name), "write")
      reset_lineage(cb, name)
      local pts = sweep_points(counts)
      local failures, crashes, failed_runs = {}, 0, 0
      for _, pt in ipairs(pts) do
        local where = pt[1] .. "#" .. pt[2]
        local r = st.run(cb, certonly(name), { inject = "write:error=ENOSPC:when=" .. pt[2] })
        if r.hung then hangs = hangs + 1; failures[#failures + 1] = pt[1] .. "#" .. pt[2]
          .. ": hung (killed after 120 s)" end
        if r.signal and not r.hung then
          crashes = crashes + 1
          failures[#failures + 1] = where .. ": killed by signal " .. r.signal
        elseif not r.hung and r.code ~= 0 then
          failed_runs = failed_runs + 1
          if r.code ~= 1 then failures[#failures + 1] = where .. ": exit " .. r.code end
        end
        local s, w = cons.lineage(cb.config_dir, name, root)
        if r.code ~= 0 and not r.hung and s ~= "absent" then failures[#failures + 1] = where .. ": failed run left "
          .. tostring(s
          or w) end
        if r.code == 0 and s ~= "consistent" then failures[#failures + 1] = where .. ": " .. tostring(s or w) end
        reset_lineage(cb, name)
      end
      cons.record({ group = "B", case = "B2-ENOSPC-certonly", title = "ENOSPC sweep over writes of certonly",
        faults = #pts, points = #pts, inputs = 1, failed_runs = failed_runs, lost = 0, exposed = 0,
        crashes = crashes, failures = #failures, first_failure = failures[1], failure_list = { table.unpack(failures,
          1, 40) }, hangs = hangs })
      assert.same({}, failures)
    end)
    cb:cleanup()
    assert(ok, err)
  end)

  it("B1: renew --force-renewal on a full tmpfs config dir fails naming the path, changing nothing", function()
    local cb = helper.new(srv)
    local name = "b1.example.org"
    local ok, err = pcall(function()
      local code = sys.run({ "unshare", "-rm", "true" }, sys.environ())
      if code ~= 0 then return pending("unshare -rm does not work here") end
      assert.equal(0, (cb:run(certonly(name))))
      local mnt, stage = cb.config_dir, cb.dir .. "/stage"
      assert(sys.mkdir(stage, 448))
      -- inside a private mount namespace: a tmpfs over the config dir
      -- holding its content (the confs name absolute paths), shrunk to
      -- just above it; the run; the trees before and after.
      local script = cb.dir .. "/b1.sh"
      local argv = st.argv(cb, { "renew", "--force-renewal", "--cert-name", name }, "ours")
      local words = {}
      for i, a in ipairs(argv) do words[i] = proc.quote(a) end
      write(script, table.concat({
        "set -e",
        "cp -a " .. proc.quote(mnt) .. "/. " .. proc.quote(stage),
        "mount -t tmpfs -o size=4m,mode=0700 none " .. proc.quote(mnt),
        "cp -a " .. proc.quote(stage) .. "/. " .. proc.quote(mnt),
        "used=$(df -B1 --output=used " .. proc.quote(mnt) .. " | tail -1)",
        "mount -o remount,size=$((used + 8192)) " .. proc.quote(mnt),
        "snap() ( cd " .. proc.quote(mnt)
          -- (a lineage's lock file, created empty by the run, is no change)
          .. " && find . ! -name '*.lock' -printf '%y %m %p %l\\n' | sort"
          .. " && find . -type f ! -name '*.lock' -print0 | sort -z | xargs -0 -r sha256sum; )",
        "snap > " .. proc.quote(cb.dir .. "/before"),
        "set +e",
        table.concat(words, " ") .. " > " .. proc.quote(cb.dir .. "/out") .. " 2> " .. proc.quote(cb.dir .. "/err"),
        "echo $? > " .. proc.quote(cb.dir .. "/rc"),
        "snap > " .. proc.quote(cb.dir .. "/after"),
        "df -B1 --output=size,used " .. proc.quote(mnt) .. " > " .. proc.quote(cb.dir .. "/df"),
      }, "\n") .. "\n")
      local rc, out, e = sys.run({ "unshare", "-m", "sh", script }, st.env(cb))
      assert.equal(0, rc, tostring(out) .. tostring(e))
      local code_b1 = tonumber(proc.read(cb.dir .. "/rc"))
      local errtext = proc.read(cb.dir .. "/err") or ""
      local same = proc.read(cb.dir .. "/before") == proc.read(cb.dir .. "/after")
      cons.record({ group = "B", case = "B1", title = "renew on a full tmpfs config dir",
        faults = 1, points = 1, inputs = 1, lost = 0, exposed = 0, crashes = 0,
        failures = (code_b1 == 1 and same and errtext:find("No space left on device", 1, true)) and 0 or 1,
        first_failure = (not same) and "tree changed" or errtext:match("[^\n]*") })
      assert.equal(1, code_b1, errtext)
      assert.matches("No space left on device", errtext, 1, true)
      assert.matches(mnt, errtext, 1, true)
      -- renew reports the lineage's failure, then sums up as Certbot's does
      assert.matches("1 renew failure(s), 0 parse failure(s)", errtext, 1, true)
      assert.equal(proc.read(cb.dir .. "/before"), proc.read(cb.dir .. "/after"))
    end)
    cb:cleanup()
    assert(ok, err)
  end)

  -- Debian's certbot through the same kill sweep, for the comparison
  -- table only: its failures are recorded, not asserted.
  local debian = sys.lstat(st.DEBIAN) and it or pending
  debian("A1 comparison: Debian's certbot through the certonly kill sweep (recorded, not asserted)", function()
    if not available then return pending(why) end
    local cb = helper.new(srv)
    local name = "deb1.example.org"
    local ok, err = pcall(function()
      local r = st.run(cb, { "register" }, { who = "debian" })
      assert.equal(0, r.code, r.out .. r.err)
      local log = cb.dir .. "/deb1.trace"
      r = st.run(cb, certonly(name), { who = "debian", trace = KILL_SET, log = log })
      assert.equal(0, r.code, r.out .. r.err)
      reset_lineage(cb, name)
      local pts = st.kill_points(st.counts(log), math.min(CAP, 40), TAIL)
      local killed, bad, first, states = 0, 0, nil, {}
      for _, pt in ipairs(pts) do
        r = st.run(cb, certonly(name), { who = "debian", inject = pt[1] .. ":signal=KILL:when=" .. pt[2] })
        if r.signal then killed = killed + 1 end
        local s, w = cons.lineage(cb.config_dir, name, root)
        states[s or "broken"] = (states[s or "broken"] or 0) + 1
        local rc = st.run(cb, certonly(name), { who = "debian" })
        local s2, w2 = cons.lineage(cb.config_dir, name, root)
        local dup = cb:exists("live/" .. name .. "-0001")
        if not s or s == "uncommitted" or s2 ~= "consistent" or rc.code ~= 0 or dup then
          bad = bad + 1
          first = first or (pt[1] .. "#" .. pt[2] .. ": " .. tostring(
            (not s and w) or (s == "uncommitted" and "partial lineage left") or w2
            or (dup and "the next certonly created " .. name .. "-0001") or ("recovery exit " .. tostring(rc.code))))
        end
        reset_lineage(cb, name)
        proc.rm_rf(cb.config_dir .. "/live/" .. name .. "-0001")
        proc.rm_rf(cb.config_dir .. "/archive/" .. name .. "-0001")
        os.remove(cb.config_dir .. "/renewal/" .. name .. "-0001.conf")
      end
      local note = {}
      for k, v in pairs(states) do note[#note + 1] = k .. " " .. v end
      table.sort(note)
      cons.record({ group = "A", case = "A1", client = "debian",
        title = "Debian certbot 2.1.0: kill -9 sweep over certonly",
        faults = killed, points = #pts, inputs = 1, lost = bad, exposed = 0, crashes = 0,
        failures = bad, first_failure = first, note = "after kill: " .. table.concat(note, ", ") })
      assert.is_true(killed > 0)
    end)
    cb:cleanup()
    assert(ok, err)
  end)

  debian("A2 comparison: Debian's certbot through the renew kill sweep (recorded, not asserted)", function()
    if not available then return pending(why) end
    local cb = helper.new(srv)
    local name = "deb.example.org"
    local ok, err = pcall(function()
      local function dargs(a)
        local t = {}
        for _, x in ipairs(a) do t[#t + 1] = x end
        return t
      end
      local r = st.run(cb, dargs(certonly(name)), { who = "debian" })
      assert.equal(0, r.code, r.out .. r.err)
      local renew = { "renew", "--force-renewal", "--cert-name", name }
      local log = cb.dir .. "/deb.trace"
      r = st.run(cb, renew, { who = "debian", trace = KILL_SET, log = log })
      assert.equal(0, r.code, r.out .. r.err)
      local pts = st.kill_points(st.counts(log), math.min(CAP, 40), TAIL)
      local killed, bad, first = 0, 0, nil
      for _, pt in ipairs(pts) do
        r = st.run(cb, renew, { who = "debian", inject = pt[1] .. ":signal=KILL:when=" .. pt[2] })
        if r.signal then killed = killed + 1 end
        local s, w = cons.lineage(cb.config_dir, name, root)
        local rc = st.run(cb, { "renew", "--cert-name", name }, { who = "debian" })
        local s2, w2 = cons.lineage(cb.config_dir, name, root)
        if s ~= "consistent" or s2 ~= "consistent" or rc.code ~= 0 then
          bad = bad + 1
          first = first or (pt[1] .. "#" .. pt[2] .. ": " .. tostring(w or w2 or ("recovery exit "
            .. tostring(rc.code))))
          -- put the lineage back for the next point
          proc.rm_rf(cb.config_dir .. "/live/" .. name)
          proc.rm_rf(cb.config_dir .. "/archive/" .. name)
          os.remove(cb.config_dir .. "/renewal/" .. name .. ".conf")
          st.run(cb, dargs(certonly(name)), { who = "debian" })
        end
      end
      cons.record({ group = "A", case = "A2", client = "debian",
        title = "Debian certbot 2.1.0: kill -9 sweep over renew --force-renewal",
        faults = killed, points = #pts, inputs = 1, lost = bad, exposed = 0, crashes = 0,
        failures = bad, first_failure = first })
      assert.is_true(killed > 0)
    end)
    cb:cleanup()
    assert(ok, err)
  end)
end)
