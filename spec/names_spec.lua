-- certbot.names: what the user asks a certificate for (Certbot's
-- enforce_domain_sanity), lineage names and the CA's tokens.  The C
-- library's inet_pton (through Debian's python3) judges the IP checks.

local names = require("certbot.names")
local sys = require("certbot.core").sys

local function rejects(value, pattern)
  local d, err = names.domain(value)
  assert.is_nil(d)
  assert.is_string(err)
  if pattern then assert.matches(pattern, err, 1, true) end
  return err
end

local function labels(n, len)
  local t = {}
  for i = 1, n do t[i] = string.rep(string.char(96 + i), len) end
  return table.concat(t, ".")
end

describe("names", function()
  describe("domain (enforce_domain_sanity)", function()
    it("lowercases and drops one trailing dot", function()
      assert.equal("x.example", names.domain("X.EXAMPLE"))
      assert.equal("x.example", names.domain("x.example."))
      assert.equal("www.x-y.example", names.domain("WWW.X-Y.Example."))
    end)

    it("takes a 63-character label and refuses a 64-character one", function()
      assert.equal(string.rep("a", 63) .. ".example", names.domain(string.rep("a", 63) .. ".example"))
      local err = rejects(string.rep("a", 64) .. ".example", "label that is too long (64 > 63)")
      assert.matches(string.rep("a", 64), err, 1, true)
    end)

    it("takes a 253-character name and refuses 254 (with or without the root dot)", function()
      local n253 = labels(3, 63) .. "." .. string.rep("d", 61)
      assert.equal(253, #n253)
      assert.equal(n253, names.domain(n253))
      assert.equal(n253, names.domain(n253 .. "."))
      local n254 = n253 .. "d"
      assert.equal(254, #n254)
      rejects(n254, "too long (254 > 253)")
      rejects(n254 .. ".", "too long (254 > 253)")
    end)

    it("refuses empty labels", function()
      rejects("a..b", "a..b contains an empty label")
      rejects(".x.example", "empty label")
      rejects("x.example..", "empty label")
      rejects("", "is empty")
      rejects(".", "is empty")
    end)

    it("refuses a URL", function()
      rejects("http://x.example", "http://x.example")
      rejects("https://x.example/", "https://x.example/")
    end)

    it("refuses characters outside A-Z a-z 0-9 . -", function()
      for _, d in ipairs({ "a b.example", "a_b.example", "a;b.example", "x.example/",
        "$(id).example", "a\0b.example", "a\nb.example" }) do
        rejects(d, "contains an invalid character. Valid characters are A-Z, a-z, 0-9, ., and -.")
      end
    end)

    it("takes *.example: two labels in all, as Certbot counts them", function()
      -- Regression guard (once a bug at names.lua:298): "*.example" is refused as a one-label name
      -- because the label count is taken after stripping "*.".  Certbot's
      -- enforce_domain_sanity accepts it (labels "*" and "example").
      assert.equal("*.example", names.domain("*.example"))
    end)

    it("takes *.x.example, refuses other wildcards", function()
      assert.equal("*.x.example", names.domain("*.X.Example."))
      rejects("*.*.example", "A wildcard may only be the whole leftmost label")
      rejects("x.*.example", "A wildcard may only be the whole leftmost label")
      rejects("foo*.example", "A wildcard may only be the whole leftmost label")
      rejects("*", "A wildcard may only be the whole leftmost label")
    end)

    it("refuses IP addresses, pointing at --ip-address", function()
      for _, ip in ipairs({ "1.2.3.4", "1.2.3.4.", "::1", "2001:DB8::1", "::ffff:1.2.3.4" }) do
        rejects(ip, "is an IP address. Use --ip-address")
      end
    end)

    it("refuses IDNs with a message about Punycode", function()
      local err = rejects("bücher.example", "Non-ASCII domain names not supported")
      assert.matches("Punycode", err, 1, true)
      assert.matches("bücher.example", err, 1, true)
      -- the Punycode form is fine
      assert.equal("xn--bcher-kva.example", names.domain("xn--bcher-kva.example"))
    end)

    it("refuses labels that start or end with a hyphen", function()
      for _, d in ipairs({ "-a.example", "a-.example", "a.-b.example", "a.b-.example", "a.example-" }) do
        rejects(d, "has a label that starts or ends with a hyphen")
      end
      assert.equal("a-b.example", names.domain("a-b.example"))
    end)

    it("accepts a single label, as Certbot does (the CA decides)", function()
      assert.equal("localhost", names.domain("localhost"))
      assert.equal("localhost", names.domain("localhost."))
      assert.equal("*.example", names.domain("*.example"))
    end)

    it("refuses what is not a string", function()
      assert.is_nil(names.domain(nil))
      assert.is_nil(names.domain(42))
    end)
  end)

  describe("domains", function()
    it("normalises and removes duplicates, keeping the first order", function()
      assert.same({ "b.example", "a.example", "c.example" },
        names.domains({ "B.example", "a.example", "b.example.", "A.EXAMPLE", "c.example", "b.example" }))
      assert.same({}, names.domains({}))
      assert.same({}, names.domains(nil))
    end)

    it("fails on the first bad name with its message", function()
      local l, err = names.domains({ "ok.example", "a..b", "1.2.3.4" })
      assert.is_nil(l)
      assert.matches("a..b contains an empty label", err, 1, true)
    end)
  end)

  describe("cert_name", function()
    it("takes one safe path component", function()
      for _, n in ipairs({ "example.com", "example.com-0001", "my cert", "x", "a.b_c", "*wild" }) do
        assert.equal(n, names.cert_name(n))
      end
      assert.equal(string.rep("n", 200), names.cert_name(string.rep("n", 200)))
    end)

    it("refuses what could leave its directory or confuse a tool", function()
      for _, n in ipairs({ "a/b", "..", ".", "-x", "", "a\nb", "a\0b", "/abs", "../x",
        ".hidden", "a\tb", "x/" }) do
        local ok, err = names.cert_name(n)
        assert.is_nil(ok, ("%q accepted"):format(n))
        assert.is_string(err)
        -- the message never echoes a control character
        assert.is_nil(err:find("[%c]"), ("%q"):format(err))
      end
      assert.is_nil(names.cert_name(nil))
      assert.is_nil(names.cert_name(string.rep("n", 201)))
    end)
  end)

  describe("token", function()
    it("takes base64url", function()
      for _, t in ipairs({ "abc", "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0",
        "A-_z09", string.rep("A", 512) }) do
        assert.equal(t, names.token(t))
      end
    end)

    -- Regression guard (once a bug at names.lua:340): the message quotes the token with %q, which
    -- writes a newline as backslash + a real newline, so a CA's token
    -- "a\nb" puts a line break into our error and log output.
    it("refuses anything else, quoting it on one line", function()
      for _, t in ipairs({ "../../x", "a/b", "..%2f", string.rep("A", 2048), "", "tökén",
        "a=", "a b", "a+b", "a\nb", "a\0b", "." }) do
        local ok, err = names.token(t)
        assert.is_nil(ok, ("%q accepted"):format(t))
        assert.matches("^invalid token from the CA: ", err)
        assert.is_nil(err:find("\n", 1, true))
        assert.is_true(#err < 120)
      end
      assert.equal("invalid token from the CA: nil", select(2, names.token(nil)))
      assert.equal("invalid token from the CA: number", select(2, names.token(7)))
    end)
  end)

  describe("is_ipv4 / is_ipv6", function()
    it("decides the listed cases", function()
      assert.is_true(names.is_ipv6("::1"))
      assert.is_true(names.is_ipv6("2001:db8::1"))
      assert.is_true(names.is_ipv6("::ffff:1.2.3.4"))
      assert.is_false(names.is_ipv6("1::2::3"))
      assert.is_false(names.is_ipv4("256.1.1.1"))
      assert.is_false(names.is_ipv4("01.2.3.4"))
      assert.is_true(names.is_ipv4("1.2.3.4"))
      assert.is_false(names.is_ipv4("::1"))
      assert.is_false(names.is_ipv6("1.2.3.4"))
      assert.is_true(names.is_ip("1.2.3.4"))
      assert.is_true(names.is_ip("::"))
      assert.is_false(names.is_ip("x.example"))
    end)

    it("agrees with inet_pton on many inputs", function()
      local cases = { "::1", "2001:db8::1", "::ffff:1.2.3.4", "1::2::3", "256.1.1.1", "01.2.3.4",
        "1.2.3.4", "0.0.0.0", "255.255.255.255", "1.2.3", "1.2.3.4.5", "1.2.3.04", " 1.2.3.4",
        "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "::", "1::", ":1", "1:", ":::1",
        "::ffff:256.1.1.1", "fe80::1%eth0", "12345::1", "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7",
        "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "g::1", "::1.2.3.4", "1:2:3:4:5:6:7",
        "0001:2:3:4:5:6:7:8", "::ffff:01.2.3.4", "1.2.3.4::", "::1.2.3.4:1", "ABCD:ef01::" }
      local code, out, err = sys.run({ "/usr/bin/python3", "-c", [[
import socket, sys
def ok(f, a):
    try:
        socket.inet_pton(f, a)
        return "1"
    except OSError:
        return "0"
for a in sys.stdin.read().split("\n"):
    print(ok(socket.AF_INET, a) + ok(socket.AF_INET6, a))
]] }, sys.environ(), { stdin = table.concat(cases, "\n") })
      assert.equal(0, code, err)
      local i = 0
      for line in out:gmatch("[^\n]+") do
        i = i + 1
        local c = cases[i]
        local want4, want6 = line:sub(1, 1) == "1", line:sub(2, 2) == "1"
        assert.equal(want4, names.is_ipv4(c), ("is_ipv4(%q)"):format(c))
        assert.equal(want6, names.is_ipv6(c), ("is_ipv6(%q)"):format(c))
      end
      assert.equal(#cases, i)
    end)
  end)
end)
