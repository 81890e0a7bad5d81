-- certbot.cli: the command-line parser and the config object it returns.

local cli = require "certbot.cli"
local errors = require "certbot.errors"

-- No cli.ini at all: the system file is switched off, HOME has none.
local function noenv(k)
  if k == "CERTBOT_DEFAULT_CLI_INI" then return "" end
  if k == "HOME" then return "/nonexistent-home-for-specs" end
  return nil
end

local function parse(...)
  return cli.parse({ [0] = "certbot", ... }, { getenv = noenv })
end

local function ok(...)
  local c, err = parse(...)
  assert(c, err)
  return c
end

local function usage_error(...)
  local c, err, code = parse(...)
  assert.is_nil(c)
  assert.equal(2, code)
  assert.is_nil(err:find("\n"), "more than one line: " .. err)
  assert.matches("^certbot: error: ", err)
  return err
end

describe("cli.parse", function()
  it("defaults to run and fills Certbot's defaults", function()
    local c = ok()
    assert.equal("run", c.verb)
    assert.equal("ecdsa", c.key_type)
    assert.equal(2048, c.rsa_key_size)
    assert.equal("/etc/letsencrypt", c.config_dir)
    assert.same({}, c.domains)
    assert.is_false(c.dry_run)
    assert.is_true(c.validate_hooks)
    assert.is_nil(c.eff_email) -- not said: ask
    assert.equal("default", (c:source("key_type")))
  end)

  it("finds the subcommand anywhere, and resolves aliases", function()
    assert.equal("certonly", ok("-d", "a.example", "certonly", "-n").verb)
    local c = ok("--cert-name", "renew", "certificates")
    assert.equal("certificates", c.verb)
    assert.equal("renew", c.certname) -- an option's value is not a subcommand
    c = ok("auth")
    assert.equal("certonly", c.verb)
    assert.equal("auth", c.verb_given)
    assert.equal("run", ok("everything").verb)
  end)

  it("rejects two subcommands and stray words", function()
    assert.matches("'certonly' and 'renew'", usage_error("certonly", "renew"), 1, true)
    assert.matches("unrecognized arguments: example.com", usage_error("example.com"), 1, true)
  end)

  it("takes --opt=value, --opt value, and short forms", function()
    local c = ok("--key-type=rsa", "--rsa-key-size", "4096", "-m", "a@b.example", "-dx.example",
      "-d=y.example")
    assert.equal("rsa", c.key_type)
    assert.equal(4096, c.rsa_key_size)
    assert.equal("a@b.example", c.email)
    assert.same({ "x.example", "y.example" }, c.domains)
  end)

  it("accepts unambiguous prefixes of long options", function()
    local c = ok("--preferred-chall", "dns", "--rsa-key", "3072", "--agree")
    assert.same({ "dns-01" }, c.pref_challs)
    assert.equal(3072, c.rsa_key_size)
    assert.is_true(c.tos)
  end)

  it("reports an ambiguous prefix with its candidates", function()
    local err = usage_error("--pre", "x")
    assert.matches("ambiguous option: --pre could match", err, 1, true)
    assert.matches("--pre-hook", err, 1, true)
    assert.matches("--prepare", err, 1, true)
  end)

  it("accumulates -d: comma lists, trimmed, empty parts dropped, order kept, no duplicates", function()
    local c = ok("-d", "b.example, a.example,,", "--domains", "C.Example.", "--domain=a.example",
      "-d", "d.example")
    assert.same({ "b.example", "a.example", "c.example", "d.example" }, c.domains)
    assert.equal("cli", (c:source("domains")))
  end)

  it("pairs each -d with the -w before it (webroot_map)", function()
    local c = ok("certonly", "--webroot", "-w", "/var/www/example", "-d", "example.com,www.example.com",
      "-w", "/var/www/other", "-d", "other.net", "-d", "www.other.net")
    assert.same({ "/var/www/example", "/var/www/other" }, c.webroot_path)
    assert.same({
      ["example.com"] = "/var/www/example", ["www.example.com"] = "/var/www/example",
      ["other.net"] = "/var/www/other", ["www.other.net"] = "/var/www/other",
    }, c.webroot_map)
  end)

  it("gives names before the only -w that -w, and refuses a second -w after them", function()
    local c = ok("-d", "a.example", "-w", "/srv/a")
    assert.same({ ["a.example"] = "/srv/a" }, c.webroot_map)
    local none, err, code = parse("-d", "a.example", "-w", "/srv/a", "-w", "/srv/b")
    assert.is_nil(none)
    assert.equal(1, code)
    assert.matches("must precede all domain flags", err)
  end)

  it("merges --webroot-map, which implies -d and wins over -w", function()
    local c = ok("-w", "/srv/default", "-d", "a.example",
      "--webroot-map", '{"a.example,b.example": "/srv/ab"}')
    assert.same({ "a.example", "b.example" }, c.domains)
    assert.same({ ["a.example"] = "/srv/ab", ["b.example"] = "/srv/ab" }, c.webroot_map)
    usage_error("--webroot-map", "[1,2]")
  end)

  it("makes relative paths absolute", function()
    local c = ok("--config-dir", "conf/../cfg", "-w", "www")
    assert.matches("^/.*/cfg$", c.config_dir)
    assert.is_nil(c.config_dir:find("..", 1, true))
    assert.matches("^/.*/www$", c.webroot_path[1])
  end)

  it("counts -v, alone and in clusters", function()
    assert.equal(3, ok("-vvv").verbose_count)
    assert.equal(4, ok("-v", "--verbose", "-vv").verbose_count)
    local c = ok("-nqv")
    assert.is_true(c.noninteractive_mode)
    assert.is_true(c.quiet)
    assert.equal(1, c.verbose_count)
    assert.equal(0, ok().verbose_count)
  end)

  it("lets a later value of a single-valued option win", function()
    local c = ok("--key-type", "rsa", "--key-type", "ecdsa", "--reuse-key", "--no-reuse-key")
    assert.equal("ecdsa", c.key_type)
    assert.is_false(c.reuse_key)
  end)

  it("names the option in one line for each usage mistake", function()
    assert.equal("certbot: error: argument --key-type: invalid choice: 'foo' (choose from 'rsa', 'ecdsa')",
      usage_error("--key-type=foo"))
    assert.equal("certbot: error: argument --rsa-key-size: invalid int value: 'big'",
      usage_error("--rsa-key-size", "big"))
    assert.equal("certbot: error: argument -d/--domains/--domain: expected one argument",
      usage_error("-d"))
    assert.equal("certbot: error: argument --cert-name: expected one argument",
      usage_error("--cert-name", "--dry-run"))
    assert.equal("certbot: error: unrecognized arguments: --frobnicate", usage_error("--frobnicate"))
    assert.equal("certbot: error: unrecognized arguments: -Z", usage_error("-Z"))
    assert.equal("certbot: error: argument --dry-run: ignored explicit argument 'yes'",
      usage_error("--dry-run=yes"))
    assert.matches("argument --elliptic-curve: invalid choice: 'secp192r1'",
      usage_error("--elliptic-curve", "secp192r1"), 1, true)
    assert.matches("argument %-%-issuance%-timeout: value must be a non%-negative integer",
      usage_error("--issuance-timeout=-1"))
    assert.matches("Unrecognized challenges: smtp", usage_error("--preferred-challenges", "http,smtp"))
  end)

  it("accepts deprecated options with a one-line notice", function()
    local c = ok("--tls-sni-01-port", "5001", "--os-packages-only", "--tls-sni-01-port", "5002")
    assert.equal(5002, c.tls_alpn01_port)
    assert.is_nil(c.os_packages_only)
    local n = c:notices()
    assert.equal(2, #n)
    assert.matches("^Use of %-%-tls%-sni%-01%-port is deprecated%.", n[1])
    assert.equal("Use of --os-packages-only is deprecated.", n[2])
    for _, line in ipairs(n) do assert.is_nil(line:find("\n")) end
    c = ok("--preferred-challenges", "tls-sni-01,http")
    assert.same({ "tls-alpn-01", "http-01" }, c.pref_challs)
    assert.equal(1, #c:notices())
  end)

  it("makes --deploy-hook set renew_hook too, and refuses a different --renew-hook", function()
    local c = ok("--deploy-hook", "/bin/true")
    assert.equal("/bin/true", c.renew_hook)
    assert.equal("/bin/true", c.deploy_hook)
    c = ok("--renew-hook", "/bin/echo")
    assert.equal("/bin/echo", c.renew_hook)
    assert.is_nil(c.deploy_hook)
    assert.matches("conflicts with %-%-deploy%-hook", usage_error("--deploy-hook", "a", "--renew-hook", "b"))
  end)

  it("encodes --reason as its RFC 5280 code, whatever the case", function()
    assert.equal(1, ok("revoke", "--reason", "KeyCompromise").reason)
    assert.equal(0, ok("revoke").reason)
    usage_error("revoke", "--reason", "boredom")
  end)

  it("does Certbot's checks after parsing", function()
    local c = ok("certonly", "--dry-run")
    assert.equal("https://acme-staging-v02.api.letsencrypt.org/directory", c.server)
    assert.is_true(c.staging)
    assert.is_true(c.break_my_certs)
    local none, err, code = parse("install", "--dry-run")
    assert.is_nil(none)
    assert.equal(1, code)
    assert.matches("--dry-run", err, 1, true)
    assert.is_nil((parse("--staging", "--server", "https://ca.example/dir")))
    assert.is_true(ok("renew").noninteractive_mode)
    assert.is_nil((parse("renew", "--force-interactive")))
    assert.is_true(ok("--must-staple").staple)
    assert.is_nil((parse("--hsts", "--auto-hsts")))
    assert.is_nil((parse("run", "--csr", "/tmp/x.csr")))
    assert.is_nil((parse("--allow-subset-of-names", "-d", "*.example.com")))
  end)

  it("returns help and version requests before anything else", function()
    assert.is_true(ok("--help").help_topic)
    assert.equal("renew", ok("--help", "renew").help_topic)
    assert.equal("all", ok("-h", "all").help_topic)
    assert.equal("all", ok("--help=all").help_topic)
    assert.equal("security", ok("help", "security").help_topic)
    assert.is_true(ok("--bogus", "-h").help_topic)
    assert.is_true(ok("--key-type=foo", "--version").show_version)
    assert.is_true(ok("--vers").show_version)
    assert.matches("unknown help topic 'nonsense'", usage_error("--help", "nonsense"))
  end)

  it("treats everything after -- as positional", function()
    assert.equal("renew", ok("--", "renew").verb)
    assert.matches("unrecognized arguments: %-%-dry%-run", usage_error("--", "--dry-run"))
  end)
end)

describe("config object", function()
  it("records where each value came from", function()
    local c = ok("-d", "a.example", "--key-type", "rsa")
    assert.same({ "cli", "--key-type" }, { c:source("key_type") })
    assert.equal("--key-type on the command line", c:origin("key_type"))
    assert.is_true(c:explicit("key_type"))
    assert.is_true(c:set_by_user("domains"))
    assert.is_false(c:set_by_user("rsa_key_size"))
    assert.equal("the default", c:origin("rsa_key_size"))
  end)

  it("has typed getters that convert renewal-conf strings", function()
    local c = ok()
    c:set("rsa_key_size", "4096", "renewal", "/etc/letsencrypt/renewal/a.conf:5")
    c:set("must_staple", "True", "renewal", "/etc/letsencrypt/renewal/a.conf:6")
    assert.equal(4096, c:number("rsa_key_size", 1024, 8192))
    assert.is_true(c:boolean("must_staple"))
    assert.equal("ecdsa", c:enum("key_type", "rsa", "ecdsa"))
    assert.equal("/etc/letsencrypt", c:string("config_dir"))
    assert.equal("fallback", c:string("eab_kid", "fallback"))
    assert.same({ "a", "b" }, cli.new_config({ x = "a, b" }):list("x"))
  end)

  it("raises a structured error naming the key and its source", function()
    local c = ok("--http-01-port", "80")
    c:set("rsa_key_size", "huge", "renewal", "/etc/letsencrypt/renewal/a.conf:5")
    local okk, e = pcall(c.number, c, "rsa_key_size")
    assert.is_false(okk)
    assert.is_true(errors.is(e))
    assert.equal("rsa_key_size", e.key)
    assert.equal(1, e.exit)
    assert.matches("rsa_key_size (from renewal conf /etc/letsencrypt/renewal/a.conf:5)", e.message, 1, true)
    okk, e = pcall(c.number, c, "http01_port", 1024, 65535)
    assert.is_false(okk)
    assert.equal(2, e.exit)
    assert.matches("--http-01-port on the command line", e.message, 1, true)
    okk, e = pcall(c.enum, c, "key_type", "rsa")
    assert.is_false(okk)
    assert.matches("one of 'rsa'", e.message, 1, true)
    c:set("must_staple", "maybe", "renewal", "x.conf:2")
    assert.is_false((pcall(c.boolean, c, "must_staple")))
  end)

  it("gives plugins a view keyed by their own option names", function()
    local c = ok("--dns-cloudflare-credentials", "/etc/cf.ini", "--dns-cloudflare-propagation-seconds", "20")
    local p = c:plugin("dns-cloudflare")
    assert.equal("/etc/cf.ini", p:string("credentials"))
    assert.equal(20, p:number("propagation-seconds", 0))
    assert.is_true(p:explicit("credentials"))
  end)

  it("copies deeply", function()
    local c = ok("-d", "a.example")
    local d = c:copy()
    d.domains[#d.domains + 1] = "b.example"
    d:set("key_type", "rsa", "renewal", "x.conf:1")
    assert.same({ "a.example" }, c.domains)
    assert.equal("ecdsa", c.key_type)
    assert.equal("renewal", (d:source("key_type")))
    assert.equal("default", (c:source("key_type")))
  end)
end)
