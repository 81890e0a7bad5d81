-- apache: the Apache plugin, authenticator (http-01) and installer, over
-- the configuration as parsed by libaugeas (core.augeas, Httpd lens).
--
-- Layouts: Debian's (apache2.conf, ports.conf, mods-/sites-available and
-- -enabled, a2enmod) and a plain one (everything in apache2.conf or
-- httpd.conf, modules by LoadModule).  Every change goes through the
-- reverter (lua/certbot/reverter.lua) before it reaches the disk, and
-- state lives on disk, not in the instance: the authenticator and the
-- installer are separate instances.
--
-- With --apache-server-root other than /etc/apache2, --apache-vhost-root
-- and --apache-challenge-location default to ROOT/sites-available and
-- ROOT, and apache2ctl and a2enmod run with APACHE_CONFDIR=ROOT (see ctl.lua).
local core = require("certbot.core")
local log = require("certbot.log")
local reverter = require("certbot.reverter")
local ctl = require("certbot.plugins.apache.ctl")
local http01 = require("certbot.plugins.apache.http01")
local parser = require("certbot.plugins.apache.parser")
local vhosts = require("certbot.plugins.apache.vhosts")

local sys = core.sys

local P = {
  name = "apache",
  description = "Apache Web Server plugin",
  authenticator = true,
  installer = true,
}

local Inst = {}
Inst.__index = Inst

local FILE_MODE = 420 -- 0644
local DEFAULT_ROOT = "/etc/apache2"

P.OPTIONS_SSL_NAME = "options-ssl-apache.conf"

-- Our TLS settings, written once to <config-dir>/options-ssl-apache.conf
-- and Included in every vhost we install a certificate into: TLS 1.2 and
-- 1.3 only; for TLS 1.2 only ECDHE key exchange with AEAD ciphers (AES-GCM,
-- ChaCha20-Poly1305), as RFC 9325 recommends; the client picks among them.
P.OPTIONS_SSL = table.concat({
  "# TLS settings for the Apache sites certbot installs certificates into.",
  "# certbot writes this file when it is missing and never changes it afterwards.",
  "SSLProtocol -all +TLSv1.2 +TLSv1.3",
  "SSLCipherSuite ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    .. "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    .. "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
  "SSLHonorCipherOrder off",
  "SSLSessionTickets off",
  "SSLCompression off",
  "SSLOptions +StrictRequire",
  "",
}, "\n")

local HEADERS = {
  ["Strict-Transport-Security"] = { "Strict-Transport-Security", "max-age=31536000" },
  ["Upgrade-Insecure-Requests"] = { "Content-Security-Policy", "upgrade-insecure-requests" },
}

-- Server root locks, one per process and root (fcntl locks belong to the
-- process: a second lock on the same file from this process would be
-- dropped with the first).
local locks = {}

local function strip(p) return (p:gsub("(.)/+$", "%1")) end

local function isdir(p)
  local st = sys.stat(p)
  return st and st.type == "directory"
end

-- The paths this run works with.
local function settings(config)
  local root = strip(config.apache_server_root or DEFAULT_ROOT)
  local function derive(v, default, rel)
    v = v and strip(v)
    if (v == nil or v == default) and root ~= DEFAULT_ROOT then return root .. rel end
    return v or default
  end
  local s = {
    root = root,
    vhost_root = derive(config.apache_vhost_root, DEFAULT_ROOT .. "/sites-available",
      "/sites-available"),
    challenge_location = derive(config.apache_challenge_location, DEFAULT_ROOT, ""),
    ext = config.apache_le_vhost_ext or "-le-ssl.conf",
    https_port = math.tointeger(config.https_port) or 443,
    handle_modules = config.apache_handle_modules ~= false,
    handle_sites = config.apache_handle_sites ~= false,
    config_dir = config.config_dir,
  }
  s.debian = isdir(root .. "/mods-available") and isdir(root .. "/mods-enabled")
    and isdir(root .. "/sites-available") and isdir(root .. "/sites-enabled")
  return s
end

function P.new(config)
  return setmetatable({ config = config, s = settings(config), rv = reverter.new(config),
    notes = {} }, Inst)
