-- The standalone plugin against a real Pebble, on this spec's own
-- validation ports: http-01 and tls-alpn-01 in one order, the guide's old
-- tls-sni-01 and --standalone-supported-challenges spellings (command line
-- and renewal conf), and the default listening address.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local sys = require("certbot.core").sys

local sh, q = helper.sh, proc.quote

local function sans(path)
  local _, out = sh(("openssl x509 -noout -ext subjectAltName -in %s"):format(q(path)))
  local t = {}
  for kind, v in out:gmatch("(%u[%w ]*):([^,%s]+)") do t[#t + 1] = kind .. ":" .. v end
  table.sort(t)
  return t
end

local function log_of(cb) return proc.read(cb.logs_dir .. "/letsencrypt.log") or "" end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

-- The lines of `text` that contain `needle`.
local function count(text, needle)
  local n = 0
  for _, l in ipairs(lines(text)) do
    if l:find(needle, 1, true) then n = n + 1 end
  end
  return n
end

describe("standalone: challenges per name, old spellings, default address #integration", function()
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

  it("answers tls-alpn-01 for the names and the address of one order", function()
    -- tls-alpn-01 first: for DNS names, and (RFC 8738 §6) for an IP address too
    local args = { "certonly", "--standalone", "--preferred-challenges", "tls-alpn-01,http-01",
      "--http-01-port", tostring(http_port), "--tls-alpn-01-port", tostring(tls_port),
      "--tls-alpn-01-address", "127.0.0.1", "-d", "mixed.example.org",
      "-d", "www.mixed.example.org", "--ip-address", "127.0.0.1" }
    local code, out, err = cb:run(args)
    assert.equal(0, code, out .. err)
    local log = log_of(cb)
    assert.matches("tls%-alpn%-01 challenge for mixed%.example%.org", log)
    assert.matches("tls%-alpn%-01 challenge for www%.mixed%.example%.org", log)
    assert.matches("tls%-alpn%-01 challenge for 127%.0%.0%.1", log)
    assert.equal(0, count(log, "Listening for http-01"))
    assert.equal(1, count(log, "Listening for tls-alpn-01 on 127.0.0.1:" .. tls_port))
    local p = cb:live("mixed.example.org")
    assert.same({ "DNS:mixed.example.org", "DNS:www.mixed.example.org", "IP Address:127.0.0.1" },
      sans(p.cert))
    -- the choice is stored, and renew makes it again
    local conf = cb:read("renewal/mixed.example.org.conf")
    assert.matches("\npref_challs = tls%-alpn%-01, http%-01\n", conf)
  end)

  it("answers tls-alpn-01 for names and address again when renewing such an order", function()
    local args = { "certonly", "--standalone", "--preferred-challenges", "tls-alpn-01,http-01",
      "--http-01-port", tostring(http_port), "--tls-alpn-01-port", tostring(tls_port),
      "--tls-alpn-01-address", "127.0.0.1", "-d", "remix.example.org", "--ip-address", "127.0.0.1" }
    local code, out, err = cb:run(args)
    assert.equal(0, code, out .. err)
    code, out, err = cb:run({ "renew", "--force-renewal", "--cert-name", "remix.example.org" })
    assert.equal(0, code, out .. err)
    local p = cb:live("remix.example.org")
    assert.equal("../../archive/remix.example.org/cert2.pem", sys.readlink(p.cert))
    assert.same({ "DNS:remix.example.org", "IP Address:127.0.0.1" }, sans(p.cert))
    local log = log_of(cb)
    assert.matches("tls%-alpn%-01 challenge for remix%.example%.org", log)
    assert.matches("tls%-alpn%-01 challenge for 127%.0%.0%.1", log)
  end)

  it("takes the guide's tls-sni-01 options with a one-line notice each, end to end", function()
    local code, out, err = cb:run({ "certonly", "--standalone",
      "--standalone-supported-challenges", "tls-sni-01", "--tls-sni-01-port", tostring(tls_port),
      "--tls-sni-01-address", "127.0.0.1", "-d", "old.example.org" })
    assert.equal(0, code, out .. err)
    for _, notice in ipairs({
      "Use of --standalone-supported-challenges is deprecated. Use --preferred-challenges.",
      "The tls-sni-01 challenge is retired; using tls-alpn-01 instead.",
      "Use of --tls-sni-01-port is deprecated. It now sets --tls-alpn-01-port",
      "Use of --tls-sni-01-address is deprecated. It now sets --tls-alpn-01-address",
    }) do
      assert.equal(1, count(err, notice), notice .. "\n" .. err)
    end
    -- nothing else on stderr: each notice is one line
    assert.equal(4, #lines(err), err)
    local log = log_of(cb)
    assert.matches("tls%-alpn%-01 challenge for old%.example%.org", log)
    assert.equal(1, count(log, "Listening for tls-alpn-01 on 127.0.0.1:" .. tls_port))
    -- stored under today's names
    local conf = cb:read("renewal/old.example.org.conf")
    assert.matches("\npref_challs = tls%-alpn%-01,\n", conf)
    assert.matches("\ntls_alpn01_port = " .. tls_port .. "\n", conf)
    assert.matches("\ntls_alpn01_address = 127%.0%.0%.1\n", conf)
    assert.not_matches("sni", conf)

    -- --preferred-challenges tls-sni (the guide's spelling) works the same
    code, out, err = cb:run({ "certonly", "--standalone", "--preferred-challenges", "tls-sni",
      "--tls-alpn-01-port", tostring(tls_port), "--tls-alpn-01-address", "127.0.0.1",
      "-d", "sni.example.org" })
    assert.equal(0, code, out .. err)
    assert.equal(1, count(err, "The tls-sni-01 challenge is retired; using tls-alpn-01 instead."), err)
    assert.equal(1, #lines(err), err)
    assert.matches("tls%-alpn%-01 challenge for sni%.example%.org", log_of(cb))
  end)

  it("renews from a renewal conf that Certbot wrote with tls-sni-01 settings", function()
    local code, out, err = cb:run({ "certonly", "--standalone", "--preferred-challenges",
      "tls-alpn-01", "--tls-alpn-01-port", tostring(tls_port), "--tls-alpn-01-address",
      "127.0.0.1", "-d", "legacy.example.org" })
    assert.equal(0, code, out .. err)
    -- as an old Certbot had it: the retired challenge and option names
    local path = cb.config_dir .. "/renewal/legacy.example.org.conf"
    local conf = cb:read("renewal/legacy.example.org.conf")
    conf = conf:gsub("\npref_challs = tls%-alpn%-01,\n", "\nstandalone_supported_challenges = tls-sni-01\n")
      :gsub("\ntls_alpn01_port = ", "\ntls_sni_01_port = ")
      :gsub("\ntls_alpn01_address = ", "\ntls_sni_01_address = ")
    assert.matches("tls_sni_01_port", conf)
    assert(sys.write_atomic(path, conf, 420))
    code, out, err = cb:run({ "renew", "--force-renewal", "--cert-name", "legacy.example.org" })
    assert.equal(0, code, out .. err)
    assert.equal("../../archive/legacy.example.org/cert2.pem",
      sys.readlink(cb:live("legacy.example.org").cert))
    local log = log_of(cb)
    assert.matches("tls%-alpn%-01 challenge for legacy%.example%.org", log)
    assert.equal(1, count(log, "Listening for tls-alpn-01 on 127.0.0.1:" .. tls_port))
    -- the notice, once, on one line
    assert.equal(1, count(err, "tls-sni-01"), err)
    assert.equal(1, #lines(err), err)
  end)

  it("listens on every address by default (\"::\", IPv4 too) and Pebble validates over IPv4", function()
    local v6 = (proc.read("/proc/net/if_inet6") or ""):find("00000000000000000000000000000001", 1, true)
    local code, out, err = cb:run({ "certonly", "--standalone", "--preferred-challenges",
      "http-01,tls-alpn-01", "--http-01-address", "", "--http-01-port", tostring(http_port),
      "-d", "any.example.org" })
    assert.equal(0, code, out .. err)
    assert.equal(1, count(log_of(cb), ("Listening for http-01 on %s:%d")
      :format(v6 and "[::]" or "0.0.0.0", http_port)), log_of(cb))
    code, out, err = cb:run({ "certonly", "--standalone", "--preferred-challenges", "tls-alpn-01",
      "--tls-alpn-01-port", tostring(tls_port), "-d", "any-tls.example.org" })
    assert.equal(0, code, out .. err)
    assert.equal(1, count(log_of(cb), ("Listening for tls-alpn-01 on %s:%d")
      :format(v6 and "[::]" or "0.0.0.0", tls_port)), log_of(cb))
  end)

  it("names the address and port when the default address cannot be bound", function()
    local holder = assert(require("certbot.core").standalone.http01({ address = "127.0.0.1",
      port = 0 }))
    local port = select(2, holder:address())
    local code, out, err = cb:run({ "certonly", "--standalone", "--http-01-address", "",
      "--http-01-port", tostring(port), "-d", "busy.example.org" })
    holder:stop()
    assert.equal(1, code, out .. err)
    local v6 = (proc.read("/proc/net/if_inet6") or ""):find("00000000000000000000000000000001", 1, true)
    assert.matches(("could not bind to %s:%d: Address already in use")
      :format(v6 and "[::]" or "0.0.0.0", port), err, 1, true)
    assert.equal(1, #lines(err), err)
  end)
end)
