-- The nginx parts of the crash and disk-fault sweeps (TESTPLAN A5, A7, B5),
-- against a real Pebble and Debian's real nginx on loopback ports with a
-- private root (spec/helpers/nginx.lua).  The client runs under
-- `strace -f -e inject=...` (spec/helpers/strace.lua), killed (SIGKILL) or
-- handed ENOSPC/EIO at sampled invocations of the syscalls that touch the
-- disk, as in spec/integration/sweeps_spec.lua; each case appends one row
-- to the results file `make test-faults` turns into docs/reliability.md.
--
-- A5: nginx serves live/L; renew's deploy hook reloads it.  Through the
--     kill sweep over renew --force-renewal (and each recovery renew) a
--     separate process keeps running `nginx -t` and TLS handshakes; the spec
--     also probes after each kill and each recovery.  Every handshake must
--     show the public key of a private key in archive/L, and nginx -t must
--     pass, with one exception counted in the row, not failed:
--     fullchain.pem and privkey.pem are two symlinks swapped one after the
--     other, so while a run swaps them, or after a kill between the two
--     swaps until the recovery renew, they name two versions and nginx -t
--     refuses the pair ("key values mismatch").  The running nginx keeps
--     serving what it loaded; the recovery run repairs the links.
-- A7: kill sweeps over `install --nginx --redirect --hsts` (at every write,
--     rename and unlink, and a sample of the rest of KILL_SET) and over
--     `certonly --nginx` (sampled): after each kill, our next run (certonly
--     --nginx for a lineage that is not due: it prepares the plugin, which
--     undoes an unfinished change, and changes nothing itself) leaves every
--     file under the nginx root byte-identical to the original or to the
--     fully applied state (no stray temp file either), nginx -t passes, and
--     the install itself then succeeds.
-- B5: ENOSPC and EIO at every write of `install --nginx --redirect --hsts`:
--     exit 0 with the change fully applied, or exit 1 with a one-line error
--     and the configuration as it was; nginx -t passes; never a signal.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local nginx = require("spec.helpers.nginx")
local proc = require("spec.helpers.proc")
local st = require("spec.helpers.strace")
local cons = require("spec.helpers.consistency")
local sys = require("certbot.core").sys

local KILL_SET = "openat,write,fsync,rename,renameat2,symlink,symlinkat,unlink,unlinkat,mkdir"
local CAP = tonumber(os.getenv("SWEEP_CAP")) or 60
local TAIL = 8
-- the calls A7 kills at every invocation of
local EVERY = { write = true, rename = true, renameat2 = true, unlink = true, unlinkat = true }
local q = proc.quote

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- Runs under strace with a low open-files limit: sys.run closes every
-- descriptor up to the limit in each child it starts (nginx -t, the
-- reload, hooks), and under strace each of those 20,000 close() calls is
-- traced; the limit changes nothing else.
local function strun(cb, args, opts)
  opts.wrap = { "prlimit", "--nofile=256:256", "--" }
  return st.run(cb, args, opts)
end

local function default_site(port)
  return ("server {\n    listen 127.0.0.1:%d default_server;\n    server_name _;\n    return 404;\n}\n")
    :format(port)
end

-- Counts of `set` calls in the client's own process during args.
local function baseline(cb, args, set)
  local log = cb.dir .. "/baseline.trace"
  local r = strun(cb, args, { trace = set, log = log })
  assert(r.code == 0, "baseline run failed: " .. r.out .. r.err)
  local c = st.counts(log)
  os.remove(log)
  return c
end

-- The version each of fullchain.pem and privkey.pem of live/L names.
local function link_versions(cb, name)
  local v = {}
  for _, k in ipairs({ "fullchain", "privkey" }) do
    local t = sys.readlink(cb.config_dir .. "/live/" .. name .. "/" .. k .. ".pem") or ""
    v[k] = tonumber(t:match("(%d+)%.pem$"))
  end
  return v
end

