-- apache.ctl: the programs the apache plugin runs (apache2ctl, a2enmod),
-- always through core.sys.run with an environment, never a shell.
--
-- Debian's apache2ctl, a2enmod and a2ensite read APACHE_CONFDIR to find the
-- configuration (and its envvars file); the plugin sets it to
-- --apache-server-root, so a server root other than /etc/apache2 is
-- tested, reloaded and edited as itself:
--   APACHE_CONFDIR=ROOT apache2ctl configtest   runs apache2 -d ROOT -t
--   APACHE_CONFDIR=ROOT apache2ctl graceful     signals the PID in ROOT's PidFile
local core = require("certbot.core")
local log = require("certbot.log")

local sys = core.sys

local M = {}

-- The environment for the programs: ours, with APACHE_CONFDIR set.
function M.env(config)
  local root = (config.apache_server_root or "/etc/apache2"):gsub("/+$", "")
  local out = {}
  for _, kv in ipairs(sys.environ()) do
    if not kv:find("^APACHE_CONFDIR=") then out[#out + 1] = kv end
  end
  out[#out + 1] = "APACHE_CONFDIR=" .. root
  return out
end

local function first_lines(s, n)
  local out = {}
  for line in (s or ""):gmatch("[^\n]+") do
    line = line:gsub("^%s+", ""):gsub("%s+$", "")
    if line ~= "" and not line:find("^Action '.*' failed%.$")
      and not line:find("^The Apache error log may have more information%.$") then
      out[#out + 1] = line
      if #out == n then break end
    end
  end
  return table.concat(out, " / ")
end
M.first_lines = first_lines

-- run(config, argv[, flag]) -> code, stdout, stderr | nil, err; flag is
-- the option that names the program, for the message when it is missing.
function M.run(config, argv, flag)
  log.debug("apache: running %s", table.concat(argv, " "))
  local code, out, err = sys.run(argv, M.env(config))
  if code == nil then
    return nil, ("%s: %s"):format(argv[1], tostring(out))
  end
  if code == 127 and (err or ""):find("No such file", 1, true) then
    return nil, ("%s: not found (is apache2 installed? see %s)"):format(argv[1],
      flag or "--apache-ctl")
  end
  return code, out or "", err or ""
end

local function ctl(config) return config.apache_ctl or "apache2ctl" end

-- configtest(config) -> true | nil, "apache2ctl configtest: <why>"
function M.configtest(config)
  local code, out, err = M.run(config, { ctl(config), "configtest" })
  if not code then return nil, out end
  if code ~= 0 then
    return nil, ("%s configtest: %s"):format(ctl(config),
      first_lines(err ~= "" and err or out, 3))
  end
  return true
end

-- graceful(config) -> true | nil, err
function M.graceful(config)
  local code, out, err = M.run(config, { ctl(config), "graceful" })
  if not code then return nil, out end
  if code ~= 0 then
    return nil, ("%s graceful: %s"):format(ctl(config), first_lines(err ~= "" and err or out, 3))
  end
  return true
end

-- enmod(config, name) -> true | nil, err (Debian's a2enmod)
function M.enmod(config, name)
  local prog = config.apache_enmod or "a2enmod"
  local code, out, err = M.run(config, { prog, "-q", name }, "--apache-enmod")
  if not code then return nil, out end
  if code ~= 0 then
    return nil, ("%s %s: %s"):format(prog, name, first_lines(err ~= "" and err or out, 2))
  end
  return true
end

return M
