-- help.lua: --help, --help TOPIC, --help all, --version and the man page,
-- all generated from the option table (certbot.options).
--
--   help.render(topic) -> text | nil, message    topic: nil/true, "all",
--                          "commands", a group, a subcommand or alias, a plugin
--   help.version() -> "certbot X.Y.Z"
--   help.manpage() -> roff text for docs/certbot.1
--
-- Options are laid out as argparse does: the invocation at column 2, the
-- help text wrapped at column 24 (on the next line when the invocation is
-- longer than 20 characters), 78 columns wide.

local options = require "certbot.options"

local M = {}

local WIDTH = 78
local HELP_POS = 24

local function version_number()
  local ok, core = pcall(require, "certbot.core")
  return ok and core.version or "unknown"
end

function M.version()
  return "certbot " .. version_number()
end

-- wrap(text, width) -> { line, ... } broken at spaces (a word longer than
-- width gets a line of its own).  Works per line, not per word: --help all
-- wraps a few hundred paragraphs.
local function wrap(text, width)
  -- Option help is written with single spaces; normalise only when needed
  -- (plain finds are cheap, patterns over every paragraph are not).
  if text:find("  ", 1, true) or text:find("\n", 1, true) or text:find("\t", 1, true) then
    text = text:gsub("%s+", " ")
  end
  if text:byte(1) == 32 then text = text:sub(2) end
  if text:byte(-1) == 32 then text = text:sub(1, -2) end
  local lines = {}
  local p, n = 1, #text
  local find = string.find
  while n - p + 1 > width do
    -- the last space at or before p + width
    local cut, q = nil, p
    while true do
      local sp = find(text, " ", q, true)
      if not sp or sp > p + width then break end
      cut, q = sp, sp + 1
    end
    if cut then
      lines[#lines + 1] = text:sub(p, cut - 1)
      p = cut + 1
    else
      local sp = find(text, " ", p, true)
      if not sp then break end
      lines[#lines + 1] = text:sub(p, sp - 1)
      p = sp + 1
    end
  end
  if p <= n then lines[#lines + 1] = text:sub(p) end
  return lines
end

local function takes_value(e)
  local t = e.type
  return not (t == "flag" or t == "flag_false" or t == "count" or t == "append_const"
    or t == "help" or t == "version")
end

local function metavar(e)
  if e.metavar then return e.metavar end
  if e.type == "choice" then return "{" .. table.concat(e.choices, ",") .. "}" end
  return (e.dest or e.long:sub(3)):upper()
end

local function invocation(e)
  if e.type == "help" then return "-h, --help [TOPIC]" end
  local parts = {}
  local mv = takes_value(e) and (" " .. metavar(e)) or ""
  for _, n in ipairs(e.names) do parts[#parts + 1] = n .. mv end
  return table.concat(parts, ", ")
end

local function default_text(e)
  if e.type == "help" or e.type == "version" or e.noop then return nil end
  if e.default_text then return e.default_text end
  local d = e.default
  -- a switch is off unless given, whatever its dest defaults to
  if e.type == "flag" or e.type == "flag_false" then return "False" end
  if d == nil then
    if e.type == "list" or e.type == "append_const" then return "[]" end
    return "None"
  end
  if d == true then return "True" end
  if d == false then return "False" end
  if type(d) == "table" then
    if next(d) == nil then return "[]" end
    return table.concat(d, ", ")
  end
  if d == "" then return '""' end
  return tostring(d)
end

local function help_text(e)
  local h = e.help or ""
  if e.deprecated then h = "(deprecated) " .. h end
  local d = default_text(e)
  if d then h = h .. " (default: " .. d .. ")" end
  return h
end

local function add_option(out, e)
  local inv = invocation(e)
  local lines = wrap(help_text(e), WIDTH - HELP_POS)
  local pad = string.rep(" ", HELP_POS)
  local first = 1
  if #inv <= HELP_POS - 4 then
    out[#out + 1] = "  " .. inv .. string.rep(" ", HELP_POS - 2 - #inv) .. (lines[1] or "")
    first = 2
  else
    out[#out + 1] = "  " .. inv
  end
  for i = first, #lines do out[#out + 1] = pad .. lines[i] end
end

local function add_verb(out, name, text)
  local lines = wrap(text, WIDTH - HELP_POS)
  local pad = string.rep(" ", HELP_POS)
  if #name <= HELP_POS - 4 then
    out[#out + 1] = "  " .. name .. string.rep(" ", HELP_POS - 2 - #name) .. (lines[1] or "")
  else
    out[#out + 1] = "  " .. name
    out[#out + 1] = pad .. (lines[1] or "")
  end
  for i = 2, #lines do out[#out + 1] = pad .. lines[i] end
end

-- One help group: "title:", its description, verbs (manage), options.
local function add_group(out, t, entries)
  out[#out + 1] = ""
  out[#out + 1] = t.title .. ":"
  if t.description then
    for _, l in ipairs(wrap(t.description, WIDTH - 2)) do out[#out + 1] = "  " .. l end
    out[#out + 1] = ""
  end
  for _, v in ipairs(t.verbs or {}) do
    add_verb(out, v, options.subcommand(v).help)
  end
  for _, e in ipairs(entries) do
    if not e.hidden then add_option(out, e) end
  end
end

local USAGE = "usage: \n  certbot [SUBCOMMAND] [options] [-d DOMAIN] [-d DOMAIN] ..."

local function topic_words()
  local groups, subs, plugins = { "all", "commands" }, {}, {}
  for _, t in ipairs(options.topics()) do
    if t.plugin then
      plugins[#plugins + 1] = t.key
    elseif t.subcommand then
      subs[#subs + 1] = t.key
    elseif t.key ~= "optional" and t.key ~= "plugins" then
      groups[#groups + 1] = t.key
    end
  end
  table.sort(groups)
  return groups, subs, plugins
end

local function overview()
  local o = {}
  o[#o + 1] = [[
Certbot obtains HTTPS (TLS) certificates from an ACME certificate authority
such as Let's Encrypt, installs them in your web server if you want, and
keeps them renewed. With no SUBCOMMAND it obtains a certificate and
installs it. The SUBCOMMANDS and flags used most are:

obtain, install, and renew certificates:
    (default) run   Obtain a certificate and install it in your web server
    certonly        Obtain or renew a certificate without installing it
    renew           Renew every certificate that is close to expiry
    reconfigure     Change the renewal settings of a certificate
   -d DOMAINS       Comma-separated list of names for the certificate

  --apache          Obtain and install with the Apache plugin
  --standalone      Answer challenges with a temporary web server of our own
  --nginx           Obtain and install with the nginx plugin
  --webroot         Answer challenges by writing into a document root
  --manual          Answer challenges by hand or with your own scripts

   -n               Never ask questions (non-interactive)
  --test-cert       Obtain a test certificate from the staging server
  --dry-run         Try "renew" or "certonly" without saving certificates

manage certificates:
    certificates    List the certificates Certbot manages
    revoke          Revoke a certificate (give --cert-path or --cert-name)
    delete          Delete a certificate and all of its files
    profiles        List the certificate profiles the ACME server offers

manage your account:
    register        Create an ACME account
    unregister      Deactivate an ACME account
    update_account  Change the contact details or the key of an account
    show_account    Show the details of an account
  --agree-tos       Agree to the ACME server's subscriber agreement
   -m EMAIL         Contact address for the account
]]
  return table.concat(o)
end

local function short_help()
  local out = { USAGE, "", overview(), "More detailed help:", "",
    "  -h, --help [TOPIC]    print this message, or the detailed help on TOPIC;",
    "                        TOPIC is one of:", "" }
  local groups, subs, plugins = topic_words()
  local function listing(label, words)
    local text = label .. table.concat(words, ", ")
    for _, l in ipairs(wrap(text, WIDTH - 3)) do out[#out + 1] = "   " .. l end
  end
  listing("", groups)
  listing("subcommands: ", subs)
  listing("plugins: ", plugins)
  out[#out + 1] = ""
  out[#out + 1] = "  -h all                print the help on every topic"
  out[#out + 1] = "  --version             print the version number and exit"
  return table.concat(out, "\n") .. "\n"
end

local function commands_help()
  local out = { USAGE, "", "The subcommands are:", "" }
  local longest = 0
  for _, sc in ipairs(options.subcommands) do longest = math.max(longest, #sc.name) end
  for _, sc in ipairs(options.subcommands) do
    local name = sc.name
    local al = sc.aliases and #sc.aliases > 0 and (" (also: " .. table.concat(sc.aliases, ", ") .. ")") or ""
    out[#out + 1] = "  " .. name .. string.rep(" ", longest - #name + 4) .. sc.help .. al
  end
  out[#out + 1] = ""
  out[#out + 1] = "--help SUBCOMMAND shows the options of one subcommand."
  return table.concat(out, "\n") .. "\n"
end

local function all_help()
  local out = { USAGE, "", (overview():gsub("\n$", "")) }
  local by_topic = {}
  for _, e in ipairs(options.list) do
    local l = by_topic[e.topic]
    if not l then
      l = {}
      by_topic[e.topic] = l
    end
    l[#l + 1] = e
  end
  for _, t in ipairs(options.topics()) do
    add_group(out, t, by_topic[t.key] or {})
  end
  return table.concat(out, "\n") .. "\n"
end

local COMMANDS = {}
for _, w in ipairs(options.COMMANDS_TOPICS) do COMMANDS[w] = true end

-- render(topic) -> text | nil, "unknown help topic 'x'"
function M.render(topic)
  if topic == nil or topic == true then return short_help() end
  if topic == "all" then return all_help() end
  if COMMANDS[topic] then return commands_help() end
  local sc = options.subcommand(topic)
  local key = sc and sc.name or topic
  local t = options.topic(key)
  if not t then return nil, "unknown help topic '" .. tostring(topic) .. "'" end
  local out
  if sc then
    out = { "usage: ", "  " .. sc.usage, "" }
    for _, l in ipairs(wrap(sc.help .. ".", WIDTH)) do out[#out + 1] = l end
  else
    out = { USAGE }
  end
  add_group(out, t, options.in_topic(key))
  return table.concat(out, "\n") .. "\n"
end

------------------------------------------------------------------------
-- Man page
------------------------------------------------------------------------

local function roff(s)
  s = s:gsub("\\", "\\e"):gsub("%-", "\\-")
  return s
end

local function roff_line(s)
  s = roff(s)
  if s:find("^[.']") then s = "\\&" .. s end
  return s
end

-- manpage() -> roff text (docs/certbot.1)
function M.manpage()
  local out = {}
  local function add(s) out[#out + 1] = s end
  add('.TH CERTBOT 1 "" "certbot ' .. version_number() .. '" "User Commands"')
  add(".SH NAME")
  add("certbot \\- obtain, install and renew TLS certificates from an ACME CA")
  add(".SH SYNOPSIS")
  add(".B certbot")
  add("[\\fISUBCOMMAND\\fR] [\\fIoptions\\fR] [\\fB\\-d\\fR \\fIDOMAIN\\fR] ...")
  add(".SH DESCRIPTION")
  add(roff_line("certbot obtains certificates from an ACME (RFC 8555) certificate "
    .. "authority such as Let's Encrypt, installs them in a web server if asked, and "
    .. "renews them before they expire. It keeps Certbot's command line and its "
    .. "/etc/letsencrypt layout: accounts, lineages, renewal configuration files and "
    .. "hooks written by Certbot keep working, and Certbot can read what it writes."))
  add(".SH SUBCOMMANDS")
  for _, sc in ipairs(options.subcommands) do
    add(".TP")
    local al = sc.aliases and #sc.aliases > 0 and (" (alias: " .. table.concat(sc.aliases, ", ") .. ")") or ""
    add("\\fB" .. roff(sc.name) .. "\\fR" .. roff(al))
    add(roff_line(sc.help .. "."))
  end
  add(".SH OPTIONS")
  local by_topic = {}
  for _, e in ipairs(options.list) do
    local l = by_topic[e.topic]
    if not l then
      l = {}
      by_topic[e.topic] = l
    end
    l[#l + 1] = e
  end
  for _, t in ipairs(options.topics()) do
    local entries = {}
    for _, e in ipairs(by_topic[t.key] or {}) do
      if not e.hidden then entries[#entries + 1] = e end
    end
    if #entries > 0 or t.description then
      add('.SS "' .. roff(t.title) .. '"')
      if t.description then add(roff_line(t.description)) end
      for _, e in ipairs(entries) do
        add(".TP")
        local parts = {}
        local mv = takes_value(e) and (" \\fI" .. roff(metavar(e)) .. "\\fR") or ""
        if e.type == "help" then mv = " [\\fITOPIC\\fR]" end
        for _, n in ipairs(e.names) do parts[#parts + 1] = "\\fB" .. roff(n) .. "\\fR" .. mv end
        add(table.concat(parts, ", "))
        add(roff_line(help_text(e)))
      end
    end
  end
  add(".SH FILES")
  add(".TP")
  add("\\fI/etc/letsencrypt/cli.ini\\fR, \\fI$XDG_CONFIG_HOME/letsencrypt/cli.ini\\fR "
    .. "(or \\fI~/.config/letsencrypt/cli.ini\\fR)")
  add(roff_line("Default options, one \"option = value\" per line, with the long option "
    .. "name without its leading dashes. Later files win over earlier ones, -c FILE "
    .. "over both, and the command line over every file."))
  add(".TP")
  add("\\fI/etc/letsencrypt/live/NAME/\\fR")
  add(roff_line("cert.pem, chain.pem, fullchain.pem and privkey.pem of each certificate, "
    .. "as links to the newest files under /etc/letsencrypt/archive/NAME/."))
  add(".TP")
  add("\\fI/etc/letsencrypt/renewal/NAME.conf\\fR")
  add(roff_line("How each certificate was obtained, which renew repeats."))
  add(".TP")
  add("\\fI/etc/letsencrypt/renewal/.NAME.lock\\fR, \\fI/etc/letsencrypt/archive/NAME/.deploy-pending\\fR")
  add(roff_line("Ours, invisible to Certbot: the lock renew holds while it renews NAME (not empty while a "
    .. "run has work to finish there), and the version whose deploy hooks have not run yet."))
  add(".TP")
  add("\\fI/etc/letsencrypt/.certbot.lock\\fR, \\fI/var/lib/letsencrypt/.certbot.lock\\fR, "
    .. "\\fI/var/log/letsencrypt/.certbot.lock\\fR")
  add(roff_line("fcntl locks, the same files Certbot locks: the two never run at once."))
  add(".TP")
  add("\\fI/var/lib/letsencrypt/CHANGE_IN_PROGRESS\\fR, \\fI/var/lib/letsencrypt/.change.lock\\fR")
  add(roff_line("Ours: a web server configuration change under way, and the lock its run holds. The next "
    .. "run undoes the whole change of a run that was killed, the checkpoints it saved included."))
  add(".SH EXIT STATUS")
  add(roff_line("0 on success, 1 when an operation failed (for renew: when any renewal "
    .. "failed), 2 for a mistake on the command line or in a cli.ini file."))
  add(".SH SEE ALSO")
  add(roff_line("The Certbot user guide; RFC 8555 (ACME); RFC 8737 (tls-alpn-01)."))
  return table.concat(out, "\n") .. "\n"
end

return M
