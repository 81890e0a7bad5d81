#!/usr/bin/env python3
"""spec/helpers/dns_standin.py: local HTTPS stand-ins for the DNS provider
APIs that the dns-* plugins talk to, for specs only.

One server answers for every provider under its own path prefix:

  /cloudflare/client/v4/...        Cloudflare API v4
  /digitalocean/v2/...             DigitalOcean API v2
  /dnsimple/v2/...                 DNSimple API v2
  /nsone/v1/...                    NS1 API v1
  /google/token                    Google OAuth 2.0 token endpoint (JWT bearer grant)
  /google/dns/v1/...               Google Cloud DNS API v1
  /google/computeMetadata/v1/...   the GCE metadata server (token, project id)
  /route53/2013-04-01/...          Amazon Route 53 REST API (XML, Signature Version 4)
  /_standin/...                    control: records, request log, modes, seeding

Each provider part follows the provider's published request and response
shapes (paths, auth headers, JSON or XML bodies, pagination, error
envelopes, rate-limit answers) and checks the credentials it was given in
the configuration file.  Every TXT value the stand-in holds is mirrored
into pebble-challtestsrv (/set-txt, /clear-txt on its management port), so
Pebble validates dns-01 against what the plugin really published.

    python3 dns_standin.py CONFIG.json

CONFIG: {"port", "cert", "key", "challtestsrv" (URL or null), "zones" (list),
"max_per_page", and one object of credentials per provider}; see
spec/helpers/dns_standin.lua, which writes it.
"""
import base64
import datetime
import hashlib
import hmac
import json
import secrets
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

R53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"
GOOGLE_SCOPE = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class Reply(Exception):
    """An HTTP answer raised from deep inside a handler."""

    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fqdn(name):
    return name.rstrip(".").lower()


def in_zone(name, zone):
    name, zone = fqdn(name), fqdn(zone)
    return name == zone or name.endswith("." + zone)


def relative(name, zone):
    name, zone = fqdn(name), fqdn(zone)
    if name == zone:
        return ""
    return name[: -(len(zone) + 1)]


class Store:
    """Records of every provider: one entry per TXT value.  An entry is a
    dict {provider, id, zone, name, value, ttl}; rrset providers (NS1,
    Google, Route 53) group the entries of one name."""

    def __init__(self, config):
        self.config = config
        self.lock = threading.RLock()
        self.records = []
        self.log = []
        self.modes = {"wrong_value": False, "ratelimit": {}, "pending_polls": 1}
        self.counter = 1000
        self.changes = {}
        self.tokens = {}  # google access tokens issued

    def next_id(self):
        with self.lock:
            self.counter += 1
            return self.counter

    def find(self, provider, name=None, value=None, zone=None):
        out = []
        for r in self.records:
            if r["provider"] != provider:
                continue
            if name is not None and r["name"] != fqdn(name):
                continue
            if value is not None and r["value"] != value:
                continue
            if zone is not None and r["zone"] != fqdn(zone):
                continue
            out.append(r)
        return out

    def add(self, provider, zone, name, value, ttl, rid=None):
        if rid is None:
            # Cloudflare's ids are 32 hex digits; the others count
            rid = secrets.token_hex(16) if provider == "cloudflare" else self.next_id()
        rec = {"provider": provider, "id": rid,
               "zone": fqdn(zone), "name": fqdn(name), "value": value, "ttl": ttl,
               "created": now_iso()}
        self.records.append(rec)
        self.sync(name)
        return rec

    def remove(self, rec):
        self.records.remove(rec)
        self.sync(rec["name"])

    def replace_set(self, provider, zone, name, values, ttl):
        """Make the rrset (provider, name) hold exactly `values`."""
        for r in self.find(provider, name=name):
            self.records.remove(r)
        for v in values:
            self.records.append({"provider": provider, "id": self.next_id(), "zone": fqdn(zone),
                                 "name": fqdn(name), "value": v, "ttl": ttl, "created": now_iso()})
        self.sync(name)

    def sync(self, name):
        """Mirror the TXT values at `name` into pebble-challtestsrv: clear
        the host (that drops every value), then add back each one."""
        base = self.config.get("challtestsrv")
        if not base:
            return
        host = fqdn(name) + "."
        post(base + "/clear-txt", {"host": host})
        for r in self.records:
            if r["name"] == fqdn(name):
                value = txt_text(r["provider"], r["value"])
                if self.modes.get("wrong_value"):
                    value = value[::-1] + "-wrong"
                post(base + "/set-txt", {"host": host, "value": value})


# Google Cloud DNS and Route 53 take TXT data in zone-file form, each
# string in double quotes; the others take the text itself.
RRDATA_PROVIDERS = ("google", "route53")


def txt_text(provider, value):
    if provider in RRDATA_PROVIDERS and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        out, i, inner = [], 0, value[1:-1]
        while i < len(inner):
            if inner[i] == "\\" and i + 1 < len(inner):
                i += 1
            out.append(inner[i])
            i += 1
        return "".join(out)
    return value


def post(url, obj):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        resp.read()


