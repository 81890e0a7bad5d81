-- cli.lua: the command line and cli.ini, parsed into one config object.
--
--   cli.parse(argv[, opts]) -> config | nil, message, exit_status
--
-- argv: { [0] = "certbot", "certonly", "-d", "example.com", ... }.
-- opts.getenv: function(name) -> value, instead of os.getenv.
--
-- Parsing follows Certbot's argparse/ConfigArgParse behaviour: the
-- subcommand may stand anywhere among the options (default "run"); long
-- options take `--opt=value` or `--opt value` and may be abbreviated to an
-- unambiguous prefix; short options cluster (-vvv, -nq, -dexample.com);
-- later occurrences of a single-valued option replace earlier ones; cli.ini
-- values come first and an option given on the command line replaces what
-- any cli.ini said about it.  Every value remembers where it came from.
--
-- Usage mistakes come back as nil, "certbot: error: ...", 2.  Conflicts that
-- Certbot reports after parsing (e.g. --dry-run with install) come back as
-- nil, message, 1.  -h/--help and --version win over everything else and
-- return a config with help_topic (true or a topic name) or show_version set;
-- no cli.ini is read for them.

local options = require "certbot.options"
local cfgfile = require "certbot.config"
local errors = require "certbot.errors"

local M = {}

local Config = {}
M.Config = Config

------------------------------------------------------------------------
-- Small helpers
------------------------------------------------------------------------

local function argname(e)
  return table.concat(e.names, "/")
end

local function takes_value(e)
  local t = e.type
  return not (t == "flag" or t == "flag_false" or t == "count" or t == "append_const"
    or t == "help" or t == "version")
end

-- argparse takes "-5" as a value (a negative number), not as an option.
local function looks_like_option(s)
  return s:sub(1, 1) == "-" and #s > 1 and not s:match("^%-%d+%.?%d*$")
end

local function deepcopy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = deepcopy(x) end
  return t
end

local cwd_cache
local function cwd()
  if cwd_cache == nil then
    local ok, core = pcall(require, "certbot.core")
    cwd_cache = ok and core.sys and core.sys.realpath and core.sys.realpath(".")
      or os.getenv("PWD") or false
  end
  return cwd_cache
end

