-- webroot: puts each http-01 key authorization in
-- <webroot>/.well-known/acme-challenge/<token> for a running webserver to
-- serve, and removes exactly what it created afterwards, also on failure.
local core = require("certbot.core")
local names = require("certbot.names")
local display = require("certbot.display")
local log = require("certbot.log")

local sys = core.sys

local P = {
  name = "webroot",
  description = "Saves the necessary validation files to a .well-known/acme-challenge/ "
    .. "directory within the nominated webroot path.",
  authenticator = true,
}

local Inst = {}
Inst.__index = Inst

local DIR_MODE, FILE_MODE = 493, 420 -- 0755, 0644

function P.new(config)
  return setmetatable({ config = config, created_files = {}, created_dirs = {} }, Inst)
end

function Inst.prepare() return true end

function Inst.challenge_preferences()
  return { "http-01" }
end

-- The webroot for a domain: --webroot-map (which -w/-d pairs fill), else
-- the last -w for every unmatched domain (as Certbot does), else (on a
-- terminal) asked.  The choice joins webroot_map, which the renewal conf
-- stores.
function Inst:root_for(domain)
  local map = self.config.webroot_map or {}
  self.config.webroot_map = map
  if map[domain] then return map[domain] end
  local paths = self.config.webroot_path or {}
  if type(paths) == "string" then paths = { paths } end
  local root
  if #paths > 0 then
    root = paths[#paths]
    log.info("Using the webroot path %s for all unmatched domains.", root)
  elseif display.interactive then
    root = display.input("Input the webroot for " .. domain .. ":")
  end
  if not root or root == "" then
    return nil, "Missing parts of webroot configuration; please set either --webroot-path and "
      .. "--domains, or --webroot-map. Run with --help webroot for examples."
  end
  map[domain] = root
  return root
end

function Inst:_mkdir(path, owner)
  if sys.stat(path) then return true end
  local ok, err = sys.mkdir(path, DIR_MODE)
  if not ok then return nil, err end
  self.created_dirs[#self.created_dirs + 1] = path
  sys.chown(path, owner.uid, owner.gid)
  return true
end

function Inst:perform(challenges)
  for _, ch in ipairs(challenges) do
    local token, terr = names.token(ch.token)
    if not token then return nil, terr end
    local root, err = self:root_for(ch.domain)
    if not root then return nil, err end
    root = root:gsub("/+$", "")
    local st = sys.stat(root)
    if not st or st.type ~= "directory" then
      return nil, ("Couldn't find the webroot for %s: %s does not exist or is not a directory")
        :format(ch.domain, root)
    end
    local wk = root .. "/.well-known"
    local dir = wk .. "/acme-challenge"
    local ok, merr = self:_mkdir(wk, st)
    if ok then ok, merr = self:_mkdir(dir, st) end
    if not ok then
      return nil, ("Couldn't create root for %s http-01 challenge responses: %s"):format(ch.domain, merr)
    end
    local path = dir .. "/" .. token
    local wok, werr = sys.write_atomic(path, ch.key_authorization, FILE_MODE)
    if not wok then return nil, werr end
    self.created_files[#self.created_files + 1] = path
    sys.chown(path, st.uid, st.gid)
    log.debug("webroot: wrote %s", path)
  end
  return true
end

function Inst:cleanup()
  for _, path in ipairs(self.created_files) do
    local ok, err = sys.unlink(path)
    if not ok then log.warning("webroot: could not remove %s: %s", path, err) end
  end
  self.created_files = {}
  for i = #self.created_dirs, 1, -1 do
    sys.rmdir(self.created_dirs[i]) -- only when empty; others' files stay
  end
  self.created_dirs = {}
end

return P
