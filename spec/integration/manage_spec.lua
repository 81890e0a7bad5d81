-- certificates, delete and update_symlinks against lineages issued by a
-- real Pebble.  openssl is the judge of what the listing says; the disk is
-- the judge of what delete and update_symlinks did.
local pebble = require("spec.helpers.pebble")
local helper = require("spec.helpers.certbot")
local proc = require("spec.helpers.proc")
local core = require("certbot.core")
local sys, crypto = core.sys, core.crypto

local sh, q = helper.sh, proc.quote

local FRAME = ("- "):rep(39) .. "-"
local STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
local KINDS = { "cert", "chain", "fullchain", "privkey" }

local function write(path, data, mode)
  assert(sys.write_atomic(path, data, mode or 420))
end

local function read(path)
  return proc.read(path)
end

local function sorted(t)
  table.sort(t)
  return t
end

-- certonly with the standalone responder on Pebble's http-01 port.  Other
-- Seconds since the epoch of a UTC civil date.
local function epoch(y, m, d, hh, mm, ss)
  y = m <= 2 and y - 1 or y
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return (era * 146097 + doe - 719468) * 86400 + hh * 3600 + mm * 60 + ss
end

-- What openssl says about a certificate, in the listing's terms.
local function openssl_view(path)
  local view = {}
  local _, out = sh("openssl x509 -noout -serial -in " .. q(path))
  view.serial = assert(out:match("serial=(%x+)"), out):lower():gsub("^0+", "")
  _, out = sh("openssl x509 -noout -enddate -dateopt iso_8601 -in " .. q(path))
  local y, mo, d, h, mi, s = out:match("notAfter=(%d+)-(%d+)-(%d+) (%d+):(%d+):(%d+)Z")
  assert(y, out)
  view.expiry = ("%s-%s-%s %s:%s:%s+00:00"):format(y, mo, d, h, mi, s)
  view.not_after = epoch(tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s))
  _, out = sh("openssl x509 -noout -subject -nameopt RFC2253 -in " .. q(path))
  local cn = out:match("CN=([^,\n]+)")
  _, out = sh("openssl x509 -noout -ext subjectAltName -in " .. q(path))
  view.names = { cn }
  for v in out:gmatch("DNS:([^,%s]+)") do
    if v ~= cn then view.names[#view.names + 1] = v end
  end
  for v in out:gmatch("IP Address:([^,%s]+)") do view.names[#view.names + 1] = v end
  _, out = sh("openssl x509 -noout -text -in " .. q(path))
  local alg = assert(out:match("Public Key Algorithm: (%S+)"), out)
  view.key_type = ({ rsaEncryption = "RSA", ["id-ecPublicKey"] = "ECDSA" })[alg] or alg
  return view
end

-- Parse the framed listing: { text, entries = { {name=, fields}... },
-- by_name, invalid = { paths } }.  Fails unless the frame is Certbot's.
local function listing(out)
  local head, tail = "\n" .. FRAME .. "\n", "\n" .. FRAME .. "\n"
  assert(out:sub(1, #head) == head, "no frame at the top:\n" .. out)
  assert(out:sub(-#tail) == tail, "no frame at the bottom:\n" .. out)
  local text = out:sub(#head + 1, -#tail - 1)
  local r = { text = text, entries = {}, by_name = {}, invalid = {} }
  local cur, in_invalid
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local name = line:match("^  Certificate Name: (.+)$")
    if name then
      cur = { name = name }
      r.entries[#r.entries + 1] = cur
      r.by_name[name] = cur
    elseif line == "The following renewal configurations were invalid:" then
      in_invalid, cur = true, nil
    elseif in_invalid and line:match("^  /") then
      r.invalid[#r.invalid + 1] = line:sub(3)
    elseif line == "" then
      cur = nil
    elseif cur then
      local k, v = line:match("^    ([%a ]+): (.*)$")
      assert(k, "unexpected line in an entry: '" .. line .. "'")
      cur[k] = v
    end
  end
  return r
end

-- The expected entry for a lineage, from openssl's view of its live cert.
local function expected_entry(cb, name, view, status)
  local live = cb:live(name)
  return ("  Certificate Name: %s\n    Serial Number: %s\n    Key Type: %s\n    Domains: %s\n"
    .. "    Expiry Date: %s (%s)\n    Certificate Path: %s\n    Private Key Path: %s"):format(
    name, view.serial, view.key_type, table.concat(view.names, " "), view.expiry, status,
    live.fullchain, live.privkey)
end

local function days_left(view, now)
  return (view.not_after - now) // 86400
end

-- A copy of a config dir under another cb, with the paths in its renewal
-- confs moved along (they are absolute, as Certbot writes them).
local function clone(from, to)
  assert(os.execute(("cp -a %s %s"):format(q(from.config_dir), q(to.config_dir))))
  for _, f in ipairs(sys.listdir(to.config_dir .. "/renewal") or {}) do
    local p = to.config_dir .. "/renewal/" .. f
    local text = read(p)
    local s, e = text:find(from.config_dir, 1, true)
    while s do
      text = text:sub(1, s - 1) .. to.config_dir .. text:sub(e + 1)
      s, e = text:find(from.config_dir, s + #to.config_dir, true)
    end
    write(p, text)
  end
end

-- Everything under a lineage's dirs: { relpath = "link -> target" | content }.
local function snapshot(cb, name)
  local snap = {}
  for _, rel in ipairs({ "live/" .. name, "archive/" .. name }) do
    for _, f in ipairs(sys.listdir(cb.config_dir .. "/" .. rel) or {}) do
      local p = cb.config_dir .. "/" .. rel .. "/" .. f
      local target = sys.readlink(p)
      snap[rel .. "/" .. f] = target and ("-> " .. target) or read(p)
    end
  end
  snap["renewal/" .. name .. ".conf"] = read(cb.config_dir .. "/renewal/" .. name .. ".conf")
  return snap
end

local function links(cb, name)
  local t = {}
  for _, k in ipairs(KINDS) do t[k] = sys.readlink(cb:live(name)[k]) or false end
  return t
end

local function links_at(name, v)
  local t = {}
  for _, k in ipairs(KINDS) do t[k] = ("../../archive/%s/%s%d.pem"):format(name, k, v) end
  return t
end

-- Write version v of a lineage by hand: a self-signed cert (opts for
-- crypto.self_signed_cert: not_before, not_after), its key, and the
-- lineage's chain.
local function add_version(cb, name, v, opts)
  opts = opts or {}
  local key = assert(crypto.generate_key(opts.rsa and "rsa" or "ec", opts.rsa and 2048 or "P-256"))
  local der = assert(crypto.self_signed_cert(key, opts.ids or { { type = "dns", value = name } }, opts))
  local cert = crypto.der_to_pem(der, "CERTIFICATE")
  local dir = cb.config_dir .. "/archive/" .. name
  local chain = read(dir .. "/chain1.pem")
  write(("%s/cert%d.pem"):format(dir, v), cert)
  write(("%s/chain%d.pem"):format(dir, v), chain)
  write(("%s/fullchain%d.pem"):format(dir, v), cert .. chain)
  write(("%s/privkey%d.pem"):format(dir, v), key:pem(), 384)
end

local function set_conf_key(cb, name, key, value)
  local p = cb.config_dir .. "/renewal/" .. name .. ".conf"
  local text, n = read(p):gsub("\n" .. key .. " = [^\n]*", "\n" .. key .. " = " .. value:gsub("%%", "%%%%"), 1)
  assert(n == 1, "no " .. key .. " in " .. p)
  write(p, text)
end

describe("certificates, delete and update_symlinks against Pebble #integration", function()
  local srv

  setup(function()
    srv = pebble.start({ ports = "auto" })
  end)
  teardown(function()
    if srv then srv.stop() end
  end)

  describe("certificates", function()
    local cb
    local EC, RSA = "ec.example.org", "rsa.example.org"

    setup(function()
      cb = helper.new(srv)
      cb:issue({ EC, "www." .. EC })
      cb:issue({ RSA }, { "--key-type", "rsa" })
      -- a second version of the ECDSA lineage
      cb:issue({ EC, "www." .. EC }, { "--force-renewal", "--cert-name", EC })
      assert.equal("../../archive/" .. EC .. "/cert2.pem", sys.readlink(cb:live(EC).cert))
    end)
    teardown(function() if cb then cb:cleanup() end end)

    it("lists every lineage in Certbot's format, each field as openssl reads the live cert", function()
      local before = os.time()
      local code, out, err = cb:run({ "certificates" })
      local after = os.time()
      assert.equal(0, code, out .. err)
      assert.equal("", err)
      local r = listing(out)
      local ec, rsa = openssl_view(cb:live(EC).cert), openssl_view(cb:live(RSA).cert)
      assert.equal("ECDSA", ec.key_type)
      assert.equal("RSA", rsa.key_type)
      assert.same({ EC, "www." .. EC }, sorted({ table.unpack(ec.names) }))
      -- the whole text, days counted at either end of the run
      local function text(t)
        return "Found the following certs:\n"
          .. expected_entry(cb, EC, ec, ("VALID: %d days"):format(days_left(ec, t))) .. "\n"
          .. expected_entry(cb, RSA, rsa, ("VALID: %d days"):format(days_left(rsa, t)))
      end
      if r.text ~= text(after) then assert.equal(text(before), r.text) end
      -- field by field, to name the culprit
      assert.equal(ec.serial, r.by_name[EC]["Serial Number"])
      assert.equal(rsa.serial, r.by_name[RSA]["Serial Number"])
      assert.equal("RSA", r.by_name[RSA]["Key Type"])
      assert.equal(table.concat(ec.names, " "), r.by_name[EC]["Domains"])
      assert.matches("^" .. ec.expiry:gsub("%p", "%%%0") .. " %(VALID: %d+ days%)$", r.by_name[EC]["Expiry Date"])
      assert.equal(cb:live(RSA).fullchain, r.by_name[RSA]["Certificate Path"])
      assert.equal(cb:live(RSA).privkey, r.by_name[RSA]["Private Key Path"])
    end)

    it("shows the serial of the live version, not of the first", function()
      local _, out = cb:run({ "certificates", "--cert-name", EC })
      local r = listing(out)
      local v1 = openssl_view(cb.config_dir .. "/archive/" .. EC .. "/cert1.pem")
      local v2 = openssl_view(cb.config_dir .. "/archive/" .. EC .. "/cert2.pem")
      assert.are_not.equal(v1.serial, v2.serial)
      assert.equal(v2.serial, r.by_name[EC]["Serial Number"])
      assert.is_nil(r.by_name[EC]["Serial Number"]:match("^0"))
      assert.equal(r.by_name[EC]["Serial Number"]:lower(), r.by_name[EC]["Serial Number"])
    end)

    it("filters by --cert-name and by -d as Certbot does", function()
      local function names_of(args)
        local argv = { "certificates" }
        for _, a in ipairs(args) do argv[#argv + 1] = a end
        local code, out, err = cb:run(argv)
        assert.equal(0, code, out .. err)
        local r = listing(out)
        local t = {}
        for _, e in ipairs(r.entries) do t[#t + 1] = e.name end
        return t, r.text
      end
      local got, text = names_of({ "--cert-name", RSA })
      assert.same({ RSA }, got)
      assert.matches("^Found the following matching certs:\n", text)
      assert.same({ EC }, (names_of({ "-d", "www." .. EC })))
      assert.same({ EC }, (names_of({ "-d", "WWW." .. EC, "-d", EC })))
      -- every -d name must be on the certificate
      got, text = names_of({ "-d", EC, "-d", RSA })
      assert.same({}, got)
      assert.equal("Found the following matching certs:\n", text)
      -- both filters at once must both hold
      assert.same({}, (names_of({ "--cert-name", RSA, "-d", EC })))
      assert.same({ RSA }, (names_of({ "--cert-name", RSA, "-d", RSA })))
      assert.same({}, (names_of({ "--cert-name", "nope.example.org" })))
      -- without a filter: both, in renewal conf order
      assert.same({ EC, RSA }, (names_of({})))
    end)

    it("lists broken lineages after the others, and warns on standard error", function()
      local bad = cb.config_dir .. "/renewal/broken.example.org.conf"
      write(bad, "cert = /nowhere\n[renewalparams\n")
      local chain = cb:live(RSA).chain
      local target = sys.readlink(chain)
      assert(sys.unlink(chain))
      local code, out, err = cb:run({ "certificates" })
      local _, fout = cb:run({ "certificates", "--cert-name", EC })
      os.remove(bad)
      assert(sys.symlink_swap(target, chain))
      assert.equal(0, code, out .. err)
      local r = listing(out)
      assert.equal(1, #r.entries)
      assert.equal(EC, r.entries[1].name)
      assert.same({ bad, cb.config_dir .. "/renewal/" .. RSA .. ".conf" }, r.invalid)
      assert.matches("\n\nThe following renewal configurations were invalid:\n  " .. bad:gsub("%p", "%%%0")
        .. "\n  ", r.text)
      assert.matches("Renewal configuration file " .. bad .. " produced an unexpected error: ", err, 1, true)
      assert.matches(chain .. " to be a symlink", err, 1, true)
      assert.matches(("produced an unexpected error: line 2: bad section header. Skipping.\n"), err, 1, true)
      -- a filter does not hide the broken ones
      local f = listing(fout)
      assert.equal(1, #f.entries)
      assert.same(r.invalid, f.invalid)
      assert.matches("^Found the following matching certs:\n", f.text)
    end)

    it("says so when there is no lineage", function()
      local empty = helper.new(srv)
      local code, out, err = empty:run({ "certificates" })
      empty:cleanup()
      assert.equal(0, code, err)
      assert.equal("\n" .. FRAME .. "\nNo certificates found.\n" .. FRAME .. "\n", out)
    end)
  end)

  describe("certificates with expired, short and test certs", function()
    local cb
    local NAME = "t.example.org"

    setup(function()
      cb = helper.new(srv)
      cb:issue({ NAME })
    end)
    teardown(function() if cb then cb:cleanup() end end)

    -- Add version v with opts, relink with update_symlinks, list.
    local function list_version(v, opts)
      add_version(cb, NAME, v, opts)
      local code, out, err = cb:run({ "update_symlinks", "--cert-name", NAME })
      assert.equal(0, code, out .. err)
      assert.same(links_at(NAME, v), links(cb, NAME))
      code, out, err = cb:run({ "certificates" })
      assert.equal(0, code, out .. err)
      local e = listing(out).by_name[NAME]
      local view = openssl_view(cb:live(NAME).cert)
      assert.equal(view.serial, e["Serial Number"])
      assert.equal(table.concat(view.names, " "), e["Domains"])
      assert.equal(view.key_type, e["Key Type"])
      return e, view
    end

    it("marks an expired certificate INVALID: EXPIRED", function()
      local now = os.time()
      local e, view = list_version(2, { not_before = now - 10 * 86400, not_after = now - 86400 })
      assert.equal(view.expiry .. " (INVALID: EXPIRED)", e["Expiry Date"])
    end)

    it("counts hours under a day and says '1 day' for one, as Certbot does", function()
      local now = os.time()
      local e = list_version(3, { not_before = now - 60, not_after = now + 5 * 3600 + 1800 })
      assert.matches(" %(VALID: 5 hour%(s%)%)$", e["Expiry Date"])
      e = list_version(4, { not_before = now - 60, not_after = now + 1800 })
      assert.matches(" %(VALID: 0 hour%(s%)%)$", e["Expiry Date"])
      e = list_version(5, { not_before = now - 60, not_after = now + 36 * 3600 })
      assert.matches(" %(VALID: 1 day%)$", e["Expiry Date"])
      e = list_version(6, { not_before = now - 60, not_after = now + 3 * 86400 + 3600, rsa = true })
      assert.matches(" %(VALID: 3 days%)$", e["Expiry Date"])
      assert.equal("RSA", e["Key Type"])
    end)

    it("reads IP addresses and odd certificates through OpenSSL", function()
      local now = os.time()
      local e = list_version(7, { not_before = now - 60, not_after = now + 10 * 86400,
        ids = { { type = "dns", value = NAME }, { type = "ip", value = "127.0.0.1" } } })
      assert.equal(NAME .. " 127.0.0.1", e["Domains"])
      assert.equal("ECDSA", e["Key Type"])
    end)

    it("marks a lineage of the staging server INVALID: TEST_CERT", function()
      set_conf_key(cb, NAME, "server", STAGING)
      local now = os.time()
      local e = list_version(8, { not_before = now - 60, not_after = now + 10 * 86400 })
      assert.matches(" %(INVALID: TEST_CERT%)$", e["Expiry Date"])
      e = list_version(9, { not_before = now - 10 * 86400, not_after = now - 60 })
      assert.matches(" %(INVALID: TEST_CERT, EXPIRED%)$", e["Expiry Date"])
    end)

    it("expires a real Pebble certificate on time", function()
      local short = pebble.start({ ports = "auto", config = { certificateValidityPeriod = 6 } })
      local scb = helper.new(short)
      local ok, err = pcall(function()
        scb:issue({ "short.example.org" })
        local _, out = scb:run({ "certificates" })
        assert.matches(" %(VALID: 0 hour%(s%)%)$", listing(out).by_name["short.example.org"]["Expiry Date"])
        local view = openssl_view(scb:live("short.example.org").cert)
        while os.time() <= view.not_after do sys.sleep(0.25) end
        _, out = scb:run({ "certificates" })
        assert.equal(view.expiry .. " (INVALID: EXPIRED)", listing(out).by_name["short.example.org"]["Expiry Date"])
      end)
      scb:cleanup()
      short.stop()
      assert(ok, err)
    end)
  end)

  describe("delete", function()
    local template, cb
    local A, B = "a.example.org", "b.example.org"

    setup(function()
      template = helper.new(srv)
      template:issue({ A })
      template:issue({ B, "www." .. B })
    end)
    teardown(function() if template then template:cleanup() end end)
    before_each(function()
      cb = helper.new(srv)
      clone(template, cb)
    end)
    after_each(function() cb:cleanup() end)

    it("removes exactly the named lineage and leaves the other as it was", function()
      local keep = snapshot(cb, B)
      local code, out, err = cb:run({ "delete", "--cert-name", A })
      assert.equal(0, code, out .. err)
      assert.equal("Deleted all files relating to certificate " .. A .. ".\n", out)
      assert.is_false(cb:exists("renewal/" .. A .. ".conf"))
      assert.is_false(cb:exists("live/" .. A))
      assert.is_false(cb:exists("archive/" .. A))
      assert.same(keep, snapshot(cb, B))
      -- (A's lock file went with it; B's stays beside its conf)
      local left = sys.listdir(cb.config_dir .. "/renewal")
      table.sort(left)
      assert.same({ "." .. B .. ".lock", B .. ".conf" }, left)
      assert.same({ B }, sys.listdir(cb.config_dir .. "/live"))
      assert.same({ B }, sys.listdir(cb.config_dir .. "/archive"))
      -- and the survivor still works
      code, out, err = cb:run({ "certificates" })
      assert.equal(0, code, err)
      local r = listing(out)
      assert.equal(1, #r.entries)
      assert.equal(B, r.entries[1].name)
      assert.equal(0, (helper.verify_chain(cb, B)))
    end)

    it("refuses an unknown name in one line and changes nothing", function()
      local a, b = snapshot(cb, A), snapshot(cb, B)
      local code, out, err = cb:run({ "delete", "--cert-name", "nope.example.org" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.equal(("No certificate found with name nope.example.org (expected %s/renewal/nope.example.org.conf).\n")
        :format(cb.config_dir), err)
      assert.same(a, snapshot(cb, A))
      assert.same(b, snapshot(cb, B))
    end)

    it("refuses a name that is not one path component", function()
      for _, bad in ipairs({ "../" .. A, "..", "a/b" }) do
        local code, _, err = cb:run({ "delete", "--cert-name", bad })
        assert.equal(2, code, err)
      end
      assert.truthy(cb:exists("archive/" .. A))
      assert.truthy(cb:exists("renewal/" .. A .. ".conf"))
    end)

    it("needs --cert-name under -n", function()
      local a = snapshot(cb, A)
      local code, out, err = cb:run({ "delete" })
      assert.equal(1, code, out)
      assert.equal("Missing command line flag or config entry for this setting: Which certificate would "
        .. "you like to delete? (You can set this with the --cert-name flag)\n", err)
      assert.same(a, snapshot(cb, A))
    end)

    local function interactive(args, stdin)
      local argv = {}
      for _, a in ipairs(args) do argv[#argv + 1] = a end
      for _, a in ipairs({ "--config-dir", cb.config_dir, "--work-dir", cb.work_dir, "--logs-dir",
        cb.logs_dir, "-c", cb.cli_ini, "--force-interactive" }) do argv[#argv + 1] = a end
      return cb:run(argv, { bare = true, stdin = stdin })
    end

    it("offers a menu on a terminal, then asks", function()
      local a = snapshot(cb, A)
      local code, out, err = interactive({ "delete" }, "2\ny\n")
      assert.equal(0, code, out .. err)
      assert.matches("Which certificate would you like to delete?\n" .. ("-"):rep(78) .. "\n1: " .. A
        .. "\n2: " .. B .. "\n", out, 1, true)
      assert.matches("The following certificate(s) are selected for deletion:\n\n  * " .. B, out, 1, true)
      assert.matches("Are you sure you want to delete the above certificate(s)?", out, 1, true)
      assert.matches("Deleted all files relating to certificate " .. B .. ".\n", out, 1, true)
      assert.is_false(cb:exists("renewal/" .. B .. ".conf"))
      assert.is_false(cb:exists("archive/" .. B))
      assert.same(a, snapshot(cb, A))
    end)

    it("keeps everything when the answer is no", function()
      local a = snapshot(cb, A)
      local code, out, err = interactive({ "delete", "--cert-name", A }, "n\n")
      assert.equal(0, code, out .. err)
      assert.matches("Are you sure you want to delete the above certificate(s)?", out, 1, true)
      assert.is_nil(out:find("Deleted all files", 1, true))
      assert.same(a, snapshot(cb, A))
    end)

    it("deletes a lineage whose renewal conf is broken", function()
      write(cb.config_dir .. "/renewal/" .. A .. ".conf", "[renewalparams\n")
      local code, out, err = cb:run({ "delete", "--cert-name", A })
      assert.equal(0, code, out .. err)
      assert.is_false(cb:exists("renewal/" .. A .. ".conf"))
      assert.is_false(cb:exists("live/" .. A))
      assert.is_false(cb:exists("archive/" .. A))
      assert.truthy(cb:exists("live/" .. B .. "/cert.pem"))
    end)
  end)

  describe("update_symlinks", function()
    local template, cb
    local U, V = "u.example.org", "v.example.org"

    setup(function()
      template = helper.new(srv)
      template:issue({ U })
      template:issue({ U }, { "--force-renewal", "--cert-name", U })
      template:issue({ V })
    end)
    teardown(function() if template then template:cleanup() end end)
    before_each(function()
      cb = helper.new(srv)
      clone(template, cb)
      assert.same(links_at(U, 2), links(cb, U))
    end)
    after_each(function() cb:cleanup() end)

    local function update(args)
      local argv = { "update_symlinks" }
      for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
      return cb:run(argv)
    end

    it("puts back deleted links, silently", function()
      assert(sys.unlink(cb:live(U).cert))
      assert(sys.unlink(cb:live(U).privkey))
      local code, out, err = update({ "--cert-name", U })
      assert.equal(0, code, err)
      assert.equal("", out)
      assert.equal("", err)
      assert.same(links_at(U, 2), links(cb, U))
      assert.equal(read(cb.config_dir .. "/archive/" .. U .. "/privkey2.pem"), read(cb:live(U).privkey))
    end)

    it("repairs links that point elsewhere, at mixed versions or by absolute paths", function()
      local live = cb:live(U)
      assert(sys.symlink_swap("/etc/hostname", live.cert))
      assert(sys.symlink_swap("../../archive/" .. U .. "/chain1.pem", live.chain))
      assert(sys.symlink_swap(cb.config_dir .. "/archive/" .. U .. "/fullchain2.pem", live.fullchain))
      assert(sys.unlink(live.privkey))
      write(live.privkey, "not a link\n", 384)
      local code, out, err = update()
      assert.equal(0, code, out .. err)
      assert.same(links_at(U, 2), links(cb, U))
      assert.same(links_at(V, 1), links(cb, V))
      local _, pub = sh("openssl x509 -noout -pubkey -in " .. q(live.cert))
      local _, key = sh("openssl pkey -pubout -in " .. q(live.privkey))
      assert.matches("BEGIN PUBLIC KEY", pub, 1, true)
      assert.equal(pub, key)
    end)

    it("points at the newest version that has all four files", function()
      local dir = cb.config_dir .. "/archive/" .. U
      assert(sys.unlink(dir .. "/privkey2.pem"))
      local code, out, err = update({ "--cert-name", U })
      assert.equal(0, code, out .. err)
      assert.same(links_at(U, 1), links(cb, U))
      -- a new complete version 3
      add_version(cb, U, 3, { days = 30 })
      code, out, err = update({ "--cert-name", U })
      assert.equal(0, code, out .. err)
      assert.same(links_at(U, 3), links(cb, U))
      assert.equal(read(dir .. "/cert3.pem"), read(cb:live(U).cert))
      -- the other lineage was not touched
      assert.same(links_at(V, 1), links(cb, V))
    end)

    it("recreates a live dir that is gone", function()
      assert.equal(0, (sh("rm -rf " .. q(cb.config_dir .. "/live/" .. U))))
      local code, out, err = update()
      assert.equal(0, code, out .. err)
      assert.same(links_at(U, 2), links(cb, U))
      assert.truthy(cb:exists("live/" .. U .. "/README"))
      assert.equal(0, (helper.verify_chain(cb, U)))
    end)

    it("follows the user guide: archive moved, archive_dir changed, update_symlinks", function()
      local old = cb.config_dir .. "/archive/" .. U
      local moved = cb.dir .. "/moved_archive"
      assert(sys.rename(old, moved))
      set_conf_key(cb, U, "archive_dir", moved)
      -- before update_symlinks the lineage is broken
      local _, out = cb:run({ "certificates" })
      assert.same({ cb.config_dir .. "/renewal/" .. U .. ".conf" }, listing(out).invalid)

      local code, err
      code, out, err = update()
      assert.equal(0, code, out .. err)
      assert.same(links_at(U, 2), links(cb, U))
      assert.equal(moved, sys.readlink(old))
      for _, k in ipairs(KINDS) do
        assert.equal(read(moved .. "/" .. k .. "2.pem"), read(cb:live(U)[k]))
      end
      assert.equal(0, (helper.verify_chain(cb, U)))
      code, out, err = cb:run({ "certificates", "--cert-name", U })
      assert.equal(0, code, out .. err)
      local e = listing(out).by_name[U]
      assert.equal(openssl_view(moved .. "/cert2.pem").serial, e["Serial Number"])
      assert.matches("%(VALID: %d+ days%)$", e["Expiry Date"])
      -- renewals now land in the moved folder
      cb:issue({ U }, { "--force-renewal", "--cert-name", U })
      assert.same(links_at(U, 3), links(cb, U))
      assert.truthy(sys.stat(moved .. "/cert3.pem"))
      assert.truthy(sys.stat(moved .. "/privkey3.pem"))
      local dir = cb:read("renewal/" .. U .. ".conf"):match("\narchive_dir = ([^\n]+)")
      assert.equal(sys.realpath(moved), sys.realpath(dir))
      -- and delete takes the moved files with it
      code, out, err = cb:run({ "delete", "--cert-name", U })
      assert.equal(0, code, out .. err)
      assert.is_nil(sys.lstat(moved))
      assert.is_nil(sys.lstat(old))
      assert.is_false(cb:exists("live/" .. U))
      assert.same(links_at(V, 1), links(cb, V))
    end)

    it("refuses an archive_dir it cannot use, naming it, and fixes the other lineages", function()
      local conf = cb.config_dir .. "/renewal/" .. U .. ".conf"
      local cases = {
        { cb.dir .. "/does-not-exist", "is not a directory" },
        { cb.config_dir .. "/archive/" .. V, "lies inside" },
        { "relative/dir", "must be an absolute path" },
      }
      -- a folder holding a copy while archive/U is still there
      local copy = cb.dir .. "/copy"
      assert.equal(0, (sh(("cp -a %s %s"):format(q(cb.config_dir .. "/archive/" .. U), q(copy)))))
      cases[#cases + 1] = { copy, "is still there" }
      for _, case in ipairs(cases) do
        set_conf_key(cb, U, "archive_dir", case[1])
        assert(sys.unlink(cb:live(V).cert))
        local code, out, err = update()
        assert.equal(1, code, out .. err)
        assert.matches("Unable to update the symlinks of " .. U .. ": " .. conf, err, 1, true)
        assert.matches(case[2], err, 1, true)
        assert.equal("directory", sys.lstat(cb.config_dir .. "/archive/" .. U).type)
        assert.same(links_at(V, 1), links(cb, V))
      end
      assert.same(links_at(U, 2), links(cb, U))
    end)

    it("names a broken renewal conf and an unknown --cert-name", function()
      local bad = cb.config_dir .. "/renewal/zz.example.org.conf"
      write(bad, "[renewalparams\n")
      assert(sys.unlink(cb:live(U).chain))
      local code, out, err = update()
      assert.equal(1, code, out .. err)
      assert.matches("Unable to update the symlinks of zz.example.org: " .. bad, err, 1, true)
      assert.same(links_at(U, 2), links(cb, U))
      code, out, err = update({ "--cert-name", "nope.example.org" })
      assert.equal(1, code, out)
      assert.equal(("No certificate found with name nope.example.org (expected %s/renewal/nope.example.org.conf).\n")
        :format(cb.config_dir), err)
    end)
  end)
end)
