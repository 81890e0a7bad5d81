-- spec/helpers/consistency.lua: TESTPLAN's "Consistent live" check of a
-- lineage on disk, the account directory check (A8), the leftover check
-- (A4), and the results file the fault sweeps append to, from which
-- `make test-faults` writes docs/reliability.md.
--
--   local cons = require("spec.helpers.consistency")
--   local state, why = cons.lineage(config_dir, name, root_pem_path)
--     -> "absent" | "uncommitted" | "consistent", version   | nil, why
--   cons.leftovers(config_dir, name) -> { paths of *.tmp, *.new, previous_* }
--   cons.account_dirs(config_dir) -> ok | nil, why
--   cons.record{ group = "A", case = "A1", client = "ours", faults = n, ... }
local core = require("certbot.core")
local cjson = require("cjson")
local sys, crypto = core.sys, core.crypto

local M = {}

M.KINDS = { "cert", "chain", "fullchain", "privkey" }

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
M.read = read

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- lineage(config_dir, name[, root]) -> state, version | nil, why.
-- "absent": no renewal/L.conf, no live/L, no archive/L.
-- "uncommitted": no renewal conf and archive/L/.incomplete present: a first
--   issuance killed before it committed (storage.lua's design: the next
--   run removes it and reuses the name; `certificates`/`renew` ignore it).
-- "consistent": all of TESTPLAN's "Consistent live" holds; root (a PEM
--   file path) enables the openssl verify step.
function M.lineage(config_dir, name, root)
  local conf = config_dir .. "/renewal/" .. name .. ".conf"
  local live = config_dir .. "/live/" .. name
  local archive = config_dir .. "/archive/" .. name
  local has_conf, has_live, has_archive = sys.lstat(conf), sys.lstat(live), sys.lstat(archive)
  if not has_conf and not has_live and not has_archive then return "absent" end
  if not has_conf then
    if sys.lstat(archive .. "/.incomplete") then return "uncommitted" end
    -- killed while writing the marker: an archive dir holding nothing but
    -- temp files, and no live dir yet
    local only_temps = has_archive and not has_live
    for _, f in ipairs(has_archive and sys.listdir(archive) or {}) do
      if not f:match("^%..*%.tmp$") then only_temps = false end
    end
    if only_temps then return "uncommitted" end
    return nil, "no renewal conf, but live/archive present without .incomplete marker"
  end
  if not has_live or not has_archive then return nil, "renewal conf without live or archive dir" end
  local version
  local text = {}
  for _, k in ipairs(M.KINDS) do
    local link = live .. "/" .. k .. ".pem"
    local t = sys.readlink(link)
    if not t then return nil, link .. " is not a symlink" end
    local v = t:match("^%.%./%.%./archive/" .. name:gsub("%p", "%%%0") .. "/" .. k .. "(%d+)%.pem$")
    if not v then return nil, link .. " -> " .. t .. " is not a relative link into archive/" .. name end
    if version and v ~= version then return nil, "mixed versions: " .. version .. " and " .. v end
    version = v
    text[k] = read(archive .. "/" .. k .. v .. ".pem")
    if not text[k] or #text[k] == 0 then return nil, "archive " .. k .. v .. ".pem missing or empty" end
  end
  local ok, err = pcall(function()
    local key = assert(crypto.load_key(text.privkey))
    local m = crypto.cert_matches_key(text.cert, key)
    assert(m == true, "cert.pem does not match privkey.pem")
  end)
  if not ok then return nil, tostring(err) end
  if text.fullchain ~= text.cert .. text.chain then
    -- allow a newline between the two
    if text.fullchain ~= text.cert .. "\n" .. text.chain then
      return nil, "fullchain.pem is not cert.pem + chain.pem"
    end
  end
  if root then
    local vok, out = sh(("openssl verify -CAfile %s -untrusted %s %s"):format(q(root),
      q(archive .. "/chain" .. version .. ".pem"), q(archive .. "/cert" .. version .. ".pem")))
    if not vok then return nil, "openssl verify failed: " .. out end
  end
  return "consistent", tonumber(version)
end

