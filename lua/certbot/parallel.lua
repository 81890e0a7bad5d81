-- parallel: the process side of a parallel renew.
--
-- The Lua side is single-threaded and every libcurl call blocks, so
-- lineages renew side by side in worker processes: the same executable,
-- started again as `renew --cert-name NAME --renew-worker` for one lineage
-- each.  A worker gets, besides 0, 1 and 2, exactly:
--   3  the lineage's lock (an OFD lock the parent took and hands over, so
--      no other run can slip in between the parent's decision and the
--      worker's renewal; it is released when the worker ends)
--   4  a pipe for its result, one JSON object
--   5  the parent's log file, which the worker appends to (no rotation),
--      each line tagged "[name]"
-- Its standard output and error come back through pipes, and the parent
-- writes them line by line with a "[name] " prefix, so output stays
-- readable.  Each worker has its own ACME client, connections and nonce
-- pool: nothing is shared between concurrent renewals but the disk, where
-- per-lineage locks keep them apart.
--
--   local pool = parallel.pool({ out = io.stdout, err = io.stderr })
--   local w = pool:start(tag, path, argv, env, { [3] = lock, [5] = log.file }, data)
--   for _, done in ipairs(pool:pump(1)) do ... done.data, done.result ... end
local core = require("certbot.core")
local cjson = require("cjson.safe")
local log = require("certbot.log")

local proc, sys = core.proc, core.sys

local M = {}

M.LOCK_FD, M.RESULT_FD, M.LOG_FD = 3, 4, 5

-- Seconds a worker that exited may keep its pipes open (a daemon started
-- by one of its hooks holding them) before the parent stops reading.
local LINGER = 2
-- A line longer than this is cut into pieces rather than buffered on.
local MAX_LINE = 65536

-- self_command() -> path, argv0, args | nil: how to start this very
-- executable again with the arguments it got.  Only inside the certbot
-- executable (its modules are preloaded); a library user (busted,
-- luarocks) has no executable of ours to start, and renews serially.
function M.self_command()
  if not package.preload["certbot.main"] then return nil end
  local a = rawget(_G, "arg")
  if type(a) ~= "table" or type(a[0]) ~= "string" then return nil end
  local args = {}
  for i = 1, #a do args[i] = a[i] end
  -- /proc/self/exe: the same binary even when a package upgrade replaced
  -- the file meanwhile
  return "/proc/self/exe", a[0], args
end

---------------------------------------------------------------------------
-- The parent: a pool of workers
---------------------------------------------------------------------------

local Pool = {}
Pool.__index = Pool

-- pool({ out = file, err = file }) -> pool: where the workers' standard
-- output and error lines go, prefixed.
function M.pool(opts)
  return setmetatable({ workers = {}, out = opts.out or io.stdout, err = opts.err or io.stderr }, Pool)
end

