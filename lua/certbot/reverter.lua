-- reverter: checkpoints of the configuration files an installer changes,
-- so every change can be undone byte for byte.  The layout under
-- --work-dir is Certbot's, so either client can roll back what the other
-- changed:
--
--   <work>/temp_checkpoint/      a temporary change (a challenge), undone
--                                by revert_temporary_config()
--   <work>/IN_PROGRESS/          permanent changes not yet finalized
--   <work>/backups/<timestamp>/  one finalized checkpoint each
--
-- A checkpoint dir holds FILEPATHS (the original paths, one a line; the
-- copy of line i, counted from 0, is "<basename>_<i>"), NEW_FILES (files the
-- change created, removed when it is undone) and CHANGES_SINCE (the title
-- and notes).  MODES (ours; Certbot ignores it) keeps each original's mode,
-- owner and group, which the copies (0600 in 0700 dirs) do not.
--
-- A run killed half-way (kill -9, a crash, power loss) must not leave the
-- configuration half changed.  Its unsaved changes are in IN_PROGRESS and
-- temp_checkpoint, which recovery_routine() undoes.  A run that makes more
-- than one checkpoint (a deployed certificate, then the enhancements) also
-- writes <work>/CHANGE_IN_PROGRESS (ours) before its first change:
-- begin_change() records there the newest finalized checkpoint, and
-- end_change() removes the file once the run is done or has undone its
-- changes.  When the next run's recovery_routine() finds the file of a
-- run that is gone, it also rolls back every checkpoint finalized after
-- the one recorded: the configuration is back to what it was before the
-- killed run, never between two of its checkpoints.
--
-- begin_change() also takes an fcntl lock on <work>/.change.lock until
-- end_change(): a marker whose lock is free is a dead run's, and while a
-- live run holds it, another run's recovery leaves its changes alone and
-- its begin_change() fails ("Another instance ...").
--
-- Every step is safe to be killed and run again: a checkpoint is renamed
-- out of the way (<dir>.removing) once its files are back, before it is
-- deleted, so a half-deleted checkpoint is never taken for a whole one;
-- and the temp files sys.write_atomic leaves when it is killed
-- (".<name>.<hex>.tmp" beside the file) are removed for every file a
-- checkpoint names.
--
-- Every method returns true | nil, err.

local core = require("certbot.core")
local log = require("certbot.log")

local sys = core.sys

local M = {}

local R = {}
R.__index = R

local DIR_MODE, COPY_MODE = 448, 384 -- 0700, 0600

local MARK = "CHANGE_IN_PROGRESS"
local LOCK = ".change.lock"
local TRASH = ".removing"

-- The change markers this process wrote (path -> its token): a marker of
-- our own is a change still going on here, not one a killed run left.
local own = {}
-- The change lock (<work>/.change.lock, fcntl) this process holds, by
-- marker path: held from begin_change() to end_change(), so a marker
-- whose lock is free belongs to a run that is gone.  (fcntl locks belong
-- to the process, and closing any descriptor of the file drops them: the
-- file is opened only through here, never twice.)
local held = {}

function M.new(config)
  local work = assert(config.work_dir, "reverter: no work_dir")
  return setmetatable({
    work = work,
    backups = work .. "/backups",
    in_progress = work .. "/IN_PROGRESS",
    temp = work .. "/temp_checkpoint",
    mark = work .. "/" .. MARK,
    lock_path = work .. "/" .. LOCK,
  }, R)
end

