-- confobj: the subset of Python's configobj format that Certbot's renewal
-- confs use, read and written so that Certbot can still read what we write.
--
--   # comment
--   key = value                 top-level keys first
--   list = a, b                 a list; a one-item list is written "a,"
--   [renewalparams]             a section
--   key = "quoted, value"       quoted with ' or " when needed
--   [[webroot_map]]             a subsection of the section above
--   example.com = /var/www
--
-- parse(text, name) -> conf | nil, "name:line: message"
--   conf = { keys = { k = v, ... }, order = { k, ... }, sections = { name = conf }, section_order = {...} }
--   where v is a string or an array of strings (a list).
-- write(conf) -> text

local M = {}

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

local function new_section()
  return { keys = {}, order = {}, sections = {}, section_order = {} }
end
M.new = new_section

local find, sub, byte, match = string.find, string.sub, string.byte, string.match

-- Read one value (after "="): quoted strings, comma lists, comments.
-- Returns value (string or list) or nil, message.
local function parse_value(s)
  local items, quoted, pos, n = {}, {}, 1, #s
  local is_list = false
  while true do
    pos = find(s, "%S", pos) or n + 1
    if pos > n or byte(s, pos) == 35 then break end -- "#"
    local c = sub(s, pos, pos)
    local item
    local triple = sub(s, pos, pos + 2)
    if triple == '"""' or triple == "'''" then
      -- A triple-quoted value is the whole value: it ends at the closing
      -- triple followed by nothing but blanks or a comment (the value may
      -- itself end with a quote character).
      local close
      local from = pos + 3
      while true do
        local c2 = find(s, triple, from, true)
        if not c2 then break end
        if find(s, "^%s*$", c2 + 3) or find(s, "^%s*#", c2 + 3) then close = c2 end
        from = c2 + 1
      end
      if not close then return nil, "unterminated triple-quoted value" end
      return sub(s, pos + 3, close - 1)
    elseif c == '"' or c == "'" then
      local close = find(s, c, pos + 1, true)
      if not close then return nil, "unterminated quoted value" end
      item = sub(s, pos + 1, close - 1)
      quoted[#items + 1] = true
      pos = close + 1
    else
      local stop = find(s, "[,#]", pos) or n + 1
      item = trim(sub(s, pos, stop - 1))
      pos = stop
    end
    items[#items + 1] = item
    pos = find(s, "%S", pos) or n + 1
    local ch = sub(s, pos, pos)
    if ch == "," then
      is_list = true
      pos = pos + 1
    elseif ch == "#" or ch == "" then
      break
    else
      return nil, "unexpected text after value"
    end
  end
  if is_list then
    -- "k = ," is the empty list: unquoted empty items are not values
    local out = {}
    for i, item in ipairs(items) do
      if item ~= "" or quoted[i] then out[#out + 1] = item end
    end
    return out
  end
  if #items == 0 then return "" end
  return items[1]
end

-- The general reading of one line that is not blank, a comment or a
-- section header.  -> key, value | nil, message
local function parse_pair(t)
  local key, rest = match(t, "^([^=]-)%s*=%s*(.*)$")
  if not key or key == "" then return nil, "expected 'key = value'" end
  -- t has no blanks at either end, so neither has key (the shortest text
  -- before blanks and "=") nor rest
  local kf, kl = byte(key, 1), byte(key, -1)
  if #key >= 2 and (kf == 34 or kf == 39) and (kl == 34 or kl == 39) then key = sub(key, 2, -2) end
  local value, err = parse_value(rest)
  if value == nil then return nil, err end
  return key, value
end

-- The general reading of any line (the text between two "\n").
-- -> "skip" | "section", depth, name | "pair", key, value | nil, message
local function general(line)
  local first = byte(line, 1)
  local t = line
  if not (first == 91 and byte(line, -1) == 93) then -- "[...]" has no blank to drop
    t = match(t, "^%s*(.-)%s*$") -- also drops a "\r" before "\n"
  end
  local tf = byte(t, 1)
  if tf == nil or tf == 35 then return "skip" end -- blanks and comments
  if tf == 91 then -- "["
    local open, sname, close = match(t, "^(%[+)%s*([^%[%]]-)%s*(%]+)%s*$")
    if not open or #open ~= #close or sname == "" then return nil, "bad section header" end
    return "section", #open, sname
  end
  local k, v = parse_pair(t)
  if not k then return nil, v end
  return "pair", k, v
end

M.read_line = general

-- The reading in Lua alone, line by line, with the errors' line numbers.
-- A no-op renew reads a thousand of these, and Lua's pattern matching
-- costs ~100 instructions a character: the line Certbot and we write for
-- a plain value, "key = value" with no blank at either end, no '=' in the
-- key and no quote, ',' or '#' in the line, is taken apart with plain
-- finds and byte tests (which give what the general reading gives for
-- it); every other line goes the general way.
local HUGE = math.huge

local function parse_lua(text, name)
  name = name or "renewal conf"
  local root = new_section()
  local stack = { root } -- stack[depth+1] is the current section at depth
  local sec = root
  local lineno = 0
  local s, n = text, #text -- the last line may lack its "\n"
  local pos = 1
  -- the next '=' and the next of '#', ',', '"' and "'" at or after pos
  -- (HUGE: none), found again only once passed
  local eq, special = 0, 0
  while pos <= n + 1 do
    local eol = find(s, "\n", pos, true) or n + 1
    lineno = lineno + 1
    local first = byte(s, pos)
    if first == 10 or first == 35 or not first then -- blank, or a comment from its first column
      pos = eol + 1
      goto continue
    end
    if eq < pos then eq = find(s, "=", pos, true) or HUGE end
    if special < pos then
      special = math.min(find(s, "#", pos, true) or HUGE, find(s, ",", pos, true) or HUGE,
        find(s, '"', pos, true) or HUGE, find(s, "'", pos, true) or HUGE)
    end
    if eq < eol and special > eol and eq >= pos + 2 then
      local kl, sp1, _, sp2, vf = byte(s, eq - 2, eq + 2) -- vf: "\n" if the value is empty
      if first > 32 and first ~= 91 and kl > 32 and sp1 == 32 and sp2 == 32
        and (eq + 2 == eol or vf > 32 and byte(s, eol - 1) > 32) then
        local key = sub(s, pos, eq - 2)
        if sec.keys[key] ~= nil then
          return nil, ("%s:%d: duplicate key '%s'"):format(name, lineno, key)
        end
        sec.keys[key] = sub(s, eq + 2, eol - 1)
        sec.order[#sec.order + 1] = key
        pos = eol + 1
        goto continue
      end
    end
    do
      local kind, a, b = general(sub(s, pos, eol - 1))
      pos = eol + 1
      if not kind then return nil, ("%s:%d: %s"):format(name, lineno, a) end
      if kind == "section" then
        local depth, sname = a, b
        if depth > #stack then
          return nil, ("%s:%d: section nested too deep"):format(name, lineno)
        end
        local parent = stack[depth]
        if parent.sections[sname] then
          return nil, ("%s:%d: duplicate section '%s'"):format(name, lineno, sname)
        end
        sec = new_section()
        parent.sections[sname] = sec
        parent.section_order[#parent.section_order + 1] = sname
        for i = #stack, depth + 1, -1 do stack[i] = nil end
        stack[depth + 1] = sec
      elseif kind == "pair" then
        if sec.keys[a] ~= nil then
          return nil, ("%s:%d: duplicate key '%s'"):format(name, lineno, a)
        end
        sec.keys[a] = b
        sec.order[#sec.order + 1] = a
      end
    end
    ::continue::
  end
  return root
end
M.parse_lua = parse_lua

-- parse(text, name): core.sys.conf_read builds the tables in C, from the
-- plain lines (see parse_lua) and what general() makes of any other line:
-- ~15 k instructions a conf against ~150 k for parse_lua.  Whatever is
-- not plain sailing (an error, a duplicate, nesting deeper than
-- [[subsection]]) it leaves to parse_lua, which gives the same result and
-- the error with its line number.
local conf_read = require("certbot.core").sys.conf_read

function M.parse(text, name)
  local conf = conf_read(text, general)
  if conf then return conf end
  return parse_lua(text, name)
end

-- Quote a scalar exactly as configobj does, so Certbot reads back the
-- same string: quotes only when the value is empty, starts or ends with
-- whitespace or a quote, or holds ',' or '#'; triple quotes when it holds
-- both quote characters.
local EDGE = " \r\n\v\t'\""

-- single: a list item or a key, which configobj never triple-quotes.  A
-- key that starts with "[" is quoted, or it would read as a section.
local function quote(s, single, key)
  if s == "" then return '""' end
  if s:find("\n", 1, true) then error("confobj: newline in value") end
  local has_s, has_d = s:find("'", 1, true), s:find('"', 1, true)
  if has_s and has_d then
    if single then error("confobj: cannot be quoted on its own: " .. s) end
    if not s:find("'''", 1, true) then return "'''" .. s .. "'''" end
    if not s:find('"""', 1, true) then return '"""' .. s .. '"""' end
    error("confobj: value cannot be quoted: " .. s)
  end
  if EDGE:find(s:sub(1, 1), 1, true) or EDGE:find(s:sub(-1), 1, true)
    or s:find(",", 1, true) or s:find("#", 1, true) or (key and s:sub(1, 1) == "[") then
    if has_d then return "'" .. s .. "'" end
    return '"' .. s .. '"'
  end
  return s
end

local function format_value(v)
  if type(v) == "table" then
    if #v == 0 then return "," end
    local parts = {}
    for i, item in ipairs(v) do parts[i] = quote(tostring(item), true) end
    if #parts == 1 then return parts[1] .. "," end
    return table.concat(parts, ", ")
  end
  return quote(tostring(v))
end

local function write_section(sec, depth, out)
  for _, k in ipairs(sec.order) do
    if sec.keys[k] ~= nil then
      out[#out + 1] = ("%s = %s"):format(quote(k, true, true), format_value(sec.keys[k]))
    end
  end
  for _, sname in ipairs(sec.section_order) do
    local child = sec.sections[sname]
    if child then
      if depth == 0 and sec.comments and sec.comments[sname] then
        out[#out + 1] = ""
        out[#out + 1] = "# " .. sec.comments[sname]
      end
      local brackets = depth + 1
      out[#out + 1] = ("%s%s%s"):format(string.rep("[", brackets), sname, string.rep("]", brackets))
      write_section(child, depth + 1, out)
    end
  end
end

function M.write(conf)
  local out = {}
  if conf.header then
    for _, c in ipairs(conf.header) do out[#out + 1] = "# " .. c end
  end
  write_section(conf, 0, out)
  return table.concat(out, "\n") .. "\n"
end

-- Setters that keep key order.
function M.set(sec, key, value)
  if sec.keys[key] == nil then sec.order[#sec.order + 1] = key end
  sec.keys[key] = value
end

function M.section(sec, name)
  local s = sec.sections[name]
  if not s then
    s = new_section()
    sec.sections[name] = s
    sec.section_order[#sec.section_order + 1] = name
  end
  return s
end

return M