def page_of(items, page, per_page):
    total = len(items)
    pages = max(1, (total + per_page - 1) // per_page)
    return items[(page - 1) * per_page: page * per_page], total, pages


def int_arg(q, name, default, lo=1, hi=None):
    v = q.get(name, [None])[0]
    if v is None or v == "":
        return default
    try:
        n = int(v)
    except ValueError:
        raise Reply(400, {"message": "%s must be an integer" % name})
    if n < lo or (hi is not None and n > hi):
        raise Reply(400, {"message": "%s out of range" % name})
    return n


# ---- Cloudflare API v4 ----------------------------------------------------

def cf_envelope(result, info=None):
    body = {"success": True, "errors": [], "messages": [], "result": result}
    if info is not None:
        body["result_info"] = info
    return body


def cf_error(status, code, message, chain=None):
    err = {"code": code, "message": message}
    if chain:
        err["error_chain"] = chain
    return Reply(status, {"success": False, "errors": [err], "messages": [], "result": None})


def cf_zone_id(zone):
    return hashlib.md5(("zone:" + zone).encode()).hexdigest()


def cloudflare(h, method, parts, q, body):
    cfg = h.store.config["cloudflare"]
    if parts[:2] != ["client", "v4"]:
        raise cf_error(404, 7000, "No route for that URI")
    parts = parts[2:]
    authz = h.headers.get("Authorization")
    if authz is not None:
        if not authz.startswith("Bearer ") or len(authz) <= 7:
            raise cf_error(400, 6003, "Invalid request headers",
                           [{"code": 6111, "message": "Invalid format for Authorization header"}])
        if not hmac.compare_digest(authz[7:], cfg.get("token", "")):
            raise cf_error(403, 10000, "Authentication error")
    elif h.headers.get("X-Auth-Email") is not None or h.headers.get("X-Auth-Key") is not None:
        if h.headers.get("X-Auth-Email") != cfg.get("email") or \
                not hmac.compare_digest(h.headers.get("X-Auth-Key", ""), cfg.get("key", "")):
            raise cf_error(403, 9103, "Unknown X-Auth-Key or X-Auth-Email")
    else:
        raise cf_error(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
    st = h.store
    zones = {cf_zone_id(z): z for z in st.config["zones"]}
    maxpp = st.config.get("max_per_page", 50)
    if parts == ["zones"] and method == "GET":
        names = sorted(zones.values())
        if "name" in q:
            names = [z for z in names if z == q["name"][0].lower()]
        page = int_arg(q, "page", 1)
        per_page = min(int_arg(q, "per_page", 20, 5, 50), maxpp)
        items, total, pages = page_of(names, page, per_page)
        result = [{"id": cf_zone_id(z), "name": z, "status": "active", "paused": False,
                   "type": "full"} for z in items]
        return 200, cf_envelope(result, {"page": page, "per_page": per_page, "count": len(result),
                                         "total_count": total, "total_pages": pages})
    if len(parts) >= 3 and parts[0] == "zones" and parts[2] == "dns_records":
        zone = zones.get(parts[1])
        if zone is None:
            raise cf_error(404 if len(parts[1]) == 32 else 400, 7003,
                           "Could not route to /zones/%s/dns_records, perhaps your object "
                           "identifier is invalid?" % parts[1])
        if len(parts) == 3 and method == "GET":
            recs = st.find("cloudflare", zone=zone)
            if "type" in q:
                recs = [r for r in recs if q["type"][0] == "TXT"]
            if "name" in q:
                recs = [r for r in recs if r["name"] == fqdn(q["name"][0])]
            if "content" in q:
                recs = [r for r in recs if r["value"] == q["content"][0]]
            page = int_arg(q, "page", 1)
            per_page = min(int_arg(q, "per_page", 100, 5, 5000000), maxpp)
            items, total, pages = page_of(recs, page, per_page)
            return 200, cf_envelope([cf_record(r) for r in items],
                                    {"page": page, "per_page": per_page, "count": len(items),
                                     "total_count": total, "total_pages": pages})
        if len(parts) == 3 and method == "POST":
            data = json_body(body, lambda m: cf_error(400, 9207, m))
            if data.get("type") != "TXT":
                raise cf_error(400, 9004, "This record type is not supported by the stand-in")
            name, content, ttl = data.get("name"), data.get("content"), data.get("ttl", 1)
            if not isinstance(name, str) or not in_zone(name, zone):
                raise cf_error(400, 9005, "Content for name must be within the zone")
            if not isinstance(content, str) or content == "":
                raise cf_error(400, 9021, "Invalid TXT record: content must not be empty")
            if not isinstance(ttl, int) or not (ttl == 1 or 60 <= ttl <= 86400):
                raise cf_error(400, 9141, "TTL must be between 60 and 86400 seconds, or 1 for Automatic")
            if st.find("cloudflare", name=name, value=content):
                raise cf_error(400, 81058, "An identical record already exists.")
            rec = st.add("cloudflare", zone, name, content, ttl, rid=secrets.token_hex(16))
            return 200, cf_envelope(cf_record(rec))
        if len(parts) == 4 and method == "DELETE":
            for r in st.find("cloudflare", zone=zone):
                if r["id"] == parts[3]:
                    st.remove(r)
                    return 200, cf_envelope({"id": r["id"]})
            raise cf_error(404, 81044, "Record does not exist.")
    raise cf_error(405 if parts and parts[0] == "zones" else 404, 7000, "No route for that URI")


def cf_record(r):
    return {"id": r["id"], "zone_id": cf_zone_id(r["zone"]), "zone_name": r["zone"],
            "name": r["name"], "type": "TXT", "content": r["value"], "proxiable": False,
            "proxied": False, "ttl": r["ttl"], "locked": False, "meta": {},
            "created_on": r["created"], "modified_on": r["created"]}


# ---- DigitalOcean API v2 --------------------------------------------------

def do_error(status, ident, message):
    return Reply(status, {"id": ident, "message": message})


def do_links(h, path, q, page, per_page, pages):
    def url(p):
        qq = {k: v[0] for k, v in q.items()}
        qq["page"] = str(p)
        qq["per_page"] = str(per_page)
        return "https://%s%s?%s" % (h.headers.get("Host"), path, urllib.parse.urlencode(qq))
    links = {}
    if page > 1:
        links["first"] = url(1)
        links["prev"] = url(page - 1)
    if page < pages:
        links["next"] = url(page + 1)
        links["last"] = url(pages)
    return {"pages": links}


def digitalocean(h, method, parts, q, body):
    cfg = h.store.config["digitalocean"]
    authz = h.headers.get("Authorization", "")
    if not authz.startswith("Bearer ") or not hmac.compare_digest(authz[7:], cfg.get("token", "")):
        raise do_error(401, "Unauthorized", "Unable to authenticate you")
    if parts[:1] != ["v2"]:
        raise do_error(404, "not_found", "The resource you were accessing could not be found.")
    parts = parts[1:]
    st = h.store
    maxpp = st.config.get("max_per_page", 200)
    path = urllib.parse.urlsplit(h.path).path
    if parts == ["domains"] and method == "GET":
        page = int_arg(q, "page", 1)
        per_page = min(int_arg(q, "per_page", 20, 1, 200), maxpp)
        items, total, pages = page_of(sorted(st.config["zones"]), page, per_page)
        return 200, {"domains": [{"name": z, "ttl": 1800, "zone_file": ""} for z in items],
                     "links": do_links(h, path, q, page, per_page, pages), "meta": {"total": total}}
    if len(parts) >= 3 and parts[0] == "domains" and parts[2] == "records":
        zone = parts[1].lower()
        if zone not in st.config["zones"]:
            raise do_error(404, "not_found", "The resource you were accessing could not be found.")
        if len(parts) == 3 and method == "GET":
            recs = st.find("digitalocean", zone=zone)
            if "type" in q:
                recs = [r for r in recs if q["type"][0] == "TXT"]
            if "name" in q:
                recs = [r for r in recs if r["name"] == fqdn(q["name"][0])]
            page = int_arg(q, "page", 1)
            per_page = min(int_arg(q, "per_page", 20, 1, 200), maxpp)
            items, total, pages = page_of(recs, page, per_page)
            return 200, {"domain_records": [do_record(r) for r in items],
                         "links": do_links(h, path, q, page, per_page, pages),
                         "meta": {"total": total}}
        if len(parts) == 3 and method == "POST":
            data = json_body(body, lambda m: do_error(422, "unprocessable_entity", m))
            if data.get("type") != "TXT":
                raise do_error(422, "unprocessable_entity", "Type is not supported by the stand-in")
            name, value, ttl = data.get("name"), data.get("data"), data.get("ttl", 1800)
            if not isinstance(name, str) or name == "" or name.endswith("."):
                raise do_error(422, "unprocessable_entity", "Name is invalid")
            if not isinstance(value, str) or value == "":
                raise do_error(422, "unprocessable_entity", "Data needs to not be blank")
            if not isinstance(ttl, int) or ttl < 30:
                raise do_error(422, "unprocessable_entity", "TTL must be at least 30 seconds")
            full = zone if name == "@" else name + "." + zone
            rec = st.add("digitalocean", zone, full, value, ttl)
            return 201, {"domain_record": do_record(rec)}
        if len(parts) == 4 and method == "DELETE":
            for r in st.find("digitalocean", zone=zone):
                if str(r["id"]) == parts[3]:
                    st.remove(r)
                    return 204, None
            raise do_error(404, "not_found", "The resource you were accessing could not be found.")
    raise do_error(404, "not_found", "The resource you were accessing could not be found.")


def do_record(r):
    rel = relative(r["name"], r["zone"])
    return {"id": r["id"], "type": "TXT", "name": rel if rel != "" else "@", "data": r["value"],
            "priority": None, "port": None, "ttl": r["ttl"], "weight": None, "flags": None,
            "tag": None}


# ---- DNSimple API v2 ------------------------------------------------------

def dnsimple(h, method, parts, q, body):
    cfg = h.store.config["dnsimple"]
    authz = h.headers.get("Authorization", "")
    # a user token (not an account token) authenticates, but names no account
    if authz == "Bearer " + cfg.get("user_token", "-") and parts == ["v2", "whoami"]:
        return 200, {"data": {"account": None, "user": {
            "id": 7, "email": "someone@example.org", "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2020-01-01T00:00:00Z"}}}
    if not authz.startswith("Bearer ") or not hmac.compare_digest(authz[7:], cfg.get("token", "")):
        raise Reply(401, {"message": "Authentication failed"})
    if parts[:1] != ["v2"]:
        raise Reply(404, {"message": "Not found"})
    parts = parts[1:]
    st = h.store
    account = str(cfg.get("account", 1010))
    maxpp = st.config.get("max_per_page", 100)
    if parts == ["whoami"] and method == "GET":
        return 200, {"data": {"user": None, "account": {
            "id": int(account), "email": "ops@example.org", "plan_identifier": "teams-v1-monthly",
            "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"}}}
    if len(parts) >= 2 and parts[1] == "zones":
        if parts[0] != account:
            raise Reply(404, {"message": "Account `%s` not found" % parts[0]})
        if len(parts) == 2 and method == "GET":
            page = int_arg(q, "page", 1)
            per_page = min(int_arg(q, "per_page", 30, 1, 100), maxpp)
            items, total, pages = page_of(sorted(st.config["zones"]), page, per_page)
            return 200, {"data": [dns_zone(account, z) for z in items],
                         "pagination": {"current_page": page, "per_page": per_page,
                                        "total_entries": total, "total_pages": pages}}
        zone = parts[2].lower() if len(parts) >= 3 else None
        if zone not in st.config["zones"]:
            raise Reply(404, {"message": "Zone `%s` not found" % parts[2]})
        if len(parts) == 3 and method == "GET":
            return 200, {"data": dns_zone(account, zone)}
        if len(parts) >= 4 and parts[3] == "records":
            if len(parts) == 4 and method == "GET":
                recs = st.find("dnsimple", zone=zone)
                if "type" in q:
                    recs = [r for r in recs if q["type"][0].upper() == "TXT"]
                if "name" in q:
                    recs = [r for r in recs if relative(r["name"], zone) == q["name"][0]]
                page = int_arg(q, "page", 1)
                per_page = min(int_arg(q, "per_page", 30, 1, 100), maxpp)
                items, total, pages = page_of(recs, page, per_page)
                return 200, {"data": [dns_record(r) for r in items],
                             "pagination": {"current_page": page, "per_page": per_page,
                                            "total_entries": total, "total_pages": pages}}
            if len(parts) == 4 and method == "POST":
                data = json_body(body, lambda m: Reply(400, {"message": m}))
                errors = {}
                name, content, ttl = data.get("name"), data.get("content"), data.get("ttl", 3600)
                if data.get("type") != "TXT":
                    errors["type"] = ["is not supported by the stand-in"]
                if not isinstance(name, str) or name.endswith("."):
                    errors["name"] = ["is invalid"]
                if not isinstance(content, str) or content == "":
                    errors["content"] = ["can't be blank"]
                if not isinstance(ttl, int) or ttl < 60:
                    errors["ttl"] = ["must be greater than or equal to 60"]
                if errors:
                    raise Reply(400, {"message": "Validation failed", "errors": errors})
                full = zone if name == "" else name + "." + zone
                rec = st.add("dnsimple", zone, full, content, ttl)
                return 201, {"data": dns_record(rec)}
            if len(parts) == 5 and method == "DELETE":
                for r in st.find("dnsimple", zone=zone):
                    if str(r["id"]) == parts[4]:
                        st.remove(r)
                        return 204, None
                raise Reply(404, {"message": "Record `%s` not found" % parts[4]})
    raise Reply(404, {"message": "Not found"})


def dns_zone(account, z):
    return {"id": int(hashlib.md5(z.encode()).hexdigest()[:6], 16), "account_id": int(account),
            "name": z, "reverse": False, "secondary": False, "last_transferred_at": None,
            "active": True, "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2020-01-01T00:00:00Z"}


def dns_record(r):
    return {"id": r["id"], "zone_id": r["zone"], "parent_id": None,
            "name": relative(r["name"], r["zone"]), "content": r["value"], "ttl": r["ttl"],
            "priority": None, "type": "TXT", "regions": ["global"], "system_record": False,
            "created_at": r["created"], "updated_at": r["created"]}


# ---- NS1 API v1 -------------------------------------------------------------

def nsone(h, method, parts, q, body):
    cfg = h.store.config["nsone"]
    key = h.headers.get("X-NSONE-Key")
    if key is None or not hmac.compare_digest(key, cfg.get("key", "")):
        raise Reply(401, {"message": "Unauthorized"})
    if parts[:2] != ["v1", "zones"]:
        raise Reply(404, {"message": "Not Found"})
    parts = parts[2:]
    st = h.store
    if not parts:
        raise Reply(405, {"message": "Method Not Allowed"})
    zone = parts[0].lower()
    if zone not in st.config["zones"]:
        raise Reply(404, {"message": "zone not found"})
    if len(parts) == 1 and method == "GET":
        recs = {}
        for r in st.find("nsone", zone=zone):
            recs.setdefault(r["name"], r)
        return 200, {"zone": zone, "ttl": 3600, "nx_ttl": 3600, "id": cf_zone_id(zone)[:24],
                     "records": [{"domain": n, "type": "TXT", "ttl": r["ttl"], "id": str(r["id"]),
                                  "short_answers": [x["value"] for x in st.find("nsone", name=n)]}
                                 for n, r in recs.items()]}
    if len(parts) == 3:
        domain, rtype = parts[1].lower(), parts[2].upper()
        if rtype != "TXT":
            raise Reply(400, {"message": "record type not supported by the stand-in"})
        if not in_zone(domain, zone):
            raise Reply(400, {"message": "invalid: domain not within zone"})
        current = st.find("nsone", name=domain)
        if method == "GET":
            if not current:
                raise Reply(404, {"message": "record not found"})
            return 200, ns_record(zone, domain, current)
        if method in ("PUT", "POST"):
            if method == "PUT" and current:
                raise Reply(400, {"message": "record already exists"})
            if method == "POST" and not current:
                raise Reply(404, {"message": "record not found"})
            data = json_body(body, lambda m: Reply(400, {"message": m}))
            answers = data.get("answers")
            values = []
            if not isinstance(answers, list) or not answers:
                raise Reply(400, {"message": "input validation failed: answers required"})
            for a in answers:
                ans = a.get("answer") if isinstance(a, dict) else None
                if not isinstance(ans, list) or len(ans) != 1 or not isinstance(ans[0], str):
                    raise Reply(400, {"message": "input validation failed: bad answer"})
                values.append(ans[0])
            ttl = data.get("ttl", current[0]["ttl"] if current else 3600)
            st.replace_set("nsone", zone, domain, values, ttl)
            return 200, ns_record(zone, domain, st.find("nsone", name=domain))
        if method == "DELETE":
            if not current:
                raise Reply(404, {"message": "record not found"})
            st.replace_set("nsone", zone, domain, [], 0)
            return 200, {}
    raise Reply(404, {"message": "Not Found"})


def ns_record(zone, domain, recs):
    return {"zone": zone, "domain": domain, "type": "TXT", "ttl": recs[0]["ttl"],
            "id": "rec" + str(recs[0]["id"]), "use_client_subnet": True, "filters": [],
            "answers": [{"answer": [r["value"]], "id": "ans" + str(r["id"])} for r in recs]}


# ---- Google OAuth 2.0 + Cloud DNS v1 --------------------------------------

def g_error(code, status, message, reason):
    return Reply(code, {"error": {"code": code, "message": message, "status": status,
                                  "errors": [{"message": message, "domain": "global",
                                              "reason": reason}]}})


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify_rs256(pub_pem_path, signing_input, sig):
    with tempfile.NamedTemporaryFile() as f_sig, tempfile.NamedTemporaryFile() as f_in:
        f_sig.write(sig)
        f_sig.flush()
        f_in.write(signing_input)
        f_in.flush()
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub_pem_path, "-signature",
                            f_sig.name, f_in.name], capture_output=True)
        return r.returncode == 0


