-- Accounts against a real Pebble 2.4.0 on this spec's own ports: key
-- rollover (RFC 8555 §7.3.5, `update_account --new-key`), what a rollover
-- cut short leaves and how the next run finishes it, --account-key-type,
-- and --account among several accounts on one server.
--
-- Judges: Pebble itself (requests signed with the old key are refused, the
-- new key opens the account), openssl-free checks of the files against the
-- account id rule (MD5 of the public key's PEM), and Debian's certbot 2.1,
-- which must keep renewing a lineage after our rollover.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local acme = require("certbot.acme")
local account = require("certbot.account")
local core = require("certbot.core")
local cjson = require("cjson")

local sys, jws, crypto = core.sys, core.jws, core.crypto

-- The one account directory of cb's server: id, path.
local function account_dirs(cb)
  local base = cb.config_dir .. "/accounts/" .. account.server_path(cb.srv.directory)
  local ids = {}
  for _, f in ipairs(sys.listdir(base) or {}) do
    if f:sub(1, 1) ~= "." then ids[#ids + 1] = f end
  end
  table.sort(ids)
  return ids, base
end

local function read_json(path)
  return cjson.decode((assert(proc.read(path), path)))
end

local function key_of(dir)
  return assert(jws.key_from_jwk(read_json(dir .. "/private_key.json")))
end

local function conf_account(cb, name)
  return (cb:read("renewal/" .. name .. ".conf") or ""):match("\naccount = (%x+)\n")
end

-- An acme client on srv signed in as (key, kid).
local function client_for(srv, key, kid)
  local c = assert(acme.new({ directory = srv.directory, http = { ca_file = srv.ca_file, timeout = 10 } }))
  c.key, c.kid = key, kid
  return c
end

describe("account key rollover #integration", function()
  local srv, cb, http_port, tls_port

  setup(function()
    http_port, tls_port = proc.free_ports(2)
    srv = pebble.start({ ports = { auto = true, http01 = http_port, tlsalpn01 = tls_port } })
  end)
  teardown(function()
    if srv then srv.stop() end
  end)
  before_each(function() cb = helper.new(srv) end)
  after_each(function() cb:cleanup() end)

  local function issue(name, extra)
    local args = { "certonly", "--standalone", "--http-01-port", tostring(http_port), "-d", name }
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    local code, out, err = cb:run(args)
    assert.equal(0, code, out .. err)
  end

  it("replaces the key at the CA: the new key works, Pebble refuses the old one", function()
    issue("roll.example")
    local ids, base = account_dirs(cb)
    assert.equal(1, #ids)
    local old_id = ids[1]
    local old_key = key_of(base .. "/" .. old_id)
    local uri = read_json(base .. "/" .. old_id .. "/regr.json").uri
    assert.equal(old_id, conf_account(cb, "roll.example"))

    local code, out, err = cb:run({ "update_account", "--new-key" }, { no_account_flags = true })
    assert.equal(0, code, out .. err)

    -- the account moved to the directory named after its new key
    ids = account_dirs(cb)
    assert.equal(1, #ids)
    local new_id = ids[1]
    assert.not_equal(old_id, new_id)
    local dir = base .. "/" .. new_id
    local new_key = key_of(dir)
    assert.equal(new_id, account.account_id(new_key))
    assert.is_false(new_key:equals(old_key))
    assert.equal("ec", new_key:info().type) -- the old key's kind, as none was asked for
    assert.equal(uri, read_json(dir .. "/regr.json").uri)
    assert.same({ old_id }, read_json(dir .. "/meta.json").previous_ids)
    assert.equal(256, sys.stat(dir .. "/private_key.json").mode & 511) -- 0400
    assert.same({ "meta.json", "private_key.json", "regr.json" }, (function()
      local t = sys.listdir(dir)
      table.sort(t)
      return t
    end)())
    assert.is_nil(sys.lstat(base .. "/" .. old_id))
    -- the lineage follows, and the user is told
    assert.equal(new_id, conf_account(cb, "roll.example"))
    assert.matches(("it was %s and is now %s"):format(old_id, new_id), out, 1, true)
    assert.matches("1 certificate lineage now names the new ID", out, 1, true)

    -- Pebble: the old key no longer opens the account ...
    local old = client_for(srv, old_key, uri)
    local body, problem = old:get(uri)
    assert.is_nil(body)
    assert.equal(acme.Problem, getmetatable(problem))
    -- Pebble 2.4.0 checks the signature against the account's key of now
    assert.equal(400, problem.status, tostring(problem))
    assert.equal("urn:ietf:params:acme:error:malformed", problem.type)
    assert.matches("JWS verification error", problem.detail, 1, true)
    local url, perr = old:find_account(old_key)
    assert.is_nil(url)
    assert.equal("urn:ietf:params:acme:error:accountDoesNotExist", perr.type)
    -- ... a new order signed with it is refused too ...
    local order, oerr = old:new_order({ { type = "dns", value = "old-key.example" } })
    assert.is_nil(order)
    assert.equal(400, oerr.status, tostring(oerr))
    assert.matches("JWS verification error", oerr.detail, 1, true)
    -- ... and the new one does
    local new = client_for(srv, new_key, uri)
    local acct = assert(new:get(uri))
    assert.equal("valid", acct.status)
    assert.equal(uri, assert(new:find_account(new_key)))

    -- new orders and renewals go through with the new key, on the same account
    issue("roll2.example")
    assert.equal(new_id, conf_account(cb, "roll2.example"))
    code, out, err = cb:run({ "renew", "--force-renewal", "--cert-name", "roll.example" })
    assert.equal(0, code, out .. err)
    assert.equal("../../archive/roll.example/cert2.pem", sys.readlink(cb:live("roll.example").cert))
    assert.same({ new_id }, (account_dirs(cb)))

    -- the id the account had before still finds it
    code, out, err = cb:run({ "show_account", "--account", old_id }, { no_account_flags = true })
    assert.equal(0, code, out .. err)
    assert.matches("Account URL: " .. uri, out, 1, true)
    assert.matches("Certificates using this account: roll.example, roll2.example", out, 1, true)
  end)

  it("makes RSA account keys with --account-key-type rsa, and changes kind on rollover", function()
    local code, out, err = cb:run({ "register", "--account-key-type", "rsa" })
    assert.equal(0, code, out .. err)
    local ids, base = account_dirs(cb)
    local k = key_of(base .. "/" .. ids[1])
    assert.equal("rsa", k:info().type)
    assert.equal(2048, k:info().bits)
    assert.equal("RSA", read_json(base .. "/" .. ids[1] .. "/private_key.json").kty)

    -- without --account-key-type a rollover keeps the kind and size
    code, out, err = cb:run({ "update_account", "--new-key" }, { no_account_flags = true })
    assert.equal(0, code, out .. err)
    ids = account_dirs(cb)
    k = key_of(base .. "/" .. ids[1])
    assert.equal("rsa", k:info().type)
    assert.matches("new RSA 2048 key", out, 1, true)

    code, out, err = cb:run({ "update_account", "--new-key", "--account-key-type", "ecdsa" },
      { no_account_flags = true })
    assert.equal(0, code, out .. err)
    ids = account_dirs(cb)
    k = key_of(base .. "/" .. ids[1])
    assert.equal("ec", k:info().type)
    assert.equal("P-256", k:info().curve)
    -- and it signs with it
    issue("ec-again.example")

    code, out, err = cb:run({ "register", "--account-key-type", "dsa" })
    assert.equal(2, code, out .. err)
    assert.matches("argument --account-key-type: invalid choice: 'dsa'", err, 1, true)
  end)

  it("with -m, changes the contacts in the same run", function()
    issue("contact.example")
    local code, out, err = cb:run({ "update_account", "--new-key", "-m", "new@example.org" },
      { no_account_flags = true })
    assert.equal(0, code, out .. err)
    assert.matches("Your e-mail address was updated to new@example.org.", out, 1, true)
    code, out, err = cb:run({ "show_account" }, { no_account_flags = true })
    assert.equal(0, code, out .. err)
    assert.matches("Email contact: new@example.org", out, 1, true)
  end)

  describe("a rollover cut short", function()
    -- What rollover() writes before asking the CA: the new key, staged in
    -- the old account's directory.
    local function stage(base, id, key)
      assert(sys.write_atomic(base .. "/" .. id .. "/.rollover_key.json",
        cjson.encode(jws.private_jwk(key)), 256))
    end

    it("after the CA took the new key: the next run asks the CA and finishes", function()
      issue("cut.example")
      local ids, base = account_dirs(cb)
      local old_id = ids[1]
      local old_key = key_of(base .. "/" .. old_id)
      local uri = read_json(base .. "/" .. old_id .. "/regr.json").uri
      local new_key = assert(crypto.generate_key("ec", "P-256"))
      stage(base, old_id, new_key)
      -- the CA takes it; the run "dies" before saving anything
      local c = client_for(srv, old_key, uri)
      assert(c:key_change(new_key))

      local code, out, err = cb:run({ "show_account" }, { no_account_flags = true })
      assert.equal(0, code, out .. err)
      local new_id = account.account_id(new_key)
      assert.same({ new_id }, (account_dirs(cb)))
      assert.is_true(key_of(base .. "/" .. new_id):equals(new_key))
      assert.equal(new_id, conf_account(cb, "cut.example"))
      assert.matches("Certificates using this account: cut.example", out, 1, true)
      assert.matches("the CA holds the staged new key", proc.read(cb.logs_dir .. "/letsencrypt.log"), 1, true)
      -- and issuing works on
      issue("cut2.example")
    end)

    it("before the CA took it: the staged key is dropped and the old key stays", function()
      issue("never.example")
      local ids, base = account_dirs(cb)
      local old_id = ids[1]
      local old_key = key_of(base .. "/" .. old_id)
      stage(base, old_id, assert(crypto.generate_key("ec", "P-256")))

      local code, out, err = cb:run({ "show_account" }, { no_account_flags = true })
      assert.equal(0, code, out .. err)
      assert.same({ old_id }, (account_dirs(cb)))
      assert.is_true(key_of(base .. "/" .. old_id):equals(old_key))
      assert.is_nil(sys.lstat(base .. "/" .. old_id .. "/.rollover_key.json"))
      assert.equal(old_id, conf_account(cb, "never.example"))
    end)

    it("after the new directory was written: finished from disk alone", function()
      issue("disk.example")
      local ids, base = account_dirs(cb)
      local old_id = ids[1]
      local old_key = key_of(base .. "/" .. old_id)
      local uri = read_json(base .. "/" .. old_id .. "/regr.json").uri
      local new_key = assert(crypto.generate_key("ec", "P-256"))
      stage(base, old_id, new_key)
      local c = client_for(srv, old_key, uri)
      assert(c:key_change(new_key))
      -- the new directory, whole, as move_account writes it; then the "kill"
      local new_id = account.account_id(new_key)
      assert(sys.mkdir(base .. "/" .. new_id, 448))
      assert(sys.write_atomic(base .. "/" .. new_id .. "/private_key.json",
        cjson.encode(jws.private_jwk(new_key)), 256))
      assert(sys.write_atomic(base .. "/" .. new_id .. "/regr.json",
        proc.read(base .. "/" .. old_id .. "/regr.json"), 420))
      local meta = read_json(base .. "/" .. old_id .. "/meta.json")
      meta.previous_ids = { old_id }
      assert(sys.write_atomic(base .. "/" .. new_id .. "/meta.json", cjson.encode(meta), 420))

      -- renew lists the accounts (through the client), and finishes first
      local code, out, err = cb:run({ "renew", "--force-renewal" })
      assert.equal(0, code, out .. err)
      assert.same({ new_id }, (account_dirs(cb)))
      assert.equal(new_id, conf_account(cb, "disk.example"))
      assert.equal("../../archive/disk.example/cert2.pem", sys.readlink(cb:live("disk.example").cert))
    end)

    it("a new key that is another account's: refused, and nothing changes", function()
      issue("taken.example")
      local ids, base = account_dirs(cb)
      local old_id = ids[1]
      -- another account on the same CA, whose key we then try to take over
      local other = assert(crypto.generate_key("ec", "P-256"))
      local oc = client_for(srv, other, nil)
      local other_uri = select(2, assert(oc:new_account({ tos = true })))
      local uri = read_json(base .. "/" .. old_id .. "/regr.json").uri
      local backend = require("certbot.storage").filesystem(cb.config_dir)
      local acc = assert(account.load(backend, srv.directory, old_id))
      local c = client_for(srv, acc.key, uri)
      -- RFC 8555 §7.3.5 says 409 Conflict; Pebble 2.4.0 answers 500
      -- serverInternal "New public key is already in use by account ...",
      -- which tells us nothing for sure: the staged key stays
      local ok, e = pcall(account.rollover, backend, srv.directory, acc, c, other)
      assert.is_false(ok)
      assert.equal(1, e.exit)
      assert.matches("New public key is already in use", e.message, 1, true)
      assert.matches("Whether the server took the new key is unknown", e.message, 1, true)
      assert.is_truthy(sys.lstat(base .. "/" .. old_id .. "/.rollover_key.json"))
      assert.is_true(c.key:equals(acc.key))
      -- the next run asks the CA: that key opens another account, so it is dropped
      assert.equal(other_uri, assert(c:find_account(other)))
      issue("taken2.example")
      assert.same({ old_id }, (account_dirs(cb)))
      assert.is_nil(sys.lstat(base .. "/" .. old_id .. "/.rollover_key.json"))
      assert.equal(old_id, conf_account(cb, "taken2.example"))
    end)
  end)

  describe("several accounts on one server", function()
    -- a second account, registered through a second config dir and moved in
    local function second_account()
      local other = helper.new(srv)
      local code, out, err = other:run({ "register", "--agree-tos", "-m", "second@example.org" },
        { no_account_flags = true })
      assert.equal(0, code, out .. err)
      local ids, obase = account_dirs(other)
      local _, base = account_dirs(cb)
      assert(sys.rename(obase .. "/" .. ids[1], base .. "/" .. ids[1]))
      other:cleanup()
      return ids[1]
    end

    it("needs --account under -n, and takes it (or a menu answer on a terminal)", function()
      issue("first.example")
      local mine = (account_dirs(cb))[1]
      local theirs = second_account()
      local all, base = account_dirs(cb)
      assert.equal(2, #all)
      -- listed oldest first (creation_dt), then by id
      local function created(id) return read_json(base .. "/" .. id .. "/meta.json").creation_dt end
      local first, second = mine, theirs
      if created(theirs) < created(mine) or (created(theirs) == created(mine) and theirs < mine) then
        first, second = theirs, mine
      end

      -- -n: one line naming every id
      local code, out, err = cb:run({ "show_account" }, { no_account_flags = true })
      assert.equal(1, code, out .. err)
      assert.matches("There are 2 accounts for " .. srv.directory, err, 1, true)
      -- oldest first, as the accounts are listed
      assert.matches(("(%s, %s)"):format(first, second), err, 1, true)
      assert.matches("--account ID", err, 1, true)
      assert.equal(1, select(2, err:gsub("\n", "")), err)
      code, out, err = cb:run({ "certonly", "--standalone", "--http-01-port", tostring(http_port),
        "-d", "which.example" })
      assert.equal(1, code, out .. err)
      assert.matches("choose one with --account ID", err, 1, true)
      assert.is_nil(cb:read("renewal/which.example.conf"))

      -- --account picks; the lineage records it
      code, out, err = cb:run({ "certonly", "--standalone", "--http-01-port", tostring(http_port),
        "-d", "which.example", "--account", theirs })
      assert.equal(0, code, out .. err)
      assert.equal(theirs, conf_account(cb, "which.example"))
      code, out, err = cb:run({ "show_account", "--account", theirs }, { no_account_flags = true })
      assert.equal(0, code, out .. err)
      assert.matches("Email contact: second@example.org", out, 1, true)
      assert.matches("Certificates using this account: which.example", out, 1, true)
      code, out, err = cb:run({ "show_account", "--account", mine }, { no_account_flags = true })
      assert.equal(0, code, out .. err)
      assert.matches("Certificates using this account: first.example\n", out, 1, true)
      -- renew uses each lineage's own account without asking
      code, out, err = cb:run({ "renew", "--force-renewal" })
      assert.equal(0, code, out .. err)

      -- an unknown id: the ids there are listed
      code, out, err = cb:run({ "show_account", "--account", "0123" }, { no_account_flags = true })
      assert.equal(1, code, out .. err)
      assert.matches("Account 0123 does not exist for " .. srv.directory
        .. "; the accounts there are: " .. first .. ", " .. second, err, 1, true)

      -- a terminal (--force-interactive) gets Certbot's menu
      local argv = { "show_account", "--force-interactive", "--config-dir", cb.config_dir,
        "--work-dir", cb.work_dir, "--logs-dir", cb.logs_dir, "-c", cb.cli_ini,
        "--server", srv.directory }
      code, out, err = cb:run(argv, { bare = true, stdin = "2\n" })
      assert.equal(0, code, out .. err)
      assert.matches("Please choose an account", out, 1, true)
      assert.matches("1: " .. first .. " (created ", out, 1, true)
      assert.matches("2: " .. second .. " (created ", out, 1, true)
      assert.matches("Email contact: " .. (second == theirs and "second@example.org"
        or "spec@example.org"), out, 1, true)
    end)
  end)
end)

-- Debian's certbot 2.1 on the same config dir after our rollover: it takes
-- an account's id from its key and writes that id into the renewal conf of
-- what it renews, so the account's directory must be named after the new
-- key (see certbot.account) for its next run to find it.
describe("Debian's certbot after our key rollover #integration", function()
  local DEBIAN = "/usr/bin/certbot"
  if not sys.lstat(DEBIAN) then
    pending("Debian's certbot is not installed (apt-get install certbot)")
    return
  end
  local srv, cb, http_port, tls_port

  setup(function()
    http_port, tls_port = proc.free_ports(2)
    srv = pebble.start({ ports = { auto = true, http01 = http_port, tlsalpn01 = tls_port } })
    cb = helper.new(srv)
  end)
  teardown(function()
    if cb then cb:cleanup() end
    if srv then srv.stop() end
  end)

  local function debian(args)
    local argv = { DEBIAN }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    for _, a in ipairs({ "--config-dir", cb.config_dir, "--work-dir", cb.work_dir,
      "--logs-dir", cb.logs_dir, "-n" }) do argv[#argv + 1] = a end
    local env = { "REQUESTS_CA_BUNDLE=" .. srv.ca_file, "XDG_CONFIG_HOME=" .. cb.dir,
      "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" .. cb.dir }
    local code, out, err = sys.run(argv, env, { stdin = "" })
    return code, out or "", err or ""
  end

  it("renews twice with the rolled-over account and keeps finding it", function()
    local code, out, err = cb:run({ "certonly", "--standalone", "--http-01-port",
      tostring(http_port), "-d", "deb.example" })
    assert.equal(0, code, out .. err)
    code, out, err = cb:run({ "update_account", "--new-key" }, { no_account_flags = true })
    assert.equal(0, code, out .. err)
    local new_id = (account_dirs(cb))[1]
    for round = 2, 3 do
      code, out, err = debian({ "renew", "--force-renewal", "--cert-name", "deb.example",
        "--no-random-sleep-on-renew" })
      assert.equal(0, code, ("%s%s\n%s"):format(out, err,
        (proc.read(cb.logs_dir .. "/letsencrypt.log") or ""):sub(-3000)))
      assert.equal(("../../archive/deb.example/cert%d.pem"):format(round),
        sys.readlink(cb:live("deb.example").cert))
      assert.equal(new_id, conf_account(cb, "deb.example"))
    end
    -- Certbot sees exactly one account for the server
    code, out, err = debian({ "show_account", "--server", srv.directory })
    assert.equal(0, code, out .. err)
    assert.matches("Account URL: ", out, 1, true)
  end)
end)