-- start(tag, path, argv, env, fds, data) -> worker | nil, err.  fds: more
-- descriptors for the child by number (the result pipe joins them at
-- RESULT_FD); data: the caller's, kept as worker.data.  The child leads its own process group, so a terminal's ^C
-- reaches the parent alone, which forwards it once; and it gets a TERM
-- if the parent dies.
function Pool:start(tag, path, argv, env, fds, data)
  local ends = {}
  for _ = 1, 3 do -- stdout, stderr, result
    local r, w = proc.pipe()
    if not r then
      for _, f in ipairs(ends) do f:close() end
      return nil, "cannot make a pipe for a worker: " .. tostring(w)
    end
    ends[#ends + 1] = r
    ends[#ends + 1] = w
  end
  local out_r, out_w, err_r, err_w, res_r, res_w = table.unpack(ends, 1, 6)
  local map = {}
  for k, v in pairs(fds or {}) do map[k] = v end
  map[M.RESULT_FD] = res_w
  local pid, perr = proc.spawn(argv, env, { path = path, stdin = "null", stdout = out_w, stderr = err_w,
    fds = map, pgroup = true, parent_death = "TERM" })
  out_w:close()
  err_w:close()
  res_w:close()
  if not pid then
    out_r:close()
    err_r:close()
    res_r:close()
    return nil, perr
  end
  local w = { tag = tag, pid = pid, data = data, prefix = "[" .. tag .. "] ", started = sys.monotonic(),
    streams = {
      { fd = out_r, sink = self.out, buf = "" },
      { fd = err_r, sink = self.err, buf = "" },
      { fd = res_r, result = {} },
    } }
  self.workers[#self.workers + 1] = w
  return w
end

-- How many workers have not been collected yet.
function Pool:count() return #self.workers end

local function emit(w, s, text)
  local sink = s.sink
  for line in text:gmatch("([^\n]*)\n") do sink:write(w.prefix, line, "\n") end
  sink:flush()
end

local function close_stream(w, s)
  if s.sink and s.buf ~= "" then emit(w, s, s.buf .. "\n") end
  s.buf = ""
  s.fd:close()
  s.fd = nil
end

local function read_stream(w, s)
  local data = s.fd:read(65536)
  if data == nil then return end -- interrupted, or nothing after all
  if data == "" then return close_stream(w, s) end
  if s.result then
    s.result[#s.result + 1] = data
    return
  end
  local text = s.buf .. data
  local last = text:match(".*()\n")
  if last then
    emit(w, s, text:sub(1, last))
    s.buf = text:sub(last + 1)
  else
    s.buf = text
  end
  if #s.buf > MAX_LINE then
    emit(w, s, s.buf .. "\n")
    s.buf = ""
  end
end

local function open_streams(w)
  for _, s in ipairs(w.streams) do
    if s.fd then return true end
  end
  return false
end

-- What a worker that is done left: result (the decoded JSON object, or
-- nil with w.result_error), status "exited"|"signaled" and code.
local function finish(w)
  for _, s in ipairs(w.streams) do
    if s.fd then close_stream(w, s) end
  end
  local raw = table.concat(w.streams[3].result)
  if raw ~= "" then
    local doc = cjson.decode(raw)
    if type(doc) == "table" then
      w.result = doc
    else
      w.result_error = "unreadable result"
    end
  else
    w.result_error = "no result"
  end
  w.elapsed = sys.monotonic() - w.started
  return w
end

-- pump(timeout) -> { worker, ... }: read what the workers wrote (up to
-- timeout seconds of waiting) and collect those that are done.  A signal
-- makes it return early; the caller's interrupt check then runs.
function Pool:pump(timeout)
  local fds, owners, lingering = {}, {}, false
  for _, w in ipairs(self.workers) do
    if not w.status then
      local st, code = proc.wait(w.pid, true)
      if st and st ~= "running" then w.status, w.code, w.exited_at = st, code, sys.monotonic() end
    end
    if w.status then lingering = true end
    for _, s in ipairs(w.streams) do
      if s.fd then
        fds[#fds + 1] = s.fd
        owners[#owners + 1] = { w, s }
      end
    end
  end
  local wait = lingering and math.min(timeout or 0.1, 0.1) or timeout
  local ready = proc.poll(fds, wait)
  if ready then
    for i = 1, #fds do
      if ready[i] then read_stream(owners[i][1], owners[i][2]) end
    end
  end
  local done, keep, now = {}, {}, sys.monotonic()
  for _, w in ipairs(self.workers) do
    if not w.status and not open_streams(w) then
      -- its pipes are closed: it is exiting
      local st, code = proc.wait(w.pid, false)
      if st and st ~= "running" then w.status, w.code, w.exited_at = st, code, now end
    end
    if w.status and (not open_streams(w) or now - w.exited_at > LINGER) then
      done[#done + 1] = finish(w)
    else
      keep[#keep + 1] = w
    end
  end
  self.workers = keep
  return done
end

-- signal(sig): send sig to every worker still running.
function Pool:signal(sig)
  for _, w in ipairs(self.workers) do
    if not w.status then
      local ok, err = proc.kill(w.pid, sig)
      if ok then
        log.info("sent %s to the worker for %s (pid %d)", tostring(sig), w.tag, w.pid)
      else
        log.debug("cannot signal the worker for %s: %s", w.tag, tostring(err))
      end
    end
  end
end

-- log_setup(logs_dir, max_backups, verbosity): log.setup for a renew,
-- which may start beside another renew (they share the directory locks):
-- each rotates letsencrypt.log under a short exclusive lock on
-- <logs-dir>/.log-rotation.lock, so two rotations never interleave (one
-- would find a file the other just renamed).  A run that rotated keeps
-- writing to its file, renamed letsencrypt.log.1 by the next one.
function M.log_setup(logs_dir, max_backups, verbosity)
  local ok, err = sys.mkdir(logs_dir, 448, true)
  if not ok then return nil, err end
  local lk
  local deadline = sys.monotonic() + 10
  repeat
    local got, _, why = proc.lock(logs_dir .. "/.log-rotation.lock", "exclusive")
    lk = got
    if not lk and why ~= "busy" then break end
    if not lk then sys.sleep(0.02) end
  until lk or sys.monotonic() > deadline
  -- without the lock (a stuck holder), rotate anyway, as before
  ok, err = log.setup(logs_dir, max_backups, verbosity)
  if lk then lk:unlock() end
  return ok, err
end

---------------------------------------------------------------------------
-- The worker
---------------------------------------------------------------------------

-- A log file whose every line carries the worker's tag after the time and
-- level ("2025-01-02 03:04:05,678:INFO:[a.example] ...").
local Tagged = {}
Tagged.__index = Tagged

-- log.lua writes (prefix, message, "\n"): a message of several lines (a
-- hook's output) gets the tag on each.
function Tagged:write(first, msg, ...)
  if msg == nil then return self.f:write(first, self.tag) end
  if type(msg) == "string" and msg:find("\n", 1, true) then
    msg = msg:gsub("\n(.)", function(c) return "\n" .. self.tag .. c end)
  end
  return self.f:write(first, self.tag, msg, ...)
end

function Tagged:flush() return self.f:flush() end
function Tagged:close() return self.f:close() end

-- worker_log(tag) -> a log.setup replacement for obtain.context: append
-- to the parent's log (LOG_FD), or to <logs-dir>/letsencrypt.log when the
-- parent passed none; never rotate (the parent did, once).
function M.worker_log(tag)
  return function(logs_dir, _, verbosity)
    log.verbosity = verbosity or 0
    local path = "/proc/self/fd/" .. M.LOG_FD
    local f = sys.lstat(path) and io.open(path, "a")
    if f then
      local inherited = proc.adopt_fd(M.LOG_FD)
      if inherited then inherited:close() end
      path = logs_dir .. "/letsencrypt.log"
    else
      path = logs_dir .. "/letsencrypt.log"
      local ferr
      f, ferr = io.open(path, "a")
      if not f then return nil, ferr end
    end
    log.file = setmetatable({ f = f, tag = "[" .. tag .. "] " }, Tagged)
    log.path = path
    return true
  end
end

-- result_channel() -> fd | nil, err: where the worker's result goes.
function M.result_channel()
  return proc.adopt_fd(M.RESULT_FD)
end

-- send(channel, doc): the worker's one result.
function M.send(channel, doc)
  local text = cjson.encode(doc)
  local ok, err = channel:write(text)
  channel:close()
  if not ok then log.warning("cannot pass the result to the parent: %s", tostring(err)) end
  return ok
end

return M
