-- certbot.core.standalone: the http-01 responder on its own thread.
-- Judges: curl, python3 sockets, ss(8) and /proc.
local core = require("certbot.core")
local sa = core.standalone
local sys = core.sys
local json = require("cjson.safe")

local PREFIX = "/.well-known/acme-challenge/"
local TOKEN = "tok_EN-123abc"
local KEYAUTH = TOKEN .. ".thumbprint_Xyz-0"

-- The judges never run with the sanitizer runtime preloaded (curl hangs in
-- a futex under LD_PRELOAD=libasan); spec/helpers drops it under `make
-- asan`, and this keeps a hand-made LD_PRELOAD run safe as well.
local NOSAN = "env -u LD_PRELOAD "

local function sh(cmd)
  local f = assert(io.popen(NOSAN .. cmd))
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

-- "HTTP/1.1 200 OK\r\n..." -> status, headers (lowercase names), body
local function parse(resp)
  local head, body = resp:match("^(.-)\r\n\r\n(.*)$")
  if not head then return nil end
  local status = tonumber(head:match("^HTTP/1%.%d (%d%d%d) "))
  local h = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do
    h[name:lower()] = value
  end
  return status, h, body
end

local function curl(args)
  return sh("curl -s -i --max-time 5 " .. args)
end

-- Sends raw bytes, reads until the server closes.  Prints one JSON line.
local RAW_PY = [[
import json, socket, sys, time
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(path, "rb").read()
t0 = time.monotonic()
s = socket.create_connection((host, port), timeout=5)
err = None
try:
    s.sendall(data)
except OSError as e:
    err = e.__class__.__name__
resp, closed = b"", False
try:
    while True:
        b = s.recv(65536)
        if not b:
            closed = True
            break
        resp += b
except ConnectionResetError:
    closed = True
except OSError as e:
    err = err or e.__class__.__name__
print(json.dumps({"resp": resp.decode("latin-1"), "closed": closed,
                  "send_error": err, "elapsed": time.monotonic() - t0}))
]]

-- 200 connections, each trickling one byte per second; a real GET in the
-- middle.  Reports how long each connection lived before the server
-- closed it.
local SLOW_PY = [[
import json, select, socket, sys, time
host, port, n, token, run = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
trickle = b"GET /.well-known/acme-challenge/" + token.encode() + b" HTTP/1.1\r\nX-Slow: "
socks, opened, closed = [], [], {}
for i in range(n):
    s = socket.create_connection((host, port))
    s.setblocking(False)
    socks.append(s)
    opened.append(time.monotonic())
t0 = time.monotonic()
k, next_send, get = 0, t0, None
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
    if get is None and now - t0 >= 1.0:
        g0 = time.monotonic()
        c = socket.create_connection((host, port), timeout=5)
        c.sendall(b"GET /.well-known/acme-challenge/" + token.encode() +
                  b" HTTP/1.1\r\nHost: example.org\r\n\r\n")
        resp = b""
        while True:
            b = c.recv(65536)
            if not b:
                break
            resp += b
        c.close()
        get = {"resp": resp.decode("latin-1"), "elapsed": time.monotonic() - g0}
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
                  "min_life": min(lives) if lives else -1, "get": get}))
]]

-- Sends a file's bytes, prints the first 12 bytes of the answer and how
-- long it took.
local FIRST_PY = [[
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(open(sys.argv[2], "rb").read())
t0 = time.monotonic()
d = s.recv(100)
print(d[:12].decode("latin-1"), time.monotonic() - t0)
]]

-- Opens n connections, says "ready", then waits until the server closes
-- them all (or 10 s).
local HOLD_PY = [[
import json, select, socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = [socket.create_connection((host, port)) for _ in range(n)]
print("ready", flush=True)
sys.stdin.readline()
t0 = time.monotonic()
open_ = list(socks)
while open_ and time.monotonic() - t0 < 10:
    r, _, _ = select.select(open_, [], [], 0.1)
    for s in r:
        try:
            b = s.recv(4096)
        except OSError:
            b = b""
        if not b:
            open_.remove(s)
print(json.dumps({"still_open": len(open_), "elapsed": time.monotonic() - t0}), flush=True)
]]

