-- apache.parser: the Apache configuration as one augeas tree (Httpd lens).
--
-- open{ server_root=, vhost_root= } loads the root file (apache2.conf or
-- httpd.conf) and every file it reaches through Include / IncludeOptional
-- (globs, directories, ${VAR} from Define and the environment), each under
-- its real path, so a file reached through sites-enabled/x.conf -> a
-- symlink is edited where it lives.  Files reached that way are "enabled";
-- the other files in vhost_root are loaded too, as "available".
--
-- Edits go into the tree; save() writes the changed files.  Directive and
-- section names are matched case-insensitively, as Apache does.  Every
-- function returns a value or nil, "apache: ..."; a path expression that
-- augeas rejects is a bug here, so those raise.
local core = require("certbot.core")
local log = require("certbot.log")

local sys = core.sys

local M = {}

local P = {}
P.__index = P

local LENS = "Httpd.lns"
local LOAD = "/augeas/load/Httpd"

-- A path element for augeas: characters its path syntax treats specially
-- are escaped with a backslash.
local function escape_path(path)
  return (path:gsub("[^%w/._%-+~@,]", "\\%0"))
end
M.escape_path = escape_path

-- An augeas regexp() literal matching name in any case: 'virtualhost', 'i'.
local function ci(name)
  assert(name:match("^[%w_.]+$"), "apache parser: bad directive name " .. name)
  return ("regexp('%s', 'i')"):format(name:gsub("%.", "\\."))
end

-- Strip one level of quotes from an argument: "a b" -> a b.
local function unquote(s)
  if not s then return nil end
  local q = s:sub(1, 1)
  if (q == '"' or q == "'") and #s >= 2 and s:sub(-1) == q then
    return (s:sub(2, -2):gsub("\\(.)", "%1"))
  end
  return s
end
M.unquote = unquote

-- Quote an argument when Apache would split or misread it.
local function quote(s)
  s = tostring(s)
  if s == "" or s:find("[%s\"'\\<>]") then
    return '"' .. s:gsub('[\\"]', "\\%0") .. '"'
  end
  return s
end
M.quote = quote

local function isabs(p) return p:sub(1, 1) == "/" end

local function dirname(p) return p:match("^(.*)/[^/]*$") or "." end
M.dirname = dirname

local function basename(p) return p:match("([^/]*)$") end
M.basename = basename

