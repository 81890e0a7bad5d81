-- apache.http01: http-01 through the running Apache.
--
-- perform() writes each key authorization to
-- <challenge-location>/le_http_01_challenges/<token> and a configuration
-- file <challenge-location>/le_http_01_challenge.conf that serves that
-- directory at /.well-known/acme-challenge/ (a RewriteRule with [END], so
-- it wins over the site's own rewrites and redirects, or an Alias without
-- mod_rewrite).  The file is Included first in every plain-HTTP vhost for
-- the names (all of them when none matches; the main server when there
-- are no vhosts).  All of it is a temporary checkpoint: cleanup() puts the
-- vhost files back byte for byte, removes what was created and reloads.
--
-- The responses live beside the challenge configuration, not in the work
-- dir: Apache's children (www-data) must read them, and the work dir is
-- private (0700).
local core = require("certbot.core")
local log = require("certbot.log")
local names = require("certbot.names")
local vhosts = require("certbot.plugins.apache.vhosts")

local sys = core.sys

local M = {}

local DIR_MODE, FILE_MODE = 493, 420 -- 0755, 0644

function M.paths(loc)
  loc = loc:gsub("/+$", "")
  return loc .. "/le_http_01_challenge.conf", loc .. "/le_http_01_challenges"
end

function M.conf_text(dir)
  local q = '"' .. dir .. '"'
  return table.concat({
    "# Written by certbot for ACME http-01 validation; removed when it is over.",
    "<IfModule mod_rewrite.c>",
    "    RewriteEngine on",
    "    RewriteRule ^/\\.well-known/acme-challenge/([A-Za-z0-9_-]+)$ \"" .. dir .. "/$1\" [END]",
    "</IfModule>",
    "<IfModule !mod_rewrite.c>",
    "    Alias /.well-known/acme-challenge " .. q,
    "</IfModule>",
    "<Directory " .. q .. ">",
    "    Require all granted",
    "    Options None",
    "    AllowOverride None",
    "</Directory>",
    "<Location /.well-known/acme-challenge>",
    "    Require all granted",
    "</Location>",
    "",
  }, "\n")
end

local function has_include(p, parent, conf)
  for _, n in ipairs(p:find(parent, "Include", { children = true })) do
    if p:args(n)[1] == conf then return true end
  end
  return false
end

