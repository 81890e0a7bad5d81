-- deploy-dir: an example third-party installer (docs/plugins.md).  It
-- "installs" a certificate by copying its full chain and key to
-- <--deploy-dir-path>/<domain>/, for a program that reads them from there;
-- every change goes through certbot.reverter, so `certbot rollback` and
-- `certbot config_changes` work as with the nginx plugin.
--   certbot run -a standalone -i deploy-dir --plugin-dir DIR --deploy-dir-path /srv/tls -d ...
local core = require("certbot.core")
local reverter = require("certbot.reverter")

local sys = core.sys

local P = {
  name = "deploy-dir",
  description = "Copies each certificate and its key into a directory of your choice.",
  installer = true,
  options = {
    { name = "path", type = "path", abspath = true, metavar = "DIR", default = "/srv/tls",
      help = "Directory that receives <domain>/fullchain.pem and <domain>/privkey.pem." },
  },
}

local I = {}
I.__index = I

function P.new(config)
  return setmetatable({ root = config:plugin("deploy-dir"):string("path"), rv = reverter.new(config) }, I)
end

function I:put(path, data, mode)
  -- back up what is there, or note that this change creates it
  local ok, err
  if sys.stat(path) then ok, err = self.rv:add_to_checkpoint({ path }, "Replaced " .. path)
  else ok, err = self.rv:register_file_creation(false, { path }) end
  if ok then ok, err = sys.write_atomic(path, data, mode) end
  return ok, err
end

function I:deploy_cert(domain, paths)
  local dir = self.root .. "/" .. domain
  local ok, err = sys.mkdir(dir, 448, true) -- 0700
  if not ok then return nil, err end
  for name, mode in pairs({ fullchain = 420, privkey = 384 }) do -- 0644, 0600
    local data, rerr = sys.read_file(paths[name])
    if not data then return nil, rerr end
    ok, err = self:put(dir .. "/" .. name .. ".pem", data, mode)
    if not ok then return nil, err end
  end
  return true, dir -- "Successfully deployed certificate for <domain> to <dir>"
end

function I.names() return {} end -- no server config to find names in
function I.supported_enhancements() return {} end
function I.enhance(_, _, name) return nil, "deploy-dir has no " .. name .. " enhancement" end
function I:save(title, temporary)
  if temporary then return true end -- deploy-dir makes no temporary changes
  return self.rv:finalize_checkpoint(title)
end
function I:rollback(n) return self.rv:rollback_checkpoints(n) end
function I:recovery() return self.rv:recovery_routine() end
function I.config_test() return true end
function I.restart() return true end -- a real one would reload its server here

return P