-- fnmatch(3)-style pattern for one path component -> Lua pattern.  As
-- Apache's Include does, a wildcard does not match a leading dot.
local function glob_pattern(pat)
  local out, i = { "^" }, 1
  while i <= #pat do
    local c = pat:sub(i, i)
    if c == "*" then
      out[#out + 1] = ".*"
    elseif c == "?" then
      out[#out + 1] = "."
    elseif c == "[" then
      local j = pat:find("]", i + 2, true)
      if not j then
        out[#out + 1] = "%["
      else
        local body = pat:sub(i + 1, j - 1):gsub("^!", "^"):gsub("%%", "%%%%")
        out[#out + 1] = "[" .. body .. "]"
        i = j
      end
    elseif c == "\\" and i < #pat then
      i = i + 1
      out[#out + 1] = "%" .. pat:sub(i, i)
    else
      out[#out + 1] = c:gsub("%p", "%%%0")
    end
    i = i + 1
  end
  out[#out + 1] = "$"
  return table.concat(out)
end

local function has_wildcard(s) return s:find("[*?%[]") ~= nil end

-- Every regular file under dir, recursively, sorted by name at each level.
local function dir_files(dir, out)
  local names = sys.listdir(dir) or {}
  table.sort(names)
  for _, n in ipairs(names) do
    local p = dir .. "/" .. n
    local st = sys.stat(p)
    if st and st.type == "directory" then
      dir_files(p, out)
    elseif st and st.type == "file" then
      out[#out + 1] = p
    end
  end
  return out
end

-- glob(path) -> sorted list of existing paths matching path (wildcards in
-- any component).
local function glob(path)
  local parts = {}
  for seg in path:gmatch("[^/]+") do parts[#parts + 1] = seg end
  local found = { "" }
  for i, seg in ipairs(parts) do
    local nextf = {}
    for _, base in ipairs(found) do
      if has_wildcard(seg) then
        local pat = glob_pattern(seg)
        local names = sys.listdir(base == "" and "/" or base) or {}
        table.sort(names)
        for _, n in ipairs(names) do
          if n:sub(1, 1) ~= "." and n:match(pat) then nextf[#nextf + 1] = base .. "/" .. n end
        end
      else
        local p = base .. "/" .. seg
        if i < #parts or sys.lstat(p) then nextf[#nextf + 1] = p end
      end
    end
    found = nextf
  end
  local out = {}
  for _, p in ipairs(found) do
    if sys.stat(p) then out[#out + 1] = p end
  end
  return out
end
M.glob = glob

-- ---- opening ----

-- open{ server_root=, vhost_root=, root_file= } -> parser | nil, err
function M.open(opts)
  local root = assert(opts.server_root, "apache parser: no server_root"):gsub("/+$", "")
  local root_file = opts.root_file
  if not root_file then
    for _, n in ipairs({ "apache2.conf", "httpd.conf", "conf/httpd.conf" }) do
      if sys.stat(root .. "/" .. n) then
        root_file = root .. "/" .. n
        break
      end
    end
  end
  if not root_file then
    return nil, ("apache: no apache2.conf or httpd.conf in %s (--apache-server-root)"):format(root)
  end
  local aug, err = core.augeas.new({ root = "/", flags = { "no_modl_autoload", "no_load",
    "enable_span" } })
  if not aug then return nil, err end
  local self = setmetatable({
    aug = aug,
    server_root = root,
    root_file = sys.realpath(root_file) or root_file,
    vhost_root = opts.vhost_root,
    files = {},      -- real path -> "enabled" | "available"
    order = {},      -- real paths in the order they were loaded
    defines = {},    -- Define NAME value
    walked = {},     -- include directives already followed
  }, P)
  assert(aug:set(LOAD .. "/lens", LENS))
  local ok
  ok, err = self:include(self.root_file, true)
  if not ok then
    aug:close()
    return nil, err
  end
  if self.vhost_root then
    for _, f in ipairs(glob(self.vhost_root:gsub("/+$", "") .. "/*")) do
      local real = sys.realpath(f) or f
      local st = sys.stat(real)
      if st and st.type == "file" and not self.files[real] then
        ok, err = self:include(real, false)
        if not ok then log.warning("apache: %s", err) end
      end
    end
  end
  return self
end

function P:close()
  if self.aug then self.aug:close() end
end

-- The tree path of a file: /files/etc/apache2/apache2.conf.
function P.fpath(_, file)
  return "/files" .. escape_path(file)
end

-- The file a tree path belongs to (the longest loaded file prefix).
function P:file_of(node)
  local best
  for f in pairs(self.files) do
    local fp = self:fpath(f)
    if (node == fp or node:sub(1, #fp + 1) == fp .. "/") and (not best or #f > #best) then
      best = f
    end
  end
  return best
end

-- Parse errors for file, as one line; nil when it parsed.
function P:parse_error(file)
  local node = "/augeas/files" .. escape_path(file) .. "/error"
  local e = self.aug:get(node)
  if not e then return nil end
  local msg = self.aug:get(node .. "/message") or e
  local line = self.aug:get(node .. "/line")
  return ("apache: cannot parse %s%s: %s"):format(file, line and (" line " .. line) or "", msg)
end

-- include(path, enabled) -> true | nil, err: load one file (a real path)
-- into the tree and, when enabled, follow its Include directives.
function P:include(file, enabled)
  local state = self.files[file]
  if state == "enabled" or (state and not enabled) then return true end
  if not state then
    local aug = self.aug
    assert(aug:set(LOAD .. "/incl[last()+1]", file))
    local ok, err = aug:load_file(file)
    if not ok then return nil, err end
    local perr = self:parse_error(file)
    if perr then
      for _, n in ipairs(assert(aug:match(LOAD .. "/incl"))) do
        if aug:get(n) == file then assert(aug:rm(n)) end
      end
      return nil, perr
    end
    self.order[#self.order + 1] = file
  end
  self.files[file] = enabled and "enabled" or "available"
  if enabled then return self:follow_includes(file) end
  return true
end

-- ${NAME} from Define directives, then the environment; an unknown name
-- stays as written (Apache would refuse it).
function P:expand(s)
  return (s:gsub("%${([%w_]+)}", function(name)
    return self.defines[name] or os.getenv(name)
  end))
end

-- resolve_include(arg) -> list of real file paths Apache reads for it.
function P:resolve_include(arg)
  local p = self:expand(unquote(arg))
  if not isabs(p) then p = self.server_root .. "/" .. p end
  local out = {}
  for _, m in ipairs(glob(p)) do
    local st = sys.stat(m)
    if st and st.type == "directory" then
      for _, f in ipairs(dir_files(m, {})) do out[#out + 1] = sys.realpath(f) or f end
    elseif st and st.type == "file" then
      out[#out + 1] = sys.realpath(m) or m
    end
  end
  return out
end

-- Follow the Include/IncludeOptional directives of file (and of what they
-- include), in document order; Define directives are read on the way.
function P:follow_includes(file)
  local aug = self.aug
  local fp = self:fpath(file)
  local nodes = assert(aug:match(fp .. "//directive[. =~ " .. ci("include") .. " or . =~ "
    .. ci("includeoptional") .. " or . =~ " .. ci("define") .. "]"))
  for _, node in ipairs(nodes) do
    local name = aug:get(node):lower()
    local args = self:args(node)
    if name == "define" then
      if args[1] then self.defines[args[1]] = args[2] or "" end
    elseif args[1] and not self.walked[node] then
      self.walked[node] = true
      for _, f in ipairs(self:resolve_include(args[1])) do
        local ok, err = self:include(f, true)
        if not ok then return nil, err end
      end
    end
  end
  return true
end

-- Files loaded and enabled (reached from the root file).
function P:enabled(file) return self.files[file] == "enabled" end

-- ---- reading ----

-- args(node) -> the node's arguments, unquoted.
function P:args(node, raw)
  local out = {}
  for i, a in ipairs(assert(self.aug:match(node .. "/arg"))) do
    local v = self.aug:get(a)
    out[i] = raw and v or unquote(v)
  end
  return out
end

-- find(start, name[, opts]) -> directive nodes named name under start:
-- opts.children = only direct children; opts.arg = first argument equal
-- (case-insensitive) to it.
function P:find(start, name, opts)
  opts = opts or {}
  local sep = opts.children and "/" or "//"
  local nodes = assert(self.aug:match(start .. sep .. "directive[. =~ " .. ci(name) .. "]"))
  if not opts.arg then return nodes end
  local out = {}
  for _, n in ipairs(nodes) do
    local a = self:args(n)[1]
    if a and a:lower() == opts.arg:lower() then out[#out + 1] = n end
  end
  return out
end

-- sections(start, name[, children]) -> section nodes (<VirtualHost> ...).
function P:sections(start, name, children)
  return assert(self.aug:match(start .. (children and "/" or "//") .. "*[label() =~ "
    .. ci(name) .. "]"))
end

-- find_in_files(name[, enabled_only]) -> directive nodes in every loaded file.
function P:find_all(name, enabled_only)
  local out = {}
  for _, f in ipairs(self.order) do
    if not enabled_only or self.files[f] == "enabled" then
      for _, n in ipairs(self:find(self:fpath(f), name)) do out[#out + 1] = n end
    end
  end
  return out
end

-- The section names from the file down to node: { "IfModule", "VirtualHost" }.
function P:ancestors(node)
  local file = self:file_of(node)
  local rest = node:sub(#self:fpath(file) + 2)
  local out = {}
  for seg in rest:gmatch("[^/]+") do out[#out + 1] = (seg:gsub("%[%d+%]$", "")) end
  out[#out] = nil
  return out
end

-- text(node) -> the bytes of the file the node was loaded from (needs the
-- node unchanged since loading).
function P:text(node)
  local sp, err = self.aug:span(node)
  if not sp then return nil, err end
  local data, rerr = sys.read_file(sp.filename)
  if not data then return nil, rerr end
  return data:sub(sp.span_start + 1, sp.span_end)
end

-- Modules LoadModule'd in enabled files: { ssl_module = "/usr/lib/.../mod_ssl.so" }.
function P:modules()
  local out = {}
  for _, n in ipairs(self:find_all("LoadModule", true)) do
    local a = self:args(n)
    if a[1] then out[a[1]] = a[2] or "" end
  end
  return out
end

-- ---- writing ----

-- set_args(node, args): replace the node's arguments.
-- Arguments come before a section's content, so new ones are inserted
-- after the last argument (or before the first child).
function P:set_args(node, args)
  local aug = self.aug
  local have = assert(aug:match(node .. "/arg"))
  for i, a in ipairs(args) do
    local v = quote(a)
    if have[i] then
      assert(aug:set(have[i], v))
    else
      if i > 1 then
        assert(aug:insert(node .. "/arg[" .. (i - 1) .. "]", "arg", false))
      else
        local kids = assert(aug:match(node .. "/*"))
        if #kids > 0 then assert(aug:insert(kids[1], "arg", true)) end
      end
      assert(aug:set(node .. "/arg[" .. i .. "]", v))
    end
  end
  for i = #have, #args + 1, -1 do assert(aug:rm(have[i])) end
end

-- add(parent, name, args[, opts]) -> node: a new directive at the end of
-- parent, or opts.first: before its first directive or section, or
-- opts.after = node: right after that sibling.
function P:add(parent, name, args, opts)
  opts = opts or {}
  local aug = self.aug
  local node
  if opts.after then
    assert(aug:insert(opts.after, "directive", false))
    local sibs = assert(aug:match(parent .. "/*"))
    for i, s in ipairs(sibs) do
      if s == opts.after then node = sibs[i + 1] end
    end
  elseif opts.first then
    local kids = assert(aug:match(parent .. "/*[label() != 'arg']"))
    if #kids == 0 then
      node = nil
    else
      assert(aug:insert(kids[1], "directive", true))
      node = assert(aug:match(parent .. "/*[label() != 'arg']"))[1]
    end
  end
  if not node then
    assert(aug:set(parent .. "/directive[last()+1]", name))
    node = assert(aug:match(parent .. "/directive[last()]"))[1]
  end
  assert(aug:set(node, name))
  self:set_args(node, args or {})
  return node
end

-- add_section(parent, name, args) -> node: a new section at parent's end.
function P:add_section(parent, name, args)
  local aug = self.aug
  local label = name
  local before = #assert(aug:match(parent .. "/" .. label))
  assert(aug:set(parent .. "/" .. label .. "[" .. (before + 1) .. "]", nil))
  local node = parent .. "/" .. label .. "[" .. (before + 1) .. "]"
  node = assert(aug:match(node))[1]
  self:set_args(node, args or {})
  return node
end

function P:remove(node)
  return assert(self.aug:rm(node))
end

-- load_new(file, enabled) -> true | nil, err: a file written outside the
-- tree (a new vhost file) joins it without touching unsaved changes.
function P:load_new(file, enabled)
  local real = sys.realpath(file) or file
  if self.files[real] then
    if enabled and self.files[real] ~= "enabled" then
      self.files[real] = "enabled"
      return self:follow_includes(real)
    end
    return true
  end
  return self:include(real, enabled)
end

-- dirty_files() -> the files save() would write (augeas's noop save).
function P:dirty_files()
  local aug = self.aug
  assert(aug:set("/augeas/save", "noop"))
  local ok, err = aug:save()
  assert(aug:set("/augeas/save", "overwrite"))
  if not ok then return nil, err end
  local out = {}
  for _, n in ipairs(assert(aug:match("/augeas/events/saved"))) do
    local p = aug:get(n)
    if p then out[#out + 1] = self:file_of(p) or p:gsub("^/files", "") end
  end
  return out
end

-- save() -> true | nil, err
function P:save()
  local ok, err = self.aug:save()
  if not ok then return nil, err end
  return true
end

return M
