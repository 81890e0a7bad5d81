-- options.lua: the one table of every subcommand and every option.
--
-- --help, the command-line parser, cli.ini, the renewal conf and the man
-- page are all generated from what is declared here.
--
-- An option entry:
--   names     { "-d", "--domains", "--domain" }: short and long spellings;
--             the first long name is the canonical one (entry.long)
--   dest      Certbot's config attribute (snake_case), as renewal confs store it
--   type      "flag" (store_true), "flag_false" (store_false), "string",
--             "path", "int", "float", "bool" (takes true/false), "list"
--             (comma-separated, repeatable, accumulating), "count" (-vvv),
--             "choice" (with choices), "append_const" (with const)
--   action    special handling in cli.lua: "domains", "webroot_path",
--             "webroot_map", "pref_challs", "reason", "deploy_hook"
--   default, default_text (what --help says instead), metavar, choices
--   topic     the help group it is listed under in --help all
--   also      other topics (--help TOPIC) that list it too
--   help      text for --help (our own words)
--   deprecated  true or a one-line hint; the option still works
--   noop      value is accepted and thrown away (retired options)
--   hidden    not shown by --help
--   renewal   stored in [renewalparams] of a renewal conf
--   min       lowest accepted value for int options
--   abspath   relative paths are made absolute against the cwd
--   old_dest  a dest earlier Certbot versions used for the same setting
--   tristate  a flag whose default is nil ("not said": ask, or decide later)
--   plugin    the plugin that declared it (options.register)
--
-- Plugins declare their own options with options.register(name, specs,
-- info); the built-in plugins do so at the bottom of this file, through the
-- same function, so their specs can move into the plugin files unchanged.

local M = {}

M.DEFAULT_SERVER = "https://acme-v02.api.letsencrypt.org/directory"
M.STAGING_SERVER = "https://acme-staging-v02.api.letsencrypt.org/directory"

M.REVOCATION_REASONS = {
  unspecified = 0, keycompromise = 1, affiliationchanged = 3,
  superseded = 4, cessationofoperation = 5,
}

------------------------------------------------------------------------
-- Subcommands.  `impl` names the Lua module with run(config) -> status;
-- nil until the subcommand is written.
------------------------------------------------------------------------

M.subcommands = {
  { name = "run", aliases = { "everything" }, default = true, impl = "certbot.commands.run",
    help = "Obtain or renew a certificate and install it in your web server",
    usage = "certbot [run] [options] [-d DOMAIN] [-d DOMAIN] ...",
    description = "Options that shape how a certificate is obtained and then installed" },
  { name = "certonly", aliases = { "auth" }, impl = "certbot.commands.certonly",
    help = "Obtain or renew a certificate without installing it anywhere",
    usage = "certbot certonly [options] [-d DOMAIN] [-d DOMAIN] ...",
    description = "Options that shape how a certificate is obtained; certonly saves "
      .. "the certificate under the config directory and leaves your servers alone" },
  { name = "renew", impl = "certbot.commands.renew",
    help = "Renew every certificate that is close to expiry (or the one named by --cert-name)",
    usage = "certbot renew [--cert-name CERTNAME] [options]",
    description = "'renew' looks at every certificate lineage obtained earlier and renews "
      .. "those that are near expiry, then prints a summary. Each lineage is renewed "
      .. "with the plugins and options recorded when it was last obtained, unless the "
      .. "command line says otherwise. Try it with --dry-run first; use --cert-name "
      .. "to renew a single lineage. Hooks can run commands before and after renewal." },
  { name = "certificates", impl = "certbot.commands.certificates",
    help = "List the certificates Certbot manages",
    usage = "certbot certificates [options]",
    description = "Show each managed certificate with its names, expiry and paths" },
  { name = "delete", impl = "certbot.commands.delete",
    help = "Remove every file belonging to a certificate",
    usage = "certbot delete --cert-name CERTNAME",
    description = "Options for deleting a certificate lineage" },
  { name = "revoke", impl = "certbot.commands.revoke",
    help = "Revoke a certificate named by --cert-path or --cert-name",
    usage = "certbot revoke [--cert-path /path/to/cert.pem | --cert-name NAME] [options]",
    description = "Options for revoking certificates" },
  { name = "register", impl = "certbot.commands.register",
    help = "Create an account with the ACME server",
    usage = "certbot register --email you@example.com [options]",
    description = "Options for creating an ACME account" },
  { name = "update_account", impl = "certbot.commands.update_account",
    help = "Change the contact details of an existing ACME account",
    usage = "certbot update_account --email new@example.com [options]",
    description = "Options for changing an account" },
  { name = "unregister", impl = "certbot.commands.unregister",
    help = "Deactivate your ACME account for good",
    usage = "certbot unregister [options]",
    description = "Options for account deactivation" },
  { name = "show_account", impl = "certbot.commands.show_account",
    help = "Show the details of your ACME account",
    usage = "certbot show_account [options]",
    description = "Options for displaying an account" },
  { name = "install", impl = "certbot.commands.install",
    help = "Install an existing certificate in a server",
    usage = "certbot install --cert-path /path/to/fullchain.pem --key-path /path/to/privkey.pem [options]",
    description = "Options that shape how a certificate is deployed" },
  { name = "enhance", impl = "certbot.commands.enhance",
    help = "Add security enhancements to an existing server configuration",
    usage = "certbot enhance [options]",
    description = "Harden a TLS configuration that already exists by adding enhancements "
      .. "such as redirects or HSTS" },
  { name = "reconfigure", impl = "certbot.commands.reconfigure",
    help = "Change the renewal settings of a certificate without renewing it",
    usage = "certbot reconfigure --cert-name CERTNAME [options]",
    description = "Update the options stored in a lineage's renewal configuration; a test "
      .. "renewal checks them before anything is saved" },
  { name = "update_symlinks", impl = "certbot.commands.update_symlinks",
    help = "Recreate the symlinks in your /etc/letsencrypt/live/ directory",
    usage = "certbot update_symlinks [options]",
    description = "Point the links under <config-dir>/live at the newest archive files "
      .. "again, after files were moved by hand or a renewal configuration was edited" },
  { name = "rollback", impl = "certbot.commands.rollback",
    help = "Undo server configuration changes made while installing certificates",
    usage = "certbot rollback --checkpoints N [options]",
    description = "Options for rolling back server configuration changes" },
  { name = "config_changes", impl = "certbot.commands.config_changes",
    help = "Show the server configuration changes made by Certbot",
    usage = "certbot config_changes [options]",
    description = "Options for choosing which configuration changes are shown" },
  { name = "profiles", impl = "certbot.commands.profiles",
    help = "List the certificate profiles the ACME server offers",
    usage = "certbot profiles [--server URL] [options]",
    description = "Show the names and descriptions of the certificate profiles in the "
      .. "ACME server's directory, which --preferred-profile and --required-profile take" },
  { name = "plugins", impl = "certbot.commands.plugins",
    help = "List the plugins that are installed and usable",
    usage = "certbot plugins [options]",
    description = "Options for the 'plugins' subcommand" },
}

------------------------------------------------------------------------
-- Help topics, in the order --help all shows them.  Subcommand topics and
-- plugin topics are appended below.
------------------------------------------------------------------------

