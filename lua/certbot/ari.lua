-- ari: when the CA wants a lineage renewed (ACME Renewal Information,
-- RFC 9773), and when it asked us to come back later.
--
-- For a cron-style client (a renew run twice a day) RFC 9773 §4.2 asks:
-- fetch the window for the certificate, pick a uniformly random moment in
-- it, and renew when that moment has passed or falls before the next run;
-- otherwise ask again after Retry-After (clamped to 1 minute..1 day).
-- Fetch errors back off: temporary ones (no answer, 5xx, 429)
-- exponentially, others 6 hours; meanwhile the lifetime rule applies.
--
-- What has to last from one run to the next lives in the lineage's
-- renewal conf, as top-level keys.  Certbot keeps unknown top-level keys
-- when it rewrites a conf (storage.write_renewal_config loads the old file
-- and updates it) and ignores them when reading, while it deletes unknown
-- keys from [renewalparams] on every renewal; these keys are state, not
-- options, so they sit at the top:
--
--   ari_cert = <CertID>               the certificate the keys below are about
--   ari_window_start = <RFC 3339>     the CA's suggested window
--   ari_window_end = <RFC 3339>
--   ari_renew_at = <RFC 3339>         the moment chosen in it
--   ari_next_check = <RFC 3339>       do not ask before (Retry-After or backoff)
--   ari_explanation_url = <URL>       the CA's explanation, if it gave one
--   ari_failures = <n>                fetch failures in a row
--   renew_not_before = <RFC 3339>     the CA refused an order of ari_cert's
--                                     renewal and said when to come back
--                                     (429 rateLimited, 503)
--
-- A state whose ari_cert is not the live certificate's CertID (Certbot
-- renewed it meanwhile) is ignored and replaced.  Everything is cleared
-- after a successful renewal.
--
-- Whether a server has ARI (its directory's renewalInfo) is kept a day in
-- <work-dir>/ari/<server>.json (a failure to read the directory, 5 minutes),
-- so a run with nothing to ask makes no request.

local core = require("certbot.core")
local confobj = require("certbot.confobj")
local display = require("certbot.display")
local json = require("cjson.safe")
local log = require("certbot.log")

local crypto, sys = core.crypto, core.sys

local M = {}

M.NEXT_RUN = 12 * 3600       -- Certbot's timer runs twice a day
M.MIN_RETRY = 60             -- Retry-After is clamped to 1 minute..
M.MAX_RETRY = 86400          -- ..1 day (RFC 9773 §4.3)
M.DEFAULT_RETRY = 6 * 3600   -- when the answer has no Retry-After
M.LONG_BACKOFF = 6 * 3600    -- after a long-term error
M.BACKOFF_BASE = 300         -- temporary errors: 5 min, 10, 20, ... up to LONG_BACKOFF
M.MAX_HOLD = 7 * 86400       -- a CA's "come back later" is honoured for at most a week
M.DIRECTORY_TTL = 86400      -- how long a directory's renewalInfo is remembered

local KEYS = { "ari_cert", "ari_window_start", "ari_window_end", "ari_renew_at",
  "ari_next_check", "ari_explanation_url", "ari_failures", "renew_not_before" }

---------------------------------------------------------------------------
-- Times
---------------------------------------------------------------------------

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

-- RFC 3339 date-time -> Unix time (fractions dropped) | nil
function M.parse_time(s)
  if type(s) ~= "string" or #s > 64 then return nil end
  local y, mo, d, h, mi, sec, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d, h, mi, sec = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return nil end
  rest = rest:gsub("^%.%d+", "")
  local offset
  if rest == "Z" or rest == "z" then
    offset = 0
  else
    local sign, oh, om = rest:match("^([+-])(%d%d):(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 60 + tonumber(om)) * 60
    if sign == "-" then offset = -offset end
  end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + math.min(sec, 59) - offset
end

function M.format_time(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

-- Certbot's way of showing a time (certificates' "Expiry Date").
function M.show_time(t)
  return os.date("!%Y-%m-%d %H:%M:%S", math.floor(t)) .. "+00:00"
end

---------------------------------------------------------------------------
-- The state in the renewal conf
---------------------------------------------------------------------------

-- state(lineage) -> { cert=, start=, ["end"]=, renew_at=, next_check=,
-- explanation_url=, failures=, not_before= } from the conf's top level
-- (times as Unix times; nil where absent or unreadable).
function M.state(lineage)
  local k = lineage.conf.keys
  local function t(name) return M.parse_time(k[name]) end
  local function str(name) return type(k[name]) == "string" and k[name] or nil end
  return {
    cert = str("ari_cert"),
    start = t("ari_window_start"), ["end"] = t("ari_window_end"),
    renew_at = t("ari_renew_at"), next_check = t("ari_next_check"),
    explanation_url = str("ari_explanation_url"),
    failures = math.tointeger(tonumber(k.ari_failures)) or 0,
    not_before = t("renew_not_before"),
  }
end

-- The serial part of a certificate's CertID (base64url of the DER
-- INTEGER's content), read by walking the DER: the full CertID
-- (crypto.ari_cert_id) costs an OpenSSL parse, ~0.35 ms, and a run over
-- many lineages only needs to know whether a stored state is about the
-- live certificate.  -> string | nil
local byte = string.byte
local function tlv(s, pos)
  local tag, l1 = byte(s, pos, pos + 1)
  if not l1 then return nil end
  local first, len = pos + 2, l1
  if l1 >= 0x80 then
    local n = l1 - 0x80
    if n < 1 or n > 3 then return nil end
    len = 0
    for i = 1, n do
      local b = byte(s, pos + 1 + i)
      if not b then return nil end
      len = len * 256 + b
    end
    first = pos + 2 + n
  end
  local last = first + len - 1
  if last > #s then return nil end
  return tag, first, last
end

function M.serial_part(cert_pem)
  local der = type(cert_pem) == "string" and crypto.pem_to_der(cert_pem)
  if not der then return nil end
  local t, f = tlv(der, 1)
  if t ~= 0x30 then return nil end
  local t2, f2 = tlv(der, f)
  if t2 ~= 0x30 then return nil end
  local t3, f3, l3 = tlv(der, f2)
  if t3 == 0xA0 then t3, f3, l3 = tlv(der, l3 + 1) end
  if t3 ~= 0x02 or l3 < f3 then return nil end
  return crypto.b64url_encode(der:sub(f3, l3))
end

-- Is a stored CertID that of this certificate?
function M.same_cert(cert_id, cert_pem)
  if type(cert_id) ~= "string" then return false end
  local serial = M.serial_part(cert_pem)
  return serial ~= nil and cert_id:sub(-#serial - 1) == "." .. serial
end

-- Does the lineage's conf hold any of these keys?  (certificates asks
-- before it computes a CertID.)
function M.has_state(lineage)
  local k = lineage.conf.keys
  for _, name in ipairs(KEYS) do
    if k[name] ~= nil then return true end
  end
  return false
end

-- One "key = value" line, quoted as configobj would.
local function conf_line(key, value)
  local c = confobj.new()
  confobj.set(c, key, value)
  return (confobj.write(c):gsub("\n$", ""))
end

-- write(lineage, changes): set (a string or number) or remove (false) the
-- named top-level keys of the lineage's renewal conf.  The file is edited
-- as text: every other line, comment and section stays byte for byte; new
-- keys go after the last top-level key.  The in-memory conf follows.
-- -> true | nil, err
function M.write(lineage, changes)
  local backend, name = lineage.backend, lineage.name
  local text, err = backend:read_conf(name)
  if not text then return nil, err end
  local lines = {}
  for l in (text:sub(-1) == "\n" and text or text .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  local top_end = #lines -- the last line of the top-level part
  for i, l in ipairs(lines) do
    if l:match("^%s*%[") then
      top_end = i - 1
      break
    end
  end
  local out, last_key = {}, 0
  for i = 1, top_end do
    local key = lines[i]:match("^%s*([%w_%-]+)%s*=")
    if not (key and changes[key] ~= nil) then
      out[#out + 1] = lines[i]
      if key then last_key = #out end
    end
  end
  local add = {}
  for _, key in ipairs(KEYS) do
    local v = changes[key]
    if v ~= nil and v ~= false then add[#add + 1] = conf_line(key, tostring(v)) end
  end
  for i, l in ipairs(add) do table.insert(out, last_key + i, l) end
  for i = top_end + 1, #lines do out[#out + 1] = lines[i] end
  local ok, werr = backend:write_conf(name, table.concat(out, "\n") .. "\n")
  if not ok then return nil, werr end
  for key, v in pairs(changes) do
    if v == false then
      lineage.conf.keys[key] = nil
    else
      confobj.set(lineage.conf, key, tostring(v))
    end
  end
  return true
end

-- Forget every ARI and hold key (after a renewal).
function M.clear(lineage)
  if not M.has_state(lineage) then return true end
  local changes = {}
  for _, k in ipairs(KEYS) do changes[k] = false end
  return M.write(lineage, changes)
end

---------------------------------------------------------------------------
-- "Come back later": a CA that refused an order with a time to return
---------------------------------------------------------------------------

-- hold(lineage, seconds, cert_pem[, now]): do not try this lineage again
-- before now + seconds (at most MAX_HOLD).  The hold is about cert_pem (it
-- goes with ari_cert): once anything else replaced that certificate, it no
-- longer counts.  -> until | nil, err
function M.hold(lineage, seconds, cert_pem, now)
  now = now or sys.time()
  local untl = now + math.min(math.max(math.floor(seconds), 0), M.MAX_HOLD)
  local changes = { renew_not_before = M.format_time(untl) }
  local k = lineage.conf.keys
  if not M.same_cert(k.ari_cert, cert_pem) then
    local serial = M.serial_part(cert_pem)
    changes.ari_cert = crypto.ari_cert_id(cert_pem) or (serial and ("." .. serial)) or false
    for _, key in ipairs({ "ari_window_start", "ari_window_end", "ari_renew_at", "ari_next_check",
      "ari_explanation_url", "ari_failures" }) do
      changes[key] = false
    end
  end
  local ok, err = M.write(lineage, changes)
  if not ok then return nil, err end
  return untl
end

-- held(lineage, cert_pem[, now]) -> the time the CA asked us to wait for,
-- if still ahead and about this certificate
function M.held(lineage, cert_pem, now)
  local k = lineage.conf.keys
  local t = M.parse_time(k.renew_not_before)
  if t and t > (now or sys.time()) and M.same_cert(k.ari_cert, cert_pem) then return t end
  return nil
end

---------------------------------------------------------------------------
-- Fetching and deciding
---------------------------------------------------------------------------

-- A run's ARI context: acme clients and directories per server, made on
-- first use.  http_options() -> core.http options (called once a server).
function M.run_context(work_dir, http_options)
  return { work_dir = work_dir, http_options = http_options, servers = {} }
end

function M.close(run)
  for _, s in pairs(run and run.servers or {}) do
    if s.client then s.client:close() end
  end
end

-- The cache file of a server: its URL made into a file name (no hash: a
-- no-op run touches no OpenSSL, whose first digest costs ~2 MiB of
-- provider setup); the file names the server it is about.
local function cache_path(run, server)
  local name = server:gsub("^%a+://", ""):gsub("[^%w%.%-]", "_"):sub(1, 150)
  return run.work_dir .. "/ari/" .. name .. ".json", run.work_dir .. "/ari"
end

-- The server's renewalInfo URL, or false when its directory has none; nil
-- (with a message) when the directory cannot be had now.  Both answers
-- are kept in the work dir: a directory for DIRECTORY_TTL, a failure to
-- read it for BACKOFF_BASE (a CA that is down is not asked on every run,
-- and a run with every answer fresh makes no request at all).
local function renewal_info_url(run, server, now)
  local s = run.servers[server]
  if s then return s.url, s.err end
  s = {}
  run.servers[server] = s
  local function failed(err)
    s.err = err
    log.info("ARI: cannot read the directory of %s: %s; the lifetime rule decides for its lineages",
      server, err)
    return nil, err
  end
  local path, dir = cache_path(run, server)
  local cached = json.decode(sys.read_file(path, 65536) or "")
  if type(cached) == "table" and cached.server == server and type(cached.fetched) == "number"
    and cached.fetched <= now then
    if type(cached.failed) == "string" and now - cached.fetched < M.BACKOFF_BASE then
      return failed(cached.failed .. " (at " .. M.format_time(cached.fetched) .. ")")
    end
    if now - cached.fetched < M.DIRECTORY_TTL
      and (cached.renewalInfo == false or type(cached.renewalInfo) == "string") then
      s.url = cached.renewalInfo
      return s.url
    end
  end
  local function keep(doc)
    sys.mkdir(dir, 448)
    local ok, werr = sys.write_atomic(path, json.encode(doc), 384)
    if not ok then log.debug("ARI: cannot keep the directory facts in %s: %s", path, tostring(werr)) end
  end
  local acme = require("certbot.acme")
  local c, cerr = acme.new({ directory = server, http = run.http_options() })
  if not c then return failed(tostring(cerr)) end
  s.client = c
  local d, derr = c:directory()
  if not d then
    keep({ server = server, fetched = now, failed = tostring(derr) })
    return failed(tostring(derr))
  end
  s.url = type(d.renewalInfo) == "string" and d.renewalInfo or false
  keep({ server = server, fetched = now, renewalInfo = s.url })
  return s.url
end

local function client_for(run, server)
  local s = run.servers[server]
  if not s.client then
    local acme = require("certbot.acme")
    local c, err = acme.new({ directory = server, http = run.http_options() })
    if not c then return nil, err end
    s.client = c
  end
  return s.client
end

-- Check an ARI document (RFC 9773 §4.2).  -> start, end, explanation | nil, why
function M.check_document(doc)
  local w = type(doc) == "table" and doc.suggestedWindow
  if type(w) ~= "table" then return nil, "no suggestedWindow" end
  local s, e = M.parse_time(w.start), M.parse_time(w["end"])
  if not s or not e then return nil, "the window's start or end is not an RFC 3339 time" end
  if e <= s then return nil, "the window ends before it starts" end
  local url = doc.explanationURL
  if type(url) ~= "string" or #url > 1000 or not url:match("^https?://[%w%-%._~:/%?#%[%]@!%$&'%(%)%*%+,;=%%]+$") then
    if url ~= nil then log.info("ARI: ignoring an explanationURL that is not a plain URL") end
    url = nil
  end
  return s, e, url
end

-- What the chosen moment means now.  -> due, reason
local function verdict(renew_at, now)
  if not renew_at then return false, nil end
  if renew_at <= now then
    return true, ("ARI: the moment chosen in the CA's renewal window (%s) has passed")
      :format(M.format_time(renew_at))
  end
  if renew_at < now + M.NEXT_RUN then
    return true, ("ARI: the moment chosen in the CA's renewal window (%s) comes before the next run")
      :format(M.format_time(renew_at))
  end
  return false, ("ARI: renewal planned for %s"):format(M.format_time(renew_at))
end

-- due(run, lineage, cert_pem, server[, now[, peek]]) -> due, reason
-- The ARI side of "is this lineage due?", for one that the lifetime rule
-- does not make due.  It fetches the window only when the stored state
-- says it is time to ask again, records what it learned, and never raises:
-- without ARI (no renewalInfo, a certificate without an AKI, an error) it
-- answers false and the lifetime rule stands.  peek: nil instead of
-- fetching the window (and writing the lineage's conf).
function M.due(run, lineage, cert_pem, server, now, peek)
  now = now or sys.time()
  local st, mine = nil, false
  if M.has_state(lineage) then
    st = M.state(lineage)
    mine = M.same_cert(st.cert, cert_pem)
  end
  local known_at = mine and st.renew_at or nil
  if mine and st.next_check and st.next_check > now then
    local due, why = verdict(known_at, now)
    return due, why or ("ARI: next check at %s"):format(M.format_time(st.next_check))
  end
  local url = renewal_info_url(run, server, now)
  if url == false then return false, nil end
  if url == nil then return verdict(known_at, now) end -- (logged once by renewal_info_url)
  if peek then return nil end
  local id = crypto.ari_cert_id(cert_pem)
  if not id then return verdict(known_at, now) end
  local c, cerr = client_for(run, server)
  local doc, res
  if c then
    doc, res = c:renewal_info(id, url)
  else
    res = { message = tostring(cerr), temporary = true }
  end
  local problem, retry_after, s, e, explanation
  if doc then
    retry_after = res
    s, e, explanation = M.check_document(doc)
    if not s then
      problem = { message = ("%s/%s: the CA's renewal information is unusable: %s"):format(url, id, e),
        temporary = false }
    end
  else
    problem = res
  end
  local changes = { ari_cert = id }
  if problem then
    local failures = (mine and st.failures or 0) + 1 -- (st is set when mine is true)
    local wait = M.LONG_BACKOFF
    if type(problem) == "table" and problem.temporary then
      wait = math.min(M.BACKOFF_BASE * 2 ^ (failures - 1), M.LONG_BACKOFF)
    end
    -- a Retry-After on the error is honoured too (clamped like any other)
    if type(problem) == "table" and problem.retry_after then
      wait = math.max(wait, math.min(math.max(problem.retry_after, M.MIN_RETRY), M.MAX_RETRY))
    end
    wait = math.floor(wait)
    changes.ari_failures = failures
    changes.ari_next_check = M.format_time(now + wait)
    if not mine then
      for _, k in ipairs({ "ari_window_start", "ari_window_end", "ari_renew_at", "ari_explanation_url" }) do
        changes[k] = false
      end
    end
    log.warning("%s: ARI: %s; asking again after %s", lineage.name,
      tostring(type(problem) == "table" and problem.message or problem), M.format_time(now + wait))
    local ok, werr = M.write(lineage, changes)
    if not ok then log.warning("%s: cannot record the ARI backoff: %s", lineage.name, tostring(werr)) end
    return verdict(known_at, now)
  end
  local wait = math.min(math.max(retry_after or M.DEFAULT_RETRY, M.MIN_RETRY), M.MAX_RETRY)
  local renew_at = known_at
  if not (mine and st.start == s and st["end"] == e and renew_at and renew_at >= s and renew_at <= e) then
    renew_at = s + math.floor(math.random() * (e - s))
    if mine and st.start and st["end"] and (s < st.start or e < st["end"]) then
      display.notify(("The CA moved the renewal window of %s earlier, to %s .. %s%s"):format(lineage.name,
        M.show_time(s), M.show_time(e), explanation and (": see " .. explanation) or ""))
    end
  end
  log.info("%s: ARI window %s .. %s; chosen moment %s; next check %s%s", lineage.name, M.format_time(s),
    M.format_time(e), M.format_time(renew_at), M.format_time(now + wait),
    explanation and (" (" .. explanation .. ")") or "")
  changes.ari_window_start = M.format_time(s)
  changes.ari_window_end = M.format_time(e)
  changes.ari_renew_at = M.format_time(renew_at)
  changes.ari_next_check = M.format_time(now + wait)
  changes.ari_explanation_url = explanation or false
  changes.ari_failures = false
  local ok, werr = M.write(lineage, changes)
  if not ok then log.warning("%s: cannot record the ARI window: %s", lineage.name, tostring(werr)) end
  return verdict(renew_at, now)
end

-- describe(lineage, cert_pem[, now]) -> the lines certificates shows
-- (after "Expiry Date"), or nil when nothing is known about this
-- certificate: the window and the moment chosen in it, and any time the
-- CA asked us not to come back before.
function M.describe(lineage, cert_pem, now)
  if not M.has_state(lineage) then return nil end
  now = now or sys.time()
  local st = M.state(lineage)
  local lines = {}
  if M.same_cert(st.cert, cert_pem) then
    if st.start and st["end"] then
      local parts = { ("%s to %s"):format(M.show_time(st.start), M.show_time(st["end"])) }
      if st.renew_at then
        parts[#parts + 1] = ("renewal planned for %s"):format(M.show_time(st.renew_at))
      end
      if st.explanation_url then parts[#parts + 1] = "see " .. st.explanation_url end
      lines[#lines + 1] = "    Renewal Window (ARI): " .. table.concat(parts, "; ")
    elseif st.next_check then
      lines[#lines + 1] = ("    Renewal Window (ARI): unknown (the CA's answer failed; asking again "
        .. "after %s)"):format(M.show_time(st.next_check))
    end
  end
  local held = M.held(lineage, cert_pem, now)
  if held then
    lines[#lines + 1] = ("    Renewal Held Until: %s (the CA asked to wait)"):format(M.show_time(held))
  end
  if #lines == 0 then return nil end
  return table.concat(lines, "\n")
end

return M
