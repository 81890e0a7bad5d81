-- core.augeas against real files and Debian's lenses
-- (/usr/share/augeas/lenses/dist/httpd.aug).
local core = require("certbot.core")
local proc = require("spec.helpers.proc")

local sys = core.sys

local function write(path, data)
  assert(sys.write_atomic(path, data, 420))
end

local SITE = [[
# The site of a.example.
<VirtualHost *:80>
	ServerName a.example
	ServerAlias www.a.example
	DocumentRoot /var/www/a

	<Directory /var/www/a>
	    Options -Indexes
	</Directory>
</VirtualHost>

<VirtualHost *:80>
    ServerName b.example
</VirtualHost>
]]

local CONF = [[
# main file
Listen 80
IncludeOptional sites-enabled/*.conf
]]

-- A tmp root holding etc/apache2/{apache2.conf,sites-available/a.conf,broken.conf}.
local function make_root()
  local root = proc.tmpdir("augeas-")
  assert(sys.mkdir(root .. "/etc/apache2/sites-available", 493, true))
  write(root .. "/etc/apache2/apache2.conf", CONF)
  write(root .. "/etc/apache2/sites-available/a.conf", SITE)
  write(root .. "/etc/apache2/broken.conf", "<VirtualHost *:80>\n  ServerName x\n")
  return root
end

-- An augeas tree with the Httpd lens over the given files (under root).
local function open(root, files, flags)
  local aug = assert(core.augeas.new({ root = root,
    flags = flags or { "no_modl_autoload", "no_load", "enable_span" } }))
  assert(aug:set("/augeas/load/Httpd/lens", "Httpd.lns"))
  for i, f in ipairs(files) do assert(aug:set("/augeas/load/Httpd/incl[" .. i .. "]", f)) end
  assert(aug:load())
  return aug
end

describe("core.augeas #core", function()
  local root

  before_each(function() root = make_root() end)
  after_each(function() proc.rm_rf(root) end)

  it("loads an apache config with the Httpd lens and finds its VirtualHosts", function()
    local aug = open(root, { "/etc/apache2/apache2.conf", "/etc/apache2/sites-available/a.conf" })
    local vhs = assert(aug:match("/files/etc/apache2//VirtualHost"))
    assert.same({ "/files/etc/apache2/sites-available/a.conf/VirtualHost[1]",
      "/files/etc/apache2/sites-available/a.conf/VirtualHost[2]" }, vhs)
    assert.equal("*:80", aug:get(vhs[1] .. "/arg"))
    local names = {}
    for _, n in ipairs(assert(aug:match("/files/etc/apache2//VirtualHost/directive[. = 'ServerName']/arg"))) do
      names[#names + 1] = aug:get(n)
    end
    assert.same({ "a.example", "b.example" }, names)
    -- a case-insensitive match, as the plugin does it
    assert.equal(1, #assert(aug:match("/files/etc/apache2/apache2.conf/directive[. =~ "
      .. "regexp('includeoptional', 'i')]")))
    assert.equal("sites-enabled/*.conf",
      aug:get("/files/etc/apache2/apache2.conf/directive[2]/arg"))
    assert.equal(2, aug:count("/files/etc/apache2//VirtualHost"))
    assert.equal("VirtualHost", aug:label(vhs[2]))
    aug:close()
  end)

  it("sets, inserts and removes, and save() writes exactly those changes", function()
    local aug = open(root, { "/etc/apache2/apache2.conf", "/etc/apache2/sites-available/a.conf" })
    local vh = "/files/etc/apache2/sites-available/a.conf/VirtualHost[1]"
    -- a new directive right after ServerAlias
    assert.is_true(aug:insert(vh .. "/directive[2]", "directive", false))
    assert.is_true(aug:set(vh .. "/directive[3]", "ServerAlias"))
    assert.is_true(aug:set(vh .. "/directive[3]/arg", "new.example"))
    -- change a value, remove the second vhost's only directive and the comment
    assert.is_true(aug:set(vh .. "/directive[. = 'DocumentRoot']/arg", "/srv/a"))
    assert.equal(2, aug:rm("/files/etc/apache2/sites-available/a.conf/VirtualHost[2]/directive"))
    assert.equal(1, aug:rm("/files/etc/apache2/sites-available/a.conf/#comment"))
    assert.equal(0, aug:rm("/files/etc/apache2/nothing"))
    assert.is_true(aug:save())
    -- (augeas gives the new line the indentation that was before the
    -- next one, and that one gets none)
    assert.equal([[
<VirtualHost *:80>
	ServerName a.example
	ServerAlias www.a.example
	ServerAlias new.example
DocumentRoot /srv/a

	<Directory /var/www/a>
	    Options -Indexes
	</Directory>
</VirtualHost>

<VirtualHost *:80>
</VirtualHost>
]], proc.read(root .. "/etc/apache2/sites-available/a.conf"))
    -- the untouched file is not rewritten
    assert.equal(CONF, proc.read(root .. "/etc/apache2/apache2.conf"))
    assert.same({ "/files/etc/apache2/sites-available/a.conf" }, (function()
      local out = {}
      for _, n in ipairs(aug:match("/augeas/events/saved")) do out[#out + 1] = aug:get(n) end
      return out
    end)())
    aug:close()
  end)

  it("a noop save tells which files would change and writes nothing", function()
    local aug = open(root, { "/etc/apache2/sites-available/a.conf" })
    assert(aug:set("/files/etc/apache2/sites-available/a.conf/VirtualHost[2]/directive/arg",
      "c.example"))
    assert(aug:set("/augeas/save", "noop"))
    assert.is_true(aug:save())
    assert.equal("/files/etc/apache2/sites-available/a.conf", aug:get("/augeas/events/saved"))
    assert.equal(SITE, proc.read(root .. "/etc/apache2/sites-available/a.conf"))
    assert(aug:set("/augeas/save", "overwrite"))
    assert.is_true(aug:save())
    assert.truthy(proc.read(root .. "/etc/apache2/sites-available/a.conf")
      :find("ServerName c.example", 1, true))
    aug:close()
  end)

  it("reports a file that does not parse through errors(), with its line", function()
    local aug = open(root, { "/etc/apache2/broken.conf", "/etc/apache2/apache2.conf" })
    local errs = assert(aug:errors())
    assert.equal(1, #errs)
    assert.equal("/etc/apache2/broken.conf", errs[1].file)
    assert.equal("parse_failed", errs[1].error)
    assert.equal("3", errs[1].line)
    assert.truthy(errs[1].message)
    assert.truthy(errs[1].lens:find("httpd.aug", 1, true))
    -- the good file is still there; the broken one is not
    assert.equal(1, aug:count("/files/etc/apache2/apache2.conf"))
    assert.equal(0, aug:count("/files/etc/apache2/broken.conf"))
    aug:close()
  end)

  it("fails save() with one line naming the file, and the details in a list", function()
    local aug = open(root, { "/etc/apache2/sites-available/a.conf" })
    assert(aug:set("/files/etc/apache2/sites-available/a.conf/VirtualHost[1]/nonsense", "x"))
    local ok, err, list = aug:save()
    assert.is_nil(ok)
    assert.truthy(err:find("^augeas: save failed: /etc/apache2/sites%-available/a%.conf: put_failed: "))
    assert.is_nil(err:find("\n", 1, true))
    assert.equal(1, #list)
    assert.equal("put_failed", list[1].error)
    assert.equal(SITE, proc.read(root .. "/etc/apache2/sites-available/a.conf"))
    aug:close()
  end)

  it("returns nil, message for expected failures", function()
    local aug = open(root, { "/etc/apache2/sites-available/a.conf" })
    local v, err = aug:get("/files/etc/apache2/sites-available/a.conf/VirtualHost")
    assert.is_nil(v)
    assert.truthy(err:find("^augeas: get /files/etc/apache2/sites%-available/a%.conf/VirtualHost: "
      .. "Too many matches"))
    v, err = aug:match("/files/[")
    assert.is_nil(v)
    assert.truthy(err:find("^augeas: match /files/%[: Invalid path expression"))
    v, err = aug:insert("/files/etc/none", "directive", true)
    assert.is_nil(v)
    assert.truthy(err:find("^augeas: insert /files/etc/none: "))
    v, err = aug:mv("/files/etc/none", "/x")
    assert.is_nil(v)
    assert.truthy(err:find("^augeas: mv /files/etc/none: "))
    -- no node is nil without an error
    assert.is_nil(aug:get("/files/etc/none"))
    assert.is_nil(select(2, aug:get("/files/etc/none")))
    aug:close()
  end)

  it("gives the span of a node in its file", function()
    local aug = open(root, { "/etc/apache2/sites-available/a.conf" })
    local sp = assert(aug:span("/files/etc/apache2/sites-available/a.conf/VirtualHost[2]"))
    assert.equal(root .. "/etc/apache2/sites-available/a.conf", sp.filename)
    assert.equal("<VirtualHost *:80>\n    ServerName b.example\n</VirtualHost>\n",
      SITE:sub(sp.span_start + 1, sp.span_end))
    local ok, err = aug:span("/files/etc/none")
    assert.is_nil(ok)
    assert.truthy(err:find("^augeas: span /files/etc/none"))
    aug:close()
  end)

  it("adds a file with transform() and loads it alone with load_file()", function()
    local aug = open(root, { "/etc/apache2/apache2.conf" })
    assert(aug:set("/files/etc/apache2/apache2.conf/directive[1]/arg", "8080"))
    write(root .. "/etc/apache2/extra.conf", "Listen 81\n")
    assert.is_true(aug:transform("Httpd.lns", "/etc/apache2/extra.conf", false))
    assert.is_true(aug:load_file("/etc/apache2/extra.conf"))
    assert.equal("81", aug:get("/files/etc/apache2/extra.conf/directive/arg"))
    -- the unsaved change elsewhere is still there
    assert.equal("8080", aug:get("/files/etc/apache2/apache2.conf/directive[1]/arg"))
    local n, created = aug:defnode("x", "/files/etc/apache2/extra.conf/directive[2]", "Listen")
    assert.equal(1, n)
    assert.is_true(created)
    assert.equal(2, aug:defvar("d", "/files/etc/apache2/extra.conf/directive"))
    assert.equal(2, aug:setm("$d", nil, "Listen"))
    aug:close()
  end)

  it("closes once, by close(), <close> or the collector; a closed handle is misuse", function()
    local aug = open(root, { "/etc/apache2/apache2.conf" })
    aug:close()
    aug:close()
    assert.truthy(tostring(aug):find("closed", 1, true))
    assert.has_error(function() aug:get("/files") end)
    do
      local a <close> = open(root, { "/etc/apache2/apache2.conf" })
      assert.truthy(tostring(a):find("open", 1, true))
    end
    for _ = 1, 3 do open(root, { "/etc/apache2/apache2.conf" }) end
    collectgarbage()
    assert.has_error(function() core.augeas.new({ flags = { "no_such_flag" } }) end,
      "bad argument #1 to 'new' (unknown augeas flag 'no_such_flag')")
  end)

  it("loads with the default lenses when module autoload is on", function()
    local aug = assert(core.augeas.new({ root = root }))
    -- /etc/apache2/apache2.conf is one of the Httpd lens's own files
    assert.equal(1, aug:count("/files/etc/apache2/apache2.conf"))
    aug:close()
  end)
end)

describe("libaugeas is loaded on first use", function()
  local build = os.getenv("CERTBOT_BUILD") or "build"

  it("is not linked into the executable", function()
    local p = io.popen("ldd " .. proc.quote(build .. "/certbot") .. " 2>&1")
    local out = p:read("a")
    p:close()
    assert.truthy(out:find("libc", 1, true), out)
    assert.is_nil(out:find("libaugeas", 1, true))
    assert.is_nil(out:find("libxml2", 1, true))
  end)

  it("names the library when it lacks what we need", function()
    if os.getenv("CERTBOT_SAN") then
      pending("a child lua5.4 cannot load the sanitizer build's core.so")
      return
    end
    local dir = proc.tmpdir("fakeaug-")
    finally(function() proc.rm_rf(dir) end)
    local f = assert(io.open(dir .. "/empty.c", "w"))
    f:write("int certbot_spec_nothing(void) { return 0; }\n")
    f:close()
    assert.is_true(os.execute(("cc -shared -fPIC -o %s/libaugeas.so.0 %s/empty.c")
      :format(proc.quote(dir), proc.quote(dir))))
    local p = io.popen(("LD_LIBRARY_PATH=%s lua5.4 -e %s 2>&1"):format(proc.quote(dir),
      proc.quote("package.cpath = '" .. build .. "/lib/?.so;' .. package.cpath; "
        .. "local c = require('certbot.core'); print(select(2, c.augeas.new()))")))
    local out = p:read("a")
    p:close()
    assert.equal("augeas: libaugeas.so.0 lacks aug_init\n", out)
  end)
end)
