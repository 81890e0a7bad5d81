-- dns-rfc2136: dns-01 through RFC 2136 dynamic updates signed with TSIG
-- (RFC 8945), to any standard DNS server (BIND, Knot, PowerDNS...).
--
-- The credentials INI file holds Certbot's keys:
--   dns_rfc2136_server = 192.0.2.1        (an IPv4 or IPv6 address, not a hostname)
--   dns_rfc2136_port = 53                 (optional)
--   dns_rfc2136_name = keyname.           (the TSIG key's name)
--   dns_rfc2136_secret = 4q4wM/2I180U...  (its secret, base64)
--   dns_rfc2136_algorithm = HMAC-SHA512   (optional; HMAC-MD5 by default, as in Certbot)
--   dns_rfc2136_sign_query = false        (optional; sign the SOA queries too)
--
-- The zone of a record is found as Certbot finds it: an SOA query (without
-- recursion) for the record's name and each parent in turn; the first name
-- with an authoritative SOA answer is the zone.  Queries and updates go over
-- TCP and fall back to UDP when TCP cannot be used.  Every signed answer's
-- TSIG is verified before it is believed.
--
-- The DNS messages are built and parsed here (the `wire` and `tsig` tables
-- below); core.dnsnet only carries the bytes.
local core = require("certbot.core")
local dns = require("certbot.dns")
local log = require("certbot.log")

local crypto, dnsnet, sys = core.crypto, core.dnsnet, core.sys
local spack, sunpack, byte, char = string.pack, string.unpack, string.byte, string.char

---------------------------------------------------------------------------
-- The wire format (RFC 1035 §4, RFC 2136 §2)
---------------------------------------------------------------------------

local W = {}

W.TYPE = { A = 1, NS = 2, CNAME = 5, SOA = 6, TXT = 16, AAAA = 28, OPT = 41, TSIG = 250, ANY = 255 }
W.CLASS = { IN = 1, NONE = 254, ANY = 255 }
W.OPCODE = { QUERY = 0, UPDATE = 5 }
W.RCODE = { [0] = "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
  "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE" }
-- TSIG error field (RFC 8945 §3)
W.TSIG_ERROR = { [16] = "BADSIG", [17] = "BADKEY", [18] = "BADTIME", [22] = "BADTRUNC" }

local QR, AA, TC, RD = 0x8000, 0x0400, 0x0200, 0x0100

-- A name in text form without the final dot, lowercase: how names are
-- compared here (DNS names compare without regard to ASCII case).
function W.norm(name)
  return (tostring(name):gsub("%.$", ""):lower())
end

-- encode_name("example.test") -> "\7example\4test\0" | nil, err
function W.encode_name(name)
  name = tostring(name):gsub("%.$", "")
  if name == "" then return "\0" end
  local parts, total = {}, 1
  for label in (name .. "."):gmatch("([^.]*)%.") do
    if #label == 0 then return nil, ("empty label in the name '%s'"):format(name) end
    if #label > 63 then return nil, ("a label of '%s' is longer than 63 bytes"):format(name) end
    parts[#parts + 1] = char(#label) .. label
    total = total + 1 + #label
  end
  if total > 255 then return nil, ("the name '%s' is longer than 255 bytes"):format(name) end
  return table.concat(parts) .. "\0"
end

-- The canonical (lowercase, uncompressed) wire form TSIG signs.
function W.canonical_name(name)
  return W.encode_name(W.norm(name))
end

-- decode_name(msg, pos) -> name (no final dot; "" for the root), next pos | nil, err
-- Follows compression pointers, each strictly backwards (no loops).
function W.decode_name(msg, pos)
  local labels, total = {}, 1
  local after -- where the name ends in the message (after the first pointer)
  local limit = pos
  while true do
    local len = byte(msg, pos)
    if not len then return nil, "name runs past the end of the message" end
    if len == 0 then
      return table.concat(labels, "."), after or pos + 1
    elseif len >= 0xC0 then
      local b2 = byte(msg, pos + 1)
      if not b2 then return nil, "name pointer runs past the end of the message" end
      local target = ((len & 0x3F) << 8 | b2) + 1
      if target >= limit then return nil, "name pointer does not point backwards" end
      after = after or pos + 2
      pos, limit = target, target
    elseif len >= 0x40 then
      return nil, "unknown label type in a name"
    else
      local label = msg:sub(pos + 1, pos + len)
      if #label < len then return nil, "label runs past the end of the message" end
      total = total + len + 1
      if total > 255 then return nil, "name longer than 255 bytes" end
      labels[#labels + 1] = label
      pos = pos + 1 + len
    end
  end
end

-- TXT RDATA: the value as <character-string>s of at most 255 bytes.
function W.txt_rdata(value)
  local out = {}
  local i = 1
  repeat
    local chunk = value:sub(i, i + 254)
    out[#out + 1] = char(#chunk) .. chunk
    i = i + 255
  until i > #value
  return table.concat(out)
end

-- txt_strings(rdata) -> { "string", ... } | nil, err
function W.txt_strings(rdata)
  local out, pos = {}, 1
  while pos <= #rdata do
    local n = byte(rdata, pos)
    local s = rdata:sub(pos + 1, pos + n)
    if #s < n then return nil, "TXT string runs past its RDATA" end
    out[#out + 1] = s
    pos = pos + 1 + n
  end
  return out
end

-- rr(name, type, class, ttl, rdata) -> wire bytes | nil, err
function W.rr(name, rtype, class, ttl, rdata)
  local n, err = W.encode_name(name)
  if not n then return nil, err end
  return n .. spack(">I2I2I4s2", rtype, class, ttl, rdata)
end

-- message{id=, flags=, question={{name,type,class}}, answer={wire...},
--   authority={wire...}, additional={wire...}} -> bytes | nil, err
-- Sections other than the question hold RRs already encoded by W.rr.
function W.message(m)
  local parts = { spack(">I2I2I2I2I2I2", m.id, m.flags or 0, #(m.question or {}), #(m.answer or {}),
    #(m.authority or {}), #(m.additional or {})) }
  for _, q in ipairs(m.question or {}) do
    local n, err = W.encode_name(q[1])
    if not n then return nil, err end
    parts[#parts + 1] = n .. spack(">I2I2", q[2], q[3] or W.CLASS.IN)
  end
  for _, sec in ipairs({ m.answer or {}, m.authority or {}, m.additional or {} }) do
    for _, r in ipairs(sec) do parts[#parts + 1] = r end
  end
  return table.concat(parts)
end

-- A query without recursion (Certbot clears RD for its SOA lookups).
function W.query(id, name, qtype, rd)
  return W.message({ id = id, flags = (W.OPCODE.QUERY << 11) | (rd and RD or 0),
    question = { { name, qtype, W.CLASS.IN } } })
end

-- An UPDATE of zone (RFC 2136 §2): the zone section holds zone SOA IN, the
-- update section the given RRs; no prerequisites.
function W.update(id, zone, updates)
  return W.message({ id = id, flags = W.OPCODE.UPDATE << 11,
    question = { { zone, W.TYPE.SOA, W.CLASS.IN } }, authority = updates })
end

local function parse_rr(msg, pos)
  local name, p = W.decode_name(msg, pos)
  if not name then return nil, p end
  if p + 9 > #msg then return nil, "resource record runs past the end of the message" end
  local rtype, class, ttl, rdlen = sunpack(">I2I2I4I2", msg, p)
  local rstart = p + 10
  if rstart + rdlen - 1 > #msg then return nil, "RDATA runs past the end of the message" end
  return { name = name, type = rtype, class = class, ttl = ttl,
    rdata = msg:sub(rstart, rstart + rdlen - 1), rdata_pos = rstart, start = pos },
    rstart + rdlen
end

-- parse(msg) -> m | nil, err
-- m: id, flags, qr, opcode, aa, tc, rcode (with the EDNS/TSIG-free 4 bits),
-- question = {{name=, type=, class=}}, answer/authority/additional = {rr},
-- tsig = the TSIG RR when it is the last additional record, with
-- tsig.start its offset in msg.
function W.parse(msg)
  if type(msg) ~= "string" or #msg < 12 then return nil, "message shorter than a DNS header" end
  local id, flags, qd, an, ns, ar = sunpack(">I2I2I2I2I2I2", msg)
  local m = { id = id, flags = flags, qr = flags & QR ~= 0, opcode = (flags >> 11) & 0xF,
    aa = flags & AA ~= 0, tc = flags & TC ~= 0, rcode = flags & 0xF,
    question = {}, answer = {}, authority = {}, additional = {} }
  local pos = 13
  for _ = 1, qd do
    local name, p = W.decode_name(msg, pos)
    if not name then return nil, p end
    if p + 3 > #msg then return nil, "question runs past the end of the message" end
    local qtype, qclass = sunpack(">I2I2", msg, p)
    m.question[#m.question + 1] = { name = name, type = qtype, class = qclass }
    pos = p + 4
  end
  for _, sec in ipairs({ { m.answer, an }, { m.authority, ns }, { m.additional, ar } }) do
    for _ = 1, sec[2] do
      local rr, p = parse_rr(msg, pos)
      if not rr then return nil, p end
      sec[1][#sec[1] + 1] = rr
      pos = p
    end
  end
  if pos ~= #msg + 1 then return nil, "trailing bytes after the last record" end
  for i, rr in ipairs(m.additional) do
    if rr.type == W.TYPE.TSIG then
      if i ~= #m.additional then return nil, "TSIG record is not the last one" end
      m.tsig = rr
    end
  end
  return m
end

---------------------------------------------------------------------------
-- TSIG (RFC 8945)
---------------------------------------------------------------------------

local T = {}

local FUDGE = 300

-- Certbot's algorithm names -> the TSIG algorithm name and the digest.
T.ALGORITHMS = {
  ["HMAC-MD5"] = { name = "hmac-md5.sig-alg.reg.int", digest = "md5" },
  ["HMAC-SHA1"] = { name = "hmac-sha1", digest = "sha1" },
  ["HMAC-SHA224"] = { name = "hmac-sha224", digest = "sha224" },
  ["HMAC-SHA256"] = { name = "hmac-sha256", digest = "sha256" },
  ["HMAC-SHA384"] = { name = "hmac-sha384", digest = "sha384" },
  ["HMAC-SHA512"] = { name = "hmac-sha512", digest = "sha512" },
}
T.DEFAULT_ALGORITHM = "HMAC-MD5"

local function xor_pad(key, pad)
  local out = {}
  for i = 1, 64 do out[i] = char((byte(key, i) or 0) ~ pad) end
  return table.concat(out)
end

-- HMAC-MD5 (RFC 2104) over the core's MD5, for servers that still use it.
function T.hmac_md5(key, data)
  if #key > 64 then key = crypto.md5(key) end
  return crypto.md5(xor_pad(key, 0x5c) .. crypto.md5(xor_pad(key, 0x36) .. data))
end

-- hmac(digest, key, data) -> mac | nil, err (a digest this build lacks)
function T.hmac(digest, key, data)
  if digest == "md5" then return T.hmac_md5(key, data) end
  local ok, mac = pcall(crypto.hmac, digest, key, data)
  if not ok or type(mac) ~= "string" then return nil, "HMAC-" .. digest:upper() .. " is not available" end
  return mac
end

-- The TSIG variables that follow the message in what is signed (§4.3.3).
local function variables(key_name, alg_name, time, fudge, err, other)
  return W.canonical_name(key_name) .. spack(">I2I4", W.CLASS.ANY, 0) .. W.canonical_name(alg_name)
    .. spack(">I6I2I2s2", time, fudge, err, other or "")
end

-- sign(msg, key, time) -> signed message, request MAC | nil, err
-- key: { name=, alg = T.ALGORITHMS entry, secret = bytes }.
function T.sign(msg, key, time)
  time = time or math.floor(sys.time())
  local id = sunpack(">I2", msg)
  local mac, err = T.hmac(key.alg.digest, key.secret, msg .. variables(key.name, key.alg.name, time, FUDGE, 0))
  if not mac then return nil, err end
  local rdata = W.canonical_name(key.alg.name) .. spack(">I6I2s2I2I2s2", time, FUDGE, mac, id, 0, "")
  local rr, rerr = W.rr(W.norm(key.name), W.TYPE.TSIG, W.CLASS.ANY, 0, rdata)
  if not rr then return nil, rerr end
  local arcount = sunpack(">I2", msg, 11)
  return msg:sub(1, 10) .. spack(">I2", arcount + 1) .. msg:sub(13) .. rr, mac
end

-- parse_rdata(rr, msg) -> { alg=, time=, fudge=, mac=, original_id=, error=, other= } | nil, err
function T.parse_rdata(rr, msg)
  local stop = rr.rdata_pos + #rr.rdata -- one past the RDATA
  local alg, p = W.decode_name(msg, rr.rdata_pos)
  if not alg then return nil, p end
  if p + 10 > stop then return nil, "TSIG RDATA too short" end
  local time, fudge, macsize = sunpack(">I6I2I2", msg, p)
  local q = p + 10
  if q + macsize + 6 > stop then return nil, "TSIG RDATA too short" end
  local mac = msg:sub(q, q + macsize - 1)
  q = q + macsize
  local orig, err, olen = sunpack(">I2I2I2", msg, q)
  q = q + 6
  if q + olen ~= stop then return nil, "TSIG RDATA has a wrong length" end
  return { alg = alg, time = time, fudge = fudge, mac = mac, original_id = orig, error = err,
    other = msg:sub(q, q + olen - 1) }
end

-- verify(msg, m, key, request_mac, now) -> tsig fields | nil, err, tsig
-- msg: the answer's bytes; m: W.parse(msg).  Checks the key and algorithm
-- names, the MAC over request MAC + answer + variables (§4.3.3), and the
-- time.  An answer carrying a TSIG error is returned as nil, err, tsig.
function T.verify(msg, m, key, request_mac, now)
  local rr = m.tsig
  if not rr then return nil, "the answer is not signed" end
  local t, perr = T.parse_rdata(rr, msg)
  if not t then return nil, perr end
  if W.norm(rr.name) ~= W.norm(key.name) then
    return nil, ("the answer is signed with another key (%s)"):format(rr.name), t
  end
  if W.norm(t.alg) ~= W.norm(key.alg.name) then
    return nil, ("the answer is signed with another algorithm (%s)"):format(t.alg), t
  end
  if t.error ~= 0 then
    return nil, "TSIG error " .. (W.TSIG_ERROR[t.error] or tostring(t.error)), t
  end
  if #t.mac == 0 then return nil, "the answer's TSIG carries no MAC", t end
  -- the answer as it was before the TSIG RR was added: original ID,
  -- ARCOUNT one less, without the TSIG RR
  local arcount = sunpack(">I2", msg, 11)
  local signed = spack(">I2", t.original_id) .. msg:sub(3, 10) .. spack(">I2", arcount - 1)
    .. msg:sub(13, rr.start - 1)
  local data = spack(">s2", request_mac or "") .. signed
    .. variables(rr.name, t.alg, t.time, t.fudge, t.error, t.other)
  local mac, herr = T.hmac(key.alg.digest, key.secret, data)
  if not mac then return nil, herr, t end
  if not crypto.consttime_equal(mac, t.mac) then
    return nil, "the answer's TSIG signature does not verify", t
  end
  now = now or sys.time()
  if math.abs(now - t.time) > t.fudge then
    return nil, ("the answer's TSIG time is %d s off this host's clock"):format(math.floor(now - t.time)), t
  end
  return t
end

---------------------------------------------------------------------------
-- Credentials
---------------------------------------------------------------------------

local KEY = "dns_rfc2136_"

-- Standard base64 (whitespace allowed, as in Certbot's example secret).
local function base64_decode(s)
  s = s:gsub("%s+", "")
  local body, pad = s:match("^([A-Za-z0-9+/]*)(=*)$")
  if not body or #pad > 2 or (#body + #pad) % 4 ~= 0 or #body == 0 then return nil end
  return crypto.b64url_decode((body:gsub("[+/]", { ["+"] = "-", ["/"] = "_" })))
end

local function is_ipv4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return false end
  for _, x in ipairs({ a, b, c, d }) do
    if #x > 3 or tonumber(x) > 255 then return false end
  end
  return true
end

local function is_ipv6(s)
  local addr = s:match("^([%x:.]+)%%[%w_.-]+$") or s
  if not addr:find(":", 1, true) or not addr:match("^[%x:.]+$") then return false end
  if select(2, addr:gsub("::", "")) > 1 or addr:find(":::", 1, true) then return false end
  if addr:match("^:[^:]") or addr:match("[^:]:$") then return false end
  local v4 = addr:match(":(%d+%.[%d.]*)$") -- an embedded IPv4 address at the end
  if v4 then
    if not is_ipv4(v4) then return false end
    addr = addr:sub(1, -#v4 - 1) .. "0:0"
  end
  local groups = 0
  for g in addr:gmatch("[^:]+") do
    if #g > 4 or not g:match("^%x+$") then return false end
    groups = groups + 1
  end
  return addr:find("::", 1, true) and groups < 8 or groups == 8
end

local BOOLEAN = { ["true"] = true, yes = true, on = true, ["1"] = true,
  ["false"] = false, no = false, off = false, ["0"] = false }

-- settings(creds, path) -> { server, port, key = {name, alg, secret}, sign_query } | nil, err
local function settings(creds, path)
  local missing = {}
  for _, k in ipairs({ "server", "name", "secret" }) do
    if (creds[KEY .. k] or "") == "" then missing[#missing + 1] = '"' .. KEY .. k .. '"' end
  end
  if #missing > 0 then
    return nil, ("Missing %s %s in credentials configuration file %s"):format(
      #missing == 1 and "property" or "properties", table.concat(missing, ", "), path)
  end
  local server = creds[KEY .. "server"]
  if not is_ipv4(server) and not is_ipv6(server) then
    return nil, ("The configured target DNS server (%s) is not a valid IPv4 or IPv6 address. A hostname "
      .. "is not allowed. (%sserver in %s)"):format(server, KEY, path)
  end
  local port = 53
  if (creds[KEY .. "port"] or "") ~= "" then
    port = math.tointeger(tonumber(creds[KEY .. "port"]))
    if not port or port < 1 or port > 65535 then
      return nil, ("%sport in %s must be a port number from 1 to 65535"):format(KEY, path)
    end
  end
  local alg_text = creds[KEY .. "algorithm"]
  if alg_text == nil or alg_text == "" then alg_text = T.DEFAULT_ALGORITHM end
  local alg = T.ALGORITHMS[alg_text:upper()]
  if not alg then
    return nil, ("Unknown algorithm: %s. (%salgorithm in %s; one of HMAC-MD5, HMAC-SHA1, HMAC-SHA224, "
      .. "HMAC-SHA256, HMAC-SHA384, HMAC-SHA512)"):format(alg_text, KEY, path)
  end
  if not T.hmac(alg.digest, "k", "d") then
    return nil, ("%salgorithm %s in %s is not supported by this build; use HMAC-SHA256 or HMAC-SHA512")
      :format(KEY, alg_text:upper(), path)
  end
  local secret = base64_decode(creds[KEY .. "secret"])
  if not secret then
    return nil, ("%ssecret in %s is not valid base64"):format(KEY, path)
  end
  local name = creds[KEY .. "name"]
  if not W.encode_name(name) or W.norm(name) == "" then
    return nil, ("%sname in %s is not a valid key name"):format(KEY, path)
  end
  local sign_query = false
  local sq = creds[KEY .. "sign_query"]
  if sq and sq ~= "" then
    sign_query = BOOLEAN[sq:lower()]
    if sign_query == nil then
      return nil, ("%ssign_query in %s must be true or false"):format(KEY, path)
    end
  end
  return { server = server, port = port, sign_query = sign_query, path = path,
    key = { name = W.norm(name), alg = alg, secret = secret, alg_text = alg_text:upper() } }
end

---------------------------------------------------------------------------
-- The client
---------------------------------------------------------------------------

local Client = {}
Client.__index = Client
Client.__tostring = function(c) return "rfc2136 client for " .. c.label end

-- Seconds a query or an update may take over each transport (Certbot's
-- default network timeout).
Client.TIMEOUT = 45

-- new(s) -> client; s from settings().
function Client.new(s)
  local label = s.server:find(":", 1, true) and ("[%s]:%d"):format(s.server, s.port)
    or ("%s:%d"):format(s.server, s.port)
  return setmetatable({ server = s.server, port = s.port, key = s.key, sign_query = s.sign_query,
    path = s.path, label = label, zones = {}, timeout = s.timeout or Client.TIMEOUT }, Client)
end

local function new_id()
  return (sunpack(">I2", crypto.random_bytes(2)))
end

-- Send msg over one transport and wait for the answer with the same ID
-- (over UDP, datagrams with another ID or that are not answers are dropped).
-- -> answer bytes | nil, err, code
local function exchange_over(self, proto, msg, id)
  local s, err, code = dnsnet.open(proto, self.server, self.port, { timeout = self.timeout })
  if not s then return nil, err, code end
  local ok
  ok, err, code = s:send(msg)
  if not ok then
    s:close()
    return nil, err, code
  end
  local deadline = sys.monotonic() + self.timeout
  while true do
    local left = deadline - sys.monotonic()
    if left <= 0 then
      s:close()
      return nil, ("dns %s/%s: no answer (timed out)"):format(self.label, proto), "timeout"
    end
    local ans
    ans, err, code = s:recv(left)
    if not ans then
      s:close()
      return nil, err, code
    end
    local aid, flags = sunpack(">I2I2", ans)
    if aid == id and flags & QR ~= 0 then
      s:close()
      return ans
    end
    if proto == "tcp" then
      s:close()
      return nil, ("dns %s/tcp: the answer has another ID"):format(self.label), "error"
    end
    log.debug("rfc2136: dropped a datagram from %s with ID %d (want %d)", self.label, aid, id)
  end
end

-- exchange(msg, what) -> answer bytes, parsed | nil, err
-- TCP first; UDP when TCP cannot connect or breaks (not when the server
-- answered).  An answer over UDP with TC set is an error.
function Client:exchange(msg)
  local id = sunpack(">I2", msg)
  local ans, err, code = exchange_over(self, "tcp", msg, id)
  if not ans then
    if code == "interrupted" then return nil, err end
    log.debug("rfc2136: TCP to %s failed (%s); trying UDP", self.label, tostring(err))
    local uerr
    ans, uerr = exchange_over(self, "udp", msg, id)
    if not ans then
      return nil, ("cannot reach the DNS server %s: over TCP: %s; over UDP: %s"):format(self.label,
        (tostring(err):gsub("^dns [^ ]+: ", "")), (tostring(uerr):gsub("^dns [^ ]+: ", "")))
    end
  end
  local m, perr = W.parse(ans)
  if not m then return nil, ("malformed answer from %s: %s"):format(self.label, perr) end
  if m.tc then return nil, ("the answer from %s is truncated"):format(self.label) end
  return ans, m
end

-- What a TSIG error means, for the user.
local function tsig_hint(self, t)
  local e = t and W.TSIG_ERROR[t.error]
  if e == "BADKEY" then
    return ("the server knows no TSIG key '%s' with algorithm %s (%sname, %salgorithm in %s)"):format(
      self.key.name, self.key.alg_text, KEY, KEY, self.path)
  elseif e == "BADSIG" then
    return ("the TSIG signature does not verify: check %ssecret and %salgorithm (%s) in %s"):format(
      KEY, KEY, self.key.alg_text, self.path)
  elseif e == "BADTIME" then
    return "this host's clock and the server's differ by more than 300 s"
  end
  return nil
end

-- tsig_problem(ans, m, request_mac) -> nil when the answer's TSIG verifies,
-- else what is wrong, with the rcode: "NOTAUTH (TSIG error BADSIG: ...)"
local function tsig_problem(self, ans, m, request_mac)
  local t, verr, tfields = T.verify(ans, m, self.key, request_mac)
  if t then return nil end
  local rcode = W.RCODE[m.rcode] or ("RCODE " .. m.rcode)
  local hint = tsig_hint(self, tfields)
  if hint then return ("%s (TSIG error %s: %s)"):format(rcode, W.TSIG_ERROR[tfields.error], hint) end
  if m.rcode ~= 0 then return ("%s (unverified answer: %s)"):format(rcode, verr) end
  return verr
end

local RCODE_WHY = {
  REFUSED = "is the key allowed to update this zone? see its allow-update or update-policy",
  NOTAUTH = "the server is not authoritative for this zone",
  NOTZONE = "the name is not within the zone",
  SERVFAIL = "the server failed to process the request",
  NOTIMP = "the server does not support dynamic updates",
}

-- What an update's answer says: nil for success (a verified NOERROR), else
-- the TSIG problem or the rcode with its likely cause.
local function update_problem(self, ans, m, request_mac)
  local p = tsig_problem(self, ans, m, request_mac)
  if p then return p end
  if m.rcode ~= 0 then
    local rcode = W.RCODE[m.rcode] or ("RCODE " .. m.rcode)
    return RCODE_WHY[rcode] and (rcode .. " (" .. RCODE_WHY[rcode] .. ")") or rcode
  end
  return nil
end

-- find_zone(record_name) -> zone | nil, err
-- Certbot's way: SOA queries (RD clear; signed with dns_rfc2136_sign_query)
-- for the name and each parent; the first authoritative SOA answer wins.
-- With signed queries, an answer whose TSIG fails is an error at once.
function Client:find_zone(record_name)
  local rn = W.norm(record_name)
  if self.zones[rn] then return self.zones[rn] end
  local guesses = dns.zone_candidates(rn)
  local tld = rn:match("([^.]+)$")
  if tld and guesses[#guesses] ~= tld then guesses[#guesses + 1] = tld end
  local refused = {}
  for _, guess in ipairs(guesses) do
    local msg, err = W.query(new_id(), guess, W.TYPE.SOA, false)
    if not msg then return nil, err end
    local mac
    if self.sign_query then
      msg, mac = T.sign(msg, self.key)
      if not msg then return nil, mac end
    end
    local ans, m = self:exchange(msg)
    if not ans then return nil, m end
    local trusted = true
    if self.sign_query and (m.tsig or m.rcode == 0) then
      local p = tsig_problem(self, ans, m, mac)
      if p then
        return nil, ("the SOA query for %s was not accepted by %s: %s"):format(guess, self.label, p)
      end
    elseif self.sign_query then
      trusted = false -- an unsigned error answer: it only says "not here"
    end
    if trusted and m.rcode == 0 and m.aa then
      for _, rr in ipairs(m.answer) do
        if rr.type == W.TYPE.SOA and rr.class == W.CLASS.IN and W.norm(rr.name) == guess then
          log.debug("rfc2136: %s is the zone of %s (authoritative SOA from %s)", guess, rn, self.label)
          self.zones[rn] = guess
          return guess
        end
      end
    end
    if m.rcode == 5 then refused[#refused + 1] = guess end
    log.debug("rfc2136: no authoritative SOA for %s at %s (%s)", guess, self.label,
      W.RCODE[m.rcode] or ("RCODE " .. m.rcode))
  end
  local hint = ""
  if #refused > 0 and not self.sign_query then
    hint = ("; it refused the queries for %s: it does not serve them, or it answers only signed "
      .. "queries (%ssign_query = true)"):format(table.concat(refused, ", "), KEY)
  end
  return nil, ("Unable to determine base domain for %s using names: %s (no authoritative SOA answer "
    .. "from %s%s)"):format(rn, table.concat(guesses, ", "), self.label, hint)
end

-- update(record_name, rr, verb) -> true | nil, err
local function update(self, record_name, make_rr, verb)
  local zone, zerr = self:find_zone(record_name)
  if not zone then return nil, zerr end
  local rr, rerr = make_rr()
  if not rr then return nil, rerr end
  local msg, err = W.update(new_id(), zone, { rr })
  if not msg then return nil, err end
  local signed, mac = T.sign(msg, self.key)
  if not signed then return nil, mac end
  local ans, m = self:exchange(signed)
  if not ans then return nil, ("Error %s TXT record %s: %s"):format(verb, record_name, m) end
  local problem = update_problem(self, ans, m, mac)
  if problem then
    return nil, ("Error %s TXT record %s: the DNS server %s answered for zone %s: %s"):format(
      verb, record_name, self.label, zone, problem)
  end
  return true
end

function Client:add_txt(record_name, value, ttl)
  local ok, err = update(self, record_name, function()
    return W.rr(W.norm(record_name), W.TYPE.TXT, W.CLASS.IN, ttl or dns.DEFAULT_TTL, W.txt_rdata(value))
  end, "adding")
  if ok then log.debug("rfc2136: added TXT record %s at %s", record_name, self.label) end
  return ok, err
end

-- Delete this one value (RFC 2136 §2.5.4: class NONE, TTL 0): other
-- values at the name, such as another challenge's, stay.
function Client:del_txt(record_name, value)
  local ok, err = update(self, record_name, function()
    return W.rr(W.norm(record_name), W.TYPE.TXT, W.CLASS.NONE, 0, W.txt_rdata(value))
  end, "deleting")
  if ok then log.debug("rfc2136: deleted TXT record %s at %s", record_name, self.label) end
  return ok, err
end

---------------------------------------------------------------------------
-- The plugin
---------------------------------------------------------------------------

local P = dns.authenticator({
  id = "rfc2136",
  label = "RFC 2136",
  description = "Obtain certificates using a DNS TXT record (if you are using BIND for DNS), "
    .. "through RFC 2136 dynamic updates signed with a TSIG key.",
  ttl = 120,
  credentials = function(creds, path)
    local s, err = settings(creds, path)
    if not s then return nil, err end
    return true
  end,
  new_client = function(config, creds)
    local s, err = settings(creds, tostring(config.dns_rfc2136_credentials or "the credentials file"))
    if not s then return nil, err end
    return Client.new(s)
  end,
})

-- For specs and other plugins: the codec, TSIG and the client.
P.wire, P.tsig, P.Client, P.settings = W, T, Client, settings

return P
