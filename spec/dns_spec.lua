-- The dns-01 engine (lua/certbot/dns.lua): names, credentials INI files,
-- the authenticator's record bookkeeping (driven by a provider client that
-- records what it is asked), the propagation wait, and the HTTP helpers
-- against a real local HTTP server.
local dns = require("certbot.dns")
local cli = require("certbot.cli")
local display = require("certbot.display")
local log = require("certbot.log")
local sys = require("certbot.core").sys
local proc = require("spec.helpers.proc")

local function write(path, text, mode)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  assert(sys.chmod(path, mode or 384))
  return path
end

-- Capture what display writes (out and err) while fn runs.
local function captured(fn)
  local buf = {}
  local sink = { write = function(self, ...)
    for _, s in ipairs({ ... }) do buf[#buf + 1] = tostring(s) end
    return self
  end, flush = function() end }
  local out, err, inter, quiet = display.out, display.err, display.interactive, display.quiet
  display.out, display.err, display.interactive, display.quiet = sink, sink, false, false
  local ok, e = pcall(fn)
  display.out, display.err, display.interactive, display.quiet = out, err, inter, quiet
  if not ok then error(e, 0) end
  return table.concat(buf)
end

describe("dns engine", function()
  local tmp
  setup(function() tmp = proc.tmpdir("dns-spec-") end)
  teardown(function() proc.rm_rf(tmp) end)

  describe("zone_candidates", function()
    it("walks up the labels down to two", function()
      assert.same({ "_acme-challenge.a.b.example.com", "a.b.example.com", "b.example.com", "example.com" },
        dns.zone_candidates("_acme-challenge.a.b.example.com"))
    end)

    it("drops a final dot and keeps short names whole", function()
      assert.same({ "_acme-challenge.example.test", "example.test" },
        dns.zone_candidates("_acme-challenge.example.test."))
      assert.same({ "example.com" }, dns.zone_candidates("example.com"))
      assert.same({ "localhost" }, dns.zone_candidates("localhost"))
    end)

    it("names the record of a wildcard after its base name", function()
      assert.equal("_acme-challenge.example.test", dns.record_name("*.example.test"))
      assert.equal("_acme-challenge.a.example.test", dns.record_name("a.example.test"))
    end)
  end)

  describe("credentials files", function()
    it("reads Certbot's key = value lines, comments and quotes", function()
      local p = write(tmp .. "/ok.ini", "# a comment\n\ndns_x_token = abc/def+ghi==\n"
        .. "dns_x_quoted = \"a # b\"   # trailing comment\ndns_x_empty =\n", 384)
      local c = assert(dns.read_credentials(p, { "dns_x_token" }))
      assert.equal("abc/def+ghi==", c.dns_x_token)
      assert.equal("a # b", c.dns_x_quoted)
      assert.equal("", c.dns_x_empty)
      -- printing the table never shows a secret
      assert.equal("<credentials>", tostring(c))
    end)

    it("names the file and line of a malformed line or a duplicate key", function()
      local p = write(tmp .. "/bad.ini", "dns_x_a = 1\nthis is not a pair\n")
      local c, err = dns.read_credentials(p, {})
      assert.is_nil(c)
      assert.equal("Error parsing credentials configuration file " .. p .. ":2: expected 'key = value'", err)
      p = write(tmp .. "/dup.ini", "dns_x_a = 1\ndns_x_b = 2\ndns_x_a = 3\n")
      c, err = dns.read_credentials(p, {})
      assert.is_nil(c)
      assert.equal("Error parsing credentials configuration file " .. p .. ":3: duplicate key 'dns_x_a'", err)
    end)

    it("refuses a comma-separated value, naming the key", function()
      local p = write(tmp .. "/list.ini", "dns_x_secret = abc, def\n")
      local c, err = dns.read_credentials(p, { "dns_x_secret" })
      assert.is_nil(c)
      assert.equal("Error parsing credentials configuration file " .. p
        .. ": the value of dns_x_secret is a comma-separated list; put it in quotes", err)
    end)

    it("names the file and every missing or empty key", function()
      local p = write(tmp .. "/partial.ini", "dns_x_user = me\ndns_x_key =\n")
      local c, err = dns.read_credentials(p, { "dns_x_user", "dns_x_key", "dns_x_zone" })
      assert.is_nil(c)
      assert.equal('Missing properties "dns_x_key", "dns_x_zone" in credentials configuration file ' .. p, err)
      c, err = dns.read_credentials(p, { "dns_x_zone" })
      assert.is_nil(c)
      assert.equal('Missing property "dns_x_zone" in credentials configuration file ' .. p, err)
    end)

    it("reports a missing file, a directory and a FIFO in one line", function()
      local c, err = dns.read_credentials(tmp .. "/nope.ini", {})
      assert.is_nil(c)
      assert.equal("File not found: " .. tmp .. "/nope.ini", err)
      c, err = dns.read_credentials(tmp, {})
      assert.is_nil(c)
      assert.equal("Path is a directory: " .. tmp, err)
      assert.is_true(os.execute("mkfifo " .. proc.quote(tmp .. "/fifo")))
      c, err = dns.read_credentials(tmp .. "/fifo", {})
      assert.is_nil(c)
      assert.equal("Credentials file " .. tmp .. "/fifo is not a regular file", err)
      c, err = dns.read_credentials(tmp .. "/partial.ini/x", {})
      assert.is_nil(c)
      assert.matches("^Cannot read credentials file .*/x: Not a directory$", err)
    end)

    it("passes the file to a checking function and returns its error", function()
      local p = write(tmp .. "/fn.ini", "dns_x_mode = weird\n")
      local seen
      local c, err = dns.read_credentials(p, function(creds, path)
        seen = path
        if creds.dns_x_mode ~= "plain" then return nil, "dns_x_mode in " .. path .. " must be plain" end
        return true
      end)
      assert.is_nil(c)
      assert.equal(p, seen)
      assert.equal("dns_x_mode in " .. p .. " must be plain", err)
    end)

    it("warns when the file is open to the group or others, not when it is 0600", function()
      local p = write(tmp .. "/open.ini", "dns_x_token = t\n", 420) -- 0644
      local out = captured(function() assert(dns.read_credentials(p, { "dns_x_token" })) end)
      assert.equal("Unsafe permissions on credentials configuration file: " .. p .. "\n", out)
      assert(sys.chmod(p, 416)) -- 0640
      out = captured(function() assert(dns.read_credentials(p, { "dns_x_token" })) end)
      assert.matches("Unsafe permissions", out)
      assert(sys.chmod(p, 384)) -- 0600
      out = captured(function() assert(dns.read_credentials(p, { "dns_x_token" })) end)
      assert.equal("", out)
    end)

    it("never writes a secret to the log", function()
      local secret = "s3cr3t-" .. sys.getpid() .. "-value"
      local p = write(tmp .. "/logged.ini", "dns_x_token = " .. secret .. "\n")
      local logpath = tmp .. "/log.txt"
      local f = assert(io.open(logpath, "w"))
      local old_file, old_v = log.file, log.verbosity
      log.file, log.verbosity = f, 0
      local ok, err = pcall(dns.read_credentials, p, { "dns_x_token" })
      log.file, log.verbosity = old_file, old_v
      f:close()
      assert(ok, err)
      local text = proc.read(logpath)
      assert.matches("dns_x_token", text, 1, true)
      assert.is_nil(text:find(secret, 1, true))
    end)
  end)

  describe("authenticator", function()
    -- A provider client that does what it is asked and remembers it.
    local function recorder(opts)
      opts = opts or {}
      local c = { added = {}, deleted = {} }
      function c:add_txt(name, value, ttl)
        if opts.add then
          local r1, r2 = opts.add(name, value, #self.added + 1)
          if r1 ~= true then return r1, r2 end
        end
        self.added[#self.added + 1] = { name, value, ttl }
        return true
      end
      function c:del_txt(name, value)
        if opts.del then
          local r1, r2 = opts.del(name, value)
          if r1 ~= true then return r1, r2 end
        end
        self.deleted[#self.deleted + 1] = { name, value }
        return true
      end
      return c
    end

    local function plugin(client, extra)
      local spec = { id = "spec", description = "spec provider", label = "Spec DNS",
        credentials = { "dns_spec_token" },
        new_client = function(_, creds)
          if creds and creds.dns_spec_token == "refused" then return nil, "token refused by Spec DNS" end
          return client
        end }
      for k, v in pairs(extra or {}) do spec[k] = v end
      return dns.authenticator(spec)
    end

    local function challenges(list)
      local out = {}
      for i, d in ipairs(list) do
        out[i] = { type = "dns-01", domain = d:gsub("^%*%.", ""), wildcard = d:sub(1, 2) == "*.",
          validation = "v" .. i, token = "t" .. i }
      end
      return out
    end

    local creds_path
    before_each(function()
      creds_path = write(tmp .. "/spec.ini", "dns_spec_token = tok\n")
    end)

    local function config(values)
      local v = { dns_spec_credentials = creds_path, dns_spec_propagation_seconds = 0 }
      for k, x in pairs(values or {}) do v[k] = x end
      return cli.new_config(v)
    end

    it("is a plugin table named dns-<id> that answers dns-01 only", function()
      local P = plugin(recorder())
      assert.equal("dns-spec", P.name)
      assert.is_true(P.authenticator)
      local inst = P.new(config())
      for _, m in ipairs({ "prepare", "challenge_preferences", "perform", "cleanup" }) do
        assert.equal("function", type(inst[m]), m)
      end
      assert.same({ "dns-01" }, inst:challenge_preferences({ type = "dns", value = "a.example" }))
    end)

    it("creates one record per challenge; a wildcard and its base share a name", function()
      local client = recorder()
      local inst = plugin(client).new(config())
      assert(inst:prepare())
      assert(inst:perform(challenges({ "*.a.example", "a.example", "b.example" })))
      assert.same({
        { "_acme-challenge.a.example", "v1", 120 },
        { "_acme-challenge.a.example", "v2", 120 },
        { "_acme-challenge.b.example", "v3", 120 },
      }, client.added)
      inst:cleanup(challenges({ "*.a.example", "a.example", "b.example" }))
      assert.same({
        { "_acme-challenge.a.example", "v1" },
        { "_acme-challenge.a.example", "v2" },
        { "_acme-challenge.b.example", "v3" },
      }, client.deleted)
      -- a second cleanup has nothing left to delete
      inst:cleanup({})
      assert.equal(3, #client.deleted)
    end)

    it("uses the plugin's TTL", function()
      local client = recorder()
      local inst = plugin(client, { ttl = 30 }).new(config())
      assert(inst:prepare())
      assert(inst:perform(challenges({ "a.example" })))
      assert.equal(30, client.added[1][3])
    end)

    it("after a failed add, returns the provider's error and deletes only what exists", function()
      local client = recorder({ add = function(_, _, n)
        if n == 2 then return nil, "Spec DNS said: zone locked\nmore detail" end
        return true
      end })
      local inst = plugin(client).new(config())
      assert(inst:prepare())
      local ok, err = inst:perform(challenges({ "a.example", "b.example", "c.example" }))
      assert.is_nil(ok)
      assert.equal("Spec DNS said: zone locked", err)
      inst:cleanup({})
      assert.same({ { "_acme-challenge.a.example", "v1" } }, client.deleted)
    end)

    it("deletes a record whose add was interrupted, and lets the interrupt through", function()
      local interrupt = { message = "Exiting due to user request.", exit = 1, interrupted = true, signal = 2 }
      local client = recorder({ add = function(_, _, n)
        if n == 2 then error(interrupt, 0) end
        return true
      end })
      local inst = plugin(client).new(config())
      assert(inst:prepare())
      local ok, e = pcall(inst.perform, inst, challenges({ "a.example", "b.example" }))
      assert.is_false(ok)
      assert.equal(interrupt, e)
      inst:cleanup({})
      assert.same({ { "_acme-challenge.a.example", "v1" }, { "_acme-challenge.b.example", "v2" } },
        client.deleted)
    end)

    it("warns about a record it could not delete and deletes the others", function()
      local client = recorder({ del = function(name)
        if name == "_acme-challenge.a.example" then return nil, "Spec DNS: 500 internal error" end
        return true
      end })
      local inst = plugin(client).new(config())
      assert(inst:prepare())
      assert(inst:perform(challenges({ "a.example", "b.example" })))
      local out = captured(function() inst:cleanup({}) end)
      assert.equal("Encountered error deleting TXT record _acme-challenge.a.example: "
        .. "Spec DNS: 500 internal error\n", out)
      assert.same({ { "_acme-challenge.b.example", "v2" } }, client.deleted)
    end)

    it("lets an interrupt during cleanup through", function()
      local interrupt = { message = "Exiting due to SIGTERM.", exit = 1, interrupted = true, signal = 15 }
      local client = recorder({ del = function() error(interrupt, 0) end })
      local inst = plugin(client).new(config())
      assert(inst:prepare())
      assert(inst:perform(challenges({ "a.example" })))
      local ok, e = pcall(inst.cleanup, inst, {})
      assert.is_false(ok)
      assert.equal(interrupt, e)
    end)

    it("checks the credentials in prepare, before any record", function()
      write(creds_path, "dns_spec_other = x\n")
      local client = recorder()
      local inst = plugin(client).new(config())
      local ok, err = inst:prepare()
      assert.is_nil(ok)
      assert.equal('Missing property "dns_spec_token" in credentials configuration file ' .. creds_path, err)
      write(creds_path, "dns_spec_token = refused\n")
      ok, err = plugin(client).new(config()):prepare()
      assert.is_nil(ok)
      assert.equal("token refused by Spec DNS", err)
      assert.same({}, client.added)
    end)

    it("asks for the credentials file, and without a terminal names the flag", function()
      local inst = plugin(recorder()).new(cli.new_config({ dns_spec_propagation_seconds = 0 }))
      local ok, e = pcall(captured, function() inst:prepare() end)
      assert.is_false(ok)
      assert.equal("Missing command line flag or config entry for this setting: Input the path to your "
        .. "Spec DNS credentials INI file (You can set this with the --dns-spec-credentials flag)", e.message)
    end)

    it("needs no file when the plugin says credentials = false", function()
      local got = "unset"
      local P = plugin(recorder(), { credentials = false, new_client = function(_, creds)
        got = creds
        return recorder()
      end })
      local inst = P.new(config({ dns_spec_credentials = false }))
      assert(inst:prepare())
      assert.is_nil(got)
    end)

    it("reads the propagation seconds as a number from any source, naming a bad one", function()
      local inst = plugin(recorder()).new(config({ dns_spec_propagation_seconds = "7" }))
      assert(inst:prepare())
      assert.equal(7, inst.propagation)
      local c = config()
      c:set("dns_spec_propagation_seconds", "soon", "renewal", "/etc/letsencrypt/renewal/x.conf:9")
      local ok, e = pcall(function() plugin(recorder()).new(c):prepare() end)
      assert.is_false(ok)
      assert.equal("dns_spec_propagation_seconds (from renewal conf /etc/letsencrypt/renewal/x.conf:9): "
        .. "expected a number, got 'soon'", e.message)
    end)
  end)

  describe("propagation wait", function()
    -- a clock that sleeping moves
    local function fake()
      local t, naps = 1000, {}
      return {
        clock = function() return t end,
        sleep = function(s)
          naps[#naps + 1] = s
          t = t + s
        end,
        naps = naps,
      }
    end

    it("counts down on a terminal, a second at a time", function()
      local f = fake()
      local buf = {}
      local out = { write = function(self, s) buf[#buf + 1] = s return self end, flush = function() end }
      local q = display.quiet
      display.quiet = false
      dns.wait(3, { tty = true, out = out, clock = f.clock, sleep = f.sleep })
      display.quiet = q
      assert.same({ 1, 1, 1 }, f.naps)
      local text = table.concat(buf)
      assert.equal("\rWaiting 3 seconds for DNS changes to propagate: 3 s left "
        .. "\rWaiting 3 seconds for DNS changes to propagate: 2 s left "
        .. "\rWaiting 3 seconds for DNS changes to propagate: 1 s left "
        .. "\rWaiting 3 seconds for DNS changes to propagate: done.        \n", text)
    end)

    it("says it once when there is no terminal, and not at all for 0", function()
      local f = fake()
      local out = captured(function()
        dns.wait(2, { tty = false, clock = f.clock, sleep = f.sleep })
        dns.wait(0, { tty = false, clock = f.clock, sleep = f.sleep })
      end)
      assert.equal("Waiting 2 seconds for DNS changes to propagate\n", out)
      assert.same({ 1, 1 }, f.naps)
    end)
  end)

  describe("HTTP helpers", function()
    local port, pid, root

    setup(function()
      root = proc.tmpdir("dns-http-")
      write(root .. "/zones.json", '{"result":[{"id":"z1","name":"example.test"}],"success":true}', 420)
      write(root .. "/broken.json", "<html>oops</html>", 420)
      port = proc.free_ports(1)
      pid = proc.spawn({ "python3", "-m", "http.server", "--bind", "127.0.0.1", tostring(port) },
        { cwd = root })
      assert(proc.wait_until(function()
        local p = io.popen("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" .. port .. "/zones.json")
        local code = p:read("a")
        p:close()
        return code == "200"
      end, 15, 0.1), "python3 http.server did not start")
    end)

    teardown(function()
      if pid then proc.stop(pid) end
      sys.setenv("CERTBOT_TEST_DNS_SPEC_URL", nil)
      proc.rm_rf(root)
    end)

    it("refuses plain HTTP unless a test URL variable names one", function()
      sys.setenv("CERTBOT_TEST_DNS_SPEC_URL", nil)
      local client = assert(dns.http(cli.new_config({})))
      local status, err = dns.json_request(client, "GET", "http://127.0.0.1:" .. port .. "/zones.json")
      assert.is_nil(status)
      assert.matches("https required", err, 1, true)
    end)

    it("returns status, decoded JSON, body and headers for every answer", function()
      sys.setenv("CERTBOT_TEST_DNS_SPEC_URL", "http://127.0.0.1:" .. port)
      local client = assert(dns.http(cli.new_config({})))
      local base = "http://127.0.0.1:" .. port
      local status, json, raw, headers = dns.json_request(client, "GET", base .. "/zones.json",
        { headers = { Authorization = "Bearer t" } })
      assert.equal(200, status)
      assert.equal("example.test", json.result[1].name)
      assert.matches('"success":true', raw, 1, true)
      assert.equal("application/json", headers["content-type"])
      status, json, raw = dns.json_request(client, "GET", base .. "/missing.json")
      assert.equal(404, status)
      assert.is_nil(json)
      assert.matches("404", raw, 1, true)
      status, json, raw = dns.json_request(client, "GET", base .. "/broken.json")
      assert.equal(200, status)
      assert.is_nil(json)
      assert.equal("<html>oops</html>", raw)
    end)

    it("says which request failed when no answer comes", function()
      sys.setenv("CERTBOT_TEST_DNS_SPEC_URL", "http://127.0.0.1:1")
      local client = assert(dns.http(cli.new_config({})))
      local status, err = dns.json_request(client, "GET", "http://127.0.0.1:1/x")
      assert.is_nil(status)
      assert.matches("^GET http://127.0.0.1:1/x: ", err)
    end)
  end)
end)
