-- Parallel renew (--max-parallel) against a real Pebble whose validations
-- take a while (PEBBLE_VA_SLEEPTIME), with short-lived certificates:
-- due lineages renewed side by side in worker processes with hooks run
-- once (pre, post) or once per lineage (deploy), prefixed output and a
-- summary in conf-name order; per-lineage locks that let two runs for
-- different lineages proceed together and stop a second run at a lineage
-- the first holds; Debian's certbot still excluded both ways; standalone
-- lineages on one port one at a time; and an interrupted parallel run
-- passing the signal to its workers, waiting for them and running the
-- post hooks.
--
-- The webroot lineages validate through a python http.server on Pebble's
-- http-01 port serving a shared webroot: several standalone responders
-- cannot share one port across processes.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local core = require("certbot.core")
local sys, cproc, crypto = core.sys, core.proc, core.crypto

local EXE = (os.getenv("CERTBOT_BUILD") or "build") .. "/certbot"
local DEBIAN = "/usr/bin/certbot"
-- seconds a certificate lasts: due (under half left) soon after issuance
local VALIDITY = 30

local function version(cb, name)
  local t = sys.readlink(cb.config_dir .. "/live/" .. name .. "/cert.pem")
  return tonumber(t and t:match("cert(%d+)%.pem$"))
end

