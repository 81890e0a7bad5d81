-- display: what the user sees, and the questions Certbot asks.  Under -n
-- (or without a terminal) a question takes its default, or fails with
-- Certbot's "Missing command line flag" message naming the flag to use.

local sys = require("certbot.core").sys
local errors = require("certbot.errors")

local M = {
  interactive = sys.isatty(0) and sys.isatty(1),
  quiet = false,
  out = io.stdout,
  err = io.stderr,
}

function M.setup(config)
  if config.noninteractive_mode then
    M.interactive = false
  elseif config.force_interactive then
    M.interactive = true
  end
  M.quiet = config.quiet and true or false
  -- --json: standard output carries the one JSON document; every message
  -- meant for people (and any question) goes to standard error
  if config.json then M.out = M.err end
end

-- A message for the user (standard output), unless --quiet.  While
-- batching (M.batch: a renew's lineages that are not due, a line or two
-- each), messages wait in the stream's buffer until M.flush(), a warning
-- or exit.
function M.notify(msg)
  if M.quiet then return end
  M.out:write(msg, "\n")
  if not M.batching then M.out:flush() end
end

-- A warning (standard error), shown even with --quiet, after the messages
-- before it.
function M.warn(msg)
  if M.batching then M.out:flush() end
  M.err:write(msg, "\n")
  M.err:flush()
end

function M.batch(on)
  M.batching = on and true or false
  if not on then M.out:flush() end
end

function M.flush() M.out:flush() end

-- Certbot's message, on one line: opts.short (else the prompt's first
-- line) names the setting.
local function missing(prompt, cli_flag, short)
  local msg = "Missing command line flag or config entry for this setting: "
    .. (short or prompt:match("^[^\n]*"))
  if cli_flag then
    msg = msg .. " (You can set this with the " .. cli_flag .. " flag)"
  end
  errors.raise(msg, 1)
end

local function ask(prompt)
  M.out:write(prompt)
  M.out:flush()
  local line = io.read("l")
  if line == nil then errors.raise("No input: standard input was closed", 1) end
  return line
end

-- yesno(prompt, opts) opts: yes_label, no_label, default (boolean or nil),
-- cli_flag; force = true asks even when a default exists.
function M.yesno(prompt, opts)
  opts = opts or {}
  if not M.interactive then
    if opts.default ~= nil and not opts.force then return opts.default end
    missing(prompt, opts.cli_flag, opts.short)
  end
  local yes, no = opts.yes_label or "Yes", opts.no_label or "No"
  while true do
    local a = ask(("%s\n(%s)es/(%s)o: "):format(prompt, yes:sub(1, 1), no:sub(1, 1))):lower()
    if a:sub(1, 1) == yes:sub(1, 1):lower() then return true end
    if a:sub(1, 1) == no:sub(1, 1):lower() then return false end
  end
end

-- input(prompt, opts) -> string | nil (cancelled)
function M.input(prompt, opts)
  opts = opts or {}
  if not M.interactive then
    if opts.default ~= nil then return opts.default end
    missing(prompt, opts.cli_flag, opts.short)
  end
  local a = ask(prompt .. " (Enter 'c' to cancel): ")
  if a == "c" or a == "C" then return nil end
  return a
end

-- menu(prompt, choices, opts) -> index | nil (cancelled)
function M.menu(prompt, choices, opts)
  opts = opts or {}
  if not M.interactive then
    if opts.default ~= nil then return opts.default end
    missing(prompt, opts.cli_flag, opts.short)
  end
  while true do
    M.out:write(prompt, "\n", string.rep("-", 78), "\n")
    for i, c in ipairs(choices) do M.out:write(("%d: %s\n"):format(i, c)) end
    M.out:write(string.rep("-", 78), "\n")
    local a = ask(("Select the appropriate number [1-%d] then [enter] (press 'c' to cancel): ")
      :format(#choices))
    if a == "c" or a == "C" then return nil end
    local n = tonumber(a)
    if n and choices[n] then return n end
  end
end

-- checklist(prompt, choices, opts) -> list of chosen indexes (all of them
-- when the answer is blank) | nil (cancelled).  Answers are numbers
-- separated by commas and/or spaces, as Certbot takes them.
function M.checklist(prompt, choices, opts)
  opts = opts or {}
  if not M.interactive then
    if opts.default ~= nil then return opts.default end
    missing(prompt, opts.cli_flag, opts.short)
  end
  while true do
    M.out:write(prompt, "\n", string.rep("-", 78), "\n")
    for i, c in ipairs(choices) do M.out:write(("%d: %s\n"):format(i, c)) end
    M.out:write(string.rep("-", 78), "\n")
    local a = ask("Select the appropriate numbers separated by commas and/or spaces, or leave "
      .. "input blank to select all options shown (Enter 'c' to cancel): ")
    if a == "c" or a == "C" then return nil end
    local picked, seen, bad = {}, {}, false
    for w in a:gmatch("[^,%s]+") do
      local n = math.tointeger(tonumber(w))
      if not n or not choices[n] then bad = true break end
      if not seen[n] then
        seen[n] = true
        picked[#picked + 1] = n
      end
    end
    if not bad then
      if #picked == 0 then
        for i = 1, #choices do picked[i] = i end
      end
      table.sort(picked)
      return picked
    end
    M.out:write("** Invalid input: " .. a .. " **\n")
  end
end

-- Pause until the user presses Enter (manual plugin).
function M.pause(msg)
  if not M.interactive then return end
  ask(msg .. "\nPress Enter to Continue")
end

return M
