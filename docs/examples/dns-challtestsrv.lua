-- dns-challtestsrv: an example third-party DNS provider (docs/plugins.md).
-- Its "provider" is pebble-challtestsrv, the DNS server a test Pebble asks:
-- POST /set-txt {"host": "<name>.", "value": v} adds a TXT value for a name,
-- POST /clear-txt {"host": "<name>."} removes every value of that name.
--   certbot certonly -a dns-challtestsrv --plugin-dir /path/to/this/dir \
--     --dns-challtestsrv-url http://127.0.0.1:8055 -d '*.example.test' ...
local core = require("certbot.core")
local dns = require("certbot.dns")

local Client = {}
Client.__index = Client

function Client:post(what, body)
  local status, data, raw = dns.json_request(self.http, "POST", self.url .. "/" .. what, { body = body })
  if not status then return nil, data end -- no answer: data is the error
  if status ~= 200 then
    return nil, ("challtestsrv %s %s: HTTP %d %s"):format(what, body.host, status, raw:sub(1, 200))
  end
  return true
end

function Client:add_txt(name, value)
  return self:post("set-txt", { host = name .. ".", value = value })
end

-- challtestsrv can only clear a whole name: fine for its one-run-at-a-time
-- use.  A real provider deletes the one record (by the id add_txt kept).
function Client:del_txt(name)
  return self:post("clear-txt", { host = name .. "." })
end

local P = dns.authenticator({
  id = "challtestsrv",
  description = "Proves control of a name with a TXT record set through the management "
    .. "API of pebble-challtestsrv (an example third-party plugin).",
  credentials = false, -- the test server takes no credentials
  new_client = function(config)
    local url = config:plugin("dns-challtestsrv"):string("url")
    if not url:match("^https?://[^/]") then return nil, "--dns-challtestsrv-url: not an http(s) URL: " .. url end
    -- A real provider uses dns.http(config): HTTPS only.  challtestsrv
    -- speaks plain HTTP, on loopback.
    local http, err = core.http.new({ https_only = false, timeout = 30 })
    if not http then return nil, err end
    return setmetatable({ http = http, url = url:gsub("/+$", "") }, Client)
  end,
})

P.options = {
  { name = "url", metavar = "URL", default = "http://127.0.0.1:8055",
    help = "Management API of pebble-challtestsrv." },
  { name = "propagation-seconds", type = "int", min = 0, default = 0, metavar = "SECONDS",
    help = "Seconds to wait after setting the records (challtestsrv answers at once)." },
}

return P
