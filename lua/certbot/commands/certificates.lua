-- certificates: list the lineages in Certbot's format.
--
--   - - - - ... (79 characters)
--   Found the following certs:
--     Certificate Name: example.com
--       Serial Number: 3a8f...
--       Key Type: ECDSA
--       Domains: example.com www.example.com
--       Expiry Date: 2024-03-01 12:00:00+00:00 (VALID: 89 days)
--       Certificate Path: /etc/letsencrypt/live/example.com/fullchain.pem
--       Private Key Path: /etc/letsencrypt/live/example.com/privkey.pem
--   - - - - ...
--
-- --cert-name and -d filter ("Found the following matching certs:"): a
-- lineage is shown when its name is the one given and its certificate
-- holds every -d name.  Lineages that cannot be read are listed at the end
-- under "The following renewal configurations were invalid:".
--
-- --json: the same lineages (same filters) as one JSON object on standard
-- output, with the account each lineage uses, its server, plugins and
-- paths besides (docs/json.md).  The human listing stays Certbot's, field
-- for field: the account is not added there (show_account lists the
-- lineages of an account).
--
-- Fast over many lineages: each renewal conf and each live cert file is
-- read once, and the fields come from a walk over the certificate's DER
-- (crypto.parse_cert also checks the self-signature and decodes the key
-- through OpenSSL's providers: ~0.4 ms a certificate, a hundred times the
-- walk).
--
-- Revocation, as Certbot checks it: a certificate that has not expired and
-- names an OCSP responder is asked about (certbot.ocsp, 10 s timeout, one
-- HTTP client for the run); a verified "revoked" answer shows as
-- "INVALID: REVOKED", and a failed check as no verdict at all.  Whether a
-- certificate names a responder is a scan of the DER we hold anyway, so
-- the many that name none (Let's Encrypt dropped OCSP URLs in 2025) cost
-- nothing more.

local ari = require("certbot.ari")
local core = require("certbot.core")
local display = require("certbot.display")
local json = require("certbot.json")
local log = require("certbot.log")
local obtain = require("certbot.obtain")
local ocsp = require("certbot.ocsp")
local storage = require("certbot.storage")

local crypto, sys = core.crypto, core.sys

local M = {}

-- Certbot's display frame.
M.FRAME = ("- "):rep(39) .. "-"

-- The --json document's format_version (docs/json.md).
M.FORMAT_VERSION = 1

---------------------------------------------------------------------------
-- The fields of a certificate, from its DER
---------------------------------------------------------------------------

local function bad() error("unexpected DER", 0) end

-- One TLV at pos, inside [pos, limit]: tag, first and last content byte.
local function tlv(s, pos, limit)
  local tag, len = s:byte(pos, pos + 1)
  if not len or pos + 1 > limit or tag & 0x1f == 0x1f then bad() end
  local hdr = 2
  if len >= 0x80 then
    local nb = len & 0x7f
    if nb == 0 or nb > 3 then bad() end
    len = 0
    for i = 1, nb do len = len * 256 + (s:byte(pos + 1 + i) or bad()) end
    hdr = hdr + nb
  end
  local first = pos + hdr
  local last = first + len - 1
  if last > limit then bad() end
  return tag, first, last
end

-- Iterator over the elements inside [first, last].
local function children(s, first, last)
  local pos = first
  return function()
    if pos > last then return nil end
    local tag, a, b = tlv(s, pos, last)
    pos = b + 1
    return tag, a, b
  end
end

local function expect(tag, want)
  if tag ~= want then bad() end
end

local OID_CN = "\x55\x04\x03"     -- 2.5.4.3
local OID_SAN = "\x55\x1d\x11"    -- 2.5.29.17
local KEY_TYPES = {
  ["\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"] = "RSA",   -- rsaEncryption
  ["\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0a"] = "RSA",   -- RSASSA-PSS
  ["\x2a\x86\x48\xce\x3d\x02\x01"] = "ECDSA",         -- id-ecPublicKey
}
-- UTF8String, PrintableString, T61String, IA5String: bytes as they are
local PLAIN_STRINGS = { [0x0c] = true, [0x13] = true, [0x14] = true, [0x16] = true }

-- walk(der) -> { serial, cn, dns, key_type }; raises on anything it does
-- not expect (the caller then asks OpenSSL).
local function walk(der)
  local tag, a, b = tlv(der, 1, #der)
  expect(tag, 0x30)
  tag, a, b = tlv(der, a, b) -- tbsCertificate
  expect(tag, 0x30)
  local field = children(der, a, b)
  tag, a, b = field()
  if tag == 0xa0 then tag, a, b = field() end -- version
  expect(tag, 0x02)
  local sbytes = der:sub(a, b)
  if sbytes == "" or sbytes:byte(1) >= 0x80 then bad() end -- negative serial
  local serial
  if #sbytes <= 64 then -- one format call rather than one per byte
    serial = ("%02x"):rep(#sbytes):format(sbytes:byte(1, -1)):gsub("^0+", "")
  else
    serial = sbytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end):gsub("^0+", "")
  end
  if serial == "" then serial = "0" end
  for _ = 1, 3 do expect(field(), 0x30) end -- signature, issuer, validity
  tag, a, b = field() -- subject
  expect(tag, 0x30)
  local cn
  for st, sa, sb in children(der, a, b) do
    expect(st, 0x31)
    for at, aa, ab in children(der, sa, sb) do
      expect(at, 0x30)
      local attr = children(der, aa, ab)
      local ot, oa, ob = attr()
      expect(ot, 0x06)
      if not cn and der:sub(oa, ob) == OID_CN then
        local vt, va, vb = attr()
        if not PLAIN_STRINGS[vt] then bad() end
        cn = der:sub(va, vb)
      end
    end
  end
  tag, a, b = field() -- subjectPublicKeyInfo
  expect(tag, 0x30)
  tag, a, b = children(der, a, b)() -- algorithm
  expect(tag, 0x30)
  tag, a, b = children(der, a, b)()
  expect(tag, 0x06)
  local key_type = KEY_TYPES[der:sub(a, b)] or bad()
  local dns = {}
  for ft, fa, fb in field do -- issuerUniqueID, subjectUniqueID, extensions
    if ft == 0xa3 then
      local et, ea, eb = tlv(der, fa, fb)
      expect(et, 0x30)
      for xt, xa, xb in children(der, ea, eb) do
        expect(xt, 0x30)
        local ext = children(der, xa, xb)
        local ot, oa, ob = ext()
        expect(ot, 0x06)
        if der:sub(oa, ob) == OID_SAN then
          local vt, va, vb = ext()
          if vt == 0x01 then vt, va, vb = ext() end -- critical
          expect(vt, 0x04)
          local gt, ga, gb = tlv(der, va, vb)
          expect(gt, 0x30)
          for nt, na, nb in children(der, ga, gb) do
            if nt == 0x82 then
              dns[#dns + 1] = der:sub(na, nb)
            elseif nt == 0x87 then
              bad() -- IP addresses: OpenSSL prints them
            end
          end
        end
      end
    end
  end
  return { serial = serial, cn = cn, dns = dns, key_type = key_type }
end

-- The key type from the private key, as Certbot reads it (slow path only).
local function key_type_of(lineage, version)
  local pem = lineage:read("privkey", version)
  local key = pem and crypto.load_key(pem)
  if not key then return nil end
  local t = key:info().type
  return t == "rsa" and "RSA" or t == "ec" and "ECDSA" or tostring(t):upper()
end

-- describe(lineage, version, pem[, der]) -> { serial, names, key_type } | nil, err
function M.describe(lineage, version, pem, der)
  local err
  if not der then der, err = crypto.pem_to_der(pem) end
  local ok, info = false, nil
  if der then ok, info = pcall(walk, der) end
  if not ok then
    local p, perr = crypto.parse_cert(pem)
    if not p then return nil, perr or err end
    info = { serial = p.serial:lower(), cn = p.cn, dns = p.dns or {}, ips = p.ips,
      key_type = key_type_of(lineage, version) or "unknown" }
  end
  -- Certbot's names(): the first CN, then the SANs other than it
  local names = {}
  if info.cn then names[1] = info.cn end
  for _, d in ipairs(info.dns) do
    if d ~= info.cn then names[#names + 1] = d end
  end
  local ips, is_ip = {}, {}
  for _, ip in ipairs(info.ips or {}) do
    names[#names + 1] = ip
    ips[#ips + 1] = ip
    is_ip[ip] = true
  end
  -- for --json: the DNS names (CN first, as in Domains:) and the addresses
  local dns = {}
  for _, n in ipairs(names) do
    if not is_ip[n] then dns[#dns + 1] = n end
  end
  return { serial = info.serial, names = names, key_type = info.key_type, dns = dns, ips = ips }
end

---------------------------------------------------------------------------
-- The listing
---------------------------------------------------------------------------

-- Certbot's status: "VALID: 89 days", "VALID: 1 day", "VALID: 5 hour(s)",
-- "INVALID: TEST_CERT, EXPIRED", "INVALID: REVOKED".  An expired
-- certificate is not said to be revoked (its revocation is not checked).
function M.status(not_after, now, test_cert, revoked)
  local reasons = {}
  if test_cert then reasons[#reasons + 1] = "TEST_CERT" end
  if not_after <= now then
    reasons[#reasons + 1] = "EXPIRED"
  elseif revoked then
    reasons[#reasons + 1] = "REVOKED"
  end
  if #reasons > 0 then return "INVALID: " .. table.concat(reasons, ", ") end
  local diff = not_after - now
  local days = math.floor(diff / 86400)
  if days == 1 then return "VALID: 1 day" end
  if days < 1 then
    return ("VALID: %d hour(s)"):format(math.floor(diff - days * 86400) // 3600)
  end
  return ("VALID: %d days"):format(days)
end

function M.expiry_text(not_after)
  return os.date("!%Y-%m-%d %H:%M:%S", not_after) .. "+00:00"
end

-- The --json object of one lineage (docs/json.md).
local function json_entry(l, d, not_after, now, revoked, version)
  local p = l.params
  local function str(v) return type(v) == "string" and v ~= "" and v or json.null end
  local test_cert = obtain.is_test_cert(l)
  return {
    name = l.name,
    serial = d.serial,
    key_type = d.key_type,
    domains = json.array(d.dns),
    ip_addresses = json.array(d.ips),
    not_after = json.time(not_after),
    status = not_after <= now and "expired" or revoked and "revoked" or "valid",
    test_cert = test_cert and true or false,
    version = version,
    paths = {
      cert = str(l.conf.keys.cert), chain = str(l.conf.keys.chain),
      fullchain = str(l.conf.keys.fullchain), privkey = str(l.conf.keys.privkey),
    },
    renewal_conf = l.conf_path,
    account = str(p.account),
    server = str(p.server),
    authenticator = str(p.authenticator),
    installer = str(p.installer),
  }
end

-- After "Expiry Date", when renew learned anything from the CA about this
-- certificate (certbot.ari): "Renewal Window (ARI): <start> to <end>;
-- renewal planned for <moment>[; see <explanationURL>]" and, after a
-- refused order, "Renewal Held Until: <time>".  Indented "Key: value"
-- lines like their neighbours, so scripts that read Certbot's blocks by
-- their keys keep working; a lineage renew knows nothing about shows
-- exactly Certbot's block.
local function entry(l, d, not_after, now, revoked, pem)
  local ari_lines = pem and ari.describe(l, pem, now)
  return ("  Certificate Name: %s\n    Serial Number: %s\n    Key Type: %s\n    Domains: %s\n"
    .. "    Expiry Date: %s (%s)\n%s    Certificate Path: %s\n    Private Key Path: %s"):format(
    l.name, d.serial, d.key_type, table.concat(d.names, " "),
    M.expiry_text(not_after), M.status(not_after, now, obtain.is_test_cert(l), revoked),
    ari_lines and (ari_lines .. "\n") or "",
    tostring(l.conf.keys.fullchain), tostring(l.conf.keys.privkey))
end

-- The live cert of a lineage whose four links point into its archive.
-- -> pem, version, chain_version | nil, err
local function live_cert(l)
  local v = l.backend:live_versions(l.name)
  for _, k in ipairs(storage.KINDS) do
    if not v[k] then
      return nil, ("expected %s to be a symlink into %s"):format(l.paths[k], l.backend:archive_dir(l.name))
    end
  end
  local pem, err = l:read("cert", v.cert)
  if not pem then return nil, err end
  return pem, v.cert, v.chain
end

-- Revoked, by its OCSP responder?  Only for a certificate that has not
-- expired and names a responder; checker.client is made on first use, and
-- checker.down lists the responders that did not answer (asked once).
local function revoked(checker, l, der, chain_version, not_after, now)
  if not_after <= now or not ocsp.may_have_url(der) then return false end
  if checker.client == nil then checker.client, checker.down = ocsp.client() or false, {} end
  return (ocsp.lineage_revoked(l, der, chain_version, { client = checker.client or nil, down = checker.down }))
end

-- Certbot sorts the renewal conf file names.
-- (The file names are made once per entry, not once per comparison.)
local function sort_by_conf_name(list)
  local key = {}
  for i = 1, #list do key[list[i]] = list[i].name .. ".conf" end
  table.sort(list, function(x, y) return key[x] < key[y] end)
end

-- report(backend, config, now[, as_json]) -> the text inside the frame, or
-- with as_json the --json object (a table) instead.
function M.report(backend, config, now, as_json)
  local all = storage.all(backend)
  local lineages, broken = {}, {}
  for _, l in ipairs(all.lineages) do lineages[#lineages + 1] = l end
  for _, b in ipairs(all.broken) do broken[#broken + 1] = b end
  sort_by_conf_name(lineages)

  local want_name = config.certname
  local want_domains = config.domains and #config.domains > 0 and config.domains or nil
  local entries, parsed, checker = {}, 0, {}
  local items = as_json and json.array() or nil
  for _, l in ipairs(lineages) do
    local pem, version, chain_version = live_cert(l)
    local not_after, err
    if pem then not_after, err = crypto.cert_not_after(pem) else err = version end
    local d, der
    if not_after and not (want_name and l.name ~= want_name) then
      der = crypto.pem_to_der(pem)
      d, err = M.describe(l, version, pem, der)
      if not d then not_after = nil end
    end
    if not_after then
      parsed = parsed + 1
      local show = d ~= nil
      if show and want_domains then
        local have = {}
        for _, n in ipairs(d.names) do have[n] = true end
        for _, w in ipairs(want_domains) do
          if not have[w] then show = false end
        end
      end
      if show then
        local rev = revoked(checker, l, der or pem, chain_version, not_after, now)
        if items then
          items[#items + 1] = json_entry(l, d, not_after, now, rev, version)
        else
          entries[#entries + 1] = entry(l, d, not_after, now, rev, pem)
        end
      end
    else
      broken[#broken + 1] = { name = l.name, path = l.conf_path, error = err }
    end
  end
  if checker.client then checker.client:close() end
  sort_by_conf_name(broken)

  for _, b in ipairs(broken) do
    local why = tostring(b.error)
    if why:sub(1, #b.path + 1) == b.path .. ":" then
      -- "path: why" or "path:12: why" -> "why" or "line 12: why"
      local rest = why:sub(#b.path + 2)
      local n, msg = rest:match("^(%d+): (.*)$")
      why = n and ("line %s: %s"):format(n, msg) or rest:gsub("^%s+", "")
    end
    display.warn(("Renewal configuration file %s produced an unexpected error: %s. Skipping.")
      :format(b.path, why))
    log.debug("%s: %s", b.path, tostring(b.error))
  end

  if items then
    local invalid = json.array()
    for _, b in ipairs(broken) do
      invalid[#invalid + 1] = { name = b.name, renewal_conf = b.path, error = tostring(b.error) }
    end
    return { format_version = M.FORMAT_VERSION, certificates = items, invalid = invalid }
  end

  local out = {}
  if parsed == 0 and #broken == 0 then
    out[1] = "No certificates found."
  else
    if parsed > 0 then
      local matching = (want_name or want_domains) and "matching " or ""
      out[#out + 1] = ("Found the following %scerts:"):format(matching)
      out[#out + 1] = table.concat(entries, "\n")
    end
    if #broken > 0 then
      out[#out + 1] = "\nThe following renewal configurations were invalid:"
      local paths = {}
      for _, b in ipairs(broken) do paths[#paths + 1] = "  " .. b.path end
      out[#out + 1] = table.concat(paths, "\n")
    end
  end
  return table.concat(out, "\n")
end

function M.run(config)
  display.setup(config)
  local ctx = obtain.context(config)
  if config.json then
    io.stdout:write(json.encode(M.report(ctx.backend, config, sys.time(), true)), "\n")
    io.stdout:flush()
    return 0
  end
  local text = M.report(ctx.backend, config, sys.time())
  display.notify("\n" .. M.FRAME .. "\n" .. text .. "\n" .. M.FRAME)
  return 0
end

return M
