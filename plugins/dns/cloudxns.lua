-- dns-cloudxns: CloudXNS has shut down its DNS service, so there is no API
-- left to publish a TXT record through.  The plugin keeps its name and
-- options, so that command lines, cli.ini files and renewal configurations
-- that name it still parse; selecting it fails with one clear line in
-- prepare(), before any order is placed.
local P = {
  name = "dns-cloudxns",
  description = "CloudXNS has shut down its DNS service: this plugin can no longer obtain "
    .. "certificates and is kept only so that existing configurations name it. Move the "
    .. "domain's DNS to another provider and use that provider's plugin.",
  authenticator = true,
}

P.MESSAGE = "The dns-cloudxns plugin cannot obtain certificates: CloudXNS has shut down its "
  .. "DNS service. Move the domain's DNS to another provider and use that provider's plugin "
  .. "(see certbot plugins), or --manual with hooks."

local Inst = {}
Inst.__index = Inst

function P.new(config)
  return setmetatable({ config = config }, Inst)
end

function Inst.prepare() return nil, P.MESSAGE end

function Inst.challenge_preferences() return { "dns-01" } end

function Inst.perform() return nil, P.MESSAGE end

function Inst.cleanup() end

return P
