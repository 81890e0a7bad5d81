-- The manual plugin with tls-alpn-01 against a real Pebble: certbot writes
-- the challenge certificate and key, the admin's own TLS server (here
-- `openssl s_server`) presents them, Pebble validates through it.
-- Pebble validates on ports of this spec's own (proc.free_ports).
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local sys = require("certbot.core").sys
local json = require("cjson.safe")

local sh, q = helper.sh, proc.quote

local EXE = (os.getenv("CERTBOT_BUILD") or "build") .. "/certbot"

local function write(path, data, mode)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  if mode then assert(sys.chmod(path, mode)) end
end

-- KEY=VALUE lines -> table
local function env_file(path)
  local t = {}
  for line in (proc.read(path) or ""):gmatch("[^\n]+") do
    local k, v = line:match("^([%w_]+)=(.*)$")
    if k then t[k] = v end
  end
  return t
end

-- The auth hook: records its environment and the files' modes, keeps a
-- copy of the certificate, starts openssl s_server on $TLS_PORT in the
-- background (its PID in $HOOK_DIR/s_server.pid) and waits until it listens.
local AUTH_HOOK = [[#!/bin/sh
set -e
d="$HOOK_DIR"
env | grep '^CERTBOT_' | sort > "$d/auth-env"
stat -c '%a' "$CERTBOT_CERT_PATH" "$CERTBOT_KEY_PATH" "$(dirname "$CERTBOT_CERT_PATH")" \
  > "$d/modes"
stat -c '%u' "$CERTBOT_KEY_PATH" >> "$d/modes"
cp "$CERTBOT_CERT_PATH" "$d/challenge.crt"
openssl s_server -www -alpn acme-tls/1 -cert "$CERTBOT_CERT_PATH" -key "$CERTBOT_KEY_PATH" \
  -accept "127.0.0.1:$TLS_PORT" > "$d/s_server.log" 2>&1 < /dev/null &
echo $! > "$d/s_server.pid"
i=0
until ss -Htln "sport = :$TLS_PORT" | grep -q .; do
  i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.05
done
echo "s_server $!"
]]

-- The cleanup hook: records its environment and whether the files are
-- still there, then stops the s_server the auth hook started (by PID).
local CLEANUP_HOOK = [[#!/bin/sh
d="$HOOK_DIR"
env | grep '^CERTBOT_' | sort > "$d/cleanup-env"
if [ -f "$CERTBOT_CERT_PATH" ] && [ -f "$CERTBOT_KEY_PATH" ]; then echo yes; else echo no; fi \
  > "$d/files-at-cleanup"
kill "$(cat "$d/s_server.pid")"
]]