local function read_lines(path)
  local data = sys.read_file(path)
  local out = {}
  if data then
    for line in data:gmatch("[^\n]+") do out[#out + 1] = line end
  end
  return out
end

local function basename(path) return (path:match("([^/]+)$")) or path end

local function ensure_dir(path)
  local st = sys.stat(path)
  if st then
    if st.type ~= "directory" then return nil, path .. ": not a directory" end
    return true
  end
  return sys.mkdir(path, DIR_MODE, true)
end

local function append(path, text)
  local old = sys.read_file(path) or ""
  return sys.write_atomic(path, old .. text, COPY_MODE)
end

local function rm_rf(path)
  local st = sys.lstat(path)
  if not st then return true end
  if st.type == "directory" then
    local names = sys.listdir(path) or {}
    for _, n in ipairs(names) do
      local ok, err = rm_rf(path .. "/" .. n)
      if not ok then return nil, err end
    end
    return sys.rmdir(path)
  end
  return sys.unlink(path)
end

-- Remove a checkpoint dir: first renamed to <dir>.removing (durably: the
-- rename syncs the parent), then deleted.  Killed in between, what is
-- left is never read as a checkpoint, and sweep_trash() deletes it.
local function remove_checkpoint(cp)
  local trash = cp .. TRASH
  local ok, err = rm_rf(trash)
  if ok then ok, err = sys.rename(cp, trash) end
  if ok then ok, err = rm_rf(trash) end
  if not ok then return nil, "checkpoint: " .. tostring(err) end
  return true
end

-- Leftovers of a killed run in the work dir: half-deleted checkpoints,
-- and sys.write_atomic temp files of the marker.
local function sweep_trash(self)
  for _, dir in ipairs({ self.work, self.backups }) do
    for _, n in ipairs(sys.listdir(dir) or {}) do
      if n:sub(-#TRASH) == TRASH then
        rm_rf(dir .. "/" .. n)
      elseif dir == self.work and n:match("^%." .. MARK .. "[.]") then
        sys.unlink(dir .. "/" .. n)
      end
    end
  end
end

-- The temp files sys.write_atomic leaves beside path when it is killed
-- between creating and renaming one (".<base>.<12 hex>.tmp").
local function remove_temps(paths)
  local listed = {}
  for _, path in ipairs(paths) do
    local dir, base = path:match("^(.*)/([^/]+)$")
    if dir then
      if dir == "" then dir = "/" end
      listed[dir] = listed[dir] or sys.listdir(dir) or {}
      local pat = "^%." .. base:gsub("%p", "%%%0") .. "%.%x+%.tmp$"
      for _, n in ipairs(listed[dir]) do
        if n:match(pat) then
          local ok = sys.unlink((dir == "/" and "" or dir) .. "/" .. n)
          if ok then log.info("reverter: removed %s/%s, left by an interrupted write", dir, n) end
        end
      end
    end
  end
end

-- Copy each of paths not yet in the checkpoint dir cp into it.
local function add_files(cp, paths, notes)
  local ok, err = ensure_dir(cp)
  if not ok then return nil, "checkpoint: " .. err end
  local listed = read_lines(cp .. "/FILEPATHS")
  local seen = {}
  for _, p in ipairs(listed) do seen[p] = true end
  local new_files = {}
  for _, p in ipairs(read_lines(cp .. "/NEW_FILES")) do new_files[p] = true end
  local add, modes = {}, {}
  for _, path in ipairs(paths) do
    -- a file this change created is removed on undo, never restored
    if not seen[path] and not new_files[path] then
      seen[path] = true
      local st = sys.stat(path)
      if not st or st.type ~= "file" then
        return nil, ("checkpoint: cannot back up %s: not a regular file"):format(path)
      end
      local data, rerr = sys.read_file(path)
      if not data then return nil, "checkpoint: " .. rerr end
      local idx = #listed + #add
      local wok, werr = sys.write_atomic(("%s/%s_%d"):format(cp, basename(path), idx), data, COPY_MODE)
      if not wok then return nil, "checkpoint: " .. werr end
      add[#add + 1] = path
      modes[#modes + 1] = ("%o %d %d %s\n"):format(st.mode & 4095, st.uid, st.gid, path)
    end
  end
  if #add > 0 then
    ok, err = append(cp .. "/MODES", table.concat(modes))
    if ok then ok, err = append(cp .. "/FILEPATHS", table.concat(add, "\n") .. "\n") end
    if not ok then return nil, "checkpoint: " .. err end
  end
  if notes and notes ~= "" then
    ok, err = append(cp .. "/CHANGES_SINCE", notes:sub(-1) == "\n" and notes or notes .. "\n")
    if not ok then return nil, "checkpoint: " .. err end
  end
  return true
end

function R:add_to_checkpoint(paths, notes)
  return add_files(self.in_progress, paths, notes)
end

function R:add_to_temp_checkpoint(paths, notes)
  return add_files(self.temp, paths, notes)
end

-- register_file_creation(temporary, paths): files made by the change, to
-- be removed when it is undone.
function R:register_file_creation(temporary, paths)
  if type(paths) == "string" then paths = { paths } end
  local cp = temporary and self.temp or self.in_progress
  local ok, err = ensure_dir(cp)
  if not ok then return nil, "checkpoint: " .. err end
  local have = {}
  for _, p in ipairs(read_lines(cp .. "/NEW_FILES")) do have[p] = true end
  local add = {}
  for _, p in ipairs(paths) do
    if p:sub(1, 1) ~= "/" then return nil, "checkpoint: not an absolute path: " .. p end
    if not have[p] then
      have[p] = true
      add[#add + 1] = p
    end
  end
  if #add == 0 then return true end
  ok, err = append(cp .. "/NEW_FILES", table.concat(add, "\n") .. "\n")
  if not ok then return nil, "checkpoint: " .. err end
  return true
end

-- Undo the checkpoint in dir cp: put every copy back, remove what it
-- created, then remove the checkpoint itself.
local function recover(cp)
  local st = sys.stat(cp)
  if not st then return true end
  local modes = {}
  for _, line in ipairs(read_lines(cp .. "/MODES")) do
    local mode, uid, gid, path = line:match("^(%d+) (%d+) (%d+) (.+)$")
    if mode then modes[path] = { tonumber(mode, 8), tonumber(uid), tonumber(gid) } end
  end
  local filepaths, new_files = read_lines(cp .. "/FILEPATHS"), read_lines(cp .. "/NEW_FILES")
  local all = {}
  for _, p in ipairs(filepaths) do all[#all + 1] = p end
  for _, p in ipairs(new_files) do all[#all + 1] = p end
  remove_temps(all)
  for i, path in ipairs(filepaths) do
    local copy = ("%s/%s_%d"):format(cp, basename(path), i - 1)
    local data, err = sys.read_file(copy)
    if not data then return nil, ("unable to restore %s: %s"):format(path, err) end
    local m = modes[path]
    if not m then
      local cur = sys.stat(path)
      m = { cur and (cur.mode & 4095) or 420 }
    end
    local ok, werr = sys.write_atomic(path, data, m[1])
    if not ok then return nil, ("unable to restore %s: %s"):format(path, werr) end
    if m[2] and sys.getuid() == 0 then sys.chown(path, m[2], m[3]) end
    log.info("reverter: restored %s", path)
  end
  for _, path in ipairs(new_files) do
    if sys.lstat(path) then
      local ok, err = sys.unlink(path)
      if not ok then return nil, ("unable to remove %s: %s"):format(path, err) end
      log.info("reverter: removed %s", path)
    end
  end
  return remove_checkpoint(cp)
end

function R:revert_temporary_config()
  return recover(self.temp)
end

-- The finalized checkpoints, oldest first (names are timestamps).
function R:checkpoints()
  local names = sys.listdir(self.backups) or {}
  local out = {}
  for _, n in ipairs(names) do
    if tonumber(n) then out[#out + 1] = n end
  end
  table.sort(out, function(a, b) return tonumber(a) < tonumber(b) end)
  return out
end

-- finalize_checkpoint(title): IN_PROGRESS becomes backups/<timestamp>,
-- its CHANGES_SINCE headed "-- title --".
function R:finalize_checkpoint(title)
  if not sys.stat(self.in_progress) then return true end
  local ok, err = append(self.in_progress .. "/FILEPATHS", "")
  if ok then
    local notes = sys.read_file(self.in_progress .. "/CHANGES_SINCE") or ""
    ok, err = sys.write_atomic(self.in_progress .. "/CHANGES_SINCE",
      ("-- %s --\n"):format(title or "") .. notes, COPY_MODE)
  end
  if ok then ok, err = ensure_dir(self.backups) end
  if not ok then return nil, "checkpoint: " .. err end
  -- named after every other one, even if the clock went back: "newest"
  -- is the last by name
  local t = sys.time()
  local list = self:checkpoints()
  if #list > 0 then t = math.max(t, tonumber(list[#list]) + 0.000001) end
  for _ = 1, 100 do
    local name = ("%.6f"):format(t)
    local dest = self.backups .. "/" .. name
    if not sys.lstat(dest) then
      ok, err = sys.rename(self.in_progress, dest)
      if not ok then return nil, "checkpoint: " .. err end
      log.info("reverter: checkpoint %s: %s", name, title or "")
      return true
    end
    t = t + 0.000001
  end
  return nil, "checkpoint: no free checkpoint name in " .. self.backups
end

-- rollback_checkpoints(n): undo the n newest finalized checkpoints.
function R:rollback_checkpoints(n)
  n = n or 1
  if math.type(n) ~= "integer" or n < 0 then
    return nil, ("Rollback argument must be a positive integer, not %s"):format(tostring(n))
  end
  sweep_trash(self)
  local list = self:checkpoints()
  if #list == 0 then
    return true, "none"
  end
  for i = #list, math.max(1, #list - n + 1), -1 do
    local ok, err = recover(self.backups .. "/" .. list[i])
    if not ok then
      return nil, ("Unable to roll back checkpoint %s: %s"):format(list[i], err)
    end
  end
  return true
end

local function busy_message(path)
  return ("Another instance of Certbot is changing the server configuration (%s is locked)."):format(path)
end

-- begin_change(): a run is about to change the configuration (see the
-- top of this file): take the change lock, undo an unfinished change a
-- killed run left, record the newest checkpoint.  Nested calls in one
-- process are one change.
function R:begin_change()
  if own[self.mark] then return true end
  local ok, err = ensure_dir(self.work)
  if not ok then return nil, "checkpoint: " .. err end
  if not held[self.mark] then
    local lk, lerr, why = sys.lock(self.lock_path)
    if not lk then return nil, why == "busy" and busy_message(self.lock_path) or ("checkpoint: " .. lerr) end
    held[self.mark] = lk
  end
  if sys.lstat(self.mark) then
    ok, err = self:recovery_routine()
    if not ok then return nil, "Unable to undo the changes of an unfinished run: " .. err end
  end
  local list = self:checkpoints()
  local token = ("%d %.6f"):format(sys.getpid(), sys.time())
  ok, err = sys.write_atomic(self.mark, (list[#list] or "") .. "\n" .. token .. "\n", COPY_MODE)
  if not ok then
    held[self.mark]:unlock()
    held[self.mark] = nil
    return nil, "checkpoint: " .. err
  end
  own[self.mark] = token
  return true
end

-- end_change(): the run's change is complete, or undone.  The marker is
-- renamed away first (the rename is synced), so it cannot come back after
-- a crash and have a finished change rolled back; then the lock goes.
function R:end_change()
  if not own[self.mark] then return true end
  own[self.mark] = nil
  local ok, err = true, nil
  if sys.lstat(self.mark) then
    ok, err = sys.rename(self.mark, self.mark .. TRASH)
    if ok then ok, err = sys.unlink(self.mark .. TRASH) end
  end
  if held[self.mark] then
    held[self.mark]:unlock()
    held[self.mark] = nil
  end
  if not ok then return nil, "checkpoint: " .. tostring(err) end
  return true
end

-- unfinished() -> true when recovery_routine() may have something to
-- undo: a temporary or unsaved change, or the change marker of another run.
function R:unfinished()
  if sys.lstat(self.temp) or sys.lstat(self.in_progress) then return true end
  return sys.lstat(self.mark) ~= nil and not own[self.mark]
end

-- The rest of recovery_routine(), with the change lock held.
local function recover_change(self)
  local ok, err = recover(self.in_progress)
  if not ok then return nil, err end
  if own[self.mark] then return true end
  local text = sys.read_file(self.mark)
  if not text then return true end
  local base = tonumber(text:match("^([^\n]*)")) or -math.huge
  local list = self:checkpoints()
  for i = #list, 1, -1 do
    if tonumber(list[i]) > base then
      ok, err = recover(self.backups .. "/" .. list[i])
      if not ok then
        return nil, ("Unable to roll back checkpoint %s of an unfinished run: %s"):format(list[i], err)
      end
      log.info("reverter: rolled back checkpoint %s of an unfinished run", list[i])
    end
  end
  ok, err = sys.rename(self.mark, self.mark .. TRASH)
  if ok then ok, err = sys.unlink(self.mark .. TRASH) end
  if not ok then return nil, "checkpoint: " .. tostring(err) end
  return true
end

-- recovery_routine(): undo the temporary change and every change not yet
-- finalized (a run that failed half-way); and when a killed run left its
-- CHANGE_IN_PROGRESS, the checkpoints it finalized as well.  While another
-- live run holds the change lock, its unsaved change and marker are its
-- own and stay.
function R:recovery_routine()
  sweep_trash(self)
  local ok, err = recover(self.temp)
  if not ok then return nil, err end
  if held[self.mark] or not sys.lstat(self.work) then return recover_change(self) end
  local lk, lerr, why = sys.lock(self.lock_path)
  if not lk then
    if why == "busy" then
      log.info("reverter: %s", busy_message(self.lock_path))
      return true
    end
    return nil, "checkpoint: " .. lerr
  end
  ok, err = recover_change(self)
  lk:unlock()
  return ok, err
end

-- view_config_changes() -> { {name=, time=, title=, notes=, files=, new_files=} ... }
-- newest first.
function R:view_config_changes()
  local list = self:checkpoints()
  local out = {}
  for i = #list, 1, -1 do
    local dir = self.backups .. "/" .. list[i]
    local notes = sys.read_file(dir .. "/CHANGES_SINCE") or ""
    out[#out + 1] = {
      name = list[i],
      time = tonumber(list[i]),
      title = notes:match("^%-%- (.-) %-%-\n") or "",
      notes = notes,
      files = read_lines(dir .. "/FILEPATHS"),
      new_files = read_lines(dir .. "/NEW_FILES"),
    }
  end
  return out
end

return M
