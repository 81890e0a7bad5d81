-- manual: the user (or their hook scripts) performs the challenges.
-- --manual-auth-hook runs once per challenge with CERTBOT_DOMAIN,
-- CERTBOT_VALIDATION, CERTBOT_TOKEN (http-01), CERTBOT_REMAINING_CHALLENGES
-- and CERTBOT_ALL_DOMAINS in its environment; --manual-cleanup-hook gets the
-- same plus CERTBOT_AUTH_OUTPUT (what the auth hook printed).
local names = require("certbot.names")
local display = require("certbot.display")
local hooks = require("certbot.hooks")

local P = {
  name = "manual",
  description = "Authenticate through manual configuration or custom shell scripts. When "
    .. "using shell scripts, an authenticator script must be provided. The environment "
    .. "variables available to this script depend on the type of challenge.",
  authenticator = true,
}

local Inst = {}
Inst.__index = Inst

function P.new(config)
  return setmetatable({ config = config, outputs = {} }, Inst)
end

function Inst:prepare()
  if not display.interactive and not self.config.manual_auth_hook then
    return nil, "An authentication script must be provided with --manual-auth-hook when "
      .. "using the manual plugin non-interactively."
  end
  return true
end

function Inst.challenge_preferences()
  return { "http-01", "dns-01" }
end

local function env_for(ch, remaining, all_domains)
  local env = {
    CERTBOT_DOMAIN = ch.domain,
    CERTBOT_VALIDATION = ch.type == "dns-01" and ch.validation or ch.key_authorization,
    CERTBOT_REMAINING_CHALLENGES = tostring(remaining),
    CERTBOT_ALL_DOMAINS = all_domains,
  }
  if ch.type == "http-01" then env.CERTBOT_TOKEN = ch.token end
  return env
end

local function all_domains(challenges)
  local seen, list = {}, {}
  for _, ch in ipairs(challenges) do
    if not seen[ch.domain] then
      seen[ch.domain] = true
      list[#list + 1] = ch.domain
    end
  end
  return table.concat(list, ",")
end

function Inst:perform(challenges)
  local all = all_domains(challenges)
  for i, ch in ipairs(challenges) do
    local token, terr = names.token(ch.token)
    if not token then return nil, terr end
    local env = env_for(ch, #challenges - i, all)
    if self.config.manual_auth_hook then
      local _, out = hooks.run("manual-auth-hook", self.config.manual_auth_hook, env)
      -- a failing hook is reported; validation goes on and the CA decides
      self.outputs[i] = (out or ""):gsub("\n$", "")
    elseif ch.type == "dns-01" then
      display.pause(("Please deploy a DNS TXT record under the name:\n\n_acme-challenge.%s.\n\n"
        .. "with the following value:\n\n%s\n"):format(ch.domain, ch.validation))
    else
      display.pause(("Create a file containing just this data:\n\n%s\n\nAnd make it available "
        .. "on your web server at this URL:\n\nhttp://%s/.well-known/acme-challenge/%s\n")
        :format(ch.key_authorization, ch.domain, ch.token))
    end
  end
  return true
end

function Inst:cleanup(challenges)
  if not self.config.manual_cleanup_hook then return end
  local all = all_domains(challenges)
  for i, ch in ipairs(challenges) do
    if names.token(ch.token) then
      local env = env_for(ch, #challenges - i, all)
      env.CERTBOT_AUTH_OUTPUT = self.outputs[i] or ""
      hooks.run("manual-cleanup-hook", self.config.manual_cleanup_hook, env)
    end
  end
end

return P