-- The loopback (or the listening IP) and port each target vhost answers on.
local function endpoints(p, targets)
  local listens = {}
  for _, n in ipairs(p:find_all("Listen", true)) do
    local a = p:args(n)[1] or ""
    local host, port = a:match("^%[?([^%]]*)%]?:(%d+)$")
    if not host then host, port = nil, a:match("^(%d+)$") end
    if port then listens[#listens + 1] = { host = host, port = port } end
  end
  local out, seen = {}, {}
  local function add(host, port)
    if not host or host == "" or host == "*" or host == "0.0.0.0" or host == "::"
      or host == "_default_" then
      host = "127.0.0.1"
    end
    local key = host .. " " .. port
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = { host = host, port = port }
    end
  end
  local function add_port(port, host)
    for _, l in ipairs(listens) do
      if port == "*" or l.port == port then add(host and host:gsub("^%[(.*)%]$", "%1") or l.host, l.port) end
    end
  end
  if #targets == 0 then
    add_port("*")
  else
    for _, vh in ipairs(targets) do
      for _, a in ipairs(vh.addrs) do
        local h = a.host
        if h == "*" or h == "_default_" then h = nil end
        add_port(a.port, h)
      end
    end
  end
  return out
end

-- Wait (up to 5 s) until Apache serves every key authorization after the
-- graceful reload; the CA checks as soon as we answer.
local function wait_served(p, challenges, targets)
  local ok_http, client = pcall(core.http.new, { https_only = false, timeout = 2,
    connect_timeout = 1, max_body = 4096 })
  if not ok_http or not client then return end
  local eps = endpoints(p, targets)
  if #eps == 0 then return end
  local pending = {}
  for _, ch in ipairs(challenges) do pending[#pending + 1] = ch end
  local deadline = sys.monotonic() + 5
  while #pending > 0 and sys.monotonic() < deadline do
    local left = {}
    for _, ch in ipairs(pending) do
      local served = false
      for _, ep in ipairs(eps) do
        local host = ep.host:find(":", 1, true) and "[" .. ep.host .. "]" or ep.host
        local res = client:request("GET", ("http://%s:%s/.well-known/acme-challenge/%s")
          :format(host, ep.port, ch.token), { headers = { "Host: " .. ch.domain } })
        if res and res.status == 200 and res.body == ch.key_authorization then
          served = true
          break
        end
      end
      if not served then left[#left + 1] = ch end
    end
    pending = left
    if #pending > 0 then sys.sleep(0.1) end
  end
  client:close()
  if #pending > 0 then
    log.warning("apache: could not see the http-01 response for %s served locally yet",
      pending[1].domain)
  end
end

-- perform(inst, challenges) -> true | nil, err
function M.perform(inst, challenges)
  local p, err = inst:tree()
  if not p then return nil, err end
  local rv, s = inst.rv, inst.s
  local conf, dir = M.paths(s.challenge_location)
  local created = { conf }
  for _, ch in ipairs(challenges) do
    local token, terr = names.token(ch.token)
    if not token then return nil, terr end
    created[#created + 1] = dir .. "/" .. token
  end
  local ok
  ok, err = rv:register_file_creation(true, created)
  if not ok then return nil, err end
  inst.challenge_changed = true
  if not sys.stat(dir) then
    ok, err = sys.mkdir(dir, DIR_MODE)
    if not ok then return nil, ("apache: cannot create %s: %s"):format(dir, err) end
  end
  for i, ch in ipairs(challenges) do
    ok, err = sys.write_atomic(created[i + 1], ch.key_authorization, FILE_MODE)
    if not ok then return nil, err end
  end
  ok, err = sys.write_atomic(conf, M.conf_text(dir), FILE_MODE)
  if not ok then return nil, err end

  -- the vhosts that answer for the names
  local targets, seen = {}, {}
  local function target(vh)
    if not seen[vh.node] then
      seen[vh.node] = true
      targets[#targets + 1] = vh
    end
  end
  local plain = {}
  for _, vh in ipairs(inst.vhs) do
    if vh.enabled and not vh.ssl then plain[#plain + 1] = vh end
  end
  for _, ch in ipairs(challenges) do
    local m = vhosts.matching(plain, ch.domain)
    if #m == 0 then
      log.info("apache: no HTTP VirtualHost names %s; the challenge goes into all of them",
        ch.domain)
      m = plain
    end
    for _, vh in ipairs(m) do target(vh) end
  end
  if #targets == 0 then
    if not has_include(p, p:fpath(p.root_file), conf) then
      p:add(p:fpath(p.root_file), "Include", { conf })
    end
  else
    for _, vh in ipairs(targets) do
      if not has_include(p, vh.node, conf) then
        p:add(vh.node, "Include", { conf }, { first = true })
      end
    end
  end
  inst:note("Added the http-01 challenge configuration " .. conf)
  ok, err = inst:save("http-01 challenge", true)
  if ok then ok, err = inst:config_test() end
  if ok then ok, err = inst:restart() end
  if not ok then return nil, err end
  wait_served(p, challenges, targets)
  return true
end

-- cleanup(inst, challenges) -> true | nil, err
function M.cleanup(inst)
  if not inst.challenge_changed then return true end
  inst.challenge_changed = false
  local ok, err = inst.rv:revert_temporary_config()
  inst:reset()
  local _, dir = M.paths(inst.s.challenge_location)
  if sys.stat(dir) then sys.rmdir(dir) end -- only when empty
  local rok, rerr = inst:restart()
  if not rok then log.warning("apache: reload after the challenge: %s", rerr) end
  if not ok then return nil, err end
  return true
end

return M
