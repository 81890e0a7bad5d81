-- TESTPLAN cases of groups D-K that no other spec checked against real
-- parts, or checked only in part (spec/helpers/testplan_map.lua says where
-- every case is tested).  Each test's title starts with its case id.
-- Every Pebble here is this spec's own, on free ports; the validation
-- ports too.  Pebble-side observations come from Pebble's log, from
-- pebble-challtestsrv and from the fault proxy (spec/helpers/faultproxy.py)
-- logging every request with its status and time.
local pebble = require("spec.helpers.pebble")
local faultproxy = require("spec.helpers.faultproxy")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local st = require("spec.helpers.strace")
local core = require("certbot.core")
local cjson = require("cjson")

local sys, crypto = core.sys, core.crypto
local q, sh = proc.quote, helper.sh

local EXE = (os.getenv("CERTBOT_BUILD") or "build") .. "/certbot"

-- The last non-empty line of stderr, and whether it was the only one.
local function last_error(err)
  local lines = {}
  for l in (err or ""):gmatch("[^\n]+") do lines[#lines + 1] = l end
  return lines[#lines] or "", #lines == 1
end

local function lines_of(text)
  local t = {}
  for l in (text or ""):gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

-- Occurrences of a plain string.
local function count(text, needle)
  local n, i = 0, 1
  while true do
    local s, e = (text or ""):find(needle, i, true)
    if not s then return n end
    n, i = n + 1, e + 1
  end
end

local function version(cb, name)
  local t = sys.readlink(cb.config_dir .. "/live/" .. name .. "/cert.pem")
  return tonumber(t and t:match("cert(%d+)%.pem$"))
end

local function conf_path(cb, name) return cb.config_dir .. "/renewal/" .. name .. ".conf" end

-- Replace one plain occurrence of `from` in a lineage's renewal conf.
local function edit_conf(cb, name, from, to)
  local text = assert(proc.read(conf_path(cb, name)))
  local s, e = text:find(from, 1, true)
  assert(s, conf_path(cb, name) .. " has no " .. from)
  assert(sys.write_atomic(conf_path(cb, name), text:sub(1, s - 1) .. to .. text:sub(e + 1), 420))
end

local function make_due(cb, name)
  edit_conf(cb, name, "# renew_before_expiry = 30 days\n", "renew_before_expiry = 100 years\n")
end

local files_under = proc.files_under

local function write(path, text, mode)
  assert(sys.write_atomic(path, text, mode or 420))
  return path
end

local function log_of(cb) return proc.read(cb.logs_dir .. "/letsencrypt.log") or "" end

-- pebble-challtestsrv's management API (add-a, set-servfail, ...).
local function challtest(srv, path, body)
  local r, e = srv.plain:request("POST", srv.challtestsrv .. path,
    { body = cjson.encode(body), content_type = "application/json" })
  assert(r, e)
  assert.equal(200, r.status, path .. ": " .. tostring(r.body))
end

-- A Pebble of its own for fn(srv, http_port, tls_port), always stopped.
local function with_pebble(opts, fn)
  local p1, p2 = proc.free_ports(2)
  opts.ports = { auto = true, http01 = p1, tlsalpn01 = p2 }
  local srv = pebble.start(opts)
  local ok, err = pcall(fn, srv, p1, p2)
  srv.stop()
  if not ok then error(err, 0) end
end

---------------------------------------------------------------------------
-- D1, D1b, D2: nonce rejection
---------------------------------------------------------------------------

describe("TESTPLAN gaps: badNonce #integration", function()
  it("D1: PEBBLE_WFE_NONCEREJECT=50: certonly issues, retrying each request at most 15 times", function()
    with_pebble({ env = { PEBBLE_WFE_NONCEREJECT = "50" } }, function(srv, p1)
      local fp = faultproxy.start(srv)
      local cb = helper.new(fp.srv)
      local ok, err = pcall(function()
        -- three names: some twenty signed requests, so rejections happen
        local code, out, e = cb:run({ "certonly", "--standalone", "--http-01-port", tostring(p1),
          "-d", "d1.example.org", "-d", "www.d1.example.org", "-d", "mail.d1.example.org" })
        assert.equal(0, code, out .. e)
        assert.equal(0, (helper.verify_chain(cb, "d1.example.org")))
        -- a rejected POST (400) is retried on the same URL; a run of
        -- rejections on one URL is one request's retries
        local posts = fp.requests("", "POST")
        local rejected, run, longest = 0, 0, 0
        for i, r in ipairs(posts) do
          if r.status == 400 then
            rejected = rejected + 1
            run = (i > 1 and posts[i - 1].status == 400 and posts[i - 1].path == r.path) and run + 1 or 1
            longest = math.max(longest, run)
            assert.is_not_nil(posts[i + 1], "the last request was a rejection")
            assert.equal(r.path, posts[i + 1].path, "a rejected request was not retried")
          end
        end
        assert.is_true(rejected >= 1, "Pebble rejected no nonce in " .. #posts .. " requests")
        assert.is_true(longest <= 15, ("%d badNonce retries of one request"):format(longest))
      end)
      cb:cleanup()
      fp.stop()
      assert(ok, err)
    end)
  end)

  it("D1b: PEBBLE_WFE_NONCEREJECT=99: exit 1 naming badNonce after 1 + 15 tries of a request, within 30 s",
    function()
    with_pebble({ env = { PEBBLE_WFE_NONCEREJECT = "99" } }, function(srv, p1)
      local cb = helper.new(srv)
      local ok, err = pcall(function()
        local t0 = sys.monotonic()
        local code, out, e = cb:run({ "certonly", "--standalone", "--http-01-port", tostring(p1),
          "-d", "d1b.example.org" })
        local took = sys.monotonic() - t0
        assert.equal(1, code, out .. e)
        assert.is_true(took < 30, ("took %.1f s"):format(took))
        local line, only = last_error(e)
        assert.is_true(only, e)
        assert.matches("badNonce", line, 1, true)
        -- the signed requests Pebble saw, as runs of tries of one request
        -- (Pebble lets 1 % through: a request may succeed before the cap)
        local runs = {}
        for path in srv.log():gmatch("POST (%S+) %-> calling handler") do
          local last = runs[#runs]
          if last and last.path == path then last.n = last.n + 1 else runs[#runs + 1] = { path = path, n = 1 } end
        end
        assert.is_true(#runs >= 1)
        for _, r in ipairs(runs) do assert.is_true(r.n <= 16, r.n .. " tries of " .. r.path) end
        -- the run ended after one request was tried 1 + 15 times
        assert.equal(16, runs[#runs].n)
      end)
      cb:cleanup()
      assert(ok, err)
    end)
  end)

  it("D2: PEBBLE_WFE_NONCEREJECT=20: every ACME-facing subcommand succeeds", function()
    with_pebble({ env = { PEBBLE_WFE_NONCEREJECT = "20" } }, function(srv, p1)
      local cb = helper.new(srv)
      local ok, err = pcall(function()
        local function run(args, opts)
          local code, out, e = cb:run(args, opts)
          assert.equal(0, code, table.concat(args, " ") .. ":\n" .. out .. e)
          return out
        end
        run({ "register" })
        run({ "certonly", "--standalone", "--http-01-port", tostring(p1), "-d", "d2.example.org",
          "-d", "www.d2.example.org" })
        run({ "renew", "--force-renewal" })
        assert.equal(2, version(cb, "d2.example.org"))
        run({ "update_account", "-m", "d2@example.org" }, { no_account_flags = true })
        run({ "update_account", "--new-key" }, { no_account_flags = true })
        assert.matches("d2@example.org", run({ "show_account" }, { no_account_flags = true }), 1, true)
        run({ "revoke", "--cert-name", "d2.example.org" })
        assert.is_false(cb:exists("live/d2.example.org"))
        run({ "unregister" })
      end)
      cb:cleanup()
      assert(ok, err)
    end)
  end)
end)

---------------------------------------------------------------------------
-- D3, D5: authorization reuse and polling, behind the fault proxy
---------------------------------------------------------------------------

-- Inside a describe: its own Pebble (environment env) behind the fault
-- proxy.  ctx.srv (Pebble), ctx.fp, ctx.p1 (Pebble's http-01 port) and
-- ctx.cb (a fresh client dir for each test, talking to the proxy).
local function proxied_pebble(env)
  local ctx = {}
  setup(function()
    local p2
    ctx.p1, p2 = proc.free_ports(2)
    ctx.srv = pebble.start({ ports = { auto = true, http01 = ctx.p1, tlsalpn01 = p2 }, env = env })
    ctx.fp = faultproxy.start(ctx.srv)
  end)
  teardown(function()
    if ctx.fp then ctx.fp.stop() end
    if ctx.srv then ctx.srv.stop() end
  end)
  before_each(function()
    ctx.fp.reset()
    ctx.cb = helper.new(ctx.fp.srv)
  end)
  after_each(function() ctx.cb:cleanup() end)
  return ctx
end

-- certonly through ctx's proxy -> when the challenge was answered, and
-- the times of the authorization polls after that
local function polls_of(ctx, name)
  local code, out, e = ctx.cb:run({ "certonly", "--standalone", "--http-01-port", tostring(ctx.p1), "-d", name })
  assert.equal(0, code, out .. e)
  local answered, polls = nil, {}
  for _, r in ipairs(ctx.fp.requests("", "POST")) do
    if r.path:find("^/chalZ/") then answered = r.t
    elseif answered and r.path:find("^/authZ/") then
      assert.equal(200, r.status)
      polls[#polls + 1] = r.t
    end
  end
  assert.is_not_nil(answered, "no challenge was answered")
  assert.is_true(#polls >= 1)
  return answered, polls
end

describe("TESTPLAN gaps: authorizations reused, Retry-After on polls #integration", function()
  local ctx = proxied_pebble({ PEBBLE_AUTHZREUSE = "100", PEBBLE_WFE_NONCEREJECT = "0" })

  it("D3: PEBBLE_AUTHZREUSE=100: the second order issues with no responder and no validation", function()
    local cb, srv = ctx.cb, ctx.srv
    local holder
    local ok, err = pcall(function()
      local args = { "certonly", "--standalone", "--http-01-port", tostring(ctx.p1), "-d", "d3.example.org" }
      local code, out, e = cb:run(args)
      assert.equal(0, code, out .. e)
      local validations = count(srv.log(), "Attempting to validate")
      assert.is_true(validations >= 1)
      -- the port the responder would need is taken now: a run that
      -- started it would fail to bind
      holder = assert(core.standalone.http01({ address = "127.0.0.1", port = ctx.p1 }))
      ctx.fp.clear_log()
      args[#args + 1] = "--force-renewal"
      code, out, e = cb:run(args)
      assert.equal(0, code, out .. e)
      assert.equal(2, version(cb, "d3.example.org"))
      assert.is_nil(log_of(cb):find("Listening for http-01", 1, true), log_of(cb))
      assert.equal(validations, count(srv.log(), "Attempting to validate"))
      assert.same({}, ctx.fp.requests("^/chalZ/")) -- no challenge answered
      assert.equal(0, holder:stats().requests)
      assert.equal(0, (helper.verify_chain(cb, "d3.example.org")))
    end)
    if holder then holder:stop() end
    assert(ok, err)
  end)

  it("D5: an authorization answered with Retry-After: 1 is polled 1 s apart", function()
    -- the authorization stays pending for its first three looks (the one
    -- before the challenge is answered, then two polls, which the client's
    -- own schedule would make 0.25 and 0.5 s apart); every answer carries
    -- Retry-After
    ctx.fp.fault({
      { path = "^/authZ/", times = 3, json = { { { "status" }, "pending" } }, headers = { ["Retry-After"] = "1" } },
      { path = "^/authZ/", times = 0, headers = { ["Retry-After"] = "1" } },
    })
    local _, polls = polls_of(ctx, "d5ra.example.org")
    assert.is_true(#polls >= 3, #polls .. " polls")
    for i = 2, #polls do
      local g = polls[i] - polls[i - 1]
      assert.is_true(g >= 0.95 and g <= 1 + 1, ("poll %d came %.2f s after the one before"):format(i, g))
    end
  end)
end)

describe("TESTPLAN gaps: authorization polling while Pebble's VA sleeps #integration", function()
  local ctx = proxied_pebble({ PEBBLE_VA_NOSLEEP = "0", PEBBLE_VA_SLEEPTIME = "5", PEBBLE_AUTHZREUSE = "0",
    PEBBLE_WFE_NONCEREJECT = "0" })

  it("D5: Pebble's VA sleeping up to 5 s: issued, with at most wait / 0.25 s + 2 polls", function()
    assert.is_nil(ctx.srv.log():find("Disabling random VA sleeps", 1, true))
    local answered, polls = polls_of(ctx, "d5.example.org")
    local wait = polls[#polls] - answered
    -- the client's poll interval starts at 0.25 s (acme.lua Client:poll)
    assert.is_true(#polls <= wait / 0.25 + 2, ("%d polls in %.2f s"):format(#polls, wait))
    for i = 2, #polls do
      assert.is_true(polls[i] - polls[i - 1] >= 0.2, ("poll %d came %.3f s after the one before")
        :format(i, polls[i] - polls[i - 1]))
    end
    assert.equal(0, (helper.verify_chain(ctx.cb, "d5.example.org")))
  end)
end)

---------------------------------------------------------------------------
-- One Pebble for the rest: no authorization reuse, a chain of three
-- intermediates, and a blocked domain.
---------------------------------------------------------------------------

-- TESTPLAN F1's forwarder: listens where Pebble validates http-01 and,
-- for each of Pebble's connections, opens hostile connections to the
-- responder (a head over 8 KiB, 10 000 headers, a request line over 8 KiB,
-- a TLS ClientHello) and forwards Pebble's request at the same time.
-- Reports to WORK/f1.json: {accepted, pebble (connections forwarded),
-- junk = [{what, status, closed, reset, elapsed}]}.
local F1_PY = [==[
import json, socket, sys, threading, time
front, back, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
rep = {"accepted": 0, "pebble": 0, "junk": []}
head = b"GET /.well-known/acme-challenge/x HTTP/1.1\r\nHost: x\r\n"
JUNK = [
    ("head over 8 KiB", head + b"X-Big: " + b"a" * 9216 + b"\r\n\r\n"),
    ("10000 headers", head + b"X-A: b\r\n" * 10000 + b"\r\n"),
    ("request line over 8 KiB", b"GET /" + b"a" * 9216 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("not HTTP", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40),
]

def out():
    with open(work + "/f1.tmp", "w") as f:
        json.dump(rep, f)
    import os
    os.replace(work + "/f1.tmp", work + "/f1.json")

def junk(what, data):
    t0 = time.monotonic()
    r = {"what": what, "status": None, "closed": False, "reset": False}
    try:
        s = socket.create_connection(("127.0.0.1", back), timeout=10)
        def send():
            try:
                s.sendall(data)
            except OSError:
                pass
        th = threading.Thread(target=send)
        th.start()
        buf = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                r["reset"], r["closed"] = True, True
                break
            except socket.timeout:
                break
            if not chunk:
                r["closed"] = True
                break
            buf += chunk
        th.join(5)
        s.close()
        line = buf.split(b"\r\n", 1)[0].decode("latin-1")
        if line.startswith("HTTP/1.1 "):
            r["status"] = int(line[9:12])
    except OSError as e:
        r["error"] = str(e)
    r["elapsed"] = time.monotonic() - t0
    with lock:
        rep["junk"].append(r)

def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass

def handle(c):
    ts = [threading.Thread(target=junk, args=j) for j in JUNK]
    for t in ts:
        t.start()
    u = socket.create_connection(("127.0.0.1", back), timeout=10)
    t1 = threading.Thread(target=pipe, args=(c, u))
    t1.start()
    pipe(u, c)
    t1.join(5)
    for t in ts:
        t.join(15)
    c.close()
    u.close()
    with lock:
        rep["pebble"] += 1
        out()

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", front))
ls.listen(16)
ls.settimeout(60)
open(work + "/f1.ready", "w").close()
while True:
    try:
        c, _ = ls.accept()
    except socket.timeout:
        break
    with lock:
        rep["accepted"] += 1
        out()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
]==]

-- TESTPLAN F6's forwarder: listens where Pebble validates http-01; on each
-- connection it writes what listens on the responder's port (`ss`, then a
-- line "---") to WORK/ss.out, then forwards the connection to the
-- responder at BACK_HOST:BACK_PORT.
local F6_PY = [==[
import socket, subprocess, sys, threading
front, host, back, work = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
lock = threading.Lock()

def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass

def handle(c):
    ss = subprocess.run(["ss", "-Hltn", "sport = :%d" % back], capture_output=True, text=True).stdout
    with lock:
        with open(work + "/ss.out", "a") as f:
            f.write(ss + "---\n")
    u = socket.create_connection((host, back), timeout=10)
    t = threading.Thread(target=pipe, args=(c, u))
    t.start()
    pipe(u, c)
    t.join(5)
    c.close()
    u.close()

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", front))
ls.listen(16)
ls.settimeout(60)
open(work + "/fwd.ready", "w").close()
while True:
    try:
        c, _ = ls.accept()
    except socket.timeout:
        break
    threading.Thread(target=handle, args=(c,), daemon=True).start()
]==]

describe("TESTPLAN gaps against Pebble #integration", function()
  local srv, cb, p_http

  setup(function()
    local p_tls
    p_http, p_tls = proc.free_ports(2)
    srv = pebble.start({ ports = { auto = true, http01 = p_http, tlsalpn01 = p_tls },
      env = { PEBBLE_AUTHZREUSE = "0", PEBBLE_CHAIN_LENGTH = "3" },
      config = { domainBlocklist = { "blocked.example" } } })
  end)
  teardown(function()
    if srv then srv.stop() end
  end)
  before_each(function() cb = helper.new(srv) end)
  after_each(function() cb:cleanup() end)

  local function certonly(c, names, extra, opts)
    if type(names) == "string" then names = { names } end
    local args = { "certonly", "--standalone", "--http-01-port", tostring(p_http) }
    for _, d in ipairs(names) do
      args[#args + 1] = "-d"
      args[#args + 1] = d
    end
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    return c:run(args, opts)
  end

  local function issue(name, extra)
    local code, out, err = certonly(cb, name, extra)
    assert.equal(0, code, out .. err)
  end

  it("D4: PEBBLE_AUTHZREUSE=0: every order performs its challenge", function()
    local before = count(srv.log(), "Attempting to validate w/ HTTP: http://d4.example.org:")
    assert.equal(0, before)
    for i = 1, 2 do
      local code, out, err = certonly(cb, "d4.example.org", { "--force-renewal" })
      assert.equal(0, code, out .. err)
      assert.equal(i, version(cb, "d4.example.org"))
      assert.matches("http%-01 challenge for d4%.example%.org", log_of(cb))
      assert.matches("Listening for http-01 on 127.0.0.1:" .. p_http, log_of(cb), 1, true)
      local now = count(srv.log(), "Attempting to validate w/ HTTP: http://d4.example.org:")
      assert.is_true(now > before, "no validation for order " .. i)
      before = now
    end
  end)

  it("D6: PEBBLE_CHAIN_LENGTH=3: chain.pem holds 3 certificates in issuing order and verifies", function()
    issue("d6.example.org")
    local p = cb:live("d6.example.org")
    local chain = crypto.split_pem(proc.read(p.chain))
    assert.equal(3, #chain)
    local leaf = assert(crypto.parse_cert(proc.read(p.cert)))
    local up = leaf.issuer_cn
    for i, pem in ipairs(chain) do
      local c = assert(crypto.parse_cert(pem))
      assert.equal(up, c.cn, "chain certificate " .. i .. " did not issue the one before it")
      up = c.issuer_cn
    end
    assert.equal(assert(crypto.parse_cert(srv.root_pem(0))).cn, up)
    assert.equal(proc.read(p.cert) .. proc.read(p.chain), proc.read(p.fullchain))
    local vcode, vout = helper.verify_chain(cb, "d6.example.org") -- -CAfile /roots/0 -untrusted chain.pem
    assert.equal(0, vcode, vout)
  end)

  it("D16: an unreachable address or SERVFAIL: authz invalid, Pebble's detail shown, cleanup ran", function()
    local www = cb.dir .. "/www"
    assert(sys.mkdir(www, 493))
    local hook_log = cb.dir .. "/manual.log"
    local listening = cb.dir .. "/ss.out"
    for _, fault in ipairs({ "add-a", "servfail" }) do
      for _, how in ipairs({ "standalone", "webroot", "manual" }) do
        local name = ("d16-%s-%s.example.org"):format(how, fault)
        if fault == "add-a" then
          challtest(srv, "/add-a", { host = name .. ".", addresses = { "127.0.0.9" } })
        else
          challtest(srv, "/set-servfail", { host = name .. "." })
        end
        local args = ({
          standalone = { "certonly", "--standalone", "--http-01-port", tostring(p_http) },
          webroot = { "certonly", "--webroot", "-w", www },
          manual = { "certonly", "--manual", "--preferred-challenges", "http",
            "--manual-auth-hook", "echo auth $CERTBOT_DOMAIN >> " .. q(hook_log),
            "--manual-cleanup-hook", "echo cleanup $CERTBOT_DOMAIN >> " .. q(hook_log) },
        })[how]
        -- the post hook runs after the authenticator's cleanup, while
        -- certbot still runs: what listens then
        for _, a in ipairs({ "-d", name, "--post-hook", "ss -Hltn > " .. q(listening) }) do args[#args + 1] = a end
        os.remove(listening)
        local code, out, err = cb:run(args)
        assert.equal(1, code, out .. err)
        assert.matches("Domain: " .. name, err, 1, true)
        local detail = err:match("\n%s*Detail: ([^\n]+)")
        assert.is_not_nil(detail, err)
        assert.matches(name, detail, 1, true)
        if fault == "add-a" then assert.matches("127.0.0.9", detail, 1, true) end
        assert.matches("Some challenges have failed.", err, 1, true)
        assert.is_false(cb:exists("live/" .. name))
        -- cleanup: no responder left on the port, no file in the webroot,
        -- the manual cleanup hook ran
        local ss = assert(proc.read(listening), "the post hook did not run")
        assert.matches("127.0.0.1:" .. srv.ports.acme .. " ", ss, 1, true) -- the judge sees listeners
        assert.is_nil(ss:find(":" .. p_http .. "%s"), ss)
        assert.same({}, files_under(www))
        if how == "manual" then
          local lines = lines_of(proc.read(hook_log))
          assert.same({ "auth " .. name, "cleanup " .. name }, { lines[#lines - 1], lines[#lines] })
        end
      end
    end
  end)

  it("D17: a domain on Pebble's domainBlocklist: rejectedIdentifier shown, nothing written", function()
    for _, name in ipairs({ "blocked.example", "www.blocked.example" }) do
      local code, out, err = certonly(cb, name)
      assert.equal(1, code, out .. err)
      local line, only = last_error(err)
      assert.is_true(only, err)
      assert.matches("rejectedIdentifier", line, 1, true)
      assert.matches('forbidden by policy: "' .. name .. '"', line, 1, true)
      assert.same({}, files_under(cb.config_dir .. "/archive"))
      assert.same({}, files_under(cb.config_dir .. "/live"))
      assert.same({}, files_under(cb.config_dir .. "/renewal"))
    end
  end)

  it("E3: renew with a garbage conf and one lacking privkey renews the due lineage, 2 parse failures", function()
    issue("e3good.example.org")
    issue("e3half.example.org")
    make_due(cb, "e3good.example.org")
    write(cb.config_dir .. "/renewal/bad.conf", "\0\1garbage [[[ = = =\n\255\254\n")
    local text = proc.read(conf_path(cb, "e3half.example.org"))
    local n
    text, n = text:gsub("\nprivkey = [^\n]*\n", "\n")
    assert.equal(1, n)
    write(conf_path(cb, "e3half.example.org"), text)
    local code, out, err = cb:run({ "renew" })
    assert.equal(1, code, out .. err)
    assert.equal(2, version(cb, "e3good.example.org"))
    assert.equal(1, version(cb, "e3half.example.org"))
    assert.matches("renewal/bad.conf is broken", err, 1, true)
    assert.matches("renewal/e3half.example.org.conf is broken", err, 1, true)
    assert.matches("privkey", err, 1, true)
    assert.matches("renewal/bad.conf (parsefail)", err, 1, true)
    assert.matches("renewal/e3half.example.org.conf (parsefail)", err, 1, true)
    assert.matches("live/e3good.example.org/fullchain.pem (success)", out .. err, 1, true)
    assert.equal("0 renew failure(s), 2 parse failure(s)", (last_error(err)))
  end)

  -- The calls of a traced run that open (to read or write), create,
  -- change or remove a file whose path (the call's first string argument)
  -- starts with prefix.  Looking a name up (stat, access, readlink, as
  -- realpath(3) does) reads no file and is not counted.
  local OPENS_OR_CHANGES = { open = true, openat = true, openat2 = true, creat = true, truncate = true,
    rename = true, renameat = true, renameat2 = true, unlink = true, unlinkat = true, mkdir = true,
    mkdirat = true, rmdir = true, symlink = true, symlinkat = true, link = true, linkat = true,
    chmod = true, fchmodat = true, chown = true, fchownat = true, lchown = true, utime = true,
    utimes = true, utimensat = true, futimesat = true, mknod = true, mknodat = true, execve = true,
    setxattr = true, lsetxattr = true, removexattr = true, lremovexattr = true }
  local function touching(log, prefix)
    local hits = {}
    for _, l in ipairs(st.lines(log)) do
      local path = l.args:match('^[^"]-"(.-)"')
      if OPENS_OR_CHANGES[l.call] and path and path:sub(1, #prefix) == prefix then
        hits[#hits + 1] = l.call .. "(" .. l.args .. ") = " .. l.ret
      end
    end
    return hits
  end

  -- A complete copy of lineage `name`'s first version in dir/outside,
  -- where a careless client would read (or renew) it.  -> that dir, and
  -- its files' contents by path.
  local function outside_copy(name)
    local outside = cb.dir .. "/outside"
    assert(sys.mkdir(outside, 448))
    local arch = cb.config_dir .. "/archive/" .. name .. "/"
    for _, k in ipairs({ "cert", "chain", "fullchain", "privkey" }) do
      write(outside .. "/" .. k .. "1.pem", proc.read(arch .. k .. "1.pem"), 384)
    end
    local before = {}
    for _, f in ipairs(files_under(outside)) do before[f] = proc.read(f) end
    return outside, before
  end

  local function unchanged(outside, before)
    local after = {}
    for _, f in ipairs(files_under(outside)) do after[f] = proc.read(f) end
    assert.same(before, after)
  end

  it("E4: a renewal conf whose cert or archive_dir points outside the config dir: broken, skipped, "
    .. "nothing outside opened", function()
    local ok_st, why = st.available()
    if not ok_st then return pending(why) end
    issue("e4cert.example.org")
    issue("e4arch.example.org")
    local outside, before = outside_copy("e4cert.example.org")
    edit_conf(cb, "e4cert.example.org", "cert = " .. cb.config_dir .. "/live/e4cert.example.org/cert.pem",
      "cert = " .. outside .. "/cert1.pem")
    edit_conf(cb, "e4arch.example.org", "archive_dir = " .. cb.config_dir .. "/archive/e4arch.example.org",
      "archive_dir = " .. outside)
    local log = cb.dir .. "/e4.strace"
    local r = st.run(cb, { "renew", "--force-renewal" }, { trace = "%file", log = log })
    assert.equal(1, r.code, r.out .. r.err)
    assert.same({}, touching(log, outside))
    unchanged(outside, before)
    for _, n in ipairs({ "e4cert", "e4arch" }) do
      assert.matches(("renewal/%s.example.org.conf (parsefail)"):format(n), r.err, 1, true)
      assert.equal(1, version(cb, n .. ".example.org"))
    end
    assert.equal("0 renew failure(s), 2 parse failure(s)", (last_error(r.err)))
  end)

  it("E4: live symlinks that point outside archive/L: broken, skipped, nothing outside opened", function()
    local ok_st, why = st.available()
    if not ok_st then return pending(why) end
    issue("e4link.example.org")
    local outside, before = outside_copy("e4link.example.org")
    local live = cb.config_dir .. "/live/e4link.example.org/"
    for _, k in ipairs({ "cert", "chain", "fullchain", "privkey" }) do
      assert(sys.symlink_swap(outside .. "/" .. k .. "1.pem", live .. k .. ".pem"))
    end
    local log = cb.dir .. "/e4.strace"
    local r = st.run(cb, { "renew", "--force-renewal" }, { trace = "%file", log = log })
    assert.same({}, touching(log, outside))
    unchanged(outside, before)
    local links = {}
    for _, k in ipairs({ "cert", "chain", "fullchain", "privkey" }) do links[k] = sys.readlink(live .. k .. ".pem") end
    local what = r.out .. r.err .. "live links now: " .. cjson.encode(links)
    assert.equal(1, r.code, what)
    assert.same({ "cert1.pem", "chain1.pem", "fullchain1.pem", "privkey1.pem" },
      sys.listdir(cb.config_dir .. "/archive/e4link.example.org"), what)
    assert.matches("renewal/e4link.example.org.conf (parsefail)", r.err, 1, true)
    assert.equal("0 renew failure(s), 1 parse failure(s)", (last_error(r.err)))
  end)

  it("E5: authenticator = ../../tmp/evilplug in a renewal conf: parse failure, no such file looked at",
    function()
    local ok_st, why = st.available()
    if not ok_st then return pending(why) end
    issue("e5auth.example.org")
    -- where "../../tmp/evilplug" leads from <config-dir>/plugins
    local marker = cb.dir .. "/evilplug-ran"
    assert(sys.mkdir(cb.dir .. "/tmp", 448))
    write(cb.dir .. "/tmp/evilplug.lua", ("io.open(%q, 'w'):close()\nreturn { name = 'evilplug', "
      .. "authenticator = true, new = function() return {} end }\n"):format(marker))
    edit_conf(cb, "e5auth.example.org", "\nauthenticator = standalone\n", "\nauthenticator = ../../tmp/evilplug\n")
    local log = cb.dir .. "/e5.strace"
    local r = st.run(cb, { "renew", "--force-renewal" }, { trace = "%file", log = log })
    assert.equal(1, r.code, r.out .. r.err)
    assert.is_nil(sys.lstat(marker))
    assert.matches("renewal/e5auth.example.org.conf (parsefail)", r.err, 1, true)
    assert.equal("0 renew failure(s), 1 parse failure(s)", (last_error(r.err)))
    assert.equal(1, version(cb, "e5auth.example.org"))
    for _, l in ipairs(st.lines(log)) do
      local path = l.args:match('^[^"]-"(.-)"') or ""
      assert.is_nil(path:find("evilplug", 1, true), l.call .. "(" .. l.args .. ")")
    end
  end)

  it("E5: an unknown installer in a renewal conf: parse failure, nothing renewed, nothing outside loaded",
    function()
    local ok_st, why = st.available()
    if not ok_st then return pending(why) end
    issue("e5inst.example.org")
    local inst = proc.read(conf_path(cb, "e5inst.example.org"))
    inst = inst:find("\ninstaller = ", 1, true) and inst:gsub("\ninstaller = [^\n]*", "\ninstaller = nosuchinstaller")
      or inst:gsub("%[renewalparams%]\n", "[renewalparams]\ninstaller = nosuchinstaller\n")
    write(conf_path(cb, "e5inst.example.org"), inst)
    local log = cb.dir .. "/e5.strace"
    local r = st.run(cb, { "renew", "--force-renewal" }, { trace = "%file", log = log })
    assert.equal(1, r.code, r.out .. r.err)
    -- only the plugin search path (<config-dir>/plugins) may be looked at for it
    for _, l in ipairs(st.lines(log)) do
      local path = l.args:match('^[^"]-"(.-)"') or ""
      if path:find("nosuchinstaller", 1, true) then
        assert.equal(cb.config_dir .. "/plugins/", path:sub(1, #cb.config_dir + 9), l.call .. "(" .. l.args .. ")")
      end
    end
    assert.equal(1, version(cb, "e5inst.example.org"))
    assert.matches("renewal/e5inst.example.org.conf (parsefail)", r.err, 1, true)
    assert.equal("0 renew failure(s), 1 parse failure(s)", (last_error(r.err)))
  end)

  it("E7: X.EXAMPLE. is normalised to lowercase without the dot, in the lineage and the certificate", function()
    issue("E7-Norm.Example.ORG.")
    assert.is_true(cb:exists("live/e7-norm.example.org/cert.pem"))
    local confs = {}
    for _, f in ipairs(sys.listdir(cb.config_dir .. "/renewal")) do
      if f:sub(1, 1) ~= "." then confs[#confs + 1] = f end -- not the lineage's lock file
    end
    assert.same({ "e7-norm.example.org.conf" }, confs)
    local cert = assert(crypto.parse_cert(proc.read(cb:live("e7-norm.example.org").cert)))
    assert.same({ "e7-norm.example.org" }, cert.dns)
  end)

  it("E10: a wildcard with standalone or webroot: the dns-01 error before any request to the CA", function()
    local www = cb.dir .. "/www"
    assert(sys.mkdir(www, 493))
    local orders, accounts = count(srv.log(), "POST /order-plz"), count(srv.log(), "POST /sign-me-up")
    for _, args in ipairs({
      { "certonly", "--standalone", "--http-01-port", tostring(p_http), "-d", "*.e10.example.org" },
      { "certonly", "--webroot", "-w", www, "-d", "*.e10.example.org" },
      { "certonly", "--webroot", "-w", www, "-d", "e10.example.org", "-d", "*.e10.example.org" },
    }) do
      local code, out, err = cb:run(args)
      assert.equal(1, code, out .. err)
      local line, only = last_error(err)
      assert.is_true(only, err)
      assert.matches("Wildcard domains require the dns-01 challenge", line, 1, true)
      assert.matches("*.e10.example.org", line, 1, true)
    end
    assert.equal(orders, count(srv.log(), "POST /order-plz"))
    assert.equal(accounts, count(srv.log(), "POST /sign-me-up"))
    assert.same({}, files_under(cb.config_dir .. "/accounts"))
    assert.same({}, files_under(www))
  end)

  it("F1: hostile requests to the http-01 responder are closed with 400/431 while Pebble validates", function()
    local back = proc.free_ports(1)
    local work = cb.dir .. "/f1"
    assert(sys.mkdir(work, 448))
    local py = write(work .. "/f1.py", F1_PY)
    local pid = proc.spawn({ proc.python(), py, tostring(p_http), tostring(back), work }, { log = work .. "/f1.log" })
    local ok, err = pcall(function()
      assert(proc.wait_until(function() return sys.lstat(work .. "/f1.ready") end, 10),
        "forwarder did not start: " .. (proc.read(work .. "/f1.log") or ""))
      local code, out, e = cb:run({ "certonly", "--standalone", "--http-01-port", tostring(back),
        "-d", "f1.example.org" })
      assert.equal(0, code, out .. e .. (proc.read(work .. "/f1.log") or ""))
      assert.equal(0, (helper.verify_chain(cb, "f1.example.org")))
      -- every connection Pebble made was forwarded and has its report
      local rep
      assert(proc.wait_until(function()
        rep = cjson.decode(proc.read(work .. "/f1.json") or '{"accepted": -1}')
        return rep.accepted >= 1 and rep.pebble == rep.accepted
      end, 15), "forwarder report: " .. tostring(proc.read(work .. "/f1.json")))
      assert.equal(4 * rep.pebble, #rep.junk)
      for _, j in ipairs(rep.junk) do
        local what = cjson.encode(j)
        assert.is_nil(j.error, what)
        assert.is_true(j.closed, what)
        assert.is_true(j.elapsed < 5, what)
        if j.what == "not HTTP" then
          assert.equal(400, j.status, what)
        else
          -- 431, unless the close cut the sending short before it could be read
          assert.is_true(j.status == 431 or (j.status == cjson.null or j.status == nil) and j.reset, what)
        end
      end
    end)
    proc.stop(pid, "python3")
    assert(ok, err)
  end)

  it("F5: the http-01 port in use: exit 1 naming address:port, and the post hook still runs", function()
    local holder = assert(core.standalone.http01({ address = "127.0.0.1", port = p_http }))
    local log = cb.dir .. "/hooks.log"
    local code, out, err = certonly(cb, "f5.example.org", { "--pre-hook", "echo pre >> " .. q(log),
      "--post-hook", "echo post >> " .. q(log) })
    holder:stop()
    assert.equal(1, code, out .. err)
    local line, only = last_error(err)
    assert.is_true(only, err)
    assert.matches("127.0.0.1:" .. p_http, line, 1, true)
    assert.equal("pre\npost\n", proc.read(log))
    assert.is_false(cb:exists("live/f5.example.org"))
  end)

  it("F6: --http-01-address 127.0.0.2: only that address is bound while Pebble validates", function()
    local back = proc.free_ports(1)
    local work = cb.dir .. "/f6"
    assert(sys.mkdir(work, 448))
    local py = write(work .. "/fwd.py", F6_PY)
    local pid = proc.spawn({ proc.python(), py, tostring(p_http), "127.0.0.2", tostring(back), work },
      { log = work .. "/fwd.log" })
    local ok, err = pcall(function()
      assert(proc.wait_until(function() return sys.lstat(work .. "/fwd.ready") end, 10),
        "forwarder did not start: " .. (proc.read(work .. "/fwd.log") or ""))
      local code, out, e = cb:run({ "certonly", "--standalone", "--http-01-address", "127.0.0.2",
        "--http-01-port", tostring(back), "-d", "f6.example.org" })
      assert.equal(0, code, out .. e .. (proc.read(work .. "/fwd.log") or ""))
      -- what listened on the port each time Pebble connected
      local snaps = {}
      for snap in (proc.read(work .. "/ss.out") or ""):gmatch("(.-)%-%-%-\n") do
        local bound = {}
        for l in snap:gmatch("[^\n]+") do bound[#bound + 1] = l:match("^%S+%s+%S+%s+%S+%s+(%S+)") end
        snaps[#snaps + 1] = bound
      end
      assert.is_true(#snaps >= 1, "Pebble never connected")
      for _, bound in ipairs(snaps) do assert.same({ "127.0.0.2:" .. back }, bound) end
      assert.matches("Listening for http-01 on 127.0.0.2:" .. back, log_of(cb), 1, true)
    end)
    proc.stop(pid, "python3")
    assert(ok, err)
  end)

  it("G1: a --config-dir with spaces, ;, $(...) and backticks reaches hooks literally, runs nothing", function()
    local marker = cb.dir .. "/g1-pwned"
    local g1_before = sys.lstat("/tmp/g1") ~= nil
    local c = helper.new(srv)
    c.config_dir = c.dir .. "/cfg dir; $(touch " .. marker .. ") `touch " .. marker .. "`;touch " .. marker
    local probe = c.dir .. "/probe"
    local ok, e = pcall(function()
      local hook = "printf '%s\\n' \"$RENEWED_LINEAGE\" \"$RENEWED_DOMAINS\" > " .. q(probe)
      local code, out, err = certonly(c, { "g1.example.org", "www.g1.example.org" }, { "--deploy-hook", hook })
      assert.equal(0, code, out .. err)
      local want = c.config_dir .. "/live/g1.example.org\ng1.example.org www.g1.example.org\n"
      assert.equal(want, proc.read(probe))
      -- again from the stored hook, through the conf renew reads back
      os.remove(probe)
      code, out, err = c:run({ "renew", "--force-renewal" })
      assert.equal(0, code, out .. err)
      assert.equal(want, proc.read(probe))
      assert.equal(2, version(c, "g1.example.org"))
    end)
    c:cleanup()
    assert(ok, e)
    assert.is_nil(sys.lstat(marker))
    assert.equal(g1_before, sys.lstat("/tmp/g1") ~= nil)
  end)

  it("G3: pre and deploy hooks exiting 3: warnings name them and the code, renewals go on, exit 0", function()
    issue("g3a.example.org")
    issue("g3b.example.org")
    local log = cb.dir .. "/hooks.log"
    local pre = "echo pre >> " .. q(log) .. "; exit 3"
    local deploy = "echo \"deploy $RENEWED_DOMAINS\" >> " .. q(log) .. "; exit 3"
    local code, out, err = cb:run({ "renew", "--force-renewal", "--pre-hook", pre, "--deploy-hook", deploy,
      "--post-hook", "echo post >> " .. q(log) })
    assert.equal(0, code, out .. err)
    assert.equal(2, version(cb, "g3a.example.org"))
    assert.equal(2, version(cb, "g3b.example.org"))
    local lines = lines_of(proc.read(log))
    table.sort(lines)
    assert.same({ "deploy g3a.example.org", "deploy g3b.example.org", "post", "pre" }, lines)
    assert.equal("post", lines_of(proc.read(log))[4])
    assert.matches(('pre-hook command "%s" returned error code 3'):format(pre), err, 1, true)
    assert.equal(2, count(err, ('deploy-hook command "%s" returned error code 3'):format(deploy)))
  end)

  it("G5: a pre hook both on the command line and in renewal-hooks/pre runs once for 3 due lineages",
    function()
    local log = cb.dir .. "/pre.log"
    for _, n in ipairs({ "g5a", "g5b", "g5c" }) do issue(n .. ".example.org") end
    -- the hook notes how many orders Pebble had received when it ran
    local hook = write(cb.config_dir .. "/renewal-hooks/pre/10-pre", ("#!/bin/sh\necho \"pre $(grep -c "
      .. "'POST /order-plz' %s)\" >> %s\n"):format(q(srv.log_path), q(log)), 493)
    for _, n in ipairs({ "g5a", "g5b", "g5c" }) do make_due(cb, n .. ".example.org") end
    local orders = count(srv.log(), "POST /order-plz")
    local code, out, err = cb:run({ "renew", "--pre-hook", hook,
      "--deploy-hook", "echo \"deploy $RENEWED_DOMAINS\" >> " .. q(log) })
    assert.equal(0, code, out .. err)
    local lines = lines_of(proc.read(log))
    assert.equal(4, #lines, proc.read(log))
    assert.equal("pre " .. orders, lines[1])
    local deployed = { lines[2], lines[3], lines[4] }
    table.sort(deployed)
    assert.same({ "deploy g5a.example.org", "deploy g5b.example.org", "deploy g5c.example.org" }, deployed)
    -- nothing due: the pre hook (stored in every conf now, and in the
    -- directory) runs 0 times
    for _, n in ipairs({ "g5a", "g5b", "g5c" }) do
      edit_conf(cb, n .. ".example.org", "renew_before_expiry = 100 years\n", "")
      assert.equal(2, version(cb, n .. ".example.org"))
    end
    os.remove(log)
    code, out, err = cb:run({ "renew" })
    assert.equal(0, code, out .. err)
    assert.matches("No renewals were attempted.", out, 1, true)
    assert.is_nil(proc.read(log))
  end)

  it("G6: 1 lineage renewed and 600 names (> 16 KiB) failed reach the post hook unswapped", function()
    issue("g6ok.example.org")
    issue("g6bad.example.org")
    -- g6bad's certificate now names 600 domains, and its renewal fails
    -- (manual without an auth hook under -n)
    local names = {}
    for i = 1, 600 do names[i] = ("name-%04d.g6-failed.example.org"):format(i) end
    local sans = {}
    for i, n in ipairs(names) do sans[i] = "DNS:" .. n end
    local arch = cb.config_dir .. "/archive/g6bad.example.org/"
    local key, cert = cb.dir .. "/g6.key", cb.dir .. "/g6.pem"
    local rc, o = sh(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s -out %s "
      .. "-days 2 -subj /CN=%s -addext %s"):format(q(key), q(cert), names[1],
      q("subjectAltName=" .. table.concat(sans, ","))))
    assert.equal(0, rc, o)
    write(arch .. "cert1.pem", proc.read(cert))
    write(arch .. "privkey1.pem", proc.read(key), 384)
    write(arch .. "fullchain1.pem", proc.read(cert) .. proc.read(arch .. "chain1.pem"))
    edit_conf(cb, "g6bad.example.org", "\nauthenticator = standalone\n", "\nauthenticator = manual\n")
    local renewed, failed = cb.dir .. "/renewed", cb.dir .. "/failed"
    local code, out, err = cb:run({ "renew", "--force-renewal", "--post-hook",
      ("printf %%s \"$RENEWED_DOMAINS\" > %s; printf %%s \"$FAILED_DOMAINS\" > %s"):format(q(renewed), q(failed)) })
    assert.equal(1, code, out .. err)
    assert.matches("1 renew failure(s), 0 parse failure(s)", err, 1, true)
    assert.equal(2, version(cb, "g6ok.example.org"))
    assert.equal("g6ok.example.org", proc.read(renewed))
    local got = proc.read(failed) or ""
    assert.is_true(#got > 16384, #got .. " bytes")
    local list = {}
    for n in got:gmatch("%S+") do list[#list + 1] = n end
    table.sort(list)
    assert.same(names, list)
  end)

  it("G7: a Lua deploy hook that raises: file and line reported, run goes on, no /bin/sh started", function()
    local ok_st, why = st.available()
    if not ok_st then return pending(why) end
    issue("g7.example.org")
    local deploy = write(cb.dir .. "/deploy.lua", "local x = 1\nerror('g7 deploy ' .. 'failed')\n")
    local marker = cb.dir .. "/post-ran"
    local post = write(cb.dir .. "/post.lua", ("assert(hook.write_file(%q, hook.env.RENEWED_DOMAINS))\n")
      :format(marker))
    local log = cb.dir .. "/g7.strace"
    local r = st.run(cb, { "renew", "--force-renewal", "--deploy-hook", deploy, "--post-hook", post },
      { trace = "execve", log = log })
    assert.equal(0, r.code, r.out .. r.err)
    assert.matches(deploy .. ":2: g7 deploy failed", r.err, 1, true)
    assert.equal(2, version(cb, "g7.example.org"))
    assert.equal("g7.example.org", proc.read(marker))
    local execs = {}
    for _, l in ipairs(st.lines(log)) do
      if l.call == "execve" then execs[#execs + 1] = l.args end
    end
    assert.equal(1, #execs, table.concat(execs, "\n")) -- certbot itself, nothing else
    assert.matches(EXE:match("[^/]*$"), execs[1], 1, true)
    assert.is_nil(table.concat(execs, "\n"):find("/bin/sh", 1, true))
  end)

  it("I5: REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, names the CA that verifies the ACME server", function()
    local other = proc.tmpdir("i5-ca-")
    proc.listener_certs(other, { cn = "not Pebble's CA" })
    local ok, e = pcall(function()
      local function profiles(env)
        local code, out, err = cb:run({ "profiles" }, { env = env })
        return code, out .. err
      end
      local code, text = profiles({ REQUESTS_CA_BUNDLE = srv.ca_file, CURL_CA_BUNDLE = "" })
      assert.equal(0, code, text)
      code, text = profiles({ REQUESTS_CA_BUNDLE = "", CURL_CA_BUNDLE = srv.ca_file })
      assert.equal(0, code, text)
      code, text = profiles({ REQUESTS_CA_BUNDLE = "", CURL_CA_BUNDLE = "" })
      assert.equal(1, code, text)
      assert.matches("certificate", text, 1, true)
      -- REQUESTS_CA_BUNDLE wins, as in requests
      code, text = profiles({ REQUESTS_CA_BUNDLE = other .. "/ca.pem", CURL_CA_BUNDLE = srv.ca_file })
      assert.equal(1, code, text)
      assert.matches("certificate", text, 1, true)
    end)
    proc.rm_rf(other)
    assert(ok, e)
  end)

  it("K2: one random sleep before the first renewal and before any hook; none on a TTY or with the flag",
    function()
    issue("k2a.example.org")
    issue("k2b.example.org")
    -- this cli.ini lets renew sleep (the spec helper's turns it off)
    write(cb.cli_ini, "http-01-address = 127.0.0.1\n")
    local skip = { CERTBOT_TEST_SKIP_SLEEP = "1" }
    local code, out, err = cb:run({ "renew", "--force-renewal", "--pre-hook", "true" }, { env = skip })
    assert.equal(0, code, out .. err)
    local log = log_of(cb)
    assert.equal(1, count(log, "random delay of"), log)
    local at = log:find("random delay of", 1, true)
    local delay = tonumber(log:match("random delay of (%d+) seconds"))
    assert.is_true(delay >= 1 and delay <= 480, tostring(delay))
    assert.is_true(at < log:find("Running pre-hook command", 1, true), log)
    assert.is_true(at < log:find("Performing the following challenges", 1, true), log)
    -- on a terminal (script(1) gives it one): no sleep
    local argv = { EXE, "renew", "--force-renewal", "--cert-name", "k2a.example.org", "--config-dir", cb.config_dir,
      "--work-dir", cb.work_dir,
      "--logs-dir", cb.logs_dir, "-n", "-c", cb.cli_ini, "--server", srv.directory }
    local words = {}
    for i, a in ipairs(argv) do words[i] = q(a) end
    local env = { "REQUESTS_CA_BUNDLE=" .. srv.ca_file, "CERTBOT_DEFAULT_CLI_INI=", "XDG_CONFIG_HOME=" .. cb.dir,
      "CERTBOT_TEST_SKIP_SLEEP=1", "PATH=" .. (os.getenv("PATH") or "/usr/bin:/bin") }
    local c2, o2, e2 = sys.run({ "script", "-qec", table.concat(words, " "), "/dev/null" }, env, { stdin = "" })
    assert.equal(0, c2, (o2 or "") .. (e2 or ""))
    assert.equal(3, version(cb, "k2a.example.org"))
    assert.is_nil(log_of(cb):find("random delay of", 1, true))
    -- --no-random-sleep-on-renew
    code, out, err = cb:run({ "renew", "--force-renewal", "--cert-name", "k2a.example.org",
      "--no-random-sleep-on-renew" }, { env = skip })
    assert.equal(0, code, out .. err)
    assert.equal(4, version(cb, "k2a.example.org"))
    assert.is_nil(log_of(cb):find("random delay of", 1, true))
  end)
end)
