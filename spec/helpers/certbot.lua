-- spec/helpers/certbot.lua: run the built executable against a Pebble
-- started by spec/helpers/pebble.lua, with private config/work/logs dirs.
--
--   local cb = require("spec.helpers.certbot").new(srv)
--   local code, out, err = cb:run({ "certonly", "--standalone", "-d", "a.example" })
--   cb:live("a.example")  -> { cert=, chain=, fullchain=, privkey= } paths
--   cb:cleanup()
local sys = require("certbot.core").sys
local proc = require("spec.helpers.proc")

local M = {}

local EXE = (os.getenv("CERTBOT_BUILD") or "build") .. "/certbot"

local C = {}
C.__index = C

function M.new(srv, opts)
  opts = opts or {}
  local dir = proc.tmpdir("certbot-")
  local self = setmetatable({ srv = srv, dir = dir,
    config_dir = dir .. "/config", work_dir = dir .. "/work", logs_dir = dir .. "/logs",
    env = opts.env or {} }, C)
  -- Responders listen on loopback only, and renew does not sleep a random
  -- while before its first renewal: a cli.ini, as an admin would write it.
  self.cli_ini = dir .. "/cli.ini"
  local f = assert(io.open(self.cli_ini, "w"))
  f:write("http-01-address = 127.0.0.1\nno-random-sleep-on-renew = true\n")
  f:close()
  return self
end

-- run(args, opts) -> code, stdout, stderr.  Adds the dirs, --server,
-- --agree-tos, -m and -n unless opts.bare; REQUESTS_CA_BUNDLE trusts Pebble.
function C:run(args, opts)
  opts = opts or {}
  local argv = { EXE }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  if not opts.bare then
    for _, a in ipairs({ "--config-dir", self.config_dir, "--work-dir", self.work_dir,
      "--logs-dir", self.logs_dir, "-n", "-c", self.cli_ini }) do argv[#argv + 1] = a end
    if self.srv then
      for _, a in ipairs({ "--server", self.srv.directory }) do argv[#argv + 1] = a end
    end
    if not opts.no_account_flags then
      for _, a in ipairs({ "--agree-tos", "-m", "spec@example.org" }) do argv[#argv + 1] = a end
    end
  end
  local extra = { REQUESTS_CA_BUNDLE = self.srv and self.srv.ca_file or nil,
    CERTBOT_DEFAULT_CLI_INI = "", XDG_CONFIG_HOME = self.dir }
  for k, v in pairs(self.env) do extra[k] = v end
  for k, v in pairs(opts.env or {}) do extra[k] = v end
  local env, seen = {}, {}
  for k, v in pairs(extra) do
    env[#env + 1] = k .. "=" .. v
    seen[k] = true
  end
  for _, kv in ipairs(sys.environ()) do
    local k = kv:match("^([^=]*)=")
    if not seen[k] then env[#env + 1] = kv end
  end
  local r1, r2, r3, r4 = sys.run(argv, env, { stdin = opts.stdin or "" })
  if r1 == nil then return nil, r3, (r4 or "") .. "\n" .. tostring(r2) end
  return r1, r2, r3
end

-- issue(names, extra) -> live paths of the first name: certonly with the
-- standalone responder on Pebble's http-01 port, asserting success.  On a
-- developer's machine other spec runs may hold port 5002 for a moment: a
-- bind failure is retried (in CI specs run one at a time).
function C:issue(names, extra)
  if type(names) == "string" then names = { names } end
  local args = { "certonly", "--standalone", "--http-01-port", "5002" }
  for _, d in ipairs(names) do
    args[#args + 1] = "-d"
    args[#args + 1] = d
  end
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  local code, out, err
  for _ = 1, 40 do
    code, out, err = self:run(args)
    if code == 0 or not (err or ""):find("could not bind to 127.0.0.1:5002", 1, true) then break end
    sys.sleep(0.5)
  end
  assert(code == 0, ("certonly %s failed (%s):\n%s%s"):format(table.concat(names, " "),
    tostring(code), out or "", err or ""))
  return self:live((names[1]:gsub("^%*%.", "")))
end

function C:live(name)
  local p = {}
  for _, k in ipairs({ "cert", "chain", "fullchain", "privkey" }) do
    p[k] = ("%s/live/%s/%s.pem"):format(self.config_dir, name, k)
  end
  return p
end

function C:exists(rel)
  return sys.lstat(self.config_dir .. "/" .. rel) ~= nil
end

function C:read(rel)
  return proc.read(self.config_dir .. "/" .. rel)
end

function C:cleanup()
  proc.rm_rf(self.dir)
end

-- sh(cmd) -> exit code, output (stdout+stderr), for openssl checks.
function M.sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return ok and 0 or code, out
end

-- Verify a lineage's chain against Pebble's current root with openssl.
function M.verify_chain(cb, name)
  local root = cb.dir .. "/root.pem"
  local f = assert(io.open(root, "w"))
  f:write(cb.srv.root_pem())
  f:close()
  local p = cb:live(name)
  return M.sh(("openssl verify -CAfile %s -untrusted %s %s"):format(
    proc.quote(root), proc.quote(p.chain), proc.quote(p.cert)))
end

return M
