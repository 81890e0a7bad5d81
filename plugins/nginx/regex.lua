-- A small backtracking matcher for the PCRE subset that nginx server_name
-- regexes use ("~^(www\.)?(?<name>.+)\.example\.net$"): literals and
-- escapes, '.', classes ([a-z0-9-], [^.], \d \w \s and their negations),
-- anchors (^ $ \A \z \Z \b \B), groups (capturing, (?:...), named
-- (?<n>...) (?P<n>...) (?'n'...)), alternation, and the quantifiers
-- * + ? {n} {n,} {n,m} (greedy, lazy with '?', possessive '+' read as
-- greedy).  nginx compiles server_name regexes caseless, and so does this.
--
--   local re = regex.compile("^www\\d+\\.example\\.net$") -> matcher | nil, err
--   re("WWW1.example.net") -> true
-- Anything else (lookaround, backreferences, \p{...}) is refused at compile
-- time with nil, "unsupported ...": the caller treats that name as not
-- matching.

local M = {}

local lower, upper, sub, byte = string.lower, string.upper, string.sub, string.byte

local function class_test(c, ranges)
  for _, r in ipairs(ranges) do
    if type(r) == "function" then
      if r(c) then return true end
    elseif c >= r[1] and c <= r[2] then
      return true
    end
  end
  return false
end

local function is_digit(c) return c:match("^%d$") ~= nil end
local function is_word(c) return c:match("^[%w_]$") ~= nil end
local function is_space(c) return c:match("^%s$") ~= nil end

local SHORT = {
  d = is_digit, w = is_word, s = is_space,
  D = function(c) return not is_digit(c) end,
  W = function(c) return not is_word(c) end,
  S = function(c) return not is_space(c) end,
}

local SIMPLE_ESC = { n = "\n", t = "\t", r = "\r", f = "\f", v = "\v", e = "\27", a = "\7" }

