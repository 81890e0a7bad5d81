-- luarocks --lua-version=5.4 make rocks/certbot-scm-1.rockspec
-- Installs certbot.core (the C core) and the Lua modules as a library.
-- Every Lua file under lua/ and plugins/ must be listed in build.modules;
-- spec/rockspec_spec.lua fails when one is missing.
rockspec_format = "3.0"
package = "certbot"
version = "scm-1"
source = {
  url = "git+file:///dev/null",
}
description = {
  summary = "A Certbot-compatible ACME client: C core, Lua 5.4 logic and plugins",
  detailed = [[
Obtains, installs, renews and revokes TLS certificates from any RFC 8555 CA,
keeping Certbot's command line and /etc/letsencrypt layout.  As a library:
require "certbot" for the client, "certbot.core" for crypto, JWS and ACME HTTP.
]],
  license = "Apache-2.0",
}
dependencies = {
  "lua >= 5.4",
  -- cjson comes from Debian's lua-cjson: no LuaRocks server is reachable here.
}
external_dependencies = {
  OPENSSL = { header = "openssl/evp.h" },
  -- Debian keeps curl/curl.h under the multiarch include dir, which the
  -- compiler searches by itself; find curl by its library.
  CURL = { library = "curl" },
  -- augeas.h includes libxml/tree.h; libaugeas itself is dlopen()ed.
  LIBXML2 = { header = "libxml2/libxml/tree.h" },
}
build = {
  type = "builtin",
  modules = {
    ["certbot.core"] = {
      sources = {
        "csrc/augeas.c",
        "csrc/core.c",
        "csrc/crypto.c",
        "csrc/dnsnet.c",
        "csrc/http.c",
        "csrc/jws.c",
        "csrc/ocsp.c",
        "csrc/proc.c",
        "csrc/standalone.c",
        "csrc/sys.c",
      },
      defines = { "_GNU_SOURCE" },
      incdirs = { "csrc", "$(OPENSSL_INCDIR)", "$(LIBXML2_INCDIR)/libxml2" },
      libdirs = { "$(OPENSSL_LIBDIR)", "$(CURL_LIBDIR)" },
      libraries = { "ssl", "crypto", "curl", "pthread" },
    },
    -- Lua modules: keep sorted.
    ["certbot.account"] = "lua/certbot/account.lua",
    ["certbot.acme"] = "lua/certbot/acme.lua",
    ["certbot.ari"] = "lua/certbot/ari.lua",
    ["certbot.cli"] = "lua/certbot/cli.lua",
    ["certbot.commands.certificates"] = "lua/certbot/commands/certificates.lua",
    ["certbot.commands.certonly"] = "lua/certbot/commands/certonly.lua",
    ["certbot.commands.config_changes"] = "lua/certbot/commands/config_changes.lua",
    ["certbot.commands.delete"] = "lua/certbot/commands/delete.lua",
    ["certbot.commands.enhance"] = "lua/certbot/commands/enhance.lua",
    ["certbot.commands.install"] = "lua/certbot/commands/install.lua",
    ["certbot.commands.plugins"] = "lua/certbot/commands/plugins.lua",
    ["certbot.commands.reconfigure"] = "lua/certbot/commands/reconfigure.lua",
    ["certbot.commands.profiles"] = "lua/certbot/commands/profiles.lua",
    ["certbot.commands.register"] = "lua/certbot/commands/register.lua",
    ["certbot.commands.renew"] = "lua/certbot/commands/renew.lua",
    ["certbot.commands.revoke"] = "lua/certbot/commands/revoke.lua",
    ["certbot.commands.rollback"] = "lua/certbot/commands/rollback.lua",
    ["certbot.commands.run"] = "lua/certbot/commands/run.lua",
    ["certbot.commands.show_account"] = "lua/certbot/commands/show_account.lua",
    ["certbot.commands.unregister"] = "lua/certbot/commands/unregister.lua",
    ["certbot.commands.update_account"] = "lua/certbot/commands/update_account.lua",
    ["certbot.commands.update_symlinks"] = "lua/certbot/commands/update_symlinks.lua",
    ["certbot.config"] = "lua/certbot/config.lua",
    ["certbot.confobj"] = "lua/certbot/confobj.lua",
    ["certbot.display"] = "lua/certbot/display.lua",
    ["certbot.dns"] = "lua/certbot/dns.lua",
    ["certbot.errors"] = "lua/certbot/errors.lua",
    ["certbot.help"] = "lua/certbot/help.lua",
    ["certbot.hooks"] = "lua/certbot/hooks.lua",
    ["certbot.installer"] = "lua/certbot/installer.lua",
    ["certbot.json"] = "lua/certbot/json.lua",
    ["certbot.log"] = "lua/certbot/log.lua",
    ["certbot.main"] = "lua/certbot/main.lua",
    ["certbot.names"] = "lua/certbot/names.lua",
    ["certbot.obtain"] = "lua/certbot/obtain.lua",
    ["certbot.ocsp"] = "lua/certbot/ocsp.lua",
    ["certbot.options"] = "lua/certbot/options.lua",
    ["certbot.parallel"] = "lua/certbot/parallel.lua",
    ["certbot.plugins"] = "lua/certbot/plugins.lua",
    ["certbot.renewal"] = "lua/certbot/renewal.lua",
    ["certbot.reverter"] = "lua/certbot/reverter.lua",
    ["certbot.sandbox"] = "lua/certbot/sandbox.lua",
    ["certbot.storage"] = "lua/certbot/storage.lua",
    ["certbot.plugins.apache"] = "plugins/apache/init.lua",
    ["certbot.plugins.apache.ctl"] = "plugins/apache/ctl.lua",
    ["certbot.plugins.apache.http01"] = "plugins/apache/http01.lua",
    ["certbot.plugins.apache.parser"] = "plugins/apache/parser.lua",
    ["certbot.plugins.apache.vhosts"] = "plugins/apache/vhosts.lua",
    ["certbot.plugins.dns.cloudflare"] = "plugins/dns/cloudflare.lua",
    ["certbot.plugins.dns.cloudxns"] = "plugins/dns/cloudxns.lua",
    ["certbot.plugins.dns.common"] = "plugins/dns/common.lua",
    ["certbot.plugins.dns.digitalocean"] = "plugins/dns/digitalocean.lua",
    ["certbot.plugins.dns.dnsimple"] = "plugins/dns/dnsimple.lua",
    ["certbot.plugins.dns.google"] = "plugins/dns/google.lua",
    ["certbot.plugins.dns.linode"] = "plugins/dns/linode.lua",
    ["certbot.plugins.dns.luadns"] = "plugins/dns/luadns.lua",
    ["certbot.plugins.dns.nsone"] = "plugins/dns/nsone.lua",
    ["certbot.plugins.dns.rfc2136"] = "plugins/dns/rfc2136.lua",
    ["certbot.plugins.dns.route53"] = "plugins/dns/route53.lua",
    ["certbot.plugins.manual"] = "plugins/manual.lua",
    ["certbot.plugins.nginx"] = "plugins/nginx/init.lua",
    ["certbot.plugins.nginx.parser"] = "plugins/nginx/parser.lua",
    ["certbot.plugins.nginx.regex"] = "plugins/nginx/regex.lua",
    ["certbot.plugins.nginx.tls"] = "plugins/nginx/tls.lua",
    ["certbot.plugins.nginx.vhosts"] = "plugins/nginx/vhosts.lua",
    ["certbot.plugins.null"] = "plugins/null.lua",
    ["certbot.plugins.standalone"] = "plugins/standalone.lua",
    ["certbot.plugins.webroot"] = "plugins/webroot.lua",
  },
}
