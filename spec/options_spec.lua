-- certbot.options: the one table of subcommands and options.

local options = require "certbot.options"

local TYPES = {
  flag = true, flag_false = true, string = true, path = true, int = true, float = true,
  bool = true, list = true, count = true, choice = true, append_const = true,
  help = true, version = true,
}

describe("options table", function()
  it("gives every option a known type, a topic that exists and help text", function()
    for _, e in ipairs(options.list) do
      local n = e.names[1]
      assert.is_true(TYPES[e.type] ~= nil, n .. " has type " .. tostring(e.type))
      assert.is_not_nil(options.topic(e.topic), n .. " has topic " .. tostring(e.topic))
      for _, t in ipairs(e.also or {}) do
        assert.is_not_nil(options.topic(t), n .. " lists unknown topic " .. t)
      end
      assert.is_true(type(e.help) == "string" and #e.help > 10, n .. " lacks help")
      if e.type ~= "help" and e.type ~= "version" then
        assert.is_truthy(e.dest and e.dest:match("^[a-z][a-z0-9_]*$"), n .. " dest " .. tostring(e.dest))
      end
      if e.type == "choice" then
        assert.is_table(e.choices, n)
        if e.default ~= nil and not e.action then
          local found = false
          for _, c in ipairs(e.choices) do found = found or c == e.default end
          assert.is_true(found, n .. " default not among its choices")
        end
      end
    end
  end)

  it("never uses one option name twice", function()
    local seen = {}
    for _, e in ipairs(options.list) do
      for _, n in ipairs(e.names) do
        assert.is_nil(seen[n], "duplicate " .. n)
        seen[n] = true
      end
    end
  end)

  it("uses Certbot's dest names for the options renewal confs store", function()
    local want = {
      ["--config-dir"] = "config_dir", ["--domains"] = "domains", ["--webroot-path"] = "webroot_path",
      ["--webroot-map"] = "webroot_map", ["--preferred-challenges"] = "pref_challs",
      ["--rsa-key-size"] = "rsa_key_size", ["--key-type"] = "key_type",
      ["--elliptic-curve"] = "elliptic_curve", ["--http-01-port"] = "http01_port",
      ["--renew-hook"] = "renew_hook", ["--deploy-hook"] = "renew_hook",
      ["--agree-tos"] = "tos", ["--cert-name"] = "certname", ["--force-renewal"] = "renew_by_default",
      ["--keep-until-expiring"] = "reinstall", ["--test-cert"] = "staging",
      ["--non-interactive"] = "noninteractive_mode", ["--staple-ocsp"] = "staple",
      ["--manual-auth-hook"] = "manual_auth_hook",
      ["--dns-cloudflare-credentials"] = "dns_cloudflare_credentials",
      ["--dns-rfc2136-propagation-seconds"] = "dns_rfc2136_propagation_seconds",
      ["--disable-hook-validation"] = "validate_hooks", ["--no-directory-hooks"] = "directory_hooks",
      ["--no-random-sleep-on-renew"] = "random_sleep_on_renew", ["--verbose"] = "verbose_count",
    }
    for long, dest in pairs(want) do
      local e = options.by_long(long)
      assert.is_not_nil(e, long)
      assert.equal(dest, e.dest, long)
    end
  end)

  it("has today's defaults", function()
    assert.equal("ecdsa", options.by_long("--key-type").default)
    assert.equal("secp256r1", options.by_long("--elliptic-curve").default)
    assert.equal(2048, options.by_long("--rsa-key-size").default)
    assert.equal("HS256", options.by_long("--eab-hmac-alg").default)
    assert.equal(443, options.by_long("--tls-alpn-01-port").default)
    assert.equal(90, options.by_long("--issuance-timeout").default)
    assert.equal("https://acme-v02.api.letsencrypt.org/directory", options.by_long("--server").default)
    assert.equal("/etc/letsencrypt", options.by_long("--config-dir").default)
    assert.equal("/var/lib/letsencrypt", options.by_long("--work-dir").default)
    assert.equal("/var/log/letsencrypt", options.by_long("--logs-dir").default)
  end)

  it("maps the tls-sni-01 options onto tls-alpn-01 as deprecated aliases", function()
    local old, new = options.by_long("--tls-sni-01-port"), options.by_long("--tls-alpn-01-port")
    assert.equal(new.dest, old.dest)
    assert.is_truthy(old.deprecated)
    assert.is_falsy(new.deprecated)
    assert.equal(options.by_long("--tls-alpn-01-address").dest, options.by_long("--tls-sni-01-address").dest)
  end)

  it("finds options by long name, short letter and dest", function()
    assert.equal("domains", options.by_long("domains").dest)
    assert.equal(options.by_long("--domains"), options.by_short("d"))
    assert.equal(options.by_long("--webroot-path"), options.by_short("-w"))
    assert.equal(options.by_long("--verbose"), options.by_short("v"))
    local first, all = options.by_dest("reuse_key")
    assert.equal("--reuse-key", first.long)
    assert.equal(2, #all)
    assert.is_nil(options.by_long("--no-such-option"))
  end)

  it("resolves unambiguous prefixes and names the candidates of ambiguous ones", function()
    local e, name = options.resolve_long("--preferred-chall")
    assert.equal("pref_challs", e.dest)
    assert.equal("--preferred-challenges", name)
    -- two spellings of one option are not ambiguous
    e = options.resolve_long("--domai")
    assert.equal("domains", e.dest)
    local none, err = options.resolve_long("--preferred")
    assert.is_nil(none)
    assert.matches("ambiguous option: --preferred could match", err, 1, true)
    assert.matches("--preferred-chain", err, 1, true)
    assert.matches("--preferred-challenges", err, 1, true)
  end)

  it("lists the options renew stores in the renewal conf", function()
    local dests = {}
    for _, e in ipairs(options.renewal_options()) do
      assert.is_nil(dests[e.dest], "listed twice: " .. e.dest)
      dests[e.dest] = true
    end
    for _, d in ipairs({ "authenticator", "installer", "account", "server", "rsa_key_size",
      "key_type", "elliptic_curve", "must_staple", "pref_challs", "reuse_key", "webroot_path",
      "webroot_map", "http01_port", "http01_address", "manual_auth_hook", "manual_cleanup_hook",
      "pre_hook", "post_hook", "renew_hook", "preferred_chain", "allow_subset_of_names",
      "dns_cloudflare_credentials", "dns_route53_propagation_seconds" }) do
      assert.is_true(dests[d] == true, d .. " is not stored")
    end
    assert.is_nil(dests.dry_run)
    assert.is_nil(dests.domains)
  end)

  it("knows every subcommand, Certbot's aliases, and has impl fields", function()
    for _, name in ipairs({ "run", "certonly", "renew", "certificates", "delete", "revoke",
      "register", "unregister", "update_account", "show_account", "install", "enhance",
      "reconfigure", "update_symlinks", "rollback", "config_changes", "plugins" }) do
      local sc = options.subcommand(name)
      assert.is_not_nil(sc, name)
      assert.is_not_nil(options.topic(name), "no help topic for " .. name)
    end
    assert.equal("certonly", options.subcommand("auth").name)
    assert.equal("run", options.subcommand("everything").name)
    assert.is_nil(options.subcommand("frobnicate"))
  end)

  it("has a help topic and a selection flag for each built-in plugin, and no others", function()
    local builtin = require("certbot.plugins").BUILTIN
    local names = {}
    for p in pairs(builtin) do names[#names + 1] = p end
    table.sort(names)
    -- every plugin topic belongs to a plugin this build ships
    for _, t in ipairs(options.topics()) do
      if t.plugin then assert.is_not_nil(builtin[t.plugin], "options for a plugin not shipped: " .. t.plugin) end
    end
    for _, p in ipairs(names) do
      assert.is_not_nil(options.topic(p), p)
      if p ~= "null" then
        local sel = options.by_long("--" .. p)
        assert.is_not_nil(sel, "--" .. p)
        assert.equal("flag", sel.type)
      end
    end
    assert.equal("plugins", options.by_long("--authenticator").topic)
    assert.equal("a", options.by_long("--authenticator").names[1]:sub(2))
  end)

  it("lists topics with the fixed groups first and plugins sorted", function()
    local keys = {}
    for _, t in ipairs(options.topics()) do keys[#keys + 1] = t.key end
    assert.equal("optional", keys[1])
    assert.equal("automation", keys[2])
    local seen = {}
    for _, k in ipairs(keys) do
      assert.is_nil(seen[k], "topic listed twice: " .. k)
      seen[k] = true
    end
    local plugins = {}
    for _, t in ipairs(options.topics()) do
      if t.plugin then plugins[#plugins + 1] = t.key end
    end
    local sorted = { table.unpack(plugins) }
    table.sort(sorted)
    assert.same(sorted, plugins)
  end)
end)

describe("options.register", function()
  -- register changes the shared table: use a fresh copy of the module.
  local fresh
  before_each(function()
    package.loaded["certbot.options"] = nil
    fresh = require "certbot.options"
  end)
  after_each(function()
    package.loaded["certbot.options"] = options
  end)

  it("adds a plugin's options with Certbot's naming, its topic and selector", function()
    assert(fresh.register("dns-example", {
      { name = "credentials", type = "path", help = "Credentials INI file." },
      { name = "propagation-seconds", type = "int", default = 30, help = "Seconds to wait." },
      { name = "local", type = "flag", renewal = false, help = "Do something locally." },
    }, { description = "Example DNS.", selector = "Use the example DNS." }))
    local e = fresh.by_long("--dns-example-credentials")
    assert.equal("dns_example_credentials", e.dest)
    assert.equal("dns-example", e.topic)
    assert.is_true(e.renewal)
    assert.is_false(fresh.by_long("--dns-example-local").renewal)
    assert.equal(30, fresh.by_long("--dns-example-propagation-seconds").default)
    assert.equal("dns_example", fresh.by_long("--dns-example").dest)
    assert.is_not_nil(fresh.topic("dns-example"))
    -- and the parser sees it at once
    local cli = require "certbot.cli"
    package.loaded["certbot.cli"] = nil
    package.loaded["certbot.config"] = nil
    local c = require("certbot.cli").parse({ [0] = "certbot", "--dns-example-prop", "45" },
      { getenv = function(k) return k == "CERTBOT_DEFAULT_CLI_INI" and "" or nil end })
    package.loaded["certbot.cli"] = cli
    package.loaded["certbot.config"] = nil
    assert.equal(45, c.dns_example_propagation_seconds)
  end)

  it("refuses a name that is taken, and then adds nothing at all", function()
    local before = #fresh.list
    local ok, err = fresh.register("webroot", {
      { name = "extra", help = "An extra option." },
      { name = "path", help = "Clashes with --webroot-path." },
    })
    assert.is_nil(ok)
    assert.matches("--webroot-path", err, 1, true)
    assert.equal(before, #fresh.list)
    assert.is_nil(fresh.by_long("--webroot-extra"))
  end)

  it("refuses a bad type or a nameless spec", function()
    assert.is_nil((fresh.register("p1", { { name = "x", type = "blob", help = "h" } })))
    assert.is_nil((fresh.register("p2", { { type = "string", help = "h" } })))
    assert.is_nil((fresh.register("bad name", {})))
  end)
end)
