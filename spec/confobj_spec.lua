-- certbot.confobj: Certbot's renewal confs (Python configobj format).
-- Python's own configobj (Debian's python3-configobj, the library Certbot
-- reads and writes these files with) is the independent judge: what we
-- write must be byte-for-byte what it writes, and each side must read
-- back what the other wrote.

local confobj = require("certbot.confobj")
local sys = require("certbot.core").sys
local cjson = require("cjson")

-- Debian's interpreter, not a pyenv shim that may lack configobj.
local PYTHON = "/usr/bin/python3"

local function python(script, stdin)
  local code, out, err = sys.run({ PYTHON, "-c", script }, sys.environ(), { stdin = stdin })
  assert(code == 0, "python3 failed (python3-configobj is needed as the judge): " .. tostring(err))
  return out
end

-- configobj writes { {key, value}, ... } at the top level.
local PY_WRITE = [[
import sys, json, io, configobj
c = configobj.ConfigObj(encoding="utf-8", default_encoding="utf-8")
for k, v in json.load(sys.stdin):
    c[k] = v
out = io.BytesIO()
c.write(out)
sys.stdout.write(out.getvalue().decode("utf-8"))
]]

-- configobj reads a file; JSON of {order = [...], values = {...}, sections}.
local PY_READ = [[
import sys, json, configobj
def dump(sec):
    return {"order": list(sec.scalars), "values": {k: sec[k] for k in sec.scalars},
            "sections": {k: dump(sec[k]) for k in sec.sections}}
c = configobj.ConfigObj(sys.stdin.read().splitlines(), encoding="utf-8", default_encoding="utf-8")
sys.stdout.write(json.dumps(dump(c)))
]]

local function py_write(pairs_list)
  -- cjson encodes an empty table as {} (an object); configobj wants []
  local function enc(v)
    if type(v) == "table" and #v == 0 then return "[]" end
    return cjson.encode(v)
  end
  local items = {}
  for i, kv in ipairs(pairs_list) do items[i] = "[" .. enc(kv[1]) .. ", " .. enc(kv[2]) .. "]" end
  return python(PY_WRITE, "[" .. table.concat(items, ", ") .. "]")
end

local function py_read(text)
  return cjson.decode(python(PY_READ, text))
end

local function one(key, value)
  local c = confobj.new()
  confobj.set(c, key, value)
  return c
end