M.topic_list = {
  { key = "optional", title = "optional arguments" },
  { key = "automation", title = "automation",
    description = "Options for running unattended, and other tweaks to what Certbot does" },
  { key = "security", title = "security",
    description = "Key parameters and server hardening" },
  { key = "testing", title = "testing",
    description = "These options exist for testing and integration work" },
  { key = "paths", title = "paths",
    description = "Where files and directories live, and which ACME server to talk to" },
  { key = "manage", title = "manage",
    description = "Subcommands and options for looking after the certificates you have",
    verbs = { "certificates", "delete", "renew", "revoke", "reconfigure", "update_symlinks" } },
}

-- "plugins" is both a subcommand and Certbot's plugin selection group: one
-- topic holds both, after the other subcommands.
local plugins_sc
for _, sc in ipairs(M.subcommands) do
  if sc.name == "plugins" then
    plugins_sc = sc
  else
    M.topic_list[#M.topic_list + 1] = { key = sc.name, title = sc.name,
      description = sc.description, subcommand = sc }
  end
end

M.topic_list[#M.topic_list + 1] = { key = "plugins", title = "plugins",
  description = "Plugin selection: plugins obtain and install certificates, and "
    .. "'certbot plugins' lists the ones available. The options below force a "
    .. "particular plugin; --help PLUGIN_NAME shows the options of one plugin.",
  subcommand = plugins_sc }

-- Words that --help accepts as a synonym of "list the subcommands".
M.COMMANDS_TOPICS = { "command", "commands", "subcommand", "subcommands", "verbs" }

------------------------------------------------------------------------
-- The options.
------------------------------------------------------------------------

local RUN_CERTONLY = { "run", "certonly" }

