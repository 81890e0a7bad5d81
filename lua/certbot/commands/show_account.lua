-- show_account: fetch the account from the CA (POST-as-GET to its URL) and
-- show its URL, its key's RFC 7638 thumbprint and its e-mail contacts, in
-- Certbot 2.x's format, then one line more when lineages name this account
-- in their renewal conf (so an account without any reads as in Certbot).
-- --account ID picks one of several accounts.
--
-- --json: one JSON object on standard output instead (docs/json.md).

local account = require("certbot.account")
local core = require("certbot.core")
local display = require("certbot.display")
local errors = require("certbot.errors")
local json = require("certbot.json")
local obtain = require("certbot.obtain")
local update_account = require("certbot.commands.update_account")

local M = {}

M.FORMAT_VERSION = 1

-- format(server, uri, thumbprint, emails[, lineages]) -> the text Certbot
-- prints, and when lineages (a list of names) has any, the line naming them.
function M.format(server, uri, thumbprint, emails, lineages)
  local lines = {
    ("Account details for server %s:"):format(server),
    ("  Account URL: %s"):format(uri),
    ("  Account Thumbprint: %s"):format(thumbprint),
    ("  Email contact%s: %s"):format(#emails > 1 and "s" or "",
      #emails > 0 and table.concat(emails, ", ") or "none"),
  }
  if lineages and #lineages > 0 then
    lines[#lines + 1] = ("  Certificates using this account: %s"):format(table.concat(lineages, ", "))
  end
  return table.concat(lines, "\n")
end

local array = json.array

-- meta.json's creation_dt as ISO 8601 UTC: Certbot writes RFC 3339 with
-- "Z" (pyrfc3339, UTC); "+00:00" and fractions are folded into that form,
-- and any other offset is passed on as written (still ISO 8601).
local function iso(dt)
  if type(dt) ~= "string" then return json.null end
  local d, t, zone = dt:match("^(%d%d%d%d%-%d%d%-%d%d)[Tt ](%d%d:%d%d:%d%d)%.?%d*(.*)$")
  if d and (zone == "Z" or zone == "z" or zone == "+00:00" or zone == "-00:00") then
    return d .. "T" .. t .. "Z"
  end
  return dt
end

-- document(server, acc, body, lineages) -> the --json object (a table).
function M.document(server, acc, body, lineages)
  local _, key = account.describe_key(acc.key)
  local contact = {}
  for _, c in ipairs(type(body.contact) == "table" and body.contact or {}) do
    if type(c) == "string" then contact[#contact + 1] = c end
  end
  local prev = {}
  for _, p in ipairs(type(acc.meta.previous_ids) == "table" and acc.meta.previous_ids or {}) do
    if type(p) == "string" then prev[#prev + 1] = p end
  end
  return {
    format_version = M.FORMAT_VERSION,
    server = server,
    account = {
      id = acc.id,
      previous_ids = array(prev),
      url = acc.uri,
      status = type(body.status) == "string" and body.status or json.null,
      thumbprint = core.jws.thumbprint(acc.key),
      key = key,
      contact = array(contact),
      emails = array(account.emails(body)),
      created_at = iso(acc.meta.creation_dt),
      creation_host = type(acc.meta.creation_host) == "string" and acc.meta.creation_host or json.null,
      certificates = array(lineages),
    },
  }
end

function M.run(config)
  display.setup(config)
  local ctx = obtain.context(config)
  local server = obtain.server(config)
  update_account.choose_account(config, ctx, server)
  local client, acc = update_account.sign_in(ctx, server)
  local body, err = client:get(acc.uri)
  if not body then
    errors.raise(("Unable to fetch the account %s from the ACME server: %s")
      :format(acc.uri, tostring(err)), 1)
  end
  local lineages = account.lineages(ctx.backend, acc)
  if config.json then
    io.stdout:write(json.encode(M.document(server, acc, body, lineages)), "\n")
    io.stdout:flush()
    return 0
  end
  display.notify(M.format(server, acc.uri, core.jws.thumbprint(acc.key), account.emails(body), lineages))
  return 0
end

return M
