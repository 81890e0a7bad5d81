-- spec/helpers/ocsp.lua: a real OCSP responder on loopback, for specs.
--
--   local ocsp = require("spec.helpers.ocsp")
--   local r = ocsp.start{ port = p, ca = "int.pem", signer = "int.pem", key = "int.key" }
--   r.set(cert_pem, "good")                      -- or "revoked", { reason = "keyCompromise" }
--   ... r.url, r.requests() ...
--   r.stop()
--
-- The answers come from `openssl ocsp` in responder mode: it reads the
-- request, looks the serial up in an index file (the `openssl ca` format),
-- and signs with -rsigner/-rkey; a serial the index lacks is "unknown".
-- Its own HTTP listener (-port) binds every interface and takes no
-- address, and specs listen on loopback only; so a few lines of Debian's
-- python3 listen on 127.0.0.1, hand each POSTed request to a fresh
-- `openssl ocsp -reqin` and send back its -respout.  A fresh process per
-- request also means index changes apply at once.
-- Only the one PID started here is ever signalled.
local core = require("certbot.core")
local proc = require("spec.helpers.proc")

local M = {}

local PYTHON = "/usr/bin/python3"

local FRONT = [[
import http.server, subprocess, sys

port, index, ca, signer, key, nmin = sys.argv[1:7]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        req = self.rfile.read(n)
        argv = ["openssl", "ocsp", "-index", index, "-CA", ca, "-rsigner", signer,
                "-rkey", key, "-reqin", "/dev/stdin", "-respout", "/dev/stdout"]
        if nmin != "0":
            argv += ["-nmin", nmin]
        r = subprocess.run(argv, input=req, capture_output=True)
        sys.stderr.write(r.stderr.decode(errors="replace"))
        if r.returncode != 0 or not r.stdout:
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/ocsp-response")
        self.send_header("Content-Length", str(len(r.stdout)))
        self.end_headers()
        self.wfile.write(r.stdout)

    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


http.server.HTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
]]

local function write(path, data, mode)
  assert(core.sys.write_atomic(path, data, mode or 420))
end

-- The serial as the index holds it: uppercase hex, whole bytes.
local function serial_of(cert_pem)
  local info = assert(core.crypto.parse_cert(cert_pem))
  local hex = info.serial:upper()
  if #hex % 2 == 1 then hex = "0" .. hex end
  return hex
end
M.serial_of = serial_of

local function utc(t)
  return os.date("!%y%m%d%H%M%SZ", t)
end

-- start(opts) -> responder.  opts.port (required), opts.ca (PEM path: the
-- issuer whose certificates it answers for), opts.signer and opts.key (PEM
-- paths that sign the responses), opts.nmin (minutes to nextUpdate,
-- default 5; 0: none), opts.dir (where the index lives; default a fresh
-- temporary directory, removed by stop()), opts.entries (an index to
-- start with, from a previous responder's r.entries).
function M.start(opts)
  assert(opts.port and opts.ca and opts.signer and opts.key, "ocsp.start: port, ca, signer, key")
  local own_dir = not opts.dir
  local dir = opts.dir or proc.tmpdir("ocsp-")
  local r = { dir = dir, port = opts.port, url = ("http://127.0.0.1:%d/"):format(opts.port),
    index_path = dir .. "/index.txt", log_path = dir .. "/responder.log", entries = {} }
  for k, v in pairs(opts.entries or {}) do r.entries[k] = v end

  local function write_index()
    local lines, serials = {}, {}
    for s in pairs(r.entries) do serials[#serials + 1] = s end
    table.sort(serials)
    for _, s in ipairs(serials) do
      local e = r.entries[s]
      -- the subject is the serial: openssl's index wants unique subjects
      if e.status == "revoked" then
        local rev = utc(math.floor(e.time or core.sys.time() - 60)) .. (e.reason and "," .. e.reason or "")
        lines[#lines + 1] = ("R\t491231235959Z\t%s\t%s\tunknown\t/CN=%s\n"):format(rev, s, s)
      else
        lines[#lines + 1] = ("V\t491231235959Z\t\t%s\tunknown\t/CN=%s\n"):format(s, s)
      end
    end
    write(r.index_path, table.concat(lines))
  end

  -- set(cert_pem | serial, "good" | "revoked" | nil, {reason=, time=}):
  -- nil removes the entry (the responder then says "unknown").
  function r.set(cert, status, o)
    local serial = cert:find("-----BEGIN", 1, true) and serial_of(cert) or cert:upper()
    if status == nil then
      r.entries[serial] = nil
    else
      assert(status == "good" or status == "revoked", "ocsp helper: status good or revoked")
      r.entries[serial] = { status = status, reason = o and o.reason, time = o and o.time }
    end
    write_index()
  end

  function r.log() return proc.read(r.log_path) or "" end

  -- POST requests answered so far
  function r.requests()
    local n = 0
    for _ in r.log():gmatch('"POST [^"]*" 200') do n = n + 1 end
    return n
  end

  local pid
  function r.stop()
    if pid then proc.stop(pid, "python3") end
    pid = nil
    if own_dir then proc.rm_rf(dir) end
  end

  write(dir .. "/index.txt.attr", "unique_subject = no\n")
  write_index()
  write(dir .. "/front.py", FRONT)
  pid = proc.spawn({ PYTHON, "-u", dir .. "/front.py", tostring(opts.port), r.index_path, opts.ca,
    opts.signer, opts.key, tostring(opts.nmin or 5) }, { log = r.log_path })
  r.pid = pid
  local client = assert(core.http.new({ https_only = false, timeout = 2 }))
  local ok = proc.wait_until(function()
    if not proc.alive(pid) then return "exited" end
    local res = client:request("GET", r.url)
    return res and res.status == 404
  end, 10)
  client:close()
  if ok ~= true then
    local log = r.log()
    r.stop()
    error("ocsp helper: responder on port " .. opts.port .. " did not start:\n" .. log, 2)
  end
  return r
end

return M