end

local function lock_root(root)
  if locks[root] then return true end
  local lk, err, why = sys.lock(root .. "/.certbot.lock")
  if not lk then
    if why == "busy" then
      return nil, ("Another instance of Certbot is already running (%s is locked).")
        :format(root .. "/.certbot.lock")
    end
    return nil, "apache: cannot lock " .. root .. ": " .. tostring(err)
  end
  locks[root] = lk
  return true
end

-- ---- the parsed configuration ----

-- tree() -> parser | nil, err: parsed on first use, after locking the root.
function Inst:tree()
  if self.p then return self.p end
  if not isdir(self.s.root) then
    return nil, ("apache: %s is not a directory (--apache-server-root)"):format(self.s.root)
  end
  local ok, err = lock_root(self.s.root)
  if not ok then return nil, err end
  local p, perr = parser.open({ server_root = self.s.root,
    vhost_root = isdir(self.s.vhost_root) and self.s.vhost_root or nil })
  if not p then return nil, perr end
  self.p = p
  self:refresh()
  return p
end

function Inst:refresh()
  self.vhs = vhosts.discover(self.p, { https_port = self.s.https_port })
end

-- Drop the tree (after the files changed underneath it).
function Inst:reset()
  if self.p then self.p:close() end
  self.p, self.vhs, self.pending = nil, nil, false
  self.notes = {}
end

