-- spec/fuzz/fuzz_pem.lua: the driver of fuzz_pem (see fuzz_lua.h).
--
-- One input is a PEM bundle, or DER, as a CA, a chain file or a lineage's
-- cert.pem holds it.  It goes to split_pem, and it and every block
-- split_pem finds go to the X.509 readers of csrc/crypto.c: parse_cert
-- (d2i_X509, SAN, CN, serial, AKI), cert_not_after and cert_validity (the
-- hand-written DER walks of the no-op renew), ari_cert_id, pem_to_der,
-- cert_matches_key, and load_key and read_csr, which share the PEM reader.
--
-- Must hold (besides no crash, leak or sanitizer report):
--  - split_pem gives whole "-----BEGIN CERTIFICATE-----" ...
--    "-----END CERTIFICATE-----\n" blocks, each found in the input;
--  - cert_validity, cert_not_after and parse_cert agree on the dates of a
--    certificate they read (they decide when a lineage renews; one may
--    refuse a mangled file another reads: cert_not_after decodes only
--    what it needs, cert_validity checks the whole framing);
--  - cert_validity's "no OCSP responder named" holds for parse_cert too;
--  - pem_to_der of der_to_pem(d) is d.
local core = require("certbot.core")

local crypto = core.crypto

local KEY = assert(crypto.generate_key("ec", "P-256"))
local BEGIN, END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----\n"

-- f(...) -> the values when it returned any, or nil; raising (a misuse of
-- the API by the driver, never by the input) is a broken property.
local function call(what, f, ...)
  local res = table.pack(pcall(f, ...))
  if not res[1] then error({ broken = what .. " raised: " .. tostring(res[2]) }) end
  return table.unpack(res, 2, res.n)
end

local function check(ok, why)
  if not ok then error({ broken = why }) end
end

local function one_cert(x)
  local na = call("cert_not_after", crypto.cert_not_after, x)
  local vb, va, names_ocsp = call("cert_validity", crypto.cert_validity, x)
  local pc = call("parse_cert", crypto.parse_cert, x)
  if vb then
    check(math.type(vb) == "integer" and math.type(va) == "integer", "cert_validity: not integers")
    check(na == nil or na == va, ("cert_validity says notAfter %s, cert_not_after %s"):format(va, na))
  end
  if pc and vb then
    check(pc.not_before == vb and pc.not_after == va, ("parse_cert says %s..%s, cert_validity %s..%s")
      :format(pc.not_before, pc.not_after, vb, va))
    -- "names no OCSP responder" lets a renew skip parse_cert: it must be so
    check(names_ocsp ~= false or pc.ocsp_url == nil,
      "cert_validity says no OCSP OID, parse_cert found " .. tostring(pc.ocsp_url))
  end
  if pc then
    check(type(pc.der) == "string" and type(pc.serial) == "string", "parse_cert: no der or serial")
    check(type(pc.dns) == "table" and type(pc.ips) == "table", "parse_cert: no name lists")
    local id = call("ari_cert_id", crypto.ari_cert_id, x)
    if id then check(id:match("^[%w_-]*%.[%w_-]*$"), "ari_cert_id: not two base64url parts: " .. id) end
    call("cert_matches_key", crypto.cert_matches_key, x, KEY)
    local pem = call("der_to_pem", crypto.der_to_pem, pc.der, "CERTIFICATE")
    check(call("pem_to_der", crypto.pem_to_der, pem, "CERTIFICATE") == pc.der, "PEM round trip")
  end
end

local function run(input)
  local blocks, err = call("split_pem", crypto.split_pem, input)
  if blocks then
    local from = 1
    for _, b in ipairs(blocks) do
      check(b:sub(1, #BEGIN) == BEGIN and b:sub(-#END) == END, "split_pem: not a whole block")
      local at = input:find(b:sub(1, -2), from, true)
      check(at ~= nil, "split_pem: a block that is not in the input, in order")
      from = at + #b - 1
      one_cert(b)
    end
  else
    check(type(err) == "string", "split_pem: nil without a message")
  end
  one_cert(input)
  call("pem_to_der", crypto.pem_to_der, input)
  call("load_key", crypto.load_key, input)
  call("read_csr", crypto.read_csr, input)
  return true
end

return function(input)
  local ok, err = pcall(run, input)
  if ok then return true end
  if type(err) == "table" and err.broken then return false, err.broken end
  error(err, 0)
end