-- Parse into nodes.
local function parse(p)
  local i, n = 1, #p

  local function fail(msg) error({ msg = ("unsupported regex %q: %s"):format(p, msg) }, 0) end

  local parse_alt

  local function escape_char()
    -- after a backslash at p[i]; returns a test function or a literal char
    local c = sub(p, i, i)
    if c == "" then fail("trailing backslash") end
    i = i + 1
    if SHORT[c] then return SHORT[c] end
    if SIMPLE_ESC[c] then return SIMPLE_ESC[c] end
    if c == "x" then
      local hex = p:match("^%x%x", i)
      if not hex then fail("\\x needs two hex digits") end
      i = i + 2
      return string.char(tonumber(hex, 16))
    end
    if c:match("%w") then fail("escape \\" .. c) end
    return c
  end

  local function parse_class()
    -- at p[i] just after '['
    local neg = false
    if sub(p, i, i) == "^" then neg, i = true, i + 1 end
    local ranges = {}
    local first = true
    while true do
      local c = sub(p, i, i)
      if c == "" then fail("unterminated class") end
      if c == "]" and not first then i = i + 1 break end
      first = false
      local lo
      if c == "[" and sub(p, i, i + 1) == "[:" then
        local name, e = p:match("^%[:(%a+):%]()", i)
        if not name then fail("bad POSIX class") end
        local map = { alpha = "%a", digit = "%d", alnum = "%w", space = "%s", upper = "%u",
          lower = "%l", punct = "%p", xdigit = "%x", word = "[%w_]" }
        local pat = map[name]
        if not pat then fail("POSIX class " .. name) end
        ranges[#ranges + 1] = function(ch) return ch:match("^" .. pat .. "$") ~= nil end
        i = e
      else
        if c == "\\" then
          i = i + 1
          lo = escape_char()
        else
          lo = c
          i = i + 1
        end
        if type(lo) == "function" then
          ranges[#ranges + 1] = lo
        elseif sub(p, i, i) == "-" and sub(p, i + 1, i + 1) ~= "]" and sub(p, i + 1, i + 1) ~= "" then
          i = i + 1
          local hi = sub(p, i, i)
          i = i + 1
          if hi == "\\" then
            hi = escape_char()
            if type(hi) == "function" then fail("range to a class") end
          end
          if hi < lo then fail("reversed range") end
          ranges[#ranges + 1] = { lo, hi }
        else
          ranges[#ranges + 1] = { lo, lo }
        end
      end
    end
    -- caseless: a character is in the class when it or its other case is
    return { t = "set", test = function(ch)
      local hit = class_test(ch, ranges) or class_test(lower(ch), ranges)
        or class_test(upper(ch), ranges)
      if neg then return not hit end
      return hit
    end }
  end

  local function parse_atom()
    local c = sub(p, i, i)
    if c == "(" then
      i = i + 1
      local capture = true
      if sub(p, i, i) == "?" then
        local rest = sub(p, i + 1)
        if rest:match("^:") then
          i = i + 2
          capture = false
        elseif rest:match("^P?<[%a_][%w_]*>") then
          i = i + 1 + #rest:match("^P?<[%a_][%w_]*>")
        elseif rest:match("^'[%a_][%w_]*'") then
          i = i + 1 + #rest:match("^'[%a_][%w_]*'")
        elseif rest:match("^[imsx]+%)") then
          -- inline flags: caseless already; others do not change a host name
          i = i + 1 + #rest:match("^[imsx]+%)")
          return { t = "empty" }
        else
          fail("group (?" .. sub(rest, 1, 1))
        end
      end
      local alt = parse_alt()
      if sub(p, i, i) ~= ")" then fail("unbalanced parenthesis") end
      i = i + 1
      return { t = "group", alt = alt, capture = capture }
    elseif c == "[" then
      i = i + 1
      return parse_class()
    elseif c == "." then
      i = i + 1
      return { t = "set", test = function(ch) return ch ~= "\n" end }
    elseif c == "^" then
      i = i + 1
      return { t = "bol" }
    elseif c == "$" then
      i = i + 1
      return { t = "eol" }
    elseif c == "\\" then
      i = i + 1
      local nc = sub(p, i, i)
      if nc == "A" then i = i + 1 return { t = "bol" } end
      if nc == "z" or nc == "Z" then i = i + 1 return { t = "eol" } end
      if nc == "b" or nc == "B" then i = i + 1 return { t = "boundary", neg = nc == "B" } end
      local e = escape_char()
      if type(e) == "function" then return { t = "set", test = e } end
      local le = lower(e)
      return { t = "set", test = function(ch) return lower(ch) == le end }
    else
      i = i + 1
      local lc = lower(c)
      return { t = "set", test = function(ch) return lower(ch) == lc end }
    end
  end

  local function parse_seq()
    local seq = {}
    while i <= n do
      local c = sub(p, i, i)
      if c == "|" or c == ")" then break end
      if c == "*" or c == "+" or c == "?" then fail("nothing to repeat") end
      local atom = parse_atom()
      local q = sub(p, i, i)
      local min, max
      if q == "*" then min, max = 0, math.huge
      elseif q == "+" then min, max = 1, math.huge
      elseif q == "?" then min, max = 0, 1
      elseif q == "{" then
        local a, b, e = p:match("^{(%d*)(,?%d*)}()", i)
        if a and a ~= "" then
          min = tonumber(a)
          if b == "" then max = min
          elseif b == "," then max = math.huge
          else max = tonumber(b:sub(2)) end
          i = e - 1
        end
      end
      if min then
        i = i + 1
        local lazy = false
        if sub(p, i, i) == "?" then lazy, i = true, i + 1
        elseif sub(p, i, i) == "+" then i = i + 1 end
        atom = { t = "rep", node = atom, min = min, max = max, lazy = lazy }
      end
      seq[#seq + 1] = atom
    end
    return seq
  end

  function parse_alt()
    local alts = { parse_seq() }
    while sub(p, i, i) == "|" do
      i = i + 1
      alts[#alts + 1] = parse_seq()
    end
    return alts
  end

  local alt = parse_alt()
  if i <= n then fail("unbalanced parenthesis") end
  return alt
end

-- Matching with continuations: m(S, pos, k) -> true when the node matches
-- at pos and k(next pos) succeeds.
local compile_alt

local function compile_node(node)
  local t = node.t
  if t == "set" then
    local test = node.test
    return function(S, pos, k)
      if pos <= S.n and test(sub(S.s, pos, pos)) then return k(pos + 1) end
      return false
    end
  elseif t == "empty" then
    return function(_, pos, k) return k(pos) end
  elseif t == "bol" then
    return function(_, pos, k) return pos == 1 and k(pos) end
  elseif t == "eol" then
    return function(S, pos, k)
      return (pos == S.n + 1 or (pos == S.n and byte(S.s, pos) == 10)) and k(pos)
    end
  elseif t == "boundary" then
    return function(S, pos, k)
      local a = pos > 1 and is_word(sub(S.s, pos - 1, pos - 1))
      local b = pos <= S.n and is_word(sub(S.s, pos, pos))
      local at = (a and not b) or (b and not a)
      if node.neg then at = not at end
      return at and k(pos)
    end
  elseif t == "group" then
    return compile_alt(node.alt)
  elseif t == "rep" then
    local inner = compile_node(node.node)
    local min, max, lazy = node.min, node.max, node.lazy
    local function try(S, pos, count, k)
      if lazy then
        if count >= min and k(pos) then return true end
        if count < max then
          return inner(S, pos, function(np)
            if np == pos and count >= min then return false end
            return try(S, np, count + 1, k)
          end)
        end
        return false
      end
      if count < max then
        local ok = inner(S, pos, function(np)
          if np == pos and count >= min then return false end -- no empty loops
          return try(S, np, count + 1, k)
        end)
        if ok then return true end
      end
      return count >= min and k(pos)
    end
    return function(S, pos, k) return try(S, pos, 0, k) end
  end
  error("regex: unknown node " .. tostring(t))
end

local function compile_seq(seq)
  local ms = {}
  for idx, node in ipairs(seq) do ms[idx] = compile_node(node) end
  local function step(idx, S, pos, k)
    local m = ms[idx]
    if not m then return k(pos) end
    return m(S, pos, function(np) return step(idx + 1, S, np, k) end)
  end
  return function(S, pos, k) return step(1, S, pos, k) end
end

function compile_alt(alts)
  local cs = {}
  for idx, seq in ipairs(alts) do cs[idx] = compile_seq(seq) end
  if #cs == 1 then return cs[1] end
  return function(S, pos, k)
    for _, c in ipairs(cs) do
      if c(S, pos, k) then return true end
    end
    return false
  end
end

-- compile(pattern) -> matcher(subject) -> boolean (an unanchored search,
-- as PCRE does) | nil, err
function M.compile(pattern)
  local ok, alt = pcall(parse, pattern)
  if not ok then
    if type(alt) == "table" then return nil, alt.msg end
    error(alt, 0)
  end
  local m = compile_alt(alt)
  local function done() return true end
  return function(subject)
    local S = { s = subject, n = #subject }
    for start = 1, #subject + 1 do
      if m(S, start, done) then return true end
    end
    return false
  end
end

return M
