-- Server blocks of a loaded nginx configuration (parser.load), and the
-- choice nginx makes between them for a host name.
--
--   local list = vhosts.servers(cfg)      every `server { }` of the http context
--   vh = { node=, file=, container=, names={...}, listens={...}, ssl=, directives={...} }
--   vhosts.best(list, "a.example"[, bias]) -> vh | nil
--
-- nginx picks a server for a request by name in this order: the exact
-- name; the longest wildcard starting with an asterisk ("*.example.org",
-- and ".example.org", which also matches example.org itself); the longest
-- wildcard ending with an asterisk ("mail.*"); the first regular
-- expression ("~...") in the order of the configuration.  When none
-- matches, the default server of the address:port answers (default_server,
-- else the first server listening there).
local parser = require("certbot.plugins.nginx.parser")
local regex = require("certbot.plugins.nginx.regex")

local M = {}

M.DEFAULT_PORT = 80

-- parse_listen(args) -> { addr=, port=, ipv6=, ssl=, default=, unix=,
-- params={...} } | nil.  addr is "*" for all addresses, "[::]"-style for
-- IPv6, else the host or IPv4 address as written.
function M.parse_listen(args)
  local a = args[1]
  if not a then return nil end
  local l = { params = {} }
  if a:match("^unix:") then
    l.unix = true
    l.addr = a
  elseif a:sub(1, 1) == "[" then
    local addr, rest = a:match("^(%b[])(.*)$")
    if not addr then return nil end
    l.addr, l.ipv6 = addr, true
    if rest == "" then
      l.port = M.DEFAULT_PORT
    elseif rest:match("^:%d+$") then
      l.port = tonumber(rest:sub(2))
    else
      return nil
    end
  elseif a:match("^%d+$") then
    l.addr, l.port = "*", tonumber(a)
  else
    local host, port = a:match("^(.*):(%d+)$")
    if host then
      l.addr, l.port = host, tonumber(port)
    else
      l.addr, l.port = a, M.DEFAULT_PORT
    end
    if l.addr == "" then l.addr = "*" end
  end
  for i = 2, #args do
    local p = args[i]
    if p == "ssl" then
      l.ssl = true
    elseif p == "default_server" or p == "default" then
      l.default = true
    end
    l.params[#l.params + 1] = p
  end
  return l
end

-- The listen argument for addr on another port ("443", "127.0.0.1:8443",
-- "[::]:443").
function M.listen_spec(addr, port)
  if addr == "*" then return tostring(port) end
  return addr .. ":" .. port
end

-- Every server-level directive of a server block, following includes:
-- { {node=, file=, direct=true|nil}, ... }
local function server_directives(cfg, node, file)
  local out = {}
  local function walk(children, f, direct, depth)
    for _, c in ipairs(children) do
      out[#out + 1] = { node = c, file = f, direct = direct }
      if not c.children and parser.name(c) == "include" and c.include and depth < 32 then
        for _, p in ipairs(c.include) do
          local inc = cfg.files[p]
          if inc then walk(inc.tree.children, inc, nil, depth + 1) end
        end
      end
    end
  end
  walk(node.children, file, true, 0)
  return out
end

-- vhost(cfg, node, file, container) -> vh: what a server block says.
function M.vhost(cfg, node, file, container)
  local vh = { node = node, file = file, container = container, names = {}, listens = {},
    ssl = false }
  vh.directives = server_directives(cfg, node, file)
  local ssl_on = false
  for _, d in ipairs(vh.directives) do
    local n = d.node
    if not n.children then
      local name = parser.name(n)
      if name == "server_name" then
        for _, v in ipairs(parser.args(n)) do vh.names[#vh.names + 1] = v:lower() end
      elseif name == "listen" then
        local l = M.parse_listen(parser.args(n))
        if l then
          l.node, l.direct = n, d.direct
          vh.listens[#vh.listens + 1] = l
        end
      elseif name == "ssl" and parser.args(n)[1] == "on" then
        ssl_on = true
      end
    end
  end
  if #vh.listens == 0 then
    -- no listen: nginx listens on *:80 (when started as root)
    vh.listens[1] = { addr = "*", port = M.DEFAULT_PORT, params = {}, implicit = true }
  end
  for _, l in ipairs(vh.listens) do
    if ssl_on then l.ssl = true end
    if l.ssl then vh.ssl = true end
  end
  return vh
end

-- servers(cfg) -> list of vh in configuration order, and the http blocks
-- ({ node=, file= }).
function M.servers(cfg)
  local list, seen, https = {}, {}, {}
  local main = cfg.files[cfg.main]
  local function walk(file, container, ctx, depth)
    if depth > 32 then return end
    for _, node in ipairs(container.children) do
      local name = parser.name(node)
      if node.children then
        if ctx == "main" and name == "http" then
          https[#https + 1] = { node = node, file = file }
          walk(file, node, "http", depth)
        elseif ctx == "http" and name == "server" and not seen[node] then
          seen[node] = true
          list[#list + 1] = M.vhost(cfg, node, file, container)
        end
      elseif name == "include" and node.include then
        for _, p in ipairs(node.include) do
          local f = cfg.files[p]
          if f then walk(f, f.tree, ctx, depth + 1) end
        end
      end
    end
  end
  walk(main, main.tree, "main", 0)
  return list, https
end

---------------------------------------------------------------------------
-- Names
---------------------------------------------------------------------------

local regex_cache = setmetatable({}, { __mode = "k" })

local function compiled(pattern)
  local m = regex_cache[pattern]
  if m == nil then
    m = regex.compile(pattern) or false
    regex_cache[pattern] = m
  end
  return m
end

-- match(name, host) -> class (1 exact, 2 leading wildcard, 3 trailing
-- wildcard, 4 regex), length of the wildcard's fixed part | nil
function M.match(name, host)
  if name:sub(1, 1) == "~" then
    local m = compiled(name:sub(2))
    if m and m(host) then return 4, 0 end
    return nil
  end
  name = name:lower()
  if name:sub(1, 2) == "*." then
    local suffix = name:sub(2)
    if #host > #suffix and host:sub(-#suffix) == suffix then return 2, #suffix end
    return nil
  end
  if name:sub(1, 1) == "." then
    if host == name:sub(2) or (#host > #name and host:sub(-#name) == name) then return 2, #name end
    return nil
  end
  if name:sub(-2) == ".*" then
    local prefix = name:sub(1, -2)
    if #host > #prefix and host:sub(1, #prefix) == prefix then return 3, #prefix end
    return nil
  end
  if name == host then return 1, #name end
  return nil
end

-- How well a server block's names match host: class, length | nil.
function M.rank(vh, host)
  local best_c, best_len
  for _, name in ipairs(vh.names) do
    local c, len = M.match(name, host)
    if c and (not best_c or c < best_c or (c == best_c and len > best_len)) then
      best_c, best_len = c, len
    end
  end
  return best_c, best_len
end

-- best(list, host[, bias]) -> vh | nil, class: the block nginx would pick
-- by name among list.  bias(vh) -> number added to the class (Certbot's
-- installer prefers TLS blocks: 0 for them, 4 for others).
function M.best(list, host, bias)
  host = host:lower()
  local best, best_key
  for idx, vh in ipairs(list) do
    local c, len = M.rank(vh, host)
    if c then
      local key = { c + (bias and bias(vh) or 0), -len, idx }
      if not best_key or key[1] < best_key[1] or (key[1] == best_key[1] and (key[2] < best_key[2]
          or (key[2] == best_key[2] and key[3] < best_key[3]))) then
        best, best_key = vh, key
      end
    end
  end
  return best, best_key and best_key[1]
end

-- The blocks that listen on port without TLS (or with TLS when ssl).
function M.on_port(list, port, ssl)
  local out = {}
  for _, vh in ipairs(list) do
    for _, l in ipairs(vh.listens) do
      if not l.unix and l.port == port and (l.ssl or false) == (ssl or false) then
        out[#out + 1] = vh
        break
      end
    end
  end
  return out
end

-- The server nginx uses on port when no name matches: the one marked
-- default_server there, else the first listening there.
function M.default_for(list, port, ssl)
  local first
  for _, vh in ipairs(M.on_port(list, port, ssl)) do
    first = first or vh
    for _, l in ipairs(vh.listens) do
      if l.port == port and l.default then return vh end
    end
  end
  return first
end

-- Names for an interactive choice: plain domain names (no regex, no
-- wildcard, none of "_", "" or names without a dot), sorted.
function M.names(list)
  local seen, out = {}, {}
  for _, vh in ipairs(list) do
    for _, n in ipairs(vh.names) do
      if n:match("^[%w][%w.-]*%.[%w-]+$") and not seen[n] then
        seen[n] = true
        out[#out + 1] = n
      end
    end
  end
  table.sort(out)
  return out
end

return M
