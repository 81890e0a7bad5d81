-- storage: lineages and accounts in Certbot's layout.  All disk access goes
-- through a backend (read, write-atomically, list, link-live, remove); the
-- filesystem backend below is the only place that knows paths.  Lineage
-- logic above it never does path arithmetic.
--
--   <config>/archive/<name>/{cert,chain,fullchain,privkey}N.pem   0700 dirs
--   <config>/live/<name>/{cert,chain,fullchain,privkey}.pem -> ../../archive/<name>/...N.pem
--   <config>/renewal/<name>.conf
--
-- A new lineage commits when its renewal conf is written: until then the
-- archive holds a ".incomplete" marker, and a later run removes such a
-- leftover and reuses its name.  A successor is written to the archive in
-- full before any live link moves; its renewal conf before the links too.

local core = require("certbot.core")
local sys = core.sys
local confobj = require("certbot.confobj")

-- Signals wait while a lineage's files change: a Ctrl-C or a TERM during a
-- renewal interrupts before or after its versions and links are written,
-- never between two live links.
local hold = require("certbot.errors").hold

local M = {}

M.KINDS = { "cert", "privkey", "chain", "fullchain" }
local KEY_MODE, FILE_MODE, PRIVATE_DIR, PUBLIC_DIR = 384, 420, 448, 493 -- 0600 0644 0700 0755

local README = [[
This directory contains your keys and certificates.

`privkey.pem`  : the private key for your certificate.
`fullchain.pem`: the certificate file used in most server software.
`chain.pem`    : used for OCSP stapling in Nginx >=1.3.7.
`cert.pem`     : will break many server configurations, and should not be used
                 without reading further documentation (see link below).

WARNING: DO NOT MOVE OR RENAME THESE FILES!
         Certbot expects these files to remain in this location in order
         to function properly!

We recommend not moving these files. For more information, see the Certbot
User Guide at https://certbot.eff.org/docs/using.html#where-are-my-certificates.
]]

-- Two spellings of one path: "/etc/letsencrypt/" and "/etc//letsencrypt",
-- or a symlinked config dir, name the same place.
local function same_path(a, b)
  if a == b then return true end
  local function norm(p) return (p:gsub("/+", "/"):gsub("/%./", "/"):gsub("(.)/$", "%1")) end
  if norm(a) == norm(b) then return true end
  local ra, rb = sys.realpath(a), sys.realpath(b)
  return ra ~= nil and ra == rb
end

local function check(ok, err)
  if not ok then error({ storage = true, message = err }, 0) end
  return ok
end

---------------------------------------------------------------------------
-- The filesystem backend
---------------------------------------------------------------------------

local FS = {}
FS.__index = FS

function M.filesystem(config_dir)
  return setmetatable({ root = config_dir }, FS)
end

-- A file outside the config dir the user named (--cert-path and friends
-- with --csr): written atomically like everything else.
function M.write_file(path, data, mode)
  return sys.write_atomic(path, data, mode)
end

-- A path under the config dir, from up to four parts (no varargs, no
-- table: lineage paths are built once or twice per lineage per run).
function FS:_p(a, b, c, d)
  if d then return self.root .. "/" .. a .. "/" .. b .. "/" .. c .. "/" .. d end
  if c then return self.root .. "/" .. a .. "/" .. b .. "/" .. c end
  if b then return self.root .. "/" .. a .. "/" .. b end
  return self.root .. "/" .. a
end

-- Create the config dir tree as Certbot does.  -> true | nil, err
function FS:setup()
  local dirs = {
    { self.root, PUBLIC_DIR },
    { self:_p("accounts"), PRIVATE_DIR },
    { self:_p("archive"), PRIVATE_DIR },
    { self:_p("live"), PRIVATE_DIR },
    { self:_p("renewal"), PUBLIC_DIR },
    { self:_p("renewal-hooks"), PUBLIC_DIR },
    { self:_p("renewal-hooks", "pre"), PUBLIC_DIR },
    { self:_p("renewal-hooks", "deploy"), PUBLIC_DIR },
    { self:_p("renewal-hooks", "post"), PUBLIC_DIR },
  }
  for _, d in ipairs(dirs) do
    local ok, err = M.makedirs(d[1], d[2])
    if not ok then return nil, err end
  end
  return true