M.list = {
  -- optional arguments ------------------------------------------------
  { names = { "-h", "--help" }, type = "help", metavar = "TOPIC", topic = "optional",
    help = "Print a short summary, or the detailed help on TOPIC (all, a group, "
      .. "a subcommand or a plugin), and exit." },
  { names = { "-c", "--config" }, dest = "config_file", type = "path", metavar = "CONFIG_FILE",
    topic = "optional",
    help = "Read options from this file as well, after the default cli.ini files.",
    default_text = "/etc/letsencrypt/cli.ini and ~/.config/letsencrypt/cli.ini" },
  { names = { "-v", "--verbose" }, dest = "verbose_count", type = "count", default = 0,
    topic = "optional",
    help = "Say more about what is happening; repeat it (-vvv) for even more detail." },
  { names = { "--verbose-level" }, dest = "verbose_level", type = "string", hidden = true,
    topic = "optional", help = "Set the log level by name (for cli.ini); overrides -v." },
  { names = { "-t", "--text" }, dest = "text_mode", type = "flag", hidden = true, noop = true,
    topic = "optional", help = "Retired: the text interface is the only one." },
  { names = { "--max-log-backups" }, dest = "max_log_backups", type = "int", min = 0,
    default = 1000, topic = "optional",
    help = "How many rotated log files to keep. 0 turns rotation off, so every run "
      .. "appends to the same log file." },
  { names = { "--preconfigured-renewal" }, dest = "preconfigured_renewal", type = "flag",
    hidden = true, topic = "optional",
    help = "Set by distribution packages that already schedule 'certbot renew' "
      .. "(a timer or cron job), so Certbot does not suggest setting one up." },
  { names = { "-n", "--non-interactive", "--noninteractive" }, dest = "noninteractive_mode",
    type = "flag", topic = "optional", also = { "automation", "run", "certonly", "enhance" },
    help = "Never prompt. Anything that would need an answer must then be given as an "
      .. "option; Certbot says which one is missing." },
  { names = { "--force-interactive" }, dest = "force_interactive", type = "flag",
    topic = "optional", also = { "register", "run", "certonly", "enhance" },
    help = "Prompt even when standard input is not a terminal. Not allowed with renew." },
  { names = { "-d", "--domains", "--domain" }, dest = "domains", type = "list", action = "domains",
    metavar = "DOMAIN", default = {}, default_text = "Ask", topic = "optional",
    also = { "run", "certonly", "certificates", "enhance", "manage" },
    help = "Names to put on the certificate, as Subject Alternative Names. Repeat -d "
      .. "or give a comma-separated list. The first name also names the lineage "
      .. "unless --cert-name says otherwise." },
  { names = { "--ip-address" }, dest = "ip_addresses", type = "list", metavar = "IP_ADDRESS",
    default = {}, topic = "optional", also = RUN_CERTONLY,
    help = "IP addresses to put on the certificate (RFC 8738; the CA must issue for IP "
      .. "addresses), with -d or instead of it. Repeat the option or give a comma-separated "
      .. "list. IPv4 as a.b.c.d; IPv6 in any form (brackets allowed), written as RFC 5952 "
      .. "has it (2001:db8::1). Only http-01 and tls-alpn-01 can prove an address. Without "
      .. "-d the lineage is named after the first address." },
  { names = { "--eab-kid" }, dest = "eab_kid", type = "string", metavar = "EAB_KID",
    topic = "optional", also = { "run", "certonly", "register" },
    help = "Key identifier for External Account Binding, as given by the CA." },
  { names = { "--eab-hmac-key" }, dest = "eab_hmac_key", type = "string", metavar = "EAB_HMAC_KEY",
    topic = "optional", also = { "run", "certonly", "register" },
    help = "HMAC key for External Account Binding (base64url, as given by the CA)." },
  { names = { "--eab-hmac-alg" }, dest = "eab_hmac_alg", type = "choice",
    choices = { "HS256", "HS384", "HS512" }, metavar = "EAB_HMAC_ALG", default = "HS256",
    topic = "optional", also = { "run", "certonly", "register" },
    help = "MAC algorithm for External Account Binding." },
  { names = { "--cert-name" }, dest = "certname", type = "string", metavar = "CERTNAME",
    topic = "optional",
    also = { "run", "certonly", "manage", "delete", "certificates", "renew", "enhance", "reconfigure" },
    help = "The name of the certificate lineage to act on. It is used for file names "
      .. "only, not inside the certificate, and may not contain '/'. 'certbot "
      .. "certificates' lists the names. For a new certificate it sets the name.",
    default_text = "the first domain, or an existing lineage with the same names" },
  { names = { "--dry-run" }, dest = "dry_run", type = "flag", topic = "optional",
    also = { "testing", "renew", "certonly" },
    help = "Do a test run against the staging server: obtain test certificates but do "
      .. "not save them. Only certonly and renew accept it. Web server plugins may "
      .. "still reload the server to add and remove temporary configuration, and "
      .. "pre and post hooks still run; deploy hooks only with --run-deploy-hooks. "
      .. "--server chooses another test server." },
  { names = { "--run-deploy-hooks" }, dest = "run_deploy_hooks", type = "flag",
    topic = "testing", also = { "renew", "certonly", "reconfigure" },
    help = "With --dry-run or reconfigure, also run the deploy hooks that apply "
      .. "(from the command line, the renewal conf and the hook directories) once "
      .. "the test succeeds, against the current certificate." },
  { names = { "--debug-challenges" }, dest = "debug_challenges", type = "flag",
    topic = "optional", also = RUN_CERTONLY,
    help = "Pause for a key press after the challenges are set up and before the CA "
      .. "is asked to check them; with -v, show what the CA will look for." },
  { names = { "--preferred-challenges" }, dest = "pref_challs", type = "list",
    action = "pref_challs", metavar = "PREF_CHALLS", default = {}, renewal = true,
    topic = "optional", also = { "manual", "standalone", "certonly", "renew" },
    help = "Challenge types to use, most preferred first, comma-separated (for "
      .. "example \"dns\" or \"http,dns\"). \"http\", \"dns\" and \"tls-alpn\" stand for "
      .. "the current version of each; tls-sni-01 is retired and means tls-alpn-01. "
      .. "Not every plugin can do every challenge.",
    old_dest = "standalone_supported_challenges" },
  { names = { "--user-agent" }, dest = "user_agent", type = "string", metavar = "USER_AGENT",
    renewal = true, topic = "optional",
    help = "Send this User-Agent to the CA instead of the default one, which tells the "
      .. "CA the client version, the plugins in use and a few flags (--duplicate, "
      .. "--force-renew, --allow-subset-of-names, -n, and whether hooks are set). "
      .. "Set it to \"\" to send none of that.",
    default_text = "CertbotACMEClient/VERSION (certbot; OS) Authenticator/X Installer/Y" },
  { names = { "--user-agent-comment" }, dest = "user_agent_comment", type = "string",
    metavar = "USER_AGENT_COMMENT", topic = "optional",
    help = "Add a comment to the default User-Agent, for tools that wrap Certbot "
      .. "(for example Foo-Wrapper/1.0). Ignored when --user-agent is given." },

  -- automation --------------------------------------------------------
  { names = { "--keep-until-expiring", "--keep", "--reinstall" }, dest = "reinstall",
    type = "flag", topic = "automation", also = RUN_CERTONLY, default_text = "Ask",
    help = "When the requested certificate matches an existing one, keep the existing "
      .. "one until it is due for renewal (run then reinstalls it)." },
  { names = { "--expand" }, dest = "expand", type = "flag", topic = "automation",
    default_text = "Ask",
    help = "When an existing certificate covers a strict subset of the requested names, "
      .. "replace it with one that has all of them." },
  { names = { "--version" }, type = "version", topic = "automation",
    help = "Print the version number and exit." },
  { names = { "--force-renewal", "--renew-by-default" }, dest = "renew_by_default",
    type = "flag", topic = "automation", also = { "renew" },
    help = "Renew the certificate for the requested names now, however far it is from "
      .. "expiry (--keep-until-expiring is usually the better choice). Implies --expand." },
  { names = { "--renew-with-new-domains" }, dest = "renew_with_new_domains", type = "flag",
    topic = "automation",
    help = "When the lineage named by --cert-name has different names than requested, "
      .. "renew it now with the new names, however far it is from expiry." },
  { names = { "--reuse-key" }, dest = "reuse_key", type = "flag", renewal = true,
    topic = "automation",
    help = "Keep the existing private key when renewing." },
  { names = { "--no-reuse-key" }, dest = "reuse_key", type = "flag_false",
    topic = "automation",
    help = "Make a new private key on every renewal (the default); clears --reuse-key "
      .. "on an existing lineage." },
  { names = { "--new-key" }, dest = "new_key", type = "flag", topic = "automation",
    also = { "update_account" },
    help = "Make a new private key for this renewal or replacement even when the lineage "
      .. "has --reuse-key; with --reuse-key too, the new key is kept from then on. With "
      .. "update_account: replace the account key (RFC 8555 key rollover) with a new key "
      .. "of --account-key-type, or of the current key's kind; the server stops accepting "
      .. "the old key, and the account ID, which Certbot derives from the key, changes "
      .. "with it (the account's directory and the lineages naming it follow)." },
  { names = { "--allow-subset-of-names" }, dest = "allow_subset_of_names", type = "flag",
    renewal = true, topic = "automation", also = { "renew", "certonly" },
    help = "Do not fail when some of the names cannot be validated: obtain a certificate "
      .. "for the ones that can. Handy when some names no longer point at this host. "
      .. "Not allowed with --csr." },
  { names = { "--agree-tos" }, dest = "tos", type = "flag", topic = "automation",
    default_text = "Ask",
    help = "Agree to the ACME server's subscriber agreement." },
  { names = { "--account" }, dest = "account", type = "string", metavar = "ACCOUNT_ID",
    renewal = true, topic = "automation",
    also = { "unregister", "update_account", "show_account", "run", "certonly" },
    help = "The ID of the account to use when the server has more than one (the names of "
      .. "the directories under <config-dir>/accounts/<server>/; show_account --json "
      .. "shows an account's ID). Without it, a terminal gets a menu and -n an error "
      .. "listing the IDs. An ID the account had before a key rollover still finds it." },
  { names = { "--duplicate" }, dest = "duplicate", type = "flag", topic = "automation",
    help = "Create a new lineage even though one with the same names exists (both are "
      .. "then renewed separately)." },
  { names = { "-q", "--quiet" }, dest = "quiet", type = "flag", topic = "automation",
    also = { "renew", "certonly", "run" },
    help = "Print nothing but errors; for cron jobs. Implies --non-interactive." },
  { names = { "--issuance-timeout" }, dest = "issuance_timeout", type = "int", min = 0,
    metavar = "ISSUANCE_TIMEOUT", default = 90, topic = "automation", also = RUN_CERTONLY,
    help = "Seconds to wait for the CA to finish issuing a certificate after the order "
      .. "is finalized." },
  { names = { "--register-unsafely-without-email" }, dest = "register_unsafely_without_email",
    type = "flag", topic = "register", also = { "automation" },
    help = "Create an account without an email address. Not recommended: if the account "
      .. "key is lost or stolen there is no way back into the account, and no "
      .. "warnings about expiry or revocation will reach you. Changes to the subscriber "
      .. "agreement still apply to you." },
  { names = { "--update-registration" }, dest = "update_registration", type = "flag",
    topic = "register", deprecated = "Use the update_account subcommand.",
    help = "Change the details of an existing account (e-mail address) instead of "
      .. "creating one. Replaced by the update_account subcommand." },
  { names = { "--account-key-type" }, dest = "account_key_type", type = "choice",
    choices = { "rsa", "ecdsa" }, metavar = "ACCOUNT_KEY_TYPE", topic = "register",
    also = { "update_account", "run", "certonly" }, default_text = "ecdsa",
    help = "Kind of key for a new account: ecdsa (P-256, signing with ES256) or rsa "
      .. "(--rsa-key-size bits, at least 2048, signing with RS256). With update_account "
      .. "--new-key, the kind of the replacement key." },
  { names = { "-m", "--email" }, dest = "email", type = "string", metavar = "EMAIL",
    topic = "register", also = { "update_account", "unregister", "automation" },
    default_text = "Ask",
    help = "Contact address for the account: the CA writes here about expiring or "
      .. "revoked certificates. Several addresses may be separated by commas." },
  { names = { "--eff-email" }, tristate = true, dest = "eff_email", type = "flag", topic = "register",
    also = { "update_account", "automation" }, default_text = "Ask",
    help = "Share your e-mail address with the EFF." },
  { names = { "--no-eff-email" }, tristate = true, dest = "eff_email", type = "flag_false", topic = "register",
    also = { "update_account", "automation" }, default_text = "Ask",
    help = "Do not share your e-mail address with the EFF." },
  { names = { "--os-packages-only" }, dest = "os_packages_only", type = "flag", noop = true,
    deprecated = true, topic = "automation",
    help = "certbot-auto only, retired: accepted and ignored." },
  { names = { "--no-self-upgrade" }, dest = "no_self_upgrade", type = "flag", noop = true,
    deprecated = true, topic = "automation",
    help = "certbot-auto only, retired: accepted and ignored." },
  { names = { "--no-bootstrap" }, dest = "no_bootstrap", type = "flag", noop = true,
    deprecated = true, topic = "automation",
    help = "certbot-auto only, retired: accepted and ignored." },
  { names = { "--no-permissions-check" }, dest = "no_permissions_check", type = "flag",
    noop = true, deprecated = true, topic = "automation",
    help = "certbot-auto only, retired: accepted and ignored." },

  -- security ----------------------------------------------------------
  { names = { "--rsa-key-size" }, dest = "rsa_key_size", type = "int", metavar = "N",
    default = 2048, renewal = true, topic = "security",
    help = "Size in bits of a new RSA key (with --key-type rsa)." },
  { names = { "--key-type" }, dest = "key_type", type = "choice", choices = { "rsa", "ecdsa" },
    default = "ecdsa", renewal = true, topic = "security",
    help = "Kind of private key to make for the certificate." },
  { names = { "--elliptic-curve" }, dest = "elliptic_curve", type = "choice",
    choices = { "secp256r1", "secp384r1", "secp521r1" }, metavar = "N",
    default = "secp256r1", renewal = true, topic = "security",
    help = "Curve of a new ECDSA key (with --key-type ecdsa): secp256r1, secp384r1 or "
      .. "secp521r1." },
  { names = { "--must-staple" }, dest = "must_staple", type = "flag", renewal = true,
    topic = "security",
    help = "Ask for the OCSP Must-Staple extension in the certificate, and turn on OCSP "
      .. "stapling where the installer supports it." },
  { names = { "--redirect" }, tristate = true, dest = "redirect", type = "flag", topic = "security",
    also = { "enhance" },
    default_text = "on for install and run, off for enhance",
    help = "Make the web server send every plain HTTP request to HTTPS for the names "
      .. "just installed." },
  { names = { "--no-redirect" }, tristate = true, dest = "redirect", type = "flag_false", topic = "security",
    default_text = "on for install and run, off for enhance",
    help = "Do not add the HTTP to HTTPS redirect." },
  { names = { "--hsts" }, dest = "hsts", type = "flag", topic = "security", also = { "enhance" },
    help = "Add a Strict-Transport-Security header to every response, so browsers keep "
      .. "to HTTPS for the name (a defence against SSL stripping)." },
  { names = { "--no-hsts" }, dest = "hsts", type = "flag_false", topic = "security", hidden = true,
    help = "Do not add the Strict-Transport-Security header." },
  { names = { "--uir" }, tristate = true, dest = "uir", type = "flag", topic = "security", also = { "enhance" },
    help = "Add a \"Content-Security-Policy: upgrade-insecure-requests\" header to every "
      .. "response, so browsers fetch http:// resources over https://." },
  { names = { "--no-uir" }, tristate = true, dest = "uir", type = "flag_false", topic = "security", hidden = true,
    help = "Do not add the upgrade-insecure-requests header." },
  { names = { "--staple-ocsp" }, tristate = true, dest = "staple", type = "flag", topic = "security",
    help = "Turn on OCSP stapling: the server sends a fresh OCSP response with its "
      .. "certificate during the TLS handshake." },
  { names = { "--no-staple-ocsp" }, tristate = true, dest = "staple", type = "flag_false", topic = "security",
    hidden = true, help = "Do not turn on OCSP stapling." },
  { names = { "--strict-permissions" }, dest = "strict_permissions", type = "flag",
    topic = "security",
    help = "Insist that every configuration file belongs to the current user; only "
      .. "useful when the configuration lives somewhere unsafe such as /tmp." },
  { names = { "--auto-hsts" }, dest = "auto_hsts", type = "flag", topic = "security",
    also = { "enhance" },
    help = "Add a Strict-Transport-Security header with a short max-age, and raise the "
      .. "max-age step by step on later renewals. Not allowed with --hsts." },
  { names = { "--required-profile" }, dest = "required_profile", type = "string",
    metavar = "REQUIRED_PROFILE", renewal = true, topic = "security",
    also = { "certonly", "renew", "run", "profiles" },
    help = "Ask the CA for this certificate profile (a name from its directory's "
      .. "meta.profiles; 'certbot profiles' lists them) and fail if it does not offer it. "
      .. "Stored for renewal; replaces a stored --preferred-profile." },
  { names = { "--preferred-profile" }, dest = "preferred_profile", type = "string",
    metavar = "PREFERRED_PROFILE", renewal = true, topic = "security",
    also = { "certonly", "renew", "run", "profiles" },
    help = "Ask the CA for this certificate profile when it offers it ('certbot profiles' "
      .. "lists them); otherwise say so and take the CA's default profile. Stored for "
      .. "renewal; replaces a stored --required-profile." },
  { names = { "--preferred-chain" }, dest = "preferred_chain", type = "string",
    metavar = "PREFERRED_CHAIN", renewal = true, topic = "security",
    also = { "certonly", "renew", "run" },
    help = "When the CA offers several chains, pick the one whose topmost certificate "
      .. "has this issuer Common Name (for example \"ISRG Root X1\"); if none matches, "
      .. "use the CA's default chain." },

  -- testing -----------------------------------------------------------
  { names = { "--test-cert", "--staging" }, dest = "staging", type = "flag", topic = "testing",
    also = { "revoke", "run" },
    help = "Obtain or revoke test (untrusted) certificates from the staging server; the "
      .. "same as --server " .. M.STAGING_SERVER },
  { names = { "--debug" }, dest = "debug", type = "flag", topic = "testing",
    help = "Show the full traceback when an error occurs." },
  { names = { "--no-verify-ssl" }, dest = "no_verify_ssl", type = "flag", topic = "testing",
    help = "Do not verify the TLS certificate of the ACME server (for test servers only)." },
  { names = { "--http-01-port" }, dest = "http01_port", type = "int", metavar = "HTTP01_PORT",
    default = 80, renewal = true, topic = "testing", also = { "standalone", "manual" },
    help = "Port Certbot listens on for the http-01 challenge. The CA still connects to "
      .. "port 80." },
  { names = { "--http-01-address" }, dest = "http01_address", type = "string",
    metavar = "HTTP01_ADDRESS", default = "", renewal = true, topic = "testing",
    also = { "standalone" },
    help = "Address Certbot listens on for the http-01 challenge. Empty: all addresses, "
      .. "IPv6 and IPv4 on one socket (\"::\"), or 0.0.0.0 on a host without IPv6." },
  { names = { "--https-port" }, dest = "https_port", type = "int", metavar = "HTTPS_PORT",
    default = 443, renewal = true, topic = "testing", also = { "nginx", "apache" },
    help = "Port the web server serves HTTPS on, for installers that need to know it. "
      .. "Stored for renewal when given." },
  { names = { "--tls-alpn-01-port" }, dest = "tls_alpn01_port", type = "int",
    metavar = "TLS_ALPN01_PORT", default = 443, renewal = true, topic = "testing",
    also = { "standalone" }, old_dest = "tls_sni_01_port",
    help = "Port Certbot listens on for the tls-alpn-01 challenge. The CA still connects "
      .. "to port 443." },
  { names = { "--tls-alpn-01-address" }, dest = "tls_alpn01_address", type = "string",
    metavar = "TLS_ALPN01_ADDRESS", default = "", renewal = true, topic = "testing",
    also = { "standalone" }, old_dest = "tls_sni_01_address",
    help = "Address Certbot listens on for the tls-alpn-01 challenge. Empty: all addresses, "
      .. "IPv6 and IPv4 on one socket (\"::\"), or 0.0.0.0 on a host without IPv6." },
  { names = { "--tls-sni-01-port" }, dest = "tls_alpn01_port", type = "int",
    metavar = "TLS_SNI_01_PORT", topic = "testing",
    deprecated = "It now sets --tls-alpn-01-port (tls-sni-01 was retired in 2019).",
    help = "Old name of --tls-alpn-01-port." },
  { names = { "--tls-sni-01-address" }, dest = "tls_alpn01_address", type = "string",
    metavar = "TLS_SNI_01_ADDRESS", topic = "testing",
    deprecated = "It now sets --tls-alpn-01-address (tls-sni-01 was retired in 2019).",
    help = "Old name of --tls-alpn-01-address." },
  { names = { "--break-my-certs" }, dest = "break_my_certs", type = "flag", topic = "testing",
    help = "Allow replacing or renewing valid certificates with test (staging) ones." },
  { names = { "--no-random-sleep-on-renew" }, dest = "random_sleep_on_renew",
    type = "flag_false", default = true, topic = "renew", hidden = true,
    help = "Do not sleep a random while before a non-interactive renew." },
  { names = { "--max-parallel" }, dest = "max_parallel", type = "int", min = 1,
    metavar = "N", default = 4, topic = "renew",
    help = "Renew up to N (at most 64) lineages at the same time, each in its own process (output "
      .. "lines start with [lineage name]); 1 renews them one after the other. Pre hooks "
      .. "still run once before the first renewal and post hooks once after the last. "
      .. "Lineages that cannot share a moment run one at a time: standalone ones on the "
      .. "same port, lineages with a name in common, and those of installers such as "
      .. "nginx and apache (renewed in the main process). Lineages renewed in parallel "
      .. "cannot ask questions: they behave as under -n." },
  { names = { "--renew-worker" }, dest = "renew_worker", type = "flag", topic = "renew",
    hidden = true,
    help = "Internal: renew the one lineage of --cert-name for a parallel renew, which "
      .. "passes its lock and a result channel as descriptors 3 and 4." },

  -- paths -------------------------------------------------------------
  { names = { "--cert-path" }, dest = "cert_path", type = "path", metavar = "CERT_PATH",
    abspath = true, topic = "paths", also = { "install", "revoke", "certonly", "manage" },
    help = "Where the certificate is written (certonly --csr), installed from, or revoked." },
  { names = { "--key-path" }, dest = "key_path", type = "path", metavar = "KEY_PATH",
    abspath = true, topic = "paths", also = { "install", "revoke" },
    help = "The private key to install, or to revoke with when there is no account key." },
  { names = { "--fullchain-path" }, dest = "fullchain_path", type = "path",
    metavar = "FULLCHAIN_PATH", abspath = true, topic = "paths", also = { "install" },
    help = "The full chain file that goes with the certificate (certificate then chain)." },
  { names = { "--chain-path" }, dest = "chain_path", type = "path", metavar = "CHAIN_PATH",
    abspath = true, topic = "paths", also = { "install" },
    help = "The chain file that goes with the certificate." },
  { names = { "--config-dir" }, dest = "config_dir", type = "path", metavar = "CONFIG_DIR",
    default = "/etc/letsencrypt", abspath = true, renewal = true, topic = "paths",
    help = "Configuration directory: accounts, certificates and renewal confs." },
  { names = { "--work-dir" }, dest = "work_dir", type = "path", metavar = "WORK_DIR",
    default = "/var/lib/letsencrypt", abspath = true, renewal = true, topic = "paths",
    help = "Working directory for temporary state and backups." },
  { names = { "--logs-dir" }, dest = "logs_dir", type = "path", metavar = "LOGS_DIR",
    default = "/var/log/letsencrypt", abspath = true, renewal = true, topic = "paths",
    help = "Directory for log files." },
  { names = { "--server" }, dest = "server", type = "string", metavar = "SERVER",
    default = M.DEFAULT_SERVER, renewal = true, topic = "paths",
    help = "URL of the ACME server's directory resource." },
  { names = { "--plugin-dir" }, dest = "plugin_dir", type = "list", action = "plugin_dir",
    metavar = "PLUGIN_DIR", renewal = true, topic = "paths", also = { "plugins" },
    help = "Also load third-party plugins (Lua files, see docs/plugins.md) from this "
      .. "directory, before those in <config-dir>/plugins. Give it several times for "
      .. "several directories. A directory or file that group or others may write, or "
      .. "(as root) not owned by root, is refused. Renewal looks here again." },

  -- subcommand options --------------------------------------------------
  { names = { "--csr" }, dest = "csr", type = "path", metavar = "CSR", topic = "certonly",
    help = "Use this certificate signing request (DER or PEM) instead of making a key "
      .. "and a CSR. Only certonly accepts it." },
  { names = { "--pre-hook" }, dest = "pre_hook", type = "string", metavar = "PRE_HOOK",
    renewal = true, topic = "renew", also = { "reconfigure" },
    help = "Shell command to run before any certificate is obtained, for example to "
      .. "stop a web server that holds the port the standalone plugin needs. It runs "
      .. "only when a certificate is really about to be obtained or renewed, and once "
      .. "per distinct command when several lineages share it. Unless "
      .. "--disable-hook-validation is given, its first word must be an absolute path "
      .. "or a program on PATH." },
  { names = { "--post-hook" }, dest = "post_hook", type = "string", metavar = "POST_HOOK",
    renewal = true, topic = "renew", also = { "reconfigure" },
    help = "Shell command to run after certificates were obtained or renewed (or the "
      .. "attempt failed), for example to start the servers stopped by --pre-hook. It "
      .. "runs only when an attempt was made, and once per distinct command. Unless "
      .. "--disable-hook-validation is given, its first word must be an absolute path "
      .. "or a program on PATH." },
  { names = { "--deploy-hook" }, dest = "renew_hook", type = "string", action = "deploy_hook",
    metavar = "DEPLOY_HOOK", topic = "renew", also = { "reconfigure" },
    help = "Shell command to run once for every certificate successfully obtained. "
      .. "$RENEWED_LINEAGE holds its live directory (such as "
      .. "/etc/letsencrypt/live/example.com) and $RENEWED_DOMAINS its names, separated "
      .. "by spaces. Unless --disable-hook-validation is given, its first word must be "
      .. "an absolute path or a program on PATH." },
  { names = { "--renew-hook" }, dest = "renew_hook", type = "string", action = "renew_hook",
    metavar = "RENEW_HOOK", renewal = true, topic = "renew", also = { "reconfigure" },
    help = "Like --deploy-hook, but runs for renewals only, not for the first issuance." },
  { names = { "--disable-hook-validation" }, dest = "validate_hooks", type = "flag_false",
    default = true, topic = "renew",
    help = "Do not check hook commands before using them. Normally the first word of "
      .. "--pre-hook, --post-hook and --deploy-hook must name a program that exists, "
      .. "so mistakes show up early; that simple check fails on elaborate shell "
      .. "constructs, which this turns it off for." },
  { names = { "--no-directory-hooks" }, dest = "directory_hooks", type = "flag_false",
    default = true, topic = "renew",
    help = "Do not run the executables in the renewal-hooks directories." },
  { names = { "--disable-renew-updates" }, dest = "disable_renew_updates", type = "flag",
    topic = "renew",
    help = "Do not let the installer update the server configuration on every "
      .. "'certbot renew' (important TLS updates still apply)." },
  { names = { "--no-autorenew" }, dest = "autorenew", type = "flag_false", default = true,
    renewal = true, topic = "renew",
    help = "Leave this certificate out of automatic renewal." },
  { names = { "--reason" }, dest = "reason", type = "choice", action = "reason",
    choices = { "keycompromise", "affiliationchanged", "superseded", "unspecified",
      "cessationofoperation" },
    default = 0, default_text = "unspecified", topic = "revoke",
    help = "Why the certificate is being revoked (case does not matter)." },
  { names = { "--delete-after-revoke" }, tristate = true, dest = "delete_after_revoke", type = "flag",
    topic = "revoke", default_text = "Ask",
    help = "After revoking, delete the certificate's lineage with every version of it." },
  { names = { "--no-delete-after-revoke" }, tristate = true, dest = "delete_after_revoke", type = "flag_false",
    topic = "revoke", default_text = "Ask",
    help = "After revoking, keep the lineage. Careful: 'renew' will then try to renew "
      .. "the revoked certificate." },
  { names = { "--json" }, dest = "json", type = "flag", topic = "manage",
    also = { "certificates", "show_account", "renew" },
    help = "Print one JSON object on standard output instead of the text, for programs "
      .. "(certificates, show_account and renew only). Field names are stable and "
      .. "documented in docs/json.md: certificates gives format_version, "
      .. "certificates[] (name, serial, key_type, domains, ip_addresses, not_after, status, "
      .. "test_cert, version, paths, renewal_conf, account, server, authenticator, "
      .. "installer) and invalid[]; show_account gives format_version, server and account "
      .. "(id, url, status, thumbprint, key, contact, emails, created_at, certificates); "
      .. "renew gives format_version, dry_run, renewed[], not_due[], failed[] and "
      .. "parse_failures[], and sends every message meant for people to standard error. "
      .. "Times are ISO 8601 in UTC (2025-01-31T12:00:00Z). Exit codes do not change." },
  { names = { "--num" }, dest = "num", type = "int", metavar = "NUM", topic = "config_changes",
    help = "How many past changes to show." },
  { names = { "--checkpoints" }, dest = "checkpoints", type = "int", metavar = "N",
    default = 1, min = 0, topic = "rollback",
    help = "How many checkpoints of configuration changes to undo." },
  { names = { "--init" }, dest = "init", type = "flag", topic = "plugins",
    help = "Initialize the plugins." },
  { names = { "--prepare" }, dest = "prepare", type = "flag", topic = "plugins",
    help = "Initialize the plugins and get them ready for use." },
  { names = { "--authenticators" }, dest = "ifaces", type = "append_const",
    const = "authenticator", topic = "plugins",
    help = "List authenticator plugins only." },
  { names = { "--installers" }, dest = "ifaces", type = "append_const",
    const = "installer", topic = "plugins",
    help = "List installer plugins only." },

  -- plugin selection --------------------------------------------------
  { names = { "--configurator" }, dest = "configurator", type = "string",
    metavar = "CONFIGURATOR", topic = "plugins", default_text = "Ask",
    help = "Name of a plugin that both authenticates and installs. Do not combine with "
      .. "--authenticator or --installer." },
  { names = { "-a", "--authenticator" }, dest = "authenticator", type = "string",
    metavar = "AUTHENTICATOR", renewal = true, topic = "plugins",
    help = "Name of the authenticator plugin." },
  { names = { "-i", "--installer" }, dest = "installer", type = "string", metavar = "INSTALLER",
    renewal = true, topic = "plugins",
    help = "Name of the installer plugin (which also finds the domain names)." },
}

