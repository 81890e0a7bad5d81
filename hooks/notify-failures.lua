-- luacheck: read globals hook
-- Post hook: record which certificates failed to renew.  A post hook runs
-- once at the end of `certbot renew`; FAILED_DOMAINS (hook.failed_domains)
-- lists the names of the certificates whose renewal failed, RENEWED_DOMAINS
-- (hook.domains) those renewed.
--
--   install -m 755 notify-failures.lua /etc/letsencrypt/renewal-hooks/post/
--
-- With NOTIFY_EMAIL set in certbot's environment it also sends a mail with
-- mail(1), the message on its standard input.

local failed = hook.failed_domains
if #failed == 0 then return end

local msg = ("certificate renewal failed for: %s"):format(table.concat(failed, " "))
hook.log(msg)  -- certbot's log file
print(msg)     -- the hook's output, also in the log

local to = os.getenv("NOTIFY_EMAIL")
if to and to ~= "" then
  local code, out, err = hook.run({ "mail", "-s", "certbot: renewal failed", to },
    msg .. "\nSee /var/log/letsencrypt/letsencrypt.log.\n")
  if code ~= 0 then
    hook.log("mail failed: " .. tostring(code and err or out))
  end
end
