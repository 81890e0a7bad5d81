-- IP address identifiers (RFC 8738).
--
-- Unit part (no tag): names.ip_address / ip_addresses / reverse_name, with
-- the C library (glibc's inet_pton/inet_ntop, through Debian's python3) and
-- python's ipaddress.reverse_pointer as judges.
--
-- Integration part: Pebble 2.4.0 issues for 127.0.0.1 and ::1 over
-- http-01 and over tls-alpn-01.  Pebble 2.4.0 takes "ip" identifiers,
-- offers both challenges for them, fetches http://[::1]:PORT/... for IPv6
-- (va.go fetchHTTP: net.JoinHostPort) and, for tls-alpn-01, dials the
-- address with the reverse-mapping name as SNI and wants exactly one
-- iPAddress SAN (va.go validateTLSALPN01: reverseaddr, IPAddresses), so
-- every case is proven against it; openssl s_client checks the responder
-- from outside as well.
local names = require("certbot.names")
local sys = require("certbot.core").sys

local PY = "/usr/bin/python3"

local function python(code, input)
  local rc, out, err = sys.run({ PY, "-c", code }, { "PATH=/usr/bin:/bin" }, { stdin = input or "" })
  assert(rc == 0, tostring(out) .. tostring(err))
  return out
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

describe("names: IP addresses", function()
  local V6 = {
    "::1", "::", "1::", "2001:DB8::1", "2001:db8:0:0:1:0:0:1", "2001:0db8:0000:0000:0000:0000:0000:0001",
    "1:0:0:2:0:0:0:3", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "0:2:3:4:5:6:7:8", "fe80::abcd:0:0:1",
    "64:ff9b::192.0.2.1", "2001:db8::0:1", "0:0:1:0:0:0:0:0", "a:0:0:b:0:0:0:c", "FFFF::FFFF",
  }

  it("writes IPv6 as RFC 5952 says, the text glibc's inet_ntop gives", function()
    local want = lines(python([[
import socket, sys
for a in sys.stdin.read().split():
    print(socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, a)))
]], table.concat(V6, "\n")))
    for i, a in ipairs(V6) do
      local got, kind = names.ip_address(a)
      assert.equal(want[i], got, a)
      assert.equal("ipv6", kind)
    end
    assert.equal("::1", names.ip_address("[::1]"))
    assert.equal("2001:db8::1", names.ip_address("[2001:DB8:0::1]"))
  end)

  it("takes IPv4 dotted quads as they are", function()
    for _, a in ipairs({ "127.0.0.1", "0.0.0.0", "255.255.255.255", "192.0.2.10" }) do
      assert.same({ a, "ipv4" }, { names.ip_address(a) })
    end
  end)

  it("refuses what is not one address, with one line naming the value", function()
    for value, why in pairs({
      ["1.2.3.256"] = "four decimal numbers 0-255",
      ["010.0.0.1"] = "without leading zeros",
      ["1.2.3"] = "four decimal numbers",
      ["fe80::1%eth0"] = "zone index",
      ["10.0.0.0/8"] = "not a network",
      ["2001:db8::/32"] = "not a network",
      ["::ffff:192.0.2.1"] = "use the IPv4 address 192.0.2.1 itself",
      ["::192.0.2.1"] = "use the IPv4 address 192.0.2.1 itself",
      ["[192.0.2.1]"] = "brackets are for IPv6 only",
      ["1::2::3"] = "neither IPv4 nor IPv6",
      ["1:2:3:4:5:6:7:8:9"] = "neither IPv4 nor IPv6",
      ["12345::1"] = "neither IPv4 nor IPv6",
      ["example.com"] = "neither IPv4 nor IPv6",
      [""] = "it is empty",
      ["a\nb"] = "neither IPv4 nor IPv6",
    }) do
      local ip, err = names.ip_address(value)
      assert.is_nil(ip, value)
      assert.matches("Invalid IP address '", err, 1, true)
      assert.matches(why, err, 1, true)
      assert.not_matches("\n", err)
    end
  end)

  it("splits commas, normalises and drops duplicates in order", function()
    assert.same({ "127.0.0.1", "::1", "2001:db8::1" },
      names.ip_addresses({ "127.0.0.1,::1", "0:0:0:0:0:0:0:1", "2001:DB8::1", "127.0.0.1" }))
    assert.same({}, names.ip_addresses({}))
    local ips, err = names.ip_addresses({ "127.0.0.1", "1.2.3.4.5" })
    assert.is_nil(ips)
    assert.matches("'1.2.3.4.5'", err, 1, true)
  end)

  it("gives the reverse-mapping name RFC 8738 §6 sends as SNI (as python's reverse_pointer)", function()
    local list = { "127.0.0.1", "192.0.2.10", "::1", "2001:db8::1", "fe80::abcd:0:0:1" }
    local want = lines(python([[
import ipaddress, sys
for a in sys.stdin.read().split():
    print(ipaddress.ip_address(a).reverse_pointer)
]], table.concat(list, "\n")))
    for i, a in ipairs(list) do assert.equal(want[i], names.reverse_name(a), a) end
    -- RFC 8738 §6's own example
    assert.equal("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
      names.reverse_name("2001:db8::1"))
  end)

  it("still sends -d with an address to --ip-address", function()
    local d, err = names.domain("127.0.0.1")
    assert.is_nil(d)
    assert.matches("Use --ip-address", err, 1, true)
  end)
