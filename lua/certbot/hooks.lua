-- hooks: running users' commands.  Values travel only in the environment,
-- never inside the command string; a command runs with /bin/sh -c, a file
-- from renewal-hooks/ is exec'd directly, and a hook that is a path to a
-- .lua file runs in the embedded interpreter, in certbot.sandbox, with a
-- `hook` table (see docs/hooks.md) and no process of its own.

local sys = require("certbot.core").sys
local log = require("certbot.log")
local display = require("certbot.display")
local sandbox = require("certbot.sandbox")

local M = {}

-- What a Lua hook may print (or hook.run may return) is kept up to this
-- many bytes, as core.sys.run caps a child's output.
local OUTPUT_CAP = 1048576

-- Where Certbot also looks for a hook's program when PATH lacks it (its
-- "path surgery"): cron and systemd often run with a PATH without sbin.
M.STANDARD_DIRS = { "/usr/sbin", "/usr/local/bin", "/usr/local/sbin" }

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

-- is_lua(cmd) -> boolean: the command is a Lua hook, that is exactly a path
-- (it contains a "/") to a file ending in ".lua", made only of characters
-- no shell treats specially: no spaces, quotes, $, ;, |, &, ~, globs ...
-- Anything else is a shell command, run by /bin/sh as before.
function M.is_lua(cmd)
  return type(cmd) == "string" and cmd:find("/", 1, true) ~= nil
    and cmd:match("^[%w%./_+,:@%-]+%.lua$") ~= nil
end

-- ---- running a program ---------------------------------------------------

local function report_failure(msg)
  display.warn(msg)
  log.warning("%s", msg)
end

-- Shell commands and directory hooks: fork + exec argv with the hook's
-- environment.  label is what messages call the command.
local function run_argv(kind, label, argv, extra_env)
  log.info("Running %s command: %s", kind, label)
  local code, out, err
  local r1, r2, r3, r4 = sys.run(argv, M.env(extra_env))
  if r1 then
    code, out, err = r1, r2, r3
  else
    out, err = r3, r4 -- nil, "killed by signal N", stdout, stderr
  end
  if out and out ~= "" then log.info("Output from %s command %s:\n%s", kind, label, out) end
  if code == 0 then return true, out, err end
  local msg = ("%s command \"%s\" returned error code %s"):format(kind, label, code or r2)
  if err and err ~= "" then
    msg = msg .. "\nError output from " .. kind .. " command " .. label .. ":\n" .. err:gsub("\n$", "")
  end
  report_failure(msg)
  return false, out or "", err or "", code
end

-- ---- Lua hooks -------------------------------------------------------------

