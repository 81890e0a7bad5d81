-- DNS on the wire: core.dnsnet (C: sockets, framing, timeouts, caps) and
-- the message codec and TSIG of the rfc2136 plugin (Lua), against a real
-- BIND (spec/helpers/bind.lua) and small python3 UDP servers that misbehave.
local core = require("certbot.core")
local proc = require("spec.helpers.proc")
local bind = require("spec.helpers.bind")
local rfc = require("certbot.plugins.dns.rfc2136")

local dnsnet, crypto, sys = core.dnsnet, core.crypto, core.sys
local W, T = rfc.wire, rfc.tsig

local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end

-- A UDP server on 127.0.0.1:port: "silent" never answers; "stray" answers
-- each query twice, first with another ID, then properly.
local UDP_SERVER = [[
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    data, addr = s.recvfrom(65535)
    if sys.argv[2] == "silent":
        continue
    ans = bytearray(data)
    ans[2] |= 0x80
    stray = bytearray(ans)
    stray[0] ^= 0x5a
    s.sendto(bytes(stray), addr)
    s.sendto(bytes(ans), addr)
]]

local function udp_listening(port)
  local p = io.popen("ss -Huln 'sport = :" .. port .. "'")
  local out = p:read("a")
  p:close()
  return out:find(":" .. port, 1, true) ~= nil
end

