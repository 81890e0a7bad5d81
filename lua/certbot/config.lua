-- config.lua: cli.ini files.
--
-- Certbot (through ConfigArgParse) reads, in this order, each later file
-- winning over the earlier ones and the command line over all of them:
--   /etc/letsencrypt/cli.ini            (regardless of --config-dir)
--   $XDG_CONFIG_HOME/letsencrypt/cli.ini, or ~/.config/letsencrypt/cli.ini
--   the file given with -c/--config     (must exist)
-- Tests replace the first path with the environment variable
-- CERTBOT_DEFAULT_CLI_INI (empty: no system file).  Certbot has no such
-- variable; it exists for tests only.
--
-- Format: one `key = value` per line (also `key: value` and `key value`);
-- keys are long option names without the dashes; `#` and `;` start
-- comments (at the start of a line, or after whitespace); `[section]`
-- lines are ignored; a bare `key` or `key = true|yes|1` turns a flag on,
-- `key = false|no|0` leaves it alone; `key = [a, b]` gives a list option
-- several values.

local options = require "certbot.options"

local M = {}

M.SYSTEM_FILE = "/etc/letsencrypt/cli.ini"
M.MAX_SIZE = 1024 * 1024

local ENOENT, EACCES, ENOTDIR = 2, 13, 20

