-- certbot.storage: lineages and accounts in Certbot's layout, through the
-- filesystem backend, in a temp config dir.  stat(1) judges modes and
-- links; Debian's certbot (its storage.RenewableCert, through python3)
-- judges that Certbot reads what we write and that we read what it writes.

local storage = require("certbot.storage")
local confobj = require("certbot.confobj")
local core = require("certbot.core")
local cjson = require("cjson")
local crypto, sys = core.crypto, core.sys

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(sys.mkdir(p, 448))
  return p
end

local function rm_rf(p) os.execute("rm -rf '" .. p .. "'") end

local function sh(cmd)
  local p = assert(io.popen("(" .. cmd .. ") 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok == true
end

-- octal mode as stat(1) prints it ("600")
local function mode(path)
  local out, ok = sh("stat -c %a '" .. path .. "'")
  assert(ok, out)
  return (out:gsub("%s+$", ""))
end

local function readlink(path)
  local out, ok = sh("readlink '" .. path .. "'")
  assert(ok, out)
  return (out:gsub("\n$", ""))
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function exists(path) return sys.lstat(path) ~= nil end

local function sorted(t)
  table.sort(t)
  return t
end

local function ls(dir) return sorted(sys.listdir(dir) or {}) end

-- A certificate set as a CA would hand it back, with its key.
local function cert_set(name)
  local key = assert(crypto.generate_key("ec", "P-256"))
  local ca = assert(crypto.generate_key("ec", "P-256"))
  local cert = crypto.der_to_pem(assert(crypto.self_signed_cert(key,
    { { type = "dns", value = name } }, { days = 90 })), "CERTIFICATE")
  local chain = crypto.der_to_pem(assert(crypto.self_signed_cert(ca,
    { { type = "dns", value = "ca.invalid" } }, { days = 90 })), "CERTIFICATE")
  return { cert = cert, chain = chain, fullchain = cert .. chain, privkey = assert(key:pem()) }
end

local function params(extra)
  local p = {
    { "account", "0123456789abcdef0123456789abcdef" },
    { "authenticator", "webroot" },
    { "server", "https://acme-v02.api.letsencrypt.org/directory" },
    { "key_type", "ecdsa" },
    { "webroot_map", { section = { { "x.example", "/var/www/html" } } } },
  }
  for _, kv in ipairs(extra or {}) do p[#p + 1] = kv end
  p.known = {}
  for _, kv in ipairs(p) do p.known[kv[1]] = true end
  return p
end

-- Debian's certbot reads a lineage: JSON facts, or the error it raised.
local PY_CERTBOT = [[
import argparse, json, sys
from certbot._internal import storage, constants
from certbot import configuration
ns = argparse.Namespace(**constants.CLI_DEFAULTS)
ns.config_dir, ns.work_dir, ns.logs_dir = sys.argv[1], sys.argv[1] + "/work", sys.argv[1] + "/logs"
cfg = configuration.NamespaceConfig(ns)
if sys.argv[2] == "read":
    rc = storage.RenewableCert(sys.argv[3], cfg)
    print(json.dumps({
        "name": rc.lineagename,
        "latest": rc.latest_common_version(),
        "current": {k: rc.current_version(k) for k in ("cert", "privkey", "chain", "fullchain")},
        "names": rc.names(),
        "pending": rc.has_pending_deployment(),
        "renewalparams": dict(rc.configuration["renewalparams"]),
        "server": rc.server,
    }))
else:
    # Certbot creating a lineage itself; relevant_values needs its argument
    # parser, so the renewal parameters are given here instead.
    storage.relevant_values = lambda values: {"authenticator": "standalone",
        "server": "https://acme-v02.api.letsencrypt.org/directory", "key_type": "ecdsa"}
    rd = lambda n: open(sys.argv[3] + "/" + n, "rb").read()
    rc = storage.RenewableCert.new_lineage(sys.argv[4], rd("cert"), rd("privkey"), rd("chain"), cfg)
    print(json.dumps({"name": rc.lineagename}))
]]

local function certbot(...)
  local code, out, err = sys.run({ "/usr/bin/python3", "-c", PY_CERTBOT, ... }, sys.environ())
  assert(code == 0, "Debian's certbot (python3-certbot) is the judge here: " .. tostring(err))
  return cjson.decode(out)
end

describe("storage (filesystem backend)", function()
  local tmp, root, b
  local old_umask

  before_each(function()
    old_umask = sys.umask(18) -- 022, as a root shell has it
    tmp = tmpdir()
    root = tmp .. "/etc/letsencrypt"
    b = storage.filesystem(root)
  end)
  after_each(function()
    sys.umask(old_umask)
    rm_rf(tmp)
  end)

  describe("setup", function()
    it("creates Certbot's tree with its modes, whatever the umask", function()
      sys.umask(63) -- 077
      assert.is_true(b:setup())
      assert.equal("755", mode(root))
      for _, d in ipairs({ "accounts", "archive", "live" }) do
        assert.equal("700", mode(root .. "/" .. d), d)
      end
      for _, d in ipairs({ "renewal", "renewal-hooks", "renewal-hooks/pre", "renewal-hooks/deploy",
        "renewal-hooks/post" }) do
        assert.equal("755", mode(root .. "/" .. d), d)
      end
      assert.same({ "accounts", "archive", "live", "renewal", "renewal-hooks" }, ls(root))
      -- a second run is harmless
      assert.is_true(b:setup())
    end)

    it("reports a config dir it cannot create", function()
      write(tmp .. "/file", "x")
      local ok, err = storage.filesystem(tmp .. "/file/sub"):setup()
      assert.is_nil(ok)
      assert.matches("file/sub", err, 1, true)
    end)
  end)

  describe("new_lineage", function()
    local files
    before_each(function()
      assert(b:setup())
      files = cert_set("x.example")
    end)

    it("writes the archive, relative live links, README and the renewal conf", function()
      local l = assert(storage.new_lineage(b, "x.example", files, params(), { version = "2.1.0" }))
      assert.equal("x.example", l.name)
      local arch, live = root .. "/archive/x.example", root .. "/live/x.example"
      -- version 1's deploy hooks are pending until the caller says they ran
      assert.same({ ".deploy-pending", "cert1.pem", "chain1.pem", "fullchain1.pem", "privkey1.pem" }, ls(arch))
      assert.equal(1, l:recover())
      assert(l:deploy_done())
      assert.is_nil(l:recover())
      assert.same({ "cert1.pem", "chain1.pem", "fullchain1.pem", "privkey1.pem" }, ls(arch))
      assert.equal("700", mode(arch))
      assert.equal("600", mode(arch .. "/privkey1.pem"))
      for _, k in ipairs({ "cert", "chain", "fullchain" }) do
        assert.equal("644", mode(arch .. "/" .. k .. "1.pem"))
      end
      for _, k in ipairs(storage.KINDS) do
        assert.equal(files[k], read(arch .. "/" .. k .. "1.pem"))
        assert.equal("../../archive/x.example/" .. k .. "1.pem", readlink(live .. "/" .. k .. ".pem"))
        assert.equal(files[k], read(live .. "/" .. k .. ".pem"))
      end
      assert.same({ "README", "cert.pem", "chain.pem", "fullchain.pem", "privkey.pem" }, ls(live))
      assert.matches("DO NOT MOVE OR RENAME THESE FILES", read(live .. "/README"), 1, true)

      local text = read(root .. "/renewal/x.example.conf")
      assert.equal("644", mode(root .. "/renewal/x.example.conf"))
      assert.equal("# renew_before_expiry = 30 days\n", text:match("^[^\n]*\n"))
      local conf = assert(confobj.parse(text))
      assert.same({ "version", "archive_dir", "cert", "privkey", "chain", "fullchain" }, conf.order)
      assert.equal("2.1.0", conf.keys.version)
      assert.equal(arch, conf.keys.archive_dir)
      for _, k in ipairs(storage.KINDS) do assert.equal(live .. "/" .. k .. ".pem", conf.keys[k]) end
      assert.matches("\n\n# Options used in the renewal process\n[renewalparams]\n", text, 1, true)
      local rp = conf.sections.renewalparams
      assert.same({ "account", "authenticator", "server", "key_type" }, rp.order)
      assert.same({ ["x.example"] = "/var/www/html" }, rp.sections.webroot_map.keys)

      -- the lineage object
      assert.equal(1, l:version())
      assert.equal(1, l:consistent_version())
      assert.equal(files.cert, l:read("cert"))
      assert.equal("webroot", l.params.authenticator)
      assert.equal(root .. "/renewal/x.example.conf", l.conf_path)
      assert.equal(live .. "/privkey.pem", l.paths.privkey)
    end)

    it("writes what Certbot reads as a complete lineage (certbot judge)", function()
      assert(storage.new_lineage(b, "x.example", files, params(), { version = "2.1.0" }))
      local rc = certbot(root, "read", root .. "/renewal/x.example.conf")
      assert.equal("x.example", rc.name)
      assert.equal(1, rc.latest)
      assert.same({ cert = 1, privkey = 1, chain = 1, fullchain = 1 }, rc.current)
      assert.same({ "x.example" }, rc.names)
      assert.is_false(rc.pending)
      assert.equal("webroot", rc.renewalparams.authenticator)
      assert.same({ ["x.example"] = "/var/www/html" }, rc.renewalparams.webroot_map)
    end)

    it("picks NAME-0001, NAME-0002 when the name is taken", function()
      assert.equal("x.example", assert(storage.new_lineage(b, "x.example", files, params())).name)
      assert.equal("x.example-0001", assert(storage.new_lineage(b, "x.example", files, params())).name)
      assert.equal("x.example-0002", assert(storage.new_lineage(b, "x.example", files, params())).name)
      assert.equal("../../archive/x.example-0001/cert1.pem", readlink(root .. "/live/x.example-0001/cert.pem"))
      -- any part of a lineage takes the name, even a stray live dir
      assert(sys.mkdir(root .. "/live/y.example", 448))
      assert.equal("y.example-0001", assert(storage.new_lineage(b, "y.example", files, params())).name)
      assert.same({}, ls(root .. "/live/y.example"))
    end)

    it("removes the leftover of a killed first issuance and reuses its name", function()
      local arch, live = root .. "/archive/x.example", root .. "/live/x.example"
      assert(sys.mkdir(arch, 448))
      assert(sys.mkdir(live, 448))
      write(arch .. "/.incomplete", "")
      write(arch .. "/cert1.pem", "half written")
      write(arch .. "/privkey1.pem", "old key")
      assert(sys.symlink_swap("../../archive/x.example/cert1.pem", live .. "/cert.pem"))
      local l = assert(storage.new_lineage(b, "x.example", files, params()))
      assert.equal("x.example", l.name)
      assert(l:deploy_done())
      assert.same({ "cert1.pem", "chain1.pem", "fullchain1.pem", "privkey1.pem" }, ls(arch))
      assert.equal(files.cert, read(arch .. "/cert1.pem"))
      assert.equal(files.privkey, read(arch .. "/privkey1.pem"))
      assert.is_false(exists(root .. "/live/x.example-0001"))
    end)

    it("leaves an archive that is not a leftover alone (no .incomplete marker)", function()
      local arch = root .. "/archive/x.example"
      assert(sys.mkdir(arch, 448))
      write(arch .. "/cert1.pem", "someone else's")
      local l = assert(storage.new_lineage(b, "x.example", files, params()))
      assert.equal("x.example-0001", l.name)
      assert.equal("someone else's", read(arch .. "/cert1.pem"))
    end)

    it("reuses the name of one killed while writing its .incomplete marker (only a temp file there)", function()
      local arch = root .. "/archive/x.example"
      assert(sys.mkdir(arch, 448))
      write(arch .. "/..incomplete.0123456789ab.tmp", "")
      local l = assert(storage.new_lineage(b, "x.example", files, params()))
      assert.equal("x.example", l.name)
      assert.is_false(exists(arch .. "/..incomplete.0123456789ab.tmp"))
    end)

    it("removes what it wrote when it cannot finish, leaving no leftover", function()
      -- renewal/ is missing and cannot be created: a file sits there
      rm_rf(root .. "/renewal")
      write(root .. "/renewal", "not a directory")
      local l, err = storage.new_lineage(b, "x.example", files, params())
      assert.is_nil(l)
      -- (the first thing it writes there is the dirty mark)
      assert.matches(root .. "/renewal/.x.example.lock: Not a directory", err, 1, true)
      assert.is_false(exists(root .. "/archive/x.example"))
      assert.is_false(exists(root .. "/live/x.example"))
    end)
  end)

  describe("save_successor", function()
    local l, files1, files2
    before_each(function()
      assert(b:setup())
      files1, files2 = cert_set("x.example"), cert_set("x.example")
      l = assert(storage.new_lineage(b, "x.example", files1, params(), { version = "2.0.0" }))
    end)

    it("writes version 2 and moves all four links", function()
      assert.equal(2, l:save_successor(files2, params(), { version = "2.1.0" }))
      local arch, live = root .. "/archive/x.example", root .. "/live/x.example"
      for _, k in ipairs(storage.KINDS) do
        assert.equal("../../archive/x.example/" .. k .. "2.pem", readlink(live .. "/" .. k .. ".pem"))
        assert.equal(files2[k], read(live .. "/" .. k .. ".pem"))
        assert.equal(files1[k], read(arch .. "/" .. k .. "1.pem"))
      end
      assert.equal("600", mode(arch .. "/privkey2.pem"))
      assert.equal(2, l:version())
      assert.equal(2, l:consistent_version())
      assert.equal(files2.cert, l:read("cert"))
      assert.equal(files1.cert, l:read("cert", 1))
      local conf = assert(confobj.parse(read(root .. "/renewal/x.example.conf")))
      assert.equal("2.1.0", conf.keys.version)
      -- Certbot agrees
      local rc = certbot(root, "read", root .. "/renewal/x.example.conf")
      assert.equal(2, rc.latest)
      assert.same({ cert = 2, privkey = 2, chain = 2, fullchain = 2 }, rc.current)
      assert.is_false(rc.pending)
    end)

    it("keeps the previous key's group/other read bits and group", function()
      local arch = root .. "/archive/x.example"
      assert(sys.chmod(arch .. "/privkey1.pem", 416)) -- 0640
      assert(sys.chown(arch .. "/privkey1.pem", -1, 4))
      assert.equal(2, l:save_successor(files2))
      assert.equal("640", mode(arch .. "/privkey2.pem"))
      assert.equal("4", (sh("stat -c %g '" .. arch .. "/privkey2.pem'"):gsub("%s+$", "")))
      -- never more than read bits, never write or execute
      assert(sys.chmod(arch .. "/privkey2.pem", 511)) -- 0777
      assert.equal(3, l:save_successor(cert_set("x.example")))
      assert.equal("644", mode(arch .. "/privkey3.pem"))
    end)

    it("reuses the current key when files.privkey is nil", function()
      local f = { cert = files2.cert, chain = files2.chain, fullchain = files2.fullchain }
      assert.equal(2, l:save_successor(f))
      assert.equal(files1.privkey, read(root .. "/archive/x.example/privkey2.pem"))
      assert.equal(files1.privkey, l:read("privkey"))
      assert.equal("600", mode(root .. "/archive/x.example/privkey2.pem"))
    end)

    it("leaves the conf alone without params, and otherwise keeps the user's keys", function()
      local path = root .. "/renewal/x.example.conf"
      local before = read(path)
      assert.equal(2, l:save_successor(files2))
      assert.equal(before, read(path))

      -- the user sets renew_before_expiry; a plugin we do not know left a key
      local text = before:gsub("^# renew_before_expiry = 30 days\n", "renew_before_expiry = 10 days\n")
        :gsub("%[renewalparams%]\n", "%0unknown_plugin_opt = keep me\n")
      write(path, text)
      local l2 = assert(storage.load(b, "x.example"))
      assert.equal(3, l2:save_successor(cert_set("x.example"), params({ { "key_type", "rsa" } })))
      local after = read(path)
      local conf = assert(confobj.parse(after))
      assert.equal("10 days", conf.keys.renew_before_expiry)
      assert.is_nil(after:find("# renew_before_expiry", 1, true))
      assert.equal("keep me", conf.sections.renewalparams.keys.unknown_plugin_opt)
      assert.equal("rsa", conf.sections.renewalparams.keys.key_type)
      assert.equal("renew_before_expiry", conf.order[1])
    end)

    it("numbers after the highest archived version", function()
      -- a version written to the archive by a run killed before the links moved
      for _, k in ipairs(storage.KINDS) do
        write(root .. "/archive/x.example/" .. k .. "2.pem", files2[k])
      end
      assert.equal(1, l:version())
      assert.equal(3, l:save_successor(cert_set("x.example")))
      assert.equal(3, l:consistent_version())
    end)
  end)

  describe("load", function()
    local conf_path
    before_each(function()
      assert(b:setup())
      assert(storage.new_lineage(b, "x.example", cert_set("x.example"), params()))
      conf_path = root .. "/renewal/x.example.conf"
    end)

    local function edit(from, to)
      local text = read(conf_path)
      local s, e = text:find(from, 1, true)
      assert(s, from)
      write(conf_path, text:sub(1, s - 1) .. to .. text:sub(e + 1))
    end

    it("refuses a conf whose cert path points outside live/NAME", function()
      edit("cert = " .. root .. "/live/x.example/cert.pem", "cert = /etc/passwd")
      local l, err = storage.load(b, "x.example")
      assert.is_nil(l)
      assert.matches(conf_path, err, 1, true)
      assert.matches("'cert' points outside live/x.example: /etc/passwd", err, 1, true)
    end)

    it("refuses a path into another lineage's live dir", function()
      edit("privkey = " .. root .. "/live/x.example/privkey.pem", "privkey = " .. root .. "/live/other/privkey.pem")
      local l, err = storage.load(b, "x.example")
      assert.is_nil(l)
      assert.matches("'privkey' points outside live/x.example", err, 1, true)
    end)

    it("refuses an archive_dir that points elsewhere", function()
      edit("archive_dir = " .. root .. "/archive/x.example", "archive_dir = /tmp")
      local l, err = storage.load(b, "x.example")
      assert.is_nil(l)
      assert.matches(conf_path, err, 1, true)
      assert.matches("archive_dir points outside archive/x.example", err, 1, true)
    end)

    it("refuses a conf missing a key, naming the conf and the key", function()
      edit("chain = " .. root .. "/live/x.example/chain.pem\n", "")
      local l, err = storage.load(b, "x.example")
      assert.is_nil(l)
      assert.equal(conf_path .. ": missing key 'chain'", err)
    end)

    it("reports a conf that does not parse with its path and line", function()
      edit("[renewalparams]", "[renewalparams")
      local l, err = storage.load(b, "x.example")
      assert.is_nil(l)
      assert.matches("^" .. conf_path:gsub("%p", "%%%0") .. ":%d+: bad section header$", err)
    end)

    it("reports a lineage that does not exist", function()
      local l, err = storage.load(b, "nope.example")
      assert.is_nil(l)
      assert.matches("nope.example.conf", err, 1, true)
    end)

    it("reads a lineage Certbot created (certbot judge)", function()
      local src = tmp .. "/src"
      assert(sys.mkdir(src, 448))
      local f = cert_set("c.example")
      for _, k in ipairs({ "cert", "chain", "privkey" }) do write(src .. "/" .. k, f[k]) end
      local made = certbot(root, "new", src, "c.example")
      assert.equal("c.example", made.name)
      local l = assert(storage.load(b, "c.example"))
      assert.equal(1, l:version())
      assert.equal(1, l:consistent_version())
      assert.equal(f.cert, l:read("cert"))
      assert.equal(f.privkey, l:read("privkey"))
      assert.equal("standalone", l.params.authenticator)
      -- and renews it in a way Certbot follows
      assert.equal(2, l:save_successor(cert_set("c.example")))
      local rc = certbot(root, "read", root .. "/renewal/c.example.conf")
      assert.equal(2, rc.latest)
      assert.is_false(rc.pending)
    end)
  end)

  describe("all", function()
    it("lists good lineages and broken ones separately", function()
      assert(b:setup())
      assert(storage.new_lineage(b, "a.example", cert_set("a.example"), params()))
      assert(storage.new_lineage(b, "b.example", cert_set("b.example"), params()))
      assert(storage.new_lineage(b, "c.example", cert_set("c.example"), params()))
      -- c loses a key; d does not parse; e is not a conf at all
      local cp = root .. "/renewal/c.example.conf"
      write(cp, (read(cp):gsub("\nfullchain = [^\n]*", "")))
      write(root .. "/renewal/d.example.conf", "version = 1\n[broken\n")
      write(root .. "/renewal/e.example.conf.bak", "junk")
      local all = storage.all(b)
      local good = {}
      for _, l in ipairs(all.lineages) do good[#good + 1] = l.name end
      assert.same({ "a.example", "b.example" }, sorted(good))
      table.sort(all.broken, function(x, y) return x.name < y.name end)
      assert.equal(2, #all.broken)
      assert.equal("c.example", all.broken[1].name)
      assert.equal(cp, all.broken[1].path)
      assert.equal(cp .. ": missing key 'fullchain'", all.broken[1].error)
      assert.equal("d.example", all.broken[2].name)
      assert.matches("d.example.conf:2: bad section header", all.broken[2].error, 1, true)
    end)

    it("is empty for an empty or missing config dir", function()
      local all = storage.all(b)
      assert.same({}, all.lineages)
      assert.same({}, all.broken)
    end)
  end)

  describe("consistent_version", function()
    local l, live
    before_each(function()
      assert(b:setup())
      l = assert(storage.new_lineage(b, "x.example", cert_set("x.example"), params()))
      assert(storage.new_lineage(b, "other", cert_set("other.example"), params()))
      live = root .. "/live/x.example/"
    end)

    it("is nil when the links disagree", function()
      local f = cert_set("x.example")
      for _, k in ipairs(storage.KINDS) do write(root .. "/archive/x.example/" .. k .. "2.pem", f[k]) end
      assert(sys.symlink_swap("../../archive/x.example/chain2.pem", live .. "chain.pem"))
      assert.equal(1, l:version())
      assert.is_nil(l:consistent_version())
    end)

    it("is nil when a link is missing", function()
      assert(sys.unlink(live .. "privkey.pem"))
      assert.is_nil(l:consistent_version())
    end)

    it("is nil when a link points into another lineage or another kind", function()
      assert(sys.symlink_swap("../../archive/other/fullchain1.pem", live .. "fullchain.pem"))
      assert.is_nil(l:consistent_version())
      assert(sys.symlink_swap("../../archive/x.example/cert1.pem", live .. "fullchain.pem"))
      assert.is_nil(l:consistent_version())
    end)

    it("reads each live link on its own, whatever version the others name", function()
      local rel = "../../archive/x.example/"
      local cases = {
        { {}, { cert = 1, privkey = 1, chain = 1, fullchain = 1 } },
        { { cert = rel .. "cert2.pem" }, { cert = 2, privkey = 1, chain = 1, fullchain = 1 } },
        { { privkey = rel .. "privkey10.pem", chain = rel .. "chain10.pem" },
          { cert = 1, privkey = 10, chain = 10, fullchain = 1 } },
        { { chain = root .. "/archive/x.example/chain3.pem" }, { cert = 1, privkey = 1, chain = 3, fullchain = 1 } },
        { { fullchain = "../../archive/other/fullchain1.pem" }, { cert = 1, privkey = 1, chain = 1 } },
        { { cert = false }, { privkey = 1, chain = 1, fullchain = 1 } },
        { { cert = false, privkey = rel .. "cert1.pem" }, { chain = 1, fullchain = 1 } },
        { { cert = rel .. "cert1.pem.bak" }, { privkey = 1, chain = 1, fullchain = 1 } },
      }
      for i, case in ipairs(cases) do
        for _, k in ipairs(storage.KINDS) do
          local t = case[1][k]
          if t == nil then t = rel .. k .. "1.pem" end
          sys.unlink(live .. k .. ".pem")
          if t then assert(sys.symlink_swap(t, live .. k .. ".pem")) end
        end
        assert.same(case[2], b:live_versions("x.example"), "case " .. i)
        assert.same(case[2], b:live_versions("x.example", l.paths), "case " .. i)
      end
    end)

    it("accepts absolute links into its own archive", function()
      assert(sys.symlink_swap(root .. "/archive/x.example/chain1.pem", live .. "chain.pem"))
      assert.equal(1, l:consistent_version())
    end)

    -- Regression guard (once a bug at storage.lua:193): a live link whose target ends in "/" leaves
    -- `base` nil and `#base` raises "attempt to get length of a nil value"
    -- instead of the link counting as not pointing into the archive.
    it("is nil, without raising, for a link whose target ends in '/'", function()
      assert(sys.symlink_swap("../../archive/x.example/", live .. "chain.pem"))
      local ok, v = pcall(l.consistent_version, l)
      assert.is_true(ok, tostring(v))
      assert.is_nil(v)
    end)
  end)

  -- A lineage is marked dirty (its renewal/.NAME.lock non-empty) from
  -- before a run writes into its archive or live dir until nothing is
  -- left to finish; recover looks for temp files and a pending version
  -- only in a marked lineage.
  describe("the dirty mark", function()
    local l, lock, arch, live
    before_each(function()
      assert(b:setup())
      l = assert(storage.new_lineage(b, "x.example", cert_set("x.example"), params()))
      lock, arch, live = root .. "/renewal/.x.example.lock", root .. "/archive/x.example", root .. "/live/x.example"
    end)

    it("is set by a new lineage until its deploy hooks ran, and by a successor until its own did", function()
      assert.equal("1\n", read(lock))
      assert.equal("600", mode(lock))
      assert(l:deploy_done())
      assert.equal("", read(lock))
      assert.is_false(b:is_dirty("x.example"))
      assert.equal(2, l:save_successor(cert_set("x.example"), params()))
      assert.is_true(b:is_dirty("x.example"))
      assert(l:deploy_done())
      assert.is_false(b:is_dirty("x.example"))
    end)

    it("is written in place: a lock held on the file stays good", function()
      assert(l:deploy_done())
      local lk = assert(core.proc.lock(lock, "exclusive"))
      assert.equal(0, lk:size())
      local ino = sys.lstat(lock).ino
      assert(b:mark_dirty("x.example"))
      assert.equal(ino, sys.lstat(lock).ino)
      local _, _, why = core.proc.lock(lock, "exclusive")
      assert.equal("busy", why)
      lk:unlock()
      lk = assert(core.proc.lock(lock, "exclusive"))
      assert.equal(2, lk:size())
      lk:unlock()
    end)

    it("makes recover sweep temp files and settle the pending version, then clears", function()
      assert(l:deploy_done())
      -- what a run killed while writing version 2 leaves
      assert(b:mark_dirty("x.example"))
      write(arch .. "/.cert2.pem.0123456789ab.tmp", "partial")
      write(live .. "/.cert.pem.0123456789ab.tmp", "partial")
      write(root .. "/renewal/.x.example.conf.0123456789ab.tmp", "partial")
      write(arch .. "/.deploy-pending", "2\n")
      b.renewal_temps = nil
      local r = assert(storage.load(b, "x.example"))
      local pending, err, v = r:recover()
      assert.is_nil(pending, err)
      assert.equal(1, v)
      assert.same({ "cert1.pem", "chain1.pem", "fullchain1.pem", "privkey1.pem" }, ls(arch))
      assert.same({ "README", "cert.pem", "chain.pem", "fullchain.pem", "privkey.pem" }, ls(live))
      assert.is_false(exists(root .. "/renewal/.x.example.conf.0123456789ab.tmp"))
      assert.equal("", read(lock))
    end)

    it("is what recover trusts: an unmarked lineage's archive is not looked at", function()
      assert(l:deploy_done())
      -- (only a run that marked the lineage first writes these)
      write(arch .. "/.deploy-pending", "1\n")
      local r = assert(storage.load(b, "x.example"))
      local pending, _, v = r:recover()
      assert.is_nil(pending)
      assert.equal(1, v)
      assert.is_true(exists(arch .. "/.deploy-pending"))
      -- the caller's reading of the mark wins over the file's
      r.dirty = true
      assert.equal(1, (r:recover()))
    end)

    it("is set when recover repairs links that disagree, and by update_symlinks", function()
      assert(l:deploy_done())
      assert(sys.unlink(live .. "/chain.pem"))
      local r = assert(storage.load(b, "x.example"))
      local pending, err = r:recover()
      assert.is_nil(pending, err)
      assert.equal(1, r:consistent_version())
      assert.is_false(b:is_dirty("x.example")) -- settled: nothing was pending
      assert.equal(1, storage.update_symlinks(b, "x.example"))
      assert.is_true(b:is_dirty("x.example"))
    end)
  end)

  describe("remove_lineage", function()
    it("removes exactly that lineage", function()
      assert(b:setup())
      assert(storage.new_lineage(b, "x.example", cert_set("x.example"), params()))
      assert(assert(storage.new_lineage(b, "x.example", cert_set("x.example"), params())):deploy_done()) -- -0001
      assert(assert(storage.new_lineage(b, "x.exampl", cert_set("x.exampl"), params())):deploy_done())
      assert.is_true(b:remove_lineage("x.example"))
      assert.same({ "x.exampl", "x.example-0001" }, ls(root .. "/live"))
      assert.same({ "x.exampl", "x.example-0001" }, ls(root .. "/archive"))
      assert.same({ ".x.exampl.lock", ".x.example-0001.lock", "x.exampl.conf", "x.example-0001.conf" },
        ls(root .. "/renewal"))
      for _, n in ipairs({ "x.exampl", "x.example-0001" }) do
        local l = assert(storage.load(b, n))
        assert.equal(1, l:consistent_version())
        assert.same({ "cert1.pem", "chain1.pem", "fullchain1.pem", "privkey1.pem" }, ls(root .. "/archive/" .. n))
      end
    end)
  end)

  describe("accounts", function()
    local sp = "acme-v02.api.letsencrypt.org/directory"
    before_each(function() assert(b:setup()) end)

    it("write_account writes all three files in a 0700 dir and leaves no temp dir", function()
      assert.is_true(b:write_account(sp, "abc123", {
        { "private_key.json", '{"k":1}', 256 },
        { "regr.json", '{"uri":"u"}', 420 },
        { "meta.json", "{}", 420 },
      }))
      local base = root .. "/accounts/" .. sp
      assert.same({ "abc123" }, ls(base))
      assert.equal("700", mode(base .. "/abc123"))
      assert.same({ "meta.json", "private_key.json", "regr.json" }, ls(base .. "/abc123"))
      assert.equal("400", mode(base .. "/abc123/private_key.json"))
      assert.equal("644", mode(base .. "/abc123/regr.json"))
      assert.equal('{"uri":"u"}', read(base .. "/abc123/regr.json"))
      assert.same({ "abc123" }, b:account_ids(sp))
      assert.equal("{}", b:read_account_file(sp, "abc123", "meta.json"))
    end)

    it("write_account that fails leaves neither a partial account nor its temp dir", function()
      local ok, err = b:write_account(sp, "abc123", {
        { "private_key.json", "{}", 256 },
        { "no/such/dir.json", "{}", 420 },
      })
      assert.is_nil(ok)
      assert.is_string(err)
      assert.same({}, ls(root .. "/accounts/" .. sp))
      -- an existing account is not replaced, and nothing is left behind
      assert(b:write_account(sp, "abc123", { { "regr.json", "old", 420 } }))
      ok = b:write_account(sp, "abc123", { { "regr.json", "new", 420 } })
      assert.is_nil(ok)
      assert.same({ "abc123" }, ls(root .. "/accounts/" .. sp))
      assert.equal("old", b:read_account_file(sp, "abc123", "regr.json"))
    end)

    it("account_ids skips hidden entries; update and remove work on one account", function()
      assert(b:write_account(sp, "one", { { "regr.json", "1", 420 } }))
      assert(b:write_account(sp, "two", { { "regr.json", "2", 420 } }))
      assert(sys.mkdir(root .. "/accounts/" .. sp .. "/.one.99.tmp", 448))
      assert.same({ "one", "two" }, sorted(b:account_ids(sp)))
      assert(b:update_account_file(sp, "two", "regr.json", "2b", 420))
      assert.equal("2b", b:read_account_file(sp, "two", "regr.json"))
      assert(b:remove_account(sp, "one"))
      assert.same({ "two" }, sorted(b:account_ids(sp)))
      assert.same({}, b:account_ids("no.such/server"))
    end)
  end)
end)
