-- The nginx configuration parser and writer (plugins/nginx/parser.lua),
-- server block selection (vhosts.lua) and the server_name regex matcher
-- (regex.lua).  The corpus in spec/fixtures/nginx round-trips byte for
-- byte, and real nginx agrees with what the parser reads.
local parser = require("certbot.plugins.nginx.parser")
local vhosts = require("certbot.plugins.nginx.vhosts")
local regex = require("certbot.plugins.nginx.regex")
local proc = require("spec.helpers.proc")
local nginx = require("spec.helpers.nginx")
local sys = require("certbot.core").sys

local FIX = "spec/fixtures/nginx"

local function fixture_files()
  local out = {}
  local p = io.popen("find " .. FIX .. " -type f | sort")
  for line in p:lines() do
    if not line:match("/README$") then out[#out + 1] = line end
  end
  p:close()
  return out
end

-- A copy of a fixture tree in a tmpdir, with logs/ and tmp/ for nginx.
local function copy_fixture(name)
  local dir = proc.tmpdir("nginx-fix-")
  assert(os.execute(("cp -r %s/. %s"):format(proc.quote(FIX .. "/" .. name), proc.quote(dir))))
  sys.mkdir(dir .. "/logs", 493)
  sys.mkdir(dir .. "/tmp", 493)
  return dir
end

local function find_node(children, pred)
  for _, n in ipairs(children) do
    if pred(n) then return n end
    if n.children then
      local r = find_node(n.children, pred)
      if r then return r end
    end
  end
end

local function named(name, arg1)
  return function(n)
    return parser.name(n) == name and (arg1 == nil or parser.args(n)[1] == arg1)
  end
end

describe("nginx parser", function()
  it("round-trips every file of the corpus byte for byte", function()
    local files = fixture_files()
    assert.is_true(#files >= 25, "corpus has " .. #files .. " files")
    for _, path in ipairs(files) do
      local text = assert(proc.read(path))
      local tree, err = parser.parse(text, path)
      assert(tree, err)
      assert.equal(text, parser.dump(tree), path)
    end
  end)

  it("reads quoted words, escapes and ${var} the way nginx does", function()
    local tree = assert(parser.parse(assert(proc.read(FIX .. "/maps/nginx.conf"))))
    local brace = find_node(tree.children, named("location", "="))
    assert.same({ "=", "/brace" }, parser.args(brace))
    assert.same({ "200", '\\{ \\} "quoted" \\ ${x}' }, parser.args(brace.children[1]))
    local esc = find_node(tree.children, named("location", "/esc"))
    assert.same({ "200", "single 'quoted' text with \"double\" inside" }, parser.args(esc.children[1]))
    local set = find_node(tree.children, named("set", "$x"))
    assert.same({ "$x", "${host}-x" }, parser.args(set))
    -- an escaped brace stays in a bare word, backslash and all
    local rw = find_node(tree.children, named("rewrite", "^/a\\{b$"))
    assert.same({ "^/a\\{b$", "/c", "last" }, parser.args(rw))
    -- '(' and ')' are parts of words; a ')' right after a quote is a word of its own
    local iff = find_node(tree.children, function(n)
      return parser.name(n) == "if" and parser.args(n)[1] == "($http_user_agent"
    end)
    assert.same({ "($http_user_agent", "~*", "(curl|wget){1}", ")" }, parser.args(iff))
    assert.equal("", iff.words[5].sep)
    -- a map entry with an empty quoted key
    local map = find_node(tree.children, named("map", "$http_upgrade"))
    assert.same({ "", "close" }, { parser.name(map.children[2]), parser.args(map.children[2])[1] })
    assert.equal("''", map.children[2].words[1].raw)
  end)

  it("keeps comments, CRLF and odd spacing, and reads the words under them", function()
    local text = assert(proc.read(FIX .. "/odd/nginx.conf"))
    assert.truthy(text:find("\r\n", 1, true))
    assert.is_nil(text:find("\n$"))
    local tree = assert(parser.parse(text))
    local servers = {}
    local http = find_node(tree.children, named("http"))
    for _, n in ipairs(http.children) do
      if parser.name(n) == "server" then servers[#servers + 1] = n end
    end
    assert.equal(2, #servers)
    local sn = find_node(servers[1].children, named("server_name"))
    assert.same({ "odd.example", "quoted.example", "single.example" }, parser.args(sn))
    local ret = find_node(servers[1].children, named("return", "200"))
    assert.same({ "200", "a;b{c}d#e" }, parser.args(ret))
    -- a comment between the arguments of a directive
    local two = find_node(servers[1].children, named("location", "/two"))
    assert.same({ "200", "x" }, parser.args(two.children[1]))
    assert.matches("# a comment between arguments", two.children[1].words[2].sep)
    -- '#' inside a word is not a comment
    local hash = find_node(servers[1].children, named("add_header", "X-Hash"))
    assert.same({ "X-Hash", "a#b" }, parser.args(hash))
    local names = find_node(servers[2].children, named("server_name"))
    assert.same({ "next.example", "other.example" }, parser.args(names))
    assert.equal("# last line without a newline", tree.tail:match("[^\n]*$"))
  end)

  it("keeps the bodies of *_by_lua_block verbatim, braces in Lua strings and comments too", function()
    local text = assert(proc.read(FIX .. "/lua/nginx.conf"))
    local tree = assert(parser.parse(text))
    local init = find_node(tree.children, named("init_by_lua_block"))
    assert.is_nil(init.children)
    local start = text:find("init_by_lua_block {", 1, true) + #"init_by_lua_block {"
    local body = init.lua
    assert.equal(text:sub(start, start + #body - 1), body)
    assert.matches('local r = "a \\" } quote"\n    $', body)
    local set = find_node(tree.children, named("set_by_lua_block"))
    assert.same({ "$res" }, parser.args(set))
    assert.equal(" return tonumber(ngx.var.arg_a or 0) + 1 ", set.lua)
    local hf = find_node(tree.children, named("header_filter_by_lua_block"))
    assert.equal('ngx.header["X-Lua"]="1"', hf.lua)
    local logb = find_node(tree.children, named("log_by_lua_block"))
    assert.matches("local m = {{}, {{}}}", logb.lua, 1, true)
    -- the directives after the Lua blocks are still seen
    local stream = find_node(tree.children, named("stream"))
    assert.truthy(find_node(stream.children, named("proxy_pass")))
  end)

  it("rejects what nginx rejects, naming the file and line", function()
    local cases = {
      { "a {\n b;\n", 'x.conf:1: unexpected end of file, expecting "}"' },
      { "a;\n}\n", 'x.conf:2: unexpected "}"' },
      { "a b }\n", 'x.conf:1: unexpected "}"' },
      { ";", 'x.conf:1: unexpected ";"' },
      { "a\nb", 'x.conf:2: unexpected end of file, expecting ";" or "}"' },
      { 'a "b\n', "x.conf:1: unexpected end of file, expecting terminating quote" },
      { 'a "b"c;', 'x.conf:1: unexpected "c"' },
      { "content_by_lua_block { x = '}\n }", "x.conf:1: unfinished string in a Lua block" },
      { "content_by_lua_block { x = 1 ", 'x.conf:1: unexpected end of file in a Lua block, expecting "}"' },
    }
    for _, c in ipairs(cases) do
      local tree, err = parser.parse(c[1], "x.conf")
      assert.is_nil(tree, c[1])
      assert.equal(c[2], err)
    end
  end)

  it("quotes only what needs quoting when it writes a value", function()
    assert.equal("plain", parser.quote("plain"))
    assert.equal("https://$host$request_uri", parser.quote("https://$host$request_uri"))
    assert.equal('"a b"', parser.quote("a b"))
    assert.equal('"a;b"', parser.quote("a;b"))
    assert.equal('""', parser.quote(""))
    assert.equal('"say \\"hi\\" \\\\ {x}"', parser.quote('say "hi" \\ {x}'))
    for _, v in ipairs({ "a b", "a;b", "", 'q"', "\\", "{", "x#y", "'" }) do
      local t = assert(parser.parse("d " .. parser.quote(v) .. ";"))
      assert.equal(v, parser.args(t.children[1])[1])
    end
  end)

  describe("edits", function()
    local src = table.concat({
      "# head",
      "server {",
      "    listen 80; # plain",
      "    server_name a.example;",
      "",
      "    # the root",
      "    root /srv;",
      "}",
      "",
    }, "\n")

    it("inserts with the block's indentation and leaves every other byte alone", function()
      local tree = assert(parser.parse(src))
      local server = tree.children[1]
      parser.insert(server, #server.children + 1, parser.directive({ "listen", "443", "ssl" }),
        { comment = "managed by Certbot" })
      parser.insert(server, 1, parser.directive({ "if", "($host", "=", "a.example)" },
        { parser.directive({ "return", "301", "https://$host$request_uri" }) }), { comment = "managed" })
      assert.equal(table.concat({
        "# head",
        "server {",
        "    if ($host = a.example) {",
        "        return 301 https://$host$request_uri;",
        "    } # managed",
        "    listen 80; # plain",
        "    server_name a.example;",
        "",
        "    # the root",
        "    root /srv;",
        "    listen 443 ssl; # managed by Certbot",
        "}",
        "",
      }, "\n"), parser.dump(tree))
    end)

    it("keeps a comment that ended the previous line on that line", function()
      local tree = assert(parser.parse(src))
      local server = tree.children[1]
      parser.insert(server, 2, parser.directive({ "listen", "443", "ssl" }))
      assert.matches("    listen 80; # plain\n    listen 443 ssl;\n    server_name a.example;", parser.dump(tree),
        1, true)
    end)

    it("removes a directive with its line and its own trailing comment", function()
      local tree = assert(parser.parse(src))
      local server = tree.children[1]
      parser.remove(server, 1)
      assert.equal(src:gsub("    listen 80; # plain\n", ""), parser.dump(tree))
      -- and a directive after comment lines keeps them
      tree = assert(parser.parse(src))
      parser.remove(tree.children[1], 3)
      assert.equal(src:gsub("    root /srv;\n", ""), parser.dump(tree))
    end)

    it("inserts into one-line and empty blocks, and uses tabs where the file does", function()
      local tree = assert(parser.parse("http {\n\tserver { listen 80; }\n\tserver {}\n}\n"))
      local s1, s2 = tree.children[1].children[1], tree.children[1].children[2]
      parser.insert(s1, 2, parser.directive({ "server_name", "x" }))
      parser.insert(s2, 1, parser.directive({ "listen", "81" }))
      assert.equal("http {\n\tserver { listen 80; \n\t\tserver_name x;\n\t}\n\tserver {\n\t\tlisten 81;\n\t}\n}\n",
        parser.dump(tree))
      assert(parser.parse(parser.dump(tree)))
    end)

    it("set_args keeps the spelling of unchanged words; quoted() forces quotes", function()
      local tree = assert(parser.parse("add_header  'X-A'   \"v\"  always;"))
      local n = tree.children[1]
      parser.set_args(n, { "X-A", parser.quoted("w"), "always" })
      assert.equal("add_header  'X-A'   \"w\"  always;", parser.dump(tree))
    end)
  end)

  describe("load", function()
    it("follows includes with globs relative to the root, in glob(3) order", function()
      local cfg = assert(parser.load(FIX .. "/multisite"))
      local rel = {}
      for i, p in ipairs(cfg.order) do rel[i] = p:sub(#FIX + #"/multisite/" + 1) end
      assert.same({ "nginx.conf", "mime.types", "conf.d/gzip.conf", "conf.d/temp-paths.conf",
        "sites-enabled/00-default.conf", "sites-enabled/example.org.conf", "snippets/proxy.conf",
        "sites-enabled/secure.example.org.conf", "snippets/listen-plain.conf",
        "sites-enabled/static.example.com.conf", "sites-enabled/wildcards.conf" }, rel)
      for _, p in ipairs(cfg.order) do
        assert.equal(cfg.files[p].text, parser.dump(cfg.files[p].tree))
      end
      assert.same({}, parser.changed(cfg))
    end)

    it("includes inside a map, and a glob that matches nothing", function()
      local dir = copy_fixture("maps")
      finally(function() proc.rm_rf(dir) end)
      local f = assert(io.open(dir .. "/nginx.conf", "ab"))
      f:write("include nothing-here/*.conf;\n")
      f:close()
      local cfg = assert(parser.load(dir))
      assert.truthy(cfg.files[dir .. "/maps/extra-hosts.map"])
      -- a missing file (not a glob) is an error, as for nginx
      f = assert(io.open(dir .. "/nginx.conf", "ab"))
      f:write("include missing.conf;\n")
      f:close()
      local bad, err = parser.load(dir)
      assert.is_nil(bad)
      assert.matches("missing%.conf", err)
    end)

    it("reads Debian's layout (sites-enabled symlink, absolute includes)", function()
      local dir = copy_fixture("debian")
      finally(function() proc.rm_rf(dir) end)
      local conf = assert(proc.read(dir .. "/nginx.conf")):gsub("/etc/nginx/", dir .. "/")
      nginx.write(dir .. "/nginx.conf", conf)
      for _, d in ipairs({ "conf.d", "modules-enabled", "sites-enabled" }) do sys.mkdir(dir .. "/" .. d, 493) end
      assert(os.execute(("ln -s ../sites-available/default %s/sites-enabled/default"):format(proc.quote(dir))))
      local cfg = assert(parser.load(dir))
      local f = cfg.files[dir .. "/sites-enabled/default"]
      assert.equal(dir .. "/sites-available/default", f.real)
      local list = vhosts.servers(cfg)
      assert.equal(1, #list)
      assert.same({ "_" }, list[1].names)
      assert.same({ { "*", 80, true }, { "[::]", 80, true } }, {
        { list[1].listens[1].addr, list[1].listens[1].port, list[1].listens[1].default },
        { list[1].listens[2].addr, list[1].listens[2].port, list[1].listens[2].default } })
      assert.is_true(list[1].listens[2].ipv6)
      assert.same({}, vhosts.names(list))
      assert.equal(list[1], vhosts.default_for(list, 80))
    end)
  end)
end)

describe("nginx server block selection", function()
  local cfg, list
  setup(function()
    cfg = assert(parser.load(FIX .. "/multisite"))
    list = vhosts.servers(cfg)
  end)

  local function chosen(host, bias)
    local vh = vhosts.best(list, host, bias)
    return vh and table.concat(vh.names, " ")
  end

  it("finds every server block of the http context, not upstream servers", function()
    assert.equal(11, #list)
  end)

  it("reads listen addresses, ports and flags", function()
    local l = vhosts.parse_listen
    assert.same({ "*", 80 }, { l({ "80" }).addr, l({ "80" }).port })
    assert.same({ "127.0.0.1", 80 }, { l({ "127.0.0.1" }).addr, l({ "127.0.0.1" }).port })
    assert.same({ "localhost", 8080 }, { l({ "localhost:8080" }).addr, l({ "localhost:8080" }).port })
    assert.same({ "*", 8000 }, { l({ "*:8000" }).addr, l({ "*:8000" }).port })
    local v6 = l({ "[::1]:443", "ssl", "default_server", "ipv6only=on" })
    assert.same({ "[::1]", 443, true, true, true }, { v6.addr, v6.port, v6.ssl, v6.default, v6.ipv6 })
    assert.same({ "[::]", 80 }, { l({ "[::]" }).addr, l({ "[::]" }).port })
    assert.is_true(l({ "unix:/run/x.sock" }).unix)
    assert.equal("127.0.0.1:8443", vhosts.listen_spec("127.0.0.1", 8443))
    assert.equal("443", vhosts.listen_spec("*", 443))
    assert.equal("[::]:443", vhosts.listen_spec("[::]", 443))
    -- a listen from an included snippet counts; no listen means port 80
    local secure = vhosts.best(list, "secure.example.org")
    assert.same({ 8080, 8080 }, { secure.listens[1].port, secure.listens[2].port })
    local static = vhosts.best(list, "static.example.com")
    assert.is_true(static.listens[1].implicit)
    assert.equal(80, static.listens[1].port)
  end)

  it("picks as nginx does: exact, longest leading wildcard, trailing wildcard, first regex", function()
    assert.equal("example.org www.example.org", chosen("example.org"))
    assert.equal("example.org www.example.org", chosen("WWW.Example.ORG"))
    assert.equal("*.example.org", chosen("blog.example.org"))
    assert.equal("*.shop.example.org", chosen("a.shop.example.org")) -- the longer wildcard
    assert.equal(".example.net", chosen("example.net"))
    assert.equal(".example.net", chosen("deep.sub.example.net"))
    assert.equal("mail.*", chosen("mail.example.com")) -- before the ~^mail\. regex
    assert.equal("~^(?<user>[a-z0-9-]+)\\.users\\.example\\.com$", chosen("bob.users.example.com"))
    assert.equal("~^www\\d+\\.example\\.com$ ~^mail\\.", chosen("www12.example.com"))
    assert.is_nil(chosen("www.example.com"))
    assert.is_nil(chosen("unknown.test"))
    -- when no name matches, the default server of the port answers
    local def = vhosts.default_for(list, 8080)
    assert.same({ "_" }, def.names)
  end)

  it("prefers TLS blocks for the installer, plain blocks on the HTTP port for the authenticator", function()
    local tls_first = function(vh) return vh.ssl and 0 or 4 end
    local vh = vhosts.best(list, "secure.example.org", tls_first)
    assert.is_true(vh.ssl)
    assert.equal(8443, vh.listens[1].port)
    local plain = vhosts.best(vhosts.on_port(list, 8080, false), "secure.example.org")
    assert.is_false(plain.ssl)
    -- without the bias the first block in file order wins the tie
    assert.is_false(vhosts.best(list, "secure.example.org").ssl)
  end)

  it("lists plain names for an interactive choice", function()
    assert.same({ "example.org", "secure.example.org", "static.example.com", "www.example.org" },
      vhosts.names(list))
  end)
end)

describe("nginx server_name regex", function()
  it("matches the PCRE subset nginx configurations use, caseless", function()
    local cases = {
      { "^www\\d+\\.example\\.net$", "www12.example.net", true },
      { "^www\\d+\\.example\\.net$", "WWW12.Example.NET", true },
      { "^www\\d+\\.example\\.net$", "www.example.net", false },
      { "^(?<user>.+)\\.example\\.net$", "bob.example.net", true },
      { "^(?<user>.+)\\.example\\.net$", "example.net", false },
      { "^(?P<a>x)(?'b'y)(?:z)$", "xyz", true },
      { "^(a|b)+c{2,3}$", "ababcc", true },
      { "^(a|b)+c{2,3}$", "ababcccc", false },
      { "^[^.]+\\.test$", "foo.test", true },
      { "^[^.]+\\.test$", "a.foo.test", false },
      { "^[a-z0-9-]+\\.x$", "AB-9.x", true },
      { "^[^a-z]+$", "AB", false },
      { "example", "www.example.org", true },
      { "^a.*?b$", "axxb", true },
      { "\\bfoo\\b", "a.foo.b", true },
      { "\\bfoo\\b", "afoo.b", false },
      { "^x?$", "", true },
      { "^[[:alpha:]]+\\.[[:digit:]]{2}$", "ab.12", true },
      { "\\Aa\\z", "a", true },
    }
    for _, c in ipairs(cases) do
      local m, err = regex.compile(c[1])
      assert(m, err)
      assert.equal(c[3], m(c[2]), c[1] .. " on " .. c[2])
    end
  end)

  it("refuses what it does not implement, so such a name never matches", function()
    for _, p in ipairs({ "^(?=a)", "(a)\\1", "\\p{L}", "a(" , "[a" }) do
      local m, err = regex.compile(p)
      assert.is_nil(m, p)
      assert.matches("unsupported regex", err)
    end
    assert.is_nil(vhosts.match("~^(?=x)", "x"))
  end)
end)

describe("the corpus under real nginx", function()
  local function on_port(dir, port)
    -- move every listen of the copy to 127.0.0.1:port, with the parser
    local cfg = assert(parser.load(dir))
    for _, vh in ipairs((vhosts.servers(cfg))) do
      for _, l in ipairs(vh.listens) do
        if l.node and l.direct then
          parser.set_args(l.node, { "127.0.0.1:" .. port })
        end
      end
    end
    for _, f in ipairs(parser.changed(cfg)) do nginx.write(f.real, f.new_text) end
  end

  it("nginx -t accepts the self-contained fixtures, and after edits by the parser", function()
    local dirs = {}
    finally(function() for _, d in ipairs(dirs) do proc.rm_rf(d) end end)
    for _, name in ipairs({ "multisite", "maps", "odd" }) do
      local dir = copy_fixture(name)
      dirs[#dirs + 1] = dir
      if name == "multisite" then
        assert(os.execute(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
          .. "-keyout %s/ssl/secure.key -out %s/ssl/secure.pem -subj /CN=x -days 1 2>/dev/null")
          :format(dir, dir)))
      end
      local ng = nginx.new({ root = dir })
      local code, out = ng:test()
      assert.equal(0, code, name .. ": " .. out)
      -- add a directive to every server block and test again
      local cfg = assert(parser.load(dir))
      for _, vh in ipairs((vhosts.servers(cfg))) do
        parser.insert(vh.node, #vh.node.children + 1, parser.directive({ "add_header", "X-Spec",
          parser.quoted("v 1"), "always" }), { comment = "managed by Certbot" })
      end
      for _, f in ipairs(parser.changed(cfg)) do nginx.write(f.real, f.new_text) end
      code, out = ng:test()
      assert.equal(0, code, name .. " after edits: " .. out)
    end
  end)

  it("serves the values the parser reads (quotes, escapes, braces)", function()
    local port = nginx.ports(1)
    local dir = copy_fixture("maps")
    local odd = copy_fixture("odd")
    local ng, ng2
    finally(function()
      if ng then ng:cleanup() else proc.rm_rf(dir) end
      if ng2 then ng2:cleanup() else proc.rm_rf(odd) end
    end)
    on_port(dir, port)
    ng = nginx.new({ root = dir, http = port, https = port }):start()
    local tree = assert(parser.parse(assert(proc.read(dir .. "/nginx.conf"))))
    local brace = find_node(tree.children, named("location", "="))
    local status, _, body = ng:get("maps.example", "/brace")
    assert.equal(200, status)
    -- ${x} is "<host>-x" at run time
    assert.equal((parser.args(brace.children[1])[2]:gsub("%${x}", "maps.example-x")), body)
    local esc = find_node(tree.children, named("location", "/esc"))
    status, _, body = ng:get("maps.example", "/esc")
    assert.equal(200, status)
    assert.equal(parser.args(esc.children[1])[2], body)
    status = ng:get("maps.example", "/item/1234")
    assert.equal(200, status)

    local port2 = nginx.ports(1)
    on_port(odd, port2)
    ng2 = nginx.new({ root = odd, http = port2, https = port2 }):start()
    status, _, body = ng2:get("odd.example", "/")
    assert.equal(200, status)
    assert.equal("a;b{c}d#e", body)
    status, _, body = ng2:get("single.example", "/multi-line")
    assert.same({ 200, "line one\nline two" }, { status, body })
    status = ng2:get("other.example", "/")
    assert.equal(204, status)
  end)
end)