function Inst:note(s) self.notes[#self.notes + 1] = s end

-- A file about to be created by a permanent change.
function Inst:created(path)
  local ok, err = self.rv:register_file_creation(false, { path })
  if not ok then return nil, err end
  self.pending = true
  return true
end

-- ---- authenticator ----

-- The configuration parses, and Apache accepts it as it is: a change of
-- ours is never blamed for what was broken before.
function Inst:prepare()
  local p, err = self:tree()
  if not p then return nil, err end
  return self:config_test()
end

function Inst.challenge_preferences()
  return { "http-01" }
end

function Inst:perform(challenges)
  return http01.perform(self, challenges)
end

function Inst:cleanup(challenges)
  return http01.cleanup(self, challenges)
end

-- ---- installer: helpers ----

-- The one directive name under parent (direct children): set its
-- arguments, or add it at the end; extra copies go.
function Inst:set_directive(parent, name, args)
  local p = self.p
  local nodes = p:find(parent, name, { children = true })
  if #nodes == 0 then
    p:add(parent, name, args)
  else
    p:set_args(nodes[1], args)
    for i = #nodes, 2, -1 do p:remove(nodes[i]) end
  end
  self.pending = true
end

-- enable_module(name) -> true | nil, err: "ssl" -> ssl_module loaded.
function Inst:enable_module(name)
  local p, s = self.p, self.s
  if p:modules()[name .. "_module"] then return true end
  if not s.handle_modules then
    return nil, ("apache: mod_%s is not enabled; enable it (a2enmod %s) or allow "
      .. "--apache-handle-modules"):format(name, name)
  end
  local avail, enabled = s.root .. "/mods-available", s.root .. "/mods-enabled"
  if s.debian and sys.stat(avail .. "/" .. name .. ".load") then
    -- the links a2enmod will make (the module's, its dependencies'), on
    -- record before they exist
    local want, seen = {}, {}
    local function deps(mod)
      if seen[mod] then return end
      seen[mod] = true
      local text = sys.read_file(avail .. "/" .. mod .. ".load") or ""
      for line in text:gmatch("[^\n]+") do
        local list = line:match("^#%s*Depends:%s*(.*)$")
        if list then for d in list:gmatch("[^%s,]+") do deps(d) end end
      end
      for _, ext in ipairs({ ".load", ".conf" }) do
        if sys.stat(avail .. "/" .. mod .. ext) and not sys.lstat(enabled .. "/" .. mod .. ext) then
          want[#want + 1] = enabled .. "/" .. mod .. ext
        end
      end
    end
    deps(name)
    local before = {}
    for _, n in ipairs(sys.listdir(enabled) or {}) do before[n] = true end
    local ok, err = self.rv:register_file_creation(false, want)
    if not ok then return nil, err end
    self.pending = true
    ok, err = ctl.enmod(self.config, name)
    if not ok then return nil, err end
    local made = {}
    local names = sys.listdir(enabled) or {}
    table.sort(names)
    for _, n in ipairs(names) do
      if not before[n] then made[#made + 1] = enabled .. "/" .. n end
    end
    ok, err = self.rv:register_file_creation(false, made)
    if not ok then return nil, err end
    for _, link in ipairs(made) do
      local lok, lerr = p:load_new(link, true)
      if not lok then return nil, lerr end
    end
    if not p:modules()[name .. "_module"] then
      return nil, ("apache: %s %s did not enable mod_%s in %s"):format(self.config.apache_enmod
        or "a2enmod", name, name, enabled)
    end
    self:note("Enabled Apache " .. name .. " module")
    return true
  end
  -- a plain layout: LoadModule beside the last one, from the same directory
  local loads = p:find_all("LoadModule", true)
  local last = loads[#loads]
  local dir = last and parser.dirname(p:args(last)[2] or "")
  if not last or not dir or dir == "" or dir == "." then
    return nil, ("apache: mod_%s is not loaded, and no LoadModule line shows where the modules "
      .. "are; load it in %s"):format(name, p.root_file)
  end
  p:add(last:match("^(.*)/[^/]+$"), "LoadModule", { name .. "_module", dir .. "/mod_" .. name .. ".so" },
    { after = last })
  self.pending = true
  self:note("Loaded Apache " .. name .. " module")
  return true
end

local function parse_listen(arg)
  local host, port = arg:match("^(%[.*%]):(%d+)$")
  if not host then host, port = arg:match("^([^:]+):(%d+)$") end
  if not host then port = arg:match("^(%d+)$") end
  return host, port
end

-- Apache listens on the HTTPS port, or a Listen is added for it next to
-- the first one (ports.conf on Debian), for each address Apache already
-- listens on.
function Inst:ensure_listen(port)
  local p = self.p
  port = tostring(port)
  local listens = p:find_all("Listen", true)
  local hosts, any_plain, order = {}, false, {}
  for _, n in ipairs(listens) do
    local host, lport = parse_listen(p:args(n)[1] or "")
    if lport == port then return true end
    if host then
      if not hosts[host] then
        hosts[host] = true
        order[#order + 1] = host
      end
    elseif lport then
      any_plain = true
    end
  end
  local file = listens[1] and p:file_of(listens[1]) or p.root_file
  local sec = p:add_section(p:fpath(file), "IfModule", { "mod_ssl.c" })
  local extra = port ~= "443" and { "https" } or {}
  local function listen(a)
    local args = { a }
    for _, e in ipairs(extra) do args[#args + 1] = e end
    p:add(sec, "Listen", args)
  end
  if any_plain or #order == 0 then
    listen(port)
  else
    for _, h in ipairs(order) do listen(h .. ":" .. port) end
  end
  self.pending = true
  self:note("Added Listen " .. port .. " to " .. file)
  return true
end

-- Where the TLS copy of a vhost file goes: beside it (sites-enabled ->
-- the vhost root), its name with .conf replaced by --apache-le-vhost-ext.
function Inst:ssl_path(file)
  local dir, base = parser.dirname(file), parser.basename(file)
  if dir:match("/sites%-enabled$") and isdir(self.s.vhost_root) then dir = self.s.vhost_root end
  return dir .. "/" .. base:gsub("%.conf$", "") .. self.s.ext
end

-- Rewrite rules that send to https:// (with their conditions): they would
-- loop in the TLS copy.
local function sift_https_rewrites(p, node)
  local kids = assert(p.aug:match(node .. "/*"))
  local drop, conds = {}, {}
  for _, k in ipairs(kids) do
    local label = p.aug:label(k)
    local name = label == "directive" and (p.aug:get(k) or ""):lower() or nil
    if name == "rewritecond" then
      conds[#conds + 1] = k
    elseif name == "rewriterule" then
      local target = p:args(k)[2] or ""
      if target:lower():find("^https://") then
        for _, c in ipairs(conds) do drop[#drop + 1] = c end
        drop[#drop + 1] = k
      end
      conds = {}
    elseif label ~= "#comment" then
      conds = {}
    end
  end
  for i = #drop, 1, -1 do p:remove(drop[i]) end
  return #drop
end

-- make_ssl(vh) -> the TLS vhost copied from the plain one.
function Inst:make_ssl(vh)
  local p, s = self.p, self.s
  local path = self:ssl_path(vh.file)
  local node
  if not sys.lstat(path) then
    local text, err = p:text(vh.node)
    if not text then return nil, "apache: cannot copy the vhost in " .. vh.file .. ": " .. err end
    if text:sub(-1) ~= "\n" then text = text .. "\n" end
    local ok
    ok, err = self:created(path)
    if not ok then return nil, err end
    ok, err = sys.write_atomic(path, "<IfModule mod_ssl.c>\n" .. text .. "</IfModule>\n", FILE_MODE)
    if not ok then return nil, err end
    ok, err = p:load_new(path, false)
    if not ok then return nil, err end
    local secs = p:sections(p:fpath(sys.realpath(path) or path), "VirtualHost")
    node = secs[#secs]
  else
    -- the file exists (another vhost of the same file got one before):
    -- the copy joins it through the tree
    local ok, err = p:load_new(path, false)
    if not ok then return nil, err end
    local real = sys.realpath(path) or path
    local sec = p:add_section(p:fpath(real), "IfModule", { "mod_ssl.c" })
    node = sec .. "/VirtualHost"
    assert(p.aug:cp(vh.node, node))
    node = assert(p.aug:match(node))[1]
  end
  if not node then return nil, "apache: the copy of the vhost in " .. path .. " did not parse" end
  -- the port becomes the HTTPS port
  local args = {}
  for i, a in ipairs(vh.addrs) do
    local host = a.host
    args[i] = (host ~= "" and host or "*") .. ":" .. s.https_port
  end
  p:set_args(node, args)
  local sifted = sift_https_rewrites(p, node)
  if sifted > 0 then log.info("apache: left %d https redirect line(s) out of %s", sifted, path) end
  self:set_directive(node, "SSLEngine", { "on" })
  self.pending = true
  self:note(("Created an SSL vhost at %s"):format(path))
  self:refresh()
  for _, v in ipairs(self.vhs) do
    if v.node == node then return v end
  end
  return nil, "apache: the new vhost in " .. path .. " was not found"
end

-- enable_site(vh): the file is read by Apache (a sites-enabled link on
-- Debian, else an Include in the main file).
function Inst:enable_site(vh)
  local p, s = self.p, self.s
  if p:enabled(vh.file) then return true end
  local dir, base = parser.dirname(vh.file), parser.basename(vh.file)
  if s.debian and s.handle_sites and (dir == s.root .. "/sites-available"
    or dir == (sys.realpath(s.vhost_root) or s.vhost_root)) and base:match("%.conf$") then
    local link = s.root .. "/sites-enabled/" .. base
    if sys.lstat(link) then
      return nil, ("apache: %s exists but does not lead to %s"):format(link, vh.file)
    end
    local target = dir == s.root .. "/sites-available" and "../sites-available/" .. base or vh.file
    local ok, err = self:created(link)
    if not ok then return nil, err end
    ok, err = sys.symlink_swap(target, link)
    if not ok then return nil, ("apache: cannot enable %s: %s"):format(base, err) end
    self:note("Enabled site " .. link)
  else
    p:add(p:fpath(p.root_file), "Include", { vh.file })
    self.pending = true
    self:note(("Included %s in %s"):format(vh.file, p.root_file))
  end
  local ok, err = p:load_new(vh.file, true)
  if not ok then return nil, err end
  self:refresh()
  return true
end

-- <config-dir>/options-ssl-apache.conf, written once.
function Inst:options_ssl()
  local path = (self.s.config_dir or DEFAULT_ROOT) .. "/" .. P.OPTIONS_SSL_NAME
  local cur = sys.read_file(path)
  if cur == nil then
    local ok, err = sys.write_atomic(path, P.OPTIONS_SSL, FILE_MODE)
    if not ok then return nil, err end
  elseif cur ~= P.OPTIONS_SSL then
    log.info("apache: %s differs from certbot's; keeping it as it is", path)
  end
  return path
end

-- The TLS vhost for domain; with create, a plain one is copied.
function Inst:ssl_vhost(domain, create)
  local vh, by_name = vhosts.best(self.vhs, domain, { prefer_ssl = true })
  if not vh then
    return nil, ("apache: no VirtualHost is for %s; add \"ServerName %s\" (or a ServerAlias) to "
      .. "the site's <VirtualHost>"):format(domain, domain)
  end
  if not vh.ssl then
    if not create then
      return nil, ("apache: no TLS VirtualHost is for %s (install a certificate first)"):format(domain)
    end
    local err
    vh, err = self:make_ssl(vh)
    if not vh then return nil, err end
  end
  if not by_name or vhosts.score(vh, domain) == 0 then
    if create then
      local p = self.p
      p:add(vh.node, vh.name and "ServerAlias" or "ServerName", { domain })
      self.pending = true
      self:refresh()
      for _, v in ipairs(self.vhs) do if v.node == vh.node then vh = v end end
    else
      return nil, ("apache: no TLS VirtualHost is for %s"):format(domain)
    end
  end
  return vh
end

-- A fresh tree when nothing is pending: files may have changed since.
function Inst:begin()
  if self.p and not self.pending then self:reset() end
  return self:tree()
end

-- ---- installer ----

function Inst:names()
  local p, err = self:tree()
  if not p then return nil, err end
  local out, seen = {}, {}
  for _, vh in ipairs(self.vhs) do
    for _, n in ipairs(vhosts.names(vh)) do
      if not seen[n] then
        seen[n] = true
        out[#out + 1] = n
      end
    end
  end
  table.sort(out)
  return out
end

function Inst:deploy_cert(domain, paths)
  local p, err = self:begin()
  if not p then return nil, err end
  paths = paths or {}
  local certfile = paths.fullchain or paths.cert
  if not certfile or not paths.privkey then
    return nil, "apache: deploy_cert needs the certificate (fullchain) and key paths"
  end
  local vh, ok
  vh, err = self:ssl_vhost(domain, true)
  if not vh then return nil, err end
  ok, err = self:enable_module("ssl")
  if not ok then return nil, err end
  local opts
  opts, err = self:options_ssl()
  if not opts then return nil, err end
  self:set_directive(vh.node, "SSLEngine", { "on" })
  self:set_directive(vh.node, "SSLCertificateFile", { certfile })
  self:set_directive(vh.node, "SSLCertificateKeyFile", { paths.privkey })
  if not paths.fullchain and paths.chain then
    -- a certificate without its chain (install --cert-path --chain-path)
    self:set_directive(vh.node, "SSLCertificateChainFile", { paths.chain })
  else
    for _, n in ipairs(p:find(vh.node, "SSLCertificateChainFile", { children = true })) do
      p:remove(n)
    end
  end
  local has_opts = false
  for _, n in ipairs(p:find(vh.node, "Include", { children = true })) do
    if p:args(n)[1] == opts then has_opts = true end
  end
  if not has_opts then p:add(vh.node, "Include", { opts }) end
  ok, err = self:ensure_listen(self.s.https_port)
  if not ok then return nil, err end
  ok, err = self:enable_site(vh)
  if not ok then return nil, err end
  self.pending = true
  self:note(("Deployed the certificate for %s in %s: %s, %s"):format(domain, vh.file,
    certfile, paths.privkey))
  return true, vh.file
end

function Inst.supported_enhancements()
  return { "redirect", "ensure-http-header", "staple-ocsp" }
end

-- An https redirect already in the vhost (ours or the admin's).
local function has_https_redirect(p, node)
  for _, n in ipairs(p:find(node, "RewriteRule", { children = true })) do
    if (p:args(n)[2] or ""):lower():find("^https://") then return true end
  end
  for _, name in ipairs({ "Redirect", "RedirectPermanent", "RedirectMatch" }) do
    for _, n in ipairs(p:find(node, name, { children = true })) do
      for _, a in ipairs(p:args(n)) do
        if a:lower():find("^https://") then return true end
      end
    end
  end
  return false
end

-- No plain-HTTP vhost serves the names of a TLS one: a vhost of its own
-- that only redirects, on the HTTP port (--http-01-port, 80 by default),
-- in <vhost-root>/le-redirect-<domain>.conf (beside the TLS vhost's file
-- outside Debian's layout).
function Inst:redirect_vhost(ssl, domain)
  local p, s = self.p, self.s
  local dir = (s.debian and isdir(s.vhost_root)) and s.vhost_root or parser.dirname(ssl.file)
  local path = dir .. "/le-redirect-" .. domain:lower() .. ".conf"
  if sys.lstat(path) then
    return nil, ("apache: %s exists but does not serve %s"):format(path, domain)
  end
  local port = math.tointeger(self.config.http01_port) or 80
  local lines = { "<VirtualHost *:" .. port .. ">" }
  local names = {}
  for _, n in ipairs(vhosts.names(ssl)) do
    if not n:find("[*?]") then names[#names + 1] = n end
  end
  if #names == 0 then names = { domain:lower() } end
  lines[#lines + 1] = "ServerName " .. names[1]
  if #names > 1 then lines[#lines + 1] = "ServerAlias " .. table.concat(names, " ", 2) end
  lines[#lines + 1] = "ServerSignature Off"
  lines[#lines + 1] = "</VirtualHost>"
  local ok, err = self:created(path)
  if not ok then return nil, err end
  ok, err = sys.write_atomic(path, table.concat(lines, "\n") .. "\n", FILE_MODE)
  if not ok then return nil, err end
  ok, err = p:load_new(path, false)
  if not ok then return nil, err end
  self:note("Created the redirect vhost " .. path)
  self:refresh()
  local vh
  for _, v in ipairs(self.vhs) do
    if v.file == (sys.realpath(path) or path) then vh = v end
  end
  if not vh then return nil, "apache: the new vhost in " .. path .. " was not found" end
  ok, err = self:enable_site(vh)
  if not ok then return nil, err end
  for _, v in ipairs(self.vhs) do
    if v.node == vh.node then return v end
  end
  return vh
end

function Inst:redirect(domain)
  local p = self.p
  local ssl = vhosts.best(self.vhs, domain, { ssl = true, fallback = false })
  if not ssl then
    return nil, ("apache: no TLS VirtualHost is for %s; install a certificate first"):format(domain)
  end
  local http = vhosts.best(self.vhs, domain, { ssl = false, fallback = false })
  if not http then
    local err
    http, err = self:redirect_vhost(ssl, domain)
    if not http then return nil, err end
  end
  if has_https_redirect(p, http.node) then
    log.info("apache: %s already redirects to https", http.file)
    return true
  end
  local ok, err = self:enable_module("rewrite")
  if not ok then return nil, err end
  -- the names both vhosts answer for, so only those with the certificate go
  local cond = {}
  for _, n in ipairs(vhosts.names(http)) do
    if not n:find("[*?]") and vhosts.score(ssl, n) > 0 then cond[#cond + 1] = n end
  end
  if #cond == 0 then cond = { domain:lower() } end
  local engine = false
  for _, n in ipairs(p:find(http.node, "RewriteEngine", { children = true })) do
    if (p:args(n)[1] or ""):lower() == "on" then engine = true end
  end
  if not engine then p:add(http.node, "RewriteEngine", { "on" }) end
  for i, n in ipairs(cond) do
    local args = { "%{SERVER_NAME}", "=" .. n }
    if i < #cond then args[3] = "[OR]" end
    p:add(http.node, "RewriteCond", args)
  end
  local port = self.s.https_port ~= 443 and (":" .. self.s.https_port) or ""
  p:add(http.node, "RewriteRule", { "^", "https://%{SERVER_NAME}" .. port .. "%{REQUEST_URI}",
    "[END,NE,R=permanent]" })
  self.pending = true
  self:note(("Redirected %s to https in %s"):format(table.concat(cond, ", "), http.file))
  return true
end

function Inst:http_header(domain, header)
  local p = self.p
  local h = HEADERS[header]
  if not h then return nil, ("apache: unsupported header %s"):format(tostring(header)) end
  local vh, err = self:ssl_vhost(domain, false)
  if not vh then return nil, err end
  for _, n in ipairs(p:find(vh.node, "Header", { children = true })) do
    local a = p:args(n)
    local i = (a[1] or ""):lower() == "always" and 2 or 1
    local action = (a[i] or ""):lower()
    if (action == "set" or action == "add" or action == "append" or action == "merge")
      and (a[i + 1] or ""):lower() == h[1]:lower() then
      log.info("apache: %s already sends %s", vh.file, h[1])
      return true
    end
  end
  local ok
  ok, err = self:enable_module("headers")
  if not ok then return nil, err end
  p:add(vh.node, "Header", { "always", "set", h[1], h[2] })
  self.pending = true
  self:note(("Added the %s header to %s"):format(h[1], vh.file))
  return true
end

function Inst:staple(domain)
  local p, s = self.p, self.s
  local vh, err = self:ssl_vhost(domain, false)
  if not vh then return nil, err end
  local ok
  ok, err = self:enable_module("socache_shmcb")
  if not ok then return nil, err end
  self:set_directive(vh.node, "SSLUseStapling", { "on" })
  if #p:find_all("SSLStaplingCache", true) == 0 then
    local cache = s.debian and "shmcb:${APACHE_RUN_DIR}/ocsp_stapling_cache(128000)"
      or ("shmcb:%s/ocsp_stapling_cache(128000)"):format(s.root)
    local parent = vh.node:match("^(.*)/[^/]+$")
    if parent == p:fpath(vh.file) then
      -- the vhost is at the file's top level: the cache goes before it
      local sib = assert(p.aug:match(parent .. "/*"))
      local idx
      for i, k in ipairs(sib) do if k == vh.node then idx = i end end
      if idx and idx > 1 then
        p:add(parent, "SSLStaplingCache", { cache }, { after = sib[idx - 1] })
      else
        p:add(parent, "SSLStaplingCache", { cache }, { first = true })
      end
    else
      p:add(parent, "SSLStaplingCache", { cache }, { first = true })
    end
  end
  self.pending = true
  self:note(("Enabled OCSP stapling in %s"):format(vh.file))
  return true
end

function Inst:enhance(domain, name, opts)
  local p, err = self:tree()
  if not p then return nil, err end
  if name == "redirect" then return self:redirect(domain) end
  if name == "ensure-http-header" then return self:http_header(domain, opts) end
  if name == "staple-ocsp" then return self:staple(domain) end
  return nil, ("apache: unsupported enhancement %s"):format(tostring(name))
end

-- save(title, temporary): back up the files the tree would change (a
-- temporary checkpoint for a challenge), write them, and finalize the
-- checkpoint unless temporary.
function Inst:save(title, temporary)
  local rv = self.rv
  local notes = table.concat(self.notes, "\n")
  if self.p then
    local files, err = self.p:dirty_files()
    if not files then return nil, err end
    if #files > 0 then
      local ok, cerr
      if temporary then
        ok, cerr = rv:add_to_temp_checkpoint(files, notes)
      else
        ok, cerr = rv:add_to_checkpoint(files, notes)
      end
      if not ok then return nil, cerr end
    end
    local ok, serr = self.p:save()
    if not ok then return nil, serr end
  end
  self.notes = {}
  self.pending = false
  if not temporary then
    local ok, ferr = rv:finalize_checkpoint(title)
    if not ok then return nil, ferr end
  end
  return true
end

function Inst:rollback(n)
  self:reset()
  return self.rv:rollback_checkpoints(n)
end

function Inst:recovery()
  self:reset()
  return self.rv:recovery_routine()
end

function Inst:config_test()
  return ctl.configtest(self.config)
end

function Inst:restart()
  return ctl.graceful(self.config)
end

P.Instance = Inst

return P
