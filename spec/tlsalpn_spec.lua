-- certbot.core.standalone.tlsalpn01: the tls-alpn-01 responder (RFC 8737)
-- and the standalone plugin's challenge certificate.
-- Judges: openssl s_client / x509, python3 sockets and /proc.
local core = require("certbot.core")
local sa = core.standalone
local sys = core.sys
local crypto = core.crypto
local json = require("cjson.safe")
local standalone = require("certbot.plugins.standalone")

-- The judges never run with the sanitizer runtime preloaded.
local NOSAN = "env -u LD_PRELOAD "

local function sh(cmd)
  local f = assert(io.popen(NOSAN .. cmd .. " 2>&1"))
  local out = f:read("a")
  local ok, _, code = f:close()
  return out, ok and 0 or code
end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function fd_count() return #assert(sys.listdir("/proc/self/fd")) end

local KEYAUTH = "tok_EN-123abc.thumbprint_Xyz-0"
local NAME = "one.example.org"

-- openssl s_client against the responder; extra is appended (e.g. -alpn).
local function s_client(port, extra)
  return sh(("timeout 10 openssl s_client -connect 127.0.0.1:%d %s </dev/null"):format(port, extra))
end

-- The certificate s_client received, as PEM, or nil.
local function served_pem(out)
  return out:match("(%-%-%-%-%-BEGIN CERTIFICATE%-%-%-%-%-.-%-%-%-%-%-END CERTIFICATE%-%-%-%-%-\n)")
end