def google(h, method, parts, q, body):
    cfg = h.store.config["google"]
    st = h.store
    if parts == ["token"] and method == "POST":
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))

        def bad(desc, err="invalid_grant"):
            return Reply(400, {"error": err, "error_description": desc})
        if form.get("grant_type", [""])[0] != JWT_BEARER:
            raise bad("Invalid grant_type: " + form.get("grant_type", [""])[0],
                      "unsupported_grant_type")
        jwt = form.get("assertion", [""])[0]
        pieces = jwt.split(".")
        if len(pieces) != 3:
            raise bad("Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                      "reasonable timeframe. Check your iat and exp values in the JWT claim.")
        try:
            header = json.loads(b64url_decode(pieces[0]))
            claims = json.loads(b64url_decode(pieces[1]))
            sig = b64url_decode(pieces[2])
        except ValueError:
            raise bad("Invalid JWT: not decodable")
        if header.get("alg") != "RS256":
            raise bad("Invalid JWT: alg must be RS256")
        if claims.get("iss") != cfg["client_email"]:
            raise bad("Invalid grant: account not found")
        if claims.get("aud") != cfg["token_uri"]:
            raise bad("Invalid JWT: audience is not the token endpoint")
        scopes = str(claims.get("scope", "")).split()
        if GOOGLE_SCOPE not in scopes and "https://www.googleapis.com/auth/cloud-platform" not in scopes:
            raise bad("Invalid scope", "invalid_scope")
        t = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat > 3600 or \
                iat > t + 300 or exp < t:
            raise bad("Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                      "reasonable timeframe. Check your iat and exp values in the JWT claim.")
        if not verify_rs256(cfg["public_key"], (pieces[0] + "." + pieces[1]).encode(), sig):
            raise bad("Invalid JWT Signature.")
        token = "ya29.standin-" + secrets.token_urlsafe(24)
        st.tokens[token] = cfg["project"]
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
    if parts[:2] == ["computeMetadata", "v1"]:
        if h.headers.get("Metadata-Flavor") != "Google":
            raise Reply(403, "Missing required header \"Metadata-Flavor\"", {"Content-Type": "text/html"})
        if parts[2:] == ["project", "project-id"]:
            return 200, cfg["project"], {"Content-Type": "application/text"}
        if parts[2:] == ["instance", "service-accounts", "default", "token"]:
            token = "ya29.metadata-" + secrets.token_urlsafe(24)
            st.tokens[token] = cfg["project"]
            return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        raise Reply(404, "not found", {"Content-Type": "text/html"})
    if parts[:3] != ["dns", "v1", "projects"] or len(parts) < 5 or parts[4] != "managedZones":
        raise g_error(404, "NOT_FOUND", "Not Found", "notFound")
    authz = h.headers.get("Authorization", "")
    if not authz.startswith("Bearer ") or authz[7:] not in st.tokens:
        raise g_error(401, "UNAUTHENTICATED",
                      "Request had invalid authentication credentials. Expected OAuth 2 access "
                      "token, login cookie or other valid authentication credential.", "authError")
    project = parts[3]
    if project != st.tokens[authz[7:]]:
        raise g_error(403, "PERMISSION_DENIED",
                      "Forbidden: the caller does not have permission on project '%s'" % project,
                      "forbidden")
    rest = parts[5:]
    zones = {("zone-" + z.replace(".", "-")): z for z in st.config["zones"]}
    if not rest and method == "GET":
        items = sorted(zones.items(), key=lambda kv: kv[1])
        if "dnsName" in q:
            items = [kv for kv in items if kv[1] + "." == q["dnsName"][0].lower()]
        start = int(q.get("pageToken", ["0"])[0] or 0)
        per = min(int_arg(q, "maxResults", 1000), st.config.get("max_per_page", 1000))
        page = items[start:start + per]
        out = {"kind": "dns#managedZonesListResponse",
               "managedZones": [{"kind": "dns#managedZone", "name": n, "dnsName": z + ".",
                                 "id": str(int(hashlib.md5(z.encode()).hexdigest()[:8], 16)),
                                 "visibility": "public", "description": ""} for n, z in page]}
        if start + per < len(items):
            out["nextPageToken"] = str(start + per)
        return 200, out
    zone = zones.get(rest[0]) if rest else None
    if zone is None:
        raise g_error(404, "NOT_FOUND", "The 'parameters.managedZone' resource named '%s' does "
                      "not exist." % (rest[0] if rest else ""), "notFound")
    rest = rest[1:]
    if rest == ["rrsets"] and method == "GET":
        names = sorted({r["name"] for r in st.find("google", zone=zone)})
        if "name" in q:
            names = [n for n in names if n + "." == q["name"][0].lower()]
        if "type" in q and q["type"][0] != "TXT":
            names = []
        sets = []
        for n in names:
            recs = st.find("google", name=n)
            sets.append({"kind": "dns#resourceRecordSet", "name": n + ".", "type": "TXT",
                         "ttl": recs[0]["ttl"], "rrdatas": [r["value"] for r in recs]})
        return 200, {"kind": "dns#resourceRecordSetsListResponse", "rrsets": sets}
    if rest == ["changes"] and method == "POST":
        data = json_body(body, lambda m: g_error(400, "INVALID_ARGUMENT", m, "invalid"))
        adds, dels = data.get("additions") or [], data.get("deletions") or []
        if not adds and not dels:
            raise g_error(400, "INVALID_ARGUMENT", "The 'entity.change' parameter is required "
                          "but was missing.", "required")
        sets = {}
        for i, d in enumerate(dels):
            name = fqdn(d.get("name", ""))
            recs = st.find("google", name=name, zone=zone)
            have = [r["value"] for r in recs]
            if d.get("type") != "TXT" or not recs or sorted(have) != sorted(d.get("rrdatas") or []) \
                    or recs[0]["ttl"] != d.get("ttl"):
                raise g_error(412, "FAILED_PRECONDITION", "Precondition not met for "
                              "'entity.change.deletions[%d]'" % i, "conditionNotMet")
            sets[name] = []
        for i, a in enumerate(adds):
            name = fqdn(a.get("name", ""))
            if a.get("type") != "TXT" or not in_zone(name, zone) or not a.get("name", "").endswith("."):
                raise g_error(400, "INVALID_ARGUMENT", "Invalid value for "
                              "'entity.change.additions[%d].name': '%s'" % (i, a.get("name")),
                              "invalid")
            if st.find("google", name=name) and name not in sets:
                raise g_error(409, "ALREADY_EXISTS", "The resource 'entity.change.additions[%d]' "
                              "named '%s. (TXT)' already exists" % (i, name), "alreadyExists")
            for v in a.get("rrdatas") or []:
                if not (len(v) >= 2 and v[0] == '"' and v[-1] == '"'):
                    raise g_error(400, "INVALID_ARGUMENT", "Invalid value for "
                                  "'entity.change.additions[%d].rrdata[0]': '%s'" % (i, v), "invalid")
            sets[name] = (a.get("rrdatas"), a.get("ttl"))
        for name, val in sets.items():
            if val == []:
                st.replace_set("google", zone, name, [], 0)
        for name, val in sets.items():
            if val != []:
                st.replace_set("google", zone, name, val[0], val[1])
        cid = str(st.next_id())
        st.changes[cid] = st.modes.get("pending_polls", 1)
        return 200, {"kind": "dns#change", "id": cid, "status": "pending", "startTime": now_iso(),
                     "additions": adds, "deletions": dels}
    if len(rest) == 2 and rest[0] == "changes" and method == "GET":
        cid = rest[1]
        if cid not in st.changes:
            raise g_error(404, "NOT_FOUND", "The 'parameters.changeId' resource named '%s' does "
                          "not exist." % cid, "notFound")
        st.changes[cid] -= 1
        return 200, {"kind": "dns#change", "id": cid,
                     "status": "pending" if st.changes[cid] > 0 else "done",
                     "startTime": now_iso()}
    raise g_error(404, "NOT_FOUND", "Not Found", "notFound")


# ---- Amazon Route 53 (REST/XML, Signature Version 4) ----------------------

def r53_error(status, code, message, kind="Sender"):
    xml = ('<?xml version="1.0"?>\n<ErrorResponse xmlns="%s"><Error><Type>%s</Type>'
           '<Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId>'
           '</ErrorResponse>' % (R53_NS, kind, code, xml_escape(message), secrets.token_hex(8)))
    return Reply(status, xml, {"Content-Type": "text/xml"})


def r53_invalid_batch(messages):
    xml = ('<?xml version="1.0"?>\n<InvalidChangeBatch xmlns="%s"><Messages>%s</Messages>'
           '<RequestId>%s</RequestId></InvalidChangeBatch>'
           % (R53_NS, "".join("<Message>%s</Message>" % xml_escape(m) for m in messages),
              secrets.token_hex(8)))
    return Reply(400, xml, {"Content-Type": "text/xml"})


def xml_escape(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def aws_quote(s):
    return urllib.parse.quote(s, safe="-_.~")


def sigv4_check(h, method, body, cfg):
    authz = h.headers.get("Authorization")
    if not authz:
        raise r53_error(403, "MissingAuthenticationToken", "Missing Authentication Token")
    if not authz.startswith("AWS4-HMAC-SHA256 "):
        raise r53_error(400, "IncompleteSignature", "Authorization header requires "
                        "AWS4-HMAC-SHA256 signatures")
    fields = {}
    for part in authz[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    cred = fields.get("Credential", "").split("/")
    signed = fields.get("SignedHeaders", "")
    sig = fields.get("Signature", "")
    if len(cred) != 5 or not signed or not sig:
        raise r53_error(400, "IncompleteSignature", "Authorization header requires 'Credential', "
                        "'Signature' and 'SignedHeaders' parameters")
    akid, date, region, service, term = cred
    # long-term keys, or temporary ones that need their session token
    keys = [cfg] + ([cfg["temporary"]] if cfg.get("temporary") else [])
    found = [k for k in keys if k["access_key_id"] == akid]
    if not found:
        raise r53_error(403, "InvalidClientTokenId",
                        "The security token included in the request is invalid.")
    cfg = found[0]
    if cfg.get("session_token") and h.headers.get("X-Amz-Security-Token") != cfg["session_token"]:
        raise r53_error(403, "InvalidClientTokenId",
                        "The security token included in the request is invalid.")
    if cfg.get("session_token") and "x-amz-security-token" not in signed.split(";"):
        raise r53_error(403, "SignatureDoesNotMatch", "x-amz-security-token must be signed")
    amzdate = h.headers.get("X-Amz-Date", "")
    try:
        when = datetime.datetime.strptime(amzdate, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        raise r53_error(403, "IncompleteSignature", "Date must be in ISO-8601 'basic format'")
    if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 900:
        raise r53_error(403, "SignatureDoesNotMatch", "Signature expired: %s is now earlier "
                        "than the allowed window" % amzdate)
    if region != "us-east-1" or service != "route53" or term != "aws4_request" or date != amzdate[:8]:
        raise r53_error(403, "SignatureDoesNotMatch", "Credential should be scoped to a valid "
                        "region, service route53, and the request date")
    names = signed.split(";")
    if "host" not in names:
        raise r53_error(403, "SignatureDoesNotMatch", "'Host' must be a 'SignedHeader' in the "
                        "AWS Authorization.")
    split = urllib.parse.urlsplit(h.path)
    pairs = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
    canon_query = "&".join("%s=%s" % (aws_quote(k), aws_quote(v)) for k, v in sorted(pairs))
    canon_headers = "".join("%s:%s\n" % (n, " ".join((h.headers.get(n) or "").split()))
                            for n in names)
    creq = "\n".join([method, split.path or "/", canon_query, canon_headers, signed,
                      hashlib.sha256(body).hexdigest()])
    scope = "/".join([date, region, service, term])
    sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope, hashlib.sha256(creq.encode()).hexdigest()])
    key = ("AWS4" + cfg["secret_access_key"]).encode()
    for part in (date, region, service, term):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    want = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, sig):
        raise r53_error(403, "SignatureDoesNotMatch", "The request signature we calculated does "
                        "not match the signature you provided. Check your AWS Secret Access Key "
                        "and signing method. Consult the service documentation for details.")


def r53_zone_id(z):
    return "Z" + hashlib.md5(z.encode()).hexdigest()[:12].upper()


def r53_xml(root, inner):
    return '<?xml version="1.0" encoding="UTF-8"?>\n<%s xmlns="%s">%s</%s>' % (root, R53_NS, inner, root)


def route53(h, method, parts, q, body):
    cfg = h.store.config["route53"]
    st = h.store
    sigv4_check(h, method, body, cfg)
    if parts[:1] != ["2013-04-01"]:
        raise r53_error(404, "UnknownOperationException", "Unknown operation")
    parts = [p for p in parts[1:] if p != ""]
    zones = {r53_zone_id(z): z for z in st.config["zones"]}
    xml_hdr = {"Content-Type": "text/xml"}
    if parts == ["hostedzone"] and method == "GET":
        items = sorted(zones.items(), key=lambda kv: kv[0])
        maxitems = min(int_arg(q, "maxitems", 100, 1, 100), st.config.get("max_per_page", 100))
        marker = q.get("marker", [None])[0]
        start = 0
        if marker is not None:
            ids = [k for k, _ in items]
            if marker not in ids:
                raise r53_error(400, "InvalidInput", "Invalid marker")
            start = ids.index(marker)
        page = items[start:start + maxitems]
        truncated = start + maxitems < len(items)
        inner = "<HostedZones>%s</HostedZones>" % "".join(
            "<HostedZone><Id>/hostedzone/%s</Id><Name>%s.</Name><CallerReference>ref-%s"
            "</CallerReference><Config><PrivateZone>false</PrivateZone></Config>"
            "<ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>" % (k, z, k)
            for k, z in page)
        inner += "<Marker>%s</Marker>" % xml_escape(marker or "")
        inner += "<IsTruncated>%s</IsTruncated>" % ("true" if truncated else "false")
        if truncated:
            inner += "<NextMarker>%s</NextMarker>" % items[start + maxitems][0]
        inner += "<MaxItems>%d</MaxItems>" % maxitems
        return 200, r53_xml("ListHostedZonesResponse", inner), xml_hdr
    if len(parts) >= 3 and parts[0] == "hostedzone" and parts[2] == "rrset":
        zone = zones.get(parts[1])
        if zone is None:
            raise r53_error(404, "NoSuchHostedZone", "No hosted zone found with ID: %s" % parts[1])
        if method == "GET":
            names = sorted({r["name"] for r in st.find("route53", zone=zone)})
            start = fqdn(q.get("name", [""])[0])
            names = [n for n in names if n >= start]
            maxitems = int_arg(q, "maxitems", 100, 1, 300)
            sets = "".join(r53_rrset(n, st.find("route53", name=n)) for n in names[:maxitems])
            inner = "<ResourceRecordSets>%s</ResourceRecordSets><IsTruncated>%s</IsTruncated>" \
                    "<MaxItems>%d</MaxItems>" % (sets, "true" if len(names) > maxitems else "false",
                                                 maxitems)
            return 200, r53_xml("ListResourceRecordSetsResponse", inner), xml_hdr
        if method == "POST":
            try:
                root = ET.fromstring(body)
            except ET.ParseError as e:
                raise r53_error(400, "MalformedInput", "Could not parse the XML: %s" % e)
            ns = {"r": R53_NS}
            if root.tag != "{%s}ChangeResourceRecordSetsRequest" % R53_NS:
                raise r53_error(400, "InvalidInput", "Invalid XML ; root element must be "
                                "ChangeResourceRecordSetsRequest in the 2013-04-01 namespace")
            changes = root.findall("r:ChangeBatch/r:Changes/r:Change", ns)
            if not changes:
                raise r53_error(400, "InvalidInput", "The batch contains no changes")
            plan, msgs = [], []
            for ch in changes:
                action = ch.findtext("r:Action", "", ns)
                rs = ch.find("r:ResourceRecordSet", ns)
                name = rs.findtext("r:Name", "", ns) if rs is not None else ""
                rtype = rs.findtext("r:Type", "", ns) if rs is not None else ""
                ttl = rs.findtext("r:TTL", "", ns) if rs is not None else ""
                values = [v.text or "" for v in rs.findall("r:ResourceRecords/r:ResourceRecord/r:Value", ns)] \
                    if rs is not None else []
                if rtype != "TXT" or not name.endswith(".") or not in_zone(name, zone) or \
                        not ttl.isdigit() or not values:
                    msgs.append("Invalid Resource Record Set [name='%s', type='%s']" % (name, rtype))
                    continue
                for v in values:
                    if not (len(v) >= 2 and v[0] == '"' and v[-1] == '"'):
                        msgs.append("Invalid Resource Record: 'FATAL problem: InvalidCharacterString "
                                    "(Value should be enclosed in quotation marks) encountered with '%s''" % v)
                current = st.find("route53", name=name)
                desc = "[name='%s', type='TXT']" % name
                if action == "CREATE" and current:
                    msgs.append("Tried to create resource record set %s but it already exists" % desc)
                elif action == "DELETE" and (not current or
                                              sorted(r["value"] for r in current) != sorted(values) or
                                              current[0]["ttl"] != int(ttl)):
                    msgs.append("Tried to delete resource record set %s but %s" % (
                        desc, "it was not found" if not current else
                        "the values provided do not match the current values"))
                elif action not in ("CREATE", "DELETE", "UPSERT"):
                    msgs.append("Invalid action %s" % action)
                plan.append((action, name, values, int(ttl) if ttl.isdigit() else 0))
            if msgs:
                raise r53_invalid_batch(msgs)
            for action, name, values, ttl in plan:
                st.replace_set("route53", zone, name, [] if action == "DELETE" else values, ttl)
            cid = "C" + secrets.token_hex(6).upper()
            st.changes[cid] = st.modes.get("pending_polls", 1)
            inner = "<ChangeInfo><Id>/change/%s</Id><Status>PENDING</Status><SubmittedAt>%s" \
                    "</SubmittedAt></ChangeInfo>" % (cid, now_iso())
            return 200, r53_xml("ChangeResourceRecordSetsResponse", inner), xml_hdr
    if len(parts) == 2 and parts[0] == "change" and method == "GET":
        cid = parts[1]
        if cid not in st.changes:
            raise r53_error(404, "NoSuchChange", "A change with the specified change ID does not exist.")
        st.changes[cid] -= 1
        status = "PENDING" if st.changes[cid] > 0 else "INSYNC"
        inner = "<ChangeInfo><Id>/change/%s</Id><Status>%s</Status><SubmittedAt>%s</SubmittedAt>" \
                "</ChangeInfo>" % (cid, status, now_iso())
        return 200, r53_xml("GetChangeResponse", inner), xml_hdr
    raise r53_error(404, "UnknownOperationException", "Unknown operation")


def r53_rrset(name, recs):
    return ("<ResourceRecordSet><Name>%s.</Name><Type>TXT</Type><TTL>%d</TTL><ResourceRecords>%s"
            "</ResourceRecords></ResourceRecordSet>" % (
                name, recs[0]["ttl"],
                "".join("<ResourceRecord><Value>%s</Value></ResourceRecord>" % xml_escape(r["value"])
                        for r in recs)))


# ---- Linode API v4 ----------------------------------------------------------

def li_error(status, reason, field=None):
    e = {"reason": reason}
    if field:
        e["field"] = field
    return Reply(status, {"errors": [e]})


def li_page(q, items, maxpp):
    page = int_arg(q, "page", 1)
    size = min(int_arg(q, "page_size", 100, 25, 500), maxpp)
    chunk, total, pages = page_of(items, page, size)
    return chunk, {"page": page, "pages": pages, "results": total}


def li_domain_id(zone):
    return int(hashlib.md5(zone.encode()).hexdigest()[:6], 16)


def linode(h, method, parts, q, body):
    cfg = h.store.config["linode"]
    authz = h.headers.get("Authorization", "")
    if not authz.startswith("Bearer ") or not hmac.compare_digest(authz[7:], cfg.get("key", "")):
        raise li_error(401, "Invalid Token")
    if parts[:2] != ["v4", "domains"]:
        raise li_error(404, "Not found")
    parts = parts[2:]
    st = h.store
    maxpp = st.config.get("max_per_page", 500)
    zones = {str(li_domain_id(z)): z for z in st.config["zones"]}
    if not parts and method == "GET":
        items = [{"id": li_domain_id(z), "domain": z, "type": "master", "status": "active",
                  "soa_email": "hostmaster@" + z, "ttl_sec": 0, "tags": []}
                 for z in sorted(st.config["zones"])]
        chunk, info = li_page(q, items, maxpp)
        info["data"] = chunk
        return 200, info
    zone = zones.get(parts[0]) if parts else None
    if zone is None:
        raise li_error(404, "Not found")
    if parts[1:] == ["records"] and method == "GET":
        chunk, info = li_page(q, [li_record(r) for r in st.find("linode", zone=zone)], maxpp)
        info["data"] = chunk
        return 200, info
    if parts[1:] == ["records"] and method == "POST":
        data = json_body(body, lambda m: li_error(400, m))
        if data.get("type") != "TXT":
            raise li_error(400, "type is not supported by the stand-in", "type")
        name, target, ttl = data.get("name"), data.get("target"), data.get("ttl_sec", 0)
        if not isinstance(name, str) or name.endswith("."):
            raise li_error(400, "Invalid record name", "name")
        if not isinstance(target, str) or target == "":
            raise li_error(400, "target is required", "target")
        if not isinstance(ttl, int):
            raise li_error(400, "ttl_sec must be an integer", "ttl_sec")
        rec = st.add("linode", zone, (name + "." + zone) if name else zone, target, ttl)
        return 200, li_record(rec)
    if len(parts) == 3 and parts[1] == "records" and method == "DELETE":
        for r in st.find("linode", zone=zone):
            if str(r["id"]) == parts[2]:
                st.remove(r)
                return 200, {}
        raise li_error(404, "Not found")
    raise li_error(404, "Not found")


def li_record(r):
    return {"id": r["id"], "type": "TXT", "name": relative(r["name"], r["zone"]),
            "target": r["value"], "ttl_sec": r["ttl"], "priority": 0, "weight": 0, "port": 0,
            "service": None, "protocol": None, "tag": None, "created": r["created"],
            "updated": r["created"]}


# ---- LuaDNS REST API v1 ------------------------------------------------------

def lu_error(status, text, message):
    return Reply(status, {"status": text, "request_id": secrets.token_hex(8), "message": message})


def luadns(h, method, parts, q, body):
    cfg = h.store.config["luadns"]
    authz = h.headers.get("Authorization", "")
    want = "Basic " + base64.b64encode(("%s:%s" % (cfg["email"], cfg["token"])).encode()).decode()
    if not hmac.compare_digest(authz, want):
        raise lu_error(401, "Unauthorized", "Invalid email or API key")
    if h.headers.get("Accept") != "application/json":
        raise lu_error(406, "Not Acceptable", "The Accept header must be application/json")
    if parts[:2] != ["v1", "zones"]:
        raise lu_error(404, "Not Found", "Resource not found")
    parts = parts[2:]
    st = h.store
    zones = {str(li_domain_id(z)): z for z in st.config["zones"]}
    if not parts and method == "GET":
        return 200, [{"id": li_domain_id(z), "name": z, "synced": True, "queries_count": 0,
                      "records_count": len(st.find("luadns", zone=z)), "aliases_count": 0,
                      "redirects_count": 0, "forwards_count": 0, "template_id": 0}
                     for z in sorted(st.config["zones"])]
    zone = zones.get(parts[0]) if parts else None
    if zone is None:
        raise lu_error(404, "Not Found", "Zone not found")
    if parts[1:] == ["records"] and method == "GET":
        items = [lu_record(r) for r in st.find("luadns", zone=zone)]
        page = int_arg(q, "page", 1)
        limit = int_arg(q, "limit", 0, 0)
        limit = min(limit or len(items) or 1, st.config.get("max_per_page", 1000))
        chunk, total, pages = page_of(items, page, limit)
        return 200, chunk, {"x-page": str(page), "x-limit": str(limit),
                            "x-total-pages": str(pages), "x-total-count": str(total)}
    if parts[1:] == ["records"] and method == "POST":
        data = json_body(body, lambda m: lu_error(400, "Bad Request", m))
        name, content, ttl = data.get("name"), data.get("content"), data.get("ttl", 3600)
        if data.get("type") != "TXT":
            raise lu_error(422, "Unprocessable Entity", "type is not supported by the stand-in")
        if not isinstance(name, str) or not name.endswith(".") or not in_zone(name, zone):
            raise lu_error(422, "Unprocessable Entity", "name must be a fully qualified name "
                           "in the zone, with the final dot")
        if not isinstance(content, str) or content == "":
            raise lu_error(422, "Unprocessable Entity", "content is required")
        if not isinstance(ttl, int) or ttl < 60:
            raise lu_error(422, "Unprocessable Entity", "ttl is too small")
        rec = st.add("luadns", zone, name, content, ttl)
        return 200, lu_record(rec)
    if len(parts) == 3 and parts[1] == "records" and method == "DELETE":
        for r in st.find("luadns", zone=zone):
            if str(r["id"]) == parts[2]:
                st.remove(r)
                return 200, lu_record(r)
        raise lu_error(404, "Not Found", "Record not found")
    raise lu_error(404, "Not Found", "Resource not found")


def lu_record(r):
    return {"id": r["id"], "name": r["name"] + ".", "type": "TXT", "content": r["value"],
            "ttl": r["ttl"], "zone_id": li_domain_id(r["zone"]), "created_at": r["created"],
            "updated_at": r["created"]}


# ---- rate limits: each provider's documented 429 (Route 53: Throttling) ----

def rate_limited(provider, left):
    if provider == "cloudflare":
        r = cf_error(429, 971, "Please wait and consider throttling your request speed")
        r.headers["Retry-After"] = "2"
        return r
    if provider == "digitalocean":
        return Reply(429, {"id": "too_many_requests", "message": "API Rate limit exceeded."},
                     {"Retry-After": "1", "ratelimit-limit": "5000", "ratelimit-remaining": "0",
                      "ratelimit-reset": str(int(time.time()) + 1)})
    if provider == "dnsimple":
        return Reply(429, {"message": "API rate limit exceeded for this account."},
                     {"X-RateLimit-Limit": "2400", "X-RateLimit-Remaining": "0",
                      "X-RateLimit-Reset": str(int(time.time()) + 1)})
    if provider == "nsone":
        return Reply(429, {"message": "rate limit exceeded"},
                     {"X-RateLimit-By": "customer", "X-RateLimit-Limit": "10",
                      "X-RateLimit-Remaining": "0", "X-RateLimit-Period": "1"})
    if provider == "google":
        # both of Google's forms: 429 RESOURCE_EXHAUSTED, and the older 403
        # with reason rateLimitExceeded
        return g_error(429 if left % 2 == 0 else 403, "RESOURCE_EXHAUSTED",
                       "Quota exceeded for quota metric 'Write requests' of service "
                       "'dns.googleapis.com'.", "rateLimitExceeded")
    if provider == "route53":
        return r53_error(400, "Throttling", "Rate exceeded")
    if provider == "linode":
        r = li_error(429, "Too Many Requests")
        r.headers["Retry-After"] = "1"
        return r
    if provider == "luadns":
        r = lu_error(429, "Too Many Requests", "Rate limit exceeded")
        r.headers["Retry-After"] = "1"
        return r
    return Reply(429, {"message": "rate limited"})


def json_body(body, err):
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        raise err("Malformed JSON in request body")
    if not isinstance(data, dict):
        raise err("Request body must be a JSON object")
    return data


PROVIDERS = {"cloudflare": cloudflare, "digitalocean": digitalocean, "dnsimple": dnsimple,
             "nsone": nsone, "google": google, "route53": route53, "linode": linode,
             "luadns": luadns}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    store = None

    def log_message(self, fmt, *args):
        sys.stderr.write("%s\n" % (fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def send(self, status, body, headers=None):
        headers = dict(headers or {})
        if body is None:
            data = b""
        elif isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        else:
            data = body.encode() if isinstance(body, str) else body
            headers.setdefault("Content-Type", "text/plain")
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def dispatch(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in split.path.split("/")[1:]]
        q = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        provider = parts[0] if parts else ""
        st = self.store
        try:
            with st.lock:
                if provider == "_standin":
                    result = self.control(method, parts[1:], body)
                elif provider in PROVIDERS:
                    left = st.modes["ratelimit"].get(provider, 0)
                    # Google: the Cloud DNS API's quota, not the token endpoint's
                    dns_api = provider != "google" or parts[1:2] == ["dns"]
                    if left > 0 and provider in st.config and dns_api:
                        st.modes["ratelimit"][provider] = left - 1
                        raise rate_limited(provider, left)
                    if provider not in st.config:
                        raise Reply(404, {"message": "provider not configured"})
                    result = PROVIDERS[provider](self, method, parts[1:], q, body)
                else:
                    raise Reply(404, {"message": "no such stand-in"})
        except Reply as r:
            result = (r.status, r.body, r.headers)
        except Exception as e:  # a bug in the stand-in: say so, loudly
            import traceback
            traceback.print_exc()
            result = (500, {"message": "stand-in error: %r" % e})
        # logged before the answer goes out, so a spec reading the log
        # after its request sees it
        if provider != "_standin":
            with st.lock:
                st.log.append({"provider": provider, "method": method, "path": self.path,
                               "status": result[0]})
        self.send(*result)

    def control(self, method, parts, body):
        st = self.store
        if parts == ["records"] and method == "GET":
            out = {}
            for r in st.records:
                out.setdefault(r["provider"], []).append(
                    {"name": r["name"], "value": r["value"], "ttl": r["ttl"], "zone": r["zone"]})
            return 200, out
        if parts == ["log"] and method == "GET":
            return 200, st.log
        if parts == ["modes"] and method == "POST":
            data = json.loads(body or b"{}")
            for k, v in data.items():
                st.modes[k] = v
            return 200, st.modes
        if parts == ["seed"] and method == "POST":
            data = json.loads(body)
            st.add(data["provider"], data["zone"], data["name"], data["value"], data.get("ttl", 120))
            return 200, {}
        if parts == ["reset"] and method == "POST":
            names = {r["name"] for r in st.records}
            st.records.clear()
            st.log.clear()
            st.changes.clear()
            st.modes.update({"wrong_value": False, "ratelimit": {}, "pending_polls": 1})
            for n in names:
                st.sync(n)
            return 200, {}
        raise Reply(404, {"message": "no such control"})


def main():
    with open(sys.argv[1]) as f:
        config = json.load(f)
    Handler.store = Store(config)
    server = ThreadingHTTPServer(("127.0.0.1", config["port"]), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(config["cert"], config["key"])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    sys.stderr.write("dns stand-in listening on 127.0.0.1:%d\n" % config["port"])
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
