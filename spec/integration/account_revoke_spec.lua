-- revoke, show_account, update_account and unregister against a real
-- Pebble.  Pebble's management API (/cert-status-by-serial/<hex>) is the
-- judge of revocation; openssl gives the serials and key thumbprints.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local core = require("certbot.core")
local cjson = require("cjson")

local sys, jws = core.sys, core.jws
local sh, q = helper.sh, proc.quote

describe("revoke and account subcommands against Pebble #integration", function()
  local srv, cb

  setup(function()
    srv = pebble.start({ ports = "auto" })
  end)
  teardown(function()
    if srv then srv.stop() end
  end)
  before_each(function() cb = helper.new(srv) end)
  after_each(function() cb:cleanup() end)

  local function run(c, args, opts)
    local code, out, err = c:run(args, opts)
    return code, out or "", err or ""
  end

  -- The serial as openssl prints it (hex, no 0x), for Pebble's status URL.
  local function serial_of(path)
    local code, out = sh("openssl x509 -noout -serial -in " .. q(path))
    assert.equal(0, code, out)
    return assert(out:match("serial=(%x+)"), out)
  end

  local function status(serial)
    local res = assert(srv.client:request("GET", srv.management .. "/cert-status-by-serial/" .. serial))
    assert.equal(200, res.status, res.body)
    return cjson.decode(res.body)
  end

  -- Without -n (--force-interactive), answers read from stdin.
  local function run_asking(c, args, answers)
    local argv = {}
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    for _, a in ipairs({ "--config-dir", c.config_dir, "--work-dir", c.work_dir,
      "--logs-dir", c.logs_dir, "-c", c.cli_ini, "--server", srv.directory,
      "--force-interactive" }) do argv[#argv + 1] = a end
    local code, out, err = c:run(argv, { bare = true, stdin = answers })
    return code, out or "", err or ""
  end

  local function account_dir(c)
    local root = c.config_dir .. "/accounts/127.0.0.1:" .. srv.ports.acme .. "/dir"
    local ids = sys.listdir(root) or {}
    local real = {}
    for _, id in ipairs(ids) do if not id:match("^%.") then real[#real + 1] = id end end
    if #real == 0 then return nil end
    assert.equal(1, #real)
    return root .. "/" .. real[1], real[1]
  end

  local function lineage_gone(c, name)
    return not c:exists("live/" .. name) and not c:exists("archive/" .. name)
      and not c:exists("renewal/" .. name .. ".conf")
  end

  describe("revoke", function()
    it("revokes by --cert-name with the account key and deletes the lineage under -n", function()
      local p = cb:issue("rn.example.org")
      local serial = serial_of(p.cert)
      assert.equal("Valid", status(serial).Status)
      local code, out, err = run(cb, { "revoke", "--cert-name", "rn.example.org" })
      assert.equal(0, code, out .. err)
      assert.matches("Congratulations! You have successfully revoked the certificate that was "
        .. "located at " .. p.cert .. ".", out, 1, true)
      assert.matches("Deleted all files relating to certificate rn.example.org.", out, 1, true)
      local st = status(serial)
      assert.equal("Revoked", st.Status)
      assert.equal(0, st.Reason or 0) -- unspecified
      assert.is_true(lineage_gone(cb, "rn.example.org"))
      -- the account is untouched
      assert.is_not_nil(account_dir(cb))
    end)

    it("records --reason (any case) and keeps the lineage with --no-delete-after-revoke", function()
      local p = cb:issue("rk.example.org")
      local serial = serial_of(p.cert)
      local code, out, err = run(cb, { "revoke", "--cert-name", "rk.example.org",
        "--reason", "keyCompromise", "--no-delete-after-revoke" })
      assert.equal(0, code, out .. err)
      assert.matches("successfully revoked", out, 1, true)
      assert.not_matches("Deleted all files", out, 1, true)
      local st = status(serial)
      assert.equal("Revoked", st.Status)
      assert.equal(1, st.Reason) -- keyCompromise (RFC 5280)
      assert.is_true(cb:exists("live/rk.example.org/cert.pem"))
      assert.is_true(cb:exists("renewal/rk.example.org.conf"))
      assert.is_true(cb:exists("archive/rk.example.org/cert1.pem"))

      -- revoking it again: the CA's refusal, in one line, exit 1
      code, out, err = run(cb, { "revoke", "--cert-name", "rk.example.org" })
      assert.equal(1, code, out .. err)
      assert.matches("alreadyRevoked", err, 1, true)
      assert.matches("already been revoked", err, 1, true)
      assert.equal(1, select(2, err:gsub("\n", "")))
      assert.not_matches("Congratulations", out, 1, true)
      -- a failed revocation deletes nothing, even under -n
      assert.is_true(cb:exists("renewal/rk.example.org.conf"))
    end)

    it("revokes by --cert-path with --key-path (ECDSA P-384, ES384) and deletes the lineage", function()
      local p = cb:issue("re.example.org", { "--elliptic-curve", "secp384r1" })
      local serial = serial_of(p.cert)
      local code, out, err = run(cb, { "revoke", "--cert-path", p.fullchain, "--key-path", p.privkey,
        "--reason", "superseded", "--delete-after-revoke" })
      assert.equal(0, code, out .. err)
      assert.matches("located at " .. p.fullchain .. ".", out, 1, true)
      local st = status(serial)
      assert.equal("Revoked", st.Status)
      assert.equal(4, st.Reason)
      assert.is_true(lineage_gone(cb, "re.example.org"))
    end)

    it("revokes by --cert-path with --key-path (RSA, RS256) without any account", function()
      local p = cb:issue("rr.example.org", { "--key-type", "rsa" })
      local serial = serial_of(p.cert)
      -- a second config dir with no account: only the certificate's key can sign
      local other = helper.new(srv)
      local code, out, err = run(other, { "revoke", "--cert-path", p.cert, "--key-path", p.privkey,
        "--reason", "CESSATIONOFOPERATION" })
      local no_account = account_dir(other) == nil
      other:cleanup()
      assert.equal(0, code, out .. err)
      assert.is_true(no_account, "revoking with --key-path registered an account")
      local st = status(serial)
      assert.equal("Revoked", st.Status)
      assert.equal(5, st.Reason)
      -- not a lineage of that config dir: the original lineage is untouched
      assert.is_true(cb:exists("renewal/rr.example.org.conf"))
    end)

    it("refuses a --key-path that is not the certificate's key, before asking the CA", function()
      local p = cb:issue("rm.example.org")
      local serial = serial_of(p.cert)
      local wrong = cb.dir .. "/wrong.pem"
      assert.equal(0, (sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " .. q(wrong))))
      local code, out, err = run(cb, { "revoke", "--cert-path", p.cert, "--key-path", wrong })
      assert.equal(1, code, out .. err)
      assert.matches("matches the private key located at " .. wrong .. " has failed", err, 1, true)
      assert.equal("Valid", status(serial).Status)
      assert.is_true(cb:exists("renewal/rm.example.org.conf"))
    end)

    it("reports the CA's 'unauthorized' when another account revokes with its own key", function()
      local p = cb:issue("ru.example.org")
      local serial = serial_of(p.cert)
      local other = helper.new(srv)
      local code, out, err = run(other, { "revoke", "--cert-path", p.cert })
      other:cleanup()
      assert.equal(1, code, out .. err)
      assert.matches("unauthorized", err, 1, true)
      assert.equal(1, select(2, err:gsub("\n", "")))
      assert.equal("Valid", status(serial).Status)
    end)

    it("needs exactly one of --cert-path and --cert-name", function()
      local p = cb:issue("rb.example.org")
      local serial = serial_of(p.cert)
      local msg = "Error! Exactly one of --cert-path or --cert-name must be specified!"
      local code, out, err = run(cb, { "revoke", "--cert-name", "rb.example.org", "--cert-path", p.cert })
      assert.equal(1, code, out .. err)
      assert.equal(msg .. "\n", err)
      code, out, err = run(cb, { "revoke" })
      assert.equal(1, code, out .. err)
      assert.equal(msg .. "\n", err)
      assert.equal("Valid", status(serial).Status)
      assert.is_true(cb:exists("renewal/rb.example.org.conf"))
    end)

    it("names a missing --cert-name and refuses one that is not a plain name", function()
      local code, out, err = run(cb, { "revoke", "--cert-name", "nosuch.example.org" })
      assert.equal(1, code, out .. err)
      assert.matches("No certificate found with name nosuch.example.org", err, 1, true)
      code, out, err = run(cb, { "revoke", "--cert-name", "../renewal" })
      assert.equal(2, code, out .. err)
      assert.matches("Invalid certificate name", err, 1, true)
    end)

    it("asks before deleting when interactive, and keeps the lineage on 'No'", function()
      local p = cb:issue("ra.example.org")
      local serial = serial_of(p.cert)
      local code, out, err = run_asking(cb, { "revoke", "--cert-name", "ra.example.org" }, "n\n")
      assert.equal(0, code, out .. err)
      assert.matches("Would you like to delete the certificate(s) you just revoked", out, 1, true)
      assert.equal("Revoked", status(serial).Status)
      assert.is_true(cb:exists("renewal/ra.example.org.conf"))
      assert.is_true(cb:exists("live/ra.example.org/cert.pem"))
    end)
  end)

  describe("accounts", function()
    -- The RFC 7638 thumbprint of the stored account key, computed with openssl
    -- from the JWK members (EC P-256: crv, kty, x, y in that order).
    local function openssl_thumbprint(jwk)
      local canon = ('{"crv":"%s","kty":"EC","x":"%s","y":"%s"}'):format(jwk.crv, jwk.x, jwk.y)
      local f = assert(io.open(cb.dir .. "/jwk.json", "wb"))
      f:write(canon)
      f:close()
      local code, out = sh("openssl dgst -sha256 -binary " .. q(cb.dir .. "/jwk.json")
        .. " | basenc --base64url | tr -d '=\\n'")
      assert.equal(0, code, out)
      return out
    end

    it("show_account prints the URL, thumbprint and contacts the CA holds", function()
      assert.equal(0, (run(cb, { "register" })))
      local dir = assert(account_dir(cb))
      local regr = cjson.decode(proc.read(dir .. "/regr.json"))
      local jwk = cjson.decode(proc.read(dir .. "/private_key.json"))
      local thumb = jws.thumbprint(assert(jws.key_from_jwk(jwk)))
      assert.equal(openssl_thumbprint(jwk), thumb)
      local code, out, err = run(cb, { "show_account" })
      assert.equal(0, code, out .. err)
      assert.equal(("Account details for server %s:\n  Account URL: %s\n  Account Thumbprint: %s\n"
        .. "  Email contact: spec@example.org\n"):format(srv.directory, regr.uri, thumb), out)
    end)

    it("update_account replaces the contacts; show_account shows the new ones", function()
      assert.equal(0, (run(cb, { "register" })))
      local dir = assert(account_dir(cb))
      local regr_before = cjson.decode(proc.read(dir .. "/regr.json"))
      local code, out, err = run(cb, { "update_account", "-m", "a@example.org,b@example.org" },
        { no_account_flags = true })
      assert.equal(0, code, out .. err)
      assert.matches("Your e-mail address was updated to a@example.org,b@example.org.", out, 1, true)
      -- the same account: regr.json keeps its URL (and Certbot's empty body)
      assert.same(regr_before, cjson.decode(proc.read(dir .. "/regr.json")))
      code, out, err = run(cb, { "show_account" }, { no_account_flags = true })
      assert.equal(0, code, out .. err)
      assert.matches("\n  Email contacts: a@example.org, b@example.org\n", out, 1, true)

      -- the deprecated spelling does the same
      code, out, err = run(cb, { "register", "--update-registration", "-m", "c@example.org" },
        { no_account_flags = true })
      assert.equal(0, code, out .. err)
      assert.matches("Use of --update-registration is deprecated.", err, 1, true)
      assert.matches("Your e-mail address was updated to c@example.org.", out, 1, true)
      code, out, err = run(cb, { "show_account" }, { no_account_flags = true })
      assert.equal(0, code, out .. err)
      assert.matches("\n  Email contact: c@example.org\n", out, 1, true)

      -- no address at all
      code, out, err = run(cb, { "update_account", "--register-unsafely-without-email" },
        { no_account_flags = true })
      assert.equal(0, code, out .. err)
      assert.matches("Any contact information associated with this account has been removed.", out, 1, true)
      code, out, err = run(cb, { "show_account" }, { no_account_flags = true })
      assert.equal(0, code, out .. err)
      assert.matches("\n  Email contact: none\n", out, 1, true)
    end)

    it("update_account under -n without -m fails with Certbot's message", function()
      assert.equal(0, (run(cb, { "register" })))
      local code, out, err = run(cb, { "update_account" }, { no_account_flags = true })
      assert.equal(1, code, out .. err)
      assert.matches("provide --agree-tos and --email <email_address> flags", err, 1, true)
    end)

    it("show_account and update_account need an account", function()
      local code, out, err = run(cb, { "show_account" })
      assert.equal(1, code, out .. err)
      assert.equal(("Could not find an existing account for server %s.\n"):format(srv.directory), err)
      code, out, err = run(cb, { "update_account" })
      assert.equal(1, code, out .. err)
      assert.equal(("Could not find an existing account for server %s.\n"):format(srv.directory), err)
      assert.is_nil(account_dir(cb)) -- neither registered one
    end)

    it("unregister deactivates at the CA and removes the account dir", function()
      assert.equal(0, (run(cb, { "register" })))
      local dir, id = assert(account_dir(cb))
      local regr = cjson.decode(proc.read(dir .. "/regr.json"))
      local key = assert(jws.key_from_jwk(cjson.decode(proc.read(dir .. "/private_key.json"))))

      local code, out, err = run(cb, { "unregister" })
      assert.equal(0, code, out .. err)
      assert.matches("Account deactivated.", out, 1, true)
      assert.is_nil(account_dir(cb))

      -- Pebble refuses the old account: POST-as-GET with its key and URL
      local acme = require("certbot.acme")
      local c = assert(acme.new({ directory = srv.directory, key = key, kid = regr.uri,
        http = { ca_file = srv.ca_file } }))
      local body, problem = c:get(regr.uri)
      c:close()
      assert.is_nil(body)
      assert.is_true(problem.status == 401 or problem.status == 403, tostring(problem))
      assert.matches("unauthorized", tostring(problem.type))

      -- a second run finds nothing; show_account neither
      code, out, err = run(cb, { "unregister" })
      assert.equal(1, code, out .. err)
      assert.equal(("Could not find existing account for server %s.\n"):format(srv.directory), err)
      code, out, err = run(cb, { "show_account" })
      assert.equal(1, code, out .. err)
      assert.matches("Could not find an existing account", err, 1, true)

      -- registering again makes a new account
      assert.equal(0, (run(cb, { "register" })))
      local _, id2 = assert(account_dir(cb))
      assert.not_equal(id, id2)
    end)

    it("unregister asks first, and 'Abort' keeps the account", function()
      assert.equal(0, (run(cb, { "register" })))
      local code, out, err = run_asking(cb, { "unregister" }, "a\n")
      assert.equal(1, code, out .. err)
      assert.matches("Are you sure you would like to irrevocably deactivate your account?", out, 1, true)
      assert.matches("Deactivation aborted.", err, 1, true)
      assert.is_not_nil(account_dir(cb))
      code, out, err = run(cb, { "show_account" })
      assert.equal(0, code, out .. err)
    end)
  end)
end)
