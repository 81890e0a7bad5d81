-- The nginx plugin driven in this process against a real nginx started by
-- spec/helpers/nginx.lua (own root, loopback high ports), with
-- certificates made by openssl: the authenticator's temporary changes, the
-- installer's edits, enhancements, save/rollback/recovery through the
-- reverter, and what nginx then serves.  spec/integration/nginx_spec.lua
-- does the same through build/certbot against Pebble.
local core = require("certbot.core")
local display = require("certbot.display")
local plugin = require("certbot.plugins.nginx")
local plugins = require("certbot.plugins")
local nginx = require("spec.helpers.nginx")
local proc = require("spec.helpers.proc")

local sys = core.sys
local q = proc.quote

-- What the plugin shows the user, kept for assertions.
local shown = {}
local sink = { write = function(_, ...) for _, s in ipairs({ ... }) do shown[#shown + 1] = s end end,
  flush = function() end }

-- A self-signed certificate in a lineage-like directory dir/name/
-- (cert.pem, chain.pem, fullchain.pem, privkey.pem).
local function make_cert(dir, name, names)
  local san = {}
  for _, n in ipairs(names) do san[#san + 1] = "DNS:" .. n end
  local d = dir .. "/" .. name
  assert(sys.mkdir(d, 448))
  assert(os.execute(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
    .. "-keyout %s -out %s -subj /CN=%s -addext subjectAltName=%s -days 2 2>/dev/null"):format(
    q(d .. "/privkey.pem"), q(d .. "/cert.pem"), q(names[1]), q(table.concat(san, ",")))))
  assert(os.execute(("cp %s %s && cp %s %s"):format(q(d .. "/cert.pem"), q(d .. "/chain.pem"),
    q(d .. "/cert.pem"), q(d .. "/fullchain.pem"))))
  return { cert = d .. "/cert.pem", chain = d .. "/chain.pem", fullchain = d .. "/fullchain.pem",
    privkey = d .. "/privkey.pem" }
end

local function fingerprint(pem)
  local f = os.tmpname()
  nginx.write(f, pem)
  local _, out = nginx.sh("openssl x509 -noout -fingerprint -sha256 -in " .. q(f))
  os.remove(f)
  return out
end

local function same_snapshot(a, b)
  for k, v in pairs(a) do
    if b[k] ~= v then return false, k end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, k end
  end
  return true
end

describe("nginx plugin with a real nginx", function()
  local ng, dir, config, before

  before_each(function()
    shown = {}
    display.out, display.err = sink, sink
    dir = proc.tmpdir("nginx-plugin-")
    sys.mkdir(dir .. "/config", 448)
    sys.mkdir(dir .. "/work", 448)
    ng = nginx.new()
    ng:start()
    config = ng:config({ config_dir = dir .. "/config", work_dir = dir .. "/work" })
    before = ng:snapshot()
  end)

  after_each(function()
    display.out, display.err = io.stdout, io.stderr
    if ng then ng:cleanup() end
    proc.rm_rf(dir)
  end)

  local function eventually_get(host, path, scheme, want)
    local status, headers, body
    nginx.eventually(function()
      status, headers, body = ng:get(host, path, scheme)
      return want(status, headers, body)
    end)
    return status, headers, body
  end

  it("is a built-in authenticator and installer with the whole interface", function()
    assert.equal("certbot.plugins.nginx", plugins.BUILTIN.nginx)
    assert(plugins.instance("nginx", "authenticator", config))
    assert(plugins.instance("nginx", "installer", config))
    assert.same({ "redirect", "ensure-http-header", "staple-ocsp" }, plugin.new(config).supported_enhancements())
    assert.same({ "http-01" }, plugin.new(config).challenge_preferences({ type = "dns", value = "a.example" }))
  end)

  it("answers http-01 in the matching block and in a temporary block, then puts every byte back", function()
    local auth = plugin.new(config)
    assert(auth:prepare())
    local chs = {
      { type = "http-01", domain = "a.example", token = "tok_A-1", key_authorization = "tok_A-1.thumb" },
      { type = "http-01", domain = "b.example", token = "tokB", key_authorization = "tokB.thumb2" },
    }
    assert(auth:perform(chs))
    local status, headers, body = eventually_get("a.example", "/.well-known/acme-challenge/tok_A-1", nil,
      function(s, _, b) return s == 200 and b == "tok_A-1.thumb" end)
    assert.equal(200, status)
    assert.equal("tok_A-1.thumb", body)
    assert.matches("^text/plain", headers["content-type"])
    -- b.example is in no block: a temporary server block answers
    status, headers, body = ng:get("b.example", "/.well-known/acme-challenge/tokB")
    assert.same({ 200, "tokB.thumb2" }, { status, body })
    assert.matches("^text/plain", headers["content-type"])
    assert.matches("server_name b%.example;", ng:read("nginx.conf"))
    -- the site itself still works, and other tokens are not answered
    assert.same({ 200, "site a\n" }, { select(1, ng:get("a.example", "/")), select(3, ng:get("a.example", "/")) })
    assert.equal("site a\n", select(3, ng:get("a.example", "/.well-known/acme-challenge/other")))
    -- the temporary change is in the reverter's temporary checkpoint
    assert.truthy(sys.stat(dir .. "/work/temp_checkpoint/FILEPATHS"))
    auth:cleanup(chs)
    assert(same_snapshot(before, ng:snapshot()))
    assert.is_nil(sys.stat(dir .. "/work/temp_checkpoint"))
    local s3, _, b3 = eventually_get("a.example", "/.well-known/acme-challenge/tok_A-1", nil,
      function(_, _, b) return b == "site a\n" end)
    assert.same({ 200, "site a\n" }, { s3, b3 })
    assert.equal(404, (ng:get("b.example", "/.well-known/acme-challenge/tokB")))
    assert.is_true(ng:alive())
  end)

  it("reaches a block whose server-level rewrite phase redirects everything", function()
    nginx.write(ng.root .. "/sites-available/a.example", ("server {\n    listen 127.0.0.1:%d;\n"
      .. "    server_name a.example;\n    return 301 https://$host$request_uri;\n}\n"):format(ng.http))
    assert(plugin.new(config):restart())
    before = ng:snapshot()
    local auth = plugin.new(config)
    local chs = { { type = "http-01", domain = "a.example", token = "t1", key_authorization = "t1.k" } }
    assert(auth:perform(chs))
    local status, _, body = eventually_get("a.example", "/.well-known/acme-challenge/t1", nil,
      function(_, _, b) return b == "t1.k" end)
    assert.same({ 200, "t1.k" }, { status, body })
    assert.equal(301, (ng:get("a.example", "/other")))
    auth:cleanup(chs)
    assert(same_snapshot(before, ng:snapshot()))
  end)

  it("undoes its challenge change when nginx -t refuses the configuration", function()
    -- a TLS site whose key disappeared after nginx started: any reload fails
    local paths = make_cert(dir, "old", { "old.example" })
    nginx.write(ng.root .. "/sites-available/old", ("server {\n    listen 127.0.0.1:%d ssl;\n"
      .. "    server_name old.example;\n    ssl_certificate %s;\n    ssl_certificate_key %s;\n}\n")
      :format(ng.https, paths.fullchain, paths.privkey))
    assert(os.execute(("ln -s ../sites-available/old %s/sites-enabled/old"):format(q(ng.root))))
    assert(plugin.new(config):restart())
    before = ng:snapshot()
    os.remove(paths.privkey)
    local auth = plugin.new(config)
    local chs = { { type = "http-01", domain = "a.example", token = "t2", key_authorization = "t2.k" } }
    local ok, err = auth:perform(chs)
    assert.is_nil(ok)
    assert.matches("^nginx %-t: .*old/privkey%.pem", err)
    auth:cleanup(chs)
    assert(same_snapshot(before, ng:snapshot()))
    assert.is_true(ng:alive())
    assert.equal(200, (ng:get("a.example", "/")))
  end)

  it("deploys a certificate: TLS listen on the same address, options and DH group written once", function()
    local paths = make_cert(dir, "a", { "a.example", "www.a.example" })
    sys.chmod(ng.root .. "/sites-available/a.example", 416) -- 0640 stays 0640
    local inst = plugin.new(config)
    assert.same({ "a.example", "www.a.example" }, inst:names())
    assert(inst:deploy_cert("a.example", paths))
    assert(inst:deploy_cert("www.a.example", paths)) -- same block: nothing more
    assert(inst:save("Deployed ACME certificate"))
    local site = ng:read("sites-available/a.example")
    local o = dir .. "/config/options-ssl-nginx.conf"
    local dh = dir .. "/config/ssl-dhparams.pem"
    local added = site:match("\n    }\n(.*)}\n$")
    assert.equal(table.concat({
      ("    listen 127.0.0.1:%d ssl; # managed by Certbot\n"):format(ng.https),
      ("    ssl_certificate %s; # managed by Certbot\n"):format(paths.fullchain),
      ("    ssl_certificate_key %s; # managed by Certbot\n"):format(paths.privkey),
      ("    include %s; # managed by Certbot\n"):format(o),
      ("    ssl_dhparam %s; # managed by Certbot\n"):format(dh),
    }), added)
    -- the rest of the file is untouched
    assert.equal(before["sites-available/a.example"]:gsub("}\n$", ""), site:sub(1, #site - #added - 2))
    assert.equal("-> ../sites-available/a.example", ng:snapshot()["sites-enabled/a.example"])
    assert.equal(416, sys.stat(ng.root .. "/sites-available/a.example").mode & 4095)
    assert.matches("ssl_protocols TLSv1%.2 TLSv1%.3;", proc.read(o))
    local _, dhtext = nginx.sh("openssl pkeyparam -text -noout -in " .. q(dh))
    assert.matches("GROUP: ffdhe2048", dhtext)
    -- a finalized checkpoint holds the original, 0600 in a 0700 dir
    local backups = sys.listdir(dir .. "/work/backups")
    assert.equal(1, #backups)
    local cp = dir .. "/work/backups/" .. backups[1]
    assert.equal(448, sys.stat(cp).mode & 4095)
    assert.equal(384, sys.stat(cp .. "/a.example_0").mode & 4095)
    assert.equal(before["sites-available/a.example"], proc.read(cp .. "/a.example_0"))
    assert(inst:config_test())
    assert(inst:restart())
    local want = fingerprint(proc.read(paths.cert))
    assert(nginx.eventually(function()
      local pem = ng:served_cert("a.example")
      return pem and fingerprint(pem) == want
    end))
    assert.equal(200, (ng:get("a.example", "/", "https")))
    assert.equal(200, (ng:get("a.example", "/"))) -- plain HTTP still served
    -- the files under --config-dir are written once: an edit stays
    nginx.write(o, proc.read(o) .. "# mine\n")
    local paths2 = make_cert(dir, "b", { "b.example" })
    nginx.write(ng.root .. "/sites-available/b", nginx.site(ng.http, "b.example", "site b"))
    assert(os.execute(("ln -s ../sites-available/b %s/sites-enabled/b"):format(q(ng.root))))
    local inst2 = plugin.new(config)
    assert(inst2:deploy_cert("b.example", paths2))
    assert.matches("# mine\n$", proc.read(o))
  end)

  it("redirect, HSTS, UIR and OCSP stapling; rollback puts every byte back", function()
    local paths = make_cert(dir, "a", { "a.example" })
    local inst = plugin.new(config)
    assert(inst:deploy_cert("a.example", paths))
    assert(inst:save("Deployed ACME certificate"))
    assert(inst:enhance("a.example", "redirect"))
    assert(inst:enhance("a.example", "ensure-http-header", "Strict-Transport-Security"))
    assert(inst:enhance("a.example", "ensure-http-header", "Upgrade-Insecure-Requests"))
    assert(inst:enhance("a.example", "staple-ocsp", paths.chain))
    assert(inst:save("Enhancements"))
    assert(inst:restart())
    local status, headers = eventually_get("a.example", "/some/path?x=1", nil,
      function(s) return s == 301 end)
    assert.equal(301, status)
    assert.equal(("https://a.example:%d/some/path?x=1"):format(ng.https), headers.location)
    -- the redirect follows to the TLS block, which does not redirect again
    status, headers = ng:get("a.example", "/some/path", "https")
    assert.equal(200, status)
    assert.equal("max-age=31536000", headers["strict-transport-security"])
    assert.equal("upgrade-insecure-requests", headers["content-security-policy"])
    -- www.a.example has no certificate: not redirected
    assert.equal(404, (ng:get("www.a.example", "/")))
    assert.is_nil(select(2, ng:get("www.a.example", "/"))["strict-transport-security"])
    local text = table.concat(shown)
    assert.matches("OCSP", text)
    local site = ng:read("sites-available/a.example")
    assert.matches("ssl_stapling on; # managed by Certbot", site, 1, true)
    assert.matches(("if ($host = a.example) {\n        return 301 https://$host:%d$request_uri;\n"
      .. "    } # managed by Certbot"):format(ng.https), site, 1, true)
    local code, out = ng:test()
    assert.equal(0, code, out)
    -- asking again changes nothing
    local again = plugin.new(config)
    assert(again:enhance("a.example", "redirect"))
    assert(again:enhance("a.example", "ensure-http-header", "Strict-Transport-Security"))
    assert(again:enhance("a.example", "staple-ocsp", paths.chain))
    assert(again:save("nothing"))
    assert.equal(site, ng:read("sites-available/a.example"))
    -- rollback of both checkpoints: byte-identical originals, nginx -t passes
    local rb = plugin.new(config)
    assert(rb:rollback(2))
    assert(rb:restart())
    assert(same_snapshot(before, ng:snapshot()))
    code, out = ng:test()
    assert.equal(0, code, out)
    assert.equal(200, (eventually_get("a.example", "/", nil, function(s) return s == 200 end)))
  end)

  it("HSTS alone splits a block serving both: the header only on TLS, HTTP keeps the site", function()
    local paths = make_cert(dir, "a", { "a.example" })
    local inst = plugin.new(config)
    assert(inst:deploy_cert("a.example", paths))
    assert(inst:save("Deployed ACME certificate"))
    assert(inst:enhance("a.example", "ensure-http-header", "Strict-Transport-Security"))
    assert(inst:save("HSTS"))
    local site = ng:read("sites-available/a.example")
    local tls_block, plain_block = site:match("^(server {.-\n}\n)\n(server {.-\n}\n)$")
    assert(tls_block, site)
    assert.matches(("listen 127.0.0.1:%d ssl;"):format(ng.https), tls_block, 1, true)
    assert.not_matches(("listen 127.0.0.1:%d;"):format(ng.http), tls_block, 1, true)
    assert.matches("add_header Strict-Transport-Security \"max-age=31536000\" always;", tls_block, 1, true)
    assert.matches(("listen 127.0.0.1:%d;"):format(ng.http), plain_block, 1, true)
    assert.matches("return 200 \"site a\\n\";", plain_block, 1, true)
    for _, word in ipairs({ "ssl", "Strict", "options-ssl-nginx", "dhparam" }) do
      assert.not_matches(word, plain_block, 1, true)
    end
    assert(inst:restart())
    local status, headers, body = eventually_get("a.example", "/", "https",
      function(_, h) return h["strict-transport-security"] ~= nil end)
    assert.same({ 200, "site a\n", "max-age=31536000" }, { status, body, headers["strict-transport-security"] })
    status, headers, body = ng:get("a.example", "/")
    assert.same({ 200, "site a\n" }, { status, body })
    assert.is_nil(headers["strict-transport-security"])
  end)

  it("a wildcard name takes every block with a name one label under it", function()
    nginx.write(ng.root .. "/sites-available/w", nginx.site(ng.http, "one.w.example", "one")
      .. nginx.site(ng.http, "two.w.example", "two") .. nginx.site(ng.http, "deep.er.w.example", "deep"))
    assert(os.execute(("ln -s ../sites-available/w %s/sites-enabled/w"):format(q(ng.root))))
    local paths = make_cert(dir, "w", { "*.w.example" })
    local inst = plugin.new(config)
    local ok, where = inst:deploy_cert("*.w.example", paths)
    assert.is_true(ok)
    assert.equal(ng.root .. "/sites-enabled/w, " .. ng.root .. "/sites-enabled/w", where)
    assert(inst:save("wildcard"))
    local _, n = ng:read("sites-available/w"):gsub("ssl_certificate ", "")
    assert.equal(2, n)
    assert(inst:restart())
    local want = fingerprint(proc.read(paths.cert))
    assert(nginx.eventually(function()
      local pem = ng:served_cert("two.w.example")
      return pem and fingerprint(pem) == want
    end))
  end)

  it("runs nginx with -p only for a root that is not its compiled-in one", function()
    assert.equal(ng.root .. "/", plugin.new(config):prefix())
    local etc = {}
    for k, v in pairs(config) do etc[k] = v end
    etc.nginx_server_root = "/etc/nginx/"
    assert.is_nil(plugin.new(etc):prefix())
    -- a missing nginx is reported before anything else happens
    etc.nginx_server_root = ng.root
    etc.nginx_ctl = dir .. "/no-such-nginx"
    local ok, err = plugin.new(etc):prepare()
    assert.is_nil(ok)
    assert.matches("^Unable to run nginx %(%-%-nginx%-ctl .*no%-such%-nginx%)", err)
    -- and a root without nginx.conf
    etc.nginx_ctl = nginx.NGINX
    etc.nginx_server_root = dir
    ok, err = plugin.new(etc):prepare()
    assert.is_nil(ok)
    assert.matches("nginx%.conf is not a file %(set %-%-nginx%-server%-root%)", err)
  end)

  it("leaves an existing redirect to https alone", function()
    local paths = make_cert(dir, "a", { "a.example" })
    nginx.write(ng.root .. "/sites-available/a.example", ("server {\n    listen 127.0.0.1:%d;\n"
      .. "    server_name a.example;\n    return 301 https://$host$request_uri;\n}\n"
      .. "server {\n    listen 127.0.0.1:%d ssl;\n    server_name a.example;\n"
      .. "    ssl_certificate %s;\n    ssl_certificate_key %s;\n    return 200 \"tls\\n\";\n}\n")
      :format(ng.http, ng.https, paths.fullchain, paths.privkey))
    local inst = plugin.new(config)
    local site = ng:read("sites-available/a.example")
    assert(inst:deploy_cert("a.example", paths)) -- the TLS block already has these
    assert(inst:enhance("a.example", "redirect"))
    assert(inst:save("x"))
    assert.equal(site, ng:read("sites-available/a.example"))
    assert.matches("already redirecting", table.concat(shown))
  end)

  it("a broken change fails nginx -t; recovery restores every byte and nginx keeps serving", function()
    local paths = make_cert(dir, "a", { "a.example" })
    -- an options file of the admin's with a syntax error: the include breaks the config
    nginx.write(dir .. "/config/options-ssl-nginx.conf", "ssl_protocols TLSv1.2\n")
    local inst = plugin.new(config)
    assert(inst:deploy_cert("a.example", paths))
    assert(inst:save())
    assert.are_not.equal(before["sites-available/a.example"], ng:read("sites-available/a.example"))
    local ok, err = inst:config_test()
    assert.is_nil(ok)
    assert.matches("^nginx %-t: .*options%-ssl%-nginx%.conf", err)
    ok, err = inst:restart()
    assert.is_nil(ok)
    assert.matches("^nginx %-t:", err)
    assert(inst:recovery())
    assert(same_snapshot(before, ng:snapshot()))
    assert(inst:restart())
    assert.is_true(ng:alive())
    assert.equal(200, (ng:get("a.example", "/")))
  end)

  it("copies the default server for a name no block has", function()
    local paths = make_cert(dir, "n", { "new.example" })
    local inst = plugin.new(config)
    assert(inst:deploy_cert("new.example", paths))
    assert(inst:save("new"))
    local def = ng:read("sites-available/00-default")
    assert.matches("server_name _;", def, 1, true)
    assert.matches(("listen 127.0.0.1:%d default_server;"):format(ng.http), def, 1, true)
    assert.matches(("\n\nserver {\n    listen 127.0.0.1:%d;\n    server_name new.example;\n"):format(ng.http),
      def, 1, true)
    assert(inst:restart())
    local want = fingerprint(proc.read(paths.cert))
    assert(nginx.eventually(function()
      local pem = ng:served_cert("new.example")
      return pem and fingerprint(pem) == want
    end))
  end)

  it("adds TLS listens per address, IPv6 included, and keeps an implicit port 80", function()
    nginx.write(ng.root .. "/sites-available/v6", table.concat({
      "server {",
      ("    listen 127.0.0.1:%d;"):format(ng.http),
      ("    listen [::1]:%d;"):format(ng.http),
      "    server_name v6.example;",
      "}",
      "server {",
      "    server_name implicit.example;",
      "}",
      "",
    }, "\n"))
    assert(os.execute(("ln -s ../sites-available/v6 %s/sites-enabled/v6"):format(q(ng.root))))
    local paths = make_cert(dir, "v", { "v6.example", "implicit.example" })
    local inst = plugin.new(config)
    assert(inst:deploy_cert("v6.example", paths))
    assert(inst:deploy_cert("implicit.example", paths))
    assert(inst:save("v6"))
    local text = ng:read("sites-available/v6")
    assert.matches(("listen 127.0.0.1:%d ssl; # managed by Certbot"):format(ng.https), text, 1, true)
    assert.matches(("listen [::1]:%d ssl; # managed by Certbot"):format(ng.https), text, 1, true)
    assert.matches("server_name implicit.example;\n    listen 80; # managed by Certbot\n    listen "
      .. ng.https .. " ssl; # managed by Certbot", text, 1, true)
    -- not started (it would bind port 80 on every address): nginx -t only
    local code, out = ng:test()
    assert.equal(0, code, out)
  end)

  it("locks the configuration root against another process", function()
    local inst = plugin.new(config)
    assert(inst:prepare())
    local code, out = nginx.sh(("lua5.4 -e %s"):format(q(("package.cpath=%q..package.cpath; "
      .. "local lk, err, why = require('certbot.core').sys.lock(%q) print(why)")
      :format((os.getenv("CERTBOT_BUILD") or "build") .. "/lib/?.so;", ng.root .. "/.certbot.lock"))))
    assert.equal(0, code, out)
    assert.equal("busy\n", out)
  end)

  it("undoes, when it starts, the temporary change a killed run left behind", function()
    -- each step in a process of its own (this one would hold the lock)
    local function child(body)
      return nginx.sh(("lua5.4 -e %s"):format(q(table.concat({
        ("package.cpath=%q..package.cpath"):format((os.getenv("CERTBOT_BUILD") or "build") .. "/lib/?.so;"),
        "dofile('spec/helpers/init.lua')",
        ("local cfg = { nginx_server_root = %q, nginx_ctl = %q, nginx_sleep_seconds = 0, "
          .. "work_dir = %q, config_dir = %q, http01_port = %d, https_port = %d }")
          :format(ng.root, nginx.NGINX, dir .. "/work", dir .. "/config", ng.http, ng.https),
        "local inst = require('certbot.plugins.nginx').new(cfg)",
        body,
      }, "\n"))))
    end
    -- a run that made its challenge change and died before cleanup
    local code, out = child("assert(inst:perform({ { type = 'http-01', domain = 'a.example', "
      .. "token = 't3', key_authorization = 't3.k' } })) os.exit(0)")
    assert.equal(0, code, out)
    assert.is_false(same_snapshot(before, ng:snapshot()))
    -- the next run puts the configuration back before it does anything
    code, out = child("assert(inst:prepare())")
    assert.equal(0, code, out)
    assert(same_snapshot(before, ng:snapshot()))
  end)

  it("undoes all of a killed install, its finalized checkpoints included; rollback counts those", function()
    local p = make_cert(dir, "a", { "a.example" })
    local function child(body)
      return nginx.sh(("lua5.4 -e %s"):format(q(table.concat({
        ("package.cpath=%q..package.cpath"):format((os.getenv("CERTBOT_BUILD") or "build") .. "/lib/?.so;"),
        "dofile('spec/helpers/init.lua')",
        ("local cfg = { nginx_server_root = %q, nginx_ctl = %q, nginx_sleep_seconds = 0, "
          .. "work_dir = %q, config_dir = %q, http01_port = %d, https_port = %d }")
          :format(ng.root, nginx.NGINX, dir .. "/work", dir .. "/config", ng.http, ng.https),
        ("local P = { cert = %q, chain = %q, fullchain = %q, privkey = %q }"):format(p.cert, p.chain,
          p.fullchain, p.privkey),
        "local inst = require('certbot.plugins.nginx').new(cfg)",
        "local rv = require('certbot.reverter').new(cfg)",
        body,
      }, "\n"))))
    end
    -- a finished install
    local code, out = child("assert(rv:begin_change()) assert(inst:deploy_cert('a.example', P)) "
      .. "assert(inst:save('Deployed ACME certificate')) assert(rv:end_change())")
    assert.equal(0, code, out)
    local deployed = ng:snapshot()
    assert.is_false(same_snapshot(before, deployed))
    -- an install killed after its redirect checkpoint, with its HSTS change
    -- written but not finalized and a temp file of an interrupted write
    local killed = "assert(rv:begin_change()) assert(inst:enhance('a.example', 'redirect')) "
      .. "assert(inst:save('Redirect')) "
      .. "assert(inst:enhance('a.example', 'ensure-http-header', 'Strict-Transport-Security')) "
      .. "assert(inst:save()) "
      .. ("local f = io.open(%q, 'w') f:write('half') f:close() "):format(ng.root
        .. "/sites-available/.a.example.0123456789ab.tmp")
      .. "os.exit(0)"
    code, out = child(killed)
    assert.equal(0, code, out)
    assert.is_false(same_snapshot(deployed, ng:snapshot()))
    -- the next run puts back the finished install, byte for byte
    code, out = child("assert(inst:prepare())")
    assert.equal(0, code, out)
    local same, which = same_snapshot(deployed, ng:snapshot())
    assert(same, which)
    code, out = ng:test()
    assert.equal(0, code, out)
    assert.is_nil(sys.lstat(dir .. "/work/CHANGE_IN_PROGRESS"))
    -- killed again; `rollback 1` undoes the killed run (its checkpoint was
    -- the newest) and keeps the finished install
    code, out = child(killed)
    assert.equal(0, code, out)
    code, out = child("assert(inst:rollback(1))")
    assert.equal(0, code, out)
    same, which = same_snapshot(deployed, ng:snapshot())
    assert(same, which)
    code, out = child("assert(inst:rollback(1))")
    assert.equal(0, code, out)
    same, which = same_snapshot(before, ng:snapshot())
    assert(same, which)
  end)
end)

describe("nginx plugin on Debian's layout (nginx -t only: it listens on port 80)", function()
  local dir, config

  before_each(function()
    display.out, display.err = sink, sink
    dir = proc.tmpdir("nginx-debian-")
    assert(os.execute(("cp -r spec/fixtures/nginx/debian/. %s/"):format(q(dir))))
    for _, d in ipairs({ "conf.d", "modules-enabled", "sites-enabled", "config", "work" }) do
      assert(sys.mkdir(dir .. "/" .. d, 493))
    end
    assert(os.execute(("ln -s ../sites-available/default %s/sites-enabled/default"):format(q(dir))))
    nginx.write(dir .. "/nginx.conf", (proc.read(dir .. "/nginx.conf"):gsub("/etc/nginx/", dir .. "/")))
    config = { nginx_server_root = dir, nginx_ctl = nginx.NGINX, nginx_sleep_seconds = 0,
      http01_port = 80, https_port = 443, config_dir = dir .. "/config", work_dir = dir .. "/work" }
  end)

  after_each(function()
    display.out, display.err = io.stdout, io.stderr
    proc.rm_rf(dir)
  end)

  it("answers a challenge for a new name with a block on the default server's addresses", function()
    local default = proc.read(dir .. "/sites-available/default")
    local main = proc.read(dir .. "/nginx.conf")
    local auth = plugin.new(config)
    assert(auth:prepare())
    assert(auth:add_challenge({ type = "http-01", domain = "example.com", token = "tok",
      key_authorization = "tok.k" }))
    assert(auth:save("challenge", true))
    local text = proc.read(dir .. "/nginx.conf")
    assert.matches("\n\tserver {\n\t\tlisten 80;\n\t\tlisten [::]:80;\n\t\tserver_name example.com;\n"
      .. "\t\tlocation = /.well-known/acme-challenge/tok {\n\t\t\tdefault_type text/plain;\n"
      .. "\t\t\treturn 200 \"tok.k\";\n\t\t}\n\t}\n}\n", text, 1, true)
    assert(auth:config_test())
    assert(auth:reverter():revert_temporary_config())
    assert.equal(main, proc.read(dir .. "/nginx.conf"))
    assert.equal(default, proc.read(dir .. "/sites-available/default"))
  end)

  it("installs for a new name in a copy of the default server, IPv6 too, and redirects", function()
    local paths = { cert = dir .. "/c.pem", chain = dir .. "/c.pem", fullchain = dir .. "/c.pem",
      privkey = dir .. "/k.pem" }
    assert(os.execute(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
      .. "-keyout %s -out %s -subj /CN=example.com -days 2 2>/dev/null"):format(q(paths.privkey),
      q(paths.cert))))
    local default = proc.read(dir .. "/sites-available/default")
    local inst = plugin.new(config)
    assert.same({}, inst:names())
    local ok, where = inst:deploy_cert("example.com", paths)
    assert.is_true(ok)
    assert.equal(dir .. "/sites-enabled/default", where)
    assert(inst:enhance("example.com", "redirect"))
    assert(inst:save("install"))
    local text = proc.read(dir .. "/sites-available/default")
    -- the default server itself is unchanged; the copy follows it
    assert.equal(default:match("^(.-\nserver {.-\n}\n)"), text:match("^(.-\nserver {.-\n}\n)"))
    local copy = text:sub(#default:match("^(.-\nserver {.-\n}\n)") + 1)
    assert.matches("\tserver_name example.com;\n", copy, 1, true)
    assert.matches("\tlisten 443 ssl; # managed by Certbot\n\tlisten [::]:443 ssl; # managed by Certbot\n",
      copy, 1, true)
    assert.not_matches("\n\tlisten [^\n]*default_server", copy:match("^(.-\n}\n)"))
    assert.matches("\n\nserver {\n\tif ($host = example.com) {\n\t\treturn 301 https://$host$request_uri;\n"
      .. "\t} # managed by Certbot\n\tlisten 80;\n\tlisten [::]:80;\n\tserver_name example.com;\n"
      .. "\treturn 404; # managed by Certbot\n} # managed by Certbot\n", text, 1, true)
    assert.equal("-> ../sites-available/default", "-> " .. sys.readlink(dir .. "/sites-enabled/default"))
    assert(inst:config_test())
    assert(inst:rollback(1))
    assert.equal(default, proc.read(dir .. "/sites-available/default"))
  end)
end)
