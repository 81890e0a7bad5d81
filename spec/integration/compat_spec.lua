-- Two-way compatibility with Debian's certbot 2.1.0 (/usr/bin/certbot) on
-- one config dir, against a real Pebble.  In each direction one client
-- registers the account and creates three lineages (webroot with two
-- webroots, standalone RSA 3072, standalone ECDSA P-384 with --reuse-key;
-- pre, post and deploy hooks); then the other lists them, renews them all
-- with their stored settings and hooks, adds a lineage with the same
-- account; then the first lists and renews what the other wrote.  Both
-- clients get the same command line: an admin switches over and back
-- without touching a file.
--
-- Judges: openssl (chains, keys, dates, names), Certbot's own libraries in
-- Debian's python3 (configobj reads every renewal conf; josepy computes
-- the account id), and Debian's certbot itself.
--
-- Findings: Certbot 2.1.0 loads our EC P-256 account key (private_key.json,
-- kty EC) and signs with ES256 (certbot/_internal/client.py
-- acme_from_config_key picks the algorithm from the key), so the EC
-- default for account keys stays.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local sys = require("certbot.core").sys
local cjson = require("cjson")

local q, sh = proc.quote, helper.sh

local DEBIAN = "/usr/bin/certbot"
local OURS = (os.getenv("CERTBOT_BUILD") or "build") .. "/certbot"
local PY = "/usr/bin/python3" -- Debian's, with python3-certbot's libraries
local WHO = { debian = "Debian's certbot", ours = "our certbot" }

if not sys.lstat(DEBIAN) then
  describe("compatibility with Debian's certbot #integration", function()
    pending("Debian's certbot is not installed (apt-get install certbot)")
  end)
  return
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

-- run(st, who, args) -> code, stdout, stderr: one client on the scenario's
-- dirs, non-interactive, trusting Pebble.  Same arguments for both.
local function run(st, who, args)
  local cb = st.cb
  local argv = { who == "debian" and DEBIAN or OURS }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  for _, a in ipairs({ "--config-dir", cb.config_dir, "--work-dir", cb.work_dir,
    "--logs-dir", cb.logs_dir, "-n" }) do argv[#argv + 1] = a end
  local env = environ({ REQUESTS_CA_BUNDLE = cb.srv.ca_file, XDG_CONFIG_HOME = cb.dir,
    CERTBOT_DEFAULT_CLI_INI = "" })
  local code, out, err = sys.run(argv, env, { stdin = "" })
  return code, out or "", (err or "") .. (code == nil and tostring(out) or "")
end

local function ok_run(st, who, args)
  local code, out, err = run(st, who, args)
  assert(code == 0, ("%s %s exited %s\n%s\n%s"):format(WHO[who], args[1], tostring(code), out, err))
  return out, err
end

-- Debian's python3 running a snippet with Certbot's own libraries.
local function py(code, ...)
  local argv = { PY, "-c", code, ... }
  local rc, out, err = sys.run(argv, environ({}), { stdin = "" })
  assert(rc == 0, "python3: " .. tostring(out) .. tostring(err))
  return (out:gsub("\n$", ""))
end

-- A renewal conf as Certbot reads it (configobj, as certbot.storage opens it).
local function read_conf(st, name)
  return cjson.decode(py("import sys, json, configobj\n"
    .. "c = configobj.ConfigObj(sys.argv[1], encoding='utf-8', default_encoding='utf-8')\n"
    .. "print(json.dumps(c.dict()))", st.cb.config_dir .. "/renewal/" .. name .. ".conf"))
end

-- The account id Certbot computes from private_key.json (account.Account).
local function certbot_account_id(path)
  return py("import sys, hashlib, josepy\n"
    .. "from cryptography.hazmat.primitives import serialization as s\n"
    .. "k = josepy.JWK.json_loads(open(sys.argv[1]).read())\n"
    .. "print(hashlib.md5(k.key.public_key().public_bytes(s.Encoding.PEM,"
    .. " s.PublicFormat.SubjectPublicKeyInfo)).hexdigest())", path)
end

---------------------------------------------------------------------------
-- The webserver the webroot lineage's webroots belong to
---------------------------------------------------------------------------

-- python3's http.server on 127.0.0.1:5002 serving st.www; its PID in
-- st.pidfile, where the standalone lineages' pre-hook finds it (an admin's
-- "stop the webserver before standalone" hook).
local function web_start(st)
  local pid = proc.spawn({ "python3", "-m", "http.server", "--bind", "127.0.0.1",
    "--directory", st.www, "5002" })
  st.web_pid = pid
  local f = assert(io.open(st.pidfile, "w"))
  f:write(pid, "\n")
  f:close()
  assert(proc.wait_until(function()
    if not proc.alive(pid) then error("http.server could not start (port 5002 busy?)", 0) end
    return sh("curl -sf -o /dev/null http://127.0.0.1:5002/" .. st.marker) == 0
  end, 10), "http.server did not answer on 127.0.0.1:5002")
