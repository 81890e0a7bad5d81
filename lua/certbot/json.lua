-- json: the encoder for what we print as JSON (--json; docs/json.md).
--
-- Not cjson.encode, for three reasons that matter to a program reading our
-- output: Debian's lua-cjson 2.1.0 writes an empty list as {} (it has no
-- array marker), it writes "/" as "\/" (legal, but every path then reads
-- badly), and its key order changes from run to run.  Here a list is a
-- list even when empty (json.array), keys come out sorted, and text that
-- is not valid UTF-8 (a file name can be anything) has its stray bytes
-- replaced by U+FFFD, so the output is always valid JSON.
--
--   json.encode({ name = "a", names = json.array({}), when = json.null }) ->
--     {"name":"a","names":[],"when":null}

local M = {}

local ARRAY = {}
M.null = setmetatable({}, { __tostring = function() return "null" end })

-- array(t) -> t, marked to be written as a JSON array (also when empty).
function M.array(t)
  return setmetatable(t or {}, ARRAY)
end

local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function valid_utf8(s)
  -- utf8.len refuses surrogates and overlong forms only with lax = false
  return utf8.len(s) ~= nil
end

local function fix_utf8(s)
  local out, i = {}, 1
  while i <= #s do
    local ok, code = pcall(utf8.codepoint, s, i)
    if ok then
      local len = #utf8.char(code)
      out[#out + 1] = s:sub(i, i + len - 1)
      i = i + len
    else
      out[#out + 1] = "\u{FFFD}"
      i = i + 1
    end
  end
  return table.concat(out)
end

local function string_value(s)
  if not valid_utf8(s) then s = fix_utf8(s) end
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESC[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

local CJSON_NULL = require("cjson.safe").null

local function is_null(v)
  return v == M.null or v == CJSON_NULL
end

local encode

local function encode_table(t, out, depth)
  if depth > 64 then error("json.encode: nested too deeply", 0) end
  local mt = getmetatable(t)
  if mt == ARRAY or (mt == nil and t[1] ~= nil) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then out[#out + 1] = "," end
      encode(t[i], out, depth + 1)
    end
    out[#out + 1] = "]"
    return
  end
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then error("json.encode: object key is a " .. type(k), 0) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = string_value(k)
    out[#out + 1] = ":"
    encode(t[k], out, depth + 1)
  end
  out[#out + 1] = "}"
end

encode = function(v, out, depth)
  local t = type(v)
  if v == nil or is_null(v) then
    out[#out + 1] = "null"
  elseif t == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      out[#out + 1] = "null"
    elseif math.type(v) == "integer" then
      out[#out + 1] = ("%d"):format(v)
    else
      out[#out + 1] = ("%.17g"):format(v)
    end
  elseif t == "string" then
    out[#out + 1] = string_value(v)
  elseif t == "table" then
    encode_table(v, out, depth)
  else
    error("json.encode: cannot encode a " .. t, 0)
  end
end

-- encode(value) -> JSON text (one line).
function M.encode(v)
  local out = {}
  encode(v, out, 0)
  return table.concat(out)
end

-- time(epoch seconds) -> "2025-01-31T12:00:00Z" (ISO 8601, UTC) | json.null
function M.time(t)
  if type(t) ~= "number" then return M.null end
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

return M
