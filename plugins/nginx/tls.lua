-- The TLS settings the nginx installer includes in the server blocks it
-- secures, and the Diffie-Hellman group for ssl_dhparam.  Both are written
-- once under --config-dir (options-ssl-nginx.conf, ssl-dhparams.pem, the
-- names Certbot uses) and left alone afterwards, so an administrator's
-- edits stay.
local sys = require("certbot.core").sys

local M = {}

M.OPTIONS_NAME = "options-ssl-nginx.conf"
M.DHPARAMS_NAME = "ssl-dhparams.pem"

-- Mozilla's "intermediate" server profile: TLS 1.2 and 1.3 only; for
-- TLS 1.2 only forward-secret AEAD suites (ECDHE/DHE with AES-GCM or
-- ChaCha20-Poly1305), the client picks among them; a shared session cache
-- of one day and no session tickets (their keys would never rotate).
local CIPHERS = {
  "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
  "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
}

M.OPTIONS = [[
# TLS settings for server blocks that certbot secured.  Written once;
# certbot does not change this file again, so edits here are kept.
#
# TLS 1.2 and 1.3 only; forward-secret AEAD cipher suites for TLS 1.2
# (TLS 1.3 suites are all of that kind and are not configured here).
ssl_protocols TLSv1.2 TLSv1.3;
ssl_ciphers "]] .. table.concat(CIPHERS, ":") .. [[";
ssl_prefer_server_ciphers off;

# Resumption through a cache shared by the workers, for a day; no session
# tickets, whose key would otherwise stay the same until nginx restarts.
ssl_session_cache shared:le_nginx_SSL:10m;
ssl_session_timeout 1440m;
ssl_session_tickets off;
]]

-- The directives OPTIONS sets: a server block that already sets one of
-- them gets no include (nginx refuses a directive twice in one block).
M.OPTION_DIRECTIVES = { "ssl_protocols", "ssl_ciphers", "ssl_prefer_server_ciphers",
  "ssl_session_cache", "ssl_session_timeout", "ssl_session_tickets" }

-- RFC 7919 appendix A.1, ffdhe2048, as PKCS#3 DHParameter (p, g = 2).
M.DHPARAMS = [[
-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
]]

-- install(config_dir) -> options_path, dhparams_path | nil, err: write
-- the two files when they are missing.
function M.install(config_dir)
  config_dir = config_dir:gsub("/+$", "")
  local opts = config_dir .. "/" .. M.OPTIONS_NAME
  local dh = config_dir .. "/" .. M.DHPARAMS_NAME
  for _, f in ipairs({ { opts, M.OPTIONS }, { dh, M.DHPARAMS } }) do
    if not sys.lstat(f[1]) then
      local ok, err = sys.write_atomic(f[1], f[2], 420) -- 0644
      if not ok then return nil, "Unable to write " .. f[1] .. ": " .. err end
    end
  end
  return opts, dh
end

return M
