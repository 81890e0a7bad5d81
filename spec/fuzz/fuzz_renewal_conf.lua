-- spec/fuzz/fuzz_renewal_conf.lua: the driver of fuzz_renewal_conf (see
-- fuzz_lua.h).
--
-- One input is a renewal conf (lua/certbot/confobj.lua: the configobj
-- subset).  confobj.parse reads it in C (core.sys.conf_read, with the Lua
-- general() for the lines that are not plain) and falls back to
-- parse_lua; confobj.write writes a conf back.
--
-- Must hold:
--  - parse and parse_lua give the same conf, or both refuse the text
--    (confobj.lua promises it; a no-op renew takes the C path, an error
--    message the Lua one);
--  - the round trip: when write(parse(x)) succeeds, parse of it is
--    parse(x) again (what renew writes back, Certbot and we read the same);
--  - no Lua error from parse (a bad conf is nil, "name:line: ...").
local confobj = require("certbot.confobj")

local function broken(why) error({ broken = why }) end

-- The first difference between two confs, as a path, or nil.
local function diff(a, b, path)
  if type(a) ~= type(b) then return path .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) ~= "table" then
    if a ~= b then return ("%s: %q vs %q"):format(path, a, b) end
    return nil
  end
  for k, v in pairs(a) do
    local d = diff(v, b[k], path .. "." .. tostring(k))
    if d then return d end
  end
  for k in pairs(b) do
    if a[k] == nil then return path .. "." .. tostring(k) .. ": missing on the left" end
  end
  return nil
end

local function run(input)
  local conf, err = confobj.parse(input, "x.conf")
  local lconf, lerr = confobj.parse_lua(input, "x.conf")
  if (conf == nil) ~= (lconf == nil) then
    broken(("parse %s, parse_lua %s"):format(conf and "reads it" or ("refuses: " .. tostring(err)),
      lconf and "reads it" or ("refuses: " .. tostring(lerr))))
  end
  if not conf then
    if type(err) ~= "string" or not err:find("^x%.conf:%d+: ") then
      broken("parse: error without name and line: " .. tostring(err))
    end
    return
  end
  local d = diff(conf, lconf, "conf")
  if d then broken("parse and parse_lua differ at " .. d) end
  -- write() raises for what configobj cannot write at all (a value with
  -- a newline, or with ''' and """ both): not a round trip to check.
  local wok, text = pcall(confobj.write, conf)
  if not wok then
    if not tostring(text):find("confobj: ", 1, true) then broken("write raised: " .. tostring(text)) end
    return
  end
  local back, berr = confobj.parse(text, "written")
  if not back then broken("parse(write(parse(x))) fails: " .. tostring(berr) .. "\n" .. text) end
  d = diff(conf, back, "conf")
  if d then broken("parse(write(parse(x))) ~= parse(x) at " .. d .. "\nwritten:\n" .. text) end
end

return function(input)
  local ok, err = pcall(run, input)
  if ok then return true end
  if type(err) == "table" and err.broken then return false, err.broken end
  return false, "Lua error: " .. tostring(err)
end
