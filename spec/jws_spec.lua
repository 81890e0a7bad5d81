-- certbot.core.jws: JWK, RFC 7638 thumbprints and JWS signatures, judged
-- by RFC vectors and the openssl command line.
local core = require("certbot.core")
local crypto, jws = core.crypto, core.jws

local dir

local function path(name) return dir .. "/" .. name end

local function write(name, data)
  local f = assert(io.open(path(name), "wb"))
  f:write(data)
  f:close()
end

local function read(name)
  local f = assert(io.open(path(name), "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function sh(cmd)
  local p = assert(io.popen("cd '" .. dir .. "' && (" .. cmd .. ") 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok == true
end

local function must(cmd)
  local out, ok = sh(cmd)
  assert(ok, cmd .. " failed:\n" .. out)
  return out
end

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local b64 = crypto.b64url_encode
local function unb64(s) return assert(crypto.b64url_decode(s)) end

-- A big-endian number in openssl's -text output ("name:\n    00:c3:..."),
-- as hex without leading zeros.
local function text_field(text, name)
  local block = text:match("\n" .. name .. ":%s*\n(.-)\n%a") or text:match("\n" .. name .. ":%s*\n(.*)")
  return (assert(block, name):gsub("[^%x]", ""):lower():gsub("^0+", ""))
end

local function strip0(h) return (h:lower():gsub("^0+", "")) end

-- DER for ECDSA-Sig-Value: SEQUENCE { INTEGER r, INTEGER s }, minimal.
local function der_len(n)
  if n < 128 then return string.char(n) end
  if n < 256 then return "\129" .. string.char(n) end
  return "\130" .. string.char(n >> 8, n & 255)
end
local function der_int(b)
  b = b:gsub("^\0+", "")
  if b == "" or b:byte(1) >= 0x80 then b = "\0" .. b end
  return "\2" .. der_len(#b) .. b
end
local function ecdsa_der(raw)
  local h = #raw // 2
  local body = der_int(raw:sub(1, h)) .. der_int(raw:sub(h + 1))
  return "\48" .. der_len(#body) .. body
end
-- ...and back to r || s, each size bytes.
local function ecdsa_raw(der, size)
  local pos = 2
  local function len()
    local b = der:byte(pos)
    pos = pos + 1
    if b < 128 then return b end
    local n = 0
    for _ = 1, b - 128 do
      n = n * 256 + der:byte(pos)
      pos = pos + 1
    end
    return n
  end
  len()
  local out = {}
  for i = 1, 2 do
    assert(der:byte(pos) == 2)
    pos = pos + 1
    local l = len()
    local v = der:sub(pos, pos + l - 1):gsub("^\0+", "")
    pos = pos + l
    out[i] = string.rep("\0", size - #v) .. v
  end
  return out[1] .. out[2]
end

-- RFC 7638 §3.1's example key.
local RFC7638_N = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPeb"
  .. "WKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAt"
  .. "aSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksIN"
  .. "HaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"

local keys = {}
local function key(kind)
  if not keys[kind] then
    if kind == "rsa" then
      keys[kind] = assert(crypto.generate_key("rsa", 2048))
    else
      keys[kind] = assert(crypto.generate_key("ec", kind))
    end
  end
  return keys[kind]
end

local CASES = {
  { kind = "rsa", alg = "RS256", dgst = "sha256" },
  { kind = "P-256", alg = "ES256", dgst = "sha256", size = 32 },
  { kind = "P-384", alg = "ES384", dgst = "sha384", size = 48 },
  { kind = "P-521", alg = "ES512", dgst = "sha512", size = 66 },
}

describe("core.jws #core", function()
  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -m 700 '" .. dir .. "'"))
  end)
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  describe("JWK", function()
    it("gives RFC 7638's example thumbprint", function()
      local k = assert(jws.key_from_jwk({ kty = "RSA", n = RFC7638_N, e = "AQAB", alg = "RS256", kid = "2011-04-29" }))
      assert.same({ type = "rsa", bits = 2048, private = false }, k:info())
      assert.equal("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", jws.thumbprint(k))
      assert.same({ kty = "RSA", n = RFC7638_N, e = "AQAB" }, jws.jwk(k))
    end)

    it("writes the RSA modulus openssl reads, without leading zeros", function()
      local k = key("rsa")
      write("k.pem", k:pem())
      local jwk = jws.jwk(k)
      local members = {}
      for m in pairs(jwk) do members[#members + 1] = m end
      table.sort(members)
      assert.same({ "e", "kty", "n" }, members)
      assert.equal("RSA", jwk.kty)
      assert.equal("AQAB", jwk.e)
      local n = unb64(jwk.n)
      assert.equal(256, #n)
      assert.not_equal(0, n:byte(1))
      assert.equal(must("openssl rsa -in k.pem -noout -modulus"):match("Modulus=(%x+)"):lower(), hex(n))
      assert.same(jwk, jws.jwk(assert(crypto.load_key(k:public_pem()))))
    end)

    for _, c in ipairs(CASES) do
      if c.size then
        it("writes " .. c.kind .. " coordinates at full length", function()
          local k = key(c.kind)
          local jwk = jws.jwk(k)
          assert.equal("EC", jwk.kty)
          assert.equal(c.kind, jwk.crv)
          assert.equal(c.size, #unb64(jwk.x))
          assert.equal(c.size, #unb64(jwk.y))
          write("k.pem", k:pem())
          local spki = must("openssl pkey -in k.pem -pubout -outform DER | od -An -tx1 -v | tr -d ' \\n'")
          assert.equal(spki:sub(-2 * (1 + 2 * c.size)), "04" .. hex(unb64(jwk.x)) .. hex(unb64(jwk.y)))
          -- RFC 7638 §3.2: members in order, no whitespace
          write("canon.json", string.format('{"crv":"%s","kty":"EC","x":"%s","y":"%s"}', jwk.crv, jwk.x, jwk.y))
          local digest = must("openssl dgst -sha256 -r canon.json"):match("^%x+")
          assert.equal(digest, hex(unb64(jws.thumbprint(k))))
        end)
      end
    end

    it("keeps short EC coordinates at full length (leading zero bytes)", function()
      -- about 1 in 128 P-256 keys has x or y below 2^248
      for _ = 1, 2000 do
        local k = assert(crypto.generate_key("ec", "P-256"))
        local jwk = jws.jwk(k)
        local x, y = unb64(jwk.x), unb64(jwk.y)
        if x:byte(1) == 0 or y:byte(1) == 0 then
          assert.equal(32, #x)
          assert.equal(32, #y)
          local back = assert(jws.key_from_jwk(jws.private_jwk(k)))
          assert.is_true(back:equals(k))
          assert.equal(32, #unb64(jws.private_jwk(k).d))
          return
        end
      end
      error("no key with a leading zero coordinate in 2000 tries")
    end)

    it("round-trips private keys through Certbot's private_key.json members", function()
      for _, c in ipairs(CASES) do
        local k = key(c.kind)
        local pj = jws.private_jwk(k)
        local members = {}
        for m in pairs(pj) do members[#members + 1] = m end
        table.sort(members)
        if c.kind == "rsa" then
          assert.same({ "d", "dp", "dq", "e", "kty", "n", "p", "q", "qi" }, members)
        else
          assert.same({ "crv", "d", "kty", "x", "y" }, members)
          assert.equal(c.size, #unb64(pj.d))
        end
        local back = assert(jws.key_from_jwk(pj))
        assert.is_true(back:equals(k))
        assert.is_true(back:info().private)
        assert.same(pj, jws.private_jwk(back))
        local sig = jws.sign(back, c.alg, "round.trip")
        assert.is_true(jws.verify(k, c.alg, "round.trip", sig))
        local pub = assert(jws.key_from_jwk(jws.jwk(k)))
        assert.is_false(pub:info().private)
        assert.is_true(pub:equals(k))
      end
    end)

    it("writes the private numbers openssl reads", function()
      local k = key("rsa")
      write("k.pem", k:pem())
      local text = must("openssl rsa -in k.pem -noout -text")
      local pj = jws.private_jwk(k)
      for m, field in pairs({ n = "modulus", d = "privateExponent", p = "prime1", q = "prime2",
                              dp = "exponent1", dq = "exponent2", qi = "coefficient" }) do
        assert.equal(text_field(text, field), strip0(hex(unb64(pj[m]))), m)
      end
      local e = key("P-384")
      write("e.pem", e:pem())
      text = must("openssl ec -in e.pem -noout -text")
      assert.equal(text_field(text, "priv"), strip0(hex(unb64(jws.private_jwk(e).d))))
    end)

    it("loads an RSA private JWK with d alone (RFC 7518 §6.3.2)", function()
      local k = key("rsa")
      local pj = jws.private_jwk(k)
      local back = assert(jws.key_from_jwk({ kty = "RSA", n = pj.n, e = pj.e, d = pj.d }))
      assert.is_true(back:info().private)
      assert.is_true(jws.verify(k, "RS256", "x", jws.sign(back, "RS256", "x")))
    end)

    it("refuses bad JWKs, naming the member", function()
      local rsa, other = jws.private_jwk(key("rsa")), jws.private_jwk(assert(crypto.generate_key("rsa", 2048)))
      local ec = jws.private_jwk(key("P-256"))
      local ec2 = jws.private_jwk(assert(crypto.generate_key("ec", "P-256")))
      local function with(t, changes)
        local c = {}
        for k, v in pairs(t) do c[k] = v end
        for k, v in pairs(changes) do c[k] = v ~= false and v or nil end
        return c
      end
      local y = unb64(ec.y)
      local cases = {
        { {}, "missing member 'kty'" },
        { { kty = "oct", k = "AAAA" }, "member 'kty': unsupported key type 'oct'" },
        { { kty = "RSA", e = "AQAB" }, "missing member 'n'" },
        { { kty = "RSA", n = 12345, e = "AQAB" }, "member 'n' is not a string" },
        { { kty = "RSA", n = rsa.n, e = "AQAB=" }, "member 'e'" },
        { { kty = "RSA", n = rsa.n, e = "" }, "member 'e' is empty" },
        { with(rsa, { q = false }), "lacks member 'q'" },
        { with(rsa, { d = false }), "lacks member 'd'" },
        { with(rsa, { d = other.d, p = false, q = false, dp = false, dq = false, qi = false }),
          "do not form a valid key" },
        { with(rsa, { p = other.p, q = other.q }), "do not form a valid key" },
        { with(ec, { crv = "P-192" }), "member 'crv': unsupported curve 'P-192'" },
        { with(ec, { crv = false }), "missing member 'crv'" },
        { with(ec, { x = b64("\1" .. unb64(ec.x)) }), "member 'x' is longer than 32 bytes" },
        { with(ec, { y = false }), "missing member 'y'" },
        { with(ec, { y = b64(y:sub(1, -2) .. string.char(y:byte(-1) ~ 1)), d = false }), "key_from_jwk: " },
        { with(ec, { d = ec2.d }), "do not form a valid key" },
        { with(ec, { d = "!!" }), "member 'd'" },
      }
      for _, c in ipairs(cases) do
        local k, err = jws.key_from_jwk(c[1])
        assert.is_nil(k, c[2])
        assert.matches(c[2], err, 1, true)
        assert.matches("^key_from_jwk: ", err)
      end
      assert.has_error(function() jws.key_from_jwk("not a table") end)
    end)
  end)

  describe("signatures", function()
    for _, c in ipairs(CASES) do
      it(c.alg .. " signatures verify with openssl dgst", function()
        local k = key(c.kind)
        assert.equal(c.alg, jws.alg(k))
        local input = b64('{"alg":"' .. c.alg .. '","nonce":"abc","url":"https://ca.example/new"}')
          .. "." .. b64('{"termsOfServiceAgreed":true}')
        local sig = jws.sign(k, c.alg, input)
        write("pub.pem", k:public_pem())
        write("input", input)
        if c.size then
          assert.equal(2 * c.size, #sig)
          write("sig", ecdsa_der(sig))
        else
          assert.equal(256, #sig)
          write("sig", sig)
        end
        local verify = "openssl dgst -" .. c.dgst .. " -verify pub.pem -signature sig input"
        assert.matches("Verified OK", must(verify), 1, true)
        write("input", input .. "x")
        local out, ok = sh(verify)
        assert.is_false(ok)
        assert.matches("Verification failure", out, 1, true)
        assert.is_true(jws.verify(k, c.alg, input, sig))
        assert.is_false(jws.verify(k, c.alg, input .. "x", sig))
        assert.is_false(jws.verify(k, c.alg, input, sig:sub(2)))
        assert.is_false(jws.verify(k, c.alg, input, ""))
      end)

      it(c.alg .. " verifies signatures openssl made", function()
        local k = key(c.kind)
        write("k.pem", k:pem())
        write("input", "header.payload")
        must("openssl dgst -" .. c.dgst .. " -sign k.pem -out osig input")
        local sig = read("osig")
        if c.size then sig = ecdsa_raw(sig, c.size) end
        assert.is_true(jws.verify(k, c.alg, "header.payload", sig))
        assert.is_true(jws.verify(assert(crypto.load_key(k:public_pem())), c.alg, "header.payload", sig))
        assert.is_false(jws.verify(k, c.alg, "header.payloaD", sig))
      end)
    end

    it("raises when the alg does not fit the key", function()
      local function msg(f, ...)
        local ok, err = pcall(f, ...)
        assert.is_false(ok)
        return err
      end
      assert.matches("ES384 needs an EC P-384 private key, got RSA private key",
        msg(jws.sign, key("rsa"), "ES384", "x"), 1, true)
      assert.matches("ES256 needs an EC P-256 private key, got EC P-521 private key",
        msg(jws.sign, key("P-521"), "ES256", "x"), 1, true)
      assert.matches("RS256 needs an RSA private key, got EC P-256 private key",
        msg(jws.sign, key("P-256"), "RS256", "x"), 1, true)
      local pub = assert(crypto.load_key(key("rsa"):public_pem()))
      assert.matches("RS256 needs an RSA private key, got RSA public key",
        msg(jws.sign, pub, "RS256", "x"), 1, true)
      assert.matches("ES256 needs an EC P-256 key, got RSA public key",
        msg(jws.verify, pub, "ES256", "x", "y"), 1, true)
      assert.matches("unknown JWS alg 'HS256'", msg(jws.sign, key("rsa"), "HS256", "x"), 1, true)
      assert.matches("unknown JWS alg 'none'", msg(jws.verify, key("rsa"), "none", "x", ""), 1, true)
      msg(jws.sign, "not a key", "RS256", "x")
    end)

    it("MACs for External Account Binding", function()
      -- RFC 4231 test case 2
      assert.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        hex(jws.hmac_sign("HS256", "Jefe", "what do ya want for nothing?")))
      local keybytes = "\0\1\2\255binary\0key"
      write("input", "protected.payload")
      for alg, md in pairs({ HS256 = "sha256", HS384 = "sha384", HS512 = "sha512" }) do
        local want = must("openssl dgst -" .. md .. " -mac HMAC -macopt hexkey:" .. hex(keybytes) .. " -r input")
        assert.equal(want:match("^%x+"), hex(jws.hmac_sign(alg, keybytes, "protected.payload")))
      end
      assert.has_error(function() jws.hmac_sign("HS1", "k", "x") end)
      assert.has_error(function() jws.hmac_sign("RS256", "k", "x") end)
    end)
  end)
end)