-- abspath("x/../y") -> "<cwd>/y", lexically, as Python's os.path.abspath.
function M.abspath(p)
  if p == "" then return p end
  if p:sub(1, 1) ~= "/" then
    local c = cwd()
    if not c then return p end
    p = c .. "/" .. p
  end
  local parts = {}
  for seg in p:gmatch("[^/]+") do
    if seg == ".." then
      if #parts > 0 then parts[#parts] = nil end
    elseif seg ~= "." then
      parts[#parts + 1] = seg
    end
  end
  return "/" .. table.concat(parts, "/")
end

local function split_commas(s)
  local out = {}
  for part in s:gmatch("[^,]+") do
    part = part:match("^%s*(.-)%s*$")
    if part ~= "" then out[#out + 1] = part end
  end
  return out
end

local function append_unique(list, v)
  for _, x in ipairs(list) do
    if x == v then return false end
  end
  list[#list + 1] = v
  return true
end

-- Certbot's domain clean-up at parse time: ASCII only, lower case, no
-- trailing dot.  Deeper checks belong to whoever orders the certificate.
local function clean_domain(d)
  if d:find("[\128-\255]") then
    return nil, "Non-ASCII domain names not supported. To issue for an "
      .. "Internationalized Domain Name, use Punycode."
  end
  d = d:lower()
  if d:sub(-1) == "." then d = d:sub(1, -2) end
  if d:match("^%a[%w+.-]*://") then
    return nil, "Requested name " .. d .. " appears to be a URL, not a domain name"
  end
  return d
end

------------------------------------------------------------------------
-- Scanning argv into events
------------------------------------------------------------------------

local COMMANDS = {}
for _, w in ipairs(options.COMMANDS_TOPICS) do COMMANDS[w] = true end

-- Is `word` a help topic?  (all, a group, a subcommand or alias, a plugin,
-- "commands" and its synonyms)
function M.is_topic(word)
  if word == "all" or COMMANDS[word] then return true end
  if options.topic(word) then return true end
  return options.subcommand(word) ~= nil
end

-- scan(args, lenient) -> events, verb_token | nil, message
-- lenient: ignore mistakes (options not known yet may belong to plugins
-- not loaded yet) and return the first -h/--help/--version, as
-- { help = topic|true } or { version = true } (or nil), and the events of
-- the options recognized so far.
local function scan(args, lenient)
  local events, verb = {}, nil
  local i, n = 1, #args
  local positional_only = false
  local special

  local function fail(msg)
    return nil, "certbot: error: " .. msg
  end

  local function help_request(topic)
    special = special or { help = topic or true }
  end

  while i <= n do
    local tok = args[i]
    if not positional_only and tok == "--" then
      positional_only = true
      i = i + 1
    elseif positional_only or not looks_like_option(tok) then
      if not lenient then
        if not verb and options.subcommand(tok) then
          verb = tok
        elseif verb and options.subcommand(tok) then
          return fail("too many subcommands: '" .. verb .. "' and '" .. tok .. "'")
        else
          return fail("unrecognized arguments: " .. tok)
        end
      end
      i = i + 1
    elseif tok:sub(1, 2) == "--" then
      local name, val = tok:match("^(%-%-[^=]+)=(.*)$")
      if not name then name = tok end
      local e, full = options.resolve_long(name)
      if not e then
        if not lenient then return fail(full) end
        i = i + 1
      elseif e.type == "help" then
        if lenient then
          local nxt = args[i + 1]
          if val then
            help_request(val)
          elseif nxt and not looks_like_option(nxt) then
            help_request(nxt)
            i = i + 1
          else
            help_request(nil)
          end
        end
        i = i + 1
      elseif e.type == "version" then
        if lenient then special = special or { version = true } end
        i = i + 1
      elseif takes_value(e) then
        if val == nil then
          val = args[i + 1]
          if val == nil or looks_like_option(val) then
            if not lenient then return fail("argument " .. argname(e) .. ": expected one argument") end
            val = nil
          else
            i = i + 1
          end
        end
        if val ~= nil then
          events[#events + 1] = { entry = e, name = full, value = val, kind = "cli", where = full }
        end
        i = i + 1
      else
        if val ~= nil and not lenient then
          return fail("argument " .. argname(e) .. ": ignored explicit argument '" .. val .. "'")
        end
        events[#events + 1] = { entry = e, name = full, kind = "cli", where = full }
        i = i + 1
      end
    else
      -- a cluster of short options: -vvv, -nq, -dexample.com, -d=example.com
      local j = 2
      local consumed_next = false
      while j <= #tok do
        local c = tok:sub(j, j)
        local e = options.by_short(c)
        local name = "-" .. c
        if not e then
          if lenient then break end
          if j == 2 then return fail("unrecognized arguments: " .. tok) end
          return fail("argument " .. argname(options.by_short(tok:sub(j - 1, j - 1)))
            .. ": ignored explicit argument '" .. tok:sub(j) .. "'")
        end
        if e.type == "help" then
          if lenient then
            local rest = tok:sub(j + 1):gsub("^=", "")
            local nxt = args[i + 1]
            if rest ~= "" then
              help_request(rest)
            elseif nxt and not looks_like_option(nxt) then
              help_request(nxt)
              consumed_next = true
            else
              help_request(nil)
            end
            break
          end
          j = j + 1
        elseif takes_value(e) then
          local rest = tok:sub(j + 1)
          if rest:sub(1, 1) == "=" then rest = rest:sub(2) end
          if rest == "" then
            local nxt = args[i + 1]
            if nxt == nil or looks_like_option(nxt) then
              if not lenient then return fail("argument " .. argname(e) .. ": expected one argument") end
              break
            end
            rest = nxt
            consumed_next = true
          end
          events[#events + 1] = { entry = e, name = name, value = rest, kind = "cli", where = name }
          break
        else
          events[#events + 1] = { entry = e, name = name, kind = "cli", where = name }
          j = j + 1
        end
      end
      i = i + (consumed_next and 2 or 1)
    end
  end
  if lenient then return special, events end
  return events, verb
end

------------------------------------------------------------------------
-- Applying events
------------------------------------------------------------------------

local CHALLENGE_ALIASES = {
  http = "http-01", dns = "dns-01", ["tls-alpn"] = "tls-alpn-01",
  ["http-01"] = "http-01", ["dns-01"] = "dns-01", ["tls-alpn-01"] = "tls-alpn-01",
}

local function notice(st, text)
  if not st.notice_seen[text] then
    st.notice_seen[text] = true
    st.notices[#st.notices + 1] = text
  end
end

-- Record value and source of dest.
local function put(st, dest, value, ev)
  st.values[dest] = value
  st.sources[dest] = { kind = ev.kind, where = ev.where }
end

local function list_of(st, dest)
  local l = st.values[dest]
  if type(l) ~= "table" then
    l = {}
    st.values[dest] = l
  end
  return l
end

local function add_domains(st, text, ev)
  local added = {}
  local domains = list_of(st, "domains")
  for _, d in ipairs(split_commas(text)) do
    local clean, err = clean_domain(d)
    if not clean then return nil, err, 1 end
    append_unique(domains, clean)
    added[#added + 1] = clean
  end
  st.sources.domains = { kind = ev.kind, where = ev.where }
  return added
end

local actions = {}

function actions.domains(st, ev)
  local ok, err, code = add_domains(st, ev.value, ev)
  if not ok then return nil, err, code end
  return true
end

-- --plugin-dir: each one a directory, relative to the cwd; commas are
-- part of the name.
function actions.plugin_dir(st, ev)
  append_unique(list_of(st, "plugin_dir"), M.abspath(ev.value))
  st.sources.plugin_dir = { kind = ev.kind, where = ev.where }
  return true
end

-- -w: each -d uses the -w that came before it (Certbot's webroot plugin).
function actions.webroot_path(st, ev)
  local paths = list_of(st, "webroot_path")
  if st.domain_before_webroot then
    return nil, "If you specify multiple webroot paths, one of them must precede all "
      .. "domain flags", 1
  end
  if #paths > 0 then
    local map = list_of(st, "webroot_map")
    for _, d in ipairs(st.values.domains or {}) do
      if map[d] == nil then map[d] = paths[#paths] end
    end
  elseif st.values.domains and #st.values.domains > 0 then
    st.domain_before_webroot = true
  end
  paths[#paths + 1] = M.abspath(ev.value)
  st.sources.webroot_path = { kind = ev.kind, where = ev.where }
  return true
end

function actions.webroot_map(st, ev)
  local json = require "cjson.safe"
  local obj = json.decode(ev.value)
  if type(obj) ~= "table" or #obj > 0 then
    return nil, "argument " .. argname(ev.entry) .. ": expected a JSON object mapping "
      .. "domains to webroot paths, got '" .. ev.value .. "'"
  end
  local map = list_of(st, "webroot_map")
  for k, v in pairs(obj) do
    if type(k) ~= "string" or type(v) ~= "string" then
      return nil, "argument " .. argname(ev.entry) .. ": every key and value must be a string"
    end
    local added, err, code = add_domains(st, k, ev)
    if not added then return nil, err, code end
    for _, d in ipairs(added) do map[d] = M.abspath(v) end
  end
  st.sources.webroot_map = { kind = ev.kind, where = ev.where }
  return true
end

function actions.pref_challs(st, ev)
  local l = list_of(st, "pref_challs")
  local bad = {}
  for _, c in ipairs(split_commas(ev.value)) do
    local lc = c:lower()
    local t = CHALLENGE_ALIASES[lc]
    if lc == "tls-sni" or lc == "tls-sni-01" then
      notice(st, "The tls-sni-01 challenge is retired; using tls-alpn-01 instead.")
      t = "tls-alpn-01"
    end
    if t then append_unique(l, t) else bad[#bad + 1] = c end
  end
  if #bad > 0 then
    return nil, "argument " .. argname(ev.entry) .. ": Unrecognized challenges: "
      .. table.concat(bad, ", ")
  end
  st.sources.pref_challs = { kind = ev.kind, where = ev.where }
  return true
end

function actions.reason(st, ev)
  local code = options.REVOCATION_REASONS[ev.value:lower()]
  if not code then
    local q = {}
    for _, c in ipairs(ev.entry.choices) do q[#q + 1] = "'" .. c .. "'" end
    return nil, "argument " .. argname(ev.entry) .. ": invalid choice: '" .. ev.value
      .. "' (choose from " .. table.concat(q, ", ") .. ")"
  end
  put(st, "reason", code, ev)
  return true
end

-- --deploy-hook sets both deploy_hook and renew_hook (renewal confs store
-- renew_hook); --renew-hook only renew_hook.  Giving both with different
-- commands is a mistake, as in Certbot.
function actions.deploy_hook(st, ev)
  if st.hook_by == "renew" and st.values.renew_hook ~= ev.value then
    return nil, "argument " .. argname(ev.entry) .. ": conflicts with --renew-hook value"
  end
  put(st, "renew_hook", ev.value, ev)
  put(st, "deploy_hook", ev.value, ev)
  st.hook_by = "deploy"
  return true
end

function actions.renew_hook(st, ev)
  if st.hook_by == "deploy" and st.values.deploy_hook ~= ev.value then
    return nil, "argument " .. argname(ev.entry) .. ": conflicts with --deploy-hook value"
  end
  put(st, "renew_hook", ev.value, ev)
  st.hook_by = st.hook_by or "renew"
  return true
end

local converters = {}

function converters.int(v, e)
  local n = v:match("^%s*([+-]?%d+)%s*$")
  n = n and math.tointeger(tonumber(n))
  if not n then return nil, "invalid int value: '" .. v .. "'" end
  if e.min and n < e.min then
    if e.min == 0 then return nil, "value must be a non-negative integer: '" .. v .. "'" end
    return nil, "value must be at least " .. e.min .. ": '" .. v .. "'"
  end
  return n
end

function converters.float(v)
  local n = tonumber(v)
  if not n then return nil, "invalid float value: '" .. v .. "'" end
  return n + 0.0
end

local BOOL = { ["true"] = true, yes = true, ["1"] = true, on = true,
  ["false"] = false, no = false, ["0"] = false, off = false }

function converters.bool(v)
  local b = BOOL[v:lower()]
  if b == nil then return nil, "invalid boolean value: '" .. v .. "'" end
  return b
end

function converters.choice(v, e)
  for _, c in ipairs(e.choices) do
    if c == v then return v end
  end
  local q = {}
  for _, c in ipairs(e.choices) do q[#q + 1] = "'" .. c .. "'" end
  return nil, "invalid choice: '" .. v .. "' (choose from " .. table.concat(q, ", ") .. ")"
end

function converters.path(v, e)
  if e.abspath then return M.abspath(v) end
  return v
end

function converters.string(v) return v end

local function apply(st, ev)
  local e = ev.entry
  if e.deprecated then
    notice(st, "Use of " .. ev.name .. " is deprecated."
      .. (type(e.deprecated) == "string" and " " .. e.deprecated or ""))
  end
  if e.noop then return true end
  if e.action then
    return actions[e.action](st, ev)
  end
  local t, dest = e.type, e.dest
  if t == "flag" then
    put(st, dest, true, ev)
  elseif t == "flag_false" then
    put(st, dest, false, ev)
  elseif t == "count" then
    put(st, dest, (st.values[dest] or 0) + 1, ev)
  elseif t == "append_const" then
    append_unique(list_of(st, dest), e.const)
    st.sources[dest] = { kind = ev.kind, where = ev.where }
  elseif t == "list" then
    local l = list_of(st, dest)
    for _, x in ipairs(split_commas(ev.value)) do append_unique(l, x) end
    st.sources[dest] = { kind = ev.kind, where = ev.where }
  else
    local conv = converters[t] or converters.string
    local v, err = conv(ev.value, e)
    if v == nil then return nil, "argument " .. argname(e) .. ": " .. err end
    put(st, dest, v, ev)
  end
  return true
end

------------------------------------------------------------------------
-- The config object
------------------------------------------------------------------------

local function meta(self) return getmetatable(self).__certbot end

local function new_config(values, sources, notices)
  return setmetatable(values, { __index = Config,
    __certbot = { sources = sources or {}, notices = notices or {} } })
end

-- cli.new_config([values]) -> a config whose values all count as defaults
-- (for library users and specs that build one by hand).
function M.new_config(values)
  local v, s = {}, {}
  for k, x in pairs(values or {}) do
    v[k] = x
    s[k] = { kind = "runtime", where = "set by Certbot" }
  end
  return new_config(v, s, {})
end

-- source(name) -> kind, where
-- kind: "cli", "config_file", "renewal", "runtime" or "default";
-- where: the option as typed, "path:line", or nil.
function Config:source(name)
  local s = meta(self).sources[name]
  if not s then return "default", nil end
  return s.kind, s.where
end

-- origin(name) -> "--key-type on the command line" | "/etc/.../cli.ini:3" | ...
function Config:origin(name)
  local kind, where = self:source(name)
  if kind == "cli" then return where .. " on the command line" end
  if kind == "default" then return "the default" end
  if kind == "renewal" then return "renewal conf " .. tostring(where) end
  if kind == "runtime" then return where or "set by Certbot" end
  return tostring(where)
end

-- explicit(name): given on the command line.
function Config:explicit(name)
  return (self:source(name)) == "cli"
end

-- set_by_user(name): given on the command line or in a cli.ini, so it
-- overrides what a renewal conf says (Certbot's set_by_user).
function Config:set_by_user(name)
  local kind = self:source(name)
  return kind == "cli" or kind == "config_file"
end

-- set(name, value[, kind[, where]]): e.g. renew applying a renewal conf:
-- config:set("rsa_key_size", "4096", "renewal", "/etc/.../x.conf:7")
function Config:set(name, value, kind, where)
  rawset(self, name, value)
  meta(self).sources[name] = { kind = kind or "runtime", where = where }
end

-- notices() -> { "Use of --tls-sni-01-port is deprecated. ...", ... }
function Config:notices()
  return meta(self).notices
end

-- copy() -> an independent config (values deep-copied), e.g. one per lineage.
function Config:copy()
  local v = {}
  for k, x in pairs(self) do v[k] = deepcopy(x) end
  local src = {}
  for k, s in pairs(meta(self).sources) do src[k] = { kind = s.kind, where = s.where } end
  local notes = {}
  for i, s in ipairs(meta(self).notices) do notes[i] = s end
  return new_config(v, src, notes)
end

local function bad(self, name, what, v)
  local shown = type(v) == "string" and ("'" .. v .. "'") or tostring(v)
  local kind = self:source(name)
  errors.raise(string.format("%s (from %s): expected %s, got %s", name, self:origin(name), what,
    shown), (kind == "cli" or kind == "config_file") and 2 or 1,
    { key = name, source = self:origin(name) })
end

-- Typed getters (STYLE.md item 10).  Values read back from a renewal conf
-- are strings, so each getter converts; a wrong value raises an error
-- naming the key and where the value came from.

function Config:get(name, default)
  local v = self[name]
  if v == nil then return default end
  return v
end

function Config:string(name, default)
  local v = self[name]
  if v == nil then return default end
  if type(v) == "number" then return tostring(v) end
  if type(v) ~= "string" then bad(self, name, "a string", v) end
  return v
end

function Config:number(name, min, max, default)
  local v = self[name]
  if v == nil then return default end
  local n = tonumber(v)
  if type(v) ~= "number" and type(v) ~= "string" or n == nil then
    bad(self, name, "a number", v)
  end
  if (min and n < min) or (max and n > max) then
    local want = (min and max) and string.format("a number from %s to %s", min, max)
      or min and ("a number no less than " .. min) or ("a number no greater than " .. max)
    bad(self, name, want, v)
  end
  return math.tointeger(n) or n
end

function Config:boolean(name, default)
  local v = self[name]
  if v == nil then return default end
  if type(v) == "boolean" then return v end
  if type(v) == "string" then
    local b = BOOL[v:lower()]
    if b ~= nil then return b end
  end
  bad(self, name, "true or false", v)
end

function Config:enum(name, ...)
  local v = self[name]
  if v == nil then return nil end
  local n = select("#", ...)
  for i = 1, n do
    if v == select(i, ...) then return v end
  end
  local q = {}
  for i = 1, n do q[#q + 1] = "'" .. tostring(select(i, ...)) .. "'" end
  bad(self, name, "one of " .. table.concat(q, ", "), v)
end

function Config:list(name)
  local v = self[name]
  if v == nil then return {} end
  if type(v) == "string" then return split_commas(v) end
  if type(v) ~= "table" then bad(self, name, "a list", v) end
  return v
end

-- plugin("dns-cloudflare") -> a view whose getters take the plugin's own
-- option names: view:string("credentials") reads dns_cloudflare_credentials.
function Config:plugin(plugin)
  local prefix = plugin:gsub("%-", "_") .. "_"
  local conf = self
  local view = {}
  for _, m in ipairs({ "get", "string", "number", "boolean", "enum", "list", "source",
    "origin", "explicit", "set_by_user" }) do
    view[m] = function(_, name, ...) return conf[m](conf, prefix .. name:gsub("%-", "_"), ...) end
  end
  view.config = conf
  return view
end

------------------------------------------------------------------------
-- parse
------------------------------------------------------------------------

local function special(req)
  local c = new_config({}, {}, {})
  if req.version then
    rawset(c, "show_version", true)
  else
    rawset(c, "help_topic", req.help)
  end
  return c
end

-- Certbot's checks after parsing (HelpfulArgumentParser.parse_args).
local function homework(st, verb)
  local v = st.values
  local rt = { kind = "runtime", where = "set by Certbot" }
  if verb == "renew" then
    if v.force_interactive then
      return nil, "--force-interactive cannot be used with renew", 1
    end
    v.noninteractive_mode = true
    st.sources.noninteractive_mode = st.sources.noninteractive_mode or rt
  end
  if v.force_interactive and v.noninteractive_mode then
    return nil, "Flag for non-interactive mode and --force-interactive conflict", 1
  end
  if v.quiet and not v.noninteractive_mode then
    v.noninteractive_mode = true
    st.sources.noninteractive_mode = rt
  end
  if v.staging or v.dry_run then
    if v.staging and v.server ~= options.DEFAULT_SERVER and v.server ~= options.STAGING_SERVER then
      return nil, "--server value conflicts with --staging", 1
    end
    if v.server == options.DEFAULT_SERVER or v.server == options.STAGING_SERVER then
      v.server = options.STAGING_SERVER
      st.sources.server = st.sources.staging or st.sources.dry_run
    end
    if v.dry_run then
      if verb ~= "certonly" and verb ~= "renew" then
        return nil, "--dry-run currently only works with the 'certonly' or 'renew' "
          .. "subcommands ('" .. verb .. "')", 1
      end
      v.break_my_certs = true
      v.staging = true
    end
  end
  if v.csr then
    if verb ~= "certonly" then
      return nil, "Currently, a CSR file may only be specified when obtaining a new or "
        .. "replacement certificate via the certonly command. Please try the certonly "
        .. "command instead.", 1
    end
    if v.allow_subset_of_names then
      return nil, "--allow-subset-of-names cannot be used with --csr", 1
    end
  end
  if v.json and verb ~= "certificates" and verb ~= "show_account" and verb ~= "renew" then
    return nil, "--json only works with the certificates, show_account and renew subcommands ('"
      .. verb .. "')", 2
  end
  if v.must_staple then v.staple = true end
  if v.hsts and v.auto_hsts then
    return nil, "Parameters --hsts and --auto-hsts cannot be used simultaneously.", 1
  end
  if v.allow_subset_of_names then
    for _, d in ipairs(v.domains) do
      if d:sub(1, 2) == "*." then
        return nil, "Using --allow-subset-of-names with a wildcard domain is not supported.", 1
      end
    end
  end
  return true
end

-- The -c file the events name (the last one), if any.
local function config_file_of(events)
  local explicit
  for _, ev in ipairs(events) do
    if ev.entry.dest == "config_file" then explicit = ev.value end
  end
  return explicit
end

-- Third-party plugins join the option table before the command line is
-- read for real, so that their options are known there and in cli.ini (and
-- --help NAME knows them).  Where to look comes from what a lenient scan
-- of argv found and from the cli.ini items, with the precedence the full
-- parse gives them: the command line over every file, a later file over an
-- earlier one.  Without a plugin directory this costs one stat().
-- -> a key naming the directories, to compare with the final values.
local function dirs_key(dirs, cfgdir)
  return cfgdir .. "\0" .. table.concat(dirs or {}, "\0")
end

local function load_plugins(events, files)
  local dirs, cfgdir
  for _, ev in ipairs(events) do
    local d = ev.entry.dest
    if d == "plugin_dir" then
      dirs = dirs or {}
      dirs[#dirs + 1] = M.abspath(ev.value)
    elseif d == "config_dir" then
      cfgdir = M.abspath(ev.value)
    end
  end
  for fi = #(files or {}), 1, -1 do
    local fdirs, fcfg
    for _, it in ipairs(files[fi].items) do
      if it.key == "plugin-dir" then
        fdirs = fdirs or {}
        for _, v in ipairs(type(it.value) == "table" and it.value or { it.value }) do
          if type(v) == "string" and v ~= "" then fdirs[#fdirs + 1] = M.abspath(v) end
        end
      elseif it.key == "config-dir" and type(it.value) == "string" and it.value ~= "" then
        fcfg = M.abspath(it.value)
      end
    end
    dirs = dirs or fdirs
    cfgdir = cfgdir or fcfg
  end
  cfgdir = cfgdir or options.by_dest("config_dir").default
  local key = dirs_key(dirs, cfgdir)
  -- the common case, no plugin directory at all, without loading plugins.lua
  if not dirs and not require("certbot.core").sys.stat(cfgdir .. "/plugins") then return key end
  require("certbot.plugins").discover(dirs, cfgdir)
  return key
end

function M.parse(argv, opts)
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local args = {}
  for i = 1, #argv do args[i] = argv[i] end
  if args[1] == "help" then args[1] = "--help" end

  -- -h/--help and --version first, as Certbot does; --version reads
  -- nothing, --help only what tells where plugins are (a broken cli.ini
  -- does not stop it).
  local req, early = scan(args, true)
  if req and req.version then return special(req) end
  local early_explicit = config_file_of(early)
  local raw, ferr = cfgfile.read_all(getenv, early_explicit)
  local early_dirs = load_plugins(early, raw)
  if req then
    if req.help ~= nil and req.help ~= true and not M.is_topic(req.help) then
      return nil, "certbot: error: unknown help topic '" .. req.help .. "' (try --help)", 2
    end
    return special(req)
  end

  local cli_events, verb_or_err = scan(args, false)
  if not cli_events then return nil, verb_or_err, 2 end
  local verb_token = verb_or_err
  local sc = options.subcommand(verb_token or "run")

  -- cli.ini files; -c names one more (the last -c given).
  local explicit = config_file_of(cli_events)
  if explicit ~= early_explicit then raw, ferr = cfgfile.read_all(getenv, explicit) end
  if not raw then return nil, "certbot: error: " .. ferr, 2 end
  local files
  files, ferr = cfgfile.load(getenv, explicit, raw)
  if not files then return nil, "certbot: error: " .. ferr, 2 end

  -- What the command line sets, no cli.ini may touch; what a later file
  -- sets, no earlier one may (ConfigArgParse's already_on_command_line).
  local claimed = {}
  for _, ev in ipairs(cli_events) do
    if ev.entry.dest then claimed[ev.entry.dest] = true end
  end
  local kept = {}
  for fi = #files, 1, -1 do
    local keep, newly = {}, {}
    for _, ev in ipairs(files[fi].events) do
      local d = ev.entry.dest
      if not d or not claimed[d] then
        keep[#keep + 1] = ev
        if d then newly[d] = true end
      end
    end
    for d in pairs(newly) do claimed[d] = true end
    kept[fi] = keep
  end
  local events = {}
  for fi = 1, #files do
    for _, ev in ipairs(kept[fi]) do events[#events + 1] = ev end
  end
  for _, ev in ipairs(cli_events) do events[#events + 1] = ev end

  local st = { values = {}, sources = {}, notices = {}, notice_seen = {} }
  for _, ev in ipairs(events) do
    local ok, err, code = apply(st, ev)
    if not ok then
      if (code or 2) == 2 then
        local at = ev.kind == "config_file" and (ev.where .. ": ") or ""
        return nil, "certbot: error: " .. at .. err, 2
      end
      return nil, err, code
    end
  end

  local v = st.values
  -- Certbot ignores domains from cli.ini for renew (certbot#4096).
  if sc.name == "renew" and st.sources.domains and st.sources.domains.kind == "config_file" then
    v.domains = nil
    st.sources.domains = nil
  end
  -- Defaults for everything not set.
  for _, e in ipairs(options.list) do
    local d = e.dest
    if d and not e.noop and not e.tristate and v[d] == nil then
      local def = e.default
      if def == nil and (e.type == "list" or e.type == "append_const") then def = {} end
      if def == nil and (e.type == "flag") then def = false end
      if def == nil and (e.type == "flag_false") then def = true end
      v[d] = deepcopy(def)
    end
  end
  -- Names without a -w of their own use the last -w (Certbot's webroot).
  if #v.webroot_path > 0 then
    local last = v.webroot_path[#v.webroot_path]
    for _, d in ipairs(v.domains) do
      if v.webroot_map[d] == nil then v.webroot_map[d] = last end
    end
  end

  v.verb = sc.name
  v.verb_given = verb_token or "run"
  -- the lenient scan above found the same directories, but in case not
  if dirs_key(v.plugin_dir, v.config_dir) ~= early_dirs then
    require("certbot.plugins").discover(v.plugin_dir, v.config_dir)
  end
  local ok, err, code = homework(st, sc.name)
  if not ok then return nil, err, code end

  return new_config(v, st.sources, st.notices)
end

return M
