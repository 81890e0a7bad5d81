-- The apache plugin's view of a configuration: parser (augeas, includes,
-- globs) and vhosts (discovery, name matching), on copies of the fixtures.
local core = require("certbot.core")
local apache = require("spec.helpers.apache")
local proc = require("spec.helpers.proc")
local parser = require("certbot.plugins.apache.parser")
local vhosts = require("certbot.plugins.apache.vhosts")

local sys = core.sys

local function write(path, data)
  assert(sys.write_atomic(path, data, 420))
end

local function by_name(list)
  local out = {}
  for _, vh in ipairs(list) do out[vh.name or "(none)"] = vh end
  return out
end

describe("apache parser on Debian's layout #core", function()
  local srv, p, real

  setup(function()
    srv = apache.new({ layout = "debian" })
    real = sys.realpath(srv.root)
    p = assert(parser.open({ server_root = srv.root, vhost_root = srv.root .. "/sites-available" }))
  end)
  teardown(function()
    if p then p:close() end
    srv:cleanup()
  end)

  it("follows Include/IncludeOptional globs and symlinks to the real files", function()
    assert.equal(real .. "/apache2.conf", p.root_file)
    assert.equal("enabled", p.files[real .. "/ports.conf"])
    assert.equal("enabled", p.files[real .. "/mods-available/mpm_event.load"])
    assert.equal("enabled", p.files[real .. "/mods-available/alias.conf"])
    assert.equal("enabled", p.files[real .. "/sites-available/a.example.conf"])
    assert.equal("enabled", p.files[real .. "/sites-available/000-default.conf"])
    -- in the vhost root only: loaded, not enabled
    assert.equal("available", p.files[real .. "/sites-available/c.example.conf"])
    -- modules not linked are not read at all
    assert.is_nil(p.files[real .. "/mods-available/ssl.load"])
    assert.is_nil(p.files[real .. "/sites-enabled/a.example.conf"])
    -- mods-enabled/*.load comes before ports.conf, sites last: Apache's order
    local pos = {}
    for i, f in ipairs(p.order) do pos[f] = i end
    assert.is_true(pos[real .. "/mods-available/mpm_event.load"] < pos[real .. "/ports.conf"])
    assert.is_true(pos[real .. "/ports.conf"] < pos[real .. "/sites-available/000-default.conf"])
  end)

  it("knows the loaded modules", function()
    local mods = p:modules()
    assert.equal("/usr/lib/apache2/modules/mod_alias.so", mods.alias_module)
    assert.truthy(mods.mpm_event_module)
    assert.is_nil(mods.ssl_module)
    assert.is_nil(mods.rewrite_module)
  end)

  it("finds the VirtualHosts with their names, addresses and state", function()
    local list = vhosts.discover(p, { https_port = srv.https_port })
    assert.equal(4, #list)
    local v = by_name(list)
    assert.equal("a.example", v["a.example"].name)
    assert.same({ "www.a.example" }, v["a.example"].aliases)
    assert.same({ "*.b.example" }, v["b.example"].aliases)
    assert.same({ { raw = "*:" .. srv.http_port, host = "*", port = tostring(srv.http_port) } },
      v["a.example"].addrs)
    assert.is_true(v["a.example"].enabled)
    assert.is_false(v["c.example"].enabled)
    assert.is_true(v["(none)"].enabled)
    for _, vh in ipairs(list) do assert.is_false(vh.ssl) end
    assert.equal(real .. "/sites-available/a.example.conf", v["a.example"].file)
  end)

  it("matches names as Apache does: exact, alias, wildcard, in any case", function()
    local list = vhosts.discover(p, {})
    local v = by_name(list)
    assert.equal(3, vhosts.score(v["a.example"], "A.Example"))
    assert.equal(2, vhosts.score(v["a.example"], "www.a.example"))
    assert.equal(1, vhosts.score(v["b.example"], "x.y.b.example"))
    assert.equal(0, vhosts.score(v["b.example"], "b.example.org"))
    assert.equal(v["a.example"], (vhosts.best(list, "www.a.example")))
    assert.equal(v["b.example"], (vhosts.best(list, "deep.b.example")))
    -- an available-only vhost is found when nothing enabled matches
    assert.equal(v["c.example"], (vhosts.best(list, "c.example")))
    -- no name matches and several enabled vhosts: none is guessed
    assert.is_nil(vhosts.best(list, "nothing.example"))
    assert.is_nil(vhosts.best(list, "a.example", { ssl = true }))
  end)

  it("returns the exact text of a vhost", function()
    local v = by_name(vhosts.discover(p, {}))
    assert.equal(([[
<VirtualHost *:%d>
    ServerName b.example
    ServerAlias *.b.example
    DocumentRoot "%s/www/b"
</VirtualHost>
]]):format(srv.http_port, srv.root), p:text(v["b.example"].node))
  end)
end)

describe("apache parser edits #core", function()
  local srv, p

  before_each(function()
    srv = apache.new({ layout = "debian" })
    p = assert(parser.open({ server_root = srv.root, vhost_root = srv.root .. "/sites-available" }))
  end)
  after_each(function()
    p:close()
    srv:cleanup()
  end)

  it("adds directives first, last and after a sibling, sets arguments, and saves", function()
    local v = by_name(vhosts.discover(p, {}))
    local node = v["b.example"].node
    p:add(node, "Include", { "/x/first.conf" }, { first = true })
    local last = p:add(node, "Header", { "always", "set", "X-A", "a b" })
    -- (a node's path is positional: read it before the next insert)
    assert.same({ "always", "set", "X-A", "a b" }, p:args(last))
    assert.same({ "always", "set", "X-A", '"a b"' }, p:args(last, true))
    local alias = p:find(node, "ServerAlias", { children = true })[1]
    p:add(node, "ServerAlias", { "extra.example" }, { after = alias })
    p:set_args(node, { "127.0.0.1:1", "[::1]:2" })
    local dirty = assert(p:dirty_files())
    assert.same({ sys.realpath(srv.root .. "/sites-available/b.example.conf") }, dirty)
    assert.is_true(p:save())
    assert.equal(([[
<VirtualHost 127.0.0.1:1 [::1]:2>
    Include /x/first.conf
    ServerName b.example
    ServerAlias *.b.example
ServerAlias extra.example
DocumentRoot "%s/www/b"
Header always set X-A "a b"
</VirtualHost>
]]):format(srv.root), proc.read(srv.root .. "/sites-available/b.example.conf"))
  end)

  it("adds sections, removes nodes, and loads a new file without losing edits", function()
    local ports = p:fpath(sys.realpath(srv.root .. "/ports.conf"))
    local sec = p:add_section(ports, "IfModule", { "mod_ssl.c" })
    p:add(sec, "Listen", { "127.0.0.1:4443", "https" })
    write(srv.root .. "/sites-available/new.conf", "<VirtualHost *:1>\nServerName n.example\n</VirtualHost>\n")
    assert.is_true(p:load_new(srv.root .. "/sites-available/new.conf", false))
    assert.equal(1, #p:sections(p:fpath(sys.realpath(srv.root .. "/sites-available/new.conf")),
      "virtualhost"))
    p:remove(p:find(p:fpath(sys.realpath(srv.root .. "/sites-available/new.conf")), "ServerName")[1])
    assert.is_true(p:save())
    assert.equal(([[
# Loopback only.  The installer adds the HTTPS Listen itself.

Listen 127.0.0.1:%d
<IfModule mod_ssl.c>
Listen 127.0.0.1:4443 https
</IfModule>
]]):format(srv.http_port), proc.read(srv.root .. "/ports.conf"))
    assert.equal("<VirtualHost *:1>\n</VirtualHost>\n", proc.read(srv.root .. "/sites-available/new.conf"))
  end)
end)

describe("apache parser #core", function()
  local dir

  before_each(function() dir = sys.realpath(proc.tmpdir("apparse-")) end)
  after_each(function() proc.rm_rf(dir) end)

  it("expands Define'd variables, directories and character classes in Include", function()
    assert(sys.mkdir(dir .. "/conf.d/sub", 493, true))
    assert(sys.mkdir(dir .. "/vh", 493))
    write(dir .. "/httpd.conf", "Define VH vh\nInclude ${VH}/site[12].conf\n"
      .. "IncludeOptional conf.d\nIncludeOptional missing/*.conf\n")
    write(dir .. "/vh/site1.conf", "<VirtualHost *:80>\nServerName one.example\n</VirtualHost>\n")
    write(dir .. "/vh/site2.conf", "<VirtualHost *:80>\nServerName two.example\n</VirtualHost>\n")
    write(dir .. "/vh/site3.conf", "<VirtualHost *:80>\nServerName three.example\n</VirtualHost>\n")
    write(dir .. "/vh/.site1.conf", "broken <\n")
    write(dir .. "/conf.d/b.conf", "Listen 81\n")
    write(dir .. "/conf.d/sub/a.conf", "Listen 82\n")
    local p = assert(parser.open({ server_root = dir }))
    assert.same({ dir .. "/httpd.conf", dir .. "/vh/site1.conf", dir .. "/vh/site2.conf",
      dir .. "/conf.d/b.conf", dir .. "/conf.d/sub/a.conf" }, p.order)
    local listens = {}
    for _, n in ipairs(p:find_all("listen", true)) do listens[#listens + 1] = p:args(n)[1] end
    assert.same({ "81", "82" }, listens)
    p:close()
  end)

  it("refuses a configuration file Apache reads that does not parse, naming it", function()
    write(dir .. "/apache2.conf", "Include site.conf\n")
    write(dir .. "/site.conf", "<VirtualHost *:80>\n  ServerName x\n")
    local p, err = parser.open({ server_root = dir })
    assert.is_nil(p)
    assert.equal("apache: cannot parse " .. dir .. "/site.conf line 3: Syntax error", err)
  end)

  it("skips an available-only vhost file that does not parse", function()
    assert(sys.mkdir(dir .. "/sites-available", 493))
    write(dir .. "/apache2.conf", "Listen 80\n")
    write(dir .. "/sites-available/bad.conf", "<VirtualHost\n")
    write(dir .. "/sites-available/good.conf", "<VirtualHost *:80>\nServerName g.example\n</VirtualHost>\n")
    local p = assert(parser.open({ server_root = dir, vhost_root = dir .. "/sites-available" }))
    assert.is_nil(p.files[dir .. "/sites-available/bad.conf"])
    assert.equal("available", p.files[dir .. "/sites-available/good.conf"])
    p:close()
  end)

  it("says which file it looked for when there is no main file", function()
    local p, err = parser.open({ server_root = dir })
    assert.is_nil(p)
    assert.equal("apache: no apache2.conf or httpd.conf in " .. dir .. " (--apache-server-root)", err)
  end)

  it("reads the single-file layout", function()
    local srv = apache.new({ layout = "single" })
    finally(function() srv:cleanup() end)
    local p = assert(parser.open({ server_root = srv.root }))
    local list = vhosts.discover(p, {})
    assert.equal(1, #list)
    assert.equal("s.example", list[1].name)
    assert.is_true(list[1].enabled)
    -- with one vhost, it is the one for any name (as Certbot picks it)
    local vh, by_name_match = vhosts.best(list, "other.example")
    assert.equal(list[1], vh)
    assert.is_false(by_name_match)
    assert.truthy(p:modules().mime_module)
    p:close()
  end)

  it("quotes what Apache would split, and reads quotes back", function()
    assert.equal("a", parser.quote("a"))
    assert.equal('"a b"', parser.quote("a b"))
    assert.equal('"say \\"hi\\""', parser.quote('say "hi"'))
    assert.equal("a b", parser.unquote('"a b"'))
    assert.equal('say "hi"', parser.unquote('"say \\"hi\\""'))
    assert.equal("'x'", parser.unquote("\"'x'\""))
    assert.equal("/a\\ b/c", parser.escape_path("/a b/c"))
  end)

  it("globs like Apache: sorted, no dotfiles, wildcards in directories", function()
    assert(sys.mkdir(dir .. "/x1", 493))
    assert(sys.mkdir(dir .. "/x2", 493))
    write(dir .. "/x2/b.conf", "")
    write(dir .. "/x1/b.conf", "")
    write(dir .. "/x1/a.conf", "")
    write(dir .. "/x1/.h.conf", "")
    write(dir .. "/x1/c.txt", "")
    assert.same({ dir .. "/x1/a.conf", dir .. "/x1/b.conf", dir .. "/x2/b.conf" },
      parser.glob(dir .. "/x?/*.conf"))
    assert.same({ dir .. "/x1/c.txt" }, parser.glob(dir .. "/x[!2]/*.txt"))
    assert.same({}, parser.glob(dir .. "/nothing/*.conf"))
  end)
end)
