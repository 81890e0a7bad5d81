-- nginx: authenticator (http-01 through the running nginx) and installer
-- (TLS for the server block of a name, redirect, HSTS, UIR, OCSP stapling),
-- editing the configuration under --nginx-server-root in place with a
-- parser that keeps every byte it does not change.
--
-- Every change is recorded by the reverter before a file is written:
-- challenge changes in its temporary checkpoint (undone by cleanup(), and
-- by the next run if this one was killed), installer changes in
-- checkpoints that `rollback` undoes.  `nginx -t` runs before every reload.
-- The configuration root is locked (fcntl on <root>/.certbot.lock, as
-- Certbot locks it) from the first use until the process ends.
--
-- nginx is controlled as `<nginx-ctl> [-p ROOT/] -c ROOT/nginx.conf ...`:
-- -p only when ROOT is not nginx's compiled-in configuration directory
-- (nginx -V --conf-path), as a server started with
-- `nginx -p ROOT/ -c ROOT/nginx.conf` needs, so that relative pid and log
-- paths in the configuration name the running server's files.
local core = require("certbot.core")
local display = require("certbot.display")
local log = require("certbot.log")
local names_mod = require("certbot.names")
local parser = require("certbot.plugins.nginx.parser")
local vhosts = require("certbot.plugins.nginx.vhosts")
local tls = require("certbot.plugins.nginx.tls")

local sys = core.sys

local P = {
  name = "nginx",
  description = "Nginx Web Server plugin",
  authenticator = true,
  installer = true,
}

local MANAGED = "managed by Certbot"
local CHALLENGE_PREFIX = "/.well-known/acme-challenge/"

