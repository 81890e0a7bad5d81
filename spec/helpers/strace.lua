-- spec/helpers/strace.lua: run the built client (or Debian's certbot) on a
-- spec/helpers/certbot.lua instance's dirs under strace, with syscall
-- tracing or fault injection, and read the trace back.
--
--   local st = require("spec.helpers.strace")
--   st.available() -> true | nil, why
--   st.run(cb, args, { trace = "openat,rename", inject = "rename:signal=KILL:when=3",
--                      log = path, who = "ours"|"debian", wrap = {"unshare", ...} })
--     -> result { code = n | nil, signal = n | nil, out =, err = }
--   st.start(cb, args[, env]) -> h;  st.finish(h) -> code | "signaled <n>", out, err
--   st.counts(log) -> { [syscall] = n } for the main (first) pid
--   st.lines(log) -> { {pid=, call=, args=, ret=}, ... }  (completed calls)
--   st.kill_points(counts, cap) -> { {call, n}, ... } sampled
local core = require("certbot.core")
local sys, cproc = core.sys, core.proc
local read = require("spec.helpers.proc").read

local M = {}

local EXE = (os.getenv("CERTBOT_BUILD") or "build") .. "/certbot"
M.DEBIAN = "/usr/bin/certbot"

function M.available()
  local code = sys.run({ "strace", "-qq", "-o", "/dev/null", "true" }, sys.environ())
  if code ~= 0 then return nil, "strace cannot trace here" end
  return true
end

local function environ(extra)
  local env, seen = {}, {}
  for k, v in pairs(extra) do
    env[#env + 1] = k .. "=" .. v
    seen[k] = true
  end
  for _, kv in ipairs(sys.environ()) do
    if not seen[kv:match("^([^=]*)=")] then env[#env + 1] = kv end
  end
  return env
end
M.environ = environ

-- The argv cb:run would use, for our client or Debian's.
function M.argv(cb, args, who)
  local argv = { who == "debian" and M.DEBIAN or EXE }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  for _, a in ipairs({ "--config-dir", cb.config_dir, "--work-dir", cb.work_dir,
    "--logs-dir", cb.logs_dir, "-n", "--server", cb.srv.directory,
    "--agree-tos", "-m", "spec@example.org" }) do argv[#argv + 1] = a end
  if who == "debian" then
    argv[#argv + 1] = "--no-random-sleep-on-renew"
  else
    argv[#argv + 1] = "-c"
    argv[#argv + 1] = cb.cli_ini
  end
  return argv
end

function M.env(cb, extra)
  local e = { REQUESTS_CA_BUNDLE = cb.srv.ca_file, CERTBOT_DEFAULT_CLI_INI = "",
    XDG_CONFIG_HOME = cb.dir }
  for k, v in pairs(extra or {}) do e[k] = v end
  return environ(e)
end

-- start(cb, args[, env]) -> handle: the client in the background, untraced
-- (for specs that signal it, or run many at once).
-- finish(h) -> code | "signaled <n>", stdout, stderr
function M.start(cb, args, env)
  local h = { out = cb.dir .. "/bg" .. math.random(1e9) .. ".out" }
  h.err = h.out .. ".err"
  local fo, fe = assert(io.open(h.out, "w")), assert(io.open(h.err, "w"))
  h.pid = assert(cproc.spawn(M.argv(cb, args), M.env(cb, env), { stdout = fo, stderr = fe }))
  fo:close()
  fe:close()
  h.started = sys.monotonic()
  return h
end

function M.finish(h)
  local s, code = cproc.wait(h.pid)
  h.ended = sys.monotonic()
  local out, err = read(h.out) or "", read(h.err) or ""
  os.remove(h.out)
  os.remove(h.err)
  if s == "signaled" then return "signaled " .. code, out, err end
  return code, out, err
end

-- run(cb, args, opts) -> { code=, signal=, out=, err= }
function M.run(cb, args, opts)
  opts = opts or {}
  local argv = {}
  for _, a in ipairs(opts.wrap or {}) do argv[#argv + 1] = a end
  if opts.trace or opts.inject then
    for _, a in ipairs({ "strace", "-f", "-qq", "-o", opts.log or "/dev/null" }) do argv[#argv + 1] = a end
    if opts.trace then
      argv[#argv + 1] = "-e"
      argv[#argv + 1] = "trace=" .. opts.trace
    end
    if opts.inject then
      argv[#argv + 1] = "-e"
      argv[#argv + 1] = "inject=" .. opts.inject
    end
    if opts.strace_args then
      for _, a in ipairs(opts.strace_args) do argv[#argv + 1] = a end
    end
  end
  for _, a in ipairs(M.argv(cb, args, opts.who)) do argv[#argv + 1] = a end
  -- in the background with a deadline (opts.timeout, default 120 s): a run
  -- that hangs is killed, it and its children, and reported as hung
  local out, err = os.tmpname(), os.tmpname()
  local fo, fe = assert(io.open(out, "w")), assert(io.open(err, "w"))
  -- under `make asan`, LeakSanitizer cannot run in a traced process (it
  -- stops with a "fatal error"): traced runs check everything but leaks
  local env = opts.env
  local asan = os.getenv("ASAN_OPTIONS")
  if asan and (opts.trace or opts.inject) then
    env = { ASAN_OPTIONS = asan:gsub("detect_leaks=1", "detect_leaks=0") }
    for k, v in pairs(opts.env or {}) do env[k] = v end
  end
  local pid = assert(cproc.spawn(argv, M.env(cb, env), { stdout = fo, stderr = fe }))
  fo:close()
  fe:close()
  local deadline = sys.monotonic() + (opts.timeout or 120)
  local state, code
  repeat
    state, code = cproc.wait(pid, true)
    if state == "running" then sys.sleep(0.02) end
  until state ~= "running" or sys.monotonic() > deadline
  local hung = false
  if state == "running" then
    hung = true
    local function kill_tree(p)
      local kids = io.open("/proc/" .. p .. "/task/" .. p .. "/children")
      local list = kids and kids:read("a") or ""
      if kids then kids:close() end
      cproc.kill(p, "KILL")
      for c in list:gmatch("%d+") do kill_tree(tonumber(c)) end
    end
    kill_tree(pid)
    state, code = cproc.wait(pid)
  end
  local r = { out = read(out) or "", err = read(err) or "", hung = hung }
  os.remove(out)
  os.remove(err)
  if hung then r.signal = 9 elseif state == "signaled" then r.signal = code else r.code = code end
  return r
end

-- Completed calls of a `strace -f -o log` trace; "<unfinished ...>" and
-- "resumed" halves are joined.
function M.lines(log)
  local f = assert(io.open(log, "r"))
  local t, pending = {}, {}
  for line in f:lines() do
    local pid, rest = line:match("^(%d+)%s+(.*)$")
    if not pid then rest = line end
    pid = tonumber(pid) or 0
    local head = rest:match("^(.-) <unfinished %.%.%.>$")
    if head then
      pending[pid] = head
    else
      local call, tail = rest:match("^<%.%.%. (%w+) resumed>(.*)$")
      if call and pending[pid] then
        rest = pending[pid] .. tail
        pending[pid] = nil
      end
      local name, args, ret = rest:match("^([%w_]+)%((.*)%)%s+=%s+(.-)$")
      if name then t[#t + 1] = { pid = pid, call = name, args = args, ret = ret } end
    end
  end
  f:close()
  return t
end

-- Calls per syscall in the first pid of the trace (the client itself;
-- strace counts injections per syscall and per tracee).
function M.counts(log)
  local c, main = {}, nil
  for _, l in ipairs(M.lines(log)) do
    main = main or l.pid
    if l.pid == main then c[l.call] = (c[l.call] or 0) + 1 end
  end
  return c
end

-- kill_points(counts, cap, tail) -> { {call, n}, ... }: for every syscall,
-- its last `tail` invocations (where the storage writes are), and an even
-- sample of the earlier ones, at most cap in all.
function M.kill_points(counts, cap, tail)
  tail = tail or 12
  local names = {}
  for k in pairs(counts) do names[#names + 1] = k end
  table.sort(names)
  local pts, seen = {}, {}
  local function add(c, n)
    if n >= 1 and n <= counts[c] and not seen[c .. n] then
      seen[c .. n] = true
      pts[#pts + 1] = { c, n }
    end
  end
  for _, c in ipairs(names) do
    for n = counts[c], math.max(1, counts[c] - tail + 1), -1 do add(c, n) end
  end
  local rest = cap - #pts
  if rest > 0 then
    local total = 0
    for _, c in ipairs(names) do total = total + math.max(0, counts[c] - tail) end
    if total > 0 then
      for _, c in ipairs(names) do
        local m = math.max(0, counts[c] - tail)
        local k = math.floor(rest * m / total)
        for i = 1, k do add(c, math.max(1, math.floor(i * m / (k + 1)))) end
      end
    end
  end
  return pts
end

return M
