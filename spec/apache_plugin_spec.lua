-- The apache plugin's methods against a real Apache (Debian's apache2) in a
-- private server root (spec/helpers/apache.lua), with the real reverter.
-- The whole client against Pebble is spec/integration/apache_spec.lua.
local core = require("certbot.core")
local apache = require("spec.helpers.apache")
local proc = require("spec.helpers.proc")
local plugin = require("certbot.plugins.apache")
local reverter = require("certbot.reverter")

local sys = core.sys

local function config_for(srv, dir, extra)
  local c = {
    apache_server_root = srv.root,
    apache_vhost_root = "/etc/apache2/sites-available", -- the default: follows the root
    apache_challenge_location = "/etc/apache2",         -- likewise
    apache_le_vhost_ext = "-le-ssl.conf",
    apache_ctl = "apache2ctl",
    apache_enmod = "a2enmod",
    apache_handle_modules = true,
    apache_handle_sites = true,
    https_port = srv.https_port,
    work_dir = dir .. "/work",
    config_dir = dir .. "/config",
  }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

-- A self-signed certificate for names, as live/ paths would give it.
local function make_cert(dir, cn, names)
  local san = {}
  for i, n in ipairs(names) do san[i] = "DNS:" .. n end
  local q = proc.quote
  local code, out = apache.sh(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
    .. "-nodes -days 2 -subj /CN=%s -addext %s -keyout %s -out %s"):format(q(cn),
      q("subjectAltName=" .. table.concat(san, ",")), q(dir .. "/" .. cn .. ".key"),
      q(dir .. "/" .. cn .. ".pem")))
  assert(code == 0, out)
  local p = dir .. "/" .. cn
  return { cert = p .. ".pem", chain = p .. ".pem", fullchain = p .. ".pem", privkey = p .. ".key" }
end

local function chall(domain, token)
  return { type = "http-01", domain = domain, token = token,
    key_authorization = token .. ".spec-thumbprint" }
end

local function read(path) return proc.read(path) end

