#!/bin/sh
# Deploy hook: haproxy wants the certificate chain and the private key in
# one PEM file.  Writes $HAPROXY_CERT_DIR/<certificate name>.pem (default
# /etc/haproxy/certs), mode 0600, replacing the old file in one rename so
# haproxy never reads half a file.  Reload haproxy afterwards (a second
# deploy hook, or `systemctl reload haproxy` at the end of this one).
#
#   install -m 755 copy-to-haproxy.sh /etc/letsencrypt/renewal-hooks/deploy/
#
# certbot sets RENEWED_LINEAGE, e.g. /etc/letsencrypt/live/example.com.
set -eu
: "${RENEWED_LINEAGE:?is not set: run this as a certbot deploy hook}"
dir=${HAPROXY_CERT_DIR:-/etc/haproxy/certs}
name=${RENEWED_LINEAGE##*/}

umask 077                                   # the key is never readable by others
tmp=$(mktemp "$dir/.$name.pem.XXXXXX")      # same directory: rename is atomic
trap 'rm -f "$tmp"' EXIT HUP INT TERM
cat "$RENEWED_LINEAGE/fullchain.pem" "$RENEWED_LINEAGE/privkey.pem" >"$tmp"
chmod 600 "$tmp"
sync "$tmp" 2>/dev/null || true             # on disk before the rename
mv -f "$tmp" "$dir/$name.pem"
trap - EXIT HUP INT TERM
echo "wrote $dir/$name.pem"
