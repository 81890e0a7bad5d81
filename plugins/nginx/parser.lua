-- nginx configuration: a parser and writer that keeps every byte it does
-- not change, plus the edits the plugin needs and the loading of a whole
-- configuration (the main file and everything it includes).
--
-- The grammar is nginx's own (ngx_conf_read_token): a directive is words
-- ended by ';', or words followed by a block in braces; words are separated
-- by spaces, tabs, CR or LF; a word starting with '"' or '\'' is quoted
-- (a backslash escapes the next character); an unquoted word ends at
-- whitespace, ';' or '{', except that '{' right after '$' belongs to the
-- word ("${var}") and a backslash escapes the next character; '#' where a
-- word could start begins a comment to the end of the line.  The body of a
-- *_by_lua_block directive is Lua source, kept verbatim: its braces are
-- balanced the way Lua reads them (strings, long brackets and comments do
-- not count).
--
-- Tree (every string is the exact source text):
--   file      = { children = { node, ... }, tail = trivia before EOF }
--   node      = { words = { {sep=, raw=, value=}, ... }, tsep = trivia
--                 before ';' or '{',
--                 children = {...}, tail = trivia before '}'   (a block)
--                 lua = "body"                                  (a Lua block)
--               }
-- `sep` is the whitespace and comments before a word; `raw` the word as
-- written; `value` the word as nginx reads it (quotes removed, \" \' \\
-- \t \r \n decoded, other escapes kept).  dump(parse(x)) == x for every x
-- that parses.

local sys = require("certbot.core").sys

local M = {}

local byte, sub, find = string.byte, string.sub, string.find

local B_NL, B_HASH, B_SEMI, B_LB, B_RB = 10, 35, 59, 123, 125
local B_DQ, B_SQ, B_BS, B_DOLLAR, B_RPAREN = 34, 39, 92, 36, 41

local function is_space(b)
  return b == 32 or b == 9 or b == 13 or b == 10
end

local ESCAPES = { ['"'] = '"', ["'"] = "'", ["\\"] = "\\", t = "\t", r = "\r", n = "\n" }

-- The value nginx reads from the text of a word (without its quotes).
local function unescape(s)
  if not find(s, "\\", 1, true) then return s end
  return (s:gsub("\\(.)", function(c) return ESCAPES[c] or ("\\" .. c) end))
end
M.unescape = unescape

-- Source text for a value: bare when nginx reads it back unchanged,
-- else double-quoted.
function M.quote(value)
  value = tostring(value)
  if value ~= "" and not find(value, "[%s;{}\"'#\\]") then
    return value
  end
  return '"' .. value:gsub('[\\"]', "\\%0") .. '"'
end

---------------------------------------------------------------------------
-- Parsing
---------------------------------------------------------------------------

local function lua_block_name(name)
  return name:sub(-13) == "_by_lua_block"
end
M.is_lua_block = lua_block_name

