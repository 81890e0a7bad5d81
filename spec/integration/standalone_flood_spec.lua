-- TESTPLAN F2 against the real process: while certbot's standalone
-- responder (http-01, then tls-alpn-01) waits for Pebble, 200 connections
-- sit on it, half idle and half sending one byte a second.  Pebble's
-- validation must succeed through them, every one of them must be closed
-- by the responder within its deadline (30 s), and certbot's descriptor
-- count (/proc/PID/fd) must be back to its baseline afterwards.
--
-- Pebble validates on ports of this spec's own; a small forwarder
-- (FLOOD_PY) listens there and passes Pebble's connections on to the
-- responder only once the 200 are open, so the validation really happens
-- in the middle of the flood.  The pre-hook and post-hook record certbot's
-- PID and descriptor count before the responders exist and after they are
-- gone.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local sys = require("certbot.core").sys
local json = require("cjson.safe")

local N = 200
local DEADLINE = 30 -- the standalone plugin's per-connection deadline, seconds
local HOLD = 3 -- seconds the flood goes on before Pebble's connections get through

local FLOOD_PY = [==[
import json, os, select, socket, sys, time
front, back, kind, n = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
work, limit, hold = sys.argv[5], float(sys.argv[6]), float(sys.argv[7])
rep = {"n": n}

def out():
    with open(work + "/flood.json", "w") as f:
        json.dump(rep, f)

def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", front))
ls.listen(64)
open(work + "/flood.ready", "w").close()
t0 = time.monotonic()
# the responder is up when it accepts
while True:
    try:
        socket.create_connection(("127.0.0.1", back), timeout=1).close()
        break
    except OSError:
        if time.monotonic() - t0 > limit:
            rep["error"] = "responder never listened"
            out()
            sys.exit(1)
        time.sleep(0.005)
pid = int(open(work + "/pid").read())
if kind == "http":
    trickle = b"GET /.well-known/acme-challenge/slow HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000
else:
    trickle = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 4000
flood, opened, closed = [], [], {}
for i in range(n):
    s = socket.create_connection(("127.0.0.1", back))
    s.setblocking(False)
    flood.append(s)
    opened.append(time.monotonic())
flood_t = time.monotonic()
rep["flood_open_s"] = flood_t - t0
# wait (up to 3 s) until the responder holds all of them at once
base = int(open(work + "/fd.pre").read())
peak, w0 = -1, time.monotonic()
while peak < base + n and time.monotonic() - w0 < 3:
    peak = max(peak, fd_count(pid))
    time.sleep(0.01)
rep["fds_flood"] = peak

pairs = []  # [front_sock, back_sock, front_open, back_open, answered]
rep["answers"] = []
k, next_send = 0, time.monotonic()
while time.monotonic() - t0 < limit:
    now = time.monotonic()
    if now >= next_send:
        for i, s in enumerate(flood):
            if i % 2 == 1 and i not in closed:
                try:
                    s.send(trickle[k % len(trickle):k % len(trickle) + 1])
                except OSError:
                    closed[i] = time.monotonic()
        k += 1
        next_send += 1.0
    live = [s for i, s in enumerate(flood) if i not in closed]
    # Pebble's connections wait in the backlog while the flood goes on
    rd = ([ls] if now - flood_t >= hold else []) + live
    for p in pairs:
        if p[2]:
            rd.append(p[0])
        if p[3]:
            rd.append(p[1])
    r, _, _ = select.select(rd, [], [], 0.05)
    for s in r:
        if s is ls:
            c, _ = ls.accept()
            b = socket.create_connection(("127.0.0.1", back))
            pairs.append([c, b, True, True, False])
            rep.setdefault("first_forward_s", time.monotonic() - flood_t)
            continue
        p = next((p for p in pairs if s is p[0] or s is p[1]), None)
        if p is not None:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            other = p[1] if s is p[0] else p[0]
            if data:
                if s is p[1] and not p[4]:
                    p[4] = True
                    rep["answers"].append({"open": n - len(closed),
                                           "http_status": data[:12].decode("latin-1")})
                try:
                    other.sendall(data)
                except OSError:
                    pass
            else:
                if s is p[0]:
                    p[2] = False
                else:
                    p[3] = False
                try:
                    other.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            continue
        i = flood.index(s)
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            closed[i] = time.monotonic()
    for p in [p for p in pairs if not p[2] and not p[3]]:
        p[0].close()
        p[1].close()
        pairs.remove(p)
        rep["forwarded"] = rep.get("forwarded", 0) + 1
    if len(closed) == n and rep.get("forwarded") and not pairs:
        break
lives = [closed[i] - opened[i] for i in closed]
rep.update(closed=len(closed), max_life=max(lives) if lives else -1,
           min_life=min(lives) if lives else -1, elapsed=time.monotonic() - t0)
out()
]==]

