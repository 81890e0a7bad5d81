-- sandbox: the environment for Lua written by users (Lua hooks, and later
-- third-party plugins).  It is built from an allow-list, never by removing
-- things from _G: what is not listed here does not exist inside, and naming
-- it raises "undefined global 'x'" (or 'lib.x' for a library field) instead
-- of quietly giving nil.  Code is loaded as text only ("t"): precompiled
-- bytecode, which can break the VM's invariants, is refused.
--
-- Not offered: io, require, package, load, loadfile, dofile, debug,
-- getmetatable/setmetatable (the string metatable leads back to the real
-- string library), collectgarbage, coroutine, string.dump, and everything
-- in os except clock, date, difftime, getenv and time; math.randomseed
-- (it would reseed the host's generator too).  String methods ("s":upper())
-- still come from the real string library through the shared string
-- metatable, so ("").dump stays reachable; without load it only makes an
-- inert string.  The caller adds its own narrow API as extra globals
-- (hooks.lua gives a `hook` table).

local sys = require("certbot.core").sys

local M = {}

-- Base functions copied as they are.
M.BASE = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget",
  "rawlen", "select", "tonumber", "tostring", "type",
}

-- Library fields copied into fresh tables (one set per environment, so a
-- sandboxed chunk that reassigns string.format changes only its own copy).
M.LIBS = {
  math = {
    "abs", "ceil", "cos", "deg", "exp", "floor", "fmod", "huge", "log", "max",
    "maxinteger", "min", "mininteger", "modf", "pi", "rad", "random",
    "sin", "sqrt", "tan", "tointeger", "type", "ult", "acos", "asin", "atan",
  },
  os = { "clock", "date", "difftime", "getenv", "time" },
  string = {
    "byte", "char", "find", "format", "gmatch", "gsub", "len", "lower", "match",
    "pack", "packsize", "rep", "reverse", "sub", "unpack", "upper",
  },
  table = { "concat", "insert", "move", "pack", "remove", "sort", "unpack" },
  utf8 = { "char", "charpattern", "codepoint", "codes", "len", "offset" },
}

local function undefined(prefix)
  return function(_, k)
    -- level 2: the error points at the sandboxed line that named it
    error(("undefined global '%s%s'"):format(prefix, tostring(k)), 2)
  end
end

-- new(opts) -> env
-- opts.print(text): receives what print() writes, one call per print
--   (arguments through tostring, tab-separated, a newline at the end);
--   default: standard output.
-- opts.getenv(name): os.getenv inside; default the process's os.getenv.
-- opts.globals: extra globals (name -> value), set last.
function M.new(opts)
  opts = opts or {}
  local env = {}
  for _, name in ipairs(M.BASE) do env[name] = _G[name] end
  for lib, names in pairs(M.LIBS) do
    local t = {}
    for _, name in ipairs(names) do t[name] = _G[lib][name] end
    env[lib] = setmetatable(t, { __index = undefined(lib .. "."), __metatable = false })
  end
  env._VERSION = _VERSION
  env._G = env
  if opts.getenv then env.os.getenv = opts.getenv end
  local out = opts.print or function(s) io.stdout:write(s) end
  env.print = function(...)
    local n = select("#", ...)
    local parts = {}
    for i = 1, n do parts[i] = tostring((select(i, ...))) end
    out(table.concat(parts, "\t") .. "\n")
  end
  for k, v in pairs(opts.globals or {}) do env[k] = v end
  return setmetatable(env, { __index = undefined(""), __metatable = false })
end

-- load(src, path, env) -> function | nil, "path:line: message"
-- A first line starting with "#" (a "#!" line) is blanked, as lua5.4
-- does for files, so line numbers in messages stay right.
function M.load(src, path, env)
  if src:sub(1, 1) == "#" then src = src:gsub("^[^\n]*", "", 1) end
  return load(src, "@" .. path, "t", env)
end

-- loadfile(path, env[, max]) -> function | nil, err
-- Reads at most max bytes (default 1 MiB): a hook is a script, not data.
function M.loadfile(path, env, max)
  local src, err = sys.read_file(path, max or 1048576)
  if not src then return nil, err end
  return M.load(src, path, env)
end

return M
