-- Locks and permissions (TESTPLAN groups C and H, the fast cases) against
-- a real Pebble.  Covered elsewhere: C1 per-lineage and C3 (Debian's
-- certbot both ways) in parallel_spec; the config-dir lock in renew_spec;
-- H5 in the webroot specs; H6 in reverter_spec/nginx_plugin_spec; H7 in
-- plugin_dir_spec.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local st = require("spec.helpers.strace")
local cons = require("spec.helpers.consistency")
local core = require("certbot.core")
local sys, cproc = core.sys, core.proc

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- cb's client in the background (the argv cb:run uses)
local start, finish = st.start, st.finish

local function wait_file(path, secs)
  return proc.wait_until(function() return sys.lstat(path) ~= nil end, secs or 20)
end

local function free(dirs)
  for _, d in ipairs(dirs) do
    local lk, e = cproc.lock(d .. "/.certbot.lock")
    if not lk then return nil, d .. ": " .. tostring(e) end
    lk:unlock()
  end
  return true
end

describe("locks and permissions #integration", function()
  local srv, p1, p2, root
  setup(function()
    p1, p2 = proc.free_ports(2)
    srv = pebble.start({ ports = { auto = true, http01 = p1, tlsalpn01 = p2 } })
    root = os.tmpname()
    write(root, srv.root_pem())
  end)
  teardown(function()
    if srv then srv.stop() end
    os.remove(root)
  end)

  local cb
  before_each(function() cb = helper.new(srv) end)
  after_each(function() cb:cleanup() end)

  local function certonly(name, extra)
    local a = { "certonly", "--standalone", "--http-01-port", tostring(p1), "-d", name }
    for _, x in ipairs(extra or {}) do a[#a + 1] = x end
    return a
  end

  local function issue(name, extra)
    local code, out, err = cb:run(certonly(name, extra))
    assert(code == 0, out .. err)
  end

  local function version(name)
    local s, v = cons.lineage(cb.config_dir, name, root)
    assert(s == "consistent", v)
    return v
  end

  describe("C: locks", function()
    it("C1: two renew --force-renewal of one lineage at once: one renews, the other stops at once naming the lock",
      function()
      issue("c1.example.org")
      local args = { "renew", "--force-renewal", "--cert-name", "c1.example.org" }
      local a, b = start(cb, args), start(cb, args)
      local ca, oa, ea = finish(a)
      local cbb, ob, eb = finish(b)
      assert.equal(2, version("c1.example.org"), oa .. ea .. ob .. eb)
      local codes = { ca, cbb }
      table.sort(codes, function(x, y) return tostring(x) < tostring(y) end)
      assert.same({ 0, 1 }, codes, oa .. ea .. ob .. eb)
      local loser_err, loser = ca == 1 and ea or eb, ca == 1 and a or b
      assert.matches("/%.[%w%.%-]+%.lock", loser_err)
      assert.matches("locked", loser_err, 1, true)
      assert.is_true(loser.ended - loser.started < 1.5, "the loser took " .. (loser.ended - loser.started) .. " s")
    end)

    for _, which in ipairs({ "work", "logs" }) do
      it("C2: a helper holding only " .. which .. "/.certbot.lock with fcntl stops a run that names it", function()
        issue("c2" .. which .. ".example.org")
        local dir = which == "work" and cb.work_dir or cb.logs_dir
        local lock = dir .. "/.certbot.lock"
        local script = ("import fcntl,time\nf=open(%q,'a')\nfcntl.lockf(f,fcntl.LOCK_EX)\n"
          .. "open(%q,'w').write('x')\ntime.sleep(30)\n"):format(lock, cb.dir .. "/held")
        local pid = proc.spawn({ "python3", "-c", script })
        assert(wait_file(cb.dir .. "/held", 10))
        local code, out, err = cb:run({ "certificates" })
        local rcode, rout, rerr = cb:run({ "renew" })
        proc.stop(pid)
        assert.equal(1, code, out .. err)
        assert.matches("Another instance of Certbot is already running (" .. lock .. " is locked).", err, 1, true)
        assert.equal(1, rcode, rout .. rerr)
        assert.matches(lock, rerr, 1, true)
      end)
    end

    it("C4: a run killed with SIGKILL while it holds the locks leaves none that blocks", function()
      issue("c4.example.org")
      local pidfile = cb.dir .. "/hookpid"
      local h = start(cb, { "renew", "--force-renewal", "--cert-name", "c4.example.org",
        "--pre-hook", "echo $$ > " .. proc.quote(pidfile) .. "; exec sleep 30" })
      assert(wait_file(pidfile, 20), "the pre hook never ran")
      assert(cproc.kill(h.pid, "KILL"))
      local code = finish(h)
      assert.equal("signaled 9", code)
      -- the orphaned hook (our grandchild) is still sleeping: it must not hold our locks
      local hook = tonumber(proc.read(pidfile))
      assert.truthy(sys.lstat(cb.config_dir .. "/.certbot.lock"))
      local c2, o2, e2 = cb:run({ "renew", "--force-renewal", "--cert-name", "c4.example.org" })
      if hook then cproc.kill(hook, "KILL") end
      assert.equal(0, c2, o2 .. e2)
      assert.equal(2, version("c4.example.org"))
    end)

    it("C5: 50 concurrent `certificates` runs: each lists or stops on the lock, and no lock is left held", function()
      issue("c5.example.org")
      local hs = {}
      for i = 1, 50 do hs[i] = start(cb, { "certificates" }) end
      local ok, busy, other = 0, 0, {}
      for _, h in ipairs(hs) do
        local code, out, err = finish(h)
        if code == 0 and out:find("c5.example.org", 1, true) then
          ok = ok + 1
        elseif code == 1
          and err:match("^Another instance of Certbot is already running %(.-%.certbot%.lock is locked%)%.\n$") then
          busy = busy + 1
        else
          other[#other + 1] = tostring(code) .. ": " .. out .. err
        end
      end
      cons.record({ group = "C", case = "C5", title = "50 concurrent certificates runs", faults = 0,
        points = 50, inputs = 1, lost = 0, exposed = 0, crashes = 0, failures = #other, first_failure = other[1],
        note = ok .. " listed, " .. busy .. " stopped on the lock" })
      assert.same({}, other)
      assert.is_true(ok >= 1)
      assert.equal(50, ok + busy)
      assert(free({ cb.logs_dir, cb.config_dir, cb.work_dir }))
    end)

    it("C6: locks are taken on logs, then config, then work (strace)", function()
      local available, why = st.available()
      if not available then return pending(why) end
      issue("c6.example.org")
      local log = cb.dir .. "/c6.trace"
      local r = st.run(cb, { "certificates" }, { trace = "fcntl,openat", log = log, strace_args = { "-y" } })
      assert.equal(0, r.code, r.out .. r.err)
      local order = {}
      for _, l in ipairs(st.lines(log)) do
        if l.call == "fcntl" and l.args:match("F_SETLK") and l.args:match("F_WRLCK") and l.ret == "0" then
          local path = l.args:match("^%d+<(.-)>")
          order[#order + 1] = path
        end
      end
      assert.same({ cb.logs_dir .. "/.certbot.lock", cb.config_dir .. "/.certbot.lock",
        cb.work_dir .. "/.certbot.lock" }, order)
    end)

    it("C7: a hook, and a daemon it starts, see only fds 0, 1 and 2; the daemon holds no lock", function()
      issue("c7.example.org")
      local pidfile = cb.dir .. "/daemon"
      -- the background sleep inherits exactly the hook's descriptors (a
      -- redirection in the hook's own shell would add the shell's saved fd)
      local hook = "sleep 20 </dev/null >/dev/null 2>&1 & echo $! > " .. proc.quote(pidfile)
      local code, o, e = cb:run({ "renew", "--force-renewal", "--cert-name", "c7.example.org",
        "--deploy-hook", hook })
      local pid = tonumber(proc.read(pidfile) or "")
      local fds = pid and sys.listdir("/proc/" .. pid .. "/fd") or {}
      table.sort(fds)
      local held, herr = free({ cb.logs_dir, cb.config_dir, cb.work_dir })
      if pid then cproc.kill(pid, "KILL") end
      assert.equal(0, code, o .. e)
      assert.truthy(pid, "the hook did not start its daemon")
      assert.same({ "0", "1", "2" }, fds)
      assert(held, herr)
    end)
  end)

  describe("B: read-only dirs", function()
    -- cb's client in a private mount namespace where dirs are read-only
    -- bind mounts of themselves.  -> code, stdout, stderr
    local function run_ro(args, dirs)
      local words = {}
      for i, a in ipairs(st.argv(cb, args)) do words[i] = proc.quote(a) end
      local lines = { "set -e" }
      for _, d in ipairs(dirs) do
        lines[#lines + 1] = "mount --bind " .. proc.quote(d) .. " " .. proc.quote(d)
        lines[#lines + 1] = "mount -o remount,bind,ro " .. proc.quote(d)
      end
      lines[#lines + 1] = "set +e"
      lines[#lines + 1] = table.concat(words, " ") .. " > " .. proc.quote(cb.dir .. "/ro.out") .. " 2> "
        .. proc.quote(cb.dir .. "/ro.err")
      lines[#lines + 1] = "echo $? > " .. proc.quote(cb.dir .. "/ro.rc")
      write(cb.dir .. "/ro.sh", table.concat(lines, "\n") .. "\n")
      local rc, o, e = sys.run({ "unshare", "-m", "sh", cb.dir .. "/ro.sh" }, st.env(cb))
      assert(rc == 0, "unshare -m failed: " .. tostring(o) .. tostring(e))
      return tonumber(proc.read(cb.dir .. "/ro.rc")), proc.read(cb.dir .. "/ro.out"), proc.read(cb.dir .. "/ro.err")
    end

    local function tree(dir)
      local _, out = helper.sh("cd " .. proc.quote(dir) .. " && find . -printf '%y %m %s %p %l\\n' | sort"
        .. " && find . -type f -print0 | sort -z | xargs -0 -r sha256sum")
      return out
    end

    it("B3: a read-only config dir: exit 1 naming it, nothing changed", function()
      if sys.run({ "unshare", "-m", "true" },
        sys.environ()) ~= 0 then return pending("unshare -m does not work here") end
      issue("b3.example.org")
      local before = tree(cb.config_dir)
      local code, out, err = run_ro({ "renew", "--force-renewal", "--cert-name", "b3.example.org" }, { cb.config_dir })
      assert.equal(1, code, out .. err)
      -- renew reports per lineage then sums up, as Certbot's does
      assert.matches(cb.config_dir:gsub("%p", "%%%0") .. "/[^\n]*: Read%-only file system", err)
      assert.matches("1 renew failure(s), 0 parse failure(s)", err, 1, true)
      assert.equal(before, tree(cb.config_dir))
      -- a command that is not renew: one line
      code, out, err = run_ro(certonly("b3b.example.org"), { cb.config_dir })
      assert.equal(1, code, out .. err)
      assert.matches(cb.config_dir, err, 1, true)
      assert.equal(1, select(2, err:gsub("[^\n]+", "")), err)
      assert.equal(before, tree(cb.config_dir))
    end)

    it("B4: an unwritable logs dir: exit 1, one line naming it and suggesting --logs-dir", function()
      if sys.run({ "unshare", "-m", "true" },
        sys.environ()) ~= 0 then return pending("unshare -m does not work here") end
      issue("b4.example.org")
      local code, out, err = run_ro({ "certificates" }, { cb.logs_dir })
      assert.equal(1, code, out .. err)
      assert.matches(cb.logs_dir, err, 1, true)
      assert.matches("--logs-dir", err, 1, true)
      assert.equal(1, select(2, err:gsub("[^\n]+", "")), err)
      assert.not_matches("traceback", err:lower(), 1, true)
    end)
  end)

  describe("H: permissions", function()
    local function mode(path)
      local s = assert(sys.lstat(path), path)
      return s.mode & 4095, s
    end

    it("H1: under umask 000 the modes are Certbot's and nothing is group- or world-writable", function()
      local old = sys.umask(0)
      local ok, code, out, err = pcall(cb.run, cb, certonly("h1.example.org"))
      sys.umask(old)
      assert(ok, code)
      assert.equal(0, code, out .. err)
      local c = cb.config_dir
      for _, d in ipairs({ c .. "/archive", c .. "/live", c .. "/accounts", cb.logs_dir }) do
        assert.equal(448, mode(d), d)
      end
      local key = c .. "/archive/h1.example.org/privkey1.pem"
      assert.equal(384, mode(key))
      local code2, found = helper.sh("find " .. proc.quote(c) .. " -name private_key.json")
      assert.equal(0, code2)
      local pk = found:match("[^\n]+")
      assert.truthy(pk)
      assert.equal(256, mode(pk))
      assert.equal(0, mode(cb.logs_dir .. "/letsencrypt.log") & 4, "the log is world-readable")
      local code3, writable = helper.sh("find " .. proc.quote(c) .. " " .. proc.quote(cb.logs_dir) .. " "
        .. proc.quote(cb.work_dir) .. " ! -type l -perm /022")
      assert.equal(0, code3)
      assert.equal("", writable)
    end)

    it("H2: no key file is ever created readable by others, nor chmod-ed tighter afterwards (strace)", function()
      local available, why = st.available()
      if not available then return pending(why) end
      local log = cb.dir .. "/h2.trace"
      local trace = "openat,creat,chmod,fchmod,fchmodat,rename,renameat2,link,mkdir"
      local r = st.run(cb, certonly("h2.example.org"), { trace = trace, log = log })
      assert.equal(0, r.code, r.out .. r.err)
      local log2 = cb.dir .. "/h2b.trace"
      r = st.run(cb, { "renew", "--force-renewal", "--cert-name", "h2.example.org" }, { trace = trace, log = log2 })
      assert.equal(0, r.code, r.out .. r.err)
      local keys, failures = 0, {}
      for _, lf in ipairs({ log, log2 }) do
        local lines = st.lines(lf)
        local created, dirs = {}, {}
        for _, l in ipairs(lines) do
          if l.call == "mkdir" and l.ret == "0" then
            dirs[l.args:match('"([^"]*)"')] = tonumber(l.args:match(", (0%d+)$") or "0777", 8)
          elseif l.call == "openat" and l.args:match("O_CREAT") then
            local path = l.args:match('"([^"]*)"')
            local m = l.args:match(", (0%d+)$")
            created[path] = { excl = l.args:match("O_EXCL") ~= nil, mode = tonumber(m or "0", 8) }
          end
        end
        for _, l in ipairs(lines) do
          if l.call:match("^rename") and l.ret == "0" then
            local src, dst = l.args:match('"([^"]*)".-"([^"]*)"')
            if dst and (dst:match("/privkey%d+%.pem$") or dst:match("/private_key%.json$")) then
              keys = keys + 1
              local c = created[src]
              if not c then failures[#failures + 1] = "no create seen for " .. src
              else
                if not c.excl then failures[#failures + 1] = src .. " created without O_EXCL" end
                if c.mode & 63 ~= 0 then failures[#failures + 1] = ("%s created with mode %o"):format(src, c.mode) end
              end
              local dir = src:match("^(.*)/[^/]*$")
              local dmode = dirs[dir] or (sys.lstat(dir) and mode(dir)) or 511
              if dmode & 63 ~= 0 then failures[#failures + 1] = ("temp key dir %s is %o"):format(dir, dmode) end
            end
          elseif l.call:match("chmod") then
            local path = l.args:match('"([^"]*)"') or ""
            local m = tonumber(l.args:match(", (0%d+)") or "0", 8)
            if (path:match("privkey") or path:match("private_key")) and m & 2 ~= 0 then
              failures[#failures + 1] = "a key file made world-writable: " .. l.call .. "(" .. l.args .. ")"
            end
          end
        end
      end
      cons.record({ group = "H", case = "H2", title = "strace: key files created 0600 with O_EXCL",
        faults = 0, points = keys, inputs = 2, lost = 0, exposed = #failures, crashes = 0,
        failures = #failures, first_failure = failures[1] })
      assert.same({}, failures)
      assert.is_true(keys >= 3, "only " .. keys .. " key files seen") -- account key, privkey1, privkey2
    end)

    it("H3: a group ssl-cert 0640 key is carried over to the successor; a 0644 key stays 0644", function()
      local code, grp = helper.sh("getent group ssl-cert")
      if code ~= 0 then return pending("no ssl-cert group") end
      local gid = tonumber(grp:match("^[^:]*:[^:]*:(%d+)"))
      issue("h3.example.org")
      local a = cb.config_dir .. "/archive/h3.example.org/"
      assert(sys.chown(a .. "privkey1.pem", -1, gid))
      assert(sys.chmod(a .. "privkey1.pem", 416)) -- 0640
      local c, o, e = cb:run({ "renew", "--force-renewal", "--cert-name", "h3.example.org" })
      assert.equal(0, c, o .. e)
      local m, s = mode(a .. "privkey2.pem")
      assert.equal(416, m)
      assert.equal(gid, s.gid)
      assert.not_matches("readable by every user", e, 1, true)
      assert(sys.chmod(a .. "privkey2.pem", 420)) -- 0644
      c, o, e = cb:run({ "renew", "--force-renewal", "--cert-name", "h3.example.org" })
      assert.equal(0, c, o .. e)
      assert.equal(420, (mode(a .. "privkey3.pem")))
      -- kept, as Certbot keeps it, and said
      assert.matches("The private key " .. a .. "privkey3.pem is readable by every user of this machine "
        .. "(mode 0644, kept from the previous key as Certbot does); to make it private: chmod o-r "
        .. a .. "privkey3.pem\n", e, 1, true)
    end)

    it("H5: webroot challenge files 0644 and created dirs 0755, owned like the webroot, and removed after",
      function()
      local www = cb.dir .. "/www"
      assert(sys.mkdir(www, 493))
      assert(sys.chown(www, 33, 33)) -- www-data's ids on Debian
      -- a real web server that, for every request, notes what it serves:
      -- mode and owner of the file and of the two dirs above it
      local statlog = cb.dir .. "/served"
      local server = [[
import http.server, os, sys
root, log = sys.argv[1], sys.argv[2]
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=root, **k)
    def do_GET(self):
        p = os.path.join(root, self.path.lstrip("/"))
        with open(log, "a") as f:
            for q in (p, os.path.dirname(p), os.path.dirname(os.path.dirname(p))):
                try:
                    st = os.stat(q)
                    f.write("%s %o %d %d\n" % (os.path.relpath(q, root), st.st_mode & 0o7777, st.st_uid, st.st_gid))
                except OSError as e:
                    f.write("%s missing\n" % q)
        super().do_GET()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[3])), H).serve_forever()
]]
      local pid = proc.spawn({ proc.python(), "-c", server, www, statlog, tostring(p1) })
      assert(proc.wait_until(function()
        return helper.sh("curl -s -o /dev/null http://127.0.0.1:" .. p1 .. "/") == 0
      end, 10), "the web server did not start")
      local old = sys.umask(63) -- 077: the modes must not come from the umask
      local code, out, err = cb:run({ "certonly", "--webroot", "-w", www, "-d", "h5.example.org" })
      sys.umask(old)
      proc.stop(pid)
      assert.equal(0, code, out .. err)
      local seen = {}
      for line in (proc.read(statlog) or ""):gmatch("[^\n]+") do seen[#seen + 1] = line end
      assert.is_true(#seen >= 3, "the web server saw no challenge request")
      local token
      for _, line in ipairs(seen) do
        local rel, m, uid, gid = line:match("^(%S+) (%d+) (%d+) (%d+)$")
        assert(rel, line)
        if rel:match("^%.well%-known/acme%-challenge/.") then
          token = rel
          assert.equal("644 33 33", m .. " " .. uid .. " " .. gid, line)
        elseif rel == ".well-known" or rel == ".well-known/acme-challenge" then
          assert.equal("755 33 33", m .. " " .. uid .. " " .. gid, line)
        end
      end
      assert.truthy(token)
      -- gone again, dirs included (they were ours)
      assert.same({}, sys.listdir(www))
    end)

    it("H4: -vvv --debug logs hold no key material", function()
      local code, out, err = cb:run(certonly("h4.example.org", { "-vvv", "--debug" }))
      assert.equal(0, code, out .. err)
      code, out, err = cb:run({ "renew", "--force-renewal", "-vvv", "--debug" })
      assert.equal(0, code, out .. err)
      local c, found = helper.sh("grep -rlE 'PRIVATE KEY|\"d\": ?\"' " .. proc.quote(cb.logs_dir))
      assert.equal("", found)
      assert.equal(1, c) -- grep found nothing (2 would be an error)
      assert.not_matches("PRIVATE KEY", out .. err, 1, true)
    end)
  end)
end)
