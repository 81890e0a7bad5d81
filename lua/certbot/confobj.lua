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

-- Read one value (after "="): quoted strings, comma lists, comments.
-- Returns value (string or list) or nil, message.
local function parse_value(s)
  local items, quoted, pos, n = {}, {}, 1, #s
  local is_list = false
  while true do
    while pos <= n and s:sub(pos, pos):match("%s") do pos = pos + 1 end
    if pos > n or s:sub(pos, pos) == "#" then break end
    local c = s:sub(pos, pos)
    local item
    local triple = s:sub(pos, pos + 2)
    if triple == '"""' or triple == "'''" then
      -- A triple-quoted value is the whole value: it ends at the closing
      -- triple followed by nothing but blanks or a comment (the value may
      -- itself end with a quote character).
      local close
      local from = pos + 3
      while true do
        local c2 = s:find(triple, from, true)
        if not c2 then break end
        if s:sub(c2 + 3):match("^%s*$") or s:sub(c2 + 3):match("^%s*#") then close = c2 end
        from = c2 + 1
      end
      if not close then return nil, "unterminated triple-quoted value" end
      return s:sub(pos + 3, close - 1)
    elseif c == '"' or c == "'" then
      local close = s:find(c, pos + 1, true)
      if not close then return nil, "unterminated quoted value" end
      item = s:sub(pos + 1, close - 1)
      quoted[#items + 1] = true
      pos = close + 1
    else
      local stop = pos
      while stop <= n do
        local ch = s:sub(stop, stop)
        if ch == "," or ch == "#" then break end
        stop = stop + 1
      end
      item = trim(s:sub(pos, stop - 1))
      pos = stop
    end
    items[#items + 1] = item
    while pos <= n and s:sub(pos, pos):match("%s") do pos = pos + 1 end
    local ch = s:sub(pos, pos)
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

function M.parse(text, name)
  name = name or "renewal conf"
  local root = new_section()
  local stack = { root } -- stack[depth+1] is the current section at depth
  local lineno = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    line = line:gsub("\r$", "")
    local t = trim(line)
    local skip = t == "" or t:sub(1, 1) == "#" -- blanks and comments
    if skip then
      goto continue
    end
    if t:sub(1, 1) == "[" then
      local open, sname, close = t:match("^(%[+)%s*([^%[%]]-)%s*(%]+)%s*$")
      if not open or #open ~= #close or sname == "" then
        return nil, ("%s:%d: bad section header"):format(name, lineno)
      end
      local depth = #open
      if depth > #stack then
        return nil, ("%s:%d: section nested too deep"):format(name, lineno)
      end
      local parent = stack[depth]
      if parent.sections[sname] then
        return nil, ("%s:%d: duplicate section '%s'"):format(name, lineno, sname)
      end
      local sec = new_section()
      parent.sections[sname] = sec
      parent.section_order[#parent.section_order + 1] = sname
      for i = #stack, depth + 1, -1 do stack[i] = nil end
      stack[depth + 1] = sec
    else
      local key, rest = t:match("^([^=]-)%s*=%s*(.*)$")
      if not key or key == "" then
        return nil, ("%s:%d: expected 'key = value'"):format(name, lineno)
      end
      key = trim(key)
      if key:match('^["\'].*["\']$') then key = key:sub(2, -2) end
      local value, err = parse_value(rest)
      if value == nil then
        return nil, ("%s:%d: %s"):format(name, lineno, err)
      end
      local sec = stack[#stack]
      if sec.keys[key] ~= nil then
        return nil, ("%s:%d: duplicate key '%s'"):format(name, lineno, key)
      end
      sec.keys[key] = value
      sec.order[#sec.order + 1] = key
    end
    ::continue::
  end
  return root
end

-- Quote a scalar exactly as configobj does, so Certbot reads back the
-- same string: quotes only when the value is empty, starts or ends with
-- whitespace or a quote, or holds ',' or '#'; triple quotes when it holds
-- both quote characters.
local EDGE = " \r\n\v\t'\""

local function quote(s)
  if s == "" then return '""' end
  if s:find("\n", 1, true) then error("confobj: newline in value") end
  local has_s, has_d = s:find("'", 1, true), s:find('"', 1, true)
  if has_s and has_d then
    if not s:find("'''", 1, true) then return "'''" .. s .. "'''" end
    if not s:find('"""', 1, true) then return '"""' .. s .. '"""' end
    error("confobj: value cannot be quoted: " .. s)
  end
  if EDGE:find(s:sub(1, 1), 1, true) or EDGE:find(s:sub(-1), 1, true)
    or s:find(",", 1, true) or s:find("#", 1, true) then
    if has_d then return "'" .. s .. "'" end
    return '"' .. s .. '"'
  end
  return s
end

local function format_value(v)
  if type(v) == "table" then
    if #v == 0 then return "," end
    local parts = {}
    for i, item in ipairs(v) do parts[i] = quote(tostring(item)) end
    if #parts == 1 then return parts[1] .. "," end
    return table.concat(parts, ", ")
  end
  return quote(tostring(v))
end

local function write_section(sec, depth, out)
  for _, k in ipairs(sec.order) do
    if sec.keys[k] ~= nil then
      out[#out + 1] = ("%s = %s"):format(quote(k), format_value(sec.keys[k]))
    end
  end
  for _, sname in ipairs(sec.section_order) do
    local sub = sec.sections[sname]
    if sub then
      if depth == 0 and sec.comments and sec.comments[sname] then
        out[#out + 1] = ""
        out[#out + 1] = "# " .. sec.comments[sname]
      end
      local brackets = depth + 1
      out[#out + 1] = ("%s%s%s"):format(string.rep("[", brackets), sname, string.rep("]", brackets))
      write_section(sub, depth + 1, out)
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
