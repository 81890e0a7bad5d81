-- certonly against a real Pebble: every authenticator, key types, names,
-- re-issuing, --csr, --dry-run, hooks, and the failure paths.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local sys = require("certbot.core").sys
local crypto = require("certbot.core").crypto

local sh, q = helper.sh, proc.quote

local function pubkey_of(path, what)
  local flags = what == "pkey" and "-pubout" or "-pubkey -noout"
  local _, out = sh(("openssl %s -in %s %s"):format(what, q(path), flags))
  return out
end

local function listing(dir)
  return sys.listdir(dir) or {}
end

-- A plain HTTP server (python3) serving `root` on 127.0.0.1:5002, where
-- Pebble looks for http-01 answers: the webserver the webroot plugin feeds.
local function start_webserver(root)
  local pid = proc.spawn({ "python3", "-m", "http.server", "--bind", "127.0.0.1",
    "--directory", root, "5002" })
  assert(proc.wait_until(function()
    return sh("curl -s -o /dev/null http://127.0.0.1:5002/") == 0
  end, 10), "python3 http.server did not start")
  return pid
end

describe("certonly against Pebble #integration", function()
  local srv, cb

  setup(function()
    srv = pebble.start({ ports = "auto" })
  end)
  teardown(function()
    if srv then srv.stop() end
  end)
  before_each(function() cb = helper.new(srv) end)
  after_each(function() cb:cleanup() end)

  it("issues with --standalone in Certbot's layout, with a chain that verifies", function()
    local code, out, err = cb:run({ "certonly", "--standalone", "--http-01-port", "5002",
      "-d", "a.example.org", "-d", "www.a.example.org" })
    assert.equal(0, code, out .. err)
    assert.matches("Successfully received certificate", out)
    assert.matches("live/a.example.org/fullchain.pem", out, 1, true)
    local p = cb:live("a.example.org")
    for _, k in ipairs({ "cert", "chain", "fullchain", "privkey" }) do
      assert.equal(("../../archive/a.example.org/%s1.pem"):format(k), sys.readlink(p[k]))
    end
    assert.equal(cb:read("live/a.example.org/cert.pem") .. cb:read("live/a.example.org/chain.pem"),
      cb:read("live/a.example.org/fullchain.pem"))
    assert.equal(384, sys.stat(cb.config_dir .. "/archive/a.example.org/privkey1.pem").mode)
    assert.equal(448, sys.stat(cb.config_dir .. "/archive/a.example.org").mode)
    assert.equal(pubkey_of(p.cert, "x509"), pubkey_of(p.privkey, "pkey"))
    local vcode, vout = helper.verify_chain(cb, "a.example.org")
    assert.equal(0, vcode, vout)
    local _, text = sh("openssl x509 -noout -text -in " .. q(p.cert))
    assert.matches("DNS:a.example.org", text, 1, true)
    assert.matches("DNS:www.a.example.org", text, 1, true)
    assert.matches("id-ecPublicKey", text, 1, true) -- ECDSA P-256 by default
    assert.matches("prime256v1", text, 1, true)
    local conf = cb:read("renewal/a.example.org.conf")
    assert.matches("\n%[renewalparams%]\n", conf)
    assert.matches("\nauthenticator = standalone\n", conf, 1, true)
    assert.matches("\nserver = " .. srv.directory .. "\n", conf, 1, true)
    assert.matches("\nkey_type = ecdsa\n", conf, 1, true)
    assert.matches("\nhttp01_port = 5002\n", conf, 1, true)
    assert.matches("\narchive_dir = " .. cb.config_dir .. "/archive/a.example.org\n", conf, 1, true)
    -- the account, in Certbot's layout, key readable by its owner only
    local acct_root = cb.config_dir .. "/accounts/127.0.0.1:" .. srv.ports.acme .. "/dir"
    local ids = listing(acct_root)
    assert.equal(1, #ids)
    local files = listing(acct_root .. "/" .. ids[1])
    assert.same({ "meta.json", "private_key.json", "regr.json" }, files)
    assert.equal(256, sys.stat(acct_root .. "/" .. ids[1] .. "/private_key.json").mode)
    -- the hook directories exist
    for _, d in ipairs({ "pre", "deploy", "post" }) do
      assert.equal("directory", sys.stat(cb.config_dir .. "/renewal-hooks/" .. d).type)
    end
  end)

  for _, case in ipairs({
    { args = { "--key-type", "rsa" }, text = "Private%-Key: %(2048 bit", conf = "key_type = rsa" },
    { args = { "--key-type", "rsa", "--rsa-key-size", "3072" }, text = "Private%-Key: %(3072 bit",
      conf = "rsa_key_size = 3072" },
    { args = { "--key-type", "ecdsa", "--elliptic-curve", "secp384r1" }, text = "secp384r1",
      conf = "elliptic_curve = secp384r1" },
    { args = { "--elliptic-curve", "secp521r1" }, text = "secp521r1", conf = "elliptic_curve = secp521r1" },
  }) do
    it("issues with " .. table.concat(case.args, " "), function()
      local args = { "certonly", "--standalone", "--http-01-port", "5002", "-d", "k.example.org" }
      for _, a in ipairs(case.args) do args[#args + 1] = a end
      local code, out, err = cb:run(args)
      assert.equal(0, code, out .. err)
      local _, text = sh("openssl pkey -noout -text -in " .. q(cb:live("k.example.org").privkey))
      assert.matches(case.text, text)
      assert.matches(case.conf, cb:read("renewal/k.example.org.conf"), 1, true)
      assert.equal(0, (helper.verify_chain(cb, "k.example.org")))
    end)
  end

  it("issues with --webroot through a real web server and removes the challenge files", function()
    local root = cb.dir .. "/www"
    assert(sys.mkdir(root, 493))
    local pid = start_webserver(root)
    local code, out, err = cb:run({ "certonly", "--webroot", "-w", root, "-d", "w.example.org" })
    proc.stop(pid)
    assert.equal(0, code, out .. err)
    assert.equal(0, (helper.verify_chain(cb, "w.example.org")))
    -- what the plugin created is gone again
    assert.same({}, listing(root))
    assert.matches("\nauthenticator = webroot\n", cb:read("renewal/w.example.org.conf"), 1, true)
    assert.matches("%[%[webroot_map%]%]\nw.example.org = " .. root:gsub("%p", "%%%0"),
      cb:read("renewal/w.example.org.conf"))
  end)

  it("refuses --webroot without a webroot, before any order is placed", function()
    local code, _, err = cb:run({ "certonly", "--webroot", "-d", "nw.example.org" })
    assert.equal(1, code)
    assert.matches("--webroot-path", err, 1, true)
    assert.is_false(cb:exists("renewal/nw.example.org.conf"))
  end)

  it("issues with --manual and hooks (http-01), passing values only in the environment", function()
    local root = cb.dir .. "/www"
    assert(sys.mkdir(root .. "/.well-known/acme-challenge", 493, true))
    local pid = start_webserver(root)
    local log = cb.dir .. "/hook.log"
    local auth = ('printf %%s "$CERTBOT_VALIDATION" > %s/.well-known/acme-challenge/"$CERTBOT_TOKEN"; '
      .. 'echo "auth $CERTBOT_DOMAIN $CERTBOT_REMAINING_CHALLENGES $CERTBOT_ALL_DOMAINS" >> %s; '
      .. 'echo OUT-$CERTBOT_DOMAIN')
      :format(q(root), q(log))
    local cleanup = ('rm -f %s/.well-known/acme-challenge/"$CERTBOT_TOKEN"; '
      .. 'echo "cleanup $CERTBOT_DOMAIN $CERTBOT_AUTH_OUTPUT" >> %s'):format(q(root), q(log))
    local code, out, err = cb:run({ "certonly", "--manual", "--preferred-challenges", "http",
      "--manual-auth-hook", auth, "--manual-cleanup-hook", cleanup,
      "-d", "m1.example.org", "-d", "m2.example.org" })
    proc.stop(pid)
    assert.equal(0, code, out .. err)
    local hooklog = proc.read(log)
    assert.matches("auth m1.example.org 1 m1.example.org,m2.example.org\n", hooklog, 1, true)
    assert.matches("auth m2.example.org 0 m1.example.org,m2.example.org\n", hooklog, 1, true)
    assert.matches("cleanup m1.example.org OUT-m1.example.org\n", hooklog, 1, true)
    assert.matches("cleanup m2.example.org OUT-m2.example.org\n", hooklog, 1, true)
    assert.same({}, listing(root .. "/.well-known/acme-challenge"))
    assert.equal(0, (helper.verify_chain(cb, "m1.example.org")))
  end)

  it("issues a wildcard with --manual dns-01 hooks that set the TXT record", function()
    local hook = ("curl -s -X POST -d \"{\\\"host\\\":\\\"_acme-challenge.$CERTBOT_DOMAIN.\\\","
      .. "\\\"value\\\":\\\"$CERTBOT_VALIDATION\\\"}\" %s/set-txt"):format(srv.challtestsrv)
    local clean = ("curl -s -X POST -d \"{\\\"host\\\":\\\"_acme-challenge.$CERTBOT_DOMAIN.\\\"}\" "
      .. "%s/clear-txt"):format(srv.challtestsrv)
    local code, out, err = cb:run({ "certonly", "--manual", "--preferred-challenges", "dns",
      "--manual-auth-hook", hook, "--manual-cleanup-hook", clean, "-d", "*.wild.example.org" })
    assert.equal(0, code, out .. err)
    local _, text = sh("openssl x509 -noout -text -in " .. q(cb:live("wild.example.org").cert))
    assert.matches("DNS:*.wild.example.org", text, 1, true)
  end)

  it("refuses a wildcard with an http-01 authenticator before any order", function()
    local code, _, err = cb:run({ "certonly", "--standalone", "-d", "*.x.example.org" })
    assert.equal(1, code)
    assert.matches("dns-01", err, 1, true)
    assert.is_false(cb:exists("live/x.example.org"))
  end)

  it("reports the CA's error and leaves no lineage when a manual hook does nothing", function()
    local code, out, err = cb:run({ "certonly", "--manual", "--preferred-challenges", "dns",
      "--manual-auth-hook", "true", "-d", "nothing.example.org" })
    assert.equal(1, code, out .. err)
    assert.matches("Domain: nothing.example.org", err, 1, true)
    assert.matches("Type:   unauthorized", err, 1, true)
    assert.matches("Some challenges have failed.", err, 1, true)
    assert.is_false(cb:exists("live/nothing.example.org"))
    assert.is_false(cb:exists("archive/nothing.example.org"))
    assert.is_false(cb:exists("renewal/nothing.example.org.conf"))
  end)

  it("under -n without an auth hook, --manual fails with Certbot's message", function()
    local code, _, err = cb:run({ "certonly", "--manual", "-d", "nohook.example.org" })
    assert.equal(1, code)
    assert.matches("--manual-auth-hook", err, 1, true)
  end)

  it("names lineages: --cert-name, then -0001 for a duplicate", function()
    local base = { "certonly", "--standalone", "--http-01-port", "5002" }
    local function run(extra)
      local args = {}
      for _, a in ipairs(base) do args[#args + 1] = a end
      for _, a in ipairs(extra) do args[#args + 1] = a end
      local code, out, err = cb:run(args)
      assert.equal(0, code, out .. err)
      return out
    end
    run({ "-d", "n.example.org", "--cert-name", "mycert" })
    assert.is_true(cb:exists("live/mycert/cert.pem"))
    run({ "-d", "n.example.org", "--duplicate" })
    assert.is_true(cb:exists("live/n.example.org/cert.pem"))
    run({ "-d", "n.example.org", "--duplicate" })
    assert.is_true(cb:exists("live/n.example.org-0001/cert.pem"))
    -- the same names again, not due: nothing happens
    local out = run({ "-d", "n.example.org", "--cert-name", "mycert" })
    assert.matches("not yet due", out)
    assert.same({ "cert1.pem", "chain1.pem", "fullchain1.pem", "privkey1.pem" },
      listing(cb.config_dir .. "/archive/mycert"))
  end)

  it("re-issues: --force-renewal, --expand, --reuse-key keeps the key, --new-key changes it", function()
    local base = { "certonly", "--standalone", "--http-01-port", "5002" }
    local function run(extra)
      local args = {}
      for _, a in ipairs(base) do args[#args + 1] = a end
      for _, a in ipairs(extra) do args[#args + 1] = a end
      local code, out, err = cb:run(args)
      assert.equal(0, code, out .. err)
    end
    local live = cb:live("r.example.org")
    run({ "-d", "r.example.org", "--reuse-key" })
    local key1 = proc.read(live.privkey)
    run({ "-d", "r.example.org", "--force-renewal" }) -- reuse_key stored: same key
    assert.equal("../../archive/r.example.org/cert2.pem", sys.readlink(live.cert))
    assert.equal(key1, proc.read(live.privkey))
    run({ "-d", "r.example.org", "--force-renewal", "--new-key" })
    assert.equal("../../archive/r.example.org/privkey3.pem", sys.readlink(live.privkey))
    assert.not_equal(key1, proc.read(live.privkey))
    assert.equal(pubkey_of(live.cert, "x509"), pubkey_of(live.privkey, "pkey"))
    -- a superset of names needs --expand under -n
    local code, _, err = cb:run({ "certonly", "--standalone", "--http-01-port", "5002",
      "-d", "r.example.org", "-d", "r2.example.org" })
    assert.equal(1, code)
    assert.matches("--expand", err, 1, true)
    run({ "-d", "r.example.org", "-d", "r2.example.org", "--expand" })
    assert.equal("../../archive/r.example.org/cert4.pem", sys.readlink(live.cert))
    local _, text = sh("openssl x509 -noout -text -in " .. q(live.cert))
    assert.matches("DNS:r2.example.org", text, 1, true)
    assert.equal(0, (helper.verify_chain(cb, "r.example.org")))
  end)

  it("refuses to change a lineage's key type without --cert-name", function()
    local args = { "certonly", "--standalone", "--http-01-port", "5002", "-d", "t.example.org" }
    local code, out, err = cb:run(args)
    assert.equal(0, code, out .. err)
    args[#args + 1] = "--key-type"
    args[#args + 1] = "rsa"
    args[#args + 1] = "--force-renewal"
    local _
    code, _, err = cb:run(args)
    assert.equal(1, code)
    assert.matches("--cert-name", err, 1, true)
    args[#args + 1] = "--cert-name"
    args[#args + 1] = "t.example.org"
    code, out, err = cb:run(args)
    assert.equal(0, code, out .. err)
    local _, text = sh("openssl pkey -noout -text -in " .. q(cb:live("t.example.org").privkey))
    assert.matches("Private%-Key: %(2048 bit", text)
  end)

  it("--dry-run validates for real and saves no lineage", function()
    local code, out, err = cb:run({ "certonly", "--dry-run", "--standalone", "--http-01-port", "5002",
      "-d", "dry.example.org" })
    assert.equal(0, code, out .. err)
    assert.matches("The dry run was successful.", out, 1, true)
    assert.same({}, listing(cb.config_dir .. "/live"))
    assert.same({}, listing(cb.config_dir .. "/archive"))
    assert.same({}, listing(cb.config_dir .. "/renewal"))
  end)

  it("issues for a CSR in PEM and in DER, writing to the given paths", function()
    local key = cb.dir .. "/csr.key"
    local pem = cb.dir .. "/req.pem"
    local der = cb.dir .. "/req.der"
    assert.equal(0, (sh(("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s "
      .. "-out %s -subj /CN=csr.example.org -addext subjectAltName=DNS:csr.example.org,DNS:csr2.example.org")
      :format(q(key), q(pem)))))
    assert.equal(0, (sh(("openssl req -in %s -outform DER -out %s"):format(q(pem), q(der)))))
    for i, csr in ipairs({ pem, der }) do
      local out_dir = cb.dir .. "/out" .. i
      local code, out, err = cb:run({ "certonly", "--standalone", "--http-01-port", "5002", "--csr", csr,
        "--cert-path", out_dir .. "/cert.pem", "--chain-path", out_dir .. "/chain.pem",
        "--fullchain-path", out_dir .. "/full/fullchain.pem" })
      assert.equal(0, code, out .. err)
      assert.equal(pubkey_of(out_dir .. "/cert.pem", "x509"), pubkey_of(key, "pkey"))
      assert.equal(proc.read(out_dir .. "/cert.pem") .. proc.read(out_dir .. "/chain.pem"),
        proc.read(out_dir .. "/full/fullchain.pem"))
      local _, text = sh("openssl x509 -noout -text -in " .. q(out_dir .. "/cert.pem"))
      assert.matches("DNS:csr2.example.org", text, 1, true)
    end
    assert.same({}, listing(cb.config_dir .. "/live"))
  end)

  it("runs pre, deploy and post hooks around certonly with the lineage in the environment", function()
    local log = cb.dir .. "/hooks.log"
    local code, out, err = cb:run({ "certonly", "--standalone", "--http-01-port", "5002",
      "-d", "h.example.org", "-d", "h2.example.org",
      "--pre-hook", "echo pre >> " .. q(log),
      "--deploy-hook", 'echo "deploy $RENEWED_LINEAGE $RENEWED_DOMAINS" >> ' .. q(log),
      "--post-hook", "echo post >> " .. q(log) })
    assert.equal(0, code, out .. err)
    assert.equal(("pre\ndeploy %s/live/h.example.org h.example.org h2.example.org\npost\n")
      :format(cb.config_dir), proc.read(log))
    local conf = cb:read("renewal/h.example.org.conf")
    -- quoted as configobj quotes them, so Certbot reads back the same text
    assert.matches('\npre_hook = "echo pre >> \'', conf, 1, true)
    assert.matches("\nrenew_hook = '''echo \"deploy $RENEWED_LINEAGE", conf, 1, true)
    assert.matches('\npost_hook = "echo post >> \'', conf, 1, true)
  end)

  it("run with --standalone and the null installer obtains and installs nothing", function()
    local code, out, err = cb:run({ "run", "--standalone", "--http-01-port", "5002", "-i", "null",
      "-d", "run.example.org" })
    assert.equal(0, code, out .. err)
    assert.is_true(cb:exists("live/run.example.org/fullchain.pem"))
    assert.matches("\ninstaller = null\n", cb:read("renewal/run.example.org.conf"), 1, true)
  end)

  it("rejects bad names before any network request", function()
    for _, bad in ipairs({ "a..b.example.org", "http://x.example.org", "*.*.example.org",
      string.rep("a", 64) .. ".example.org", "bücher.example" }) do
      local code, _, err = cb:run({ "certonly", "--standalone", "-d", bad }, { no_account_flags = true })
      assert.equal(1, code, bad)
      assert.is_truthy(err:find(bad, 1, true) or err:find("Punycode", 1, true), err)
    end
    -- nothing was registered: no request reached the CA
    assert.same({}, listing(cb.config_dir .. "/accounts"))
  end)

  it("fails cleanly when the standalone port is taken", function()
    local pid = proc.spawn({ "python3", "-m", "http.server", "--bind", "127.0.0.1", "5002" })
    proc.wait_until(function() return sh("curl -s -o /dev/null http://127.0.0.1:5002/") == 0 end, 10)
    local code, _, err = cb:run({ "certonly", "--standalone", "--http-01-port", "5002",
      "--http-01-address", "127.0.0.1", "-d", "busy.example.org" })
    proc.stop(pid)
    assert.equal(1, code)
    assert.matches("127.0.0.1:5002", err, 1, true)
    assert.is_false(cb:exists("live/busy.example.org"))
  end)

  it("registers with `register` once, and refuses a duplicate", function()
    local code, out, err = cb:run({ "register" })
    assert.equal(0, code, out .. err)
    assert.matches("Account registered", out)
    code = cb:run({ "register" })
    assert.equal(1, code)
  end)

  it("needs --agree-tos under -n", function()
    local code, _, err = cb:run({ "register", "-m", "x@example.org" }, { no_account_flags = true })
    assert.equal(1, code)
    assert.matches("--agree-tos", err, 1, true)
  end)
end)

describe("certonly against a hostile-nonce Pebble #integration", function()
  it("still issues when Pebble rejects half the nonces", function()
    local srv = pebble.start({ ports = "auto", env = { PEBBLE_WFE_NONCEREJECT = "50" } })
    local cb = helper.new(srv)
    local ok, err = pcall(function()
      local code, out, e = cb:run({ "certonly", "--standalone", "--http-01-port", "5002", "-d", "nonce.example.org" })
      assert.equal(0, code, out .. e)
      assert.equal(0, (helper.verify_chain(cb, "nonce.example.org")))
    end)
    cb:cleanup()
    srv.stop()
    assert(ok, err)
  end)
end)

describe("certonly with alternate chains #integration", function()
  it("picks the chain named by --preferred-chain, else the default", function()
    local srv = pebble.start({ ports = "auto", env = { PEBBLE_ALTERNATE_ROOTS = "2" } })
    local cb = helper.new(srv)
    local ok, err = pcall(function()
      local root1 = crypto.parse_cert(srv.root_pem(1))
      local code, out, e = cb:run({ "certonly", "--standalone", "--http-01-port", "5002",
        "-d", "alt.example.org", "--preferred-chain", root1.cn })
      assert.equal(0, code, out .. e)
      local chain = crypto.split_pem(cb:read("live/alt.example.org/chain.pem"))
      assert.equal(root1.cn, crypto.parse_cert(chain[#chain]).issuer_cn)
      code, out, e = cb:run({ "certonly", "--standalone", "--http-01-port", "5002",
        "-d", "alt2.example.org", "--preferred-chain", "No Such Root" })
      assert.equal(0, code, out .. e)
      local root0 = crypto.parse_cert(srv.root_pem(0))
      chain = crypto.split_pem(cb:read("live/alt2.example.org/chain.pem"))
      assert.equal(root0.cn, crypto.parse_cert(chain[#chain]).issuer_cn)
    end)
    cb:cleanup()
    srv.stop()
    assert(ok, err)
  end)
end)

describe("External Account Binding #integration", function()
  it("registers with --eab-kid/--eab-hmac-key when Pebble requires it", function()
    local hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
    local srv = pebble.start({ ports = "auto", config = {
      externalAccountBindingRequired = true,
      externalAccountMACKeys = { kid1 = hmac },
    } })
    local cb = helper.new(srv)
    local ok, err = pcall(function()
      local code, _, e = cb:run({ "register" })
      assert.equal(1, code)
      assert.matches("--eab-kid", e, 1, true)
      local out
      code, out, e = cb:run({ "register", "--eab-kid", "kid1", "--eab-hmac-key", hmac })
      assert.equal(0, code, out .. e)
      code, out, e = cb:run({ "certonly", "--standalone", "--http-01-port", "5002", "-d", "eab.example.org" })
      assert.equal(0, code, out .. e)
    end)
    cb:cleanup()
    srv.stop()
    assert(ok, err)
  end)
end)
