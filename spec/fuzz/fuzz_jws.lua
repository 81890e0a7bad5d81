-- spec/fuzz/fuzz_jws.lua: the driver of fuzz_jws (see fuzz_lua.h).
--
-- One input is base64url text, a JWK, or a JWS (flattened JSON or
-- compact), as an account's private_key.json, an EAB key or a peer's JWS
-- would hold it.  It goes to crypto.b64url_decode, jws.key_from_jwk (every
-- member decoded and checked, the key rebuilt and its parts tested for
-- agreement), and jws.verify with the key the JWS header carries.
--
-- Must hold (besides no crash, leak or sanitizer report):
--  - b64url_decode is strict: what it accepts, b64url_encode gives back
--    byte for byte;
--  - a key key_from_jwk accepts gives a JWK (jws.jwk) that key_from_jwk
--    reads back as the same public key, and a thumbprint;
--  - verify answers true or false; signing with a private key read from
--    a JWK verifies.
local core = require("certbot.core")
local json = require("cjson.safe")

local crypto, jws = core.crypto, core.jws

local function broken(why) error({ broken = why }) end

local function try(f, ...)
  local ok, a, b = pcall(f, ...)
  if not ok then broken("raised: " .. tostring(a)) end
  return a, b
end

local function b64(s)
  local d = try(crypto.b64url_decode, s)
  if d and crypto.b64url_encode(d) ~= s then broken("b64url_decode accepts a non-canonical " .. s) end
  return d
end

local function check_key(jwk)
  local key = try(jws.key_from_jwk, jwk)
  if not key then return nil end
  local pub = try(jws.jwk, key)
  local back = try(jws.key_from_jwk, pub)
  if not back or not key:equals(back) then broken("jwk(key_from_jwk(x)) does not read back") end
  if type(try(jws.thumbprint, key)) ~= "string" then broken("no thumbprint") end
  local alg = try(jws.alg, key)
  if key:info().private then
    local sig = try(jws.sign, key, alg, "input")
    if try(jws.verify, back, alg, "input", sig) ~= true then broken("a signature does not verify") end
  end
  return key, alg
end

local function check_jws(protected, payload, signature)
  local ph = type(protected) == "string" and b64(protected)
  local header = ph and json.decode(ph)
  local sig = type(signature) == "string" and b64(signature)
  if type(payload) == "string" then b64(payload) end
  if type(header) ~= "table" or type(header.jwk) ~= "table" or not sig then return end
  local key, alg = check_key(header.jwk)
  if not key or header.alg ~= alg then return end
  local v = try(jws.verify, key, alg, protected .. "." .. tostring(payload), sig)
  if type(v) ~= "boolean" then broken("verify did not answer true or false") end
end

local function run(input)
  b64(input)
  local doc = json.decode(input)
  if type(doc) == "table" then
    if doc.kty ~= nil then check_key(doc) end
    if doc.protected ~= nil then check_jws(doc.protected, doc.payload, doc.signature) end
  else
    local p, pl, s = input:match("^([^.]*)%.([^.]*)%.([^.]*)$")
    if p then check_jws(p, pl, s) end
  end
end

return function(input)
  local ok, err = pcall(run, input)
  if ok then return true end
  if type(err) == "table" and err.broken then return false, err.broken end
  return false, "Lua error: " .. tostring(err)
end