-- parse(text, name) -> file | nil, "name:line: message"
function M.parse(text, name)
  name = name or "(string)"
  local pos, len = 1, #text

  local function line_at(p)
    local n = 1
    for _ in sub(text, 1, p - 1):gmatch("\n") do n = n + 1 end
    return n
  end

  local function err(msg, p)
    error({ msg = ("%s:%d: %s"):format(name, line_at(p or pos), msg) }, 0)
  end

  -- Whitespace and comments from pos.
  local function trivia()
    local s = pos
    while true do
      local _, e = find(text, "^[ \t\r\n]+", pos)
      if e then pos = e + 1 end
      if byte(text, pos) == B_HASH then
        local nl = find(text, "\n", pos, true)
        pos = nl or len + 1
      elseif not e then
        break
      end
    end
    return sub(text, s, pos - 1)
  end

  local function quoted_word()
    local q = byte(text, pos)
    local start = pos
    local i = pos + 1
    local set = q == B_DQ and '[\\"]' or "[\\']"
    while true do
      local j = find(text, set, i)
      if not j then err("unexpected end of file, expecting terminating quote", start) end
      if byte(text, j) == B_BS then
        i = j + 2
      else
        i = j + 1
        break
      end
    end
    pos = i
    local nb = byte(text, pos)
    if nb and not (is_space(nb) or nb == B_SEMI or nb == B_LB or nb == B_RPAREN) then
      err(('unexpected "%s"'):format(string.char(nb)))
    end
    local raw = sub(text, start, pos - 1)
    return raw, unescape(sub(raw, 2, -2))
  end

  local function bare_word()
    local start, i, variable = pos, pos, false
    while i <= len do
      local b = byte(text, i)
      if b == B_LB and variable then
        i = i + 1
      else
        variable = false
        if b == B_BS then
          i = i + 2
        elseif b == B_DOLLAR then
          variable = true
          i = i + 1
        elseif is_space(b) or b == B_SEMI or b == B_LB then
          break
        else
          i = i + 1
        end
      end
    end
    if i > len + 1 then i = len + 1 end
    pos = i
    local raw = sub(text, start, pos - 1)
    return raw, unescape(raw)
  end

  local function word(sep)
    local b = byte(text, pos)
    local raw, value
    if b == B_DQ or b == B_SQ then raw, value = quoted_word() else raw, value = bare_word() end
    return { sep = sep, raw = raw, value = value }
  end

  -- Lua source after the '{' of a *_by_lua_block, to its matching '}'.
  local function lua_body()
    local start, depth = pos, 1
    while true do
      local j = find(text, "[-%[\"'{}]", pos)
      if not j then err("unexpected end of file in a Lua block, expecting \"}\"", start) end
      local c = sub(text, j, j)
      if c == "-" then
        if sub(text, j, j + 1) == "--" then
          local lb = text:match("^%[(=*)%[", j + 2)
          if lb then
            local _, e = find(text, "]" .. lb .. "]", j + 4 + #lb, true)
            if not e then err("unfinished long comment in a Lua block", j) end
            pos = e + 1
          else
            local nl = find(text, "\n", j, true)
            pos = nl and nl + 1 or len + 1
          end
        else
          pos = j + 1
        end
      elseif c == "[" then
        local lb = text:match("^%[(=*)%[", j)
        if lb then
          local _, e = find(text, "]" .. lb .. "]", j + 2 + #lb, true)
          if not e then err("unfinished long string in a Lua block", j) end
          pos = e + 1
        else
          pos = j + 1
        end
      elseif c == '"' or c == "'" then
        local i = j + 1
        while true do
          local k = find(text, c == '"' and '[\\"\n]' or "[\\'\n]", i)
          if not k or byte(text, k) == B_NL then err("unfinished string in a Lua block", j) end
          if byte(text, k) == B_BS then i = k + 2 else i = k + 1 break end
        end
        pos = i
      elseif c == "{" then
        depth = depth + 1
        pos = j + 1
      else -- "}"
        depth = depth - 1
        pos = j + 1
        if depth == 0 then return sub(text, start, j - 1) end
      end
    end
  end

  local function block(container, depth, open_pos)
    local children = {}
    container.children = children
    while true do
      local sep = trivia()
      local b = byte(text, pos)
      if not b then
        if depth > 0 then err('unexpected end of file, expecting "}"', open_pos) end
        container.tail = sep
        return
      end
      if b == B_RB then
        if depth == 0 then err('unexpected "}"') end
        container.tail = sep
        pos = pos + 1
        return
      end
      if b == B_SEMI or b == B_LB then err(('unexpected "%s"'):format(string.char(b))) end
      local node = { words = { word(sep) } }
      children[#children + 1] = node
      while true do
        local s2 = trivia()
        b = byte(text, pos)
        if not b then err('unexpected end of file, expecting ";" or "}"') end
        if b == B_SEMI then
          node.tsep = s2
          pos = pos + 1
          break
        elseif b == B_LB then
          node.tsep = s2
          local at = pos
          pos = pos + 1
          if lua_block_name(node.words[1].value) then
            node.lua = lua_body()
          else
            block(node, depth + 1, at)
          end
          break
        elseif b == B_RB then
          err('unexpected "}"')
        else
          node.words[#node.words + 1] = word(s2)
        end
      end
    end
  end

  local file = {}
  local ok, e = pcall(block, file, 0, 1)
  if not ok then
    if type(e) == "table" then return nil, e.msg end
    error(e, 0)
  end
  return file
end

---------------------------------------------------------------------------
-- Writing
---------------------------------------------------------------------------

local function dump_children(children, out)
  for _, n in ipairs(children) do
    for _, w in ipairs(n.words) do
      out[#out + 1] = w.sep
      out[#out + 1] = w.raw
    end
    out[#out + 1] = n.tsep or ""
    if n.lua then
      out[#out + 1] = "{"
      out[#out + 1] = n.lua
      out[#out + 1] = "}"
    elseif n.children then
      out[#out + 1] = "{"
      dump_children(n.children, out)
      out[#out + 1] = n.tail or ""
      out[#out + 1] = "}"
    else
      out[#out + 1] = ";"
    end
  end
end

-- dump(file or block node) -> text.  For a node, the node itself.
function M.dump(tree)
  local out = {}
  if tree.words then
    dump_children({ tree }, out)
  else
    dump_children(tree.children, out)
    out[#out + 1] = tree.tail or ""
  end
  return table.concat(out)
end

---------------------------------------------------------------------------
-- Reading and editing nodes
---------------------------------------------------------------------------

function M.name(node) return node.words[1].value end

-- The argument values of a directive (without its name).
function M.args(node)
  local t = {}
  for i = 2, #node.words do t[#t + 1] = node.words[i].value end
  return t
end

function M.is_block(node) return node.children ~= nil end

-- A value to be written double-quoted even when it need not be.
function M.quoted(value) return { quoted = tostring(value) } end

local function make_word(v, sep)
  if type(v) == "table" then
    return { sep = sep, raw = '"' .. v.quoted:gsub('[\\"]', "\\%0") .. '"', value = v.quoted }
  end
  return { sep = sep, raw = M.quote(v), value = tostring(v) }
end

-- A new directive from values: { "listen", "443", "ssl" } (a value may be
-- M.quoted(v)).  children: a list of nodes for a block.  Its spacing is set
-- when it is inserted.
function M.directive(values, children)
  local words = {}
  for i, v in ipairs(values) do words[i] = make_word(v, i == 1 and "" or " ") end
  local node = { words = words, tsep = children and " " or "", fresh = true }
  if children then
    node.children = children
    node.tail = ""
  end
  return node
end

-- Replace a directive's arguments, keeping the spacing (and the quoting)
-- of those that stay.
function M.set_args(node, values)
  local words = { node.words[1] }
  for i, v in ipairs(values) do
    local old = node.words[i + 1]
    local value = type(v) == "table" and v.quoted or tostring(v)
    if old and old.value == value then
      words[i + 1] = old
    else
      words[i + 1] = make_word(v, old and old.sep or " ")
    end
  end
  node.words = words
end

-- Keep only the words for which keep(value, index) is true (index > 1).
function M.filter_args(node, keep)
  local words = { node.words[1] }
  for i = 2, #node.words do
    if keep(node.words[i].value, i) then words[#words + 1] = node.words[i] end
  end
  node.words = words
end

-- Deep copy of a node (or list of nodes).
local function clone(x)
  if type(x) ~= "table" then return x end
  local t = {}
  for k, v in pairs(x) do t[k] = clone(v) end
  return t
end
M.clone = clone

-- The indentation of the line a node starts on ("" when unknown).
local function own_indent(node)
  local sep = node.words[1].sep
  local ind = sep:match("\n([ \t]*)$")
  return ind
end

-- The indentation for the children of `block` (a block node, or a file
-- when parent_indent is nil).
local function child_indent(block, block_indent)
  for _, c in ipairs(block.children) do
    local ind = own_indent(c)
    if ind then return ind end
  end
  if not block.words then return "" end
  block_indent = block_indent or own_indent(block) or ""
  local unit = "    "
  if block_indent and block_indent:find("\t") then unit = "\t" end
  return (block_indent or "") .. unit
end

-- The indentation step of a block: how much deeper its children sit than
-- its own line (nil when that cannot be seen).
function M.indent_unit(node)
  local own = own_indent(node) or ""
  for _, c in ipairs(node.children or {}) do
    local ind = own_indent(c)
    if ind and #ind > #own and ind:sub(1, #own) == own then return ind:sub(#own + 1) end
  end
  return nil
end

-- Lay out a freshly made node (and its fresh children) at indent, nesting
-- by unit (a tab where the indentation has tabs, else four spaces).
local function layout(node, indent, unit)
  if not node.fresh then return end
  node.fresh = nil
  node.words[1].sep = "\n" .. indent
  if node.children then
    unit = unit or (indent:find("\t") and "\t" or "    ")
    for _, c in ipairs(node.children) do
      layout(c, indent .. unit, unit)
    end
    node.tail = "\n" .. indent
  end
end

-- The trivia that follows position k of a container (between child k and
-- child k+1, or before the closing brace): get and set.
local function following(block, k)
  local nxt = block.children[k + 1]
  if nxt then return nxt.words[1].sep end
  return block.tail or ""
end

local function set_following(block, k, s)
  local nxt = block.children[k + 1]
  if nxt then nxt.words[1].sep = s else block.tail = s end
end

-- insert(block, index, node, opts): put node at children[index] (1 ..
-- #children+1) of a block node or file.  A fresh node gets the block's
-- indentation on a line of its own; a comment that ended the line of the
-- previous child stays on that line.  opts.comment: a comment to put after
-- the node on its line ("managed by Certbot").  opts.block_indent: the
-- block's own indentation, when known; opts.unit: the indentation step
-- for the children of a fresh node.
function M.insert(block, index, node, opts)
  opts = opts or {}
  local n = #block.children
  if index < 1 or index > n + 1 then error("insert: index out of range", 2) end
  local indent = child_indent(block, opts.block_indent)
  local trail = following(block, index - 1)
  -- the part of the trailing trivia on the previous line stays there
  local same_line, rest
  local nl = trail:find("\n", 1, true)
  if nl then
    same_line, rest = trail:sub(1, nl - 1), trail:sub(nl)
  else
    same_line, rest = trail, ""
  end
  if rest == "" then
    if index <= n then
      rest = "\n" .. indent -- the next child was on the same line
    elseif block.words then
      -- the closing brace was on the same line as the last child
      rest = "\n" .. (opts.block_indent or own_indent(block) or "")
    end
  end
  if node.fresh then layout(node, indent, opts.unit) end
  node.words[1].sep = same_line .. node.words[1].sep
  table.insert(block.children, index, node)
  set_following(block, index, (opts.comment and (" # " .. opts.comment) or "") .. rest)
end

-- remove(block, index) -> node: drop a child and its line.  Comment
-- lines above it and a comment ending the line before it stay; a comment
-- on its own line goes with it.
function M.remove(block, index)
  local node = table.remove(block.children, index)
  local sep = node.words[1].sep
  local keep = sep:match("^(.*)\n[ \t]*$") or sep
  local trail = following(block, index - 1)
  local tnl = trail:find("\n", 1, true)
  if tnl then
    if trail:sub(1, tnl - 1):find("#", 1, true) then trail = trail:sub(tnl) end
  elseif trail:find("#", 1, true) then
    trail = ""
  end
  set_following(block, index - 1, keep .. trail)
  return node
end

-- The indentation of a block node's own line.
M.indent_of = own_indent

---------------------------------------------------------------------------
-- Loading a configuration with its includes
---------------------------------------------------------------------------

local function has_glob(p) return find(p, "[*?[]") ~= nil end

-- A glob component -> Lua pattern (anchored); fnmatch's *, ?, [...] and
-- backslash escapes.
local function glob_pattern(comp)
  local out, i, n = { "^" }, 1, #comp
  while i <= n do
    local c = sub(comp, i, i)
    if c == "*" then
      out[#out + 1] = ".*"
    elseif c == "?" then
      out[#out + 1] = "."
    elseif c == "[" then
      local j = i + 1
      if sub(comp, j, j) == "!" or sub(comp, j, j) == "^" then j = j + 1 end
      if sub(comp, j, j) == "]" then j = j + 1 end
      local close = find(comp, "]", j, true)
      if not close then
        out[#out + 1] = "%["
      else
        local body = sub(comp, i + 1, close - 1)
        local neg = false
        if body:sub(1, 1) == "!" or body:sub(1, 1) == "^" then
          neg, body = true, body:sub(2)
        end
        local cls = body:gsub("[%%%]%^]", "%%%0")
        out[#out + 1] = "[" .. (neg and "^" or "") .. cls .. "]"
        i = close
      end
    elseif c == "\\" and i < n then
      i = i + 1
      out[#out + 1] = "%" .. sub(comp, i, i)
    elseif c:match("%w") then
      out[#out + 1] = c
    else
      out[#out + 1] = "%" .. c
    end
    i = i + 1
  end
  out[#out + 1] = "$"
  return table.concat(out)
end

-- glob(pattern) -> sorted list of existing regular files, as glob(3)
-- does for nginx: wildcards do not match a leading '.'.
function M.glob(pattern)
  local comps = {}
  for c in pattern:gmatch("[^/]+") do comps[#comps + 1] = c end
  local paths = { pattern:sub(1, 1) == "/" and "" or "." }
  for ci, comp in ipairs(comps) do
    local nextp = {}
    for _, base in ipairs(paths) do
      local dir = base == "" and "/" or base
      if has_glob(comp) then
        local pat = glob_pattern(comp)
        for _, name in ipairs(sys.listdir(dir) or {}) do
          if name:match(pat) and (name:sub(1, 1) ~= "." or comp:sub(1, 1) == ".") then
            nextp[#nextp + 1] = base .. "/" .. name
          end
        end
      else
        local p = base .. "/" .. comp:gsub("\\(.)", "%1")
        if ci == #comps or sys.stat(p) then nextp[#nextp + 1] = p end
      end
    end
    paths = nextp
  end
  local out = {}
  for _, p in ipairs(paths) do
    if p:sub(1, 2) == "./" and pattern:sub(1, 2) ~= "./" then p = p:sub(3) end
    local st = sys.stat(p)
    if st and st.type == "file" then out[#out + 1] = p end
  end
  table.sort(out)
  return out
end

local MAX_DEPTH = 32

-- load(root, main) -> config | nil, err.  root: the configuration
-- directory (relative includes are resolved against it, as nginx resolves
-- them against the directory of its -c file); main: the main file
-- (default root/nginx.conf).
--   config.files[path] = { path=, real=, text=, tree=, mode=, uid=, gid= }
--   config.main = path of the main file
-- An include node gets node.include = { path, ... } (the files it names).
function M.load(root, main)
  root = root:gsub("/+$", "")
  if root == "" then root = "/" end
  main = main or (root .. "/nginx.conf")
  local cfg = { root = root, main = main, files = {}, order = {} }

  local function resolve(p)
    if p:sub(1, 1) == "/" then return p end
    return (root == "/" and "" or root) .. "/" .. p
  end

  local load_file
  local function walk(children, depth)
    for _, node in ipairs(children) do
      if node.children then
        local ok, err = walk(node.children, depth)
        if not ok then return nil, err end
      elseif M.name(node) == "include" and #node.words == 2 then
        local target = resolve(node.words[2].value)
        local list
        if has_glob(target) then
          list = M.glob(target)
        else
          list = { target }
        end
        node.include = list
        for _, p in ipairs(list) do
          local ok, err = load_file(p, depth + 1)
          if not ok then return nil, err end
        end
      end
    end
    return true
  end

  function load_file(path, depth)
    if cfg.files[path] then return true end
    if depth > MAX_DEPTH then return nil, path .. ": includes nested too deeply" end
    local st, serr = sys.stat(path)
    if not st then return nil, ("%s: %s"):format(path, serr) end
    local text, rerr = sys.read_file(path, 16 << 20)
    if not text then return nil, rerr end
    local tree, perr = M.parse(text, path)
    if not tree then return nil, perr end
    local real = sys.realpath(path) or path
    local f = { path = path, real = real, text = text, tree = tree,
      mode = st.mode & 4095, uid = st.uid, gid = st.gid }
    cfg.files[path] = f
    cfg.order[#cfg.order + 1] = path
    return walk(tree.children, depth)
  end

  local ok, err = load_file(main, 0)
  if not ok then return nil, err end
  return cfg
end

-- The files of a configuration whose text changed: { file, ... }.
function M.changed(cfg)
  local out = {}
  for _, p in ipairs(cfg.order) do
    local f = cfg.files[p]
    local text = M.dump(f.tree)
    if text ~= f.text then
      f.new_text = text
      out[#out + 1] = f
    end
  end
  return out
end

return M
