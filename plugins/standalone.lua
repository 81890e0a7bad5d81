-- standalone: answers http-01 itself, from a responder in the C core
-- listening on --http-01-address:--http-01-port for the seconds it takes.
local core = require("certbot.core")
local names = require("certbot.names")

local P = {
  name = "standalone",
  description = "Runs an HTTP server locally which serves the necessary validation files "
    .. "under the /.well-known/acme-challenge/ request path.",
  authenticator = true,
}

local Inst = {}
Inst.__index = Inst

function P.new(config)
  return setmetatable({ config = config }, Inst)
end

function Inst.prepare() return true end

function Inst.challenge_preferences()
  return { "http-01" }
end

function Inst:perform(challenges)
  if not self.responder then
    local address = self.config.http01_address
    if address == "" then address = nil end
    local r, err = core.standalone.http01({
      address = address,
      port = tonumber(self.config.http01_port) or 80,
    })
    if not r then return nil, err end
    self.responder = r
  end
  for _, ch in ipairs(challenges) do
    local token, terr = names.token(ch.token)
    if not token then return nil, terr end
    local ok, err = self.responder:set(token, ch.key_authorization)
    if not ok then return nil, err end
  end
  return true
end

function Inst:cleanup(challenges)
  if not self.responder then return end
  for _, ch in ipairs(challenges) do
    if names.token(ch.token) then self.responder:remove(ch.token) end
  end
  self.responder:stop()
  self.responder = nil
end

return P