local function environ(extra)
  local env, seen = {}, {}
  for k, v in pairs(extra) do
    env[#env + 1] = k .. "=" .. v
    seen[k] = true
  end
  for _, kv in ipairs(sys.environ()) do
    if not seen[kv:match("^([^=]*)=")] then env[#env + 1] = kv end
  end
  return env
end

-- Our client or Debian's in the background on cb's dirs (the argv and
-- environment cb:run uses), output to files.  -> handle for finish()
local function start(cb, who, args)
  local argv = { who == "debian" and DEBIAN or EXE }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  for _, a in ipairs({ "--config-dir", cb.config_dir, "--work-dir", cb.work_dir, "--logs-dir", cb.logs_dir,
    "-n", "--server", cb.srv.directory }) do argv[#argv + 1] = a end
  if who == "debian" then
    argv[#argv + 1] = "--no-random-sleep-on-renew"
  else
    for _, a in ipairs({ "-c", cb.cli_ini }) do argv[#argv + 1] = a end
  end
  local h = { out = os.tmpname(), err = os.tmpname() }
  local fo, fe = assert(io.open(h.out, "w")), assert(io.open(h.err, "w"))
  h.pid = assert(cproc.spawn(argv, environ({ REQUESTS_CA_BUNDLE = cb.srv.ca_file, CERTBOT_DEFAULT_CLI_INI = "",
    XDG_CONFIG_HOME = cb.dir }), { stdout = fo, stderr = fe }))
  fo:close()
  fe:close()
  return h
end

-- finish(h) -> code (or "signaled", signal), stdout, stderr
local function finish(h)
  local st, code = cproc.wait(h.pid)
  local out, err = proc.read(h.out) or "", proc.read(h.err) or ""
  os.remove(h.out)
  os.remove(h.err)
  if st == "signaled" then return "signaled " .. code, out, err end
  return code, out, err
end

-- gate.sh EVENT [WAITFOR]: appends "EVENT start|end TIME LINEAGE" to
-- <dir>/events and creates <dir>/held-EVENT; with WAITFOR, waits (up to
-- 20 s, else fails without an "end") until <dir>/WAITFOR exists.
local function gate(cb)
  local path = cb.dir .. "/gate.sh"
  local f = assert(io.open(path, "w"))
  f:write("#!/bin/sh\nd=", proc.quote(cb.dir), "\n",
    [[echo "$1 start $(date +%s.%N) ${RENEWED_LINEAGE:-}" >> "$d/events"
touch "$d/held-$1"
if [ -n "$2" ]; then
  i=0
  while [ ! -e "$d/$2" ]; do
    i=$((i+1)); [ $i -gt 400 ] && exit 1
    sleep 0.05
  done
fi
echo "$1 end $(date +%s.%N) ${RENEWED_LINEAGE:-}" >> "$d/events"
]])
  f:close()
  assert(sys.chmod(path, 493))
  return path
end

-- The gate's events: { {event=, what=, time=, lineage=}, ... }
local function events(cb)
  local t = {}
  for line in (proc.read(cb.dir .. "/events") or ""):gmatch("[^\n]+") do
    local ev, what, time, lineage = line:match("^(%S+) (%S+) (%S+) ?(.*)$")
    t[#t + 1] = { event = ev, what = what, time = tonumber(time), lineage = lineage }
  end
  return t
end

local function count(evs, event, what)
  local n = 0
  for _, e in ipairs(evs) do
    if e.event == event and e.what == what then n = n + 1 end
  end
  return n
end

local function wait_file(path, secs)
  return proc.wait_until(function() return sys.lstat(path) ~= nil end, secs or 20)
end

-- From the parent's log: workers started and ended, in order; the most
-- that ran at once, the number started, and their pids.
local function workers(cb)
  local log = proc.read(cb.logs_dir .. "/letsencrypt.log") or ""
  local running, most, started, pids = 0, 0, 0, {}
  for line in log:gmatch("[^\n]+") do
    local pid = line:match("^[^%[]-: renewing in worker process (%d+)$")
    if pid then
      running, started = running + 1, started + 1
      pids[#pids + 1] = tonumber(pid)
      if running > most then most = running end
    elseif line:match("^[^%[]-: worker %d+ ended") then
      running = running - 1
    end
  end
  return most, started, pids, log
end

-- The lineages in the summary's success lines, in order.
local function summary_order(out)
  local t = {}
  for name in out:gmatch("/live/([^/\n]+)/fullchain%.pem %(success%)") do t[#t + 1] = name end
  return t
end

describe("parallel renew #integration", function()
  local srv, p1, p2

  setup(function()
    p1, p2 = proc.free_ports(2)
    -- validations wait up to a second (as a CA's do), no authz reuse:
    -- every renewal really validates
    srv = pebble.start({ ports = { auto = true, http01 = p1, tlsalpn01 = p2 },
      env = { PEBBLE_VA_NOSLEEP = "0", PEBBLE_VA_SLEEPTIME = "1", PEBBLE_AUTHZREUSE = "0" },
      config = { certificateValidityPeriod = VALIDITY } })
  end)
  teardown(function() if srv then srv.stop() end end)

  describe("with webroot lineages", function()
    local www, web, cb

    setup(function()
      www = proc.tmpdir("parallel-www-")
      assert(sys.chmod(www, 493))
      web = proc.spawn({ "python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", www, tostring(p1) })
      assert(proc.wait_until(function()
        local res = srv.plain:request("GET", "http://127.0.0.1:" .. p1 .. "/")
        return res and res.status == 200
      end, 10), "python http.server did not start")
    end)
    teardown(function()
      proc.stop(web)
      proc.rm_rf(www)
    end)
    before_each(function() cb = helper.new(srv) end)
    after_each(function() cb:cleanup() end)

    local function issue(name)
      local code, out, err = cb:run({ "certonly", "--webroot", "-w", www, "-d", name })
      assert(code == 0, ("certonly %s: %s\n%s%s"):format(name, tostring(code), out, err))
    end

    it("renews six due lineages three at a time, hooks once, output prefixed, summary in conf order", function()
      local names = {}
      for i = 1, 6 do names[i] = ("p%d.example.org"):format(i) end
      -- issued in another order than the confs sort in
      for _, i in ipairs({ 4, 2, 6, 1, 5, 3 }) do issue(names[i]) end
      local last = 0
      for _, n in ipairs(names) do
        last = math.max(last, (assert(crypto.cert_not_after(proc.read(cb:live(n).cert)))))
      end
      -- due once less than half the lifetime is left
      local code, out, err = cb:run({ "renew" })
      assert.equal(0, code, out .. err)
      if not out:find("No renewals were attempted.", 1, true) then
        error("already due: issuance was too slow for VALIDITY\n" .. out)
      end
      while os.time() <= last - VALIDITY / 2 + 1 do sys.sleep(0.25) end

      local g = gate(cb)
      code, out, err = cb:run({ "renew", "--max-parallel", "3", "--pre-hook", g .. " pre",
        "--post-hook", g .. " post", "--deploy-hook", g .. " deploy" })
      assert.equal(0, code, out .. err)
      for _, n in ipairs(names) do
        assert.equal(2, version(cb, n), n)
        assert.matches("[" .. n .. "] Renewing an existing certificate for " .. n, out, 1, true)
      end
      assert.same(names, summary_order(out))
      assert.matches("Congratulations, all renewals succeeded:", out, 1, true)

      -- pre once before the first deploy, post once after the last, a
      -- deploy hook per lineage
      local evs = events(cb)
      assert.equal(1, count(evs, "pre", "start"))
      assert.equal(1, count(evs, "post", "end"))
      assert.equal(6, count(evs, "deploy", "end"))
      local pre_end, post_start, seen = nil, nil, {}
      for _, e in ipairs(evs) do
        if e.event == "pre" and e.what == "end" then pre_end = e.time end
        if e.event == "post" and e.what == "start" then post_start = e.time end
      end
      for _, e in ipairs(evs) do
        if e.event == "deploy" then
          assert.is_true(e.time > pre_end and e.time < post_start, "deploy outside pre..post")
          if e.what == "start" then
            assert.is_nil(seen[e.lineage], "two deploy hooks for " .. e.lineage)
            seen[e.lineage] = true
          end
        end
      end
      for _, n in ipairs(names) do assert.is_true(seen[cb.config_dir .. "/live/" .. n], n) end

      -- at most three workers at once, and more than one: really parallel
      local most, started, _, log = workers(cb)
      assert.equal(6, started)
      assert.is_true(most >= 2 and most <= 3, "workers at once: " .. most)
      -- the workers' log lines are in the parent's log, tagged
      for _, n in ipairs(names) do
        assert.matches(":INFO:[" .. n .. "] " .. n .. ": due for renewal", log, 1, true)
      end
    end)

    it("runs a lineage's own pre hook only after the lineages before it are renewed, as serial renew does", function()
      -- ha has no pre hook; hb and hc share one (an admin's "stop the
      -- webserver before standalone"): it must not run while ha renews
      local g = gate(cb)
      issue("ha.example.org")
      for _, n in ipairs({ "hb.example.org", "hc.example.org" }) do
        local code, out, err = cb:run({ "certonly", "--webroot", "-w", www, "-d", n, "--pre-hook", g .. " pre" })
        assert(code == 0, out .. err)
      end
      os.remove(cb.dir .. "/events")
      local code, out, err = cb:run({ "renew", "--force-renewal", "--max-parallel", "3",
        "--deploy-hook", g .. " deploy" })
      assert.equal(0, code, out .. err)
      local evs = events(cb)
      assert.equal(1, count(evs, "pre", "start"))
      local pre, deploys = nil, {}
      for _, e in ipairs(evs) do
        if e.event == "pre" and e.what == "start" then pre = e.time end
        if e.event == "deploy" and e.what == "end" then deploys[e.lineage:match("[^/]+$")] = e.time end
      end
      assert.is_true(deploys["ha.example.org"] < pre, "the pre hook ran while ha.example.org renewed")
      assert.is_true(deploys["hb.example.org"] > pre and deploys["hc.example.org"] > pre)
      local _, started = workers(cb)
      assert.equal(3, started)
    end)

    it("lets two runs for different --cert-names proceed at the same time", function()
      issue("ca.example.org")
      issue("cb.example.org")
      local g = gate(cb)
      -- each run's pre hook waits until the other's has started: they can
      -- only both finish if they run together
      local a = start(cb, "ours", { "renew", "--cert-name", "ca.example.org", "--force-renewal",
        "--pre-hook", g .. " preA held-preB" })
      local b = start(cb, "ours", { "renew", "--cert-name", "cb.example.org", "--force-renewal",
        "--pre-hook", g .. " preB held-preA" })
      local ca, oa, ea = finish(a)
      local cbc, ob, eb = finish(b)
      assert.equal(0, ca, oa .. ea)
      assert.equal(0, cbc, ob .. eb)
      local evs = events(cb)
      assert.equal(1, count(evs, "preA", "end"))
      assert.equal(1, count(evs, "preB", "end"))
      assert.equal(2, version(cb, "ca.example.org"))
      assert.equal(2, version(cb, "cb.example.org"))
    end)

    it("stops another run at a lineage a run holds, naming its lock, while the others renew", function()
      issue("la.example.org")
      issue("lb.example.org")
      local g = gate(cb)
      local holder = start(cb, "ours", { "renew", "--cert-name", "la.example.org", "--force-renewal",
        "--pre-hook", g .. " hold release" })
      assert(wait_file(cb.dir .. "/held-hold"), "the holding run never reached its pre hook")
      local t0 = sys.monotonic()
      local code, out, err = cb:run({ "renew", "--force-renewal", "--max-parallel", "2" })
      assert.equal(1, code, out .. err)
      local lock = cb.config_dir .. "/renewal/.la.example.org.lock"
      assert.matches("Failed to renew certificate la.example.org with error: Another instance of Certbot is "
        .. "already renewing la.example.org (" .. lock .. " is locked).", err, 1, true)
      assert.matches("The following renewals succeeded:\n  " .. cb.config_dir
        .. "/live/lb.example.org/fullchain.pem (success)", err, 1, true)
      assert.matches("  " .. cb.config_dir .. "/live/la.example.org/fullchain.pem (failure)", err, 1, true)
      assert.matches("1 renew failure(s), 0 parse failure(s)", err, 1, true)
      assert.equal(2, version(cb, "lb.example.org"))
      assert.equal(1, version(cb, "la.example.org"))
      assert.is_true(sys.monotonic() - t0 < 20)
      -- the holder goes on and renews it
      assert(io.open(cb.dir .. "/release", "w")):close()
      local hc, ho, he = finish(holder)
      assert.equal(0, hc, ho .. he)
      assert.equal(2, version(cb, "la.example.org"))
    end)

    it("passes a TERM on to its workers, waits for them, runs the post hook and ends as serial renew does", function()
      local names = { "ia.example.org", "ib.example.org", "ic.example.org" }
      for _, n in ipairs(names) do issue(n) end
      local g = gate(cb)
      local run = start(cb, "ours", { "renew", "--force-renewal", "--max-parallel", "3",
        "--deploy-hook", g .. " deploy release", "--post-hook", g .. " post" })
      -- all three workers are in their deploy hooks
      assert(proc.wait_until(function() return count(events(cb), "deploy", "start") == 3 end, 30),
        "the workers did not reach their deploy hooks")
      assert(cproc.kill(run.pid, "TERM"))
      sys.sleep(0.5)
      assert(io.open(cb.dir .. "/release", "w")):close()
      local code, out, err = finish(run)
      assert.equal("signaled 15", code, out .. err)
      local evs = events(cb)
      assert.equal(3, count(evs, "deploy", "end"))
      assert.equal(1, count(evs, "post", "end"))
      local post_start
      for _, e in ipairs(evs) do
        if e.event == "post" and e.what == "start" then post_start = e.time end
      end
      for _, e in ipairs(evs) do
        if e.event == "deploy" then assert.is_true(e.time < post_start, "post hook before a deploy hook") end
      end
      -- every worker got the signal and is gone; no lock is left held
      local _, started, pids, log = workers(cb)
      assert.equal(3, started)
      for _, pid in ipairs(pids) do
        assert.is_false(proc.alive(pid), "worker " .. pid .. " still runs")
        assert.matches("sent 15 to the worker for %S+ %(pid " .. pid .. "%)", log)
      end
      assert.matches("Exiting due to SIGTERM.", err, 1, true)
      for _, n in ipairs(names) do
        assert(cproc.lock(cb.config_dir .. "/renewal/." .. n .. ".lock")):unlock()
      end
      for _, d in ipairs({ cb.config_dir, cb.work_dir, cb.logs_dir }) do
        assert(cproc.lock(d .. "/.certbot.lock")):unlock()
      end
    end)

    local debian = sys.lstat(DEBIAN) and it or pending
    debian("excludes Debian's certbot while it runs, and is excluded by it", function()
      issue("da.example.org")
      issue("db.example.org")
      local g = gate(cb)
      -- ours holds the directories (shared): Certbot's exclusive lock fails
      local ours = start(cb, "ours", { "renew", "--cert-name", "da.example.org", "--force-renewal",
        "--pre-hook", g .. " ours release-ours" })
      assert(wait_file(cb.dir .. "/held-ours"), "our run never reached its pre hook")
      local dh = start(cb, "debian", { "renew" })
      local dc, dout, derr = finish(dh)
      assert.equal(1, dc, dout .. derr)
      assert.matches("Another instance of Certbot is already running", dout .. derr, 1, true)
      assert(io.open(cb.dir .. "/release-ours", "w")):close()
      local oc, oo, oe = finish(ours)
      assert.equal(0, oc, oo .. oe)

      -- Certbot holds them: ours stops at once, naming the lock
      dh = start(cb, "debian", { "renew", "--cert-name", "db.example.org", "--force-renewal",
        "--pre-hook", g .. " debian release-debian" })
      local held = wait_file(cb.dir .. "/held-debian", 60)
      if not held then
        assert(cproc.kill(dh.pid, "TERM"))
        local c, o, e = finish(dh)
        error("Debian's certbot never reached its pre hook (" .. tostring(c) .. "):\n" .. o .. e)
      end
      local code, out, err = cb:run({ "renew", "--cert-name", "da.example.org", "--force-renewal" })
      assert(io.open(cb.dir .. "/release-debian", "w")):close()
      finish(dh)
      assert.equal(1, code, out .. err)
      assert.matches("Another instance of Certbot is already running (" .. cb.logs_dir .. "/.certbot.lock is locked).",
        err, 1, true)
    end)
  end)

  describe("with standalone lineages on one port", function()
    local cb
    before_each(function() cb = helper.new(srv) end)
    after_each(function() cb:cleanup() end)

    it("renews them one at a time, each in a worker", function()
      local names = { "sa.example.org", "sb.example.org", "sc.example.org" }
      for _, n in ipairs(names) do
        local code, out, err = cb:run({ "certonly", "--standalone", "--http-01-port", tostring(p1), "-d", n })
        assert(code == 0, out .. err)
      end
      local code, out, err = cb:run({ "renew", "--force-renewal", "--max-parallel", "3" })
      assert.equal(0, code, out .. err)
      for _, n in ipairs(names) do assert.equal(2, version(cb, n), n) end
      assert.same(names, summary_order(out))
      local most, started = workers(cb)
      assert.equal(3, started)
      assert.equal(1, most)
    end)
  end)
end)