end)

-- Everything below runs against Pebble and spawns the built executable.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local standalone = require("certbot.plugins.standalone")

local sh, q = helper.sh, proc.quote

local function sans(path)
  local _, out = sh(("openssl x509 -noout -ext subjectAltName -in %s"):format(q(path)))
  local t = {}
  for kind, v in out:gmatch("(%u[%w ]*):([^,%s]+)") do t[#t + 1] = kind .. ":" .. v end
  table.sort(t)
  return t
end

local function has_ipv6_loopback()
  return (proc.read("/proc/net/if_inet6") or ""):find("00000000000000000000000000000001", 1, true) ~= nil
end

local function log_of(cb) return proc.read(cb.logs_dir .. "/letsencrypt.log") or "" end

describe("IP certificates from Pebble #integration", function()
  local srv, cb, http_port, tls_port

  setup(function()
    http_port, tls_port = proc.free_ports(2)
    srv = pebble.start({ ports = { auto = true, http01 = http_port, tlsalpn01 = tls_port },
      env = { PEBBLE_AUTHZREUSE = "0" } })
  end)
  teardown(function()
    if srv then srv.stop() end
  end)
  before_each(function() cb = helper.new(srv) end)
  after_each(function() cb:cleanup() end)

  local function certonly(args)
    local argv = { "certonly", "--standalone", "--http-01-port", tostring(http_port),
      "--tls-alpn-01-port", tostring(tls_port) }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return cb:run(argv)
  end

  local CASES = {
    { ip = "127.0.0.1", san = "IP Address:127.0.0.1" },
    { ip = "::1", san = "IP Address:0:0:0:0:0:0:0:1", v6 = true },
  }
  for _, case in ipairs(CASES) do
    for _, chall in ipairs({ "http-01", "tls-alpn-01" }) do
      it(("issues for %s over %s; renew keeps the address"):format(case.ip, chall), function()
        if case.v6 and not has_ipv6_loopback() then
          pending("this host has no ::1")
          return
        end
        local address = chall == "http-01" and "--http-01-address" or "--tls-alpn-01-address"
        local code, out, err = certonly({ "--preferred-challenges", chall, address, case.ip,
          "--ip-address", case.ip })
        assert.equal(0, code, out .. err)
        -- the lineage is named after the address
        local p = cb:live(case.ip)
        assert.same({ case.san }, sans(p.cert))
        assert.matches("Requesting a certificate for " .. case.ip, out, 1, true)
        local log = log_of(cb)
        assert.matches(chall .. " challenge for " .. case.ip, log, 1, true)
        -- Pebble fetched from the address itself (IPv6 in brackets); its
        -- log names no tls-alpn-01 target, which the openssl case below covers
        if chall == "http-01" then
          assert.matches(("Attempting to validate w/ HTTP: http://%s:%d/.well-known/acme-challenge/")
            :format(case.v6 and "[::1]" or "127.0.0.1", http_port), srv.log(), 1, true)
        end
        local rc, vout = helper.verify_chain(cb, case.ip)
        assert.equal(0, rc, vout)
        -- renewal asks for the address again, with the stored settings
        -- (the address again: the spec's cli.ini says 127.0.0.1, and a
        -- cli.ini wins over the renewal conf, as in Certbot)
        code, out, err = cb:run({ "renew", "--force-renewal", "--cert-name", case.ip, address, case.ip })
        assert.equal(0, code, out .. err)
        assert.equal(("../../archive/%s/cert2.pem"):format(case.ip), sys.readlink(p.cert))
        assert.same({ case.san }, sans(p.cert))
      end)
    end
  end

  it("takes -d and --ip-address together, names first, and a normalised IPv6", function()
    if not has_ipv6_loopback() then
      pending("this host has no ::1")
      return
    end
    -- tls-alpn-01 on "::" (IPv4 too): one responder for a name and two addresses
    local code, out, err = certonly({ "--preferred-challenges", "tls-alpn-01",
      "--tls-alpn-01-address", "", "--ip-address", "0:0:0:0:0:0:0:1,127.0.0.1",
      "-d", "both.example", "--ip-address", "[::1]" })
    assert.equal(0, code, out .. err)
    local p = cb:live("both.example")
    assert.same({ "DNS:both.example", "IP Address:0:0:0:0:0:0:0:1", "IP Address:127.0.0.1" }, sans(p.cert))
    assert.matches("Requesting a certificate for both.example and 2 more domains", out, 1, true)
    -- the same request again is the same lineage (names and addresses compared)
    code, out, err = certonly({ "--preferred-challenges", "tls-alpn-01", "--tls-alpn-01-address", "",
      "-d", "both.example", "--ip-address", "127.0.0.1,::1" })
    assert.equal(0, code, out .. err)
    assert.matches("Certificate not yet due for renewal", out, 1, true)
    -- one address fewer is not the same certificate: a new lineage would
    -- need --duplicate or a name; here a subset asks to expand
    code, out, err = certonly({ "--preferred-challenges", "tls-alpn-01", "--tls-alpn-01-address", "",
      "-d", "both.example", "--ip-address", "127.0.0.1,::1,127.0.0.2" })
    assert.equal(1, code, out .. err)
    assert.matches("--expand", err, 1, true)
    assert.is_nil(sys.lstat(cb.config_dir .. "/live/both.example-0001"))
  end)

  it("refuses a bad address before anything is created or asked (exit 2, one line)", function()
    for _, bad in ipairs({ "127.0.0.256", "::ffff:127.0.0.1", "fe80::1%lo", "10.0.0.0/8", "localhost" }) do
      local code, out, err = certonly({ "--ip-address", bad })
      assert.equal(2, code, bad .. ": " .. out .. err)
      assert.matches("Invalid IP address '" .. bad .. "'", err, 1, true)
      assert.equal(1, #lines(err), err)
      assert.is_nil(sys.lstat(cb.config_dir .. "/accounts"), bad)
    end
  end)

  it("lists IP lineages in certificates --json with their addresses", function()
    local code, out, err = certonly({ "--preferred-challenges", "http-01", "--http-01-address",
      "127.0.0.1", "--ip-address", "127.0.0.1" })
    assert.equal(0, code, out .. err)
    code, out, err = cb:run({ "certificates", "--json" })
    assert.equal(0, code, out .. err)
    local doc = require("cjson").decode(out)
    assert.equal(1, #doc.certificates)
    assert.equal("127.0.0.1", doc.certificates[1].name)
    assert.same({}, doc.certificates[1].domains)
    assert.same({ "127.0.0.1" }, doc.certificates[1].ip_addresses)
  end)
end)

-- The tls-alpn-01 responder for an IP identifier, from outside: openssl
-- s_client sends the reverse name as SNI (as RFC 8738 §6 has the CA do).
describe("standalone tls-alpn-01 for an IP identifier, seen by openssl #integration", function()
  it("serves the iPAddress challenge certificate for the reverse name only", function()
    local port = proc.free_ports(1)
    local inst = standalone.new({ tls_alpn01_address = "127.0.0.1", tls_alpn01_port = port,
      http01_address = "127.0.0.1", http01_port = 0 })
    local ch = { type = "tls-alpn-01", token = "tok_en-1", key_authorization = "tok_en-1.thumb",
      identifier = { type = "ip", value = "::1" }, domain = "::1" }
    assert(inst:perform({ ch }))
    local ok, err = pcall(function()
      local function hello(sni)
        return sh(("openssl s_client -connect 127.0.0.1:%d -servername %s -alpn acme-tls/1 "
          .. "</dev/null 2>&1 | openssl x509 -noout -text 2>&1"):format(port, q(sni)))
      end
      local rev = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"
      local _, text = hello(rev)
      assert.matches("IP Address:0:0:0:0:0:0:0:1", text, 1, true)
      assert.matches("1.3.6.1.5.5.7.1.31: critical", text, 1, true)
      assert.not_matches("DNS:", text)
      -- the same name written with the root dot (RFC 8738's example form)
      _, text = hello(rev .. ".")
      assert.matches("IP Address:0:0:0:0:0:0:0:1", text, 1, true)
      -- the address itself is not a name anyone may send: no certificate
      _, text = hello("::1")
      assert.not_matches("IP Address", text)
    end)
    inst:cleanup({ ch })
    assert(ok, err)
  end)
end)
