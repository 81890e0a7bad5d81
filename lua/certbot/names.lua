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
