-- names: checks on what the user asks a certificate for, made before any
-- network request (Certbot's enforce_domain_sanity, message for message),
-- and the checks on what the CA hands back that touch paths and hooks.

local M = {}

local function fail(fmt, ...)
  return nil, fmt:format(...)
end

local function is_ipv4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return false end
  for _, o in ipairs({ a, b, c, d }) do
    if tonumber(o) > 255 or (#o > 1 and o:sub(1, 1) == "0") then return false end
  end
  return true
end
M.is_ipv4 = is_ipv4

local function is_ipv6(s)
  if not s:find(":", 1, true) or not s:match("^[%x:%.]+$") then return false end
  local double = select(2, s:gsub("::", ""))
  if double > 1 or s:find(":::", 1, true) then return false end
  local groups = 0
  local body = s
  local v4 = body:match(":(%d+%.%d+%.%d+%.%d+)$")
  if v4 then
    if not is_ipv4(v4) then return false end
    body = body:sub(1, #body - #v4) .. "0:0"
  end
  for part in (body .. ":"):gmatch("([^:]*):") do
    if part ~= "" then
      if #part > 4 then return false end
      groups = groups + 1
    end
  end
  if double == 1 then return groups < 8 end
  return groups == 8 and not body:match("^:") and not body:match(":$")
end
M.is_ipv6 = is_ipv6

function M.is_ip(s)
  return is_ipv4(s) or is_ipv6(s)
end

---------------------------------------------------------------------------
-- IP address identifiers (RFC 8738)
---------------------------------------------------------------------------

-- The 8 groups of an IPv6 address, or nil.  Embedded dotted IPv4 in the
-- last 32 bits is taken ("64:ff9b::192.0.2.1").
local function v6_groups(s)
  if not is_ipv6(s) then return nil end
  local body, tail = s, {}
  local v4 = s:match(":(%d+%.%d+%.%d+%.%d+)$")
  if v4 then
    local a, b, c, d = v4:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    tail = { tonumber(a) * 256 + tonumber(b), tonumber(c) * 256 + tonumber(d) }
    body = s:sub(1, #s - #v4 - 1)
    if body:sub(-1) == ":" then body = body .. ":" end -- "::" before the IPv4 part
    if body == "" then return nil end
  end
  local function parse(part)
    local out = {}
    if part == "" then return out end
    for g in (part .. ":"):gmatch("([^:]*):") do
      if g == "" or #g > 4 then return nil end
      out[#out + 1] = tonumber(g, 16)
    end
    return out
  end
  local head, rest = body:match("^(.-)::(.*)$")
  local groups
  if head then
    local h, r = parse(head), parse(rest)
    if not h or not r then return nil end
    local missing = 8 - #tail - #h - #r
    if missing < 1 then return nil end
    groups = h
    for _ = 1, missing do groups[#groups + 1] = 0 end
    for _, g in ipairs(r) do groups[#groups + 1] = g end
  else
    groups = parse(body)
    if not groups then return nil end
  end
  for _, g in ipairs(tail) do groups[#groups + 1] = g end
  if #groups ~= 8 then return nil end
  return groups
end

-- RFC 5952 §4 text: lowercase hex without leading zeros, the longest run
-- (two groups or more; the first of equal runs) of zero groups as "::".
-- glibc's inet_ntop writes the same text, which is what certificates'
-- iPAddress SANs read back as (crypto.parse_cert).
local function v6_text(g)
  local best, best_len, i = nil, 1, 1
  while i <= 8 do
    if g[i] == 0 then
      local j = i
      while j < 8 and g[j + 1] == 0 do j = j + 1 end
      if j - i + 1 > best_len then best, best_len = i, j - i + 1 end
      i = j + 1
    else
      i = i + 1
    end
  end
  local function hex(from, to)
    local t = {}
    for k = from, to do t[#t + 1] = ("%x"):format(g[k]) end
    return table.concat(t, ":")
  end
  if not best then return hex(1, 8) end
  return hex(1, best - 1) .. "::" .. hex(best + best_len, 8)
end

-- ip_address(value) -> normalised text, "ipv4"|"ipv6" | nil, one-line message.
-- IPv4 in dotted-quad form without leading zeros (RFC 1123 §2.1; "010"
-- would be octal to inet_aton), IPv6 in RFC 5952 form; brackets around an
-- IPv6 address ("[::1]") are dropped.  Refused: zone indexes ("fe80::1%eth0"),
-- prefixes ("/64"), and the IPv4-mapped and IPv4-compatible IPv6 forms
-- (::ffff:a.b.c.d, ::a.b.c.d): ask for the IPv4 address itself.
function M.ip_address(value)
  if type(value) ~= "string" then return fail("IP address is not a string") end
  local shown = value:gsub("[%c\128-\255]", "?")
  local s = value:match("^%[(.*)%]$") or value
  if s == "" then return fail("Invalid IP address '%s': it is empty", shown) end
  if s:find("%", 1, true) then
    return fail("Invalid IP address '%s': a zone index (%%...) cannot be on a certificate", shown)
  end
  if s:find("/", 1, true) then
    return fail("Invalid IP address '%s': give one address, not a network", shown)
  end
  if is_ipv4(s) then
    if s ~= value then return fail("Invalid IP address '%s': brackets are for IPv6 only", shown) end
    return s, "ipv4"
  end
  if s:match("^[%d.]+$") then
    return fail("Invalid IP address '%s': an IPv4 address is four decimal numbers 0-255 "
      .. "without leading zeros", shown)
  end
  local g = v6_groups(s:lower())
  if not g then return fail("Invalid IP address '%s': neither IPv4 nor IPv6", shown) end
  if g[1] == 0 and g[2] == 0 and g[3] == 0 and g[4] == 0 and g[5] == 0
      and (g[6] == 0xffff or (g[6] == 0 and g[7] ~= 0)) then
    return fail("Invalid IP address '%s': use the IPv4 address %d.%d.%d.%d itself", shown,
      g[7] >> 8, g[7] & 255, g[8] >> 8, g[8] & 255)
  end
  return v6_text(g), "ipv6"
end

-- ip_addresses(list) -> normalised list without duplicates | nil, message.
-- Each element may itself be comma-separated (as --ip-address takes it).
function M.ip_addresses(list)
  local out, seen = {}, {}
  if type(list) == "string" then list = { list } end
  for _, item in ipairs(list or {}) do
    for v in tostring(item):gmatch("[^,%s]+") do
      local ip, err = M.ip_address(v)
      if not ip then return nil, err end
      if not seen[ip] then
        seen[ip] = true
        out[#out + 1] = ip
      end
    end
  end
  return out
end

-- reverse_name(ip) -> the IN-ADDR.ARPA / IP6.ARPA name (RFC 1034 §5.2.1,
-- RFC 3596 §2.5) without the root dot: "1.0.0.127.in-addr.arpa".  RFC 8738
-- §6: a tls-alpn-01 validator sends it as the SNI HostName for an IP
-- identifier, as RFC 6066 has no place for an address there.
function M.reverse_name(ip)
  local norm, kind = M.ip_address(ip)
  if not norm then return nil, kind end
  if kind == "ipv4" then
    local a, b, c, d = norm:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    return ("%s.%s.%s.%s.in-addr.arpa"):format(d, c, b, a)
  end
  local g = v6_groups(norm)
  local nibbles = {}
  for i = 8, 1, -1 do
    local v = g[i]
    for _ = 1, 4 do
      nibbles[#nibbles + 1] = ("%x"):format(v & 15)
      v = v >> 4
    end
  end
  return table.concat(nibbles, ".") .. ".ip6.arpa"
end

-- domain(value) -> normalised name | nil, message naming the value.
function M.domain(value)
  if type(value) ~= "string" then return fail("Requested domain is not a string") end
  if value:find("[\128-\255]") then
    return fail("Non-ASCII domain names not supported. To issue for an Internationalized "
      .. "Domain Name, use Punycode. (%s)", value)
  end
  local d = value:lower():gsub("%.$", "")
  if d == "" then return fail("Requested domain '%s' is empty", value) end
  if M.is_ip(d) then
    return fail("Requested name %s is an IP address. Use --ip-address to request a "
      .. "certificate for an IP address.", value)
  end
  if d:find("*", 1, true) then
    if not d:match("^%*%.[^*]+$") then
      return fail("Wildcard domains are not supported: %s. A wildcard may only be the "
        .. "whole leftmost label, as in *.example.com.", value)
    end
  end
  local plain = d:gsub("^%*%.", "")
  if not plain:match("^[a-z0-9.-]+$") then
    return fail("Requested domain %s contains an invalid character. Valid characters are "
      .. "A-Z, a-z, 0-9, ., and -.", value)
  end
  if #d > 253 then
    return fail("Requested domain %s is too long (%d > 253)", value, #d)
  end
  for label in (plain .. "."):gmatch("([^.]*)%.") do
    if label == "" then
      return fail("Requested domain %s contains an empty label.", value)
    end
    if #label > 63 then
      return fail("Requested domain %s has a label that is too long (%d > 63)", value, #label)
    end
    if label:sub(1, 1) == "-" or label:sub(-1) == "-" then
      return fail("Requested domain %s has a label that starts or ends with a hyphen.", value)
    end
  end
  return d
end

-- domains(list) -> normalised list without duplicates | nil, message
function M.domains(list)
  local out, seen = {}, {}
  for _, v in ipairs(list or {}) do
    local d, err = M.domain(v)
    if not d then return nil, err end
    if not seen[d] then
      seen[d] = true
      out[#out + 1] = d
    end
  end
  return out
end

-- A certificate (lineage) name: a single path component that is safe
-- everywhere it is used (file names, renewal confs, hook environments).
function M.cert_name(name)
  if type(name) ~= "string" or name == "" then
    return fail("Certificate name must not be empty")
  end
  if name == "." or name == ".." or name:find("/", 1, true) or name:find("%z")
    or name:find("[%c]") or name:sub(1, 1) == "-" or name:sub(1, 1) == "." then
    return fail("Invalid certificate name '%s': it must be one path component that does not "
      .. "start with '-' or '.' and holds no '/' or control characters",
      (name:gsub("%c", "?")))
  end
  if #name > 200 then return fail("Certificate name is too long (%d > 200)", #name) end
  return name
end

-- ACME tokens (RFC 8555 §8.1): base64url, checked before a token reaches a
-- path, a hook or a responder.
function M.token(token)
  if type(token) ~= "string" or token == "" or #token > 512
    or not token:match("^[A-Za-z0-9_-]+$") then
    return nil, "invalid token from the CA: "
      .. (type(token) == "string" and ("'%s'"):format(token:sub(1, 80):gsub("[%c\128-\255]", "?"))
        or type(token))
  end
  return token
end

return M
