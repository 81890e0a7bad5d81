-- certbot.core.http: the ACME transport, against a real Pebble and a small
-- python server for the faults Pebble cannot make.
local core = require("certbot.core")
local cjson = require("cjson.safe")
local proc = require("spec.helpers.proc")
local pebble = require("spec.helpers.pebble")
local http, sys = core.http, core.sys

local q = proc.quote

-- base64url without padding, written here so the spec does not lean on
-- the code under test.
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local function b64url(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a << 16 | (b or 0) << 8 | (c or 0)
    local n = c and 4 or b and 3 or 2
    for j = 1, n do
      local idx = (v >> (18 - 6 * (j - 1))) & 63
      out[#out + 1] = B64:sub(idx + 1, idx + 1)
    end
  end
  return table.concat(out)
end

local function readfile(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function writefile(p, s)
  local f = assert(io.open(p, "wb"))
  f:write(s)
  f:close()
end

-- An ES256 signer made of the openssl CLI: an independent judge of JWS
-- bytes, so these specs need nothing from core.jws.
local function es256_signer(dir)
  local key = dir .. "/acct.key"
  assert(os.execute("openssl ecparam -name prime256v1 -genkey -noout -out " .. q(key)
    .. " 2>/dev/null"))
  assert(os.execute("openssl ec -in " .. q(key) .. " -pubout -outform DER -out "
    .. q(dir .. "/acct.pub.der") .. " 2>/dev/null"))
  local spki = readfile(dir .. "/acct.pub.der")
  local point = spki:sub(-65) -- 04 || x || y
  assert(point:byte(1) == 4)
  local jwk = { crv = "P-256", kty = "EC", x = b64url(point:sub(2, 33)), y = b64url(point:sub(34, 65)) }

  -- DER ECDSA-Sig-Value -> r || s, 32 bytes each
  local function raw_sig(der)
    local pos = 3
    if der:byte(2) & 0x80 ~= 0 then pos = 3 + (der:byte(2) & 0x7f) end
    local parts = {}
    for i = 1, 2 do
      assert(der:byte(pos) == 2)
      local len = der:byte(pos + 1)
      local int = der:sub(pos + 2, pos + 1 + len):gsub("^%z+", "")
      parts[i] = string.rep("\0", 32 - #int) .. int
      pos = pos + 2 + len
    end
    return parts[1] .. parts[2]
  end

  return function(url, nonce, payload)
    local protected = b64url(cjson.encode({ alg = "ES256", jwk = jwk, nonce = nonce, url = url }))
    local body = payload and b64url(payload) or ""
    writefile(dir .. "/input", protected .. "." .. body)
    assert(os.execute("openssl dgst -sha256 -sign " .. q(key) .. " -out " .. q(dir .. "/sig")
      .. " " .. q(dir .. "/input")))
    return cjson.encode({ protected = protected, payload = body,
      signature = b64url(raw_sig(readfile(dir .. "/sig"))) })
  end
end

-- A python server for what Pebble cannot do: huge bodies, stalls,
-- Retry-After forms, Link headers, crafted problem documents.  It counts
-- the connections it accepts.
local SERVER = [==[
import json, sys, time, os, threading
from email.utils import formatdate
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs

count = 0
lock = threading.Lock()

class Server(ThreadingHTTPServer):
    daemon_threads = True
    def get_request(self):
        global count
        r = super().get_request()
        with lock:
            count += 1
        return r

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, status, body=b"", headers=(), length=True):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n)
        self.route(data)

    def do_GET(self):
        self.route(b"")

    do_PUT = do_POST
    do_PATCH = do_POST
    do_DELETE = do_POST

    def route(self, data):
        u = urlparse(self.path)
        qs = {k: v[0] for k, v in parse_qs(u.query).items()}
        p = u.path
        if p == "/count":
            with lock:
                self.send(200, str(count - 1).encode())
        elif p == "/echo":
            body = json.dumps({"method": self.command, "body": data.hex(),
                               "headers": [[k, v] for k, v in self.headers.items()]}).encode()
            self.send(200, body, [("Content-Type", "application/json"),
                                  ("Replay-Nonce", "echo-" + str(int(time.time() * 1e6)))])
        elif p == "/big":
            self.send(200, b"x" * int(qs.get("n", 2 * 1024 * 1024)))
        elif p == "/big-unsized":
            # HTTP/1.0 without Content-Length: the body ends at close
            self.send(200, b"y" * int(qs.get("n", 2 * 1024 * 1024)), length=False)
            self.close_connection = True
        elif p == "/stall":
            time.sleep(30)
        elif p == "/bighdr":
            n = int(qs.get("n", 70 * 1024))
            self.send(200, b"ok", [("X-Big", "h" * n)])
        elif p == "/manyhdr":
            self.send(200, b"ok", [("X-H%d" % i, "v" * 1000) for i in range(80)])
        elif p == "/retry":
            v = qs["v"]
            now = time.time()
            ra = {
                "date5": formatdate(now + 5, usegmt=True),
                "past": formatdate(now - 3600, usegmt=True),
                "rfc850": time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(now + 5)),
                "asctime": time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(now + 5)),
                "badday": "Sun, 31 Feb 2030 08:49:37 GMT",
                "huge": "99999999999999999999",
            }.get(v, v)
            self.send(503, b"", [("Retry-After", ra)])
        elif p == "/links":
            self.send(200, b"", [
                ("Link", '<https://x.test/cert/1>;rel="alternate", <https://x.test/dir>;rel="index"'),
                ("Link", '</relative/up> ; rel=up'),
                ("Link", '<https://x.test/a,b>; title="x,y;z"; rel="alternate Next"'),
                ("Link", '<https://x.test/norel>; title=t, garbage, <https://x.test/2>;rel=alternate'),
                ("Location", "/acct/7"),
            ])
        elif p == "/clen":
            # a raw Content-Length value (J4), then the connection closes
            self.send(200, b"ok", [("Content-Length", qs["v"])], length=False)
            self.close_connection = True
        elif p == "/problem":
            self.send(400, qs["doc"].encode(), [
                ("Content-Type", "application/problem+json"),
                ("Replay-Nonce", "n" + str(int(time.time() * 1e6)))])
        else:
            self.send(404, b"no")

srv = Server(("127.0.0.1", int(sys.argv[1])), H)
srv.serve_forever()
]==]

