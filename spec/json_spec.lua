-- certbot.json (the --json encoder) and the documents the subcommands build
-- with it (docs/json.md).  Python's json module, the strictest reader at
-- hand, judges that the output is JSON.
local json = require("certbot.json")
local cjson = require("cjson.safe")
local core = require("certbot.core")
local proc = require("spec.helpers.proc")

local sys, crypto = core.sys, core.crypto

-- python3's json.loads, then json.dumps(sort_keys) of it (or nil, error)
local function python_reads(text)
  local rc, out, err = sys.run({ "/usr/bin/python3", "-c", [[
import json, sys
data = sys.stdin.buffer.read().decode("utf-8", "strict")
print(json.dumps(json.loads(data), sort_keys=True, ensure_ascii=True))
]] }, { "PATH=/usr/bin:/bin" }, { stdin = text })
  if rc ~= 0 then return nil, tostring(out) .. tostring(err) end
  return (out:gsub("\n$", ""))
end

describe("certbot.json", function()
  it("writes lists as lists, even empty, and objects with sorted keys", function()
    assert.equal('{"a":[],"b":{},"c":[1,2,3],"d":{"x":1,"y":2}}',
      json.encode({ d = { y = 2, x = 1 }, c = { 1, 2, 3 }, b = {}, a = json.array() }))
    assert.equal("[]", json.encode(json.array({})))
    assert.equal('[[],{}]', json.encode({ json.array(), {} }))
  end)

  it("writes null, booleans and numbers as JSON has them", function()
    assert.equal('{"f":false,"i":-3,"n":null,"o":null,"r":0.5,"t":true}',
      json.encode({ n = json.null, o = cjson.null, t = true, f = false, i = -3, r = 0.5 }))
    assert.equal("[null,null,null]", json.encode({ 0 / 0, math.huge, -math.huge }))
    assert.equal("9007199254740993", json.encode(9007199254740993))
  end)

  it("escapes control characters (and DEL), and leaves '/' alone", function()
    local s = "/etc/letsencrypt \"q\" \\ \n\t\r\b\f \1 \31 \127 é"
    local text = json.encode({ s })
    assert.equal('["/etc/letsencrypt \\"q\\" \\\\ \\n\\t\\r\\b\\f \\u0001 \\u001f \\u007f é"]', text)
    assert.same({ s }, cjson.decode(text))
    assert.is_string(python_reads(text))
  end)

  it("always gives valid UTF-8: stray bytes become U+FFFD", function()
    local text = json.encode({ "a\255b", "\xc3", "\xed\xa0\x80", "ok é €" })
    assert.equal('["a\u{FFFD}b","\u{FFFD}","\u{FFFD}\u{FFFD}\u{FFFD}","ok é €"]', text)
    assert.is_not_nil(utf8.len(text))
    assert.is_string(python_reads(text))
  end)

  it("refuses what JSON cannot hold", function()
    assert.has_error(function() json.encode({ [true] = 1 }) end, "json.encode: object key is a boolean")
    assert.has_error(function() json.encode({ f = print }) end, "json.encode: cannot encode a function")
    local deep = {}
    local t = deep
    for _ = 1, 100 do t[1] = {}; t = t[1] end
    assert.has_error(function() json.encode(deep) end, "json.encode: nested too deeply")
  end)

  it("writes times as ISO 8601 in UTC", function()
    assert.equal("1970-01-01T00:00:00Z", json.time(0))
    assert.equal("2025-01-31T12:00:00Z", json.time(1738324800))
    assert.equal("2025-01-31T12:00:00Z", json.time(1738324800.9))
    assert.equal(json.null, json.time(nil))
  end)

  it("gives what python's json reads back the same", function()
    local doc = { format_version = 1, list = json.array({ "x", json.null, true, 1.25 }),
      nested = { a = json.array(), b = { c = "d" } } }
    local text = json.encode(doc)
    assert.equal(text:gsub("([,:])", "%1 "), python_reads(text))
  end)
end)

