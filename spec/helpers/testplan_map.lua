-- spec/helpers/testplan_map.lua: where each case of TESTPLAN groups D-K
-- (../shared/TESTPLAN.md) is tested, for docs/reliability.md.  One entry
-- per case id, in TESTPLAN's order: { id, "file: \"it() title\"; ..." },
-- the main places only; a case that does not apply says why.  Titles are
-- exact, so `busted --list FILE | grep -F TITLE` finds each test.  Specs
-- tagged #faults run only in `make test-faults`.
local G = "spec/integration/testplan_gaps_spec.lua"
local U = "spec/testplan_gaps_spec.lua"
local F = "spec/integration/faults_spec.lua"

local function t(file, ...)
  local titles = {}
  for i, title in ipairs({ ... }) do titles[i] = '"' .. title .. '"' end
  return file .. ": " .. table.concat(titles, ", ")
end

local function all(...) return table.concat({ ... }, "; ") end

return {
  { "D1", all(t(G, "D1: PEBBLE_WFE_NONCEREJECT=50: certonly issues, retrying each request at most 15 times"),
    t("spec/http_spec.lua", "retries badNonce at most max_bad_nonce times")) },
  { "D1b", t(G, "D1b: PEBBLE_WFE_NONCEREJECT=99: exit 1 naming badNonce after 1 + 15 tries of a request, "
    .. "within 30 s") },
  { "D2", all(t(G, "D2: PEBBLE_WFE_NONCEREJECT=20: every ACME-facing subcommand succeeds"),
    "`make test-nonce` runs every Pebble spec with 20 % of nonces rejected (296 passed, 2026-12-01)") },
  { "D3", t(G, "D3: PEBBLE_AUTHZREUSE=100: the second order issues with no responder and no validation") },
  { "D4", t(G, "D4: PEBBLE_AUTHZREUSE=0: every order performs its challenge") },
  { "D5", t(G, "D5: Pebble's VA sleeping up to 5 s: issued, with at most wait / 0.25 s + 2 polls",
    "D5: an authorization answered with Retry-After: 1 is polled 1 s apart") },
  { "D6", t(G, "D6: PEBBLE_CHAIN_LENGTH=3: chain.pem holds 3 certificates in issuing order and verifies") },
  { "D7", t("spec/integration/certonly_spec.lua", "picks the chain named by --preferred-chain, else the default") },
  { "D8", t(F, "retries newOrder after two 500s, backing off, and issues",
    "gives up after the configured retries and time when the 500s go on") },
  { "D9", t(F, "waits the seconds form out, and issues", "waits the HTTP-date form out, and issues",
    "does not sit out a Retry-After beyond the cap in process") },
  { "D10", t(F, "records A's retry time without sleeping, renews B, skips A next time, and a flag forces it") },
  { "D11", t(F, "gives up on a server that accepts the connection and never answers",
    "gives up on a server that reads the request and never answers",
    "gives up on a body that stalls after the headers") .. " (#faults: 60 s request timeout)" },
  { "D12", all(t(F, "fails on malformed JSON with one line", "fails on truncated JSON with one line",
    "fails on the wrong Content-Type with one line", "fails on JSON of the wrong type with one line",
    "fails on a missing Location with one line"),
    "ASan: the fuzz_acme target; the specs under `make asan SAN_INTEGRATION=" .. F .. "`") },
  { "D13", t(F, "aborts a 200 MiB JSON body at the cap, in little memory",
    "aborts an endless chunked body at the cap, in little memory",
    "aborts a 1 MiB header line at the cap, in little memory") },
  { "D14", t(F, "refuses an http:// Location", "refuses http:// authorization URLs", "refuses an http:// finalize URL",
    "refuses an http:// certificate URL") },
  { "D15", t(F, "gives up at the issuance deadline") .. " (--issuance-timeout 6 for Certbot's 90 s)" },
  { "D16", t(G, "D16: an unreachable address or SERVFAIL: authz invalid, Pebble's detail shown, cleanup ran") },
  { "D17", t(G, "D17: a domain on Pebble's domainBlocklist: rejectedIdentifier shown, nothing written") },

  { "E1", all(t("spec/main_spec.lua", "names file and line of a bad line, and the unknown key"),
    t("spec/config_spec.lua", "reports a bad value with file and line")) },
  { "E2", all(t("spec/main_spec.lua", "names file and line of a bad line, and the unknown key"),
    t("spec/config_spec.lua", "reports an unknown key with file and line, exit 2")) },
  { "E3", all(t(G, "E3: renew with a garbage conf and one lacking privkey renews the due lineage, 2 parse failures"),
    t("spec/integration/renew_spec.lua", "skips a broken renewal conf, renews the rest and reports both")) },
  { "E4", all(t(G, "E4: a renewal conf whose cert or archive_dir points outside the config dir: broken, skipped, "
    .. "nothing outside opened", "E4: live symlinks that point outside archive/L: broken, skipped, nothing outside "
    .. "opened"), t("spec/storage_spec.lua", "refuses a conf whose cert path points outside live/NAME",
    "refuses an archive_dir that points elsewhere")) },
  { "E5", all(t(G, "E5: authenticator = ../../tmp/evilplug in a renewal conf: parse failure, no such file looked at",
    "E5: an unknown installer in a renewal conf: parse failure, nothing renewed, nothing outside loaded"),
    t("spec/renewal_spec.lua", "refuses a malformed plugin name unless plugins were chosen on the command line")) },
  { "E6", all(t(U, "E6: --cert-name a/b, .., ., -x, empty, with a newline or a NUL: exit 1 or 2 naming it, "
    .. "nothing created"), t("spec/names_spec.lua", "refuses what could leave its directory or confuse a tool")) },
  { "E7", all(t(U, "E7: bad -d values are refused before any request, naming the value as enforce_domain_sanity "
    .. "does"), t(G, "E7: X.EXAMPLE. is normalised to lowercase without the dot, in the lineage and the certificate"),
    "spec/names_spec.lua: describe \"domain (enforce_domain_sanity)\"") },
  { "E8", all(t(U, "E8: bücher.example: Certbot's 'use Punycode' error, exit 1, no file named with it"),
    t("spec/names_spec.lua", "refuses IDNs with a message about Punycode")) },
  { "E9", all(t(F, "refuses every hostile token with webroot before anything touches it",
    "refuses every hostile token with standalone before anything touches it",
    "refuses every hostile token with manual before anything touches it") .. " (#faults)",
    t("spec/names_spec.lua", "refuses anything else, quoting it on one line")) },
  { "E10", all(t(G, "E10: a wildcard with standalone or webroot: the dns-01 error before any request to the CA"),
    t("spec/integration/rfc2136_spec.lua", "issues a wildcard certificate; the records are in BIND during "
      .. "validation, gone afterwards")) },

  { "F1", all(t("spec/standalone_spec.lua", "answers 431 to a head over 8 KiB and closes",
    "closes a connection sending 10000 headers", "answers 400 to bytes that are not HTTP, at once"),
    t(G, "F1: hostile requests to the http-01 responder are closed with 400/431 while Pebble validates")) },
  { "F2", all(t("spec/integration/standalone_flood_spec.lua", "http-01", "tls-alpn-01"),
    t("spec/standalone_spec.lua", "survives slowloris: closes each connection at its deadline, still serves")) },
  { "F3", t("spec/standalone_spec.lua", "gives 404 for anything but the exact challenge path",
    "gives 405 with Allow for other methods", "makes no filesystem syscalls on its thread (strace)")
    .. " (HEAD of the token's path is answered as GET is, without a body)" },
  { "F4", all(t("spec/tlsalpn_spec.lua", "never serves the certificate without ALPN acme-tls/1",
    "fails the handshake with unrecognized_name for an unknown or missing SNI",
    "serves the challenge certificate for SNI + ALPN acme-tls/1, with the right extension"),
    t("spec/integration/tlsalpn_spec.lua", "issues for one name via tls-alpn-01 and renews the same way")) },
  { "F5", all(t(G, "F5: the http-01 port in use: exit 1 naming address:port, and the post hook still runs"),
    t("spec/integration/certonly_spec.lua", "fails cleanly when the standalone port is taken")) },
  { "F6", all(t(G, "F6: --http-01-address 127.0.0.2: only that address is bound while Pebble validates"),
    t("spec/standalone_spec.lua", "binds only the address asked for")) },

  { "G1", all(t(G, "G1: a --config-dir with spaces, ;, $(...) and backticks reaches hooks literally, runs nothing"),
    t("spec/hooks_spec.lua", "passes values with shell metacharacters literally")) },
  { "G2", all(t(F, "refuses every hostile token with manual before anything touches it") .. " (#faults)",
    t(F, "passes a hostile problem detail on as text, never through a shell",
      "refuses an authorization for a name it did not ask for")) },
  { "G3", all(t(G, "G3: pre and deploy hooks exiting 3: warnings name them and the code, renewals go on, exit 0"),
    t("spec/hooks_spec.lua", "returns false and the code for a failure, showing stderr")) },
  { "G4", all(t("spec/integration/renew_spec.lua", "runs pre and post hooks once and the deploy hook per renewed "
    .. "lineage"), t("spec/hooks_spec.lua", "lists executable files in byte order, skipping backups, other files "
    .. "and directories")) },
  { "G5", t(G, "G5: a pre hook both on the command line and in renewal-hooks/pre runs once for 3 due lineages") },
  { "G6", t(G, "G6: 1 lineage renewed and 600 names (> 16 KiB) failed reach the post hook unswapped") },
  { "G7", all(t(G, "G7: a Lua deploy hook that raises: file and line reported, run goes on, no /bin/sh started"),
    t("spec/hooks_spec.lua", "report an error with file and line, and the run goes on")) },

  { "I1", t(F, "I1 refuses a server whose certificate it cannot verify, before any JWS") },
  { "I2", t(F, "I2 refuses an http:// server and sends it nothing") .. " (no insecure flag exists)" },
  { "I3", t(F, "I3 refuses a certificate for another host name") },
  { "I4", t(F, "I4 --no-verify-ssl works without the CA, and warns on every run") },
  { "I5", t(G, "I5: REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, names the CA that verifies the ACME server") },

  { "J1", "`make asan`: the C tests, the #core specs and spec/integration/{certonly,renew,manage}_spec.lua and "
    .. "spec/limits_spec.lua under ASan + UBSan, every report a failure (spec/run.sh); "
    .. "SAN_INTEGRATION=spec/integration runs every integration spec" },
  { "J2", "`make valgrind` (spec/helpers/valgrind.lua): certonly against Pebble and a no-op renew of 100 lineages, "
    .. "failing on exit 99" },
  { "J3(a)", "`make fuzz`: spec/fuzz/fuzz_acme.c + fuzz_acme.lua (directory, order, authz, problem, through "
    .. "lua/certbot/acme.lua)" },
  { "J3(b)", "`make fuzz`: spec/fuzz/fuzz_pem.c + fuzz_pem.lua (split_pem, parse_cert, notAfter, ari_cert_id)" },
  { "J3(c)", "`make fuzz`: spec/fuzz/fuzz_http_request.c (the http-01 responder's request parser)" },
  { "J3(d)", "`make fuzz`: spec/fuzz/fuzz_client_hello.c (whole ClientHellos into the responder's SSL_CTX), "
    .. "spec/fuzz/fuzz_tls_extensions.c (the hand-parsed ALPN and SNI bodies)" },
  { "J3(e)", "`make fuzz`: spec/fuzz/fuzz_cli_ini.c + fuzz_cli_ini.lua" },
  { "J3(f)", "`make fuzz`: spec/fuzz/fuzz_renewal_conf.c + fuzz_renewal_conf.lua (C and Lua readers agree; "
    .. "parse(write(parse(x))) == parse(x))" },
  { "J3(g)", "`make fuzz`: spec/fuzz/fuzz_http_headers.c (Retry-After, Link, Location, Replay-Nonce)" },
  { "J3(h)", "`make fuzz`: spec/fuzz/fuzz_jws.c + fuzz_jws.lua (base64url, JWK, JWS)" },
  { "J3(i)", "does not apply: the nginx parser is Lua (plugins/nginx/parser.lua), not C" },
  { "J4", all(t("spec/http_spec.lua", "parses Retry-After as seconds from now",
    "refuses a negative or overflowing Content-Length, and caps a huge one (J4)"),
    "spec/limits_spec.lua: describe \"--max-log-backups limits (J4)\"; UBSan through `make asan`") },

  { "K1", all(t("spec/integration/renew_spec.lua", "is not due before half the lifetime and is due after")
    .. " (a 16 s lifetime for 300 s)", t("spec/renewal_spec.lua",
    "renews a 90-day certificate when a third of it is left: at 60 days, not 59",
    "renews a certificate of under 10 days at half its lifetime")) },
  { "K2", all(t(G, "K2: one random sleep before the first renewal and before any hook; none on a TTY or with "
    .. "the flag"), t("spec/integration/renew_spec.lua", "sleeps a random while before the first renewal of a "
    .. "non-interactive run")) },
  { "K3", t("spec/integration/ari_spec.lua", "K3 without renewalInfo asks nothing and keeps the lifetime rule",
    "backs off ARI errors, keeps the lifetime rule meanwhile, and stores the retry time") },
}
