#!/bin/sh
# Deploy hook: make nginx serve the certificate that was just obtained or
# renewed.  The configuration is checked first, so a broken edit elsewhere
# is reported instead of taking nginx down with the reload.
#
#   install -m 755 reload-nginx.sh /etc/letsencrypt/renewal-hooks/deploy/
# or, for one certificate:
#   certbot renew --deploy-hook /usr/local/lib/certbot/reload-nginx.sh
#
# certbot sets RENEWED_LINEAGE (the live directory) and RENEWED_DOMAINS.
# On systemd hosts `systemctl reload nginx` does the same as the last line.
set -eu
nginx -t -q
nginx -s reload
echo "nginx reloaded for ${RENEWED_DOMAINS:-?}"
