-- log: <logs-dir>/letsencrypt.log, one per run, rotated like Certbot's
-- (letsencrypt.log.1 ... .N, --max-log-backups; 0 turns rotation off).  The
-- file is created 0600 in a 0700 directory.  Never log key material.

local sys = require("certbot.core").sys

local M = { level = 1, file = nil, path = nil, verbosity = 0 }

local LEVELS = { debug = 0, info = 1, warning = 2, error = 3 }

local function stamp()
  local t = sys.time()
  return os.date("!%Y-%m-%d %H:%M:%S", math.floor(t)) .. (",%03d"):format(math.floor((t % 1) * 1000))
end

local function write(level, fmt, ...)
  local msg = select("#", ...) > 0 and fmt:format(...) or fmt
  if M.file then
    M.file:write(stamp(), ":", level:upper(), ":", msg, "\n")
    M.file:flush()
  end
  -- -v shows info on stderr, -vv debug; warnings and errors go to the user
  -- through display, not here.
  local lv = LEVELS[level]
  if (M.verbosity >= 1 and lv >= 1 and lv < 2) or (M.verbosity >= 2 and lv == 0) then
    io.stderr:write(msg, "\n")
  end
end

function M.debug(fmt, ...) write("debug", fmt, ...) end
function M.info(fmt, ...) write("info", fmt, ...) end
function M.warning(fmt, ...) write("warning", fmt, ...) end
function M.error(fmt, ...) write("error", fmt, ...) end

local function rotate(path, keep)
  if keep <= 0 then return true end
  sys.unlink(path .. "." .. keep)
  for i = keep - 1, 1, -1 do
    if sys.lstat(path .. "." .. i) then
      local ok, err = sys.rename(path .. "." .. i, path .. "." .. (i + 1))
      if not ok then return nil, err end
    end
  end
  if sys.lstat(path) then
    local ok, err = sys.rename(path, path .. ".1")
    if not ok then return nil, err end
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
  M.file, M.path = f, path
  return true
end

function M.close()
  if M.file then M.file:close() end
  M.file = nil
end

return M