-- A child process running a responder, for strace: prints the responder
-- thread's id and the port, serves until a line arrives on stdin.
local CHILD_LUA = [[
package.cpath = arg[1] .. "/lib/?.so;" .. package.cpath
local core = require("certbot.core")
local r = assert(core.standalone.http01({ address = "127.0.0.1", port = 0 }))
assert(r:set(arg[2], arg[3]))
local tid
for _, t in ipairs(assert(core.sys.listdir("/proc/self/task"))) do
  local f = io.open("/proc/self/task/" .. t .. "/comm")
  if f then
    if f:read("l") == "cb-http01" then tid = t end
    f:close()
  end
end
io.stdout:write(tostring(tid), " ", select(2, r:address()), "\n")
io.stdout:flush()
io.read("l")
r:stop()
]]

local function has_ipv6_loopback()
  local f = io.open("/proc/net/if_inet6")
  if not f then return false end
  local data = f:read("a")
  f:close()
  return data:find("00000000000000000000000000000001", 1, true) ~= nil
end

describe("core.standalone http-01 #core", function()
  local tmp, raw_py, slow_py, hold_py, first_py, child_lua, payload
  local r, port

  setup(function()
    tmp = os.tmpname()
    os.remove(tmp)
    assert(sys.mkdir(tmp, 448))
    raw_py, slow_py, hold_py = tmp .. "/raw.py", tmp .. "/slow.py", tmp .. "/hold.py"
    payload = tmp .. "/payload"
    write(raw_py, RAW_PY)
    write(slow_py, SLOW_PY)
    write(hold_py, HOLD_PY)
    first_py = tmp .. "/first.py"
    write(first_py, FIRST_PY)
    child_lua = tmp .. "/child.lua"
    write(child_lua, CHILD_LUA)
  end)

  teardown(function() os.execute("rm -rf '" .. tmp .. "'") end)

  before_each(function()
    r = assert(sa.http01({ address = "127.0.0.1", port = 0, timeout = 5 }))
    local addr
    addr, port = r:address()
    assert.equal("127.0.0.1", addr)
    assert.is_true(port > 0)
    assert(r:set(TOKEN, KEYAUTH))
  end)

  after_each(function()
    r:stop()
    r = nil
  end)

  -- raw request bytes -> the RAW_PY report, with status parsed
  local function raw(bytes, host, p)
    write(payload, bytes)
    local out = sh(string.format("python3 %s %s %d %s", raw_py, host or "127.0.0.1", p or port, payload))
    local rep = assert(json.decode(out), out)
    rep.status = rep.resp ~= "" and parse(rep.resp) or nil
    return rep
  end

  local function url(path, host)
    return string.format("'http://%s:%d%s'", host or "127.0.0.1", port, path)
  end

  it("serves the key authorization for a set token", function()
    local status, h, body = parse(curl(url(PREFIX .. TOKEN)))
    assert.equal(200, status)
    assert.equal(KEYAUTH, body)
    assert.equal("text/plain", h["content-type"])
    assert.equal(tostring(#KEYAUTH), h["content-length"])
    assert.equal("close", h["connection"])
    local st = r:stats()
    assert.equal(1, st.served)
    assert.equal(1, st.requests)
  end)

  it("answers HEAD with the same headers and no body", function()
    local out = sh("curl -s -I --max-time 5 " .. url(PREFIX .. TOKEN))
    local status, h, body = parse(out)
    assert.equal(200, status)
    assert.equal("", body)
    assert.equal("text/plain", h["content-type"])
    assert.equal(tostring(#KEYAUTH), h["content-length"])
    -- and on the wire there really is nothing after the head
    local rep = raw("HEAD " .. PREFIX .. TOKEN .. " HTTP/1.1\r\nHost: x\r\n\r\n")
    assert.equal(200, rep.status)
    assert.is_true(rep.closed)
    assert.matches("\r\n\r\n$", rep.resp)
  end)

  it("answers HTTP/1.0, which needs no Host", function()
    local rep = raw("GET " .. PREFIX .. TOKEN .. " HTTP/1.0\r\n\r\n")
    assert.equal(200, rep.status)
    assert.equal(KEYAUTH, select(3, parse(rep.resp)))
    -- HTTP/1.1 without Host is a bad request (RFC 9112 §3.2)
    assert.equal(400, raw("GET " .. PREFIX .. TOKEN .. " HTTP/1.1\r\n\r\n").status)
  end)

  it("follows set, remove and clear", function()
    assert.equal(404, parse(curl(url(PREFIX .. "other"))))
    assert(r:set("other", "other.ka"))
    assert.equal("other.ka", select(3, parse(curl(url(PREFIX .. "other")))))
    assert(r:set("other", "other.ka2")) -- replaces
    assert.equal("other.ka2", select(3, parse(curl(url(PREFIX .. "other")))))
    assert.is_true(r:remove("other"))
    assert.is_false(r:remove("other"))
    assert.equal(404, parse(curl(url(PREFIX .. "other"))))
    assert.equal(200, parse(curl(url(PREFIX .. TOKEN))))
    assert.is_true(r:clear())
    assert.equal(404, parse(curl(url(PREFIX .. TOKEN))))
  end)

  it("refuses malformed tokens in set()", function()
    for _, bad in ipairs({ "", "a/b", "..", "a.b", "a%2e", "a b", "ü", "a\0b", ("x"):rep(257) }) do
      local ok, err = r:set(bad, "ka")
      assert.is_nil(ok, bad)
      assert.equal("invalid token", err)
    end
    assert.is_true(r:set(("x"):rep(256), "ka"))
  end)

  it("gives 404 for anything but the exact challenge path", function()
    assert(r:set("etc", "leak"))
    for _, path in ipairs({
      "/",
      PREFIX,
      PREFIX .. "unknown",
      PREFIX .. "../../etc/passwd",
      PREFIX .. "%2e%2e/%2e%2e/etc/passwd",
      PREFIX .. "%2e%2e",
      "/.well-known/acme-challenge//" .. TOKEN,
      "//.well-known/acme-challenge/" .. TOKEN,
      "/.well-known/./acme-challenge/" .. TOKEN,
      PREFIX .. TOKEN .. "?x=1",
      PREFIX .. TOKEN .. "/",
      PREFIX .. TOKEN .. "%00",
      PREFIX .. "tok%5FEN-123abc",
    }) do
      local status, _, body = parse(curl("--path-as-is " .. url(path)))
      assert.equal(404, status, path)
      assert.not_equal(KEYAUTH, body)
    end
    -- absolute form, sent through curl's proxy mode
    local status, _, body = parse(curl(string.format("-x http://127.0.0.1:%d 'http://example.org%s%s'",
      port, PREFIX, TOKEN)))
    assert.equal(404, status)
    assert.not_equal(KEYAUTH, body)
    assert.equal(0, r:stats().served)
  end)

  it("gives 405 with Allow for other methods", function()
    for _, m in ipairs({ "POST", "PUT", "DELETE", "OPTIONS", "PATCH" }) do
      local status, h = parse(curl("-X " .. m .. " -d x " .. url(PREFIX .. TOKEN)))
      assert.equal(405, status, m)
      assert.equal("GET, HEAD", h["allow"])
    end
    assert.equal(0, r:stats().served)
  end)

  it("answers 431 to a head over 8 KiB and closes", function()
    local rep = raw("GET " .. PREFIX .. TOKEN .. " HTTP/1.1\r\nHost: x\r\nX-Big: " .. ("a"):rep(9 * 1024) .. "\r\n\r\n")
    assert.equal(431, rep.status)
    assert.is_true(rep.closed)
    rep = raw("GET /" .. ("a"):rep(9 * 1024) .. " HTTP/1.1\r\nHost: x\r\n\r\n")
    assert.equal(431, rep.status)
    assert.is_true(rep.closed)
    -- just under the cap is fine
    local head = "GET " .. PREFIX .. TOKEN .. " HTTP/1.1\r\nHost: x\r\nX-Pad: "
    head = head .. ("a"):rep(8192 - #head - 4) .. "\r\n\r\n"
    assert.equal(8192, #head)
    assert.equal(200, raw(head).status)
  end)

  it("closes a connection sending 10000 headers", function()
    local rep = raw("GET " .. PREFIX .. TOKEN .. " HTTP/1.1\r\nHost: x\r\n" .. ("X-A: b\r\n"):rep(10000) .. "\r\n")
    assert.is_true(rep.closed)
    assert.is_true(rep.elapsed < 3)
    if rep.status then assert.equal(431, rep.status) end
    -- more than 100 short headers, within 8 KiB, are refused too
    rep = raw("GET " .. PREFIX .. TOKEN .. " HTTP/1.1\r\nHost: x\r\n" .. ("A: b\r\n"):rep(150) .. "\r\n")
    assert.equal(431, rep.status)
    assert.is_true(rep.closed)
    assert.equal(200, parse(curl(url(PREFIX .. TOKEN))))
  end)

  it("answers 400 to bytes that are not HTTP, at once", function()
    local tls_hello = "\22\3\1\0\165\1\0\0\161\3\3" .. ("\0"):rep(40)
    for _, junk in ipairs({
      tls_hello,
      "\0\1\2\3\255\254",
      "hello world\r\n\r\n",
      "GET\r\n\r\n",
      "GET /\r\n\r\n",
      "GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
      "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
      "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET / FOO/1.1\r\nHost: x\r\n\r\n",
      "GET " .. PREFIX .. TOKEN .. " HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
      "GET " .. PREFIX .. TOKEN .. " HTTP/1.1\r\nHost : x\r\n\r\n",
      "GET " .. PREFIX .. TOKEN .. " HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
      "GET " .. PREFIX .. TOKEN .. " HTTP/1.1\r\nHost: x\rX: y\r\n\r\n",
      "GET " .. PREFIX .. "t\1k HTTP/1.1\r\nHost: x\r\n\r\n",
      ("A"):rep(40) .. " / HTTP/1.1\r\nHost: x\r\n\r\n",
    }) do
      local rep = raw(junk)
      assert.equal(400, rep.status, junk)
      assert.is_true(rep.closed)
    end
    -- a TLS ClientHello gets its 400 without waiting for a head that never ends
    write(payload, tls_hello)
    local out = sh(string.format("python3 %s %d %s", first_py, port, payload))
    local line, t = out:match("^(HTTP/1%.1 400) ([%d%.e%-]+)")
    assert.truthy(line, out)
    assert.is_true(tonumber(t) < 1)
    assert.equal(505, raw("GET / HTTP/2.0\r\nHost: x\r\n\r\n").status)
    assert.equal(200, parse(curl(url(PREFIX .. TOKEN))))
    assert.equal(0, r:stats().connections)
  end)

  it("survives slowloris: closes each connection at its deadline, still serves", function()
    r:stop()
    local base = fd_count()
    r = assert(sa.http01({ address = "127.0.0.1", port = 0, timeout = 2 }))
    port = select(2, r:address())
    assert(r:set(TOKEN, KEYAUTH))
    local out = sh(string.format("python3 %s 127.0.0.1 %d 200 %s 4", slow_py, port, TOKEN))
    local rep = assert(json.decode(out), out)
    -- the valid GET in the middle of the flood was served promptly
    assert.truthy(rep.get, out)
    local status, _, body = parse(rep.get.resp)
    assert.equal(200, status)
    assert.equal(KEYAUTH, body)
    assert.is_true(rep.get.elapsed < 1, out)
    -- every slow connection was closed by the responder, within deadline + 1 s
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

  it("drops the oldest connection when max_conns is reached", function()
    r:stop()
    r = assert(sa.http01({ address = "127.0.0.1", port = 0, timeout = 10, max_conns = 3 }))
    port = select(2, r:address())
    assert(r:set(TOKEN, KEYAUTH))
    local p = assert(io.popen(NOSAN .. string.format("python3 %s 127.0.0.1 %d 3 >/dev/null", hold_py, port), "w"))
    -- three idle connections fill it; a validation still gets through
    local deadline = sys.monotonic() + 5
    while r:stats().connections < 3 and sys.monotonic() < deadline do sys.sleep(0.05) end
    assert.equal(3, r:stats().connections)
    assert.equal(200, parse(curl(url(PREFIX .. TOKEN))))
    assert.is_true(r:stats().evicted >= 1)
    r:stop()
    p:write("\n")
    p:close()
  end)

  it("closes open client connections on stop() and frees every descriptor", function()
    r:stop()
    local base = fd_count()
    r = assert(sa.http01({ address = "127.0.0.1", port = 0, timeout = 30 }))
    port = select(2, r:address())
    local rep_path = tmp .. "/hold.out"
    local p = assert(io.popen(NOSAN .. string.format("python3 %s 127.0.0.1 %d 20 > %s", hold_py, port, rep_path), "w"))
    local deadline = sys.monotonic() + 5
    while r:stats().connections < 20 and sys.monotonic() < deadline do sys.sleep(0.05) end
    assert.equal(20, r:stats().connections)
    assert.is_true(fd_count() > base)
    local t0 = sys.monotonic()
    assert.is_true(r:stop())
    assert.is_true(sys.monotonic() - t0 < 1)
    assert.is_true(r:stop()) -- twice is fine
    assert.equal(0, r:stats().connections)
    assert.is_false(r:stats().running)
    p:write("\n")
    p:close()
    assert.equal(base, fd_count())
    local out = assert(sys.read_file(rep_path))
    local rep = assert(json.decode(out:match("([^\n]+)\n?$")), out)
    assert.equal(0, rep.still_open)
    assert.is_true(rep.elapsed < 2)
    -- stopped: set refuses, address says so
    assert.is_nil(r:set(TOKEN, KEYAUTH))
    local a, err = r:address()
    assert.is_nil(a)
    assert.matches("stopped", err)
  end)

  it("fails to bind a port in use, naming address and port", function()
    local r2, err = sa.http01({ address = "127.0.0.1", port = port })
    assert.is_nil(r2)
    assert.equal(string.format("could not bind to 127.0.0.1:%d: Address already in use", port), err)
    -- the first one is unharmed
    assert.equal(200, parse(curl(url(PREFIX .. TOKEN))))
    -- after stop() the port is free again
    r:stop()
    r = assert(sa.http01({ address = "127.0.0.1", port = port }))
    assert.equal(port, select(2, r:address()))
  end)

  it("names a bad address", function()
    local r2, err = sa.http01({ address = "example.org", port = 5002 })
    assert.is_nil(r2)
    assert.equal("could not bind to example.org:5002: not an IP address", err)
  end)

  it("binds only the address asked for", function()
    local r2 = assert(sa.http01({ address = "127.0.0.2", port = 0 }))
    local addr, p2 = r2:address()
    assert.equal("127.0.0.2", addr)
    local out = sh("ss -ltnH 2>/dev/null")
    local bound = {}
    for line in out:gmatch("[^\n]+") do
      local l = line:match("^%S+%s+%S+%s+%S+%s+(%S+)")
      if l and l:match(":(%d+)$") == tostring(p2) then bound[#bound + 1] = l end
    end
    assert.same({ "127.0.0.2:" .. p2 }, bound)
    assert(r2:set(TOKEN, KEYAUTH))
    local status, _, body = parse(curl(string.format("'http://127.0.0.2:%d%s%s'", p2, PREFIX, TOKEN)))
    assert.equal(200, status)
    assert.equal(KEYAUTH, body)
    local _, code = sh(string.format("curl -s -o /dev/null --max-time 5 'http://127.0.0.1:%d/'", p2))
    assert.equal(7, code) -- connection refused
    r2:stop()
  end)

  it("serves on ::1", function()
    if not has_ipv6_loopback() then
      pending("no IPv6 loopback here")
      return
    end
    local r6 = assert(sa.http01({ address = "::1", port = 0 }))
    local addr, p6 = r6:address()
    assert.equal("::1", addr)
    assert.matches("%[::1%]:" .. p6, tostring(r6))
    assert(r6:set(TOKEN, KEYAUTH))
    local status, _, body = parse(curl(string.format("-g 'http://[::1]:%d%s%s'", p6, PREFIX, TOKEN)))
    assert.equal(200, status)
    assert.equal(KEYAUTH, body)
    -- "[::1]" is accepted too; a port taken on ::1 is named with brackets
    local r7, err = sa.http01({ address = "[::1]", port = p6 })
    assert.is_nil(r7)
    assert.equal(string.format("could not bind to [::1]:%d: Address already in use", p6), err)
    r6:stop()
  end)

  it("listens dual-stack when no address is given", function()
    local rd = assert(sa.http01({ port = 0 }))
    local addr, pd = rd:address()
    assert(rd:set(TOKEN, KEYAUTH))
    local status, _, body = parse(curl(string.format("'http://127.0.0.1:%d%s%s'", pd, PREFIX, TOKEN)))
    assert.equal(200, status)
    assert.equal(KEYAUTH, body)
    if has_ipv6_loopback() then
      assert.equal("::", addr)
      assert.equal(200, parse(curl(string.format("-g 'http://[::1]:%d%s%s'", pd, PREFIX, TOKEN))))
    else
      assert.equal("0.0.0.0", addr)
    end
    rd:stop()
  end)

  it("stops when collected or closed", function()
    local p
    do
      local rc <close> = assert(sa.http01({ address = "127.0.0.1", port = 0 }))
      p = select(2, rc:address())
    end
    -- an unreferenced responder: __gc stops it
    assert(sa.http01({ address = "127.0.0.1", port = p }))
    collectgarbage()
    collectgarbage()
    assert(sa.http01({ address = "127.0.0.1", port = p })):stop()
  end)

  it("makes no filesystem syscalls on its thread (strace)", function()
    if select(2, sh("strace -qq -o /dev/null true")) ~= 0 then
      pending("strace does not work here")
      return
    end
    local log, info = tmp .. "/strace.log", tmp .. "/child.out"
    local build = os.getenv("CERTBOT_BUILD") or "build"
    -- strace itself runs plain; under `make asan` the traced lua5.4 loads
    -- the sanitized core.so, so it needs the runtime this process has.
    local asan
    for line in io.lines("/proc/self/maps") do
      asan = asan or line:match("%s(/%S+/libasan%.so[%.%d]*)$")
    end
    local keep = asan and ("-E LD_PRELOAD=" .. asan .. " ") or ""
    local p = assert(io.popen(NOSAN .. string.format(
      "strace -f -qq %s-e trace=%%file,accept4 -o %s lua5.4 %s %s %s %s > %s",
      keep, log, child_lua, build, TOKEN, KEYAUTH, info), "w"))
    local tid, cport
    local deadline = sys.monotonic() + 10
    repeat
      sys.sleep(0.05)
      local out = sys.read_file(info)
      if out then tid, cport = out:match("^(%d+) (%d+)\n") end
    until tid or sys.monotonic() > deadline
    assert.truthy(tid, "child did not start")
    local function at(path) return string.format("'http://127.0.0.1:%s%s'", cport, path) end
    assert.equal(200, parse(curl(at(PREFIX .. TOKEN))))
    for _, path in ipairs({ PREFIX .. "../../etc/passwd", PREFIX .. "%2e%2e/x", "//etc/passwd",
                            "/etc/passwd", PREFIX .. TOKEN .. "?x" }) do
      assert.equal(404, parse(curl("--path-as-is " .. at(path))))
    end
    assert.equal(405, parse(curl("-X POST -d x " .. at(PREFIX .. TOKEN))))
    assert.equal(200, parse(sh("curl -s -i -I --max-time 5 " .. at(PREFIX .. TOKEN))))
    p:write("\n")
    p:close()
    local seen, other = 0, {}
    for line in io.lines(log) do
      if line:match("^" .. tid .. " ") then
        if line:find("accept4", 1, true) then seen = seen + 1 else other[#other + 1] = line end
      end
    end
    assert.is_true(seen >= 8) -- the trace did follow the thread
    assert.same({}, other)
  end)

  it("raises on misuse", function()
    assert.has_error(function() sa.http01({ port = 70000 }) end)
    assert.has_error(function() sa.http01({ port = "x" }) end)
    assert.has_error(function() sa.http01({ timeout = 0 }) end)
    assert.has_error(function() sa.http01({ max_conns = 0 }) end)
    assert.has_error(function() sa.http01({ address = 5 }) end)
    assert.has_error(function() r:set(TOKEN) end)
  end)
end)
