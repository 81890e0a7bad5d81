-- make demo: start a local Pebble, issue a certificate from it with
-- build/certbot (standalone http-01), show where it went, stop Pebble.
--   lua5.4 spec/helpers/demo.lua [BUILD_DIR]
package.path = "lua/?.lua;lua/?/init.lua;./?.lua;" .. package.path
local build = arg[1] or "build"
package.cpath = build .. "/lib/?.so;" .. package.cpath

local pebble = require("spec.helpers.pebble")
local proc = require("spec.helpers.proc")

local dir = build .. "/demo"
os.execute("rm -rf " .. proc.quote(dir))
local srv = pebble.start({ ports = "auto" })
local cmd = table.concat({
  "REQUESTS_CA_BUNDLE=" .. proc.quote(srv.ca_file),
  proc.quote(build .. "/certbot"), "certonly", "--standalone", "--http-01-port", "5002",
  "-d", "demo.example.org", "-d", "www.demo.example.org",
  "--server", proc.quote(srv.directory), "--agree-tos", "-m", "demo@example.org", "-n",
  "--config-dir", proc.quote(dir .. "/config"), "--work-dir", proc.quote(dir .. "/work"),
  "--logs-dir", proc.quote(dir .. "/logs"),
}, " ")
print("$ " .. cmd:gsub("REQUESTS_CA_BUNDLE=%S+ ", ""))
local ok = os.execute(cmd)
if ok then
  os.execute("openssl x509 -noout -subject -issuer -enddate -ext subjectAltName -in "
    .. proc.quote(dir .. "/config/live/demo.example.org/cert.pem"))
end
srv.stop()
os.exit(ok and 0 or 1)