describe("show_account --json document", function()
  local show = require("certbot.commands.show_account")

  it("has the documented fields and types", function()
    local key = assert(crypto.generate_key("ec", "P-256"))
    local acc = { id = "abc", key = key, uri = "https://ca.example/acct/1",
      meta = { creation_dt = "2024-05-01T10:00:00Z", creation_host = "h",
        previous_ids = { "old" } } }
    local body = { status = "valid", contact = { "mailto:a@example.org", "tel:+1" } }
    local doc = show.document("https://ca.example/dir", acc, body, json.array({ "x.example" }))
    local back = cjson.decode(json.encode(doc))
    assert.same({
      format_version = 1,
      server = "https://ca.example/dir",
      account = {
        id = "abc", previous_ids = { "old" }, url = "https://ca.example/acct/1", status = "valid",
        thumbprint = core.jws.thumbprint(key), key = { type = "ecdsa", curve = "P-256", bits = 256 },
        contact = { "mailto:a@example.org", "tel:+1" }, emails = { "a@example.org" },
        created_at = "2024-05-01T10:00:00Z", creation_host = "h", certificates = { "x.example" },
      },
    }, back)
  end)

  it("folds Certbot's creation dates into ISO 8601 UTC and keeps empty lists lists", function()
    local key = assert(crypto.generate_key("rsa", 2048))
    for dt, want in pairs({ ["2024-05-01T10:00:00+00:00"] = "2024-05-01T10:00:00Z",
      ["2024-05-01T10:00:00.123Z"] = "2024-05-01T10:00:00Z",
      ["2024-05-01T12:00:00+02:00"] = "2024-05-01T12:00:00+02:00" }) do
      local doc = show.document("s", { id = "i", key = key, uri = "u", meta = { creation_dt = dt } },
        {}, json.array())
      assert.equal(want, doc.account.created_at)
      local text = json.encode(doc)
      assert.matches('"certificates":[]', text, 1, true)
      assert.matches('"contact":[]', text, 1, true)
      assert.matches('"previous_ids":[]', text, 1, true)
      assert.matches('"status":null', text, 1, true)
      assert.matches('"key":{"bits":2048,"type":"rsa"}', text, 1, true)
    end
  end)
end)

describe("renew --json summary", function()
  local renew = require("certbot.commands.renew")
  local dir

  before_each(function() dir = proc.tmpdir("json-spec-") end)
  after_each(function() proc.rm_rf(dir) end)

  local function lineage(name, not_after_days)
    local key = assert(crypto.generate_key("ec", "P-256"))
    local der = assert(crypto.self_signed_cert(key, { { type = "dns", value = name } },
      { days = not_after_days }))
    assert(sys.mkdir(dir .. "/live", 448, true))
    assert(sys.mkdir(dir .. "/live/" .. name, 448, true))
    local pem = crypto.der_to_pem(der, "CERTIFICATE")
    assert(sys.write_atomic(dir .. "/live/" .. name .. "/cert.pem", pem, 420))
    return dir .. "/live/" .. name .. "/fullchain.pem", crypto.cert_not_after(pem)
  end

  it("names each lineage, with its dates, from the report's paths", function()
    local a, a_end = lineage("a.example", 30)
    local b, b_end = lineage("b.example", 90)
    local c = lineage("c.example", 10)
    local report = {
      renewed = { a },
      skipped = { ("%s expires on %s (skipped)"):format(b, os.date("!%Y-%m-%d", b_end)) },
      failed = { c },
      parse = { dir .. "/renewal/bad.conf" },
      errors = { [c] = "Some challenges have failed." },
    }
    local doc = renew.json_summary({ dry_run = false }, report)
    assert.same({
      format_version = 1, dry_run = false,
      renewed = { { name = "a.example", fullchain = a, not_after = json.time(a_end) } },
      not_due = { { name = "b.example", fullchain = b, not_after = json.time(b_end) } },
      failed = { { name = "c.example", fullchain = c, error = "Some challenges have failed." } },
      parse_failures = { { renewal_conf = dir .. "/renewal/bad.conf" } },
    }, cjson.decode(json.encode(doc)))
    -- nothing at all: four empty lists
    local empty = json.encode(renew.json_summary({ dry_run = true },
      { renewed = {}, skipped = {}, failed = {}, parse = {} }))
    assert.equal('{"dry_run":true,"failed":[],"format_version":1,"not_due":[],'
      .. '"parse_failures":[],"renewed":[]}', empty)
  end)
end)