describe("nginx crash and disk sweeps #faults #integration", function()
  local srv, http, root
  local available, why = st.available()

  setup(function()
    local p2
    http, p2 = proc.free_ports(2)
    -- Pebble validates http-01 on `http`: A5's standalone responder, then
    -- the installer cases' nginx.  No authorization reuse: every order
    -- validates again (through nginx's temporary challenge blocks).
    -- (no nonce rejected: a sweep replays the baseline run's system calls)
    srv = pebble.start({ env = { PEBBLE_AUTHZREUSE = "0", PEBBLE_WFE_NONCEREJECT = "0" },
      ports = { auto = true, http01 = http, tlsalpn01 = p2 } })
    root = os.tmpname()
    write(root, srv.root_pem())
  end)
  teardown(function()
    if srv then srv.stop() end
    os.remove(root)
  end)

  -------------------------------------------------------------------------
  -- A5
  -------------------------------------------------------------------------

  -- The probe the background loop runs, and the spec once after each kill
  -- and recovery: `t ok` / `t fail <nginx -t output>`, then `h <sha256 of
  -- the served certificate's public key PEM>` / `h none`.
  local PROBE = [[
probe() {
  if out=$("$NGINX" -p "$ROOT/" -c "$ROOT/nginx.conf" -t -q 2>&1); then
    echo "t ok"
  else
    echo "t fail $(printf '%s' "$out" | tr '\n' ' ')"
  fi
  pub=$(openssl s_client -connect "127.0.0.1:$PORT" -servername "$NAME" </dev/null 2>/dev/null \
    | openssl x509 -noout -pubkey 2>/dev/null)
  if [ -n "$pub" ]; then
    echo "h $(printf '%s\n' "$pub" | sha256sum | cut -c1-64)"
  else
    echo "h none"
  fi
}
NGINX=$1 ROOT=$2 PORT=$3 NAME=$4
if [ "$5" = loop ]; then
  while :; do probe; done >> "$6"
else
  probe
fi
]]

  it("A5: nginx serves live/L through the kill -9 sweep over renew: nginx -t passes, every handshake "
    .. "shows a key in archive/L", function()
    if not available then return pending(why) end
    local cb = helper.new(srv)
    local name = "a5.example.org"
    local a, b = nginx.ports(2)
    local live = cb:live(name)
    local ng = nginx.new({ http = a, https = b, sites = {
      ["00-default"] = default_site(a),
      [name] = ("server {\n    listen 127.0.0.1:%d ssl;\n    server_name %s;\n    ssl_certificate %s;\n"
        .. "    ssl_certificate_key %s;\n    return 200 \"a5\\n\";\n}\n"):format(b, name, live.fullchain,
          live.privkey),
    } })
    local script = cb.dir .. "/probe.sh"
    write(script, PROBE)
    local looplog = cb.dir .. "/loop.log"
    local loop_pid
    local reload = table.concat({ nginx.NGINX, "-p", q(ng.root .. "/"), "-c", q(ng.conf), "-s", "reload" }, " ")
    local hangs = 0
    local ok, err = pcall(function()
      -- (nginx is not running yet: this first deploy hook fails, a warning)
      local c0, o0, e0 = cb:run({ "certonly", "--standalone", "--http-01-port", tostring(http), "-d", name,
        "--deploy-hook", reload })
      assert.equal(0, c0, o0 .. e0)
      ng:start()

      local function probe()
        local _, out = nginx.sh(table.concat({ "sh", q(script), q(nginx.NGINX), q(ng.root), tostring(b), q(name) },
          " "))
        return out:match("t ([^\n]*)"), out:match("h ([^\n]*)")
      end
      -- public keys (hash of the PEM, as the probe prints it) of every
      -- private key in archive/L now; keyed by file content
      local key_hash = {}
      local function archive_keys()
        local set = {}
        local dir = cb.config_dir .. "/archive/" .. name
        for _, f in ipairs(sys.listdir(dir) or {}) do
          if f:match("^privkey%d+%.pem$") then
            local pem = proc.read(dir .. "/" .. f) or ""
            if not key_hash[pem] then
              local c, out = nginx.sh(("openssl pkey -in %s -pubout | sha256sum"):format(q(dir .. "/" .. f)))
              key_hash[pem] = c == 0 and out:match("^(%x+)") or false
            end
            if key_hash[pem] then set[key_hash[pem]] = f end
          end
        end
        return set
      end
      local function mark(phase)
        local f = assert(io.open(looplog, "a"))
        f:write("m ", phase, "\n")
        f:close()
      end

      local t0, h0 = probe()
      assert.equal("ok", t0)
      assert.is_truthy(archive_keys()[h0], "nginx does not serve the key of live/L")

      local renew = { "renew", "--force-renewal", "--cert-name", name }
      local counts = baseline(cb, renew, KILL_SET)
      local pts = st.kill_points(counts, CAP, TAIL)

      write(looplog, "")
      loop_pid = proc.spawn({ "sh", script, nginx.NGINX, ng.root, tostring(b), name, "loop", looplog })
      local killed, failures, split, split_t, lost = 0, {}, 0, 0, 0
      local function fail(m) failures[#failures + 1] = m end
      for _, pt in ipairs(pts) do
        local where = pt[1] .. "#" .. pt[2]
        mark("run " .. where)
        local r = strun(cb, renew, { inject = pt[1] .. ":signal=KILL:when=" .. pt[2] })
        if r.hung then hangs = hangs + 1; fail(where .. ": hung (killed after 120 s)") end
        if r.signal then killed = killed + 1 elseif r.code ~= 0 then
          fail(where .. ": exit " .. tostring(r.code) .. ": " .. r.err)
        end
        -- fullchain.pem and privkey.pem are two links: killed between the
        -- two swaps, they name two versions until the recovery run
        local v = link_versions(cb, name)
        local apart = v.fullchain ~= v.privkey
        if apart then split = split + 1 end
        mark(apart and "split " .. where or "idle " .. where)
        local s, w = cons.lineage(cb.config_dir, name, root)
        if s ~= "consistent" and not (tostring(w):match("^mixed versions")) then
          lost = lost + 1
          fail(where .. ": after kill: " .. tostring(w))
        end
        local t, h = probe()
        local keys = archive_keys()
        if t ~= "ok" then
          if apart and t:find("key values mismatch", 1, true) then split_t = split_t + 1
          else fail(where .. ": nginx -t after the kill: " .. tostring(t)) end
        end
        if not keys[h] then fail(where .. ": after the kill the handshake showed " .. tostring(h)) end
        mark("recovery " .. where)
        local code, out, e = cb:run({ "renew", "--cert-name", name })
        mark("idle " .. where)
        if code ~= 0 then fail(where .. ": recovery renew exit " .. tostring(code) .. ": " .. out .. e) end
        local s2, w2 = cons.lineage(cb.config_dir, name, root)
        if s2 ~= "consistent" then fail(where .. ": after recovery: " .. tostring(w2)) end
        t, h = probe()
        keys = archive_keys()
        if t ~= "ok" then fail(where .. ": nginx -t after the recovery: " .. tostring(t)) end
        if not keys[h] then fail(where .. ": after the recovery the handshake showed " .. tostring(h)) end
      end
      proc.stop(loop_pid, "sh")
      loop_pid = nil

      -- the background loop's results: key mismatches only while a run
      -- swapped the links or a kill left them apart (until its recovery
      -- run); every handshake a key on disk
      local keys = archive_keys()
      local phase, allowed = "idle", false
      local tests, shakes, loop_split = 0, 0, 0
      local function ok_phase(p) return p:match("^run") or p:match("^split") or p:match("^recovery") end
      for line in (proc.read(looplog) or ""):gmatch("[^\n]+") do
        local kind, rest = line:match("^(%a) (.*)$")
        if kind == "m" then
          -- a probe that started before the mark reports after it
          allowed = allowed or ok_phase(phase) ~= nil
          phase = rest
          allowed = allowed or ok_phase(phase) ~= nil
        elseif kind == "t" then
          tests = tests + 1
          if rest ~= "ok" then
            if allowed and rest:find("key values mismatch", 1, true) then loop_split = loop_split + 1
            else fail("background nginx -t (" .. phase .. "): " .. rest) end
          end
          allowed = ok_phase(phase) ~= nil
        elseif kind == "h" then
          shakes = shakes + 1
          if not keys[rest] then fail("background handshake (" .. phase .. ") showed " .. rest) end
        end
      end

      -- the deploy hook reloads this nginx: after an uninterrupted renewal
      -- it serves the new key
      local code, out, e = cb:run(renew)
      assert.equal(0, code, out .. e)
      local want = select(2, nginx.sh(("openssl pkey -in %s -pubout | sha256sum"):format(q(live.privkey))))
        :match("^(%x+)")
      assert(want)
      local served = nginx.eventually(function() return select(2, probe()) == want end, 10)
      if not served then fail("after a renewal nginx still serves " .. tostring(select(2, probe()))) end

      cons.record({ group = "A", case = "A5", title = "nginx serving live/L: nginx -t and TLS handshakes "
          .. "in a loop through the kill -9 sweep over renew --force-renewal and the recovery renews",
        faults = killed, points = #pts, inputs = 1, lost = lost, exposed = 0, crashes = 0, mixed = split,
        failures = #failures, first_failure = failures[1], failure_list = { table.unpack(failures, 1, 40) },
        hangs = hangs,
        note = ("%d nginx -t runs and %d handshakes in the background loop; nginx -t refused mismatched "
          .. "fullchain/privkey links %d times in the loop and %d times right after a kill between the two "
          .. "link swaps (repaired by the recovery renew)"):format(tests, shakes, loop_split, split_t) })
      assert.same({}, failures)
      assert.is_true(killed > 0)
      assert.is_true(tests > #pts and shakes > #pts, "the background loop ran too rarely")
    end)
    if loop_pid then proc.stop(loop_pid, "sh") end
    ng:cleanup()
    cb:cleanup()
    assert(ok, err)
  end)

  -------------------------------------------------------------------------
  -- A7, B5: one nginx on Pebble's http-01 port, one lineage issued
  -- through it
  -------------------------------------------------------------------------

  local env
  local L = "a7.example.org"

  local function nargs(ng, args, sleep)
    local t = {}
    for _, a in ipairs(args) do t[#t + 1] = a end
    for _, a in ipairs({ "--nginx-server-root", ng.root, "--nginx-ctl", nginx.NGINX,
      "--nginx-sleep-seconds", tostring(sleep or 0), "--http-01-port", tostring(ng.http),
      "--https-port", tostring(ng.https) }) do t[#t + 1] = a end
    return t
  end

  local function installer_env()
    if env then return env end
    local cb = helper.new(srv)
    local https = nginx.ports(1)
    local ng = nginx.new({ http = http, https = https, sites = {
      ["00-default"] = default_site(http),
      [L] = nginx.site(http, L .. " www." .. L, "site a7"),
      ["b7.example.org"] = nginx.site(http, "b7.example.org", "site b7"),
    } })
    env = { cb = cb, ng = ng }
    ng:start()
    local code, out, err = cb:run(nargs(ng, { "certonly", "--nginx", "-d", L }, 1))
    assert(code == 0, "certonly --nginx: " .. tostring(out) .. tostring(err))
    env.original = ng:snapshot()
    return env
  end

  teardown(function()
    if env then
      env.ng:cleanup()
      env.cb:cleanup()
    end
  end)

  -- Back to the original configuration, with no reverter state and no TLS
  -- options under --config-dir (each install writes them afresh).
  local function reset(e)
    e.ng:restore(e.original)
    os.remove(e.cb.config_dir .. "/options-ssl-nginx.conf")
    os.remove(e.cb.config_dir .. "/ssl-dhparams.pem")
    for _, f in ipairs(sys.listdir(e.cb.work_dir) or {}) do
      if f ~= ".certbot.lock" then proc.rm_rf(e.cb.work_dir .. "/" .. f) end
    end
  end

  -- The next run: certonly --nginx for L, which is not due: it prepares the
  -- plugin (lock, undo an unfinished change, parse) and changes nothing.
  local function next_run(e)
    return e.cb:run(nargs(e.ng, { "certonly", "--nginx", "--cert-name", L }))
  end

  -- After our next run: the configuration is one of the allowed states,
  -- nginx -t passes, no reverter leftovers.  -> state name | nil, why
  local function check_recovered(e, allowed)
    local code, out, err = next_run(e)
    if code ~= 0 then return nil, "next run exit " .. tostring(code) .. ": " .. out .. err end
    local snap = e.ng:snapshot()
    local state, diffs = nil, {}
    for _, a in ipairs(allowed) do
      local d = nginx.diff(a[2], snap)
      if not d then state = a[1] break end
      diffs[#diffs + 1] = a[1] .. ": " .. d
    end
    if not state then return nil, "after the next run, neither " .. table.concat(diffs, "; ") end
    local tc, tout = e.ng:test()
    if tc ~= 0 then return nil, "nginx -t after the next run: " .. tout:gsub("\n", " ") end
    for _, d in ipairs({ "IN_PROGRESS", "temp_checkpoint" }) do
      if sys.lstat(e.cb.work_dir .. "/" .. d) then return nil, "work/" .. d .. " left after the next run" end
    end
    return state
  end

  local function describe_states(states)
    local parts = {}
    for k, v in pairs(states) do parts[#parts + 1] = k .. " " .. v end
    table.sort(parts)
    return table.concat(parts, ", ")
  end

  it("A7: install --nginx --redirect --hsts killed at sampled points: the next run leaves the original "
    .. "or the fully applied configuration, and nginx -t passes", function()
    if not available then return pending(why) end
    local e = installer_env()
    local cb, ng = e.cb, e.ng
    local hangs = 0
    local ok, err = pcall(function()
      local args = nargs(ng, { "install", "--nginx", "--cert-name", L, "--redirect", "--hsts" })
      reset(e)
      local counts = baseline(cb, args, KILL_SET)
      local applied = ng:snapshot()
      assert.is_truthy(nginx.diff(e.original, applied), "install changed nothing")
      assert.equal(0, (ng:test()))
      local allowed = { { "original", e.original }, { "applied", applied } }
      -- every write, rename and unlink (an install makes a few dozen), and a
      -- sample of the other calls of KILL_SET
      local pts, rest = {}, {}
      for c, n in pairs(counts) do
        if EVERY[c] then
          for i = 1, math.min(n, 2 * CAP) do pts[#pts + 1] = { c, i } end
        else
          rest[c] = n
        end
      end
      table.sort(pts, function(x, y) return x[1] < y[1] or x[1] == y[1] and x[2] < y[2] end)
      for _, p in ipairs(st.kill_points(rest, CAP, TAIL)) do pts[#pts + 1] = p end
      local killed, failures, states, child_kills = 0, {}, {}, 0
      local function fail(m) failures[#failures + 1] = m end
      for _, pt in ipairs(pts) do
        local where = pt[1] .. "#" .. pt[2]
        reset(e)
        local r = strun(cb, args, { inject = pt[1] .. ":signal=KILL:when=" .. pt[2] })
        if r.hung then hangs = hangs + 1; fail(where .. ": hung (killed after 120 s)") end
        if r.signal then killed = killed + 1 elseif r.code == 1 and r.err:find("killed by signal 9", 1, true) then
          -- the kill hit a child instead (nginx -t, the reload): the run
          -- failed and put the configuration back itself
          child_kills = child_kills + 1
        elseif r.code ~= 0 then
          fail(where .. ": exit " .. tostring(r.code) .. ": " .. r.err)
        end
        local s, w = check_recovered(e, allowed)
        if not s then fail(where .. ": " .. w) else states[s] = (states[s] or 0) + 1 end
        -- and the install itself then succeeds
        local code, out, e2 = cb:run(args)
        if code ~= 0 then fail(where .. ": the install after it: exit " .. tostring(code) .. ": " .. out .. e2)
        else
          local d = nginx.diff(applied, ng:snapshot())
          if d then fail(where .. ": the install after it does not give the applied state: " .. d) end
        end
      end
      reset(e)
      cons.record({ group = "A", case = "A7-install", title = "kill -9 sweep over install --nginx --redirect "
          .. "--hsts; the next run's recovery",
        faults = killed, points = #pts, inputs = 1, lost = 0, exposed = 0, crashes = 0,
        failures = #failures, first_failure = failures[1], failure_list = { table.unpack(failures, 1, 40) },
        hangs = hangs, note = ("after the next run: %s; %d runs exited 1 (the kill hit a child: nginx -t, "
          .. "the reload)"):format(describe_states(states), child_kills) })
      assert.same({}, failures)
      assert.is_true(killed > 0)
    end)
    assert(ok, err)
  end)

  it("A7: certonly --nginx killed at sampled points: the next run leaves the configuration byte-identical, "
    .. "and nginx -t passes", function()
    if not available then return pending(why) end
    local e = installer_env()
    local cb, ng = e.cb, e.ng
    local hangs = 0
    local ok, err = pcall(function()
      reset(e)
      -- b7 has a server block, c7 none (a temporary block answers for it)
      local args = nargs(ng, { "certonly", "--nginx", "--cert-name", "c7.example.org", "-d", "b7.example.org",
        "-d", "c7.example.org", "--force-renewal" }, 1)
      local counts = baseline(cb, args, KILL_SET)
      assert.is_nil(nginx.diff(e.original, ng:snapshot()))
      local allowed = { { "original", e.original } }
      -- each run validates through nginx (two reloads, a second each)
      local pts = st.kill_points(counts, math.max(8, CAP // 2), TAIL // 2)
      local killed, failures, states, child_kills = 0, {}, {}, 0
      local function fail(m) failures[#failures + 1] = m end
      for _, pt in ipairs(pts) do
        local where = pt[1] .. "#" .. pt[2]
        local r = strun(cb, args, { inject = pt[1] .. ":signal=KILL:when=" .. pt[2] })
        if r.hung then hangs = hangs + 1; fail(where .. ": hung (killed after 120 s)") end
        if r.signal then killed = killed + 1 elseif r.code == 1 and r.err:find("killed by signal 9", 1, true) then
          -- the kill hit a child instead (nginx -t, the reload): the run
          -- failed and put the configuration back itself
          child_kills = child_kills + 1
        elseif r.code ~= 0 then
          fail(where .. ": exit " .. tostring(r.code) .. ": " .. r.err)
        end
        local s, w = check_recovered(e, allowed)
        if not s then
          fail(where .. ": " .. w)
          reset(e)
        else states[s] = (states[s] or 0) + 1 end
        if not ng:alive() then
          fail(where .. ": nginx is gone")
          ng:start()
        end
      end
      cons.record({ group = "A", case = "A7-certonly", title = "kill -9 sweep over certonly --nginx (temporary "
          .. "challenge blocks); the next run's recovery",
        faults = killed, points = #pts, inputs = 1, lost = 0, exposed = 0, crashes = 0,
        failures = #failures, first_failure = failures[1], failure_list = { table.unpack(failures, 1, 40) },
        hangs = hangs, note = ("after the next run: %s; %d runs exited 1 (the kill hit a child: nginx -t, "
          .. "the reload)"):format(describe_states(states), child_kills) })
      assert.same({}, failures)
      assert.is_true(killed > 0)
    end)
    assert(ok, err)
  end)

  for _, errno in ipairs({ "ENOSPC", "EIO" }) do
    it("B5: install --nginx with " .. errno .. " at sampled writes: applied with exit 0, or exit 1 with one "
      .. "line and the configuration unchanged; nginx -t passes", function()
      if not available then return pending(why) end
      local e = installer_env()
      local cb, ng = e.cb, e.ng
      local hangs = 0
      local ok, err = pcall(function()
        local args = nargs(ng, { "install", "--nginx", "--cert-name", L, "--redirect", "--hsts" })
        reset(e)
        local counts = baseline(cb, args, "write")
        local applied = ng:snapshot()
        -- an install makes few writes (~30): every one of them, up to 2 * CAP
        local pts = st.kill_points({ write = counts.write }, 2 * CAP, 2 * CAP)
        local failures, crashes, failed_runs = {}, 0, 0
        local function fail(m) failures[#failures + 1] = m end
        for _, pt in ipairs(pts) do
          local where = "write#" .. pt[2]
          reset(e)
          local r = strun(cb, args, { inject = "write:error=" .. errno .. ":when=" .. pt[2] })
          if r.hung then hangs = hangs + 1; fail(where .. ": hung (killed after 120 s)") end
          local snap = ng:snapshot()
          if r.signal and not r.hung then
            crashes = crashes + 1
            fail(where .. ": killed by signal " .. r.signal)
          elseif r.code == 0 then
            local d = nginx.diff(applied, snap)
            if d then fail(where .. ": exit 0 but not the applied configuration: " .. d) end
          elseif r.code == 1 then
            failed_runs = failed_runs + 1
            local d = nginx.diff(e.original, snap)
            if d then fail(where .. ": exit 1 but the configuration changed: " .. d) end
            local lines = {}
            for l in r.err:gmatch("[^\n]+") do lines[#lines + 1] = l end
            if #lines ~= 1 or r.err:find("traceback", 1, true) then
              fail(where .. ": not a one-line error: " .. r.err)
            end
          elseif not r.hung then
            fail(where .. ": exit " .. tostring(r.code) .. ": " .. r.err)
          end
          local tc, tout = ng:test()
          if tc ~= 0 then fail(where .. ": nginx -t: " .. tout:gsub("\n", " ")) end
        end
        reset(e)
        cons.record({ group = "B", case = "B5-" .. errno, title = errno .. " sweep over writes of install "
            .. "--nginx --redirect --hsts",
          faults = #pts, points = #pts, inputs = 1, failed_runs = failed_runs, lost = 0, exposed = 0,
          crashes = crashes, failures = #failures, first_failure = failures[1],
          failure_list = { table.unpack(failures, 1, 40) }, hangs = hangs })
        assert.same({}, failures)
        assert.is_true(failed_runs > 0, "no injected " .. errno .. " made a run fail")
      end)
      assert(ok, err)
    end)
  end
end)
