-- TESTPLAN cases of group E that need no CA: the executable refuses bad
-- --cert-name and -d values before anything reaches the disk or the
-- network (spec/helpers/testplan_map.lua says where every case is tested).
-- Every run names an ACME server nobody listens on (port 1): a request
-- would end in "Unable to reach the ACME server", never in the refusal
-- the tests look for.  Each test's title starts with its case id.
local names = require("certbot.names")
local proc = require("spec.helpers.proc")
local sys = require("certbot.core").sys

local EXE = (os.getenv("CERTBOT_BUILD") or "build") .. "/certbot"
local NOWHERE = "https://127.0.0.1:1/dir"

describe("TESTPLAN gaps: refused before disk and network", function()
  local dir

  before_each(function() dir = proc.tmpdir("tp-gaps-") end)
  after_each(function() proc.rm_rf(dir) end)

  -- certonly with private dirs under dir/root -> code, stdout, stderr, and
  -- what the run left under dir/root (every path, recursively)
  local function certonly(...)
    local root = dir .. "/root"
    assert(sys.mkdir(root, 448))
    local argv = { EXE, "certonly", "--standalone", "-n", "--agree-tos", "-m", "spec@example.org",
      "--server", NOWHERE, "--config-dir", root .. "/config", "--work-dir", root .. "/work",
      "--logs-dir", root .. "/logs", ... }
    local code, out, err = sys.run(argv, { "PATH=/usr/bin:/bin", "HOME=" .. dir,
      "XDG_CONFIG_HOME=" .. dir .. "/xdg", "CERTBOT_DEFAULT_CLI_INI=" .. dir .. "/none.ini" })
    local left = {}
    local function walk(d, rel)
      for _, f in ipairs(sys.listdir(d) or {}) do
        left[#left + 1] = rel .. f
        local st = sys.lstat(d .. "/" .. f)
        if st and st.type == "directory" then walk(d .. "/" .. f, rel .. f .. "/") end
      end
    end
    walk(root, "")
    os.execute("rm -rf " .. proc.quote(root))
    return code, out, err, left
  end

  local function one_line(err)
    local lines = {}
    for l in (err or ""):gmatch("[^\n]+") do lines[#lines + 1] = l end
    return lines[#lines] or "", #lines == 1
  end

  it("E6: --cert-name a/b, .., ., -x, empty, with a newline or a NUL: exit 1 or 2 naming it, nothing created",
    function()
    local cases = {
      { { "--cert-name", "a/b" }, "'a/b'" },
      { { "--cert-name", ".." }, "'..'" },
      { { "--cert-name", "." }, "'.'" },
      { { "--cert-name=-x" }, "'-x'" },
      { { "--cert-name", "-x" }, "--cert-name" }, -- argparse: "expected one argument"
      { { "--cert-name", "" }, "must not be empty" },
      { { "--cert-name", "a\nb" }, "'a?b'" },
    }
    -- a NUL cannot be in an argument; a cli.ini can hold one
    local ini = dir .. "/nul.ini"
    assert(sys.write_atomic(ini, "cert-name = a\0b\n", 420))
    cases[#cases + 1] = { { "-c", ini }, "'a?b'" }
    for _, c in ipairs(cases) do
      local args = { "-d", "e6.example.org" }
      for _, a in ipairs(c[1]) do args[#args + 1] = a end
      local code, out, err, left = certonly(table.unpack(args))
      local what = ("%q: exit %s: %s%s"):format(table.concat(c[1], " "), tostring(code), out, err)
      assert.is_true(code == 1 or code == 2, what)
      local line, only = one_line(err)
      assert.is_true(only, what)
      assert.matches(c[2], line, 1, true)
      assert.is_nil(line:find("Unable to reach", 1, true), what)
      assert.is_nil(line:find("[%z\1-\31]"), what) -- no control character echoed
      assert.same({}, left, what)
    end
  end)

  it("E7: bad -d values are refused before any request, naming the value as enforce_domain_sanity does",
    function()
    local n254 = ("a"):rep(63) .. "." .. ("b"):rep(63) .. "." .. ("c"):rep(63) .. "." .. ("d"):rep(62)
    assert.equal(254, #n254)
    for _, d in ipairs({ ("a"):rep(64) .. ".example", n254, "a..b", "*.*.example", "1.2.3.4", "a-.example",
      "a_b.example" }) do
      local code, out, err = certonly("-d", d)
      local line, only = one_line(err)
      assert.equal(1, code, d .. ": " .. out .. err)
      assert.is_true(only, err)
      assert.matches(d, line, 1, true)
      -- the same words as the name check itself (names.domain, Certbot's
      -- enforce_domain_sanity)
      local _, why = names.domain(d)
      assert.is_string(why, d)
      assert.equal(why, line)
    end
    -- a URL is refused as Certbot's parser refuses it
    local code, _, err = certonly("-d", "http://x.example")
    assert.equal(1, code)
    assert.equal("Requested name http://x.example appears to be a URL, not a domain name", (one_line(err)))
    -- a wildcard with an http-01-only authenticator
    code, _, err = certonly("-d", "*.example")
    assert.equal(1, code)
    local line = one_line(err)
    assert.matches("Wildcard domains require the dns-01 challenge", line, 1, true)
    assert.matches("*.example", line, 1, true)
  end)

  it("E8: bücher.example: Certbot's 'use Punycode' error, exit 1, no file named with it", function()
    local code, out, err, left = certonly("-d", "bücher.example", "-d", "ok.example")
    assert.equal(1, code, out .. err)
    local line, only = one_line(err)
    assert.is_true(only, err)
    assert.equal("Non-ASCII domain names not supported. To issue for an Internationalized Domain Name, "
      .. "use Punycode.", line)
    for _, p in ipairs(left) do assert.is_nil(p:find("[\128-\255]"), p) end
    -- the Punycode form passes the same check
    assert.equal("xn--bcher-kva.example", names.domain("xn--bcher-kva.example"))
  end)
end)