-- Files a run must not leave behind in live/L, archive/L or renewal/.
function M.leftovers(config_dir, name)
  local found = {}
  for _, d in ipairs({ "/live/" .. name, "/archive/" .. name, "/renewal" }) do
    for _, f in ipairs(sys.listdir(config_dir .. d) or {}) do
      if f:match("%.tmp$") or f:match("%.new$") or f:match("^previous_") then
        found[#found + 1] = d .. "/" .. f
      end
    end
  end
  return found
end

-- accounts/<server>/<id>/: each has all of meta.json, regr.json,
-- private_key.json (each valid JSON) or does not exist.  -> n accounts | nil, why
function M.account_dirs(config_dir)
  local n = 0
  local function walk(dir)
    local names = sys.listdir(dir) or {}
    local has = {}
    for _, f in ipairs(names) do has[f] = true end
    if has["private_key.json"] or has["meta.json"] or has["regr.json"] then
      for _, f in ipairs({ "meta.json", "regr.json", "private_key.json" }) do
        if not has[f] then return nil, dir .. ": " .. f .. " missing" end
        local ok = pcall(cjson.decode, read(dir .. "/" .. f) or "")
        if not ok then return nil, dir .. "/" .. f .. ": not JSON" end
      end
      n = n + 1
      return true
    end
    for _, f in ipairs(names) do
      local st = sys.lstat(dir .. "/" .. f)
      if st and st.type == "directory" and not f:match("^%.") then
        local ok, why = walk(dir .. "/" .. f)
        if not ok then return nil, why end
      elseif st and st.type == "file" and f:match("%.json$") then
        return nil, dir .. "/" .. f .. ": a stray account file"
      end
    end
    return true
  end
  local ok, why = walk(config_dir .. "/accounts")
  if not ok then return nil, why end
  return n
end

-- Results: one JSON object per line in $FAULTS_RESULTS (default
-- <CERTBOT_BUILD>/faults-results.jsonl).
function M.results_path()
  return os.getenv("FAULTS_RESULTS") or ((os.getenv("CERTBOT_BUILD") or "build") .. "/faults-results.jsonl")
end

-- record{ group=, case=, client="ours"|"debian", title=, faults=, inputs=,
--   lost=, exposed=, crashes=, failures=, note= }
function M.record(r)
  r.client = r.client or "ours"
  r.time = os.time()
  local f = io.open(M.results_path(), "a")
  if not f then return end
  f:write(cjson.encode(r), "\n")
  f:close()
end

-- TESTPLAN cases of groups A, B, C and H not run by the fault suite: where
-- they are covered instead, or why they are not (yet).
M.NOT_HERE = {
  { "A2 (never mixed)", "Four separate symlinks cannot move in one step: a kill between two swaps leaves "
    .. "them naming two versions (never a missing link). The sweep counts these (\"mixed\") and requires the "
    .. "recovery run to bring all four to the newest complete version." },
  { "A1 (absent)", "A first issuance killed before its renewal conf is written leaves archive/L with an "
    .. "`.incomplete` marker (\"uncommitted\"); `certificates` and `renew` ignore it and the next certonly "
    .. "removes it and reuses the name (storage.lua's design). Counted as absent." },
  { "A5", "Row A5, with one exception counted, not failed: fullchain.pem and privkey.pem are separate "
    .. "symlinks, so `nginx -t` could refuse the pair (\"key values mismatch\") in the microseconds in which "
    .. "a renew renames them (sys.symlinks_swap renames the four back to back, the pair next to each other; "
    .. "when each rename had its own directory fsync, the sweep saw 7 such refusals in the loop and 3 after "
    .. "kills) and, after a kill between two renames, until the recovery run. The running nginx keeps serving "
    .. "what it loaded; every handshake showed a key in archive/L. Swapping the whole live/L directory "
    .. "at once (renameat2 RENAME_EXCHANGE) would close the window, but would change live/L's inode at "
    .. "every renewal, breaking inotify watches and bind mounts of it that work with Certbot." },
  { "A7", "Recovery point: every run that prepares the nginx plugin, and every installer change, first "
    .. "undoes a killed run's unfinished change, the checkpoints it had saved included (reverter "
    .. "CHANGE_IN_PROGRESS and .change.lock); the next run is certonly --nginx for a lineage not due." },
  { "B3, B4", "Plain pass/fail specs in spec/integration/locks_perms_spec.lua (read-only bind mounts in "
    .. "`unshare -m`); no row." },
  { "C1", "Also spec/integration/parallel_spec.lua (per-lineage locks between two renews)." },
  { "C3", "spec/integration/parallel_spec.lua: Debian's certbot excluded by ours and ours by it." },
  { "C5 (intervals)", "`certificates` takes exclusive fcntl locks, so held intervals cannot overlap by "
    .. "construction; the case checks that every run lists or stops on the lock with the one-line message "
    .. "and that no lock is left held." },
  { "H5", "A plain pass/fail spec in spec/integration/locks_perms_spec.lua: a web server notes the mode "
    .. "and owner of every challenge file and dir it serves." },
  { "H6", "spec/reverter_spec.lua and spec/nginx_plugin_spec.lua: backups dir 0700, copies 0600." },
  { "H7", "spec/plugin_dir_spec.lua: group/world-writable or non-root-owned plugin dirs and files refused." },
}

-- report(results_path) -> markdown text of docs/reliability.md
function M.report(path)
  local rows = {}
  local f = io.open(path, "r")
  if f then
    for line in f:lines() do
      local ok, r = pcall(cjson.decode, line)
      if ok and type(r) == "table" then rows[#rows + 1] = r end
    end
    f:close()
  end
  local function n(v) return math.tointeger(tonumber(v) or 0) or 0 end
  local out = {
    "# Reliability: fault suite results\n\n",
    "Generated by `make test-faults` from `", path, "` (",
    os.date("!%Y-%m-%d %H:%M UTC"), "); do not edit by hand.\n\n",
    "Cases: TESTPLAN.md (`../shared/TESTPLAN.md`). Kill points are sampled: strace counts injections per ",
    "syscall and per process, so every sweep injects at invocation *n* of one syscall at a time, for the ",
    "last invocations of every syscall (where the storage writes are) plus an even sample of the earlier ",
    "ones (`SWEEP_CAP`, default 60). After every fault: TESTPLAN's consistency check of live/archive/",
    "renewal (spec/helpers/consistency.lua) or of the account dirs, then a recovery run.\n\n",
  }
  local groups = { A = "A. Crash / kill -9", B = "B. Disk full and I/O errors", C = "C. Concurrent runs (locks)",
    H = "H. Permissions" }
  for _, g in ipairs({ "A", "B", "C", "H" }) do
    out[#out + 1] = "## " .. groups[g] .. "\n\n"
    out[#out + 1] = "| case | client | what | faults injected | fault points tried | inputs | lineages lost "
      .. "| keys exposed | crashes | failed checks | notes |\n"
    out[#out + 1] = "|---|---|---|---|---|---|---|---|---|---|---|\n"
    local any = false
    local tot = { 0, 0, 0, 0, 0, 0, 0 }
    for _, r in ipairs(rows) do
      if r.group == g then
        any = true
        local note = r.note or ""
        if r.states then
          local parts = {}
          for k, v in pairs(r.states) do parts[#parts + 1] = k .. " " .. n(v) end
          table.sort(parts)
          note = note .. "after kill: " .. table.concat(parts, ", ")
        end
        if r.mixed and n(r.mixed) > 0 then note = note .. (note ~= "" and "; " or "") .. n(r.mixed)
          .. " kills between two link swaps (mixed, repaired by the recovery run)" end
        if r.dup_hooks and n(r.dup_hooks) > 0 then note = note .. (note ~= "" and "; " or "")
          .. ("%d kills between the deploy hook's exit and the removal of the pending marker: the hook "
          .. "ran again in the recovery run (at least once)"):format(n(r.dup_hooks)) end
        if r.failed_runs then note = note .. (note ~= "" and "; " or "") .. n(r.failed_runs)
          .. " runs failed cleanly" end
        if n(r.failures) > 0 and r.first_failure then
          note = note .. (note ~= "" and "; " or "") .. "first: " .. tostring(r.first_failure):gsub("[|\n]", " ")
            :sub(1, 200)
        end
        out[#out + 1] = ("| %s | %s | %s | %d | %d | %d | %d | %d | %d | %d | %s |\n"):format(r.case,
          r.client == "debian" and "Debian certbot 2.1.0" or "ours", r.title or "", n(r.faults), n(r.points),
          n(r.inputs), n(r.lost), n(r.exposed), n(r.crashes), n(r.failures), note)
        if r.client ~= "debian" then
          local v = { 1, n(r.faults), n(r.points), n(r.lost), n(r.exposed), n(r.crashes), n(r.failures) }
          for i = 1, 7 do tot[i] = tot[i] + v[i] end
        end
      end
    end
    if any then
      out[#out + 1] = ("\nOurs in total: %d cases, %d faults injected over %d points; %d lineages lost, "
        .. "%d keys exposed, %d crashes, %d failed checks.\n\n"):format(table.unpack(tot))
    else
      out[#out + 1] = "\n(no results recorded)\n\n"
    end
  end
  out[#out + 1] = "Group C and H cases without a row (C1, C2, C4, C6, C7, H1, H3, H4, H5) are plain pass/fail specs "
    .. "in spec/integration/locks_perms_spec.lua; their result is the busted run's.\n\n"
  out[#out + 1] = "## Not applicable, covered elsewhere, or not yet covered\n\n"
  for _, c in ipairs(M.NOT_HERE) do out[#out + 1] = "- **" .. c[1] .. "**: " .. c[2] .. "\n" end
  out[#out + 1] = "\n## Groups D-K: where each case is tested\n\n"
    .. "Plain pass/fail specs, run by `make check` (those tagged #faults by `make test-faults`); "
    .. "spec/helpers/testplan_map.lua holds this list.\n\n"
  for _, c in ipairs(require("spec.helpers.testplan_map")) do
    out[#out + 1] = "- **" .. c[1] .. "**: " .. c[2] .. "\n"
  end
  return table.concat(out)
end

return M