describe("dnsnet and the DNS codec #core", function()
  local ns, tmp

  setup(function()
    ns = bind.start()
    tmp = proc.tmpdir("dnsnet-")
  end)

  teardown(function()
    if ns then ns.stop() end
    proc.rm_rf(tmp)
  end)

  local function soa_query(id)
    return assert(W.query(id, "example.test", W.TYPE.SOA, false))
  end

  describe("sockets", function()
    for _, case in ipairs({ { "udp", "127.0.0.1" }, { "tcp", "127.0.0.1" }, { "udp", "::1" }, { "tcp", "::1" } }) do
      local proto, addr = case[1], case[2]
      it(("asks BIND over %s to %s"):format(proto, addr), function()
        local s = assert(dnsnet.open(proto, addr, ns.port, { timeout = 5 }))
        assert.matches("^dnsnet .*" .. ns.port .. "/" .. proto .. "$", tostring(s))
        assert(s:send(soa_query(4242)))
        local ans = assert(s:recv())
        local m = assert(W.parse(ans))
        assert.equal(4242, m.id)
        assert.is_true(m.qr)
        assert.is_true(m.aa)
        assert.equal(0, m.rcode)
        assert.equal(W.TYPE.SOA, m.answer[1].type)
        assert.equal("example.test", m.answer[1].name)
        if proto == "tcp" then
          -- the same connection carries a second exchange
          assert(s:send(soa_query(4343)))
          assert.equal(4343, assert(W.parse(assert(s:recv()))).id)
        end
        s:close()
        assert.matches("%(closed%)$", tostring(s))
        assert.has_error(function() s:send(soa_query(1)) end)
      end)
    end

    it("takes numeric addresses only", function()
      local s, err, code = dnsnet.open("udp", "localhost", ns.port)
      assert.is_nil(s)
      assert.equal("dns localhost:" .. ns.port .. "/udp: not an IPv4 or IPv6 address", err)
      assert.equal("error", code)
      assert.has_error(function() dnsnet.open("sctp", "127.0.0.1", 53) end)
      assert.has_error(function() dnsnet.open("udp", "127.0.0.1", 0) end)
      assert.has_error(function() dnsnet.open("udp", "127.0.0.1", 53, { max_size = 5 }) end)
      assert.has_error(function() dnsnet.open("udp", "127.0.0.1", 53, { timeout = -1 }) end)
    end)

    it("reports a refused connection over TCP and over UDP", function()
      local port = proc.free_ports(1)
      local s, err, code = dnsnet.open("tcp", "127.0.0.1", port)
      assert.is_nil(s)
      assert.equal("dns 127.0.0.1:" .. port .. "/tcp: connect: Connection refused", err)
      assert.equal("refused", code)
      s = assert(dnsnet.open("udp", "127.0.0.1", port))
      assert(s:send(soa_query(7)))
      local ans
      ans, err, code = s:recv(2)
      assert.is_nil(ans)
      assert.equal("refused", code)
      assert.matches("Connection refused", err, 1, true)
      s:close()
    end)

    it("caps the size of an answer", function()
      for _, proto in ipairs({ "udp", "tcp" }) do
        local s = assert(dnsnet.open(proto, "127.0.0.1", ns.port, { max_size = 20 }))
        assert(s:send(soa_query(9)))
        local ans, err, code = s:recv(5)
        assert.is_nil(ans)
        assert.equal("toobig", code)
        assert.matches("answer of %d+ bytes is larger than 20 bytes", err)
        s:close()
      end
      assert.has_error(function()
        local s = assert(dnsnet.open("udp", "127.0.0.1", ns.port))
        s:send(string.rep("x", 65536))
      end)
    end)

    it("gives up at the timeout when nothing answers", function()
      local port = proc.free_ports(1)
      local f = assert(io.open(tmp .. "/udp.py", "w"))
      f:write(UDP_SERVER)
      f:close()
      local pid = proc.spawn({ "python3", tmp .. "/udp.py", tostring(port), "silent" })
      local ok, err = pcall(function()
        assert(proc.wait_until(function() return udp_listening(port) end, 10, 0.05), "no UDP server")
        local s = assert(dnsnet.open("udp", "127.0.0.1", port))
        assert(s:send(soa_query(11)))
        local t0 = sys.monotonic()
        local ans, rerr, code = s:recv(0.4)
        local took = sys.monotonic() - t0
        assert.is_nil(ans)
        assert.equal("timeout", code)
        assert.equal("dns 127.0.0.1:" .. port .. "/udp: no answer (timed out)", rerr)
        assert.is_true(took >= 0.39 and took < 2, "took " .. took)
        s:close()
      end)
      proc.stop(pid)
      assert(ok, err)
    end)

    it("leaves no descriptor to child processes (close-on-exec)", function()
      local function sockets_in_child()
        local p = io.popen("ls -l /proc/self/fd 2>/dev/null")
        local out = p:read("a")
        p:close()
        local n = 0
        for _ in out:gmatch("socket:") do n = n + 1 end
        return n
      end
      local before = sockets_in_child()
      local u = assert(dnsnet.open("udp", "127.0.0.1", ns.port))
      local t = assert(dnsnet.open("tcp", "127.0.0.1", ns.port))
      assert.equal(before, sockets_in_child())
      u:close()
      t:close()
    end)
  end)

  describe("the codec", function()
    it("encodes names and refuses bad ones", function()
      assert.equal("\7example\4test\0", W.encode_name("example.test"))
      assert.equal("\7example\4test\0", W.encode_name("example.test."))
      assert.equal("\0", W.encode_name("."))
      assert.equal("\7example\4test\0", W.canonical_name("EXAMPLE.Test."))
      assert.same({ nil, "empty label in the name 'a..b'" }, { W.encode_name("a..b") })
      assert.same({ nil, "a label of '" .. ("x"):rep(64) .. ".test' is longer than 63 bytes" },
        { W.encode_name(("x"):rep(64) .. ".test") })
      local long = ("abcdefgh."):rep(28) .. "test"
      assert.same({ nil, "the name '" .. long .. "' is longer than 255 bytes" }, { W.encode_name(long) })
    end)

    it("follows compression pointers backwards only", function()
      local msg = "\7example\4test\0" .. "\3www\192\0"
      assert.same({ "www.example.test", #msg + 1 }, { W.decode_name(msg, 15) })
      -- a pointer to itself, and one forwards
      assert.same({ nil, "name pointer does not point backwards" }, { W.decode_name("\192\0", 1) })
      assert.same({ nil, "name pointer does not point backwards" }, { W.decode_name("\3www\192\6\0", 1) })
      assert.same({ nil, "label runs past the end of the message" }, { W.decode_name("\9abc", 1) })
    end)

    it("splits a long TXT value into strings of 255 bytes", function()
      local v = ("a"):rep(300)
      local rdata = W.txt_rdata(v)
      assert.equal(302, #rdata)
      assert.same({ ("a"):rep(255), ("a"):rep(45) }, W.txt_strings(rdata))
      assert.same({ "" }, W.txt_strings(W.txt_rdata("")))
    end)

    it("refuses truncated and padded messages", function()
      local ans = assert(W.query(1, "example.test", W.TYPE.SOA))
      assert(W.parse(ans))
      assert.same({ nil, "question runs past the end of the message" }, { W.parse(ans:sub(1, -2)) })
      assert.same({ nil, "trailing bytes after the last record" }, { W.parse(ans .. "\0") })
      assert.same({ nil, "message shorter than a DNS header" }, { W.parse("\0\1") })
    end)
  end)

  describe("TSIG", function()
    it("computes HMAC-MD5 as RFC 2104 and RFC 2202 say", function()
      assert.equal("9294727a3638bb1c13f48ef8158bfc9d", hex(T.hmac_md5(("\11"):rep(16), "Hi There")))
      assert.equal("750c783e6ab0b503eaa86e310a5db738", hex(T.hmac_md5("Jefe", "what do ya want for nothing?")))
      -- a key longer than the block is hashed first (RFC 2202 test 6)
      assert.equal("6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
        hex(T.hmac_md5(("\170"):rep(80), "Test Using Larger Than Block-Size Key - Hash Key First")))
    end)

    local function key_of(k)
      local s = assert(rfc.settings({ dns_rfc2136_server = "127.0.0.1", dns_rfc2136_name = k.name,
        dns_rfc2136_secret = k.secret, dns_rfc2136_algorithm = k.algorithm }, "spec.ini"))
      return s.key
    end

    -- A signed SOA query over TCP -> answer bytes, parsed, request MAC.
    local function signed_exchange(key, id)
      local msg, mac = T.sign(soa_query(id), key)
      assert(msg, mac)
      local s = assert(dnsnet.open("tcp", "127.0.0.1", ns.port))
      assert(s:send(msg))
      local ans = assert(s:recv())
      s:close()
      return ans, assert(W.parse(ans)), mac
    end

    for _, id in ipairs({ "md5", "sha256", "sha512" }) do
      it("signs queries BIND accepts and verifies its signed answers (" .. id .. ")", function()
        local key = key_of(ns.keys[id])
        local ans, m, mac = signed_exchange(key, 100)
        assert.equal(0, m.rcode)
        local t = assert(T.verify(ans, m, key, mac))
        assert.equal(0, t.error)
        assert.equal(100, t.original_id)
        -- a changed byte breaks the signature (the last one before the TSIG RR)
        local i = m.tsig.start - 1
        local bad = ans:sub(1, i - 1) .. string.char(ans:byte(i) ~ 1) .. ans:sub(i + 1)
        local bm = assert(W.parse(bad))
        local bok, berr = T.verify(bad, bm, key, mac)
        assert.is_nil(bok)
        assert.equal("the answer's TSIG signature does not verify", berr)
        -- so does another request MAC, or another secret
        assert.is_nil((T.verify(ans, m, key, ("\0"):rep(#mac))))
        local other = { name = key.name, alg = key.alg, secret = crypto.random_bytes(32) }
        assert.is_nil((T.verify(ans, m, other, mac)))
        -- and a clock too far off
        local ok, err = T.verify(ans, m, key, mac, sys.time() + 1000)
        assert.is_nil(ok)
        assert.matches("^the answer's TSIG time is 1?%d%d%d s off this host's clock$", err)
      end)
    end

    it("reads BIND's TSIG errors: BADSIG for a wrong secret, BADKEY for an unknown key", function()
      local key = key_of(ns.keys.sha256)
      key.secret = crypto.random_bytes(32)
      local ans, m, mac = signed_exchange(key, 200)
      assert.equal("NOTAUTH", W.RCODE[m.rcode])
      local ok, err, t = T.verify(ans, m, key, mac)
      assert.is_nil(ok)
      assert.equal("TSIG error BADSIG", err)
      assert.equal(16, t.error)
      key = key_of({ name = "nobody.", secret = ns.keys.sha256.secret, algorithm = "HMAC-SHA256" })
      ans, m, mac = signed_exchange(key, 201)
      ok, err = T.verify(ans, m, key, mac)
      assert.is_nil(ok)
      assert.equal("TSIG error BADKEY", err)
      -- an unsigned answer is not taken for a signed one
      local s = assert(dnsnet.open("udp", "127.0.0.1", ns.port))
      assert(s:send(soa_query(5)))
      local plain = assert(s:recv())
      s:close()
      assert.same({ nil, "the answer is not signed" }, { T.verify(plain, assert(W.parse(plain)), key, mac) })
    end)
  end)

  describe("exchanges", function()
    it("drops a datagram with another ID and takes the answer (UDP after TCP is refused)", function()
      local port = proc.free_ports(1)
      local f = assert(io.open(tmp .. "/udp.py", "w"))
      f:write(UDP_SERVER)
      f:close()
      local pid = proc.spawn({ "python3", tmp .. "/udp.py", tostring(port), "stray" })
      local ok, err = pcall(function()
        assert(proc.wait_until(function() return udp_listening(port) end, 10, 0.05), "no UDP server")
        local c = rfc.Client.new({ server = "127.0.0.1", port = port, key = {}, path = "x.ini", timeout = 3 })
        local q = soa_query(0x1234)
        local ans, m = c:exchange(q)
        assert(ans, m)
        assert.equal(0x1234, m.id)
        assert.is_true(m.qr)
        -- the query itself with QR set: not the stray datagram
        assert.equal(q:sub(1, 2), ans:sub(1, 2))
        assert.equal(q:byte(3) | 0x80, ans:byte(3))
        assert.equal(q:sub(4), ans:sub(4))
      end)
      proc.stop(pid)
      assert(ok, err)
    end)

    it("names the server and both transports when it cannot be reached", function()
      local port = proc.free_ports(1)
      local c = rfc.Client.new({ server = "127.0.0.1", port = port, key = {}, path = "x.ini", timeout = 2 })
      local ans, err = c:exchange(soa_query(3))
      assert.is_nil(ans)
      assert.equal(("cannot reach the DNS server 127.0.0.1:%d: over TCP: connect: Connection refused; "
        .. "over UDP: recv: Connection refused"):format(port), err)
    end)
  end)
end)
