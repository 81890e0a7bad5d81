-- hooks: running users' commands.  Values travel only in the environment,
-- never inside the command string; the command runs with /bin/sh -c.

local sys = require("certbot.core").sys
local log = require("certbot.log")
local display = require("certbot.display")

local M = {}

-- env(extra) -> array of "K=V": this process's environment with extra
-- (a table name -> value) set or replaced.
function M.env(extra)
  local out, seen = {}, {}
  for k, v in pairs(extra or {}) do
    if v ~= nil then
      out[#out + 1] = k .. "=" .. tostring(v)
      seen[k] = true
    end
  end
  for _, kv in ipairs(sys.environ()) do
    local k = kv:match("^([^=]*)=")
    if k and not seen[k] then out[#out + 1] = kv end
  end
  return out
end

-- run(kind, cmd, extra_env) -> ok, stdout, stderr.
-- A failing hook is reported with its exit code and stderr; the caller
-- decides whether the run goes on.
function M.run(kind, cmd, extra_env)
  log.info("Running %s command: %s", kind, cmd)
  local code, out, err
  local r1, r2, r3, r4 = sys.run({ "/bin/sh", "-c", cmd }, M.env(extra_env))
  if r1 then
    code, out, err = r1, r2, r3
  else
    out, err = r3, r4 -- nil, "killed by signal N", stdout, stderr
  end
  if out and out ~= "" then log.info("Output from %s command %s:\n%s", kind, cmd, out) end
  if code == 0 then return true, out, err end
  local msg = ("%s command \"%s\" returned error code %s"):format(kind, cmd, code or r2)
  if err and err ~= "" then
    msg = msg .. "\nError output from " .. kind .. " command " .. cmd .. ":\n" .. err:gsub("\n$", "")
  end
  display.warn(msg)
  log.warning("%s", msg)
  return false, out or "", err or "", code
end

return M