-- Drives an interactive certonly: waits for the instructions, starts
-- openssl s_server with the paths they name, presses Enter.
local INTERACTIVE_PY = [[
import json, os, re, socket, subprocess, sys, time
argv, port = json.loads(sys.argv[1]), int(sys.argv[2])
p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
buf = b""
t0 = time.monotonic()
while b"Press Enter to Continue" not in buf and time.monotonic() - t0 < 30:
    b = p.stdout.read1(4096)
    if not b:
        break
    buf += b
text = buf.decode("utf-8", "replace")
m = re.search(r"present the certificate\n\n(\S+)\n\nwith the private key\n\n(\S+)\n", text)
rep = {"instructions": text, "found": bool(m)}
srv = None
if m:
    cert, key = m.group(1), m.group(2)
    rep["modes"] = [oct(os.stat(x).st_mode & 0o777) for x in (cert, key, os.path.dirname(cert))]
    srv = subprocess.Popen(["openssl", "s_server", "-www", "-alpn", "acme-tls/1", "-cert", cert,
                            "-key", key, "-accept", "127.0.0.1:%d" % port],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
try:
    p.stdin.write(b"\n")
    p.stdin.flush()
except BrokenPipeError:
    pass
out, err = p.communicate(timeout=90)
if srv:
    srv.terminate()
    srv.wait()
    rep["files_after"] = os.path.exists(cert) or os.path.exists(key)
rep.update(code=p.returncode, out=(buf + out).decode("utf-8", "replace"),
           err=err.decode("utf-8", "replace"))
print(json.dumps(rep))
]]

describe("manual plugin with tls-alpn-01 against Pebble #integration", function()
  local srv, cb, hook_dir, http_port, tls_port

  setup(function()
    http_port, tls_port = proc.free_ports(2)
    srv = pebble.start({ ports = { auto = true, http01 = http_port, tlsalpn01 = tls_port },
      env = { PEBBLE_AUTHZREUSE = "0" } }) -- renewals validate again
  end)
  teardown(function()
    if srv then srv.stop() end
  end)
  before_each(function()
    cb = helper.new(srv)
    hook_dir = cb.dir .. "/hooks"
    assert(sys.mkdir(hook_dir, 448))
    write(hook_dir .. "/auth.sh", AUTH_HOOK, 448)
    write(hook_dir .. "/cleanup.sh", CLEANUP_HOOK, 448)
  end)
  after_each(function()
    -- never leave an s_server behind, whatever failed
    local pid = tonumber(proc.read(hook_dir .. "/s_server.pid") or "")
    if pid then proc.stop(pid, "openssl") end
    cb:cleanup()
  end)

  it("gives the hooks the certificate, key and SNI name; Pebble validates through s_server", function()
    local name = "manual-tls.example.org"
    local code, out, err = cb:run({ "certonly", "--manual", "--preferred-challenges", "tls-alpn",
      "--manual-auth-hook", hook_dir .. "/auth.sh", "--manual-cleanup-hook", hook_dir .. "/cleanup.sh",
      "-d", name }, { env = { HOOK_DIR = hook_dir, TLS_PORT = tostring(tls_port) } })
    assert.equal(0, code, out .. err .. (proc.read(hook_dir .. "/s_server.log") or ""))
    assert.matches("Successfully received certificate", out)
    local log = proc.read(cb.logs_dir .. "/letsencrypt.log") or ""
    assert.matches("tls%-alpn%-01 challenge for manual%-tls%.example%.org", log)

    -- the auth hook's environment, as the user guide lists it for the TLS challenge
    local env = env_file(hook_dir .. "/auth-env")
    assert.equal(name, env.CERTBOT_DOMAIN)
    assert.equal(name, env.CERTBOT_SNI_DOMAIN)
    assert.equal("0", env.CERTBOT_REMAINING_CHALLENGES)
    assert.equal(name, env.CERTBOT_ALL_DOMAINS)
    assert.is_nil(env.CERTBOT_VALIDATION) -- http-01 and dns-01 only
    assert.is_nil(env.CERTBOT_TOKEN)
    local dir = env.CERTBOT_CERT_PATH:match("^(.*)/[^/]+$")
    assert.equal(dir, env.CERTBOT_KEY_PATH:match("^(.*)/[^/]+$"))
    assert.matches("^" .. cb.work_dir:gsub("%p", "%%%0") .. "/manual%-tls%-alpn%-01%-%x+$", dir)
    -- key and certificate 0600, their directory 0700, owned by whoever runs certbot
    assert.equal(("600\n600\n700\n%d\n"):format(sys.getuid()), proc.read(hook_dir .. "/modes"))

    -- what the hook was given is the RFC 8737 certificate: one SAN, the
    -- critical acmeIdentifier extension
    local _, text = sh("openssl x509 -noout -text -in " .. q(hook_dir .. "/challenge.crt"))
    assert.matches("1.3.6.1.5.5.7.1.31: critical", text, 1, true)
    assert.equal("DNS:" .. name, text:match("X509v3 Subject Alternative Name:%s*\n%s*([^\n]*)"))

    -- the cleanup hook saw the same values, the auth output, and the files
    local cenv = env_file(hook_dir .. "/cleanup-env")
    for _, k in ipairs({ "CERTBOT_DOMAIN", "CERTBOT_CERT_PATH", "CERTBOT_KEY_PATH",
      "CERTBOT_SNI_DOMAIN" }) do
      assert.equal(env[k], cenv[k], k)
    end
    assert.matches("^s_server %d+$", cenv.CERTBOT_AUTH_OUTPUT)
    assert.equal("yes\n", proc.read(hook_dir .. "/files-at-cleanup"))
    -- ... and stopped the server; then certbot removed the files and their directory
    local pid = tonumber(proc.read(hook_dir .. "/s_server.pid"))
    assert.truthy(proc.wait_until(function() return not proc.alive(pid) end, 5))
    assert.is_nil(sys.lstat(env.CERTBOT_CERT_PATH))
    assert.is_nil(sys.lstat(env.CERTBOT_KEY_PATH))
    assert.is_nil(sys.lstat(dir))
    for _, e in ipairs(sys.listdir(cb.work_dir) or {}) do
      assert.not_matches("^manual%-tls%-alpn", e)
    end
    local vcode, vout = helper.verify_chain(cb, name)
    assert.equal(0, vcode, vout)

    -- the renewal conf keeps the choice and the hooks; renew does it again
    local conf = cb:read("renewal/" .. name .. ".conf")
    assert.matches("\npref_challs = tls%-alpn%-01,\n", conf)
    assert.matches("\nmanual_auth_hook = " .. (hook_dir .. "/auth.sh"):gsub("%p", "%%%0") .. "\n", conf)
    os.remove(hook_dir .. "/auth-env")
    code, out, err = cb:run({ "renew", "--force-renewal", "--cert-name", name },
      { env = { HOOK_DIR = hook_dir, TLS_PORT = tostring(tls_port) } })
    assert.equal(0, code, out .. err)
    assert.equal("../../archive/" .. name .. "/cert2.pem", sys.readlink(cb:live(name).cert))
    assert.equal(name, env_file(hook_dir .. "/auth-env").CERTBOT_SNI_DOMAIN)
    assert.matches("tls%-alpn%-01 challenge for manual%-tls%.example%.org",
      proc.read(cb.logs_dir .. "/letsencrypt.log") or "")
  end)

  it("fails when nothing presents the certificate, and still cleans up", function()
    local code, out, err = cb:run({ "certonly", "--manual", "--preferred-challenges", "tls-alpn-01",
      "--manual-auth-hook", "true", "--manual-cleanup-hook", hook_dir .. "/cleanup.sh",
      "-d", "nobody.example.org" }, { env = { HOOK_DIR = hook_dir } })
    assert.equal(1, code, out .. err)
    assert.matches("Some challenges have failed", err .. out)
    assert.matches("tls%-alpn%-01", err .. out)
    assert.equal("yes\n", proc.read(hook_dir .. "/files-at-cleanup"))
    local cenv = env_file(hook_dir .. "/cleanup-env")
    assert.is_nil(sys.lstat(cenv.CERTBOT_CERT_PATH))
    for _, e in ipairs(sys.listdir(cb.work_dir) or {}) do
      assert.not_matches("^manual%-tls%-alpn", e)
    end
  end)

  it("interactively, names the files and the server name, then validates", function()
    local py = cb.dir .. "/interactive.py"
    write(py, INTERACTIVE_PY)
    local name = "by-hand.example.org"
    local argv = { EXE, "certonly", "--manual", "--force-interactive", "--preferred-challenges",
      "tls-alpn-01", "-d", name, "--config-dir", cb.config_dir, "--work-dir", cb.work_dir,
      "--logs-dir", cb.logs_dir, "-c", cb.cli_ini, "--server", srv.directory, "--agree-tos",
      "-m", "spec@example.org", "--no-eff-email" }
    local cmd = ("env -u LD_PRELOAD REQUESTS_CA_BUNDLE=%s CERTBOT_DEFAULT_CLI_INI= "
      .. "XDG_CONFIG_HOME=%s python3 %s %s %d"):format(q(srv.ca_file), q(cb.dir), q(py),
      q(json.encode(argv)), tls_port)
    local _, raw = sh(cmd)
    local rep = assert(json.decode(raw:match("(%b{})%s*$") or ""), raw)
    assert.is_true(rep.found, rep.instructions)
    assert.matches("to a client that asks for the server name " .. name:gsub("%p", "%%%0")
      .. " with the ALPN protocol \"acme%-tls/1\"", rep.instructions)
    assert.same({ "0o600", "0o600", "0o700" }, rep.modes)
    assert.equal(0, rep.code, rep.out .. rep.err)
    assert.matches("Successfully received certificate", rep.out)
    assert.is_false(rep.files_after)
  end)
end)