-- TXT records for name from the DNS server on 127.0.0.1:port, asked with
-- a hand-made query (python's standard library has no resolver).
local DNS_QUERY = [==[
import socket, struct, sys
port, name = int(sys.argv[1]), sys.argv[2]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"
q += struct.pack(">HH", 16, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(q, ("127.0.0.1", port))
r = s.recv(4096)
an = struct.unpack(">H", r[6:8])[0]
i = 12
while r[i]:
    i += r[i] + 1
i += 5
for _ in range(an):
    if r[i] & 0xC0 == 0xC0:
        i += 2
    else:
        while r[i]:
            i += r[i] + 1
        i += 1
    typ, cls, ttl, rdlen = struct.unpack(">HHIH", r[i:i + 10])
    i += 10
    rd = r[i:i + rdlen]
    i += rdlen
    j = 0
    while typ == 16 and j < len(rd):
        print(rd[j + 1:j + 1 + rd[j]].decode())
        j += 1 + rd[j]
]==]

local function txt_query(port, name)
  local p = assert(io.popen("python3 -c " .. q(DNS_QUERY) .. " " .. port .. " " .. q(name)))
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  assert(p:close(), "DNS query failed")
  return out
end

describe("core.http #core", function()
  it("builds a client with defaults and refuses bad options", function()
    local c = assert(http.new())
    assert.matches("open, https only", tostring(c))
    c:close()
    assert.matches("closed", tostring(c))
    assert.has_error(function() c:request("GET", "https://127.0.0.1/") end)
    assert.has_error(function() http.new({ timeout = -1 }) end)
    assert.has_error(function() http.new({ max_body = "big" }) end)
    assert.has_error(function() http.new({ verify = "no" }) end)
    assert.has_error(function() assert(http.new()):request("TRACE", "https://127.0.0.1/") end)
  end)

  it("closes with <close>", function()
    local held
    do
      local c <close> = assert(http.new())
      held = c
    end
    assert.matches("closed", tostring(held))
  end)

  it("holds a separate nonce pool per client", function()
    local a, b = assert(http.new()), assert(http.new())
    local n, err = a:nonce()
    assert.is_nil(n)
    assert.matches("no nonce", err)
    assert.is_nil(b:nonce())
    a:close()
    b:close()
  end)
end)

describe("core.http against a local server #core", function()
  local dir, port, pid, plain

  setup(function()
    dir = proc.tmpdir("http-spec-")
    writefile(dir .. "/server.py", SERVER)
    plain = assert(http.new({ https_only = false, timeout = 5 }))
    -- a free port can be taken before the server binds it: try a few
    for _ = 1, 3 do
      port = proc.free_ports(1)
      pid = proc.spawn({ "python3", dir .. "/server.py", port }, { log = dir .. "/server.log" })
      if proc.wait_until(function()
        return not proc.alive(pid) or plain:request("GET", "http://127.0.0.1:" .. port .. "/count")
      end, 10) and proc.alive(pid) then
        return
      end
      proc.stop(pid, "python3")
    end
    error("python server did not start: " .. (proc.read(dir .. "/server.log") or ""))
  end)

  teardown(function()
    if plain then plain:close() end
    proc.stop(pid, "python3")
    proc.rm_rf(dir)
  end)

  local function url(path) return "http://127.0.0.1:" .. port .. path end

  local function count()
    local c = assert(http.new({ https_only = false }))
    local r = assert(c:request("GET", url("/count")))
    c:close()
    return tonumber(r.body)
  end

  it("refuses an http:// URL before connecting", function()
    local before = count()
    local c = assert(http.new())
    for _, method in ipairs({ "GET", "HEAD", "POST" }) do
      local res, err = c:request(method, url("/echo"))
      assert.is_nil(res)
      assert.equal("https required: " .. url("/echo"), err)
    end
    local built = false
    local res, err = c:post(url("/echo"), function() built = true return "{}" end,
      { new_nonce = url("/echo") })
    assert.is_nil(res)
    assert.equal("https required: " .. url("/echo"), err)
    assert.is_false(built)
    -- none of that reached the server: only count()'s own connections did
    assert.equal(before + 1, count())
    c:close()
  end)

  it("sends PUT, PATCH and DELETE (provider APIs), with or without a body", function()
    local c = assert(http.new({ https_only = false }))
    for _, m in ipairs({ "PUT", "PATCH", "DELETE" }) do
      local res = assert(c:request(m, url("/echo"), { body = "{\"v\":1}", content_type = "application/json" }))
      local echo = cjson.decode(res.body)
      assert.equal(m, echo.method)
      assert.equal("{\"v\":1}", (echo.body:gsub("..", function(h) return string.char(tonumber(h, 16)) end)))
    end
    local res = assert(c:request("DELETE", url("/echo")))
    assert.equal("DELETE", cjson.decode(res.body).method)
    assert.equal("", cjson.decode(res.body).body)
    -- the next plain request is a GET again (options do not leak)
    res = assert(c:request("GET", url("/echo")))
    assert.equal("GET", cjson.decode(res.body).method)
    c:close()
  end)

  it("sends method, body bytes, headers and user agent as given", function()
    local c = assert(http.new({ https_only = false, user_agent = "certbot-spec/1" }))
    local body = "a\0b\r\n{\"x\":1}"
    local res = assert(c:request("POST", url("/echo"), { body = body,
      content_type = "application/jose+json", headers = { "X-Test: yes" } }))
    assert.equal(200, res.status)
    assert.equal("application/json", res.content_type)
    local echo = cjson.decode(res.body)
    assert.equal("POST", echo.method)
    assert.equal(body, (echo.body:gsub("..", function(h) return string.char(tonumber(h, 16)) end)))
    local hdr = {}
    for _, kv in ipairs(echo.headers) do hdr[kv[1]:lower()] = kv[2] end
    assert.equal("application/jose+json", hdr["content-type"])
    assert.equal("yes", hdr["x-test"])
    assert.equal("certbot-spec/1", hdr["user-agent"])
    assert.is_nil(hdr["expect"])
    assert.equal(url("/echo"), res.url)
    -- the nonce went into the pool
    assert.matches("^echo%-%d+$", res.nonce)
    assert.equal(res.nonce, c:nonce())
    -- HEAD: no body
    res = assert(c:request("HEAD", url("/echo")))
    assert.equal(200, res.status)
    assert.equal("", res.body)
    c:close()
  end)

  it("refuses header lines that could inject", function()
    local c = assert(http.new({ https_only = false }))
    assert.has_error(function()
      c:request("GET", url("/echo"), { headers = { "X-A: 1\r\nX-B: 2" } })
    end)
    assert.has_error(function() c:request("GET", url("/echo"), { headers = { "no colon" } }) end)
    -- the client still works after a raise
    assert.equal(200, assert(c:request("GET", url("/echo"))).status)
    c:close()
  end)

  it("aborts a body over max_body, naming the cap", function()
    local c = assert(http.new({ https_only = false, max_body = 1024 * 1024 }))
    for _, path in ipairs({ "/big", "/big-unsized" }) do
      local t0 = sys.monotonic()
      local res, err = c:request("GET", url(path))
      assert.is_nil(res)
      assert.matches(url(path) .. ": response body larger than max_body (1048576 bytes)", err, 1, true)
      assert.is_true(sys.monotonic() - t0 < 5)
    end
    -- under the cap it comes whole
    local res = assert(c:request("GET", url("/big-unsized?n=1048576")))
    assert.equal(1048576, #res.body)
    assert.equal(string.rep("y", 1048576), res.body)
    c:close()
    c = assert(http.new({ https_only = false, max_body = 3 * 1024 * 1024 }))
    res = assert(c:request("GET", url("/big")))
    assert.equal(2 * 1024 * 1024, #res.body)
    c:close()
  end)

  it("caps header lines and the header block", function()
    local c = assert(http.new({ https_only = false }))
    local res, err = c:request("GET", url("/bighdr"))
    assert.is_nil(res)
    assert.matches("response headers larger than max_header (65536 bytes)", err, 1, true)
    res, err = c:request("GET", url("/manyhdr"))
    assert.is_nil(res)
    assert.matches("max_header", err, 1, true)
    res = assert(c:request("GET", url("/bighdr?n=30000")))
    assert.equal(30000, #res.headers["x-big"])
    c:close()
    c = assert(http.new({ https_only = false, max_header = 200 * 1024 }))
    res = assert(c:request("GET", url("/manyhdr")))
    assert.equal(string.rep("v", 1000), res.headers["x-h79"])
    c:close()
  end)

  it("gives up on a server that stalls, within the timeout", function()
    local c = assert(http.new({ https_only = false, timeout = 1 }))
    local t0 = sys.monotonic()
    local res, err = c:request("GET", url("/stall"))
    local took = sys.monotonic() - t0
    assert.is_nil(res)
    assert.matches("^" .. url("/stall"):gsub("%p", "%%%0") .. ": .*[Tt]imeout", err)
    assert.is_true(took >= 0.9 and took < 3, "took " .. took)
    c:close()
  end)

  it("reports a refused connection with the URL", function()
    local c = assert(http.new({ https_only = false, timeout = 5 }))
    local dead = "http://127.0.0.1:" .. proc.free_ports(1) .. "/x"
    local res, err = c:request("GET", dead)
    assert.is_nil(res)
    assert.matches(dead .. ": Couldn't connect", err, 1, true)
    c:close()
  end)

  it("parses Retry-After as seconds from now", function()
    local function ra(v)
      local res = assert(plain:request("GET", url("/retry?v=" .. v:gsub("[^%w]", function(ch)
        return string.format("%%%02X", ch:byte())
      end))))
      assert.equal(503, res.status)
      return res.retry_after, res.headers["retry-after"]
    end
    assert.equal(3, ra("3"))
    assert.equal(0, ra("0"))
    for _, form in ipairs({ "date5", "rfc850", "asctime" }) do
      local secs, raw = ra(form)
      assert.is_not_nil(secs, form .. ": " .. tostring(raw))
      assert.is_true(secs >= 3 and secs <= 6, form .. " gave " .. secs .. " for " .. raw)
    end
    assert.equal(0, ra("past"))
    -- the three forms, in the past: parsed (0), not refused (nil)
    assert.equal(0, ra("Sun, 06 Nov 1994 08:49:37 GMT"))
    assert.equal(0, ra("Sunday, 06-Nov-94 08:49:37 GMT"))
    assert.equal(0, ra("Sun Nov  6 08:49:37 1994"))
    assert.equal(315360000, ra("Fri, 31 Dec 9999 23:59:59 GMT"))
    assert.is_nil(ra("Sun, 06 Nov 1994 08:49:37 UTC"))
    assert.is_nil(ra("Sun, 6 Nov 1994 08:49:37 GMT"))
    assert.is_nil(ra("Sun, 06 Nov 1994 24:49:37 GMT"))
    assert.equal(315360000, ra("huge"))
    assert.is_nil(ra("garbage"))
    assert.is_nil(ra("-5"))
    assert.is_nil(ra("3.5"))
    assert.is_nil(ra("badday"))
  end)

  it("refuses a negative or overflowing Content-Length, and caps a huge one (J4)", function()
    local c = assert(http.new({ https_only = false, timeout = 5, max_body = 1024 }))
    local function get(v)
      return c:request("GET", url("/clen?v=" .. v:gsub("[^%w]", function(ch)
        return string.format("%%%02X", ch:byte())
      end)))
    end
    local res, err = get("-1")
    assert.is_nil(res)
    assert.matches("/clen%?v=%%2D1: .*Content%-Length", err)
    -- 2^64, 2^64 - 1, 2^63, 2^63 - 1 and beyond: over max_body, refused before reading
    for _, v in ipairs({ "18446744073709551616", "18446744073709551615", "9223372036854775808",
      "9223372036854775807", "99999999999999999999999999" }) do
      res, err = get(v)
      assert.is_nil(res, v)
      assert.matches("response body larger than max_body %(1024 bytes%)", err)
    end
    -- the honest value still works, and a short one truncates the body
    res = assert(get("2"))
    assert.equal("ok", res.body)
    res = assert(get("1"))
    assert.equal("o", res.body)
    c:close()
  end)

  it("parses every Link header and resolves Location", function()
    local res = assert(plain:request("GET", url("/links")))
    assert.same({
      { url = "https://x.test/cert/1", rel = "alternate" },
      { url = "https://x.test/dir", rel = "index" },
      { url = url("/relative/up"), rel = "up" },
      { url = "https://x.test/a,b", rel = "alternate" },
      { url = "https://x.test/a,b", rel = "next" },
      { url = "https://x.test/2", rel = "alternate" },
    }, res.links)
    assert.equal(url("/acct/7"), res.location)
    assert.equal("/acct/7", res.headers.location)
  end)

  it("retries only a real badNonce problem", function()
    local c = assert(http.new({ https_only = false }))
    local function post(doc, max)
      local calls = 0
      c:request("GET", url("/echo")) -- one nonce in the pool
      local res = assert(c:post(url("/problem?doc=" .. doc:gsub("[^%w]", function(ch)
        return string.format("%%%02X", ch:byte())
      end)), function(nonce)
        calls = calls + 1
        assert.is_string(nonce)
        return "{}"
      end, { max_bad_nonce = max }))
      assert.equal(400, res.status)
      assert.equal(calls - 1, res.bad_nonce_retries)
      return res.bad_nonce_retries
    end
    local bad = '"urn:ietf:params:acme:error:badNonce"'
    assert.equal(2, post('{"type":' .. bad .. '}', 2))
    assert.equal(5, post('{"detail":"x", "status":400, "sub":[{"a":null}], "type":' .. bad .. '}'))
    assert.equal(1, post('{ "type" : "urn:ietf:params:acme:error:bad\\u004eonce" }', 1))
    assert.equal(0, post('{"type":' .. bad .. '}', 0))
    assert.equal(0, post('{"type":"urn:ietf:params:acme:error:malformed","detail":' .. bad .. '}'))
    assert.equal(0, post('{"sub":{"type":' .. bad .. '},"type":"x"}'))
    assert.equal(0, post('{"type":' .. bad .. ',"type":"x"}'))
    assert.equal(0, post('{"type":' .. bad .. ''))
    assert.equal(0, post('{"type":' .. bad .. '} trailing'))
    assert.equal(0, post('[' .. bad .. ']'))
    assert.equal(0, post('{"type":"urn:ietf:params:acme:error:badNonceX"}'))
    c:close()
  end)

  it("returns nil, err from build as is", function()
    local c = assert(http.new({ https_only = false }))
    c:request("GET", url("/echo"))
    local res, err = c:post(url("/echo"), function() return nil, "signing failed" end)
    assert.is_nil(res)
    assert.equal("signing failed", err)
    c:request("GET", url("/echo"))
    assert.has_error(function() c:post(url("/echo"), function() return {} end) end)
    c:close()
  end)
end)

describe("core.http against Pebble #core #integration", function()
  local srv, dir, sign, dirdoc

  setup(function()
    srv = pebble.start({ ports = "auto", env = { PEBBLE_WFE_NONCEREJECT = "0" } })
    dir = proc.tmpdir("http-spec-")
    sign = es256_signer(dir)
  end)

  teardown(function()
    if srv then srv.stop() end
    proc.rm_rf(dir)
  end)

  local function client(opts)
    opts = opts or {}
    if opts.ca_file == nil then opts.ca_file = srv.ca_file end
    if opts.ca_file == false then opts.ca_file = nil end
    return assert(http.new(opts))
  end

  it("GETs the directory and reuses the connection", function()
    local c = client()
    local res = assert(c:request("GET", srv.directory))
    assert.equal(200, res.status)
    assert.equal("application/json", res.content_type)
    dirdoc = assert(cjson.decode(res.body))
    for _, k in ipairs({ "newNonce", "newAccount", "newOrder", "revokeCert", "keyChange" }) do
      assert.matches("^https://127%.0%.0%.1:%d+/", dirdoc[k], nil, false)
    end
    assert.equal(1, res.new_connections)
    res = assert(c:request("GET", srv.directory))
    assert.equal(0, res.new_connections)
    c:close()
  end)

  it("gets a nonce from newNonce and feeds the pool from responses", function()
    local c = client()
    dirdoc = dirdoc or cjson.decode(assert(c:request("GET", srv.directory)).body)
    local res = assert(c:request("HEAD", dirdoc.newNonce))
    assert.equal(200, res.status)
    assert.matches("^[%w_-]+$", res.nonce)
    assert.same({ { url = srv.directory, rel = "index" } }, res.links)
    -- the pool has it: no new request needed
    assert.equal(res.nonce, c:nonce())
    assert.is_nil((c:nonce()))
    -- empty pool: nonce(url) asks the server
    local n = assert(c:nonce(dirdoc.newNonce))
    assert.matches("^[%w_-]+$", n)
    assert.are_not.equal(res.nonce, n)
    -- a second client does not share the first one's pool
    local c2 = client()
    c:request("HEAD", dirdoc.newNonce)
    assert.is_nil((c2:nonce()))
    assert.is_string(c:nonce())
    c:close()
    c2:close()
  end)

  it("fails TLS verification without the CA file, naming the certificate", function()
    local c = client({ ca_file = false })
    local res, err = c:request("GET", srv.directory)
    assert.is_nil(res)
    assert.matches(srv.directory .. ": ", err, 1, true)
    assert.matches("certificate", err)
    c:close()
    -- the openssl CLI agrees the listener needs our CA
    assert.truthy(os.execute("openssl verify -CAfile " .. q(srv.ca_file) .. " "
      .. q(srv.dir .. "/cert.pem") .. " >/dev/null"))
  end)

  it("works with verify = false and no CA file", function()
    local c = client({ ca_file = false, verify = false })
    local res = assert(c:request("GET", srv.directory))
    assert.equal(200, res.status)
    c:close()
  end)

  it("fails with a CA file that did not sign the listener", function()
    local other = proc.tmpdir("http-spec-ca-")
    assert(os.execute("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
      .. " -keyout " .. q(other .. "/k") .. " -out " .. q(other .. "/ca.pem")
      .. " -days 1 -subj /CN=other 2>/dev/null"))
    local c = client({ ca_file = other .. "/ca.pem" })
    local res, err = c:request("GET", srv.directory)
    assert.is_nil(res)
    assert.matches("certificate", err)
    c:close()
    proc.rm_rf(other)
  end)

  it("gets Pebble's problem document back for a malformed JWS", function()
    local c = client()
    local res = assert(c:post(dirdoc.newAccount, function() return "this is not a JWS" end,
      { new_nonce = dirdoc.newNonce }))
    assert.equal(400, res.status)
    assert.equal("application/problem+json", res.content_type)
    local prob = assert(cjson.decode(res.body))
    assert.matches("^urn:ietf:params:acme:error:", prob.type)
    assert.are_not.equal("urn:ietf:params:acme:error:badNonce", prob.type)
    assert.equal(0, res.bad_nonce_retries)
    c:close()
  end)

  it("retries badNonce at most max_bad_nonce times", function()
    local c = client()
    local seen = {}
    local res = assert(c:post(dirdoc.newAccount, function(nonce)
      seen[#seen + 1] = nonce
      return sign(dirdoc.newAccount, "bogus-nonce", '{"termsOfServiceAgreed":true}')
    end, { new_nonce = dirdoc.newNonce, max_bad_nonce = 3 }))
    assert.equal(400, res.status)
    assert.equal("urn:ietf:params:acme:error:badNonce", cjson.decode(res.body).type)
    assert.equal(3, res.bad_nonce_retries)
    assert.equal(4, #seen)
    c:close()
  end)

  it("retries with the nonce from the badNonce response and succeeds", function()
    local c = client()
    local seen = {}
    local res = assert(c:post(dirdoc.newAccount, function(nonce)
      seen[#seen + 1] = nonce
      return sign(dirdoc.newAccount, #seen == 1 and "bogus-nonce" or nonce,
        '{"termsOfServiceAgreed":true}')
    end, { new_nonce = dirdoc.newNonce }))
    assert.equal(1, res.bad_nonce_retries, res.body)
    assert.equal(201, res.status, res.body)
    assert.matches("^https://127%.0%.0%.1:%d+/my%-account/", res.location)
    assert.equal("valid", cjson.decode(res.body).status)
    assert.equal(2, #seen)
    assert.are_not.equal(seen[1], seen[2])
    -- the success carried a fresh nonce, now pooled
    assert.equal(res.nonce, c:nonce())
    c:close()
  end)

  it("keeps its sockets from child processes", function()
    local c = client()
    assert(c:request("GET", srv.directory))
    -- the connection is open in this process ...
    local function sockets(pid)
      local p = assert(io.popen("ls -l /proc/" .. pid .. "/fd 2>/dev/null"))
      local n = select(2, p:read("a"):gsub("socket:", ""))
      p:close()
      return n
    end
    assert.is_true(sockets(sys.getpid()) >= 1)
    -- ... and not in a child started without closing descriptors
    local p = assert(io.popen("ls -l /proc/self/fd"))
    local out = p:read("a")
    p:close()
    assert.is_nil(out:find("socket:", 1, true), out)
    c:close()
  end)

  it("serves the current root PEM from the management port", function()
    local pem = srv.root_pem()
    assert.matches("^%-%-%-%-%-BEGIN CERTIFICATE%-%-%-%-%-", pem)
    writefile(dir .. "/root.pem", pem)
    local p = assert(io.popen("openssl x509 -noout -subject -in " .. q(dir .. "/root.pem")))
    local subject = p:read("a")
    p:close()
    assert.matches("Pebble Root CA", subject)
  end)

  it("sets and clears TXT records in challtestsrv", function()
    local name = "_acme-challenge.example.test"
    assert.is_true(srv.set_txt(name, "abc"))
    assert.same({ "abc" }, txt_query(srv.ports.dns, name))
    assert.is_true(srv.clear_txt(name))
    assert.same({}, txt_query(srv.ports.dns, name))
  end)
end)

describe("spec.helpers.pebble #integration", function()
  it("proc.stop stops a program started through a wrapper, by PID", function()
    local pid = proc.spawn({ "python3", "-c", "import time; time.sleep(30)" })
    assert(proc.wait_until(function() return proc.comm(pid) == "python3" end, 5))
    assert.is_true(proc.alive(pid))
    assert.is_true(proc.stop(pid, "python3"))
    assert.is_false(proc.alive(pid))
  end)

  it("stops exactly what it started and removes its directory", function()
    local srv = pebble.start({ ports = "auto" })
    local pids = srv.pids
    assert.is_true(proc.alive(pids.pebble))
    assert.is_true(proc.alive(pids.challtestsrv))
    assert.equal("pebble", proc.comm(pids.pebble))
    assert.matches("Starting Pebble ACME server", srv.log())
    local d = srv.dir
    srv.stop()
    assert.is_false(proc.alive(pids.pebble))
    assert.is_false(proc.alive(pids.challtestsrv))
    assert.is_nil(io.open(d .. "/pebble-config.json"))
  end)

  it("fails with Pebble's log when Pebble cannot start", function()
    local a = pebble.start({ ports = "auto" })
    local ok, err = pcall(pebble.start, { ports = { acme = a.ports.acme, management = proc.free_ports(1),
      dns = proc.free_ports(1), challtestsrv = proc.free_ports(1) }, timeout = 5 })
    a.stop()
    assert.is_false(ok)
    assert.matches("pebble log:", err, 1, true)
    assert.matches("address already in use", err, 1, true)
  end)
end)
