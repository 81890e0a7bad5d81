-- certbot.config: cli.ini files, and how cli.parse layers them.

local config = require "certbot.config"
local cli = require "certbot.cli"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p '" .. p .. "'"))
  return p
end

local function write(path, text)
  os.execute("mkdir -p '" .. path:match("^(.*)/") .. "'")
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

describe("cli.ini", function()
  local dir, env
  before_each(function()
    dir = tmpdir()
    env = {
      CERTBOT_DEFAULT_CLI_INI = dir .. "/etc/cli.ini",
      XDG_CONFIG_HOME = dir .. "/xdg",
      HOME = dir .. "/home",
    }
  end)
  after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

  local function getenv(k) return env[k] end
  local function parse(...)
    return cli.parse({ [0] = "certbot", ... }, { getenv = getenv })
  end
  local sys_ini = function() return dir .. "/etc/cli.ini" end
  local xdg_ini = function() return dir .. "/xdg/letsencrypt/cli.ini" end

  describe("default locations", function()
    it("are the system file, then XDG_CONFIG_HOME, else ~/.config", function()
      assert.same({ sys_ini(), xdg_ini() }, config.default_files(getenv))
      env.XDG_CONFIG_HOME = nil
      assert.same({ sys_ini(), dir .. "/home/.config/letsencrypt/cli.ini" }, config.default_files(getenv))
      env.CERTBOT_DEFAULT_CLI_INI = nil
      assert.equal("/etc/letsencrypt/cli.ini", config.default_files(getenv)[1])
    end)
  end)

  describe("format", function()
    it("reads key = value, key: value, key value, bare keys, comments and quotes", function()
      local items = assert(config.parse(table.concat({
        "# a comment",
        "; another comment",
        "",
        "[section headers are ignored]",
        "rsa-key-size = 4096",
        "email: someone@example.com   # trailing comment",
        "key-type rsa",
        "agree-tos",
        "user-agent = \"quoted value\"",
        "  webroot-path = /var/www/html  ",
        "domains = [a.example, 'b.example']",
        "pre-hook = service nginx stop; echo done",
      }, "\n"), "t.ini"))
      local got = {}
      for _, it in ipairs(items) do got[it.key] = it.value end
      assert.equal("4096", got["rsa-key-size"])
      assert.equal("someone@example.com", got.email)
      assert.equal("rsa", got["key-type"])
      assert.is_true(got["agree-tos"])
      assert.equal("quoted value", got["user-agent"])
      assert.equal("/var/www/html", got["webroot-path"])
      assert.same({ "a.example", "b.example" }, got.domains)
      assert.equal("service nginx stop; echo done", got["pre-hook"])
      assert.equal(8, #items)
      assert.equal(5, items[1].line)
    end)

    it("names file and line of a line it cannot read", function()
      local items, err = config.parse("rsa-key-size = 4096\n= 5\n", "/x/cli.ini")
      assert.is_nil(items)
      assert.matches("^/x/cli.ini:2: ", err)
    end)
  end)

  describe("layered under the command line", function()
    it("system < XDG < -c < command line", function()
      write(sys_ini(), "key-type = rsa\nrsa-key-size = 3072\nemail = sys@example.com\n"
        .. "server = https://sys.example/dir\n")
      write(xdg_ini(), "rsa-key-size = 4096\nemail = xdg@example.com\n")
      write(dir .. "/extra.ini", "email = c@example.com\nserver = https://c.example/dir\n")
      local c = assert(parse("-c", dir .. "/extra.ini", "--server", "https://cli.example/dir"))
      assert.equal("rsa", c.key_type)
      assert.equal(sys_ini() .. ":1", select(2, c:source("key_type")))
      assert.equal(4096, c.rsa_key_size)
      assert.equal(xdg_ini() .. ":1", c:origin("rsa_key_size"))
      assert.equal("c@example.com", c.email)
      assert.equal("https://cli.example/dir", c.server)
      assert.equal("cli", (c:source("server")))
      assert.is_true(c:set_by_user("rsa_key_size"))
      assert.is_false(c:explicit("rsa_key_size"))
    end)

    it("lets a value from a higher layer hide a bad one below it", function()
      write(sys_ini(), "key-type = foo\n")
      local c = assert(parse("--key-type", "rsa"))
      assert.equal("rsa", c.key_type)
      write(xdg_ini(), "key-type = ecdsa\n")
      assert(parse())
    end)

    it("replaces, not extends, a list option given on the command line", function()
      write(sys_ini(), "domains = a.example, b.example\n")
      assert.same({ "a.example", "b.example" }, assert(parse("certonly")).domains)
      assert.same({ "c.example" }, assert(parse("-d", "c.example")).domains)
      -- Certbot ignores cli.ini domains for renew
      assert.same({}, assert(parse("renew")).domains)
    end)

    it("applies a cli.ini webroot-path to the command line's -d", function()
      write(sys_ini(), "authenticator = webroot\nwebroot-path = /var/www/html\n")
      local c = assert(parse("certonly", "-d", "a.example"))
      assert.equal("webroot", c.authenticator)
      assert.same({ ["a.example"] = "/var/www/html" }, c.webroot_map)
    end)

    it("turns flags on with true/yes/1 or a bare key, and leaves them off with false/no/0", function()
      write(sys_ini(), "agree-tos = True\nstaging = yes\nmust-staple\nreuse-key = false\n"
        .. "no-directory-hooks = 0\nverbose = 2\n")
      local c = assert(parse())
      assert.is_true(c.tos)
      assert.is_true(c.staging)
      assert.is_true(c.must_staple)
      assert.is_false(c.reuse_key)
      assert.is_true(c.directory_hooks)
      assert.equal(2, c.verbose_count)
      assert.equal("default", (c:source("reuse_key")))
    end)

    it("accepts Debian's cli.ini", function()
      write(sys_ini(), "# Because we are using logrotate for greater flexibility, disable the\n"
        .. "# internal certbot logrotation.\nmax-log-backups = 0\n"
        .. "# Adjust interactive output regarding automated renewal\npreconfigured-renewal = True\n")
      local c = assert(parse())
      assert.equal(0, c.max_log_backups)
      assert.is_true(c.preconfigured_renewal)
    end)

    it("reports an unknown key with file and line, exit 2", function()
      write(xdg_ini(), "email = a@example.com\nfoo = bar\n")
      local c, err, code = parse()
      assert.is_nil(c)
      assert.equal(2, code)
      assert.equal("certbot: error: " .. xdg_ini() .. ":2: unknown option 'foo'", err)
    end)

    it("does not take short names or the config option itself as keys", function()
      write(sys_ini(), "d = a.example\n")
      assert.matches("unknown option 'd'", select(2, parse()), 1, true)
      write(sys_ini(), "config = /etc/other.ini\n")
      assert.matches("unknown option 'config'", select(2, parse()), 1, true)
    end)

    it("reports a bad value with file and line", function()
      write(sys_ini(), "\nrsa-key-size = big\n")
      local c, err, code = parse()
      assert.is_nil(c)
      assert.equal(2, code)
      assert.equal("certbot: error: " .. sys_ini() .. ":2: argument --rsa-key-size: invalid int value: 'big'", err)
      write(sys_ini(), "agree-tos = perhaps\n")
      assert.matches(":1: unexpected value for agree-tos", select(2, parse()), 1, true)
      write(sys_ini(), "key-type = [rsa, ecdsa]\n")
      assert.matches(":1: option 'key-type' takes one value", select(2, parse()), 1, true)
      write(sys_ini(), "email\n")
      assert.matches(":1: option 'email' needs a value", select(2, parse()), 1, true)
    end)

    it("requires a file named with -c to exist, but not the default ones", function()
      assert(parse())
      local c, err, code = parse("-c", dir .. "/missing.ini")
      assert.is_nil(c)
      assert.equal(2, code)
      assert.matches("missing.ini", err, 1, true)
      assert.matches("No such file", err, 1, true)
    end)

    it("prints the deprecation notice for a deprecated key too", function()
      write(sys_ini(), "standalone-supported-challenges = tls-sni-01\n")
      local c = assert(parse())
      assert.same({ "tls-alpn-01" }, c.pref_challs)
      assert.matches("Use of --standalone-supported-challenges is deprecated", c:notices()[1], 1, true)
    end)

    it("changes nothing when a later file fails", function()
      write(sys_ini(), "rsa-key-size = 4096\n")
      write(xdg_ini(), "rsa-key-size = 4096\nbogus-key = 1\n")
      assert.is_nil((config.load(getenv)))
      local files = assert(config.load(function(k) return k == "XDG_CONFIG_HOME" and "" or env[k] end))
      assert.equal(1, #files[1].events)
    end)
  end)
end)