------------------------------------------------------------------------
-- Indexes, built on first use and dropped when the table changes.
------------------------------------------------------------------------

local index -- { long = {}, short = {}, dest = {}, topic = {}, longs = {sorted} }

local function canonical_long(e)
  for _, n in ipairs(e.names) do
    if n:sub(1, 2) == "--" then return n end
  end
  return e.names[1]
end

local function index_entry(x, e)
  e.long = e.long or canonical_long(e)
  for _, n in ipairs(e.names) do
    if n:sub(1, 2) == "--" then
      x.long[n] = e
      x.longs[#x.longs + 1] = n
      x.sorted = false
    else
      x.short[n:sub(2, 2)] = e
    end
  end
  if e.dest then
    local l = x.dest[e.dest]
    if not l then
      l = {}
      x.dest[e.dest] = l
    end
    l[#l + 1] = e
  end
end

local function build_index()
  local x = { long = {}, short = {}, dest = {}, longs = {}, topics = {}, sorted = false }
  for _, e in ipairs(M.list) do index_entry(x, e) end
  for _, t in ipairs(M.topic_list) do x.topics[t.key] = t end
  index = x
  return x
end

local function ix() return index or build_index() end

-- Drop the indexes (after the table was changed by hand).
function M.invalidate() index = nil end

-- by_long("--domains") or by_long("domains") -> entry | nil
function M.by_long(name)
  if name:sub(1, 2) ~= "--" then name = "--" .. name end
  return ix().long[name]
end

-- by_short("d") or by_short("-d") -> entry | nil
function M.by_short(letter)
  if #letter == 2 and letter:sub(1, 1) == "-" then letter = letter:sub(2) end
  return ix().short[letter]
end

-- by_dest("reuse_key") -> the first entry with that dest | nil, and the list
-- of all entries sharing it (--reuse-key, --no-reuse-key).
function M.by_dest(dest)
  local l = ix().dest[dest]
  if not l then return nil end
  return l[1], l
end

-- resolve_long("--pref") -> entry, full name | nil, message
-- An exact name wins; otherwise a prefix must point at one entry.
function M.resolve_long(name)
  local x = ix()
  local e = x.long[name]
  if e then return e, name end
  if not x.sorted then
    table.sort(x.longs)
    x.sorted = true
  end
  local cands, seen, first = {}, {}, nil
  -- longs is sorted: binary search for the first name >= prefix
  local lo, hi = 1, #x.longs + 1
  while lo < hi do
    local mid = (lo + hi) // 2
    if x.longs[mid] < name then lo = mid + 1 else hi = mid end
  end
  for i = lo, #x.longs do
    local n = x.longs[i]
    if n:sub(1, #name) ~= name then break end
    local ent = x.long[n]
    cands[#cands + 1] = n
    if not seen[ent] then
      seen[ent] = true
      first = first or { ent, n }
    end
  end
  if not first then return nil, "unrecognized arguments: " .. name end
  local distinct = 0
  for _ in pairs(seen) do distinct = distinct + 1 end
  if distinct > 1 then
    local shown = cands
    if #cands > 10 then
      shown = table.move(cands, 1, 10, 1, {})
      shown[11] = "... (" .. (#cands - 10) .. " more)"
    end
    return nil, "ambiguous option: " .. name .. " could match " .. table.concat(shown, ", ")
  end
  return first[1], first[2]
end

-- Every entry whose value renew stores in [renewalparams], one per dest.
function M.renewal_options()
  local out, seen = {}, {}
  for _, e in ipairs(M.list) do
    if e.renewal and e.dest and not seen[e.dest] then
      seen[e.dest] = true
      out[#out + 1] = e
    end
  end
  return out
end

-- The topics in --help all order: the fixed groups, the subcommands,
-- plugin selection, then one per plugin, sorted by name.
function M.topics()
  return M.topic_list
end

function M.topic(key)
  return ix().topics[key]
end

-- subcommand("auth") -> the certonly record | nil
function M.subcommand(name)
  for _, sc in ipairs(M.subcommands) do
    if sc.name == name then return sc end
    for _, a in ipairs(sc.aliases or {}) do
      if a == name then return sc end
    end
  end
  return nil
end

-- Entries listed under a topic (primary or also), in table order.
function M.in_topic(key, primary_only)
  local out = {}
  for _, e in ipairs(M.list) do
    local hit = e.topic == key
    if not hit and not primary_only and e.also then
      for _, t in ipairs(e.also) do
        if t == key then hit = true break end
      end
    end
    if hit then out[#out + 1] = e end
  end
  return out
end

------------------------------------------------------------------------
-- Plugin options.
------------------------------------------------------------------------

local VALID_TYPES = {
  flag = true, flag_false = true, string = true, path = true, int = true, float = true,
  bool = true, list = true, count = true, choice = true, append_const = true,
}

-- register(plugin_name, specs[, info]) -> true | nil, err
--
-- specs: array of option specs.  Each has `name` ("credentials" becomes
-- --<plugin>-credentials with dest <plugin_>_credentials, Certbot's naming),
-- or explicit `names` (and then `dest`); plus the entry fields described at
-- the top of this file.  Plugin options are stored in the renewal conf
-- unless the spec says renewal = false.
-- info: { title, description, selector = "help for --<plugin>" } adds the
-- plugin's help topic and, with `selector`, a --<plugin> selection flag.
function M.register(plugin, specs, info)
  if type(plugin) ~= "string" or not plugin:match("^[%w][%w%-_]*$") then
    return nil, "plugin name must be a word: " .. tostring(plugin)
  end
  info = info or {}
  local prefix = plugin:gsub("[%-]", "_")
  local x = ix()
  local new, names = {}, {}
  local function claim(n)
    local taken = names[n] or (n:sub(1, 2) == "--" and x.long[n])
      or (#n == 2 and n:sub(1, 1) == "-" and x.short[n:sub(2, 2)])
    if taken or not n:match("^%-") then
      return nil, "plugin '" .. plugin .. "': option " .. n .. " is already defined or malformed"
    end
    names[n] = true
    return true
  end
  if info.selector then
    local n = "--" .. plugin
    local ok, err = claim(n)
    if not ok then return nil, err end
    local also = { plugin }
    for _, t in ipairs(info.selector_topics or { "certonly" }) do also[#also + 1] = t end
    new[#new + 1] = { names = { n }, dest = prefix, type = "flag", topic = "plugins",
      also = also, help = info.selector, selector = plugin }
  end
  for i, s in ipairs(specs or {}) do
    local e = {}
    for k, v in pairs(s) do e[k] = v end
    if e.names then
      if not e.dest then
        return nil, "plugin '" .. plugin .. "': option " .. tostring(e.names[1])
          .. " has explicit names but no dest"
      end
    else
      if type(e.name) ~= "string" or e.name == "" then
        return nil, "plugin '" .. plugin .. "': option #" .. i .. " has no name"
      end
      e.names = { "--" .. plugin .. "-" .. e.name }
      e.dest = e.dest or (prefix .. "_" .. e.name:gsub("%-", "_"))
    end
    e.type = e.type or "string"
    if not VALID_TYPES[e.type] then
      return nil, "plugin '" .. plugin .. "': option " .. e.names[1] .. " has unknown type " .. tostring(e.type)
    end
    if e.type == "choice" and type(e.choices) ~= "table" then
      return nil, "plugin '" .. plugin .. "': option " .. e.names[1] .. " lacks choices"
    end
    for _, n in ipairs(e.names) do
      local ok, err = claim(n)
      if not ok then return nil, err end
    end
    e.topic = e.topic or plugin
    e.plugin = plugin
    if e.renewal == nil and not e.noop then e.renewal = true end
    new[#new + 1] = e
  end
  -- all checks passed: commit
  if not x.topics[plugin] then
    local t = { key = plugin, title = plugin, description = info.description or info.title,
      plugin = plugin }
    -- plugin topics stay sorted by name after the fixed ones
    local pos = #M.topic_list + 1
    for j, other in ipairs(M.topic_list) do
      if other.plugin and other.key > plugin then pos = j break end
    end
    table.insert(M.topic_list, pos, t)
    x.topics[plugin] = t
  end
  for _, e in ipairs(new) do
    M.list[#M.list + 1] = e
    index_entry(x, e)
  end
  return true
end

------------------------------------------------------------------------
-- Built-in plugins.  Each call below is what the plugin file will pass to
-- options.register once the plugin owns its options.
------------------------------------------------------------------------

local function builtin(name, specs, info)
  assert(M.register(name, specs, info))
end

builtin("apache", {
  { name = "enmod", metavar = "APACHE_ENMOD", default = "a2enmod",
    help = "Path of the a2enmod program that enables Apache modules." },
  { name = "dismod", metavar = "APACHE_DISMOD", default = "a2dismod",
    help = "Path of the a2dismod program that disables Apache modules." },
  { name = "le-vhost-ext", metavar = "APACHE_LE_VHOST_EXT", default = "-le-ssl.conf",
    help = "Suffix of the file name of the TLS virtual host Certbot creates." },
  { name = "server-root", type = "path", metavar = "APACHE_SERVER_ROOT", default = "/etc/apache2",
    help = "Root directory of the Apache configuration." },
  { name = "vhost-root", type = "path", metavar = "APACHE_VHOST_ROOT",
    default = "/etc/apache2/sites-available",
    help = "Directory that holds the VirtualHost configuration files." },
  { name = "logs-root", type = "path", metavar = "APACHE_LOGS_ROOT", default = "/var/log/apache2",
    help = "Directory of the Apache logs." },
  { name = "challenge-location", type = "path", metavar = "APACHE_CHALLENGE_LOCATION",
    default = "/etc/apache2",
    help = "Directory where the configuration for challenges is written." },
  { name = "handle-modules", type = "bool", metavar = "APACHE_HANDLE_MODULES", default = true,
    help = "Let the installer enable the Apache modules it needs (Debian and Ubuntu)." },
  { name = "handle-sites", type = "bool", metavar = "APACHE_HANDLE_SITES", default = true,
    help = "Let the installer enable the sites it creates (Debian and Ubuntu)." },
  { name = "ctl", metavar = "APACHE_CTL", default = "apache2ctl",
    help = "Path of apache2ctl, used to test the configuration and reload Apache." },
  { name = "bin", metavar = "APACHE_BIN",
    help = "Path of the apache2 binary, when it is not found on PATH." },
}, { title = "Apache Web Server plugin",
  description = "Apache Web Server plugin: obtains and installs certificates through the "
    .. "Apache configuration (needs libaugeas).",
  selector = "Obtain and install certificates with Apache.",
  selector_topics = { "certonly", "run", "install" } })

builtin("nginx", {
  { name = "server-root", type = "path", metavar = "NGINX_SERVER_ROOT", default = "/etc/nginx",
    help = "Root directory of the nginx configuration." },
  { name = "ctl", metavar = "NGINX_CTL", default = "nginx",
    help = "Path of the nginx program, used to test the configuration and to learn "
      .. "its version." },
  { name = "sleep-seconds", type = "int", min = 0, metavar = "NGINX_SLEEP_SECONDS", default = 1,
    help = "Seconds to wait after reloading nginx before the CA is asked to validate." },
}, { title = "Nginx Web Server plugin",
  description = "Nginx Web Server plugin: obtains and installs certificates through the "
    .. "nginx configuration.",
  selector = "Obtain and install certificates with nginx.",
  selector_topics = { "certonly", "run", "install" } })

builtin("standalone", {
  { names = { "--standalone-supported-challenges" }, dest = "pref_challs", type = "list",
    action = "pref_challs", metavar = "STANDALONE_SUPPORTED_CHALLENGES", renewal = false,
    deprecated = "Use --preferred-challenges.",
    help = "Old way of choosing the challenges standalone answers; now the same as "
      .. "--preferred-challenges." },
}, { title = "Standalone plugin",
  description = "Runs a temporary web server of its own to answer http-01 or tls-alpn-01 "
    .. "challenges; the port it needs must be free.",
  selector = "Obtain certificates with a temporary web server of Certbot's own." })

builtin("manual", {
  { name = "auth-hook", metavar = "MANUAL_AUTH_HOOK",
    help = "Program or shell command that sets up a challenge." },
  { name = "cleanup-hook", metavar = "MANUAL_CLEANUP_HOOK",
    help = "Program or shell command that removes a challenge afterwards." },
  { name = "public-ip-logging-ok", type = "flag", noop = true, renewal = false,
    deprecated = true,
    help = "Retired: public IP addresses are no longer logged; accepted and ignored." },
}, { title = "Manual plugin",
  description = "Validates names through steps you carry out by hand, or through scripts. "
    .. "The auth script sees $CERTBOT_DOMAIN (the name being validated), "
    .. "$CERTBOT_VALIDATION (the value to publish, http-01 and dns-01), $CERTBOT_TOKEN (the "
    .. "file name, http-01 only), $CERTBOT_REMAINING_CHALLENGES and $CERTBOT_ALL_DOMAINS; "
    .. "for tls-alpn-01, $CERTBOT_CERT_PATH and $CERTBOT_KEY_PATH (the challenge certificate "
    .. "and its key, removed afterwards) and $CERTBOT_SNI_DOMAIN (the server name to present "
    .. "them for, with ALPN \"acme-tls/1\"). The cleanup script also sees "
    .. "$CERTBOT_AUTH_OUTPUT, what the auth script printed.",
  selector = "Obtain certificates by following instructions by hand, or with scripts." })

builtin("webroot", {
  { names = { "--webroot-path", "-w" }, dest = "webroot_path", type = "list",
    action = "webroot_path", metavar = "WEBROOT_PATH", default = {}, default_text = "Ask",
    help = "Document root of the web site (public_html). Give it several times for sites "
      .. "with different roots: each name uses the -w that came before its -d, as in "
      .. "-w /var/www/example -d example.com -d www.example.com -w /var/www/other "
      .. "-d other.net." },
  { name = "map", type = "string", action = "webroot_map", metavar = "WEBROOT_MAP",
    default = {}, default_text = "{}",
    help = "JSON object mapping names (or comma-separated lists of names) to document "
      .. "roots, e.g. '{\"example.com,www.example.com\": \"/var/www/ex\"}'; each name also "
      .. "counts as a -d. Merged with -w/-d pairs and wins over them. In a config file "
      .. "keep it on one line." },
}, { title = "Webroot plugin",
  description = "Proves control of a name by writing files under the document root of "
    .. "the web server already running.",
  selector = "Obtain certificates by writing files into a web server's document root." })

builtin("null", {}, { title = "Null installer",
  description = "An installer that does nothing." })

-- DNS plugins: name, provider, propagation default, credentials?
local dns = {
  { "cloudflare", "Cloudflare", 10, true },
  { "cloudxns", "CloudXNS", 30, true },
  { "digitalocean", "DigitalOcean", 10, true },
  { "dnsimple", "DNSimple", 30, true },
  { "google", "Google Cloud DNS", 60, true },
  { "linode", "Linode", 120, true },
  { "luadns", "LuaDNS", 30, true },
  { "nsone", "NS1", 30, true },
  { "rfc2136", "an RFC 2136 dynamic update server such as BIND", 60, true },
  { "route53", "Amazon Route 53", 10, false },
}

for _, d in ipairs(dns) do
  local id, provider, secs, creds = d[1], d[2], d[3], d[4]
  local up = ("DNS_" .. id):upper()
  local specs = {
    { name = "propagation-seconds", type = "int", min = 0, default = secs,
      metavar = up .. "_PROPAGATION_SECONDS",
      help = "Seconds to wait for the TXT record to reach every DNS server before the "
        .. "CA is asked to check it." },
  }
  if creds then
    specs[#specs + 1] = { name = "credentials", type = "path", abspath = true,
      metavar = up .. "_CREDENTIALS",
      help = id == "google"
        and "JSON key file of a Google Cloud service account allowed to change the zone "
          .. "(optional on Google Compute Engine, where the instance's account is used)."
        or (id == "rfc2136" and "RFC 2136" or provider) .. " credentials INI file." }
  end
  if id == "google" then
    specs[#specs + 1] = { name = "project", metavar = "DNS_GOOGLE_PROJECT",
      help = "Google Cloud project that owns the zone (default: the one the credentials "
        .. "belong to)." }
  end
  if id == "route53" then
    specs[#specs + 1] = { names = { "--certbot-route53:auth-propagation-seconds" },
      dest = "dns_route53_propagation_seconds", type = "int", min = 0, renewal = false,
      metavar = "CERTBOT_ROUTE53:AUTH_PROPAGATION_SECONDS",
      deprecated = "Use --dns-route53-propagation-seconds.",
      help = "Old name of --dns-route53-propagation-seconds." }
  end
  if id == "cloudxns" then
    builtin("dns-" .. id, specs, { title = "dns-" .. id,
      description = "CloudXNS has shut down its DNS service: this plugin can no longer obtain "
        .. "certificates, and selecting it fails with a message. Its options are still "
        .. "accepted so that existing configurations keep parsing.",
      selector = "CloudXNS has shut down: this plugin can no longer obtain certificates." })
  else
    builtin("dns-" .. id, specs, { title = "dns-" .. id,
      description = "Proves control of a name with a DNS TXT record, through the API of "
        .. provider .. ".",
      selector = "Obtain certificates with a DNS TXT record, if your DNS is at " .. provider .. "." })
  end
end

return M