-- default_files(getenv) -> { path, ... } in precedence order (lowest first)
function M.default_files(getenv)
  getenv = getenv or os.getenv
  local out = {}
  local sys = getenv("CERTBOT_DEFAULT_CLI_INI")
  if sys == nil then sys = M.SYSTEM_FILE end
  if sys ~= "" then out[#out + 1] = sys end
  local xdg = getenv("XDG_CONFIG_HOME")
  if xdg and xdg ~= "" then
    out[#out + 1] = xdg .. "/letsencrypt/cli.ini"
  else
    local home = getenv("HOME")
    if home and home ~= "" then out[#out + 1] = home .. "/.config/letsencrypt/cli.ini" end
  end
  return out
end

local function unquote(v)
  local q = v:sub(1, 1)
  if (q == '"' or q == "'") and #v >= 2 and v:sub(-1) == q then return v:sub(2, -2) end
  return v
end

-- parse(text, path) -> items | nil, "path:line: message"
-- items: array of { key = "rsa-key-size", value = "4096" | true | {list},
--                   line = 3 }
function M.parse(text, path)
  local items = {}
  local n = 0
  for raw in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local s = raw:gsub("\r$", ""):match("^%s*(.-)%s*$")
    if s ~= "" and not s:find("^[#;]") and not s:find("^%[") then
      local key, rest = s:match("^([^:=;#%s]+)(.*)$")
      if not key then
        return nil, string.format("%s:%d: expected 'key = value', got '%s'", path, n, s)
      end
      local value
      if rest == "" then
        value = true
      else
        local v = rest:match("^%s*[:=]%s*(.*)$") or rest:match("^%s+(.*)$")
        if not v then
          return nil, string.format("%s:%d: expected 'key = value', got '%s'", path, n, s)
        end
        -- an inline comment starts at whitespace followed by # or ;
        local c = v:find("%s[#;]")
        if c then v = v:sub(1, c - 1) end
        if v:find("^[#;]") then v = "" end
        v = v:match("^%s*(.-)%s*$")
        if v:sub(1, 1) == "[" and v:sub(-1) == "]" then
          local list = {}
          for part in v:sub(2, -2):gmatch("[^,]+") do
            part = unquote(part:match("^%s*(.-)%s*$"))
            if part ~= "" then list[#list + 1] = part end
          end
          value = list
        else
          value = unquote(v)
        end
      end
      items[#items + 1] = { key = key, value = value, line = n }
    end
  end
  return items
end

local FLAGS = { flag = true, flag_false = true, append_const = true }
local TRUE = { ["true"] = true, yes = true, ["1"] = true }
local FALSE = { ["false"] = true, no = true, ["0"] = true }

-- events(items, path) -> events | nil, err
-- Each event: { entry, name = "--key", value = string|nil, kind = "config_file",
--               where = "path:line" }, the same shape cli.lua makes from argv.
function M.events(items, path)
  local out = {}
  for _, it in ipairs(items) do
    local where = path .. ":" .. it.line
    local e = options.by_long(it.key)
    if not e or e.type == "help" or e.type == "version" or e.dest == "config_file" then
      return nil, string.format("%s: unknown option '%s'", where, it.key)
    end
    local name = "--" .. it.key
    local v = it.value
    local function ev(value)
      out[#out + 1] = { entry = e, name = name, value = value, kind = "config_file", where = where }
    end
    if FLAGS[e.type] or e.type == "count" then
      local times
      if v == true then
        times = 1
      elseif type(v) == "string" and TRUE[v:lower()] then
        times = 1
      elseif type(v) == "string" and FALSE[v:lower()] then
        times = 0
      elseif e.type == "count" and type(v) == "string" and v:match("^%d+$") then
        times = tonumber(v)
      else
        return nil, string.format("%s: unexpected value for %s: '%s' (expected true, false, "
          .. "yes, no, 1 or 0)", where, it.key, type(v) == "table" and "[...]" or tostring(v))
      end
      for _ = 1, times do ev(nil) end
    elseif type(v) == "table" then
      if e.type ~= "list" then
        return nil, string.format("%s: option '%s' takes one value, not a list", where, it.key)
      end
      for _, x in ipairs(v) do ev(x) end
    elseif v == true then
      return nil, string.format("%s: option '%s' needs a value", where, it.key)
    else
      ev(v)
    end
  end
  return out
end

local function lstat_visible(path)
  local ok, core = pcall(require, "certbot.core")
  if not ok or not core.sys or not core.sys.lstat then return true end
  return core.sys.lstat(path) ~= nil
end

-- read(path, required) -> text | nil, err, missing
-- A missing default file is not an error (missing = true); neither is one
-- that cannot even be looked up (a parent directory we may not search),
-- which is what Certbot's glob does.
function M.read(path, required)
  local f, err, code = io.open(path, "rb")
  if not f then
    if not required and (code == ENOENT or code == ENOTDIR
        or (code == EACCES and not lstat_visible(path))) then
      return nil, nil, true
    end
    return nil, "cannot read " .. (err or path)
  end
  local text, rerr = f:read(M.MAX_SIZE + 1)
  f:close()
  if text == nil and rerr then return nil, "cannot read " .. path .. ": " .. rerr end
  text = text or ""
  if #text > M.MAX_SIZE then return nil, path .. ": larger than " .. M.MAX_SIZE .. " bytes" end
  return text
end

-- load_file(path, required) -> events | nil, err
function M.load_file(path, required)
  local text, err, missing = M.read(path, required)
  if not text then
    if missing then return {} end
    return nil, err
  end
  local items, perr = M.parse(text, path)
  if not items then return nil, perr end
  return M.events(items, path)
end

-- read_all(getenv, explicit) -> { {path = p, items = {...}}, ... } | nil, err
-- Every default file that exists, then `explicit` (-c), which must exist,
-- read and split into items (M.parse), without looking at the option
-- table: cli.lua reads --plugin-dir and --config-dir from them before the
-- third-party plugins that add options are loaded.
function M.read_all(getenv, explicit)
  local out = {}
  local function one(p, required)
    local text, err, missing = M.read(p, required)
    if not text then
      if missing then return true end
      return nil, err
    end
    local items, perr = M.parse(text, p)
    if not items then return nil, perr end
    out[#out + 1] = { path = p, items = items }
    return true
  end
  for _, p in ipairs(M.default_files(getenv)) do
    local ok, err = one(p, false)
    if not ok then return nil, err end
  end
  if explicit then
    local ok, err = one(explicit, true)
    if not ok then return nil, err end
  end
  return out
end

-- load(getenv, explicit[, files]) -> { {path = p, events = {...}}, ... } | nil, err
-- The files of read_all (or `files`, what it returned earlier) as events.
-- Each file is parsed into fresh tables; nothing is returned unless all of
-- them parsed.
function M.load(getenv, explicit, files)
  if not files then
    local err
    files, err = M.read_all(getenv, explicit)
    if not files then return nil, err end
  end
  local out = {}
  for _, f in ipairs(files) do
    local evs, err = M.events(f.items, f.path)
    if not evs then return nil, err end
    out[#out + 1] = { path = f.path, events = evs }
  end
  return out
end

return M