local function split(s, sep)
  local out = {}
  if type(s) ~= "string" then return out end
  for w in s:gmatch("[^" .. sep .. "]+") do out[#out + 1] = w end
  return out
end

local function copy_list(t)
  local out = {}
  for i, v in ipairs(t or {}) do out[i] = tostring(v) end
  return out
end

-- A read-only view of t: reading works (also pairs and #), writing raises.
local function readonly(t, what)
  return setmetatable({}, {
    __index = t,
    __newindex = function() error(what .. " is read-only", 2) end,
    __pairs = function() return next, t, nil end,
    __len = function() return #t end,
    __metatable = false,
  })
end

-- The `hook` table a Lua hook sees.  Documented in docs/hooks.md; keep the
-- two in step.
local function hook_table(kind, path, extra_env, info, output)
  info = info or {}
  local env_copy = {}
  for k, v in pairs(extra_env or {}) do env_copy[k] = tostring(v) end
  local lineage = info.lineage or env_copy.RENEWED_LINEAGE
  local domains = info.domains and copy_list(info.domains)
    or (env_copy.RENEWED_DOMAINS and split(env_copy.RENEWED_DOMAINS, " "))
    or split(env_copy.CERTBOT_ALL_DOMAINS, ",")
  local failed = info.failed_domains and copy_list(info.failed_domains)
    or split(env_copy.FAILED_DOMAINS, " ")
  local paths
  if type(info.paths) == "table" then
    paths = {}
    for _, k in ipairs({ "cert", "chain", "fullchain", "privkey" }) do paths[k] = info.paths[k] end
  elseif lineage then
    paths = {}
    for _, k in ipairs({ "cert", "chain", "fullchain", "privkey" }) do
      paths[k] = lineage .. "/" .. k .. ".pem"
    end
  end
  local hook_env = M.env(extra_env)
  local h = {
    event = info.event or (kind:gsub("%-hook$", "")),
    lineage = lineage,
    domains = domains,
    failed_domains = failed,
    paths = paths,
    env = readonly(env_copy, "hook.env"),
  }

  -- hook.log(msg): a line in certbot's log file.
  function h.log(msg)
    log.info("%s command %s: %s", kind, path, tostring(msg))
  end

  -- hook.run(argv[, stdin]) -> code, stdout, stderr
  --                          | nil, "killed by signal N", stdout, stderr
  --                          | nil, err (could not start)
  -- argv[1] is looked up on PATH when it has no "/"; no shell is involved,
  -- so arguments are passed exactly as given.  The program gets the hook's
  -- environment (RENEWED_LINEAGE ... as a shell hook would).
  function h.run(argv, stdin)
    if type(argv) ~= "table" or #argv == 0 then
      error("hook.run: expected a non-empty array of strings", 2)
    end
    local args = {}
    for i = 1, #argv do
      local a = argv[i]
      if type(a) == "number" then a = tostring(a) end
      if type(a) ~= "string" then
        error(("hook.run: argument %d is a %s, not a string"):format(i, type(a)), 2)
      end
      args[i] = a
    end
    if stdin ~= nil and type(stdin) ~= "string" then
      error("hook.run: stdin must be a string", 2)
    end
    log.info("%s command %s runs: %s", kind, path, table.concat(args, " "))
    return sys.run(args, hook_env, { stdin = stdin })
  end

  -- hook.read_file(path) -> data | nil, err
  function h.read_file(p)
    if type(p) ~= "string" then error("hook.read_file: path must be a string", 2) end
    return sys.read_file(p)
  end

  -- hook.write_file(path, data[, mode]) -> true | nil, err
  -- Replaces path whole (temp file, fsync, rename); mode defaults to 0600,
  -- since what hooks write is often key material.
  function h.write_file(p, data, mode)
    if type(p) ~= "string" then error("hook.write_file: path must be a string", 2) end
    if type(data) ~= "string" then error("hook.write_file: data must be a string", 2) end
    if mode ~= nil and math.type(mode) ~= "integer" then
      error("hook.write_file: mode must be an integer such as 420 (0644)", 2)
    end
    log.info("%s command %s writes %s", kind, path, p)
    return sys.write_atomic(p, data, mode or 384)
  end

  -- os.getenv inside the hook sees the hook's values first.
  local function getenv(name)
    local v = env_copy[name]
    if v ~= nil then return v end
    return os.getenv(name)
  end
  local function print_to_output(s)
    if output.n < OUTPUT_CAP then
      s = s:sub(1, OUTPUT_CAP - output.n)
      output[#output + 1] = s
      output.n = output.n + #s
    end
  end
  return h, getenv, print_to_output
end

local function run_lua(kind, path, extra_env, info)
  log.info("Running %s command: %s", kind, path)
  local output = { n = 0 }
  local h, getenv, print_to_output = hook_table(kind, path, extra_env, info, output)
  local env = sandbox.new({ print = print_to_output, getenv = getenv, globals = { hook = h } })
  local fn, err = sandbox.loadfile(path, env)
  local ok = fn ~= nil
  if fn then ok, err = pcall(fn) end
  -- an interrupt (csrc/main.c) is the run's, not the hook's failure
  if not ok and type(err) == "table" and err.interrupted then error(err, 0) end
  local out = table.concat(output)
  if out ~= "" then log.info("Output from %s command %s:\n%s", kind, path, out) end
  if ok then return true, out, "" end
  local reason = type(err) == "string" and err or ("error object: " .. tostring(err))
  report_failure(("%s command %s failed: %s"):format(kind, path, reason))
  return false, out, reason
end

-- run(kind, cmd, extra_env[, info]) -> true, stdout, stderr
--                                    | false, stdout, stderr, code
-- kind: "pre-hook", "deploy-hook", "manual-auth-hook" ...  A Lua hook (see
-- is_lua) runs in the sandbox; anything else runs with /bin/sh -c cmd.
-- A failure is reported (stderr shown) and returned, never raised: the
-- caller decides whether the run goes on.  code is the exit status, nil
-- for a program killed by a signal or a Lua hook that raised (stderr is
-- then "file:line: message").
-- info (Lua hooks only; values for the `hook` table): { event=, lineage=,
-- domains = {...}, failed_domains = {...}, paths = {cert=, chain=,
-- fullchain=, privkey=} }; what is missing is taken from extra_env
-- (RENEWED_LINEAGE, RENEWED_DOMAINS or CERTBOT_ALL_DOMAINS, FAILED_DOMAINS).
function M.run(kind, cmd, extra_env, info)
  if M.is_lua(cmd) then return run_lua(kind, cmd, extra_env, info) end
  return run_argv(kind, cmd, { "/bin/sh", "-c", cmd }, extra_env)
end

-- run_file(kind, path, extra_env[, info]): a file from renewal-hooks/, run
-- as a Lua hook when its name ends in ".lua", else exec'd by the shell as
-- `exec "$0"` with the path as $0: never parsed as shell text, so any path
-- works, and a script without a "#!" line still runs as a shell script,
-- as under Certbot (which hands the path to a shell).  Returns as run().
function M.run_file(kind, path, extra_env, info)
  if path:match("%.lua$") then return run_lua(kind, path, extra_env, info) end
  return run_argv(kind, path, { "/bin/sh", "-c", 'exec "$0"', path }, extra_env)
end

-- ---- renewal-hooks/ ---------------------------------------------------------

-- May this process execute the file stat() described?  access(X_OK) as
-- far as stat tells: root needs any x bit, the owner the owner's bit,
-- others the group's or the others' bit (group membership is not known
-- here, so a group bit counts).
local function executable(st)
  if not st or st.type ~= "file" then return false end
  local uid = sys.getuid()
  if uid == 0 then return st.mode & 73 ~= 0 end -- 0111
  if st.uid == uid then return st.mode & 64 ~= 0 end -- 0100
  return st.mode & 9 ~= 0 -- 0011
end

local DIR_KINDS = { pre = true, deploy = true, post = true }

-- dir_hooks(config_dir, kind) -> { path, ... }
-- kind: "pre", "deploy" or "post".  The regular files (symlinks followed)
-- in <config_dir>/renewal-hooks/<kind> that this process may execute, in
-- byte order of their names, as Certbot's list_hooks: names ending in "~"
-- (editor backups), other files and subdirectories are left out.  A
-- missing directory gives an empty list.
function M.dir_hooks(config_dir, kind)
  if not DIR_KINDS[kind] then
    error("hooks.dir_hooks: kind must be pre, deploy or post, not " .. tostring(kind), 2)
  end
  local dir = config_dir .. "/renewal-hooks/" .. kind
  local names, err = sys.listdir(dir) -- sorted by byte order
  if not names then
    if sys.lstat(dir) then log.warning("Cannot list %s hooks: %s", kind, err) end
    return {}
  end
  local out = {}
  for _, name in ipairs(names) do
    local path = dir .. "/" .. name
    if name:sub(-1) ~= "~" and executable(sys.stat(path)) then out[#out + 1] = path end
  end
  return out
end

-- ---- validation --------------------------------------------------------------

local function on_path(prog, path_var)
  for dir in (path_var .. ":"):gmatch("([^:]*):") do
    if dir == "" then dir = "." end
    if executable(sys.stat(dir .. "/" .. prog)) then return true end
  end
  return false
end

-- validate(cmd, name) -> true | nil, message
-- Certbot's check, before anything runs: the first word of cmd (split at
-- white space, no shell parsing) must be an executable file when it holds
-- a "/", else a program on PATH.  A program found only in /usr/sbin,
-- /usr/local/bin or /usr/local/sbin is accepted and those directories are
-- appended to this process's PATH, as Certbot does.  A Lua hook must be a
-- readable file that compiles.  name: "pre", "post", "deploy", "renew" (a
-- "-hook" suffix is dropped).  An empty or missing cmd is valid.  The
-- caller skips this under --disable-hook-validation (config.validate_hooks
-- is false); see validate_config.
function M.validate(cmd, name)
  if cmd == nil or cmd == "" then return true end
  name = tostring(name):gsub("%-hook$", "")
  local prog = cmd:match("^%s*(%S+)")
  if not prog then return true end
  local path_var = os.getenv("PATH") or ""
  local missing = ("Unable to find %s-hook command %s in the PATH. (PATH is %s)"):format(name, prog, path_var)
  if M.is_lua(cmd) then
    local st = sys.stat(cmd)
    if not st then return nil, missing end
    local fn, err = sandbox.loadfile(cmd, {})
    if not fn then return nil, ("%s-hook command %s cannot be loaded: %s"):format(name, cmd, err) end
    return true
  end
  if prog:find("/", 1, true) then
    if executable(sys.stat(prog)) then return true end
  else
    if on_path(prog, path_var) then return true end
    local added = {}
    local have = {}
    for dir in path_var:gmatch("[^:]+") do have[dir] = true end
    for _, dir in ipairs(M.STANDARD_DIRS) do
      if not have[dir] then added[#added + 1] = dir end
    end
    if #added > 0 and on_path(prog, table.concat(added, ":")) then
      local new = path_var == "" and table.concat(added, ":") or path_var .. ":" .. table.concat(added, ":")
      log.debug("Can't find %s, attempting PATH mitigation by adding %s", prog, table.concat(added, ":"))
      sys.setenv("PATH", new)
      return true
    end
  end
  if sys.stat(prog) then
    return nil, ("%s-hook command %s exists, but is not executable."):format(name, prog)
  end
  return nil, missing
end

-- validate_config(config) -> true | nil, message: Certbot's validate_hooks,
-- pre, post, deploy and renew hooks in that order; true at once when
-- --disable-hook-validation was given.
function M.validate_config(config)
  if config.validate_hooks == false then return true end
  for _, p in ipairs({ { "pre_hook", "pre" }, { "post_hook", "post" },
                       { "deploy_hook", "deploy" }, { "renew_hook", "renew" } }) do
    local ok, err = M.validate(config[p[1]], p[2])
    if not ok then return nil, err end
  end
  return true
end

return M