-- After a test: whatever it left (a failed assertion half-way), undo it
-- so the next test starts from the fixture; a dead server is restarted.
local function restore(srv, config, before)
  if #apache.diff(before, srv:snapshot()) > 0 then
    local inst = plugin.new(config)
    inst:recovery()
    inst:rollback(#reverter.new(config):checkpoints())
    if srv:running() then inst:restart() end
  end
  if not srv:running() then
    srv:stop()
    srv:start()
  end
end

describe("apache plugin against a running apache2", function()
  local srv, dir, config, before

  setup(function()
    srv = apache.new({ layout = "debian" }):start()
    sys.setenv("APACHE_STATE_DIRECTORY", srv.state_dir)
  end)
  teardown(function()
    sys.setenv("APACHE_STATE_DIRECTORY", nil)
    if srv then srv:cleanup() end
  end)
  before_each(function()
    dir = proc.tmpdir("apache-plugin-")
    assert(sys.mkdir(dir .. "/config", 448))
    assert(sys.mkdir(dir .. "/work", 448))
    config = config_for(srv, dir)
    before = srv:snapshot()
  end)
  after_each(function()
    restore(srv, config, before)
    proc.rm_rf(dir)
  end)

  it("lists the names of every vhost", function()
    assert.same({ "*.b.example", "a.example", "b.example", "c.example", "www.a.example" },
      plugin.new(config):names())
  end)

  it("answers http-01 through Apache and puts every byte back afterwards", function()
    local auth = plugin.new(config)
    assert.is_true(auth:prepare())
    assert.same({ "http-01" }, auth.challenge_preferences())
    local chs = { chall("a.example", "tok-A_1"), chall("www.a.example", "tok-A_2"),
      chall("x.b.example", "tok-B"), chall("nowhere.example", "tok-N") }
    assert.is_true(auth:perform(chs))
    for _, ch in ipairs(chs) do
      local status, _, body = srv:get(ch.domain, "/.well-known/acme-challenge/" .. ch.token)
      assert.equal(200, status, ch.domain .. ": " .. tostring(body))
      assert.equal(ch.key_authorization, body)
    end
    -- the vhost got an Include of the challenge file, at its top
    local site = read(srv.root .. "/sites-available/a.example.conf")
    assert.truthy(site:find("<VirtualHost %*:%d+>\n\tInclude " .. srv.root:gsub("%p", "%%%0")
      .. "/le_http_01_challenge%.conf\n"))
    assert.truthy(sys.stat(dir .. "/work/temp_checkpoint"))
    -- the site's own pages still work
    local status, _, body = srv:get("a.example", "/")
    assert.equal(200, status)
    assert.equal("site a\n", body)

    assert.is_true(auth:cleanup(chs))
    assert.same({}, apache.diff(before, srv:snapshot()))
    assert.is_nil(sys.stat(srv.root .. "/le_http_01_challenges"))
    assert.is_nil(sys.stat(dir .. "/work/temp_checkpoint"))
    assert.equal(404, (srv:get("a.example", "/.well-known/acme-challenge/tok-A_1")))
    assert.equal(0, (srv:ctl("configtest")))
  end)

  it("leaves nothing behind when perform fails half-way", function()
    local auth = plugin.new(config_for(srv, dir, {
      apache_challenge_location = srv.root .. "/no/such/dir" }))
    local ok, err = auth:perform({ chall("a.example", "tok1") })
    assert.is_nil(ok)
    assert.truthy(err:find(srv.root .. "/no/such/dir", 1, true), err)
    auth:cleanup({ chall("a.example", "tok1") })
    assert.same({}, apache.diff(before, srv:snapshot()))
    assert.is_nil(sys.stat(dir .. "/work/temp_checkpoint"))
  end)

  it("installs a certificate, enhances the site, and rolls all of it back byte for byte", function()
    local cert = make_cert(dir, "a.example", { "a.example", "www.a.example" })
    local inst = plugin.new(config)
    local ok, where = inst:deploy_cert("a.example", cert)
    assert.is_true(ok, where)
    local ssl_file = sys.realpath(srv.root) .. "/sites-available/a.example-le-ssl.conf"
    assert.equal(ssl_file, where)
    assert.is_true((inst:deploy_cert("www.a.example", cert)))
    assert.is_true(inst:save("Deployed ACME certificate"))
    assert.is_true(inst:config_test())
    assert.is_true(inst:restart())
    assert.is_true(srv:wait_cert("a.example", read(cert.fullchain)), srv:log())
    assert.is_true(srv:wait_cert("www.a.example", read(cert.fullchain)), srv:log())

    -- what the install wrote
    local text = read(ssl_file)
    assert.truthy(text:find("^<IfModule mod_ssl%.c>\n<VirtualHost "))
    assert.truthy(text:find("<VirtualHost %*:" .. srv.https_port .. ">"))
    assert.truthy(text:find("\nSSLEngine on\n", 1, true))
    assert.truthy(text:find("\nSSLCertificateFile " .. cert.fullchain .. "\n", 1, true))
    assert.truthy(text:find("\nSSLCertificateKeyFile " .. cert.privkey .. "\n", 1, true))
    assert.truthy(text:find("\nInclude " .. dir .. "/config/options-ssl-apache.conf\n", 1, true))
    assert.truthy(text:find("</VirtualHost>\n</IfModule>\n$"))
    assert.equal(plugin.OPTIONS_SSL, read(dir .. "/config/options-ssl-apache.conf"))
    assert.equal("../sites-available/a.example-le-ssl.conf",
      sys.readlink(srv.root .. "/sites-enabled/a.example-le-ssl.conf"))
    assert.truthy(read(srv.root .. "/ports.conf"):find("<IfModule mod_ssl.c>\nListen 127.0.0.1:"
      .. srv.https_port .. " https\n</IfModule>\n", 1, true))
    assert.truthy(sys.lstat(srv.root .. "/mods-enabled/ssl.load"))
    assert.truthy(sys.lstat(srv.root .. "/mods-enabled/socache_shmcb.load"))
    -- TLS 1.1 is refused by our options file
    local code = apache.sh(("openssl s_client -connect 127.0.0.1:%d -servername a.example "
      .. "-tls1_1 </dev/null"):format(srv.https_port))
    assert.is_not.equal(0, code)

    -- enhancements
    local e = plugin.new(config)
    assert.same({ "redirect", "ensure-http-header", "staple-ocsp" }, e.supported_enhancements())
    assert.is_true(e:enhance("a.example", "redirect"))
    assert.is_true(e:enhance("www.a.example", "redirect")) -- already there: nothing more
    assert.is_true(e:enhance("a.example", "ensure-http-header", "Strict-Transport-Security"))
    assert.is_true(e:enhance("a.example", "ensure-http-header", "Upgrade-Insecure-Requests"))
    assert.is_true(e:save("Add enhancements"))
    assert.is_true(e:config_test())
    assert.is_true(e:restart())
    local site = read(srv.root .. "/sites-available/a.example.conf")
    local _, rules = site:gsub("\nRewriteRule ", "")
    assert.equal(1, rules)
    assert.truthy(proc.wait_until(function()
      return (srv:get("www.a.example", "/x?y=1")) == 301
    end, 10, 0.1))
    local status, headers = srv:get("www.a.example", "/x?y=1")
    assert.equal(301, status)
    assert.equal(("https://www.a.example:%d/x?y=1"):format(srv.https_port), headers.location)
    -- the TLS side does not redirect again, and sends the headers
    local tstatus, theaders, body = srv:get_tls("a.example", "/")
    assert.equal(200, tstatus)
    assert.equal("site a\n", body)
    assert.equal("max-age=31536000", theaders["strict-transport-security"])
    assert.equal("upgrade-insecure-requests", theaders["content-security-policy"])
    -- the same again changes nothing
    local again = plugin.new(config)
    for _, h in ipairs({ "Strict-Transport-Security", "Upgrade-Insecure-Requests" }) do
      assert.is_true(again:enhance("a.example", "ensure-http-header", h))
    end
    assert.is_true(again:enhance("a.example", "redirect"))
    assert.same({}, again.p:dirty_files())

    -- config_changes sees both checkpoints
    local changes = reverter.new(config):view_config_changes()
    assert.equal(2, #changes)
    assert.equal("Add enhancements", changes[1].title)
    assert.equal("Deployed ACME certificate", changes[2].title)

    -- rollback of both: every file as it was, the server as it was
    local rb = plugin.new(config)
    assert.is_true(rb:rollback(2))
    assert.same({}, apache.diff(before, srv:snapshot()))
    assert.is_true(rb:config_test())
    assert.is_true(rb:restart())
    assert.truthy(proc.wait_until(function() return srv:served_cert("a.example") == nil end, 10, 0.1))
    assert.equal(200, (srv:get("a.example", "/")))
  end)

  it("serves a challenge before the site's https redirect (a renewal)", function()
    local cert = make_cert(dir, "b.example", { "b.example" })
    local inst = plugin.new(config)
    assert.is_true((inst:deploy_cert("b.example", cert)))
    assert.is_true(inst:save("Deployed ACME certificate"))
    assert.is_true(inst:enhance("b.example", "redirect"))
    assert.is_true(inst:save("Add enhancements"))
    assert.is_true(inst:restart())
    assert.truthy(proc.wait_until(function() return (srv:get("b.example", "/")) == 301 end, 10, 0.1),
      srv:log())
    local after_install = srv:snapshot()

    local auth = plugin.new(config)
    local chs = { chall("b.example", "renew-tok") }
    assert.is_true(auth:perform(chs))
    local status, _, body = srv:get("b.example", "/.well-known/acme-challenge/renew-tok")
    assert.equal(200, status)
    assert.equal(chs[1].key_authorization, body)
    assert.is_true(auth:cleanup(chs))
    assert.same({}, apache.diff(after_install, srv:snapshot()))

    assert.is_true(plugin.new(config):rollback(2))
    assert.same({}, apache.diff(before, srv:snapshot()))
    assert.is_true(plugin.new(config):restart())
  end)

  it("redirects a TLS-only site through a redirect vhost of its own", function()
    local site = srv.root .. "/sites-available/d.example.conf"
    local link = srv.root .. "/sites-enabled/d.example.conf"
    local cert = make_cert(dir, "d.example", { "d.example" })
    assert(sys.write_atomic(site, ("<IfModule mod_ssl.c>\n<VirtualHost *:%d>\n"
      .. "    ServerName d.example\n    DocumentRoot %s/www/a\n    SSLEngine on\n"
      .. "    SSLCertificateFile %s\n    SSLCertificateKeyFile %s\n</VirtualHost>\n</IfModule>\n")
      :format(srv.https_port, srv.root, cert.fullchain, cert.privkey), 420))
    assert(sys.symlink_swap("../sites-available/d.example.conf", link))
    finally(function()
      sys.unlink(link)
      sys.unlink(site)
    end)
    local start = srv:snapshot()
    local cfg = config_for(srv, dir, { http01_port = srv.http_port })
    local inst = plugin.new(cfg)
    local ok, where = inst:deploy_cert("d.example", cert)
    assert.is_true(ok, where)
    assert.equal(sys.realpath(site), where) -- the TLS vhost there is used as it is
    assert.is_true(inst:save("Deployed ACME certificate"))
    assert.is_true(inst:enhance("d.example", "redirect"))
    assert.is_true(inst:save("Add enhancements"))
    assert.is_true(inst:config_test())
    assert.is_true(inst:restart())
    local redirect = srv.root .. "/sites-available/le-redirect-d.example.conf"
    assert.equal(("<VirtualHost *:%d>\nServerName d.example\nServerSignature Off\n"
      .. "RewriteEngine on\nRewriteCond %%{SERVER_NAME} =d.example\n"
      .. "RewriteRule ^ https://%%{SERVER_NAME}:%d%%{REQUEST_URI} [END,NE,R=permanent]\n"
      .. "</VirtualHost>\n"):format(srv.http_port, srv.https_port), read(redirect))
    assert.truthy(proc.wait_until(function() return (srv:get("d.example", "/")) == 301 end, 10, 0.1),
      srv:log())
    assert.is_true(inst:rollback(2))
    assert.same({}, apache.diff(start, srv:snapshot()))
    assert.is_true(inst:restart())
  end)

  it("undoes a change Apache refuses; the old configuration keeps serving", function()
    local cert = make_cert(dir, "a.example", { "a.example" })
    cert.privkey = dir .. "/missing.key"
    local inst = plugin.new(config)
    assert.is_true((inst:deploy_cert("a.example", cert)))
    assert.is_true(inst:save("Deployed ACME certificate"))
    local ok, err = inst:config_test()
    assert.is_nil(ok)
    assert.truthy(err:find("^apache2ctl configtest: .*missing%.key"), err)
    assert.is_nil(err:find("\n", 1, true))
    -- what the lead's installer step does on failure
    assert.is_true(inst:recovery())
    assert.is_true(inst:rollback(1))
    assert.is_true(inst:config_test())
    assert.is_true(inst:restart())
    assert.same({}, apache.diff(before, srv:snapshot()))
    assert.equal(200, (srv:get("a.example", "/")))
    assert.is_true(srv:running())
  end)

  it("undoes unsaved changes and created files with recovery()", function()
    local cert = make_cert(dir, "a.example", { "a.example" })
    local inst = plugin.new(config)
    assert.is_true((inst:deploy_cert("a.example", cert)))
    assert.truthy(sys.lstat(srv.root .. "/sites-available/a.example-le-ssl.conf"))
    assert.is_true(inst:recovery())
    assert.same({}, apache.diff(before, srv:snapshot()))
  end)

  it("checks the configuration in prepare(), and names a missing apache2ctl", function()
    assert.is_true(plugin.new(config):prepare())
    local ok, err = plugin.new(config_for(srv, dir, { apache_ctl = dir .. "/no-apache2ctl" })):prepare()
    assert.is_nil(ok)
    assert.equal(dir .. "/no-apache2ctl: not found (is apache2 installed? see --apache-ctl)", err)
    ok, err = plugin.new(config_for(srv, dir, { apache_server_root = dir })):prepare()
    assert.is_nil(ok)
    assert.equal("apache: no apache2.conf or httpd.conf in " .. dir .. " (--apache-server-root)", err)
  end)

  it("names a domain no vhost serves", function()
    local inst = plugin.new(config)
    local ok, err = inst:deploy_cert("nothing.example", make_cert(dir, "n", { "nothing.example" }))
    assert.is_nil(ok)
    assert.equal('apache: no VirtualHost is for nothing.example; add "ServerName nothing.example" '
      .. "(or a ServerAlias) to the site's <VirtualHost>", err)
    ok, err = inst:enhance("a.example", "ensure-http-header", "Strict-Transport-Security")
    assert.is_nil(ok)
    assert.equal("apache: no TLS VirtualHost is for a.example (install a certificate first)", err)
    assert.is_true(inst:recovery())
    assert.same({}, apache.diff(before, srv:snapshot()))
  end)

  it("refuses to enable modules when --apache-handle-modules is off", function()
    local inst = plugin.new(config_for(srv, dir, { apache_handle_modules = false }))
    local ok, err = inst:deploy_cert("a.example", make_cert(dir, "a.example", { "a.example" }))
    assert.is_nil(ok)
    assert.equal("apache: mod_ssl is not enabled; enable it (a2enmod ssl) or allow "
      .. "--apache-handle-modules", err)
    assert.is_true(inst:recovery())
    assert.same({}, apache.diff(before, srv:snapshot()))
  end)
end)

-- A server of its own: Debian's Apache 2.4.71 parent process dies on a
-- graceful restart that loads mod_ssl again after a configuration with
-- OCSP stapling was unloaded (seen here; not the plugin's doing).
describe("apache plugin OCSP stapling", function()
  local srv, dir, config, before

  setup(function()
    srv = apache.new({ layout = "debian" }):start()
    sys.setenv("APACHE_STATE_DIRECTORY", srv.state_dir)
  end)
  teardown(function()
    sys.setenv("APACHE_STATE_DIRECTORY", nil)
    if srv then srv:cleanup() end
  end)
  before_each(function()
    dir = proc.tmpdir("apache-plugin-")
    assert(sys.mkdir(dir .. "/config", 448))
    config = config_for(srv, dir)
    before = srv:snapshot()
  end)
  after_each(function() proc.rm_rf(dir) end)

  it("turns stapling on with a cache outside the vhost, once", function()
    local cert = make_cert(dir, "a.example", { "a.example" })
    local inst = plugin.new(config)
    assert.is_true((inst:deploy_cert("a.example", cert)))
    assert.is_true(inst:save("Deployed ACME certificate"))
    assert.is_true(inst:enhance("a.example", "staple-ocsp", cert.chain))
    assert.is_true(inst:save("Add enhancements"))
    assert.is_true(plugin.new(config):enhance("a.example", "staple-ocsp", cert.chain))
    local text = read(srv.root .. "/sites-available/a.example-le-ssl.conf")
    local _, n = text:gsub("\nSSLUseStapling on\n", "")
    assert.equal(1, n)
    assert.truthy(text:find("^<IfModule mod_ssl%.c>\nSSLStaplingCache shmcb:%${APACHE_RUN_DIR}/"
      .. "ocsp_stapling_cache%(128000%)\n<VirtualHost "))
    assert.is_true(inst:config_test())
    assert.is_true(inst:restart())
    assert.is_true(srv:wait_cert("a.example", read(cert.fullchain)), srv:log())
    assert.is_true(inst:rollback(2))
    assert.same({}, apache.diff(before, srv:snapshot()))
    assert.is_true(inst:config_test())
  end)
end)

describe("apache plugin on a single-file layout", function()
  local srv, dir, config, before

  setup(function() srv = apache.new({ layout = "single" }):start() end)
  teardown(function() if srv then srv:cleanup() end end)
  before_each(function()
    dir = proc.tmpdir("apache-plugin-")
    assert(sys.mkdir(dir .. "/config", 448))
    config = config_for(srv, dir)
    before = srv:snapshot()
  end)
  after_each(function()
    restore(srv, config, before)
    proc.rm_rf(dir)
  end)

  it("loads mod_ssl with LoadModule and includes the TLS vhost from the main file", function()
    local cert = make_cert(dir, "s.example", { "s.example" })
    local inst = plugin.new(config)
    local ok, where = inst:deploy_cert("s.example", cert)
    assert.is_true(ok, where)
    assert.equal(sys.realpath(srv.root) .. "/apache2-le-ssl.conf", where)
    assert.is_true(inst:save("Deployed ACME certificate"))
    assert.is_true(inst:config_test())
    assert.is_true(inst:restart())
    assert.is_true(srv:wait_cert("s.example", read(cert.fullchain)), srv:log())
    local main = read(srv.root .. "/apache2.conf")
    assert.truthy(main:find("\nLoadModule mime_module /usr/lib/apache2/modules/mod_mime.so\n"
      .. "LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so\n", 1, true))
    assert.equal("\nInclude " .. where .. "\n", main:sub(-#where - 10))

    assert.is_true(inst:rollback(1))
    assert.same({}, apache.diff(before, srv:snapshot()))
    assert.is_true(inst:restart())
  end)

  it("answers http-01 in the only vhost", function()
    local auth = plugin.new(config)
    local chs = { chall("other.example", "single-tok") }
    assert.is_true(auth:perform(chs))
    local status, _, body = srv:get("other.example", "/.well-known/acme-challenge/single-tok")
    assert.equal(200, status)
    assert.equal(chs[1].key_authorization, body)
    assert.is_true(auth:cleanup(chs))
    assert.same({}, apache.diff(before, srv:snapshot()))
  end)
end)

describe("apache plugin with no VirtualHost at all", function()
  local srv, dir

  setup(function()
    srv = apache.new({ layout = "single" })
    local conf = srv.root .. "/apache2.conf"
    local text = read(conf):gsub("\n<VirtualHost.*</VirtualHost>\n", "\nDocumentRoot "
      .. srv.root .. "/www/s\n")
    assert(sys.write_atomic(conf, text, 420))
    srv:start()
  end)
  teardown(function() if srv then srv:cleanup() end end)
  before_each(function() dir = proc.tmpdir("apache-plugin-") end)
  after_each(function() proc.rm_rf(dir) end)

  it("answers http-01 from the main server", function()
    local before = srv:snapshot()
    local config = config_for(srv, dir)
    local auth = plugin.new(config)
    assert.is_true(auth:prepare())
    assert.same({}, plugin.new(config):names())
    local chs = { chall("any.example", "main-tok") }
    assert.is_true(auth:perform(chs))
    local want = "\nInclude " .. srv.root .. "/le_http_01_challenge.conf\n"
    assert.equal(want, read(srv.root .. "/apache2.conf"):sub(-#want))
    local status, _, body = srv:get("any.example", "/.well-known/acme-challenge/main-tok")
    assert.equal(200, status)
    assert.equal(chs[1].key_authorization, body)
    assert.is_true(auth:cleanup(chs))
    assert.same({}, apache.diff(before, srv:snapshot()))
  end)
end)