-- A shell hook recording certbot's PID and descriptors (its parent's): their
-- number and what they point to (the pipes to the hook itself are new each
-- time: only their number counts).
local function fd_hook(dir, tag)
  return ("echo $PPID > %s/pid; ls /proc/$PPID/fd | wc -l > %s/fd.%s; "
    .. "ls -l /proc/$PPID/fd | sed -n 's/.* -> //p' | sed 's/^pipe:.*/pipe/' | sort > %s/fd.%s.list")
    :format(dir, dir, tag, dir, tag)
end

local function num(path)
  return tonumber((proc.read(path) or ""):match("%d+"))
end

describe("standalone responders under 200 slow/idle connections during validation #integration",
  function()
  local srv, cb, work, front_http, front_tls, back_http, back_tls, py

  setup(function()
    front_http, front_tls, back_http, back_tls = proc.free_ports(4)
    srv = pebble.start({ ports = { auto = true, http01 = front_http, tlsalpn01 = front_tls },
      env = { PEBBLE_AUTHZREUSE = "0" } })
  end)
  teardown(function()
    if srv then srv.stop() end
  end)
  before_each(function()
    cb = helper.new(srv)
    work = cb.dir .. "/flood"
    assert(sys.mkdir(work, 448))
    py = work .. "/flood.py"
    local f = assert(io.open(py, "w"))
    f:write(FLOOD_PY)
    f:close()
  end)
  after_each(function() cb:cleanup() end)

  local function flood_run(kind, name, front, back, args)
    local pid = proc.spawn({ "python3", py, tostring(front), tostring(back), kind, tostring(N),
      work, "60", tostring(HOLD) }, { log = work .. "/flood.log" })
    local ok, err = pcall(function()
      assert(proc.wait_until(function() return sys.lstat(work .. "/flood.ready") end, 10),
        "forwarder did not start: " .. (proc.read(work .. "/flood.log") or ""))
      local argv = { "certonly", "--standalone", "-d", name,
        "--pre-hook", fd_hook(work, "pre"), "--post-hook", fd_hook(work, "post") }
      for _, a in ipairs(args) do argv[#argv + 1] = a end
      local code, out, stderr = cb:run(argv)
      assert.equal(0, code, out .. stderr .. (proc.read(work .. "/flood.log") or ""))
      assert.matches("Successfully received certificate", out)
      assert.truthy(proc.wait_until(function() return not proc.alive(pid) end, DEADLINE + 15),
        "the flood did not end")
    end)
    proc.stop(pid, "python3")
    if not ok then error(err, 0) end
    local raw = proc.read(work .. "/flood.json") or ""
    local rep = assert(json.decode(raw), raw .. (proc.read(work .. "/flood.log") or ""))
    return rep, raw
  end

  local function check(rep, raw)
    assert.is_nil(rep.error, raw)
    -- the responder took all of them at once (its descriptors grew by ~N)
    local base = num(work .. "/fd.pre")
    assert.truthy(base, "no pre-hook count")
    assert.is_true(rep.fds_flood >= base + N - 4, raw .. " base " .. base)
    -- Pebble's validation went through while every one of them was open
    assert.is_true((rep.forwarded or 0) >= 1, raw)
    assert.is_true(#rep.answers >= 1, raw)
    for _, a in ipairs(rep.answers) do assert.equal(N, a.open, raw) end
    -- the responder closed them all (none was closed by the client), within its
    -- deadline, and not before the validation that came HOLD seconds in
    assert.equal(N, rep.closed, raw)
    assert.is_true(rep.max_life < DEADLINE, raw)
    assert.is_true(rep.first_forward_s >= HOLD and rep.min_life >= HOLD, raw)
    -- descriptors back to the baseline once the responder is gone
    assert.equal(base, num(work .. "/fd.post"),
      (proc.read(work .. "/fd.pre.list") or "") .. "---\n" .. (proc.read(work .. "/fd.post.list") or ""))
    assert.equal(proc.read(work .. "/fd.pre.list"), proc.read(work .. "/fd.post.list"))
  end

  it("http-01", function()
    local rep, raw = flood_run("http", "flood-http.example.org", front_http, back_http,
      { "--preferred-challenges", "http-01", "--http-01-port", tostring(back_http),
        "--http-01-address", "127.0.0.1" })
    check(rep, raw)
    for _, a in ipairs(rep.answers) do assert.equal("HTTP/1.1 200", a.http_status, raw) end
  end)

  it("tls-alpn-01", function()
    local rep, raw = flood_run("tls", "flood-tls.example.org", front_tls, back_tls,
      { "--preferred-challenges", "tls-alpn-01", "--tls-alpn-01-port", tostring(back_tls),
        "--tls-alpn-01-address", "127.0.0.1" })
    check(rep, raw)
    -- a TLS record came back (a ServerHello, not an alert)
    for _, a in ipairs(rep.answers) do assert.equal("\22", a.http_status:sub(1, 1), raw) end
  end)
end)