end

local function web_stop(st)
  if st.web_pid then proc.stop(st.web_pid) end
  st.web_pid = nil
  os.remove(st.pidfile)
end

---------------------------------------------------------------------------
-- Lineages and what each must look like
---------------------------------------------------------------------------

-- Hooks whose values take each of configobj's quoting paths: none (with
-- inner quotes), "..." (a comma; a '#'), triple quotes (both quote kinds).
local function hooks_for(st)
  local probe = st.probe -- no characters the shell would need quoted
  return {
    -- stops the webserver (Certbot wants the hook's first word to be a program)
    pre = ("%s %s && echo pre >> %s"):format(st.stop_web, st.pidfile, probe),
    post = ("echo post, done >> %s"):format(probe),
    deploy_wr = ('echo "deploy-wr $RENEWED_DOMAINS" >> %s'):format(probe),
    deploy_sa = ("printf '%%s\\n' \"deploy-sa $RENEWED_LINEAGE # x\" >> %s"):format(probe),
    deploy_ec = ("echo deploy-ec $RENEWED_DOMAINS \\#1 >> %s"):format(probe),
  }
end

local LINEAGES = {
  ["a-wr.example.org"] = { names = { "a-wr.example.org", "www.a-wr.example.org" },
    key = "prime256v1", key_type = "ECDSA" },
  ["b-sa.example.org"] = { names = { "b-sa.example.org" }, key = 3072, key_type = "RSA" },
  ["c-ec.example.org"] = { names = { "c-ec.example.org" }, key = "secp384r1", key_type = "ECDSA",
    reuse = true },
  ["d-new.example.org"] = { names = { "d-new.example.org" }, key = "prime256v1", key_type = "ECDSA" },
}

local function standalone(args)
  local t = { "certonly", "--standalone", "--http-01-port", "5002", "--http-01-address", "127.0.0.1" }
  for _, a in ipairs(args) do t[#t + 1] = a end
  return t
end

local function account_args(st, t)
  for _, a in ipairs({ "--server", st.cb.srv.directory, "--agree-tos", "-m", "x@example.org" }) do
    t[#t + 1] = a
  end
  return t
end

local function create_lineages(st, who)
  local h = st.hooks
  web_start(st)
  local ok, e = pcall(ok_run, st, who, account_args(st, { "certonly", "--webroot",
    "-w", st.www, "-d", "a-wr.example.org", "-w", st.www2, "-d", "www.a-wr.example.org",
    "--deploy-hook", h.deploy_wr }))
  web_stop(st)
  assert(ok, e)
  ok_run(st, who, account_args(st, standalone({ "-d", "b-sa.example.org", "--key-type", "rsa",
    "--rsa-key-size", "3072", "--preferred-challenges", "http",
    "--pre-hook", h.pre, "--post-hook", h.post, "--deploy-hook", h.deploy_sa })))
  ok_run(st, who, account_args(st, standalone({ "-d", "c-ec.example.org", "--key-type", "ecdsa",
    "--elliptic-curve", "secp384r1", "--reuse-key",
    "--pre-hook", h.pre, "--post-hook", h.post, "--deploy-hook", h.deploy_ec })))
end

local function openssl(cmd)
  local code, out = sh(cmd)
  assert(code == 0, cmd .. "\n" .. out)
  return out
end

local function sorted(t)
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  table.sort(c)
  return c
end

local function cert_facts(path)
  local out = openssl(("openssl x509 -noout -enddate -dateopt iso_8601 -serial -ext subjectAltName -in %s")
    :format(q(path)))
  local names = {}
  for n in out:gmatch("DNS:([^,%s]+)") do names[#names + 1] = n end
  return {
    not_after = assert(out:match("notAfter=(%d+%-%d+%-%d+ %d+:%d+:%d+)Z")),
    serial = assert(out:match("serial=(%x+)")):lower():gsub("^0+", ""),
    names = sorted(names),
  }
end

-- Every lineage in `want` ({ name = version }) on disk: live links relative
-- and at that version, matching files, the chain verifying to Pebble's
-- root, the key of the stored type (the same key across versions for
-- reuse_key, a new one otherwise).
local function check_lineages(st, want)
  local cb = st.cb
  local names, live = {}, {}
  for name in pairs(want) do names[#names + 1] = name end
  for _, n in ipairs(sys.listdir(cb.config_dir .. "/live") or {}) do
    if n ~= "README" then live[#live + 1] = n end
  end
  assert.same(sorted(names), sorted(live))
  for name, v in pairs(want) do
    local spec = LINEAGES[name]
    local p = cb:live(name)
    for _, k in ipairs({ "cert", "chain", "fullchain", "privkey" }) do
      assert.equal(("../../archive/%s/%s%d.pem"):format(name, k, v), sys.readlink(p[k]))
    end
    assert.equal(cb:read("live/" .. name .. "/cert.pem") .. cb:read("live/" .. name .. "/chain.pem"),
      cb:read("live/" .. name .. "/fullchain.pem"))
    local vcode, vout = helper.verify_chain(cb, name)
    assert.equal(0, vcode, vout)
    assert.same(spec.names, cert_facts(p.cert).names)
    assert.equal(openssl("openssl x509 -noout -pubkey -in " .. q(p.cert)),
      openssl("openssl pkey -pubout -in " .. q(p.privkey)))
    local text = openssl("openssl pkey -noout -text -in " .. q(p.privkey))
    if type(spec.key) == "number" then
      assert.matches("Private%-Key: %(" .. spec.key .. " bit", text)
    else
      assert.matches("ASN1 OID: " .. spec.key, text, 1, true)
    end
    if v > 1 then
      local arch = cb.config_dir .. "/archive/" .. name .. "/"
      local prev, cur = proc.read(arch .. "privkey" .. (v - 1) .. ".pem"), proc.read(arch .. "privkey" .. v .. ".pem")
      if spec.reuse then assert.equal(prev, cur) else assert.are_not.equal(prev, cur) end
      assert.are_not.equal(proc.read(arch .. "cert" .. (v - 1) .. ".pem"), proc.read(arch .. "cert" .. v .. ".pem"))
    end
  end
end

-- One account, in Certbot's layout, whose directory name is the id Certbot
-- computes from its key; every renewal conf names it.
local function check_account(st, confs)
  local cb = st.cb
  local root = ("%s/accounts/127.0.0.1:%d/dir"):format(cb.config_dir, cb.srv.ports.acme)
  local ids = sys.listdir(root) or {}
  assert.equal(1, #ids, "accounts: " .. table.concat(ids, " "))
  local id = ids[1]
  assert.same({ "meta.json", "private_key.json", "regr.json" }, sys.listdir(root .. "/" .. id))
  assert.equal(id, certbot_account_id(root .. "/" .. id .. "/private_key.json"))
  st.account = st.account or id
  assert.equal(st.account, id) -- never replaced by a second registration
  for name, conf in pairs(confs) do
    assert.equal(id, conf.renewalparams.account, name)
  end
  return id, cjson.decode(proc.read(root .. "/" .. id .. "/private_key.json"))
end

-- Every renewal conf, as configobj reads it, keeps the settings the
-- creating client stored.
local function check_confs(st, names)
  local cb, h = st.cb, st.hooks
  local confs = {}
  for _, name in ipairs(names) do
    local c = read_conf(st, name)
    confs[name] = c
    local rp = assert(c.renewalparams, name .. ": no [renewalparams]")
    assert.equal(cb.srv.directory, rp.server)
    assert.equal(cb.config_dir .. "/live/" .. name .. "/cert.pem", c.cert)
    assert.equal(cb.config_dir .. "/archive/" .. name, c.archive_dir)
    assert.is_string(c.version)
  end
  local wr = confs["a-wr.example.org"].renewalparams
  assert.equal("webroot", wr.authenticator)
  assert.same({ ["a-wr.example.org"] = st.www, ["www.a-wr.example.org"] = st.www2 }, wr.webroot_map)
  assert.equal(h.deploy_wr, wr.renew_hook)
  assert.equal("ecdsa", wr.key_type)
  local sa = confs["b-sa.example.org"].renewalparams
  assert.equal("standalone", sa.authenticator)
  assert.equal("rsa", sa.key_type)
  assert.equal("3072", sa.rsa_key_size)
  assert.equal("5002", sa.http01_port)
  assert.equal("127.0.0.1", sa.http01_address)
  assert.same({ "http-01" }, sa.pref_challs)
  assert.equal(h.pre, sa.pre_hook)
  assert.equal(h.post, sa.post_hook)
  assert.equal(h.deploy_sa, sa.renew_hook)
  local ec = confs["c-ec.example.org"].renewalparams
  assert.equal("ecdsa", ec.key_type)
  assert.equal("secp384r1", ec.elliptic_curve)
  assert.equal("True", ec.reuse_key)
  assert.equal(h.pre, ec.pre_hook)
  assert.equal(h.post, ec.post_hook)
  assert.equal(h.deploy_ec, ec.renew_hook)
  if confs["d-new.example.org"] then
    assert.equal("standalone", confs["d-new.example.org"].renewalparams.authenticator)
  end
  return confs
end

-- `certificates` of one client: every lineage with its names, key type,
-- serial and expiry as openssl reads them.  -> stdout
local function check_listing(st, who, names)
  local cb = st.cb
  local out, err = ok_run(st, who, { "certificates" })
  assert.falsy(out:find("invalid", 1, true), out)
  assert.falsy(err:find("parse", 1, true) or err:find("broken", 1, true), err)
  local seen = {}
  local blocks = {}
  for block in out:gsub("\n  Certificate Name: ", "\0"):gmatch("%z([^%z]*)") do blocks[#blocks + 1] = block end
  for _, block in ipairs(blocks) do
    local name = block:match("^(%S+)")
    seen[#seen + 1] = name
    local facts = cert_facts(cb:live(name).cert)
    local spec = LINEAGES[name]
    assert.equal(facts.serial, block:match("Serial Number: (%x+)"), who .. " " .. name)
    assert.equal(spec.key_type, block:match("Key Type: (%S+)"), who .. " " .. name)
    assert.same(spec.names, sorted((function()
      local t = {}
      for d in block:match("Domains: ([^\n]*)"):gmatch("%S+") do t[#t + 1] = d end
      return t
    end)()), who .. " " .. name)
    local date, days = block:match("Expiry Date: (%d+%-%d+%-%d+ %d+:%d+:%d+)%+00:00 %(VALID: (%d+) days%)")
    assert.equal(facts.not_after, date, who .. " " .. name .. ": " .. block)
    local na = tonumber(openssl(("date -u -d %s +%%s"):format(q(facts.not_after .. "Z"))))
    assert.near((na - os.time()) / 86400, tonumber(days), 1)
    assert.matches("Certificate Path: " .. cb.config_dir .. "/live/" .. name .. "/fullchain.pem", block, 1, true)
    assert.matches("Private Key Path: " .. cb.config_dir .. "/live/" .. name .. "/privkey.pem", block, 1, true)
  end
  assert.same(sorted(names), sorted(seen))
  return out
end

-- Both clients list the same lineages, in the same words.
local function check_both_list(st, names)
  local a = check_listing(st, "debian", names)
  local b = check_listing(st, "ours", names)
  local function norm(s) return (s:gsub("VALID: %d+ days", "VALID: N days")) end
  assert.equal(norm(a), norm(b))
end

local function lines_of(path)
  local t = {}
  for l in (proc.read(path) or ""):gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

-- renew --force-renewal, the command line a timer runs, with either
-- binary.  The webserver is up for the webroot lineage (renewed first);
-- the standalone lineages' pre-hook stops it.
local function renew_all(st, who, names)
  os.remove(st.probe)
  web_start(st)
  local ok, code, out, err = pcall(run, st, who, { "renew", "--force-renewal", "--no-random-sleep-on-renew" })
  web_stop(st)
  assert(ok, code)
  assert.equal(0, code, WHO[who] .. " renew:\n" .. out .. err)
  assert.matches("Congratulations, all renewals succeeded:", out, 1, true)
  for _, name in ipairs(names) do
    assert.matches(st.cb.config_dir .. "/live/" .. name .. "/fullchain.pem (success)", out, 1, true)
  end
  local r, p = err:match("(%d+) renew failure%(s%), (%d+) parse failure%(s%)")
  if r then assert.same({ "0", "0" }, { r, p }, err) end
  assert.falsy(err:find("parsefail", 1, true), err)
  assert.falsy(err:find("is broken", 1, true), err)
  local h = st.cb.config_dir
  assert.same({
    "deploy-wr a-wr.example.org www.a-wr.example.org",
    "pre",
    "deploy-sa " .. h .. "/live/b-sa.example.org # x",
    "deploy-ec c-ec.example.org #1",
    "post, done",
  }, lines_of(st.probe))
  return out, err
end

---------------------------------------------------------------------------
-- The two directions
---------------------------------------------------------------------------

local THREE = { "a-wr.example.org", "b-sa.example.org", "c-ec.example.org" }
local FOUR = { "a-wr.example.org", "b-sa.example.org", "c-ec.example.org", "d-new.example.org" }

local function scenario(first, second)
  describe(("%s's account and lineages, renewed by %s and back #integration")
    :format(WHO[first], WHO[second]), function()
    local srv, st

    setup(function()
      -- no reuse of valid authorizations: every renewal really validates.
      -- No rejected nonces: Certbot 2.1.0 retries a badNonce only once, and
      -- two in a row (Pebble rejects 5% by default) fail its whole run.
      srv = pebble.start({ ports = "auto", env = { PEBBLE_AUTHZREUSE = "0", PEBBLE_WFE_NONCEREJECT = "0" } })
      local cb = helper.new(srv)
      st = { cb = cb, www = cb.dir .. "/www", www2 = cb.dir .. "/www2", probe = cb.dir .. "/probe",
        pidfile = cb.dir .. "/web.pid", marker = "marker-" .. math.random(1 << 30) }
      assert(sys.mkdir(st.www, 493))
      -- a second webroot that is the same directory: two paths in the
      -- webroot_map, one webserver
      assert(sys.symlink_swap("www", st.www2))
      assert(sys.write_atomic(st.www .. "/" .. st.marker, "x", 420))
      -- the pre-hook's program: stop the webserver by the PID the spec
      -- wrote, and wait until it is gone
      st.stop_web = cb.dir .. "/stop-web"
      assert(sys.write_atomic(st.stop_web, "#!/bin/sh\np=$(cat \"$1\" 2>/dev/null) || exit 0\n"
        .. "kill \"$p\" 2>/dev/null || exit 0\n"
        .. "while grep -qs '^State:[[:space:]]*[^Z]' \"/proc/$p/status\"; do sleep 0.1; done\n", 493))
      st.hooks = hooks_for(st)
    end)
    teardown(function()
      if st then
        web_stop(st)
        st.cb:cleanup()
      end
      if srv then srv.stop() end
    end)

    it("1. " .. WHO[first] .. " registers an account and creates webroot, RSA and ECDSA lineages with hooks",
      function()
        create_lineages(st, first)
        check_lineages(st, { ["a-wr.example.org"] = 1, ["b-sa.example.org"] = 1, ["c-ec.example.org"] = 1 })
        local _, jwk = check_account(st, check_confs(st, THREE))
        -- Certbot 2.1.0 registers RSA account keys; ours are EC P-256,
        -- which it loads and signs with (ES256) from step 3 on
        assert.equal(first == "ours" and "EC" or "RSA", jwk.kty)
        if first == "ours" then assert.equal("P-256", jwk.crv) end
      end)

    it("2. both list them alike", function()
      check_both_list(st, THREE)
    end)

    it("3. " .. WHO[second] .. " renews them all with their stored settings and hooks, on the same account",
      function()
        renew_all(st, second, THREE)
        check_lineages(st, { ["a-wr.example.org"] = 2, ["b-sa.example.org"] = 2, ["c-ec.example.org"] = 2 })
        check_account(st, check_confs(st, THREE))
        check_both_list(st, THREE)
      end)

    it("4. " .. WHO[second] .. " issues a new lineage with that account", function()
      ok_run(st, second, account_args(st, standalone({ "-d", "d-new.example.org" })))
      check_lineages(st, { ["a-wr.example.org"] = 2, ["b-sa.example.org"] = 2, ["c-ec.example.org"] = 2,
        ["d-new.example.org"] = 1 })
      check_account(st, check_confs(st, FOUR))
    end)

    it("5. " .. WHO[first] .. " lists and renews everything " .. WHO[second] .. " wrote", function()
      check_both_list(st, FOUR)
      renew_all(st, first, FOUR)
      check_lineages(st, { ["a-wr.example.org"] = 3, ["b-sa.example.org"] = 3, ["c-ec.example.org"] = 3,
        ["d-new.example.org"] = 2 })
      check_account(st, check_confs(st, FOUR))
      check_both_list(st, FOUR)
    end)

    it("6. a plain renew by either finds nothing due and changes nothing", function()
      for _, who in ipairs({ first, second }) do
        os.remove(st.probe)
        local out, err = ok_run(st, who, { "renew", "--no-random-sleep-on-renew" })
        assert.matches("No renewals were attempted.", out, 1, true)
        for _, name in ipairs(FOUR) do
          local path = (st.cb.config_dir .. "/live/" .. name .. "/fullchain.pem"):gsub("%p", "%%%0")
          assert.matches(path .. " expires on %d+%-%d+%-%d+ %(skipped%)", out)
        end
        assert.falsy(err:find("parse", 1, true), err)
        assert.is_nil(proc.read(st.probe))
      end
      check_lineages(st, { ["a-wr.example.org"] = 3, ["b-sa.example.org"] = 3, ["c-ec.example.org"] = 3,
        ["d-new.example.org"] = 2 })
    end)
  end)
end

scenario("debian", "ours")
scenario("ours", "debian")
