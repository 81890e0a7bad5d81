-- luacheck: read globals hook
-- Deploy hook, as a Lua hook: reload-nginx.sh without a shell.  certbot
-- runs a hook that is a path ending in ".lua" inside its own interpreter,
-- in a sandbox; the `hook` table is its door to the outside (docs/hooks.md).
--
--   certbot renew --deploy-hook /usr/local/lib/certbot/reload-nginx.lua
-- or install it (executable) in /etc/letsencrypt/renewal-hooks/deploy/.

-- Run a program (no shell: the arguments are passed as they are) and fail
-- this hook, naming the line that called it, if it does not exit 0.
local function must(argv)
  local code, out, err = hook.run(argv)
  if code ~= 0 then
    local why = code and ("exit status " .. code .. ": " .. err) or out
    error(table.concat(argv, " ") .. " failed, " .. why, 2)
  end
end

must({ "nginx", "-t", "-q" }) -- a broken configuration is not reloaded
must({ "nginx", "-s", "reload" })
hook.log("nginx reloaded for " .. table.concat(hook.domains, " "))
print("nginx reloaded for " .. table.concat(hook.domains, " "))