-- One lock per configuration root and process: fcntl locks belong to the
-- process, and closing any descriptor of the file would drop them, so the
-- authenticator and installer instances of one run share this one.
local locks = {}
-- Work dirs whose leftovers (a killed run's changes) were undone by this
-- process.
local recovered = {}

local Inst = {}
Inst.__index = Inst

function P.new(config)
  return setmetatable({ config = config, notes = {} }, Inst)
end

---------------------------------------------------------------------------
-- Settings and helpers
---------------------------------------------------------------------------

function Inst:root()
  local r = (self.config.nginx_server_root or "/etc/nginx"):gsub("/+$", "")
  return r == "" and "/" or r
end

function Inst:conf() return self:root() .. "/nginx.conf" end

function Inst:ctl() return self.config.nginx_ctl or "nginx" end

function Inst:http_port() return math.tointeger(self.config.http01_port) or 80 end

function Inst:https_port() return math.tointeger(self.config.https_port) or 443 end

function Inst:reverter()
  if not self.rv then self.rv = require("certbot.reverter").new(self.config) end
  return self.rv
end

local function first_line(s)
  s = (s or ""):gsub("^%s+", "")
  return s:match("[^\n]*") or ""
end

-- nginx's own idea of where its configuration lives (nginx -V), to know
-- whether ROOT needs a -p of its own.
function Inst:prefix()
  if self._prefix == nil then
    local code, out, err = sys.run({ self:ctl(), "-V" }, sys.environ())
    local text = (out or "") .. (err or "")
    if code ~= 0 then
      self.ctl_error = ("Unable to run nginx (--nginx-ctl %s): %s"):format(self:ctl(),
        code == nil and tostring(out) or first_line(text))
    end
    local conf = code == 0 and text:match("%-%-conf%-path=(%S+)")
    if not conf and code == 0 then
      local pfx = text:match("%-%-prefix=(%S+)") or "/usr/local/nginx"
      conf = pfx:gsub("/+$", "") .. "/conf/nginx.conf"
    end
    local confdir = conf and conf:match("^(.*)/[^/]*$")
    local a = sys.realpath(self:root()) or self:root()
    local b = confdir and (sys.realpath(confdir) or confdir)
    if b and a == b then
      self._prefix = false
    else
      self._prefix = self:root():gsub("/?$", "/")
    end
  end
  return self._prefix or nil
end

-- Run nginx on this configuration: code, stdout, stderr | nil, err.
function Inst:run_ctl(args)
  local argv = { self:ctl() }
  local pfx = self:prefix()
  if pfx then
    argv[#argv + 1] = "-p"
    argv[#argv + 1] = pfx
  end
  argv[#argv + 1] = "-c"
  argv[#argv + 1] = self:conf()
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  log.debug("nginx: running %s", table.concat(argv, " "))
  local code, out, err = sys.run(argv, sys.environ())
  if code == nil then return nil, tostring(out) end
  return code, out, err
end

---------------------------------------------------------------------------
-- Preparing: lock, undo leftovers, parse
---------------------------------------------------------------------------

function Inst:lock()
  local root = self:root()
  if locks[root] then return true end
  local path = (root == "/" and "" or root) .. "/.certbot.lock"
  local lk, err, why = sys.lock(path)
  if not lk then
    if why == "busy" then
      return nil, ("Another instance of Certbot is already running (%s is locked)."):format(path)
    end
    return nil, "Unable to lock the nginx configuration: " .. tostring(err)
  end
  locks[root] = lk
  return true
end

function Inst:load()
  local cfg, err = parser.load(self:root(), self:conf())
  if not cfg then return nil, "Unable to read the nginx configuration: " .. err end
  self.cfg = cfg
  return true
end

function Inst:_prepare()
  if self.cfg then return true end
  local conf = self:conf()
  local st = sys.stat(conf)
  if not st or st.type ~= "file" then
    return nil, ("Could not find the nginx configuration: %s is not a file (set --nginx-server-root)")
      :format(conf)
  end
  self:prefix()
  if self.ctl_error then return nil, self.ctl_error end
  local ok, err = self:lock()
  if not ok then return nil, err end
  local work = self.config.work_dir
  if work and not recovered[work] then
    recovered[work] = true
    ok, err = self:reverter():recovery_routine()
    if not ok then return nil, "Unable to undo the changes of an unfinished run: " .. err end
  end
  return self:load()
end

function Inst:prepare()
  return self:_prepare()
end

-- Forget the parsed configuration (the files changed under it).
function Inst:forget()
  self.cfg = nil
  self.notes = {}
end

function Inst:note(fmt, ...)
  self.notes[#self.notes + 1] = fmt:format(...)
end

---------------------------------------------------------------------------
-- Editing server blocks
---------------------------------------------------------------------------

local function index_of(list, x)
  for i, v in ipairs(list) do if v == x then return i end end
end

-- Append a directive to a server block, marked as ours.
local function append(vh, values, children)
  local node = parser.directive(values, children)
  parser.insert(vh.node, #vh.node.children + 1, node, { comment = MANAGED })
  return node
end

-- The server-level directive `name` written in the block itself.
local function direct(vh, name)
  for _, c in ipairs(vh.node.children) do
    if not c.children and parser.name(c) == name then return c end
  end
end

-- Any server-level directive `name`, also from included files.
local function effective(vh, name)
  for _, d in ipairs(vh.directives) do
    if not d.node.children and parser.name(d.node) == name then return d.node end
  end
end

local function update_or_add(vh, values)
  local node = direct(vh, values[1])
  if node then
    local args = {}
    for i = 2, #values do args[#args + 1] = values[i] end
    parser.set_args(node, args)
  else
    append(vh, values)
  end
end

-- The fresh description of a server block node after an edit.
function Inst:refresh(node)
  for _, vh in ipairs((vhosts.servers(self.cfg))) do
    if vh.node == node then return vh end
  end
end

function Inst:servers()
  return (vhosts.servers(self.cfg))
end

---------------------------------------------------------------------------
-- Authenticator
---------------------------------------------------------------------------

function Inst.challenge_preferences()
  return { "http-01" }
end

local function challenge_location(ch)
  return parser.directive({ "location", "=", CHALLENGE_PREFIX .. ch.token }, {
    parser.directive({ "default_type", "text/plain" }),
    parser.directive({ "return", "200", parser.quoted(ch.key_authorization) }),
  })
end

-- Put the answer to one http-01 challenge into the configuration (not yet
-- written).
function Inst:add_challenge(ch)
  local token, terr = names_mod.token(ch.token)
  if not token then return nil, terr end
  if not tostring(ch.key_authorization):match("^[%w_.-]+$") then
    return nil, "invalid key authorization for " .. tostring(ch.domain)
  end
  local port = self:http_port()
  local list, https = vhosts.servers(self.cfg)
  local candidates = vhosts.on_port(list, port, false)
  local vh = vhosts.best(candidates, ch.domain)
  if vh then
    if not vh.node.challenge_rewrite then
      -- a server-level return or rewrite (a redirect to https) would
      -- answer before any location: stop the rewrite phase for challenges
      parser.insert(vh.node, 1, parser.directive({ "rewrite", "^(/.well-known/acme-challenge/.*)",
        "$1", "break" }))
      vh.node.challenge_rewrite = true
    end
    parser.insert(vh.node, #vh.node.children + 1, challenge_location(ch))
    log.info("nginx: http-01 for %s in the server block of %s", ch.domain, vh.file.path)
    return true
  end
  -- No block serves this name on the port: a server block of our own, on
  -- the addresses the others listen on there.
  local http = https[1]
  if not http then return nil, "The nginx configuration " .. self:conf() .. " has no http block" end
  local specs, seen = {}, {}
  for _, c in ipairs(candidates) do
    for _, l in ipairs(c.listens) do
      if not l.unix and l.port == port and not l.ssl then
        local s = vhosts.listen_spec(l.addr, port)
        if not seen[s] then
          seen[s] = true
          specs[#specs + 1] = s
        end
      end
    end
  end
  if #specs == 0 then specs[1] = tostring(port) end
  local children = {}
  for _, s in ipairs(specs) do children[#children + 1] = parser.directive({ "listen", s }) end
  children[#children + 1] = parser.directive({ "server_name", ch.domain })
  children[#children + 1] = challenge_location(ch)
  parser.insert(http.node, #http.node.children + 1, parser.directive({ "server" }, children))
  log.info("nginx: http-01 for %s in a temporary server block in %s", ch.domain, http.file.path)
  return true
end

function Inst:perform(challenges)
  local ok, err = self:_prepare()
  if not ok then return nil, err end
  for _, ch in ipairs(challenges) do
    if ch.type ~= "http-01" then
      return nil, ("The nginx plugin cannot answer a %s challenge (%s)"):format(ch.type, ch.domain)
    end
    ok, err = self:add_challenge(ch)
    if not ok then return nil, err end
  end
  ok, err = self:save("Challenges", true)
  if not ok then return nil, err end
  return self:restart()
end

function Inst:cleanup()
  if not self.temp_saved then return true end
  self.temp_saved = false
  self:forget()
  local ok, err = self:reverter():revert_temporary_config()
  if not ok then
    log.error("nginx: could not undo the challenge configuration: %s", err)
    return nil, err
  end
  ok, err = self:restart()
  if not ok then log.warning("nginx: reload after removing the challenges failed: %s", err) end
  return true
end

---------------------------------------------------------------------------
-- Installer
---------------------------------------------------------------------------

function Inst:names()
  local ok, err = self:_prepare()
  if not ok then return nil, err end
  local out = {}
  for _, n in ipairs(vhosts.names(self:servers())) do
    if names_mod.domain(n) then out[#out + 1] = n end
  end
  return out
end

function Inst.supported_enhancements()
  return { "redirect", "ensure-http-header", "staple-ocsp" }
end

-- The server blocks for a name, as Certbot's installer chooses them: the
-- best match by nginx's rules, preferring TLS blocks (a TLS block that
-- matches by regex beats a plain one that matches exactly).  A wildcard
-- name takes every block with a name it covers.
function Inst:choose(domain)
  domain = domain:lower()
  local list = self:servers()
  if domain:sub(1, 2) == "*." then
    local out, suffix = {}, domain:sub(2)
    for _, vh in ipairs(list) do
      for _, n in ipairs(vh.names) do
        if n == domain or (n:sub(-#suffix) == suffix and not n:sub(1, -#suffix - 1):find("[.*~]")
            and #n > #suffix) then
          out[#out + 1] = vh
          break
        end
      end
    end
    return out
  end
  local vh = vhosts.best(list, domain, function(v) return v.ssl and 0 or 4 end)
  return { vh }
end

-- A new server block for domain, copied from the default server (Certbot
-- does the same when no block names the domain).
function Inst:from_default(domain)
  local list = self:servers()
  local def
  for _, port in ipairs({ self:http_port(), self:https_port() }) do
    for _, vh in ipairs(list) do
      for _, l in ipairs(vh.listens) do
        if l.default and l.port == port then def = def or vh end
      end
    end
  end
  if not def then
    for _, vh in ipairs(list) do
      for _, l in ipairs(vh.listens) do if l.default then def = def or vh end end
    end
  end
  if not def then
    return nil, ("Could not automatically find a matching server block for %s. Set the "
      .. "`server_name` directive to use the Nginx installer."):format(domain)
  end
  local copy = parser.clone(def.node)
  copy.challenge_rewrite = nil
  local named = false
  local i = 1
  while i <= #copy.children do
    local c = copy.children[i]
    local name = not c.children and parser.name(c)
    if name == "listen" then
      -- one set of socket options per address: the copy keeps only these
      parser.filter_args(c, function(v, idx)
        return idx == 2 or v == "ssl" or v == "http2" or v == "proxy_protocol"
      end)
    end
    if name == "server_name" then
      if named then
        parser.remove(copy, i)
        i = i - 1
      else
        parser.set_args(c, { domain })
        named = true
      end
    end
    i = i + 1
  end
  local container = def.container
  local at = index_of(container.children, def.node)
  copy.words[1].sep = "\n\n" .. (parser.indent_of(def.node) or "")
  parser.insert(container, at + 1, copy)
  if not named then
    parser.insert(copy, 1, parser.directive({ "server_name", domain }), { comment = MANAGED })
  end
  self:note("Created a server block for %s from the default server in %s", domain, def.file.path)
  display.notify(("No server block names %s: a new one copied from the default server in %s")
    :format(domain, def.file.path))
  return self:refresh(copy)
end

function Inst:tls_files()
  local dir = self.config.config_dir or "/etc/letsencrypt"
  return tls.install(dir)
end

-- Make a plain server block serve TLS on the HTTPS port too, with the
-- certificate at paths.
function Inst:make_ssl(vh, paths)
  local opts, dh = self:tls_files()
  if not opts then return nil, dh end
  local https = self:https_port()
  if vh.listens[1] and vh.listens[1].implicit then
    -- it listened on port 80 without saying so; keep that
    append(vh, { "listen", tostring(vhosts.DEFAULT_PORT) })
  end
  local seen = {}
  for _, l in ipairs(vh.listens) do
    if not l.unix and not l.ssl then
      local s = vhosts.listen_spec(l.addr, https)
      if not seen[s] then
        seen[s] = true
        append(vh, { "listen", s, "ssl" })
      end
    end
  end
  update_or_add(vh, { "ssl_certificate", paths.fullchain })
  update_or_add(vh, { "ssl_certificate_key", paths.privkey })
  local own
  for _, name in ipairs(tls.OPTION_DIRECTIVES) do
    if direct(vh, name) then own = name end
  end
  if own then
    log.info("nginx: %s sets %s itself; %s is not included", vh.file.path, own, opts)
  else
    append(vh, { "include", opts })
  end
  if not effective(vh, "ssl_dhparam") then append(vh, { "ssl_dhparam", dh }) end
  return true
end

function Inst:deploy_cert(domain, paths)
  local ok, err = self:_prepare()
  if not ok then return nil, err end
  if not paths or not paths.fullchain or not paths.privkey then
    return nil, "deploy_cert: the fullchain and privkey paths are needed"
  end
  local list = self:choose(domain)
  if #list == 0 then
    if domain:sub(1, 2) == "*." then
      return nil, ("No server block has a name covered by %s: set server_name to use the "
        .. "nginx installer"):format(domain)
    end
    local vh, derr = self:from_default(domain)
    if not vh then return nil, derr end
    list = { vh }
  end
  local where = {}
  for _, vh in ipairs(list) do
    if vh.ssl then
      update_or_add(vh, { "ssl_certificate", paths.fullchain })
      update_or_add(vh, { "ssl_certificate_key", paths.privkey })
    else
      local mok, merr = self:make_ssl(vh, paths)
      if not mok then return nil, merr end
    end
    self:note("Deployed the certificate for %s in %s: ssl_certificate %s, ssl_certificate_key %s",
      domain, vh.file.path, paths.fullchain, paths.privkey)
    log.info("nginx: deployed the certificate for %s to %s", domain, vh.file.path)
    where[#where + 1] = vh.file.path
  end
  -- the caller tells the user where it went
  return true, table.concat(where, ", ")
end

-- Split a block serving both plain HTTP and TLS in two: the original keeps
-- the TLS listens, a copy after it takes the plain ones.  only: the names
-- of the directives the copy keeps (nil: all but the TLS ones).  Returns
-- the plain copy and the TLS block (fresh descriptions).
function Inst:split(vh, only)
  local node = vh.node
  local copy
  if only then
    local kids = {}
    for _, c in ipairs(node.children) do
      local name = not c.children and parser.name(c)
      if name and only[name] then
        if name ~= "listen" or not (vhosts.parse_listen(parser.args(c)) or {}).ssl then
          local values = { name }
          for _, a in ipairs(parser.args(c)) do values[#values + 1] = a end
          kids[#kids + 1] = parser.directive(values)
        end
      end
    end
    copy = parser.directive({ "server" }, kids)
  else
    copy = parser.clone(node)
    copy.challenge_rewrite = nil
    local opts_path = tls.OPTIONS_NAME
    local i = 1
    while i <= #copy.children do
      local c = copy.children[i]
      local name = not c.children and parser.name(c)
      local drop = name == "ssl_certificate" or name == "ssl_certificate_key" or name == "ssl_dhparam"
        or name == "ssl_stapling" or name == "ssl_stapling_verify" or name == "ssl_trusted_certificate"
        or (name == "listen" and (vhosts.parse_listen(parser.args(c)) or {}).ssl)
        or (name == "include" and (parser.args(c)[1] or ""):sub(-#opts_path) == opts_path)
        or (name == "add_header" and (parser.args(c)[1] or ""):lower() == "strict-transport-security")
      if drop then
        parser.remove(copy, i)
      else
        i = i + 1
      end
    end
    copy.words[1].sep = "\n\n" .. (parser.indent_of(node) or "")
  end
  -- the original loses its plain listens
  local i = 1
  while i <= #node.children do
    local c = node.children[i]
    if not c.children and parser.name(c) == "listen" then
      local l = vhosts.parse_listen(parser.args(c))
      if l and not l.ssl then
        parser.remove(node, i)
      else
        i = i + 1
      end
    else
      i = i + 1
    end
  end
  local container = vh.container
  local at = index_of(container.children, node)
  parser.insert(container, at + 1, copy,
    only and { comment = MANAGED, unit = parser.indent_unit(node) } or nil)
  if only then
    -- a blank line between the two blocks
    copy.words[1].sep = copy.words[1].sep:gsub("\n", "\n\n", 1)
  end
  self:note("Split the server block in %s into plain HTTP and TLS blocks", vh.file.path)
  return self:refresh(copy), self:refresh(node)
end

-- Does this plain block already send its visitors to https?
local function redirects_to_https(children, domain, depth)
  for _, c in ipairs(children) do
    local name = parser.name(c)
    local args = parser.args(c)
    if not c.children then
      if name == "return" then
        local code, url = args[1], args[2]
        if not url and code and code:match("^https://") then return true end
        if url and url:match("^https://") and ({ ["301"] = 1, ["302"] = 1, ["303"] = 1,
            ["307"] = 1, ["308"] = 1 })[code] then
          return true
        end
      elseif name == "rewrite" and args[2] and args[2]:match("^https://") then
        return true
      end
    elseif depth == 0 and name == "if" then
      local cond = table.concat(args, " "):lower()
      if cond:find("$scheme", 1, true) or cond:find("$https", 1, true)
          or cond:gsub("%s", "") == ("($host=" .. domain .. ")") then
        if redirects_to_https(c.children, domain, 1) then return true end
      end
    elseif depth == 0 and name == "location" and #args == 1 and args[1] == "/" then
      if redirects_to_https(c.children, domain, 1) then return true end
    end
  end
  return false
end

function Inst:redirect(domain)
  local port = self:http_port()
  local vh = vhosts.best(vhosts.on_port(self:servers(), port, false), domain)
  if not vh then
    log.info("nginx: no server block for %s listens without TLS on port %d: no redirect", domain, port)
    display.notify(("No server block for %s listens on port %d without TLS; no redirect added.")
      :format(domain, port))
    return true
  end
  if redirects_to_https(vh.node.children, domain:lower(), 0) then
    display.notify(("Traffic on port %d already redirecting to ssl in %s"):format(port, vh.file.path))
    return true
  end
  if vh.ssl then
    vh = self:split(vh, { listen = true, server_name = true })
    append(vh, { "return", "404" })
  end
  local https = self:https_port()
  local target = "https://$host" .. (https ~= 443 and (":" .. https) or "") .. "$request_uri"
  local node = parser.directive({ "if", "($host", "=", domain .. ")" }, {
    parser.directive({ "return", "301", target }),
  })
  parser.insert(vh.node, 1, node, { comment = MANAGED })
  self:note("Redirected %s on port %d to https in %s", domain, port, vh.file.path)
  display.notify(("Redirecting all traffic on port %d to ssl in %s"):format(port, vh.file.path))
  return true
end

local HEADERS = {
  ["strict-transport-security"] = { "Strict-Transport-Security", "max-age=31536000" },
  ["upgrade-insecure-requests"] = { "Content-Security-Policy", "upgrade-insecure-requests" },
}

-- The TLS blocks for an enhancement of domain.
function Inst:tls_blocks(domain)
  local list = self:choose(domain)
  if #list == 0 then
    return nil, ("No server block matches %s: deploy a certificate first"):format(domain)
  end
  for _, vh in ipairs(list) do
    if not vh.ssl then
      return nil, ("The server block for %s in %s does not serve TLS: deploy a certificate first")
        :format(domain, vh.file.path)
    end
  end
  return list
end

function Inst:header(domain, header)
  local h = HEADERS[tostring(header):lower()]
  if not h then return nil, ("The nginx plugin cannot set the %s header"):format(tostring(header)) end
  local list, err = self:tls_blocks(domain)
  if not list then return nil, err end
  for _, vh in ipairs(list) do
    local present = false
    for _, d in ipairs(vh.directives) do
      local n = d.node
      if not n.children and parser.name(n) == "add_header" then
        local a = parser.args(n)
        if (a[1] or ""):lower() == h[1]:lower() and (a[2] or ""):lower():find(h[2], 1, true) then
          present = true
        end
      end
    end
    if present then
      display.notify(("The %s header is already set in %s"):format(h[1], vh.file.path))
    else
      for _, l in ipairs(vh.listens) do
        if not l.ssl then
          -- the header belongs to TLS responses only
          local _, tls_vh = self:split(vh)
          vh = tls_vh
          break
        end
      end
      append(vh, { "add_header", h[1], parser.quoted(h[2]), "always" })
      self:note("Added the %s header for %s in %s", h[1], domain, vh.file.path)
    end
  end
  return true
end

function Inst:staple(domain, chain)
  if not chain or chain == "" then return nil, "OCSP stapling needs the chain path" end
  local list, err = self:tls_blocks(domain)
  if not list then return nil, err end
  for _, vh in ipairs(list) do
    local on = direct(vh, "ssl_stapling")
    if on and parser.args(on)[1] == "on" then
      display.notify(("OCSP stapling is already on in %s"):format(vh.file.path))
    else
      update_or_add(vh, { "ssl_trusted_certificate", chain })
      update_or_add(vh, { "ssl_stapling", "on" })
      update_or_add(vh, { "ssl_stapling_verify", "on" })
      self:note("Turned on OCSP stapling for %s in %s", domain, vh.file.path)
    end
  end
  -- Let's Encrypt ended its OCSP service in 2025, and other CAs may have
  -- none: nginx then has nothing to staple.
  local cert = chain:match("^(.*)/[^/]*$")
  local pem = cert and sys.read_file(cert .. "/cert.pem")
  local info = pem and core.crypto.parse_cert(pem)
  if info and not info.ocsp_url then
    display.warn(("Warning: the certificate for %s names no OCSP responder: the CA does not "
      .. "offer OCSP for it, so nginx has nothing to staple."):format(domain))
  else
    log.warning("nginx: OCSP stapling is on for %s; the CA may not offer OCSP (Let's Encrypt "
      .. "ended its OCSP service in 2025), and then nginx staples nothing", domain)
  end
  return true
end

function Inst:enhance(domain, name, opts)
  local ok, err = self:_prepare()
  if not ok then return nil, err end
  if name == "redirect" then return self:redirect(domain) end
  if name == "ensure-http-header" then return self:header(domain, opts) end
  if name == "staple-ocsp" then return self:staple(domain, opts) end
  return nil, ("The nginx plugin does not support the %s enhancement"):format(tostring(name))
end

-- save(title, temporary): write every changed file, after recording it in
-- the reverter (a temporary checkpoint for challenges); with a title (and
-- not temporary), finalize the checkpoint.
function Inst:save(title, temporary)
  local rv = self:reverter()
  local changed = self.cfg and parser.changed(self.cfg) or {}
  if #changed > 0 then
    local paths = {}
    for _, f in ipairs(changed) do paths[#paths + 1] = f.real end
    local notes = #self.notes > 0 and table.concat(self.notes, "\n") or (title or "")
    local ok, err
    if temporary then
      ok, err = rv:add_to_temp_checkpoint(paths, notes)
      self.temp_saved = true
    else
      ok, err = rv:add_to_checkpoint(paths, notes)
    end
    if not ok then return nil, err end
    for _, f in ipairs(changed) do
      local st = sys.stat(f.real)
      local mode = st and (st.mode & 4095) or f.mode
      ok, err = sys.write_atomic(f.real, f.new_text, mode)
      if not ok then return nil, "Unable to write the nginx configuration: " .. err end
      if st and sys.getuid() == 0 then sys.chown(f.real, st.uid, st.gid) end
      f.text, f.new_text = f.new_text, nil
      log.info("nginx: wrote %s", f.real)
    end
    self.notes = {}
  end
  if title and not temporary then
    local ok, err = rv:finalize_checkpoint(title)
    if not ok then return nil, err end
  end
  return true
end

-- rollback(n) and recovery() need no parsed configuration: they also
-- repair one nginx cannot read.
--
-- recovery(): undo what an unfinished run left (unsaved and temporary
-- changes; a killed run's checkpoints, see lua/certbot/reverter.lua).
function Inst:recovery()
  local ok, err = self:lock()
  if not ok then return nil, err end
  self:forget()
  ok, err = self:reverter():recovery_routine()
  if not ok then return nil, err end
  if self.config.work_dir then recovered[self.config.work_dir] = true end
  return true
end

-- rollback(n): the n newest checkpoints.  A killed run's unfinished change
-- is undone first, as at the start of any run; the checkpoints of it that
-- this rolls back count towards n (they were the newest).
function Inst:rollback(n)
  local ok, err = self:lock()
  if not ok then return nil, err end
  self:forget()
  local rv = self:reverter()
  local work = self.config.work_dir
  if work and not recovered[work] then
    local before = #rv:checkpoints()
    ok, err = self:recovery()
    if not ok then return nil, "Unable to undo the changes of an unfinished run: " .. err end
    if math.type(n) == "integer" and n > 0 then n = math.max(0, n - (before - #rv:checkpoints())) end
  end
  return rv:rollback_checkpoints(n)
end

function Inst:config_test()
  local code, out, err = self:run_ctl({ "-t", "-q" })
  if code == 0 then return true end
  if code == nil then return nil, "nginx -t: " .. tostring(out) end
  local text = (err or "") .. (out or "")
  local line = text:match("%[emerg%][^\n]*") or text:match("%[crit%][^\n]*") or first_line(text)
  if line == "" then line = "exit status " .. tostring(code) end
  return nil, "nginx -t: " .. line
end

-- restart(): test the configuration, then reload the running nginx (found
-- through the pid file its configuration names) and give it
-- --nginx-sleep-seconds to start its new workers.
function Inst:restart()
  local ok, err = self:config_test()
  if not ok then return nil, err end
  local code, out, rerr = self:run_ctl({ "-s", "reload" })
  if code ~= 0 then
    local text = code and ((rerr or "") .. (out or "")) or out
    local line = text:match("%[%a+%][^\n]*") or first_line(text)
    return nil, ("nginx reload failed (%s -s reload): %s"):format(self:ctl(), line)
  end
  local wait = tonumber(self.config.nginx_sleep_seconds) or 1
  if wait > 0 then sys.sleep(wait) end
  return true
end

return P
