-- spec/shard.lua N DIR: split the spec files into N lists, DIR/1 .. DIR/N
-- (one path a line), for spec/run.sh to run as N busted processes side by
-- side.  Most of the suite waits on Pebble, so shards overlap well even on
-- two cores.
--
-- Shard 1 takes every file that uses a fixed port: Pebble's defaults
-- (14000, 15000, the validation ports 5001 and 5002, challtestsrv's 8055
-- and 8053; `ports = "auto"` keeps 5001/5002), or that says
-- "-- spec-shard: serial".  The others go largest first to the least
-- loaded shard, by the seconds spec/timings.txt gives each file (a file
-- not listed counts 10 s; `make spec-timings` measures them again).  Each
-- shard's free ports come from its own range (spec/helpers/proc.lua,
-- CERTBOT_SPEC_PORTS), so two shards never pick the same one.

local n, dir = tonumber(arg[1]), arg[2]
assert(n and n >= 1 and dir, "usage: lua5.4 spec/shard.lua N DIR")

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local files = {}
local p = assert(io.popen("find spec -name '*_spec.lua' | sort"))
for line in p:lines() do files[#files + 1] = line end
p:close()

local cost = {}
for line in (read("spec/timings.txt") or ""):gmatch("[^\n]+") do
  local s, f = line:match("^(%d+)%s+(%S+)$")
  if s then cost[f] = tonumber(s) end
end

local FIXED = { '"auto"', "pebble%.start%(%)", "%f[%d]500[12]%f[%D]", "%f[%d]14000%f[%D]",
  "%f[%d]15000%f[%D]", "%f[%d]805[35]%f[%D]", "%-%- spec%-shard: serial" }
local function fixed(text)
  for _, pat in ipairs(FIXED) do
    if text:find(pat) then return true end
  end
  return false
end

local shards, load, rest = {}, {}, {}
for i = 1, n do shards[i], load[i] = {}, 0 end
for _, f in ipairs(files) do
  local c = cost[f] or 10
  if n > 1 and fixed(read(f) or "") then
    shards[1][#shards[1] + 1] = f
    load[1] = load[1] + c
  else
    rest[#rest + 1] = { f = f, c = c }
  end
end
table.sort(rest, function(a, b) return a.c > b.c or (a.c == b.c and a.f < b.f) end)
for _, r in ipairs(rest) do
  local best = 1
  for i = 2, n do
    if load[i] < load[best] then best = i end
  end
  shards[best][#shards[best] + 1] = r.f
  load[best] = load[best] + r.c
end
for i = 1, n do
  local f = assert(io.open(dir .. "/" .. i, "w"))
  for _, path in ipairs(shards[i]) do f:write(path, "\n") end
  f:close()
  io.stderr:write(("# shard %d: %d files, ~%d s\n"):format(i, #shards[i], load[i]))
end
