-- The certbot executable end to end: parsing, --help, --version, exit
-- statuses, and that a refused command line leaves the disk alone.

local sys = require("certbot.core").sys
local options = require "certbot.options"

local EXE = (os.getenv("CERTBOT_BUILD") or "build") .. "/certbot"
local GUIDE = "../shared/spec/certbot-user-guide.txt"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(sys.mkdir(p, 448))
  return p
end

local function write(path, text)
  os.execute("mkdir -p '" .. path:match("^(.*)/") .. "'")
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

describe("certbot executable", function()
  local dir, home

  -- run(args...) -> code, stdout, stderr, with cli.ini files under dir only
  local function run(...)
    local argv = { EXE, ... }
    return sys.run(argv, {
      "PATH=/usr/bin:/bin",
      "HOME=" .. home,
      "XDG_CONFIG_HOME=" .. dir .. "/xdg",
      "CERTBOT_DEFAULT_CLI_INI=" .. dir .. "/etc/cli.ini",
    })
  end

  -- run with private config/work/logs dirs under a fresh directory, and
  -- report whatever appeared in it
  local function run_isolated(...)
    local root = dir .. "/root"
    assert(sys.mkdir(root, 448))
    local args = { "--config-dir", root .. "/config", "--work-dir", root .. "/work",
      "--logs-dir", root .. "/logs", ... }
    local code, out, err = run(table.unpack(args))
    local left = sys.listdir(root)
    os.execute("rm -rf '" .. root .. "'")
    return code, out, err, left
  end

  -- a subcommand nobody has implemented yet, if any
  -- A subcommand that parses everything, then stops with exit 1 before
  -- touching the disk: `enhance` without an installer.
  local function stops_early() return "enhance" end

  before_each(function()
    dir = tmpdir()
    home = dir .. "/home"
  end)
  after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

  it("prints exactly 'certbot VERSION' for --version", function()
    local code, out, err = run("--version")
    assert.equal(0, code)
    assert.equal("certbot " .. require("certbot.core").version .. "\n", out)
    assert.equal("", err)
  end)

  it("lists in --help all every option of the user guide's --help all", function()
    local f = io.open(GUIDE)
    if not f then
      pending("user guide not found at " .. GUIDE .. " (run from the repository root)")
      return
    end
    local text = f:read("a")
    f:close()
    local listing = text:match("Certbot command%-line options(.-)\nGetting help")
    assert.is_not_nil(listing, "the --help all listing was not found in the guide")
    local names, count = {}, 0
    for line in listing:gmatch("[^\n]+") do
      -- option lines start with 2 or 3 spaces; help text is indented further
      local indent = line:match("^( +)%-")
      if indent and #indent <= 3 then
        local head = line:match("^ +(.-)  ") or line:match("^ +(.*)$")
        for name in head:gmatch("%-%-?[%w][%w:%-]*") do
          if not names[name] then
            names[name] = true
            count = count + 1
          end
        end
      end
    end
    assert.is_true(count > 100, "only " .. count .. " option names extracted from the guide")
    local code, out = run("--help", "all")
    assert.equal(0, code)
    local missing = {}
    for name in pairs(names) do
      local pat = name:gsub("%p", "%%%0") .. "[^%w%-]"
      if not out:find(pat) then missing[#missing + 1] = name end
    end
    table.sort(missing)
    assert.same({}, missing)
  end)

  it("shows help for every topic, subcommand and plugin, and refuses unknown topics", function()
    for _, t in ipairs(options.topics()) do
      local code, out = run("--help", t.key)
      assert.equal(0, code, t.key)
      assert.matches("\n" .. t.title:gsub("%p", "%%%0") .. ":\n", out)
    end
    local code, out = run("--help", "auth")
    assert.equal(0, code)
    assert.matches("certbot certonly", out, 1, true)
    code, out = run("--help", "commands")
    assert.equal(0, code)
    assert.matches("update_symlinks", out, 1, true)
    local err
    code, out, err = run("--help", "nonsense")
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal("certbot: error: unknown help topic 'nonsense' (try --help)\n", err)
  end)

  it("prints a short --help that ends by listing the topics", function()
    local code, out = run("--help")
    assert.equal(0, code)
    assert.matches("^usage:", out)
    assert.matches("certonly", out, 1, true)
    assert.matches("More detailed help:", out, 1, true)
    assert.matches("-h, --help [TOPIC]", out, 1, true)
    assert.matches("dns-cloudflare", out, 1, true)
    assert.is_true(#out < 5000)
  end)

  it("lays options out as argparse does", function()
    local _, out = run("--help", "all")
    assert.matches("\n  %-d DOMAIN, %-%-domains DOMAIN, %-%-domain DOMAIN\n                        %S", out)
    assert.matches("\n  %-%-cert%-name CERTNAME  %S", out)
    assert.matches("\n  %-%-key%-type {rsa,ecdsa}\n                        %S", out)
    assert.matches("%(default: ecdsa%)", out)
    -- help text stays within 78 columns (a single long word may not)
    for line in out:gmatch("[^\n]+") do
      if line:match("^                        %S") then
        assert.is_true(#line <= 78 or not line:find(" ", 25, true), "too wide: " .. line)
      end
    end
  end)

  it("exits 2 with one line naming the option on a usage error, creating nothing", function()
    for _, args in ipairs({
      { "--key-type=foo" },
      { "--rsa-key-size", "big" },
      { "--frobnicate" },
      { "-d" },
      { "certonly", "renew" },
      { "--pre", "x" },
    }) do
      local code, out, err, left = run_isolated(table.unpack(args))
      assert.equal(2, code, table.concat(args, " "))
      assert.equal("", out)
      assert.matches("^certbot: error: [^\n]+\n$", err)
      assert.same({}, left, "files appeared for " .. table.concat(args, " "))
    end
    local _, _, err = run("--key-type=foo")
    assert.equal("certbot: error: argument --key-type: invalid choice: 'foo' (choose from 'rsa', 'ecdsa')\n", err)
  end)

  it("creates nothing for --help and --version either", function()
    for _, args in ipairs({ { "--help" }, { "--help", "all" }, { "--version" }, { "-h", "renew" } }) do
      local code, _, _, left = run_isolated(table.unpack(args))
      assert.equal(0, code)
      assert.same({}, left)
    end
  end)

  it("prints a one-line deprecation notice and goes on", function()
    local code, _, err = run_isolated(stops_early(), "--tls-sni-01-port", "5001")
    assert.equal(1, code)
    assert.matches("^Use of %-%-tls%-sni%-01%-port is deprecated%.[^\n]*\nMissing command line flags", err)
  end)

  describe("cli.ini", function()
    local function early_run(...)
      return run_isolated(stops_early(), ...)
    end

    it("layers system < XDG < -c < command line", function()
      -- a bad value only matters if no higher layer replaces it
      write(dir .. "/etc/cli.ini", "key-type = bogus-system\n")
      local code, _, err = early_run()
      assert.equal(2, code)
      assert.matches(dir .. "/etc/cli.ini:1:", err, 1, true)
      write(dir .. "/xdg/letsencrypt/cli.ini", "key-type = rsa\n")
      assert.equal(1, (early_run()))
      write(dir .. "/xdg/letsencrypt/cli.ini", "\nkey-type = bogus-xdg\n")
      code, _, err = early_run()
      assert.equal(2, code)
      assert.matches(dir .. "/xdg/letsencrypt/cli.ini:2:", err, 1, true)
      write(dir .. "/extra.ini", "key-type = ecdsa\n")
      assert.equal(1, (early_run("-c", dir .. "/extra.ini")))
      write(dir .. "/extra.ini", "key-type = bogus-c\n")
      assert.equal(2, (early_run("--config", dir .. "/extra.ini")))
      assert.equal(1, (early_run("--config", dir .. "/extra.ini", "--key-type", "rsa")))
    end)

    it("names file and line of a bad line, and the unknown key", function()
      write(dir .. "/etc/cli.ini", "# fine\nrsa-key-size = 4096\n=oops\n")
      local code, out, err, left = run_isolated("certonly")
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("^certbot: error: " .. (dir .. "/etc/cli.ini:3: "):gsub("%p", "%%%0"), err)
      assert.same({}, left)
      write(dir .. "/etc/cli.ini", "rsa-key-size = 4096\nfoo = bar\n")
      code, out, err = run_isolated("certonly")
      assert.equal("", out)
      assert.equal(2, code)
      assert.equal("certbot: error: " .. dir .. "/etc/cli.ini:2: unknown option 'foo'\n", err)
    end)

    it("accepts Debian's max-log-backups and preconfigured-renewal", function()
      write(dir .. "/etc/cli.ini", "max-log-backups = 0\npreconfigured-renewal = True\n")
      local code, _, err = early_run()
      assert.equal(1, code)
      assert.matches("^Missing command line flags: choose an installer", err)
    end)

    it("fails on a -c file that does not exist", function()
      local code, _, err = run_isolated("-c", dir .. "/nope.ini")
      assert.equal(2, code)
      assert.matches("nope.ini", err, 1, true)
    end)
  end)

  it("renders a man page from the same table, which groff reads without warnings", function()
    local page = require("certbot.help").manpage()
    assert.matches('^%.TH CERTBOT 1 ', page)
    for _, e in ipairs(options.list) do
      if not e.hidden then
        local roffed = e.long:gsub("%-", "\\-")
        assert.is_truthy(page:find("\\fB" .. roffed .. "\\fR", 1, true), e.long .. " missing")
      end
    end
    for line in page:gmatch("[^\n]+") do
      assert.is_nil(line:find("^'"), "line starts with a quote: " .. line)
    end
    if os.execute("command -v groff >/dev/null 2>&1") then
      local path = dir .. "/certbot.1"
      write(path, page)
      local code, out, err = sys.run({ "groff", "-man", "-Tutf8", "-ww", "-z", path },
        { "PATH=/usr/bin:/bin" })
      assert.equal(0, code)
      assert.equal("", out)
      assert.equal("", err)
    end
  end)

  it("stays fast: --help all in a few milliseconds of Lua", function()
    local help = require "certbot.help"
    help.render("all")
    local t0 = os.clock()
    for _ = 1, 20 do help.render("all") end
    local per = (os.clock() - t0) / 20
    assert.is_true(per < 0.02, string.format("--help all took %.1f ms to render", per * 1000))
    local t1 = sys.monotonic()
    local code = run("--help", "all")
    assert.equal(0, code)
    assert.is_true(sys.monotonic() - t1 < 0.5)
  end)

  describe("main.main in process", function()
    local main = require "certbot.main"
    local sc, saved_impl, saved_stderr, captured
    local function getenv(k)
      if k == "CERTBOT_DEFAULT_CLI_INI" then return "" end
      if k == "HOME" then return "/nonexistent-home-for-specs" end
    end
    before_each(function()
      sc = options.subcommand("rollback")
      saved_impl = sc.impl
      sc.impl = "spec_fake_subcommand"
      saved_stderr = io.stderr
      captured = {}
      io.stderr = { write = function(_, ...) -- luacheck: ignore
        for _, s in ipairs({ ... }) do captured[#captured + 1] = s end
      end }
    end)
    after_each(function()
      io.stderr = saved_stderr -- luacheck: ignore
      sc.impl = saved_impl
      package.preload.spec_fake_subcommand = nil
      package.loaded.spec_fake_subcommand = nil
    end)
    local function fake(fn)
      package.loaded.spec_fake_subcommand = nil
      package.preload.spec_fake_subcommand = function() return { run = fn } end
    end

    it("returns the status run() returns, and gives run the parsed config", function()
      local seen
      fake(function(config) seen = config return 3 end)
      assert.equal(3, main.main({ [0] = "certbot", "rollback", "--checkpoints", "2" }, { getenv = getenv }))
      assert.equal(2, seen.checkpoints)
      assert.equal("rollback", seen.verb)
      fake(function() end)
      assert.equal(0, main.main({ [0] = "certbot", "rollback" }, { getenv = getenv }))
    end)

    it("maps an errors.raise to its message and exit status", function()
      fake(function() require("certbot.errors").raise("lineage example.com is broken\nsecond line", 7) end)
      assert.equal(7, main.main({ [0] = "certbot", "rollback" }, { getenv = getenv }))
      assert.equal("lineage example.com is broken\n", table.concat(captured))
    end)

    it("reports any other error as unexpected, with the traceback only under --debug", function()
      fake(function() local t = nil; return t.field end)
      assert.equal(1, main.main({ [0] = "certbot", "rollback" }, { getenv = getenv }))
      local text = table.concat(captured)
      assert.matches("^An unexpected error occurred:\n[^\n]*attempt to index[^\n]*\n$", text)
      captured = {}
      assert.equal(1, main.main({ [0] = "certbot", "rollback", "--debug" }, { getenv = getenv }))
      assert.matches("stack traceback", table.concat(captured), 1, true)
    end)

    it("prints deprecation notices before running", function()
      fake(function() return 0 end)
      assert.equal(0, main.main({ [0] = "certbot", "rollback", "--no-bootstrap" }, { getenv = getenv }))
      assert.equal("Use of --no-bootstrap is deprecated.\n", table.concat(captured))
    end)
  end)
end)
