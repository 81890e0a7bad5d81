-- renew against a real Pebble: due rules with short-lived certificates,
-- stored settings repeated, overrides saved, hooks, broken confs, failures,
-- dry runs, recovery after an interrupted run, and locks.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local sys = require("certbot.core").sys

local q = proc.quote

local function version(cb, name)
  local t = sys.readlink(cb.config_dir .. "/live/" .. name .. "/cert.pem")
  return tonumber(t and t:match("cert(%d+)%.pem$"))
end

local function lines_of(path)
  local t = {}
  for l in (proc.read(path) or ""):gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

describe("renew against Pebble #integration", function()
  local srv, cb

  -- no reuse of valid authorizations: every renewal really validates
  setup(function() srv = pebble.start({ ports = "auto", env = { PEBBLE_AUTHZREUSE = "0" } }) end)
  teardown(function() if srv then srv.stop() end end)
  before_each(function() cb = helper.new(srv) end)
  after_each(function() cb:cleanup() end)

  it("does nothing when nothing is due, and says so", function()
    cb:issue("nd.example.org")
    local code, out, err = cb:run({ "renew" })
    assert.equal(0, code, out .. err)
    assert.matches("The following certificates are not due for renewal yet:", out, 1, true)
    assert.matches("live/nd.example.org/fullchain.pem expires on %d+%-%d+%-%d+ %(skipped%)", out)
    assert.matches("No renewals were attempted.", out, 1, true)
    assert.equal(1, version(cb, "nd.example.org"))
  end)

  it("repeats the stored authenticator and settings, and saves command-line overrides", function()
    cb:issue("st.example.org", { "--key-type", "rsa" })
    local code, out, err = cb:run({ "renew", "--force-renewal", "--rsa-key-size", "3072" })
    assert.equal(0, code, out .. err)
    assert.matches("Congratulations, all renewals succeeded:", out, 1, true)
    assert.matches("live/st.example.org/fullchain.pem (success)", out, 1, true)
    assert.equal(2, version(cb, "st.example.org"))
    local _, text = helper.sh("openssl pkey -noout -text -in " .. q(cb:live("st.example.org").privkey))
    assert.matches("Private%-Key: %(3072 bit", text)
    local conf = cb:read("renewal/st.example.org.conf")
    assert.matches("\nrsa_key_size = 3072\n", conf, 1, true)
    assert.matches("\nkey_type = rsa\n", conf, 1, true)
    assert.matches("\nhttp01_port = 5002\n", conf, 1, true)
    assert.equal(0, (helper.verify_chain(cb, "st.example.org")))
  end)

  it("renews through the stored webroot", function()
    local root = cb.dir .. "/www"
    assert(sys.mkdir(root, 493))
    local pid = proc.spawn({ "python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", root, "5002" })
    proc.wait_until(function() return helper.sh("curl -s -o /dev/null http://127.0.0.1:5002/") == 0 end, 10)
    local ok, e = pcall(function()
      local code, out, err = cb:run({ "certonly", "--webroot", "-w", root, "-d", "wr.example.org" })
      assert.equal(0, code, out .. err)
      code, out, err = cb:run({ "renew", "--force-renewal" })
      assert.equal(0, code, out .. err)
      assert.equal(2, version(cb, "wr.example.org"))
    end)
    proc.stop(pid)
    assert(ok, e)
  end)

  it("honours renew_before_expiry in the renewal conf", function()
    cb:issue("rbe.example.org")
    local path = cb.config_dir .. "/renewal/rbe.example.org.conf"
    local conf = proc.read(path):gsub("# renew_before_expiry = 30 days\n", "renew_before_expiry = 100 years\n")
    assert(sys.write_atomic(path, conf, 420))
    local code, out, err = cb:run({ "renew" })
    assert.equal(0, code, out .. err)
    assert.equal(2, version(cb, "rbe.example.org"))
    -- the user's setting survives the rewrite of the conf
    assert.matches("renew_before_expiry = 100 years\n", cb:read("renewal/rbe.example.org.conf"), 1, true)
  end)

  it("runs pre and post hooks once and the deploy hook per renewed lineage", function()
    cb:issue("h1.example.org")
    cb:issue("h2.example.org")
    local log = cb.dir .. "/hooks.log"
    local deploy_dir = cb.config_dir .. "/renewal-hooks/deploy"
    assert(sys.write_atomic(deploy_dir .. "/10-a",
      "#!/bin/sh\necho \"dir-deploy $RENEWED_LINEAGE\" >> " .. q(log) .. "\n", 493))
    assert(sys.write_atomic(deploy_dir .. "/20-b~", "#!/bin/sh\necho backup >> " .. q(log) .. "\n", 493))
    assert(sys.write_atomic(deploy_dir .. "/30-c", "#!/bin/sh\necho noexec >> " .. q(log) .. "\n", 420))
    local code, out, err = cb:run({ "renew", "--force-renewal",
      "--pre-hook", "echo pre >> " .. q(log),
      "--deploy-hook", 'echo "deploy $RENEWED_DOMAINS" >> ' .. q(log),
      "--post-hook", 'echo "post $RENEWED_DOMAINS|$FAILED_DOMAINS" >> ' .. q(log) })
    assert.equal(0, code, out .. err)
    assert.same({
      "pre",
      "dir-deploy " .. cb.config_dir .. "/live/h1.example.org",
      "deploy h1.example.org",
      "dir-deploy " .. cb.config_dir .. "/live/h2.example.org",
      "deploy h2.example.org",
      "post h1.example.org h2.example.org|",
    }, lines_of(log))
    -- nothing due: no hooks at all
    os.remove(log)
    code = cb:run({ "renew", "--pre-hook", "echo pre >> " .. q(log) })
    assert.equal(0, code)
    assert.is_nil(proc.read(log))
    -- the hooks were stored; --no-directory-hooks leaves out renewal-hooks/
    code = cb:run({ "renew", "--force-renewal", "--cert-name", "h1.example.org", "--no-directory-hooks" })
    assert.equal(0, code)
    assert.same({ "pre", "deploy h1.example.org", "post h1.example.org|" }, lines_of(log))
  end)

  it("skips a broken renewal conf, renews the rest and reports both", function()
    cb:issue("good.example.org")
    assert(sys.write_atomic(cb.config_dir .. "/renewal/bad.conf", "this is [not a conf\n", 420))
    assert(sys.write_atomic(cb.config_dir .. "/renewal/half.conf",
      "version = 2.1.0\ncert = /nowhere/cert.pem\n[renewalparams]\nauthenticator = standalone\n", 420))
    local code, out, err = cb:run({ "renew", "--force-renewal" })
    assert.equal(1, code, out .. err)
    assert.equal(2, version(cb, "good.example.org"))
    assert.matches("renewal/bad.conf is broken", err, 1, true)
    assert.matches("renewal/half.conf is broken", err, 1, true)
    assert.matches("renewal/bad.conf (parsefail)", err, 1, true)
    local last = err:gsub("\n$", ""):match("[^\n]*$")
    assert.equal("0 renew failure(s), 2 parse failure(s)", last)
  end)

  it("keeps going when one lineage fails, and exits 1", function()
    cb:issue("ok.example.org")
    local code, out, err = cb:run({ "certonly", "--manual", "--preferred-challenges", "dns",
      "--manual-auth-hook", ("curl -s -X POST -d \"{\\\"host\\\":\\\"_acme-challenge.$CERTBOT_DOMAIN.\\\","
        .. "\\\"value\\\":\\\"$CERTBOT_VALIDATION\\\"}\" %s/set-txt"):format(srv.challtestsrv),
      "-d", "fail.example.org" })
    assert.equal(0, code, out .. err)
    -- the stored hook now fails, so this lineage cannot renew (whatever
    -- the CA's DNS still holds from the first issuance)
    local path = cb.config_dir .. "/renewal/fail.example.org.conf"
    local conf = proc.read(path):gsub("\nmanual_auth_hook = [^\n]*", "\nmanual_auth_hook = false")
    assert(sys.write_atomic(path, conf, 420))
    srv.clear_txt("_acme-challenge.fail.example.org")
    code, out, err = cb:run({ "renew", "--force-renewal" })
    assert.equal(1, code, out .. err)
    assert.equal(2, version(cb, "ok.example.org"))
    assert.equal(1, version(cb, "fail.example.org"))
    assert.matches("Failed to renew certificate fail.example.org", err, 1, true)
    assert.matches("live/fail.example.org/fullchain.pem (failure)", err, 1, true)
    assert.matches("1 renew failure(s), 0 parse failure(s)", err, 1, true)
  end)

  it("--dry-run renews nothing on disk", function()
    cb:issue("dry.example.org")
    local before = cb:read("renewal/dry.example.org.conf")
    local code, out, err = cb:run({ "renew", "--dry-run" })
    assert.equal(0, code, out .. err)
    assert.matches("Congratulations, all simulated renewals succeeded", out, 1, true)
    assert.equal(1, version(cb, "dry.example.org"))
    assert.same({ "cert1.pem", "chain1.pem", "fullchain1.pem", "privkey1.pem" },
      sys.listdir(cb.config_dir .. "/archive/dry.example.org"))
    assert.equal(before, cb:read("renewal/dry.example.org.conf"))
  end)

  it("finishes an interrupted renewal: live made consistent, deploy hook run exactly once", function()
    cb:issue("int.example.org")
    local arch = cb.config_dir .. "/archive/int.example.org/"
    -- a run killed after writing version 2 and moving one link of four
    for _, k in ipairs({ "cert", "chain", "fullchain", "privkey" }) do
      assert(sys.write_atomic(arch .. k .. "2.pem", proc.read(arch .. k .. "1.pem"), k == "privkey" and 384 or 420))
    end
    assert(sys.write_atomic(arch .. ".deploy-pending", "2\n", 420))
    assert(sys.symlink_swap("../../archive/int.example.org/cert2.pem",
      cb.config_dir .. "/live/int.example.org/cert.pem"))
    local log = cb.dir .. "/deploy.log"
    local conf_path = cb.config_dir .. "/renewal/int.example.org.conf"
    local conf = proc.read(conf_path):gsub("%[renewalparams%]\n",
      "[renewalparams]\nrenew_hook = \"echo deployed >> " .. log .. "\"\n")
    assert(sys.write_atomic(conf_path, conf, 420))
    local code, out, err = cb:run({ "renew" })
    assert.equal(0, code, out .. err)
    for _, k in ipairs({ "cert", "chain", "fullchain", "privkey" }) do
      assert.equal("../../archive/int.example.org/" .. k .. "2.pem",
        sys.readlink(cb.config_dir .. "/live/int.example.org/" .. k .. ".pem"))
    end
    assert.same({ "deployed" }, lines_of(log))
    code = cb:run({ "renew" })
    assert.equal(0, code)
    assert.same({ "deployed" }, lines_of(log))
  end)

  it("reconfigure proves new settings with a dry run and saves them without renewing", function()
    cb:issue("rc.example.org")
    local root = cb.dir .. "/www"
    assert(sys.mkdir(root, 493))
    local before = cb:read("renewal/rc.example.org.conf")
    -- a webroot nobody serves: the test renewal fails and nothing changes
    local code, out, err = cb:run({ "reconfigure", "--cert-name", "rc.example.org", "--webroot", "-w", root })
    assert.equal(1, code, out .. err)
    assert.matches("nothing was changed", err, 1, true)
    assert.equal(before, cb:read("renewal/rc.example.org.conf"))
    local pid = proc.spawn({ "python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", root, "5002" })
    proc.wait_until(function() return helper.sh("curl -s -o /dev/null http://127.0.0.1:5002/") == 0 end, 10)
    code, out, err = cb:run({ "reconfigure", "--cert-name", "rc.example.org", "--webroot", "-w", root,
      "--deploy-hook", "true" })
    proc.stop(pid)
    assert.equal(0, code, out .. err)
    local conf = cb:read("renewal/rc.example.org.conf")
    assert.matches("\nauthenticator = webroot\n", conf, 1, true)
    assert.matches("\nrenew_hook = true\n", conf, 1, true)
    assert.matches("%[%[webroot_map%]%]\nrc.example.org = ", conf)
    assert.equal(1, version(cb, "rc.example.org"))
  end)

  it("sleeps a random while before the first renewal of a non-interactive run", function()
    cb:issue("sleep.example.org")
    local log = cb.logs_dir .. "/letsencrypt.log"
    local code = cb:run({ "renew", "--force-renewal" })
    assert.equal(0, code)
    assert.is_nil(proc.read(log):find("random delay of", 1, true)) -- the spec cli.ini says no
    assert(sys.write_atomic(cb.cli_ini, "http-01-address = 127.0.0.1\n", 420))
    local out, err
    code, out, err = cb:run({ "renew", "--force-renewal" }, { env = { CERTBOT_TEST_SKIP_SLEEP = "1" } })
    assert.equal(0, code, out .. err)
    local delay = tonumber(proc.read(log):match("random delay of (%d+) seconds"))
    assert.is_truthy(delay and delay >= 1 and delay <= 480)
    -- nothing due: no delay
    code = cb:run({ "renew" }, { env = { CERTBOT_TEST_SKIP_SLEEP = "1" } })
    assert.equal(0, code)
    assert.is_nil(proc.read(log):find("random delay of", 1, true))
  end)

  it("--strict-permissions refuses a group-writable renewal dir", function()
    cb:issue("perm.example.org")
    assert(sys.chmod(cb.config_dir .. "/renewal", 509)) -- 0775
    local code, _, err = cb:run({ "renew", "--strict-permissions" })
    assert.equal(1, code)
    assert.matches(cb.config_dir .. "/renewal is writable by group or others", err, 1, true)
    code = cb:run({ "renew" })
    assert.equal(0, code)
  end)

  it("refuses to run while another process holds a lock, naming it", function()
    cb:issue("lock.example.org")
    local lock = cb.config_dir .. "/.certbot.lock"
    local script = ("import fcntl,time,sys\nf=open(%q,'a')\nfcntl.lockf(f,fcntl.LOCK_EX)\n"
      .. "open(%q,'w').write('x')\ntime.sleep(30)\n"):format(lock, cb.dir .. "/held")
    local pid = proc.spawn({ "python3", "-c", script })
    proc.wait_until(function() return proc.read(cb.dir .. "/held") end, 10)
    local code, _, err = cb:run({ "renew" })
    proc.stop(pid)
    assert.equal(1, code)
    assert.matches("Another instance of Certbot is already running", err, 1, true)
    assert.matches(lock, err, 1, true)
  end)
end)

describe("renew with short-lived certificates #integration", function()
  it("is not due before half the lifetime and is due after", function()
    local srv = pebble.start({ ports = "auto", config = { certificateValidityPeriod = 16 } })
    local cb = helper.new(srv)
    local ok, e = pcall(function()
      cb:issue("short.example.org")
      local code, out, err = cb:run({ "renew" })
      assert.equal(0, code, out .. err)
      assert.equal(1, version(cb, "short.example.org"))
      sys.sleep(9)
      code, out, err = cb:run({ "renew" })
      assert.equal(0, code, out .. err)
      assert.equal(2, version(cb, "short.example.org"))
      assert.matches("half of its lifetime", proc.read(cb.logs_dir .. "/letsencrypt.log"), 1, true)
    end)
    cb:cleanup()
    srv.stop()
    assert(ok, e)
  end)
end)