end

-- mkdir -p, each created directory with mode.
function M.makedirs(path, mode)
  return sys.mkdir(path, mode, true)
end

function FS:conf_path(name) return self.root .. "/renewal/" .. name .. ".conf" end
-- The per-lineage renewal lock (renew.lua); Certbot reads only *.conf here.
function FS:lock_path(name) return self.root .. "/renewal/." .. name .. ".lock" end
function FS:archive_dir(name) return self:_p("archive", name) end
function FS:live_dir(name) return self:_p("live", name) end

function FS:live_paths(name)
  local dir = self.root .. "/live/" .. name .. "/"
  return { cert = dir .. "cert.pem", privkey = dir .. "privkey.pem", chain = dir .. "chain.pem",
    fullchain = dir .. "fullchain.pem" }
end

function FS:archive_path(name, kind, version)
  return self.root .. "/archive/" .. name .. "/" .. kind .. version .. ".pem"
end

-- (The same listing indexes the temp files a killed run left beside the
-- confs, for remove_conf_temps.)
function FS:lineage_names()
  local names, temps = {}, {}
  local list = sys.listdir(self:_p("renewal")) or {}
  for i = 1, #list do
    local f = list[i]
    if #f > 5 and f:sub(-5) == ".conf" then
      names[#names + 1] = f:sub(1, -6)
    elseif f:sub(1, 1) == "." and f:sub(-4) == ".tmp" then
      local base = f:match("^%.(.+%.conf)%.%x+%.tmp$")
      if base then
        temps[base] = temps[base] or {}
        table.insert(temps[base], f)
      end
    end
  end
  self.renewal_temps = temps
  return names
end

-- path: conf_path(name), when the caller has it at hand.
function FS:read_conf(name, path) return sys.read_file(path or self:conf_path(name), 1 << 20) end
function FS:write_conf(name, text) return sys.write_atomic(self:conf_path(name), text, FILE_MODE) end

-- Is the name in use by any part of a lineage?
function FS:name_taken(name)
  return sys.lstat(self:conf_path(name)) ~= nil or sys.lstat(self:archive_dir(name)) ~= nil
    or sys.lstat(self:live_dir(name)) ~= nil
end

-- A lineage whose creation never committed (killed before its conf): its
-- archive dir holds the .incomplete marker, or, killed while the marker
-- was being written, nothing but temp files (and there is no live dir).
function FS:is_leftover(name)
  if sys.lstat(self:conf_path(name)) then return false end
  if sys.lstat(self:_p("archive", name, ".incomplete")) then return true end
  local list = sys.listdir(self:archive_dir(name))
  if not list or sys.lstat(self:live_dir(name)) then return false end
  for _, f in ipairs(list) do
    if not f:match("^%..*%.tmp$") then return false end
  end
  return true
end

function FS:archive_versions(name)
  local versions, seen = {}, {}
  for _, f in ipairs(sys.listdir(self:archive_dir(name)) or {}) do
    local v = f:match("^cert(%d+)%.pem$")
    if v and not seen[v] then
      seen[v] = true
      versions[#versions + 1] = tonumber(v)
    end
  end
  table.sort(versions)
  return versions
end

function FS:read_archive(name, kind, version)
  return sys.read_file(self:archive_path(name, kind, version), 1 << 20)
end

function FS:begin_lineage(name)
  local ok, err = sys.mkdir(self:archive_dir(name), PRIVATE_DIR)
  if not ok then return nil, err end
  ok, err = sys.write_atomic(self:_p("archive", name, ".incomplete"), "", FILE_MODE)
  if not ok then return nil, err end
  return sys.mkdir(self:live_dir(name), PRIVATE_DIR)
end

function FS:commit_lineage(name)
  local ok, err = sys.unlink(self:_p("archive", name, ".incomplete"))
  if not ok then return nil, err end
  return true
end

-- files: { cert=, chain=, fullchain=, privkey= }; key_mode for privkey.
function FS:write_archive(name, version, files, key_mode)
  for _, k in ipairs({ "privkey", "cert", "chain", "fullchain" }) do
    local ok, err = sys.write_atomic(self:archive_path(name, k, version), files[k],
      k == "privkey" and (key_mode or KEY_MODE) or FILE_MODE)
    if not ok then return nil, err end
  end
  return true
end

-- Point all four live links at version (relative targets, each swapped by
-- rename so a link is never missing).
-- The four links move together (sys.symlinks_swap: made first, renamed
-- back to back, one directory sync): a reader sees two versions only
-- for the few microseconds of four renames, and a run killed in them
-- leaves them mixed for recover to finish.
-- (The pairs a web server loads together, fullchain + privkey and
-- privkey + cert, are renamed one right after the other.)
local SWAP_ORDER = { "fullchain", "privkey", "cert", "chain" }
local function link_live(self, name, version)
  local set = {}
  for i, k in ipairs(SWAP_ORDER) do
    set[i] = { ("../../archive/%s/%s%d.pem"):format(name, k, version), self:_p("live", name, k .. ".pem") }
  end
  return sys.symlinks_swap(set)
end

function FS:link_live(name, version) return hold(link_live, self, name, version) end

-- The version each live link names: { cert = N, ... } (nil entries when
-- missing or not pointing into this lineage's archive).
local LINK_BASE = {}
for _, k in ipairs(M.KINDS) do LINK_BASE[k] = "^" .. k .. "(%d+)%.pem$" end
local find, match = string.find, string.match

-- The version text a live link's target names (nil: none, or outside
-- archive/<name>/), and the version text seen so far: the four links
-- usually name one version, and a match on the whole target is cheaper
-- than taking it apart.
local function link_version(self, name, rel, k, target, seen)
  if not target then return nil, seen end
  if seen and target == rel .. k .. seen .. ".pem" then return seen, seen end
  local n
  if find(target, rel, 1, true) == 1 then
    n = match(target, LINK_BASE[k], #rel + 1)
    seen = seen or n
  end
  if not n then
    local base = match(target, "([^/]+)$")
    n = base and match(base, LINK_BASE[k])
    -- the target must resolve into archive/<name>/
    if n and not same_path(target:sub(1, #target - #base), self:archive_dir(name) .. "/") then n = nil end
  end
  return n, seen
end

-- paths: the lineage's live paths (live_paths(name)), when the caller
-- has them at hand.
function FS:live_versions(name, paths)
  paths = paths or self:live_paths(name)
  local rel = "../../archive/" .. name .. "/" -- what we and Certbot write
  local readlink = sys.readlink
  local c, seen = link_version(self, name, rel, "cert", readlink(paths.cert), nil)
  -- the common case, all four naming one version, without a call each
  local p, ch, f
  local t = readlink(paths.privkey)
  if seen and t == rel .. "privkey" .. seen .. ".pem" then p = seen
  else p, seen = link_version(self, name, rel, "privkey", t, seen) end
  t = readlink(paths.chain)
  if seen and t == rel .. "chain" .. seen .. ".pem" then ch = seen
  else ch, seen = link_version(self, name, rel, "chain", t, seen) end
  t = readlink(paths.fullchain)
  if seen and t == rel .. "fullchain" .. seen .. ".pem" then f = seen
  else f = link_version(self, name, rel, "fullchain", t, seen) end
  local n = seen and tonumber(seen)
  return { cert = c and (c == seen and n or tonumber(c)), privkey = p and (p == seen and n or tonumber(p)),
    chain = ch and (ch == seen and n or tonumber(ch)), fullchain = f and (f == seen and n or tonumber(f)) }
end

-- The dirty mark.  A run writes into a lineage's archive and live dirs
-- only after marking it (before its pending version, before a link
-- repair), and unmarks it once nothing is left to finish (clear_pending).
-- So a lineage not marked has no temp files to sweep and no pending
-- version: a no-op renew looks at neither (listing two dirs and opening a
-- marker cost 11 of the 30 syscalls a lineage took).  The mark is the
-- lineage's lock file (renewal/.NAME.lock) being non-empty: written in
-- place, so the lock on it stays, durably before anything it covers, and
-- free to read for a run that has just locked the file (proc lock:size()).
function FS:mark_dirty(name) return sys.flag(self:lock_path(name), true) end
function FS:mark_clean(name) return sys.flag(self:lock_path(name), false) end
function FS:is_dirty(name)
  local st = sys.lstat(self:lock_path(name))
  return st ~= nil and st.size > 0
end

-- The version whose deploy hooks have not run yet (written before the
-- archive files, removed once the hooks ran), so a killed run's
-- successor gets its deploy hooks exactly once.  It marks the lineage.
function FS:set_pending(name, version)
  local ok, err = self:mark_dirty(name)
  if not ok then return nil, err end
  return sys.write_atomic(self:_p("archive", name, ".deploy-pending"), tostring(version) .. "\n", FILE_MODE)
end

function FS:get_pending(name)
  local text = sys.read_file(self.root .. "/archive/" .. name .. "/.deploy-pending", 64)
  return text and math.tointeger(tonumber(text:match("%d+")))
end

-- Temp files a killed run left (sys.write_atomic's and symlink_swap's
-- ".<base>.<hex>.tmp") in the lineage's archive and live dirs: only a
-- marked lineage has any.  Callers hold the lineage's lock.
function FS:remove_temps(name)
  local function sweep(dir)
    for _, f in ipairs(sys.listdir(dir) or {}) do
      if f:sub(1, 1) == "." and f:match("^%..*%.%x+%.tmp$") then sys.unlink(dir .. "/" .. f) end
    end
  end
  sweep(self:archive_dir(name))
  sweep(self:live_dir(name))
end

-- Temp files a killed run left beside the lineage's renewal conf (any
-- conf write: a renewal, reconfigure, ARI state), marked or not.
-- renewal/ holds every lineage's conf: it is listed once a run (by
-- lineage_names) and its temp files indexed by the conf they were for,
-- not scanned once a lineage (that made a no-op renew of 1,000 lineages
-- quadratic).  A temp file of this conf made after the listing can only
-- be ours: we hold the lineage's lock.
function FS:remove_conf_temps(name)
  if not self.renewal_temps then self:lineage_names() end
  for _, f in ipairs(self.renewal_temps[name .. ".conf"] or {}) do
    sys.unlink(self.root .. "/renewal/" .. f)
  end
end

function FS:has_conf_temps(name)
  if not self.renewal_temps then self:lineage_names() end
  return self.renewal_temps[name .. ".conf"] ~= nil
end

-- No version pending any more: the lineage is settled, and unmarked.
function FS:clear_pending(name)
  local path = self:_p("archive", name, ".deploy-pending")
  if sys.lstat(path) then
    local ok, err = sys.unlink(path)
    if not ok then return nil, err end
  end
  return self:mark_clean(name)
end

-- Is version complete in the archive (all four files)?
function FS:version_complete(name, version)
  for _, k in ipairs(M.KINDS) do
    local st = sys.stat(self:archive_path(name, k, version))
    if not (st and st.type == "file") then return false end
  end
  return true
end

function FS:write_readme(name)
  return sys.write_atomic(self:_p("live", name, "README"), README, FILE_MODE)
end

function FS:key_stat(name, version)
  return sys.stat(self:archive_path(name, "privkey", version))
end

-- Remove a lineage's live dir, archive dir and renewal conf.
function FS:remove_lineage(name)
  local first_err
  local function rm_dir(dir)
    for _, f in ipairs(sys.listdir(dir) or {}) do
      local ok, err = sys.unlink(dir .. "/" .. f)
      if not ok then first_err = first_err or err end
    end
    if sys.lstat(dir) then
      local ok, err = sys.rmdir(dir)
      if not ok then first_err = first_err or err end
    end
  end
  if sys.lstat(self:conf_path(name)) then
    local ok, err = sys.unlink(self:conf_path(name))
    if not ok then first_err = first_err or err end
  end
  rm_dir(self:live_dir(name))
  rm_dir(self:archive_dir(name))
  if sys.lstat(self:lock_path(name)) then sys.unlink(self:lock_path(name)) end
  if first_err then return nil, first_err end
  return true
end

-- Accounts: accounts/<server path>/<id>/{meta.json,private_key.json,regr.json}

function FS:accounts_dir(server_path)
  return self:_p("accounts", server_path)
end

function FS:account_ids(server_path)
  local ids = {}
  for _, f in ipairs(sys.listdir(self:accounts_dir(server_path)) or {}) do
    if not f:match("^%.") then ids[#ids + 1] = f end
  end
  return ids
end

function FS:read_account_file(server_path, id, file)
  return sys.read_file(self:_p("accounts", server_path, id, file), 1 << 20)
end

-- Write an account whole: files into a hidden temp dir, then one rename,
-- so accounts/<server>/<id>/ has all three files or does not exist.
-- files: array of { name, data, mode }.
function FS:write_account(server_path, id, files)
  local base = self:accounts_dir(server_path)
  local ok, err = M.makedirs(base, PRIVATE_DIR)
  if not ok then return nil, err end
  local tmp = ("%s/.%s.%d.tmp"):format(base, id, sys.getpid())
  ok, err = sys.mkdir(tmp, PRIVATE_DIR)
  if not ok then return nil, err end
  for _, f in ipairs(files) do
    ok, err = sys.write_atomic(tmp .. "/" .. f[1], f[2], f[3])
    if not ok then break end
  end
  if ok then ok, err = sys.rename(tmp, base .. "/" .. id) end
  if not ok then
    for _, f in ipairs(sys.listdir(tmp) or {}) do sys.unlink(tmp .. "/" .. f) end
    sys.rmdir(tmp)
    return nil, err
  end
  return true
end

-- Rewrite one file of an existing account (regr.json after an update).
function FS:update_account_file(server_path, id, file, data, mode)
  return sys.write_atomic(self:_p("accounts", server_path, id, file), data, mode)
end

function FS:remove_account(server_path, id)
  local dir = self:_p("accounts", server_path, id)
  for _, f in ipairs(sys.listdir(dir) or {}) do
    local ok, err = sys.unlink(dir .. "/" .. f)
    if not ok then return nil, err end
  end
  return sys.rmdir(dir)
end

---------------------------------------------------------------------------
-- Lineages
---------------------------------------------------------------------------

local Lineage = {}
Lineage.__index = Lineage
M.Lineage = Lineage

-- The renewal conf of a lineage, in Certbot's shape.
local function build_conf(backend, name, version_str, params, old)
  local conf = confobj.new()
  if not (old and old.keys.renew_before_expiry) then
    conf.header = { "renew_before_expiry = 30 days" }
  end
  local paths = backend:live_paths(name)
  -- keep what the user added at the top (renew_before_expiry ...)
  if old then
    for _, k in ipairs(old.order) do
      if k ~= "version" and k ~= "archive_dir" and not paths[k] then
        confobj.set(conf, k, old.keys[k])
      end
    end
  end
  confobj.set(conf, "version", version_str)
  confobj.set(conf, "archive_dir", backend:archive_dir(name))
  for _, k in ipairs(M.KINDS) do confobj.set(conf, k, paths[k]) end
  conf.comments = { renewalparams = "Options used in the renewal process" }
  local rp = confobj.section(conf, "renewalparams")
  for _, kv in ipairs(params) do
    local k, v = kv[1], kv[2]
    if type(v) == "table" and v.section then
      local sub = confobj.section(rp, k)
      for _, e in ipairs(v.section) do confobj.set(sub, e[1], e[2]) end
    elseif v ~= nil then
      confobj.set(rp, k, v)
    end
  end
  -- sections of other tools (e.g. plugins we do not know) survive
  if old and old.sections.renewalparams then
    local oldrp = old.sections.renewalparams
    for _, k in ipairs(oldrp.order) do
      if rp.keys[k] == nil and not (params.known and params.known[k]) then
        confobj.set(rp, k, oldrp.keys[k])
      end
    end
  end
  return confobj.write(conf)
end

-- Pick a free lineage name: name, name-0001, name-0002, ...; a leftover of
-- a killed first issuance is removed and its name reused.
local function free_name(backend, base)
  for i = 0, 9999 do
    local name = i == 0 and base or ("%s-%04d"):format(base, i)
    if backend:is_leftover(name) then
      check(backend:remove_lineage(name))
    end
    if not backend:name_taken(name) then return name end
  end
  error("no free lineage name for " .. base)
end

-- new_lineage(backend, base_name, files, params, opts) -> lineage | nil, err
-- files: { cert=, chain=, fullchain=, privkey= } (PEM text).
-- params: ordered { {key, value}, ... } for [renewalparams], with .known set.
local function new_lineage(backend, base_name, files, params, opts)
  opts = opts or {}
  local name
  local ok, err = pcall(function()
    name = free_name(backend, base_name)
    check(backend:begin_lineage(name))
    check(backend:write_archive(name, 1, files, KEY_MODE))
    check(backend:set_pending(name, 1))
    check(backend:link_live(name, 1))
    check(backend:write_readme(name))
    check(backend:write_conf(name, build_conf(backend, name, opts.version or core.version, params)))
    check(backend:commit_lineage(name))
  end)
  if not ok then
    if name and not sys.lstat(backend:conf_path(name)) then backend:remove_lineage(name) end
    return nil, type(err) == "table" and err.message or tostring(err)
  end
  return M.load(backend, name)
end

function M.new_lineage(backend, base_name, files, params, opts)
  return hold(new_lineage, backend, base_name, files, params, opts)
end

-- load(backend, name) -> lineage | nil, err (a broken lineage is an error
-- naming its renewal conf).
function M.load(backend, name)
  local path = backend:conf_path(name)
  local text, err = backend:read_conf(name, path)
  if not text then return nil, err end
  local conf, perr = confobj.parse(text, path)
  if not conf then return nil, perr end
  local l = setmetatable({ name = name, backend = backend, conf = conf, conf_path = path }, Lineage)
  local paths = backend:live_paths(name)
  local keys = conf.keys
  local kinds = M.KINDS
  for i = 1, #kinds do
    local k = kinds[i]
    local v, want = keys[k], paths[k]
    if v == nil then
      return nil, ("%s: missing key '%s'"):format(path, k)
    end
    -- (equal to what is expected: then a string, and the same path)
    if v ~= want and (type(v) ~= "string" or not same_path(v, want)) then
      -- Certbot lets the user point elsewhere only through the live dir;
      -- anything outside this lineage's own paths is treated as broken.
      return nil, ("%s: '%s' points outside live/%s: %s"):format(path, k, name, tostring(v))
    end
  end
  local ad = keys.archive_dir
  if ad ~= nil then
    local want = backend:archive_dir(name)
    if ad ~= want and (type(ad) ~= "string" or not same_path(ad, want)) then
      return nil, ("%s: archive_dir points outside archive/%s"):format(path, name)
    end
  end
  l.paths = paths
  l.params = conf.sections.renewalparams and conf.sections.renewalparams.keys or {}
  return l
end

function Lineage:version()
  local v = self.backend:live_versions(self.name)
  return v.cert
end

function Lineage:read(kind, version)
  return self.backend:read_archive(self.name, kind, version or self:version())
end

-- A live link naming something other than a PEM of archive/NAME (made by
-- hand, pointing elsewhere): -> its path, its target | nil.  A lineage
-- with one is broken, not repaired: following it would read, and a
-- renewal would write, beside files that are not this lineage's.  Missing
-- links and links to another version of archive/NAME are recover's to
-- repair.
function Lineage:foreign_link()
  local rel = "../../archive/" .. self.name .. "/"
  for _, k in ipairs(M.KINDS) do
    local path = self.paths[k]
    local target = sys.readlink(path)
    if target and not link_version(self.backend, self.name, rel, k, target) then return path, target end
  end
  return nil
end

-- The live version, if all four links agree and point at a complete set.
function Lineage:consistent_version()
  local v = self.backend:live_versions(self.name, self.paths)
  if v.cert and v.cert == v.privkey and v.cert == v.chain and v.cert == v.fullchain then
    return v.cert
  end
  return nil
end

-- The mode a successor's key gets: 0600 plus the previous key's group and
-- other read bits (Certbot keeps a key group-readable if it was), and its
-- group (chgrp ssl-cert keeps working).
local function successor_key_mode(backend, name, prev)
  local st = prev and backend:key_stat(name, prev)
  if not st then return KEY_MODE, nil end
  return KEY_MODE | (st.mode & 36), st.gid -- 036 = group/other read
end

-- save_successor(files, params) -> version | nil, err
-- files.privkey nil means reuse the current key.
local function save_successor(self, files, params, opts)
  opts = opts or {}
  local backend, name = self.backend, self.name
  local versions = backend:archive_versions(name)
  local prev = self:version() or versions[#versions]
  local new = (versions[#versions] or 0) + 1
  local linking = false
  local ok, err = pcall(function()
    if not files.privkey then
      files.privkey = check(backend:read_archive(name, "privkey", prev))
    end
    -- The key is created 0600 and only opened up to the previous key's
    -- group bits once it has that key's group: never readable, even for
    -- an instant, by a group the previous key did not have.
    local mode, gid = successor_key_mode(backend, name, prev)
    -- pending first: a run killed once the new version is complete leaves
    -- it pending, so the next run makes it live and runs its deploy hooks
    -- (an incomplete pending version is dropped by recover)
    check(backend:set_pending(name, new))
    check(backend:write_archive(name, new, files, KEY_MODE))
    local key_path = backend:archive_path(name, "privkey", new)
    if gid then sys.chown(key_path, -1, gid) end
    if mode ~= KEY_MODE then check(sys.chmod(key_path, mode)) end
    -- the conf before the links: a conf that cannot be written (a full
    -- disk) still leaves the lineage as it was
    if params then
      local text = build_conf(backend, name, opts.version or core.version, params, self.conf)
      check(backend:write_conf(name, text))
    end
    linking = true
    check(backend:link_live(name, new))
  end)
  if not ok then
    -- failed before any live link moved (a full disk, an I/O error): take
    -- back what this run wrote, so the lineage is as it was
    if not linking then
      for _, k in ipairs(M.KINDS) do sys.unlink(backend:archive_path(name, k, new)) end
      backend:clear_pending(name)
    end
    return nil, type(err) == "table" and err.message or tostring(err)
  end
  return new
end

function Lineage:save_successor(files, params, opts) return hold(save_successor, self, files, params, opts) end

-- The deploy hooks of the newest version ran: forget it.
function Lineage:deploy_done()
  return self.backend:clear_pending(self.name)
end

-- recover() -> pending version | nil[, err]: finish what a killed run left.
-- Live links that disagree (killed between two link swaps, or changed by
-- hand) all move to the newest complete version; a version whose deploy
-- hooks never ran is returned so the caller runs them once (the lineage
-- stays marked until deploy_done).  Temp files and a pending version are
-- looked for only in a marked lineage (FS:mark_dirty): self.dirty, when
-- the caller read the mark as it locked the lineage, else the mark on
-- disk.  When there was nothing to do, it returns nil, nil, live: the
-- version all four links name, so a no-op renew reads the cert without
-- looking at the links again.
function Lineage:recover()
  local backend, name = self.backend, self.name
  local dirty = self.dirty
  if dirty == nil then dirty = backend:is_dirty(name) end
  backend:remove_conf_temps(name)
  if dirty then backend:remove_temps(name) end
  local live = self:consistent_version()
  if not live then
    local newest = M.newest_complete_version(backend, name)
    if newest then
      local ok, err = backend:mark_dirty(name)
      if ok then ok, err = backend:link_live(name, newest) end
      if not ok then return nil, err end
      dirty = true
    end
  end
  if not dirty then return nil, nil, live end
  local pending = backend:get_pending(name)
  if pending and backend:version_complete(name, pending) then
    -- killed after the new version was complete: make it live, hooks due
    if self:consistent_version() ~= pending then
      local ok, err = backend:link_live(name, pending)
      if not ok then return nil, err end
    end
    return pending
  end
  -- nothing pending, or an incomplete version recover dropped
  backend:clear_pending(name)
  return nil, nil, live
end

-- Rewrite only the renewal parameters.
function Lineage:update_params(params, opts)
  opts = opts or {}
  return self.backend:write_conf(self.name,
    build_conf(self.backend, self.name, opts.version or core.version, params, self.conf))
end

-- Every lineage: { lineages = {...}, broken = { {name=, error=}, ... } }
function M.all(backend)
  local out = { lineages = {}, broken = {} }
  for _, name in ipairs(backend:lineage_names()) do
    local l, err = M.load(backend, name)
    if l then out.lineages[#out.lineages + 1] = l
    else out.broken[#out.broken + 1] = { name = name, error = err, path = backend:conf_path(name) } end
  end
  return out
end

-- The newest archive version with all four files (nil if there is none).
function M.newest_complete_version(backend, name)
  local versions = backend:archive_versions(name)
  for i = #versions, 1, -1 do
    if backend:version_complete(name, versions[i]) then return versions[i] end
  end
  return nil
end

-- The user guide's way to move an archive: its files go to another folder,
-- archive_dir in the renewal conf names that folder, then update_symlinks.
-- Certbot's layout stays whole: archive/NAME becomes a symlink to the
-- folder, so the live links keep their "../../archive/NAME/..." targets,
-- load() sees archive_dir resolve to archive/NAME, and renewals write into
-- the folder.  Refused: a relative path, a folder that is not there, one
-- inside the config dir's archive/ or live/ (another lineage's files), and
-- an archive/NAME that is still a real directory (which one holds the
-- lineage?).
local function adopt_archive_dir(backend, name, conf_path, dir)
  local own = backend:archive_dir(name)
  if type(dir) ~= "string" or dir:sub(1, 1) ~= "/" then
    return nil, ("%s: archive_dir must be an absolute path, not '%s'"):format(conf_path, tostring(dir))
  end
  if same_path(dir, own) then return true end
  local st = sys.stat(dir)
  if not st or st.type ~= "directory" then
    return nil, ("%s: archive_dir %s is not a directory"):format(conf_path, dir)
  end
  local real = sys.realpath(dir)
  for _, top in ipairs({ own:match("^(.*)/[^/]*$"), backend:live_dir(name):match("^(.*)/[^/]*$") }) do
    local rtop = sys.realpath(top)
    if real and rtop and (real == rtop or real:sub(1, #rtop + 1) == rtop .. "/") then
      return nil, ("%s: archive_dir %s lies inside %s"):format(conf_path, dir, top)
    end
  end
  local cur = sys.lstat(own)
  if cur and cur.type ~= "link" then
    return nil, ("%s: archive_dir names %s, but %s is still there: move its files to %s and "
      .. "remove it, or set archive_dir back"):format(conf_path, dir, own, dir)
  end
  return sys.symlink_swap(dir, own)
end

-- update_symlinks(backend, name) -> version | nil, err
-- Point the four live links (relative "../../archive/NAME/kindN.pem") at
-- the newest archive version that has all four files, creating live/NAME
-- if it is gone; archive_dir may name a folder the archive was moved to.
function M.update_symlinks(backend, name)
  local path = backend:conf_path(name)
  local text, err = backend:read_conf(name)
  if not text then return nil, err end
  local conf, perr = confobj.parse(text, path)
  if not conf then return nil, perr end
  if conf.keys.archive_dir ~= nil then
    local ok, aerr = adopt_archive_dir(backend, name, path, conf.keys.archive_dir)
    if not ok then return nil, aerr end
  end
  local l, lerr = M.load(backend, name)
  if not l then return nil, lerr end
  local version = M.newest_complete_version(backend, name)
  if not version then
    return nil, ("no version with all of cert, chain, fullchain and privkey in %s")
      :format(backend:archive_dir(name))
  end
  if not sys.lstat(backend:live_dir(name)) then
    local ok, merr = sys.mkdir(backend:live_dir(name), PRIVATE_DIR)
    if not ok then return nil, merr end
    backend:write_readme(name)
  end
  -- marked, and left marked: a pending version a killed run left is
  -- still the next renew's to settle
  local ok, kerr = backend:mark_dirty(name)
  if ok then ok, kerr = backend:link_live(name, version) end
  if not ok then return nil, kerr end
  return version
end

-- delete_lineage(backend, name) -> true | nil, err
-- Remove renewal/NAME.conf, live/NAME and archive/NAME.  An archive moved
-- elsewhere (archive/NAME a symlink, see adopt_archive_dir) loses its
-- certificate and key files there too, as Certbot removes archive_dir; the
-- folder goes if nothing else is left in it.
function M.delete_lineage(backend, name)
  local own = backend:archive_dir(name)
  local st = sys.lstat(own)
  local moved
  if st and st.type == "link" then
    moved = sys.realpath(own)
    local ok, err = sys.unlink(own)
    if not ok then return nil, err end
  end
  local ok, err = backend:remove_lineage(name)
  if not ok then return nil, err end
  if moved then
    local kinds = {}
    for _, k in ipairs(M.KINDS) do kinds[k] = true end
    for _, f in ipairs(sys.listdir(moved) or {}) do
      if kinds[f:match("^(%l+)%d+%.pem$") or ""] then
        local uok, uerr = sys.unlink(moved .. "/" .. f)
        if not uok then return nil, uerr end
      end
    end
    sys.rmdir(moved) -- kept when other files are left in it
  end
  return true
end

return M