-- 200 connections, each sending a ClientHello record header one byte per
-- second (never a whole hello); a real handshake in the middle.  Reports how
-- long each connection lived before the server closed it.
local SLOW_PY = [[
import json, select, socket, subprocess, sys, time
host, port, n, name, run = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
trickle = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64
socks, opened, closed = [], [], {}
for i in range(n):
    s = socket.create_connection((host, port))
    s.setblocking(False)
    socks.append(s)
    opened.append(time.monotonic())
t0 = time.monotonic()
k, next_send, hs = 0, t0, None
while time.monotonic() - t0 < run:
    now = time.monotonic()
    if now >= next_send:
        for i, s in enumerate(socks):
            if i not in closed:
                try:
                    s.send(trickle[k % len(trickle):k % len(trickle) + 1])
                except OSError:
                    closed[i] = time.monotonic()
        k += 1
        next_send += 1.0
    if hs is None and now - t0 >= 1.0:
        g0 = time.monotonic()
        p = subprocess.run(["openssl", "s_client", "-connect", "%s:%d" % (host, port),
                            "-servername", name, "-alpn", "acme-tls/1"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        out = p.stdout.decode("latin-1")
        hs = {"ok": "ALPN protocol: acme-tls/1" in out and "BEGIN CERTIFICATE" in out,
              "elapsed": time.monotonic() - g0}
    live = [s for i, s in enumerate(socks) if i not in closed]
    r, _, _ = select.select(live, [], [], 0.02)
    for s in r:
        i = socks.index(s)
        try:
            b = s.recv(4096)
        except OSError:
            b = b""
        if not b:
            closed[i] = time.monotonic()
lives = [closed[i] - opened[i] for i in closed]
print(json.dumps({"closed": len(closed), "max_life": max(lives) if lives else -1,
                  "min_life": min(lives) if lives else -1, "hs": hs}))
]]

-- A child process running a tls-alpn-01 responder, for strace: prints the
-- responder thread's id and the port, serves until a line arrives on stdin.
local CHILD_LUA = [[
package.cpath = arg[1] .. "/lib/?.so;" .. package.cpath
local core = require("certbot.core")
local r = assert(core.standalone.tlsalpn01({ address = "127.0.0.1", port = 0 }))
local key = assert(core.crypto.generate_key("ec", "P-256"))
local der = assert(core.crypto.self_signed_cert(key, { { type = "dns", value = arg[2] } },
  { days = 1, extensions = { { oid = "1.3.6.1.5.5.7.1.31", critical = true,
    der = "\4\32" .. core.crypto.sha256("ka") } } }))
assert(r:set(arg[2], der, key))
local tid
for _, t in ipairs(assert(core.sys.listdir("/proc/self/task"))) do
  local f = io.open("/proc/self/task/" .. t .. "/comm")
  if f then
    if f:read("l") == "cb-tlsalpn01" then tid = t end
    f:close()
  end
end
io.stdout:write(tostring(tid), " ", select(2, r:address()), "\n")
io.stdout:flush()
io.read("l")
r:stop()
]]

describe("standalone tls-alpn-01 responder #core", function()
  local r, port, key, der, tmp

  setup(function()
    tmp = "/tmp/tlsalpn-spec-" .. sys.getpid()
    assert(sys.mkdir(tmp, 448))
    write(tmp .. "/slow.py", SLOW_PY)
    write(tmp .. "/child.lua", CHILD_LUA)
  end)
  teardown(function()
    os.remove(tmp .. "/slow.py")
    os.remove(tmp .. "/child.lua")
    os.remove(tmp .. "/child.out")
    os.remove(tmp .. "/strace.log")
    os.remove(tmp .. "/cert.pem")
    os.remove(tmp)
  end)

  before_each(function()
    r = assert(sa.tlsalpn01({ address = "127.0.0.1", port = 0, timeout = 5 }))
    port = select(2, r:address())
    der, key = assert(standalone.challenge_cert(NAME, KEYAUTH))
    assert.is_true(r:set(NAME, der, key))
  end)
  after_each(function()
    if r then r:stop() end
  end)

  it("serves the challenge certificate for SNI + ALPN acme-tls/1, with the right extension", function()
    local out = s_client(port, "-servername " .. NAME .. " -alpn acme-tls/1")
    assert.matches("ALPN protocol: acme-tls/1", out, 1, true)
    local pem = assert(served_pem(out), out)
    -- exactly the certificate that was set
    assert.equal(crypto.der_to_pem(der, "CERTIFICATE"), pem)
    write(tmp .. "/cert.pem", pem)
    local text = sh("openssl x509 -noout -text -in " .. tmp .. "/cert.pem")
    -- the critical acmeIdentifier extension ...
    assert.matches("1.3.6.1.5.5.7.1.31: critical", text, 1, true)
    -- ... holding OCTET STRING (SIZE(32)) SHA-256(key authorization), as
    -- openssl's DER of the served certificate shows it
    local served = sh("openssl x509 -outform DER -in " .. tmp .. "/cert.pem")
    local ext = "\6\8\43\6\1\5\5\7\1\31" .. "\1\1\255" .. "\4\34" .. "\4\32"
      .. crypto.sha256(KEYAUTH)
    assert.truthy(served:find(ext, 1, true))
    -- exactly one SAN: the identifier
    local san = text:match("X509v3 Subject Alternative Name:%s*\n%s*([^\n]*)")
    assert.equal("DNS:" .. NAME, san)
    -- TLS 1.2 as well as 1.3
    assert.matches("New, TLSv1%.3,", out)
    local out12 = s_client(port, "-tls1_2 -servername " .. NAME .. " -alpn acme-tls/1")
    assert.matches("New, TLSv1%.2,", out12)
    assert.equal(pem, served_pem(out12))
    -- SNI is matched without regard to case
    assert.equal(pem, served_pem(s_client(port, "-servername ONE.Example.ORG -alpn acme-tls/1")))
    assert.equal(3, r:stats().served)
  end)

  it("never serves the certificate without ALPN acme-tls/1", function()
    for _, extra in ipairs({ "", "-alpn h2,http/1.1", "-alpn acme-tls/2", "-tls1_2",
      "-tls1_2 -alpn http/1.1" }) do
      local out = s_client(port, "-servername " .. NAME .. " " .. extra)
      assert.is_nil(served_pem(out), extra)
      assert.matches("no application protocol", out, 1, true)
    end
    assert.equal(0, r:stats().served)
    -- and acme-tls/1 among other protocols is fine
    assert.truthy(served_pem(s_client(port, "-servername " .. NAME .. " -alpn h2,acme-tls/1")))
  end)

  it("fails the handshake with unrecognized_name for an unknown or missing SNI", function()
    for _, extra in ipairs({ "-servername two.example.org", "-noservername",
      "-servername one.example.org.evil" }) do
      local out = s_client(port, extra .. " -alpn acme-tls/1")
      assert.is_nil(served_pem(out), extra)
      assert.matches("unrecognized name", out, 1, true)
    end
    -- removed names are unknown too
    assert.is_true(r:remove(NAME))
    assert.is_false(r:remove(NAME))
    assert.matches("unrecognized name", s_client(port, "-servername " .. NAME .. " -alpn acme-tls/1"), 1, true)
    assert.is_true(r:set(NAME, der, key))
    assert.truthy(served_pem(s_client(port, "-servername " .. NAME .. " -alpn acme-tls/1")))
    assert.is_true(r:clear())
    assert.matches("unrecognized name", s_client(port, "-servername " .. NAME .. " -alpn acme-tls/1"), 1, true)
  end)

  it("serves several names, each its own certificate", function()
    local der2, key2 = assert(standalone.challenge_cert("two.example.org", "other.ka"))
    assert.is_true(r:set("two.example.org", der2, key2))
    assert.equal(crypto.der_to_pem(der, "CERTIFICATE"),
      served_pem(s_client(port, "-servername " .. NAME .. " -alpn acme-tls/1")))
    assert.equal(crypto.der_to_pem(der2, "CERTIFICATE"),
      served_pem(s_client(port, "-servername two.example.org -alpn acme-tls/1")))
    -- set() again replaces
    assert.is_true(r:set(NAME, der2, key2))
    assert.equal(crypto.der_to_pem(der2, "CERTIFICATE"),
      served_pem(s_client(port, "-servername " .. NAME .. " -alpn acme-tls/1")))
  end)

  it("rejects bad arguments to set()", function()
    local other = assert(crypto.generate_key("ec", "P-256"))
    local ok, err = r:set(NAME, der, other)
    assert.is_nil(ok)
    assert.matches("does not match the key", err)
    ok, err = r:set(NAME, "not DER", key)
    assert.is_nil(ok)
    assert.matches("invalid challenge certificate", err)
    ok, err = r:set("bad name/x", der, key)
    assert.is_nil(ok)
    assert.matches("invalid name", err)
    assert.has_error(function() r:set(NAME, der, "key") end)
  end)

  it("answers non-TLS bytes by closing", function()
    local out = sh(("printf 'GET / HTTP/1.1\\r\\n\\r\\n' | timeout 5 python3 -c "
      .. "'import socket,sys; s=socket.create_connection((\"127.0.0.1\",%d)); "
      .. "s.sendall(sys.stdin.buffer.read()); print(len(s.recv(100)), len(s.recv(100)))'"):format(port))
    assert.matches("^%d+ 0\n$", out)
    assert.truthy(served_pem(s_client(port, "-servername " .. NAME .. " -alpn acme-tls/1")))
  end)

  it("reports bind failures as could not bind to ADDR:PORT", function()
    local r2, err = sa.tlsalpn01({ address = "127.0.0.1", port = port })
    assert.is_nil(r2)
    assert.equal(("could not bind to 127.0.0.1:%d: Address already in use"):format(port), err)
    assert.matches("tls%-alpn%-01 %(127%.0%.0%.1:%d+%)", tostring(r))
  end)

  it("makes no filesystem syscalls on its thread, handshakes included (strace)", function()
    if select(2, sh("strace -qq -o /dev/null true")) ~= 0 then
      pending("strace does not work here")
      return
    end
    local log, info = tmp .. "/strace.log", tmp .. "/child.out"
    local build = os.getenv("CERTBOT_BUILD") or "build"
    -- under `make asan` the traced lua5.4 loads the sanitized core.so
    local asan
    for line in io.lines("/proc/self/maps") do
      asan = asan or line:match("%s(/%S+/libasan%.so[%.%d]*)$")
    end
    local keep = asan and ("-E LD_PRELOAD=" .. asan .. " ") or ""
    local p = assert(io.popen(NOSAN .. ("strace -f -qq %s-e trace=%%file,accept4 -o %s lua5.4 "
      .. "%s/child.lua %s %s > %s"):format(keep, log, tmp, build, NAME, info), "w"))
    local tid, cport
    local deadline = sys.monotonic() + 10
    repeat
      sys.sleep(0.05)
      local out = sys.read_file(info)
      if out then tid, cport = out:match("^(%d+) (%d+)\n") end
    until tid or sys.monotonic() > deadline
    assert.truthy(tid, "child did not start")
    cport = tonumber(cport)
    -- served, refused for ALPN, refused for SNI, TLS 1.2, junk
    assert.truthy(served_pem(s_client(cport, "-servername " .. NAME .. " -alpn acme-tls/1")))
    assert.is_nil(served_pem(s_client(cport, "-servername " .. NAME)))
    assert.is_nil(served_pem(s_client(cport, "-servername other.example.org -alpn acme-tls/1")))
    assert.truthy(served_pem(s_client(cport, "-tls1_2 -servername " .. NAME .. " -alpn acme-tls/1")))
    sh(("curl -s --max-time 3 http://127.0.0.1:%d/"):format(cport))
    p:write("\n")
    p:close()
    local seen, other = 0, {}
    for line in io.lines(log) do
      if line:match("^" .. tid .. " ") then
        if line:find("accept4", 1, true) then seen = seen + 1 else other[#other + 1] = line end
      end
    end
    assert.is_true(seen >= 5) -- the trace did follow the thread
    assert.same({}, other)
  end)

  it("closes slow handshakes at their deadline, still validates, fds back to baseline", function()
    r:stop()
    local base = fd_count()
    r = assert(sa.tlsalpn01({ address = "127.0.0.1", port = 0, timeout = 2 }))
    port = select(2, r:address())
    assert(r:set(NAME, der, key))
    local out = sh(("python3 %s/slow.py 127.0.0.1 %d 200 %s 4"):format(tmp, port, NAME))
    local rep = assert(json.decode(out), out)
    assert.truthy(rep.hs, out)
    assert.is_true(rep.hs.ok, out)
    assert.is_true(rep.hs.elapsed < 2, out)
    assert.equal(200, rep.closed, out)
    assert.is_true(rep.max_life <= 3.0, out)
    assert.is_true(rep.min_life >= 1.5, out)
    local st = r:stats()
    assert.equal(0, st.connections)
    assert.is_true(st.timeouts >= 200)
    assert.equal(1, st.served)
    r:stop()
    assert.equal(base, fd_count())
  end)
end)