-- Values a renewal conf really holds: hook commands above all.
local TRICKY = {
  "systemctl reload nginx",
  "plain",
  "",
  "  leading spaces",
  "trailing space ",
  "\tleading tab",
  "it's",
  'say "hi"',
  "'single-quoted'",
  '"double-quoted"',
  "x'",
  'x"',
  'echo "it\'s done"',          -- both quote chars, ends with "
  "echo 'say \"hi\"'",          -- both quote chars, ends with '
  'printf "%s" \'a\' # b, c',   -- both quotes, '#' and ','
  'x\'\'\'y"',                  -- holds ''' and "
  'a"""b\'',                    -- holds """ and '
  "$(touch /tmp/x)",
  "`hostname`",
  'sh -c "$(cat /etc/x)"',
  "a # not a comment",
  "a,b",
  "a, b",
  "a=b",
  "100%",
  "[not a section]",
  "C:\\path\\",
  "bücher",
  "/usr/local/bin/hook --flag=1 ; echo done",
}

local LISTS = {
  { "a" },
  { "a", "b" },
  {},
  { "/var/www/html" },
  { "a,b", " c", "d#e", "f'g", 'h"i', "" },
}

describe("confobj", function()
  describe("parse", function()
    it("reads top-level keys, a section and its subsection", function()
      local c = assert(confobj.parse(table.concat({
        "a = 1",
        "b = two words",
        "[renewalparams]",
        "x = y",
        "[[webroot_map]]",
        "example.com = /var/www",
        "",
      }, "\n"), "t.conf"))
      assert.same({ "a", "b" }, c.order)
      assert.equal("1", c.keys.a)
      assert.equal("two words", c.keys.b)
      assert.same({ "renewalparams" }, c.section_order)
      local rp = c.sections.renewalparams
      assert.same({ x = "y" }, rp.keys)
      assert.same({ "webroot_map" }, rp.section_order)
      assert.same({ ["example.com"] = "/var/www" }, rp.sections.webroot_map.keys)
    end)

    it("reads lists: 'a, b', the one-item 'a,' and the empty ','", function()
      local c = assert(confobj.parse("l2 = a, b\nl1 = a,\nl0 = ,\ns = a\nq = \"a, b\", c\n"))
      assert.same({ "a", "b" }, c.keys.l2)
      assert.same({ "a" }, c.keys.l1)
      assert.same({}, c.keys.l0)
      assert.equal("a", c.keys.s)
      assert.same({ "a, b", "c" }, c.keys.q)
    end)

    it("skips comments and blank lines, strips inline comments, keeps '#' inside quotes", function()
      local c = assert(confobj.parse(table.concat({
        "# a comment",
        "   # an indented comment",
        "",
        "   ",
        "a = 1 # inline",
        "b = \"x # y\" # inline",
        "c = 'p, q'   # inline",
        "d =",
        "e = \"\"",
        "f = ''' both ' and \" '''  # inline",
        "\"quoted key\" = v",
        "g = x\r",
      }, "\n")))
      assert.same({ "a", "b", "c", "d", "e", "f", "quoted key", "g" }, c.order)
      assert.equal("1", c.keys.a)
      assert.equal("x # y", c.keys.b)
      assert.equal("p, q", c.keys.c)
      assert.equal("", c.keys.d)
      assert.equal("", c.keys.e)
      assert.equal(" both ' and \" ", c.keys.f)
      assert.equal("v", c.keys["quoted key"])
      assert.equal("x", c.keys.g)
    end)

    it("accepts indented keys and spaces inside section brackets", function()
      local c = assert(confobj.parse("[ renewalparams ]\n    a = 1\n  [[ webroot_map ]]\n    d = /w\n"))
      assert.equal("1", c.sections.renewalparams.keys.a)
      assert.equal("/w", c.sections.renewalparams.sections.webroot_map.keys.d)
    end)

    it("reads a triple-quoted value as configobj does (python judge)", function()
      -- configobj ends a single-line triple-quoted value at the last
      -- closing triple followed by nothing but a comment
      local text = "k = '''say \"hi\" it's'''\n"
      local want = py_read(text).values.k
      assert.equal('say "hi" it\'s', want)
      assert.equal(want, assert(confobj.parse(text)).keys.k)
    end)

    -- Regression guard (once a bug at confobj.lua:39-43): a triple-quoted value whose text ends with
    -- the quote character ("""echo "it's done"""") is cut at the first
    -- closing triple and then refused ("unexpected text after value").
    -- configobj (and so Certbot) reads it whole; it is also what our own
    -- writer produces for such a value (see quoting below).
    it("reads a triple-quoted value that ends with its own quote char (python judge)", function()
      local text = 'k = """echo "it\'s done""""\n'
      local want = py_read(text).values.k
      assert.equal('echo "it\'s done"', want)
      local c, err = confobj.parse(text, "t.conf")
      assert.is_nil(err)
      assert.equal(want, c and c.keys.k)
    end)

    describe("errors name file:line", function()
      local cases = {
        { "a = 1\n[renewalparams\n", "x.conf:2: bad section header" },
        { "a = 1\n[renewalparams]]\n", "x.conf:2: bad section header" },
        { "a = 1\n[]\n", "x.conf:2: bad section header" },
        { "# c\n\njust words\n", "x.conf:3: expected 'key = value'" },
        { "= v\n", "x.conf:1: expected 'key = value'" },
        { "a = 1\nb = \"open\n", "x.conf:2: unterminated quoted value" },
        { "b = 'open\n", "x.conf:1: unterminated quoted value" },
        { "b = '''open\n", "x.conf:1: unterminated triple-quoted value" },
        { "a = 1\n[s]\nk = 1\nk = 2\n", "x.conf:4: duplicate key 'k'" },
        { "a = 1\na = 1\n", "x.conf:2: duplicate key 'a'" },
        { "[s]\n[s]\n", "x.conf:2: duplicate section 's'" },
        { "a = 1\n[[webroot_map]]\n", "x.conf:2: section nested too deep" },
        { "a = \"v\" junk\n", "x.conf:1: unexpected text after value" },
      }
      for _, case in ipairs(cases) do
        it(("%q"):format(case[1]), function()
          local c, err = confobj.parse(case[1], "x.conf")
          assert.is_nil(c)
          assert.equal(case[2], err)
        end)
      end

      it("names 'renewal conf' when no file name is given", function()
        local _, err = confobj.parse("oops\n")
        assert.equal("renewal conf:1: expected 'key = value'", err)
      end)
    end)
  end)

  describe("a renewal conf as Certbot 2.x writes it", function()
    local CERTBOT_CONF = [==[
# renew_before_expiry = 30 days
version = 2.1.0
archive_dir = /etc/letsencrypt/archive/example.com
cert = /etc/letsencrypt/live/example.com/cert.pem
privkey = /etc/letsencrypt/live/example.com/privkey.pem
chain = /etc/letsencrypt/live/example.com/chain.pem
fullchain = /etc/letsencrypt/live/example.com/fullchain.pem

# Options used in the renewal process
[renewalparams]
account = 0123456789abcdef0123456789abcdef
authenticator = webroot
webroot_path = /var/www/html,
server = https://acme-v02.api.letsencrypt.org/directory
key_type = ecdsa
[[webroot_map]]
example.com = /var/www/html
]==]

    it("parses every value", function()
      local c = assert(confobj.parse(CERTBOT_CONF, "example.com.conf"))
      assert.same({ "version", "archive_dir", "cert", "privkey", "chain", "fullchain" }, c.order)
      assert.equal("2.1.0", c.keys.version)
      assert.equal("/etc/letsencrypt/archive/example.com", c.keys.archive_dir)
      assert.equal("/etc/letsencrypt/live/example.com/cert.pem", c.keys.cert)
      assert.equal("/etc/letsencrypt/live/example.com/privkey.pem", c.keys.privkey)
      assert.equal("/etc/letsencrypt/live/example.com/chain.pem", c.keys.chain)
      assert.equal("/etc/letsencrypt/live/example.com/fullchain.pem", c.keys.fullchain)
      assert.is_nil(c.keys.renew_before_expiry) -- commented out
      local rp = c.sections.renewalparams
      assert.same({ "account", "authenticator", "webroot_path", "server", "key_type" }, rp.order)
      assert.equal("0123456789abcdef0123456789abcdef", rp.keys.account)
      assert.equal("webroot", rp.keys.authenticator)
      assert.same({ "/var/www/html" }, rp.keys.webroot_path)
      assert.equal("https://acme-v02.api.letsencrypt.org/directory", rp.keys.server)
      assert.equal("ecdsa", rp.keys.key_type)
      assert.same({ "webroot_map" }, rp.section_order)
      assert.same({ ["example.com"] = "/var/www/html" }, rp.sections.webroot_map.keys)
    end)

    it("agrees with configobj on every value (python judge)", function()
      local py = py_read(CERTBOT_CONF)
      local c = assert(confobj.parse(CERTBOT_CONF))
      assert.same(py.order, c.order)
      for k, v in pairs(py.values) do assert.same(v, c.keys[k]) end
      local prp, rp = py.sections.renewalparams, c.sections.renewalparams
      assert.same(prp.order, rp.order)
      for k, v in pairs(prp.values) do assert.same(v, rp.keys[k]) end
      assert.same(prp.sections.webroot_map.values, rp.sections.webroot_map.keys)
    end)

    it("is written back byte for byte, header and section comment included", function()
      local src = assert(confobj.parse(CERTBOT_CONF))
      local c = confobj.new()
      c.header = { "renew_before_expiry = 30 days" }
      for _, k in ipairs(src.order) do confobj.set(c, k, src.keys[k]) end
      c.comments = { renewalparams = "Options used in the renewal process" }
      local rp = confobj.section(c, "renewalparams")
      local srp = src.sections.renewalparams
      for _, k in ipairs(srp.order) do confobj.set(rp, k, srp.keys[k]) end
      local wm = confobj.section(rp, "webroot_map")
      confobj.set(wm, "example.com", "/var/www/html")
      assert.equal(CERTBOT_CONF, confobj.write(c))
    end)
  end)

  describe("the reading in C (core.sys.conf_read)", function()
    -- A renewal conf with every shape of line: plain pairs, a list, a
    -- quoted value, blank lines and comments, a section and a subsection.
    local MIXED = "# a comment\nversion = 2.1.0\ncert = /etc/le/live/a/cert.pem\n\n"
      .. "[renewalparams]\nauthenticator = webroot\nwebroot_path = /var/www/html,\n"
      .. "pre_hook = \"echo a, b\"\n  indented = yes\nempty = \n[[webroot_map]]\n"
      .. "a.example = /var/www/html\n[other]\nk = v"

    it("builds what the Lua reading builds, handing it the lines that are not plain", function()
      local seen = {}
      local c = sys.conf_read(MIXED, function(line)
        seen[#seen + 1] = line
        return confobj.read_line(line)
      end)
      assert.is_table(c)
      assert.same(confobj.parse_lua(MIXED), c)
      -- only the list, the quoted value and the indented line go to Lua
      assert.same({ "webroot_path = /var/www/html,", 'pre_hook = "echo a, b"', "  indented = yes" }, seen)
      assert.same({ "version", "cert" }, c.order)
      assert.same({ "renewalparams", "other" }, c.section_order)
      assert.same({ "authenticator", "webroot_path", "pre_hook", "indented", "empty" },
        c.sections.renewalparams.order)
      assert.same({ "/var/www/html" }, c.sections.renewalparams.keys.webroot_path)
      assert.equal("", c.sections.renewalparams.keys.empty)
      assert.equal("/var/www/html", c.sections.renewalparams.sections.webroot_map.keys["a.example"])
    end)

    it("leaves to the Lua reading (false) whatever has an error to report", function()
      for _, text in ipairs({
        "a = 1\na = 2\n",                      -- a key twice
        "[s]\n[s]\n",                          -- a section twice
        "[[sub]]\na = 1\n",                    -- a subsection with no section
        "[s]\n[[t]]\n[[[u]]]\n",               -- deeper than a subsection
        "a = 1\nnot a pair\n",                 -- an error in a line
        "[s\n",                                -- a bad section header
        'a = "unterminated\n',
      }) do
        assert.is_false(sys.conf_read(text, confobj.read_line), text)
        local c, err = confobj.parse(text, "f.conf")
        local lc, lerr = confobj.parse_lua(text, "f.conf")
        assert.same(lc, c)
        assert.equal(lerr, err)
      end
      assert.matches("^f.conf:2: duplicate key 'a'$", select(2, confobj.parse("a = 1\na = 2\n", "f.conf")))
    end)

    it("agrees with the Lua reading on 20,000 random texts", function()
      local keys = { "version", "cert", "a", "b b", "k=x", '"q"', "'q'", "x\t", " y", "z ", "" }
      local vals = { "v", "", " ", "/a/b", "a, b", "a,", ",", '"x, y"', "'x'", '"""a"b"""', "v # c", "a=b",
        "v\r", "\tv", "v ", "\195\169", "a\0b" }
      local seps = { " = ", "=", " =", "= ", "  =  ", "\t=\t" }
      local heads = { "[renewalparams]", "[[webroot_map]]", "[s]", "[[t]]", "[[[u]]]", "[ s ]", "[s] ", " [s]",
        "[s]]", "[[s]", "[]", "[s]\r", "[a#b]" }
      local junk = { "", "# c", " # c", "   ", "\r", "#", "=", "[", "]", "'''", '"' }
      local seed = 12345
      local function rnd(n) -- deterministic, whatever math.random does
        seed = (seed * 1103515245 + 12345) % 2147483648
        return seed % n + 1
      end
      local fast, parsed = 0, 0
      for _ = 1, 20000 do
        local lines = {}
        for _ = 1, rnd(20) do
          local r = rnd(100)
          if r <= 70 then
            lines[#lines + 1] = keys[rnd(#keys)] .. (rnd(3) == 1 and tostring(rnd(9)) or "")
              .. seps[rnd(#seps)] .. vals[rnd(#vals)]
          elseif r <= 85 then
            lines[#lines + 1] = heads[rnd(#heads)]
          else
            lines[#lines + 1] = junk[rnd(#junk)]
          end
        end
        local text = table.concat(lines, "\n") .. (rnd(2) == 1 and "\n" or "")
        local c, err = confobj.parse(text, "f")
        local lc, lerr = confobj.parse_lua(text, "f")
        assert.same(lc, c, text)
        assert.equal(lerr, err, text)
        if c then parsed = parsed + 1 end
        if sys.conf_read(text, confobj.read_line) then fast = fast + 1 end
      end
      -- the comparison means something: many texts parse, nearly all of them in C
      assert.is_true(parsed > 2000, parsed .. " texts parsed")
      assert.is_true(fast >= parsed * 0.9, fast .. " of " .. parsed .. " read in C")
    end)
  end)

  describe("write", function()
    it("writes top-level keys first, then sections, keeping insertion order", function()
      local c = confobj.new()
      confobj.set(c, "z", "1")
      local s = confobj.section(c, "renewalparams")
      confobj.set(s, "b", "2")
      confobj.set(c, "a", "3") -- a top-level key added after the section
      confobj.set(s, "a", "4")
      confobj.set(c, "z", "5") -- replacing keeps the position
      assert.equal("z = 5\na = 3\n[renewalparams]\nb = 2\na = 4\n", confobj.write(c))
      assert.is_true(confobj.section(c, "renewalparams") == s)
    end)

    it("writes lists as configobj does: 'a, b', 'a,' and ','", function()
      local c = confobj.new()
      confobj.set(c, "l2", { "a", "b" })
      confobj.set(c, "l1", { "a" })
      confobj.set(c, "l0", {})
      assert.equal("l2 = a, b\nl1 = a,\nl0 = ,\n", confobj.write(c))
    end)

    it("quotes only empty values, edge whitespace or quotes, ',' and '#'", function()
      local function w(v) return confobj.write(one("k", v)) end
      assert.equal("k = plain value\n", w("plain value"))
      assert.equal('k = ""\n', w(""))
      assert.equal('k = " lead"\n', w(" lead"))
      assert.equal('k = "trail "\n', w("trail "))
      assert.equal("k = it's\n", w("it's"))
      assert.equal('k = "a,b"\n', w("a,b"))
      assert.equal('k = "a#b"\n', w("a#b"))
      assert.equal("k = 'say \"hi\"'\n", w('say "hi"'))
      assert.equal("k = \"'q'\"\n", w("'q'"))
      assert.equal("k = $(x) `y`\n", w("$(x) `y`"))
    end)

    -- configobj quotes a value holding both quote characters with
    -- ''' ... '''.  For a value that itself holds a triple quote it writes
    -- a line it cannot read back; we take the other triple instead.
    it("quotes a value holding both quote characters as configobj does", function()
      assert.equal("k = '''it's \"x\" ok'''\n", confobj.write(one("k", 'it\'s "x" ok')))
      assert.equal("k = \"\"\"x'''y\"z\"\"\"\n", confobj.write(one("k", "x'''y\"z")))
      assert.equal("k = '''a\"\"\"b''''\n", confobj.write(one("k", "a\"\"\"b'")))
      for _, v in ipairs({ "x'''y\"z", "a\"\"\"b'", 'echo "it\'s done"' }) do
        assert.equal(v, confobj.parse(confobj.write(one("k", v))).keys.k)
      end
    end)

    it("refuses a value with a newline rather than writing a broken file", function()
      assert.has_error(function() confobj.write(one("k", "a\nb")) end, "confobj: newline in value")
    end)
  end)

  describe("round trip", function()
    -- Values whose quoted form ends with the quote character of its triple
    -- quotes failed here through the parse bug above (confobj.lua:39-43).
    for _, v in ipairs(TRICKY) do
      it(("parse(write(v)) == v for %q"):format(v), function()
        local text = confobj.write(one("k", v))
        local c, err = confobj.parse(text, "rt.conf")
        assert.is_nil(err)
        assert.equal(v, c and c.keys.k)
        -- and once more: parse(write(parse(x))) == parse(x)
        local again = assert(confobj.parse(confobj.write(c)))
        assert.same(c.keys, again.keys)
      end)
    end

    -- Regression guard (once a bug at confobj.lua:73): a list whose last item is the quoted empty
    -- string ('a, ""') loses that item: parse drops a trailing "" as if it
    -- came from a trailing comma.  configobj keeps it (the python judge
    -- below fails on the same list).
    for _, l in ipairs(LISTS) do
      it("keeps the list {" .. table.concat(l, "|") .. "}", function()
        local c = assert(confobj.parse(confobj.write(one("l", l))))
        assert.same(l, c.keys.l)
      end)
    end

    it("survives a whole conf with sections and tricky hooks", function()
      local c = confobj.new()
      c.header = { "renew_before_expiry = 30 days" }
      confobj.set(c, "version", "2.1.0")
      local rp = confobj.section(c, "renewalparams")
      for i, v in ipairs(TRICKY) do confobj.set(rp, "hook" .. i, v) end
      confobj.set(rp, "webroot_path", { "/var/www/a", "/var/www/b, c" })
      local wm = confobj.section(rp, "webroot_map")
      confobj.set(wm, "example.com", "/var/www/a")
      confobj.set(wm, "*.example.com", "/var/www/b, c")
      local text = confobj.write(c)
      local p1 = assert(confobj.parse(text))
      local p2 = assert(confobj.parse(confobj.write(p1)))
      assert.same(p1.keys, p2.keys)
      assert.same(p1.sections.renewalparams.keys, p2.sections.renewalparams.keys)
      assert.same(p1.sections.renewalparams.sections.webroot_map.keys,
        p2.sections.renewalparams.sections.webroot_map.keys)
      assert.same(rp.keys, p1.sections.renewalparams.keys)
      assert.same(wm.keys, p1.sections.renewalparams.sections.webroot_map.keys)
    end)
  end)

  -- One configobj run writes every value, one reads what we write; each
  -- value then gets its own test so a failure names it.
  describe("against configobj (python judge)", function()
    local ITEMS = {}
    for i, v in ipairs(TRICKY) do ITEMS[#ITEMS + 1] = { "k" .. i, v } end
    for i, v in ipairs(LISTS) do ITEMS[#ITEMS + 1] = { "l" .. i, v } end
    local memo = {}
    local function py_lines() -- key -> the line configobj writes
      if not memo.lines then
        memo.lines = {}
        for line in py_write(ITEMS):gmatch("[^\n]+") do
          memo.lines[line:match("^(%S+) = ")] = line
        end
      end
      return memo.lines
    end
    local function our_text()
      local c = confobj.new()
      for _, kv in ipairs(ITEMS) do confobj.set(c, kv[1], kv[2]) end
      return confobj.write(c)
    end
    local function py_reads_ours()
      memo.read = memo.read or py_read(our_text())
      return memo.read
    end

    it("writes the same lines, in the same order", function()
      local n = 0
      for _ in pairs(py_lines()) do n = n + 1 end
      assert.equal(#ITEMS, n)
      local i = 0
      for line in our_text():gmatch("[^\n]+") do
        i = i + 1
        assert.equal(ITEMS[i][1], line:match("^(%S+) = "))
      end
    end)

    for _, kv in ipairs(ITEMS) do
      local k, v = kv[1], kv[2]
      local label = type(v) == "table" and "{" .. table.concat(v, "|") .. "}" or ("%q"):format(v)
      -- A value holding a triple quote: configobj writes a line it cannot
      -- read back itself; ours picks the other triple and stays readable
      -- (the "configobj reads it back" case below checks that).
      local holds_triple = type(v) == "string" and (v:find("'''", 1, true) or v:find('"""', 1, true))
      if not holds_triple then
        it("quotes " .. label .. " exactly as configobj does", function()
          local ours = confobj.write(one(k, v)):gsub("\n$", "")
          assert.equal(py_lines()[k], ours)
        end)
      end
      it("reads configobj's line for " .. label, function()
        local c, err = confobj.parse(py_lines()[k] .. "\n", "py.conf")
        assert.is_nil(err)
        assert.same(v, c and c.keys[k])
      end)
      it("writes " .. label .. " so that configobj reads it back", function()
        assert.same(v, py_reads_ours().values[k])
      end)
    end
  end)
end)
