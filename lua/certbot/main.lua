-- main.lua: the entry.  main.c calls M.main(argv) with argv[0] = program
-- name and argv[1..n] the arguments; the return value is the exit status.
--
-- Parse (cli.ini + command line), answer --help/--version, then run the
-- subcommand's module: require(impl).run(config) -> status.  Errors raised
-- with certbot.errors carry their exit status; anything else is a bug,
-- reported in one line (the traceback with --debug).  Nothing touches the
-- disk before the subcommand runs, so usage errors, --help and --version
-- create no directory.

local M = {}

local function say(stream, text)
  stream:write(text, text:sub(-1) == "\n" and "" or "\n")
end

local function first_line(s)
  return (tostring(s):match("^[^\n]*"))
end

-- main(argv[, opts]) -> exit status; opts go to cli.parse (getenv, for specs).
function M.main(argv, opts)
  -- Parsing, --help and --version allocate a few MB at most and finish in
  -- milliseconds: the collector stays off until a subcommand runs.
  collectgarbage("stop")
  local cli = require "certbot.cli"
  local errors = require "certbot.errors"

  local config, err, code = cli.parse(argv, opts)
  if not config then
    say(io.stderr, err)
    return code or 2
  end
  if config.show_version then
    say(io.stdout, require("certbot.help").version())
    return 0
  end
  if config.help_topic ~= nil then
    local text, herr = require("certbot.help").render(config.help_topic)
    if not text then
      say(io.stderr, "certbot: error: " .. herr)
      return 2
    end
    io.stdout:write(text)
    return 0
  end
  for _, n in ipairs(config:notices()) do say(io.stderr, n) end

  local sc = require("certbot.options").subcommand(config.verb)
  collectgarbage("restart")
  require("certbot.display").setup(config)

  local ok, result = xpcall(function()
    return require(sc.impl).run(config)
  end, function(e)
    if errors.is(e) then return e end
    return { traceback = debug.traceback(tostring(e), 2), message = tostring(e) }
  end)
  if ok then
    return type(result) == "number" and math.tointeger(result) or 0
  end
  if errors.is(result) then
    say(io.stderr, first_line(result.message))
    return result.exit
  end
  say(io.stderr, "An unexpected error occurred:")
  say(io.stderr, first_line(result.message))
  if config.debug then say(io.stderr, result.traceback) end
  return 1
end

return M
