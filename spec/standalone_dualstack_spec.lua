-- core.standalone, both responders: the default address ("" -> "::" with
-- IPV6_V6ONLY off, so one socket answers IPv4 and IPv6), explicit
-- 127.0.0.1 and ::1, and bind failures that name address and port.
-- High ports from proc.free_ports.  Judges: curl, openssl s_client, ss(8).
local core = require("certbot.core")
local proc = require("spec.helpers.proc")
local standalone = require("certbot.plugins.standalone")
local sa = core.standalone

local NOSAN = "env -u LD_PRELOAD "
local TOKEN = "tok_EN-123abc"
local KEYAUTH = TOKEN .. ".thumbprint_Xyz-0"
local NAME = "dual.example.org"

local function sh(cmd)
  local f = assert(io.popen(NOSAN .. cmd .. " 2>&1"))
  local out = f:read("a")
  local ok, _, code = f:close()
  return out, ok and 0 or code
end

local function has_ipv6_loopback()
  local data = proc.read("/proc/net/if_inet6") or ""
  return data:find("00000000000000000000000000000001", 1, true) ~= nil
end

-- host: "127.0.0.1" or "::1".  -> what answered: the body for http-01, the
-- certificate PEM for tls-alpn-01; nil when nothing did.
local function fetch(kind, host, port)
  local hp = host:find(":", 1, true) and ("[" .. host .. "]:" .. port) or (host .. ":" .. port)
  if kind == "http01" then
    local out, code = sh(("curl -s -g --max-time 5 'http://%s/.well-known/acme-challenge/%s'")
      :format(hp, TOKEN))
    return code == 0 and out or nil
  end
  local out = sh(("timeout 10 openssl s_client -connect %s -servername %s -alpn acme-tls/1 "
    .. "</dev/null"):format(hp, NAME))
  return out:match("%-%-%-%-%-BEGIN CERTIFICATE%-%-%-%-%-.-%-%-%-%-%-END CERTIFICATE%-%-%-%-%-\n")
end

-- The listening sockets on port, as ss shows their local address.
local function listeners(port)
  local out = sh("ss -ltnH")
  local t = {}
  for line in out:gmatch("[^\n]+") do
    local l = line:match("^%S+%s+%S+%s+%S+%s+(%S+)")
    if l and l:match(":(%d+)$") == tostring(port) then t[#t + 1] = l end
  end
  table.sort(t)
  return t
end

for _, kind in ipairs({ "http01", "tlsalpn01" }) do
  describe("core.standalone." .. kind .. " addresses #core", function()
    local r, expect

    -- a responder of this kind with the challenge set
    local function start(opts)
      local resp, err = sa[kind](opts)
      if not resp then return nil, err end
      if kind == "http01" then
        assert(resp:set(TOKEN, KEYAUTH))
      else
        local der, key = assert(standalone.challenge_cert(NAME, KEYAUTH))
        assert(resp:set(NAME, der, key))
        expect = core.crypto.der_to_pem(der, "CERTIFICATE")
      end
      return resp
    end

    local function want()
      return kind == "http01" and KEYAUTH or expect
    end

    after_each(function()
      if r then r:stop() end
      r = nil
    end)

    it("listens on one dual-stack socket by default; IPv4 and IPv6 both answer", function()
      local port = proc.free_ports(1)
      r = assert(start({ port = port }))
      local addr, p = r:address()
      assert.equal(port, p)
      assert.equal(want(), fetch(kind, "127.0.0.1", port))
      if has_ipv6_loopback() then
        assert.equal("::", addr)
        assert.equal(want(), fetch(kind, "::1", port))
        -- one socket, on the IPv6 wildcard
        assert.same({ "*:" .. port }, listeners(port))
      else
        assert.equal("0.0.0.0", addr)
        assert.same({ "0.0.0.0:" .. port }, listeners(port))
      end
    end)

    it("listens on 127.0.0.1 only when asked", function()
      local port = proc.free_ports(1)
      r = assert(start({ address = "127.0.0.1", port = port }))
      assert.equal("127.0.0.1", (r:address()))
      assert.equal(want(), fetch(kind, "127.0.0.1", port))
      if has_ipv6_loopback() then assert.is_nil(fetch(kind, "::1", port)) end
      assert.same({ "127.0.0.1:" .. port }, listeners(port))
    end)

    it("listens on ::1 only when asked", function()
      if not has_ipv6_loopback() then
        pending("no IPv6 loopback here")
        return
      end
      local port = proc.free_ports(1)
      r = assert(start({ address = "::1", port = port }))
      assert.equal("::1", (r:address()))
      assert.equal(want(), fetch(kind, "::1", port))
      assert.is_nil(fetch(kind, "127.0.0.1", port))
      assert.same({ "[::1]:" .. port }, listeners(port))
    end)

    it("names address and port when the default address cannot be bound", function()
      local port = proc.free_ports(1)
      -- something holds the IPv4 side of the port
      r = assert(start({ address = "127.0.0.1", port = port }))
      local r2, err = start({ port = port })
      assert.is_nil(r2)
      local shown = has_ipv6_loopback() and ("[::]:" .. port) or ("0.0.0.0:" .. port)
      assert.equal(("could not bind to %s: Address already in use"):format(shown), err)
      -- and the other way round: the wildcard holds it, 127.0.0.1 cannot have it
      r:stop()
      r = assert(start({ port = port }))
      r2, err = start({ address = "127.0.0.1", port = port })
      assert.is_nil(r2)
      assert.equal(("could not bind to 127.0.0.1:%d: Address already in use"):format(port), err)
      if has_ipv6_loopback() then
        r2, err = start({ address = "::1", port = port })
        assert.is_nil(r2)
        assert.equal(("could not bind to [::1]:%d: Address already in use"):format(port), err)
      end
      -- the holder still answers
      assert.equal(want(), fetch(kind, "127.0.0.1", port))
    end)
  end)
end
