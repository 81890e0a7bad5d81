-- spec/fuzz/fuzz_cli_ini.lua: the driver of fuzz_cli_ini (see fuzz_lua.h).
--
-- One input is a cli.ini.  lua/certbot/config.lua splits it into items
-- (config.parse) and checks them against the option table (config.events);
-- then cli.parse reads it from disk as the system cli.ini, under the
-- `certonly` and `renew` verbs, which applies every value (ints, paths,
-- domains, lists, flags) as a real run would.
--
-- Must hold: no Lua error anywhere (a bad file is `nil, "path:line: ..."`
-- or a usage error, never an internal error); parse and events are
-- deterministic; every item has a key without blanks, '=' or ':' and a
-- value that is true, a string or a list of strings; every error message
-- names the file.
local config = require("certbot.config")
local cli = require("certbot.cli")
local sys = require("certbot.core").sys

local PATH = "cli.ini"
-- cli.parse reads the file from disk: one scratch file for the run,
-- removed when the state closes (at exit).
local FILE = os.tmpname()
local cleanup = setmetatable({}, { __gc = function() os.remove(FILE) end })

local function broken(why) error({ broken = why }) end

local function run(input)
  local items, err = config.parse(input, PATH)
  if not items then
    if type(err) ~= "string" or err:sub(1, #PATH + 1) ~= PATH .. ":" then
      broken("parse: error without the file name: " .. tostring(err))
    end
    return
  end
  local again = config.parse(input, PATH)
  if not again or #again ~= #items then broken("parse is not deterministic") end
  for _, it in ipairs(items) do
    if type(it.key) ~= "string" or it.key == "" or it.key:find("[%s=:]") then
      broken("parse: bad key " .. tostring(it.key))
    end
    local v = it.value
    if type(v) == "table" then
      for _, x in ipairs(v) do
        if type(x) ~= "string" then broken("parse: a list item that is not a string") end
      end
    elseif v ~= true and type(v) ~= "string" then
      broken("parse: a value that is neither true, a string nor a list")
    end
    if math.type(it.line) ~= "integer" or it.line < 1 then broken("parse: no line number") end
  end
  local evs, eerr = config.events(items, PATH)
  if not evs and (type(eerr) ~= "string" or eerr:sub(1, #PATH + 1) ~= PATH .. ":") then
    broken("events: error without the file name: " .. tostring(eerr))
  end
  -- The full parse reads plugin directories named in the file: never
  -- load code from wherever a mutated path points.
  for _, it in ipairs(items) do
    if it.key == "plugin-dir" then return end
  end
  assert(sys.write_atomic(FILE, input, 384))
  local env = { CERTBOT_DEFAULT_CLI_INI = FILE }
  local function getenv(k) return env[k] end
  for _, verb in ipairs({ "certonly", "renew" }) do
    local c, cerr, code = cli.parse({ verb }, { getenv = getenv })
    if c == nil and (type(cerr) ~= "string" or (code ~= 1 and code ~= 2)) then
      broken("cli.parse: nil without a message and an exit code: " .. tostring(cerr))
    end
  end
end

return function(input)
  local _ = cleanup
  local ok, err = pcall(run, input)
  if ok then return true end
  if type(err) == "table" and err.broken then return false, err.broken end
  return false, "Lua error: " .. tostring(err)
end
