-- apache.vhosts: the <VirtualHost> sections of a parsed configuration, and
-- which of them serves a name.
--
-- A vhost: { node=, file=, enabled=, ssl=, addrs = { {host=, port=, raw=} },
--            name= (ServerName, lower case, no scheme or port) | nil,
--            aliases = { ... } (ServerAlias, lower case, wildcards kept) }
local M = {}

-- "*:80" -> { host = "*", port = "80" }; "[::1]:443"; "_default_"; "1.2.3.4".
function M.parse_addr(raw)
  local host, port = raw:match("^(%[[^%]]*%]):?(.*)$")
  if not host then host, port = raw:match("^([^:]*):?(.*)$") end
  return { raw = raw, host = host, port = port ~= "" and port or "*" }
end

-- ServerName [scheme://]fqdn[:port] -> fqdn, lower case.
local function clean_name(s)
  if not s then return nil end
  s = s:gsub("^%a[%w+.-]*://", ""):gsub(":%d+$", "")
  return s:lower()
end

local function has_wildcard(s) return s:find("[*?]") ~= nil end

-- Apache's ServerAlias wildcards: * any run of characters (dots too), ? one.
local function wildcard_match(pattern, name)
  local lp = pattern:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".")
  return name:match("^" .. lp .. "$") ~= nil
end
M.wildcard_match = wildcard_match

local function is_ssl(p, node, addrs, https_port)
  for _, n in ipairs(p:find(node, "SSLEngine", { children = true })) do
    local a = p:args(n)[1]
    if a and a:lower() == "on" then return true end
  end
  for _, a in ipairs(addrs) do
    if a.port == "443" or a.port == tostring(https_port) then return true end
  end
  return false
end

-- discover(p, opts) -> list of vhosts in every loaded file, in load order.
-- opts.https_port: a vhost on that port (or 443) counts as TLS.
function M.discover(p, opts)
  opts = opts or {}
  local out = {}
  for _, file in ipairs(p.order) do
    for _, node in ipairs(p:sections(p:fpath(file), "VirtualHost")) do
      local in_macro = false
      for _, a in ipairs(p:ancestors(node)) do
        if a:lower() == "macro" then in_macro = true end
      end
      if not in_macro then
        local addrs = {}
        for i, a in ipairs(p:args(node)) do addrs[i] = M.parse_addr(a) end
        local vh = { node = node, file = file, enabled = p:enabled(file), addrs = addrs,
          aliases = {} }
        local sn = p:find(node, "ServerName", { children = true })
        if #sn > 0 then vh.name = clean_name(p:args(sn[#sn])[1]) end
        for _, n in ipairs(p:find(node, "ServerAlias", { children = true })) do
          for _, a in ipairs(p:args(n)) do vh.aliases[#vh.aliases + 1] = a:lower() end
        end
        vh.ssl = is_ssl(p, node, addrs, opts.https_port)
        out[#out + 1] = vh
      end
    end
  end
  return out
end

-- names(vh) -> ServerName and ServerAliases.
function M.names(vh)
  local out = {}
  if vh.name then out[1] = vh.name end
  for _, a in ipairs(vh.aliases) do out[#out + 1] = a end
  return out
end

-- score(vh, domain): 3 ServerName, 2 ServerAlias, 1 a wildcard alias, 0 none.
function M.score(vh, domain)
  domain = domain:lower()
  if vh.name == domain then return 3 end
  local best = 0
  for _, a in ipairs(vh.aliases) do
    if a == domain then return 2 end
    if has_wildcard(a) and wildcard_match(a, domain) then best = 1 end
  end
  if best == 0 and vh.name and has_wildcard(vh.name) and wildcard_match(vh.name, domain) then
    best = 1
  end
  return best
end

-- best(list, domain, opts) -> vhost | nil.  opts.ssl = true/false keeps
-- only TLS / plain vhosts; opts.prefer_ssl ranks TLS ones first.  Enabled
-- vhosts beat available ones; a name match beats none; with no match, a
-- lone enabled candidate is taken (as Certbot does).
function M.best(list, domain, opts)
  opts = opts or {}
  local best, best_points
  local candidates = {}
  for _, vh in ipairs(list) do
    if opts.ssl == nil or vh.ssl == opts.ssl then
      if vh.enabled then candidates[#candidates + 1] = vh end
      local s = M.score(vh, domain)
      if s > 0 then
        local points = s + (vh.enabled and 10 or 0) + ((opts.prefer_ssl and vh.ssl) and 3 or 0)
        if not best or points > best_points then
          best, best_points = vh, points
        end
      end
    end
  end
  if best then return best, true end
  if opts.fallback ~= false and #candidates == 1 then return candidates[1], false end
  return nil
end

-- all(list, domain, opts) -> every vhost whose names match domain.
function M.matching(list, domain, opts)
  opts = opts or {}
  local out = {}
  for _, vh in ipairs(list) do
    if (opts.ssl == nil or vh.ssl == opts.ssl) and (not opts.enabled or vh.enabled)
      and M.score(vh, domain) > 0 then
      out[#out + 1] = vh
    end
  end
  return out
end

return M
