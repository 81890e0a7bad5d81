-- errors.lua: the error values that carry an exit status.
--
-- Code deep inside a subcommand raises errors.raise("message", exit);
-- certbot.main catches it, prints the message as one line and exits with
-- that status.  Any other error is a bug: main reports it as unexpected.

local M = {}

local Error = {}
Error.__index = Error
Error.__tostring = function(e) return e.message end

-- new(message[, exit[, fields]]) -> error value (not raised).
-- exit defaults to 1; fields are copied in (e.g. key, source).
function M.new(message, exit, fields)
  local e = { message = tostring(message), exit = exit or 1 }
  if fields then
    for k, v in pairs(fields) do
      if e[k] == nil then e[k] = v end
    end
  end
  return setmetatable(e, Error)
end

-- raise(message[, exit[, fields]]): throw an error value.
function M.raise(message, exit, fields)
  error(M.new(message, exit, fields), 0)
end

-- usage(message): a command-line mistake, exit status 2.
function M.usage(message)
  error(M.new(message, 2, { usage = true }), 0)
end

-- is(v) -> true when v is an error value from this module (or any table
-- with a string `message` and an integer `exit`, so plugins need not
-- require this module).
function M.is(v)
  if getmetatable(v) == Error then return true end
  return type(v) == "table" and type(v.message) == "string" and math.type(v.exit) == "integer"
end

-- interrupted(v) -> true for the error a signal raises (csrc/main.c: SIGINT,
-- SIGTERM, SIGHUP or SIGQUIT, at the next Lua instruction).
function M.interrupted(v)
  return type(v) == "table" and v.interrupted == true
end

-- hold(fn, ...) -> fn(...): fn runs whole; the interrupt of a signal that
-- arrives meanwhile waits until it returns or raises (certbot.signals,
-- csrc/main.c).  For work that must not stop halfway: moving a lineage's
-- live links, writing its versions, the post hooks.  A program using the
-- library owns its signals: then it is a plain call.
M.hold = package.preload["certbot.signals"] and require("certbot.signals").hold
  or function(fn, ...) return fn(...) end

return M
