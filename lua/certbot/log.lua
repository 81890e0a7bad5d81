-- log: <logs-dir>/letsencrypt.log, one per run, rotated like Certbot's
-- (letsencrypt.log.1 ... .N, --max-log-backups; 0 turns rotation off).  The
-- file is created 0600 in a 0700 directory.  Never log key material.

local sys = require("certbot.core").sys

local M = { level = 1, file = nil, path = nil, verbosity = 0, batching = false, unflushed = 0 }

-- Batching (M.batch): a no-op renew logs a line per lineage, and one
-- write(2) per line was a tenth of its system calls.  While batching,
-- info and debug lines collect in the file's buffer and go out whole,
-- several lines to a write: at BATCH bytes, at a warning or an error, at
-- M.flush() (renew calls it once a lineage is due, before it acts), and at
-- exit (also after a signal: main.c flushes before re-raising it).  Each
-- write holds whole lines, so a parallel renew's workers, appending to
-- the same file, never cut into one.  A SIGKILL loses at most BATCH
-- bytes of "not due" lines.
local BATCH = 32768

local LEVELS = { debug = 0, info = 1, warning = 2, error = 3 }

local UPPER = { debug = "DEBUG", info = "INFO", warning = "WARNING", error = "ERROR" }
local time, date, select = sys.time, os.date, select

-- "2024-01-02 03:04:05,678:INFO:", the start of a line.  A no-op renew
-- logs a line per lineage, a thousand in a fraction of a second: the date
-- is made once a second and the whole prefix once a millisecond.
local last_sec, last_date, last_ms, last_level, last_prefix
local function prefix(level)
  local t = time()
  local sec = t // 1
  local ms = (t - sec) * 1000 // 1
  if sec ~= last_sec then last_sec, last_date, last_ms = sec, date("!%Y-%m-%d %H:%M:%S", sec), nil end
  if ms ~= last_ms or level ~= last_level then
    last_ms, last_level, last_prefix = ms, level, ("%s,%03d:%s:"):format(last_date, ms, UPPER[level])
  end
  return last_prefix
end

-- One function per level (no second call, no varargs passed on).
local function writer(level)
  local lv = LEVELS[level]
  return function(fmt, ...)
    local msg = fmt
    if ... ~= nil or select("#", ...) > 0 then msg = fmt:format(...) end
    local f = M.file
    if f then
      local n = M.unflushed + #msg + 40
      -- (a line that might not fit in the buffer goes out on its own)
      if n > BATCH and M.unflushed > 0 then f:flush() n = #msg + 40 end
      f:write(prefix(level), msg, "\n")
      if lv >= 2 or not M.batching or n > BATCH then
        f:flush()
        n = 0
      end
      M.unflushed = n
    end
    -- -v shows info on stderr, -vv debug; warnings and errors go to the
    -- user through display, not here.
    local v = M.verbosity
    if (v >= 1 and lv >= 1 and lv < 2) or (v >= 2 and lv == 0) then
      io.stderr:write(msg, "\n")
    end
  end
end

M.debug = writer("debug")
M.info = writer("info")
M.warning = writer("warning")
M.error = writer("error")

local function rotate(path, keep)
  if keep <= 0 then return true end
  local dir, base = path:match("^(.*)/([^/]+)$")
  local names = dir and sys.listdir(dir)
  local exists
  if names then
    local have, stem = {}, base .. "."
    for i = 1, #names do
      local f = names[i]
      if f:sub(1, #stem) == stem then
        local n = math.tointeger(tonumber(f:sub(#stem + 1)))
        if n and stem .. n == f then have[n] = true end
      end
    end
    exists = function(i) return have[i] end
  else
    exists = function(i) return sys.lstat(path .. "." .. i) ~= nil end
  end
  sys.unlink(path .. "." .. keep)
  for i = keep - 1, 1, -1 do
    if exists(i) then
      local ok, err, code = sys.rename(path .. "." .. i, path .. "." .. (i + 1))
      -- ENOENT: a run started at the same moment rotated it first
      if not ok and code ~= 2 then return nil, err end
    end
  end
  if sys.lstat(path) then
    local ok, err, code = sys.rename(path, path .. ".1")
    if not ok and code ~= 2 then return nil, err end
  end
  return true
end

-- setup(logs_dir, max_backups, verbosity) -> true | nil, message
function M.setup(logs_dir, max_backups, verbosity)
  M.verbosity = verbosity or 0
  local ok, err = sys.mkdir(logs_dir, 448, true)
  if not ok then return nil, err end
  local path = logs_dir .. "/letsencrypt.log"
  ok, err = rotate(path, math.min(math.max(tonumber(max_backups) or 1000, 0), 100000))
  if not ok then return nil, err end
  if not sys.lstat(path) then
    ok, err = sys.write_atomic(path, "", 384)
    if not ok then return nil, err end
  end
  local f, ferr = io.open(path, "a")
  if not f then return nil, ferr end
  f:setvbuf("full", 2 * BATCH)
  M.file, M.path = f, path
  return true
end

-- batch(on): collect info and debug lines (see BATCH); off flushes.
function M.batch(on)
  M.batching = on and true or false
  if not on then M.flush() end
end

function M.flush()
  if M.file and M.unflushed > 0 then M.file:flush() end
  M.unflushed = 0
end

function M.close()
  if M.file then M.file:close() end
  M.file = nil
end

return M
