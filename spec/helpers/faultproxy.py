#!/usr/bin/env python3
"""spec/helpers/faultproxy.py: a fault-injecting HTTPS proxy between the
ACME client under test and a real Pebble, for specs only.

    python3 faultproxy.py CONFIG.json

CONFIG: {"port", "control_port", "trap_port", "cert", "key",
"upstream" (Pebble's base URL, "https://127.0.0.1:14000"),
"upstream_ca" (the CA file that verifies Pebble's listener)}; see
spec/helpers/faultproxy.lua, which writes it and drives the proxy.

Three listeners, all on 127.0.0.1:
  port          HTTPS (its own certificate): forwards to Pebble, with the
                request's Host kept as the proxy's, so Pebble's own URLs
                (and the JWS "url" it checks) name the proxy; any of
                Pebble's URLs left in a body or header is rewritten too.
  control_port  plain HTTP control API (JSON):
                  GET  /log            every request seen, in order
                  POST /rules          add fault rules (one object or a list)
                  POST /ari            set renewalInfo answers by CertID ("*": any)
                  POST /directory      {"add": {...}, "meta": {...}} merged into /dir
                  POST /reset          forget rules, ARI answers, additions and logs
                  GET  /trap           requests that reached the trap listener
  trap_port     plain HTTP listener that answers 404 to everything and
                logs it: the http:// URLs the faults hand out point here,
                so a spec can show that no plaintext request was made.

A rule (the first one that matches and has uses left applies):
  "path": regex (re.search on the request path), "method": "POST"...,
  "payload": regex on the decoded JWS payload (or the raw body),
  "times": uses (default 1; 0 means forever).
What it does, without asking Pebble:
  "respond": {"status", "type" (ACME error, short or full), "detail",
              "headers": {...}, "body" (raw text), "content_type"}
  "stall": "request" (read the request, never answer), "body" (headers
           with a Content-Length, a few bytes, then nothing) or
           "connection" (accept the next connection, never handshake)
  "huge": N (a JSON body of N bytes), "endless": true (chunked, forever),
  "big_header": N (a header line of N bytes)
Or, on Pebble's answer:
  "json": [[path, value], ...] (path: list of keys/indices, "*" matches
          every element; value {"$delete": true} removes the member),
  "replace": [[regex, replacement], ...] on the body text,
  "headers": {name: value or null (removed)}, "content_type": text,
  "set_status": n, "body": raw text, "truncate": true (half the body,
  with a matching Content-Length), "short": true (the full
  Content-Length, half the body, then the connection closes),
  "delay": seconds before answering.
"""
import base64
import copy
import http.client
import json
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERR = "urn:ietf:params:acme:error:"


def b64d(s):
    s = s + "=" * (-len(s) % 4)
    return base64.urlsafe_b64decode(s.encode())


class State:
    """Everything the control API sets, behind one lock."""

    def __init__(self, conf):
        self.lock = threading.Lock()
        self.conf = conf
        self.rules = []
        self.ari = {}
        self.dir_add = {}
        self.meta_add = {}
        self.log = []
        self.trap = []
        self.stall_connections = 0
        self.stop = threading.Event()

    def reset(self):
        with self.lock:
            self.rules, self.ari, self.dir_add, self.meta_add = [], {}, {}, {}
            self.log, self.trap = [], []
            self.stall_connections = 0

    def add_rules(self, rules):
        with self.lock:
            for r in rules:
                r = dict(r)
                r.setdefault("times", 1)
                r["used"] = 0
                if r.get("stall") == "connection":
                    self.stall_connections += r["times"] or 1
                    continue
                self.rules.append(r)

    def match(self, method, path, payload_text):
        with self.lock:
            for r in self.rules:
                if r["times"] and r["used"] >= r["times"]:
                    continue
                if r.get("method") and r["method"] != method:
                    continue
                if r.get("path") and not re.search(r["path"], path):
                    continue
                if r.get("payload") and not re.search(r["payload"], payload_text or ""):
                    continue
                r["used"] += 1
                return r
        return None

    def take_stalled_connection(self):
        with self.lock:
            if self.stall_connections > 0:
                self.stall_connections -= 1
                return True
        return False

    def record(self, entry):
        with self.lock:
            entry["seq"] = len(self.log) + 1
            self.log.append(entry)
        return entry


def json_patch(doc, path, value):
    """Set (or delete) doc at path; "*" walks every element of a list or
    object.  Missing intermediate objects are created."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if head == "*":
        items = range(len(doc)) if isinstance(doc, list) else list(doc.keys()) if isinstance(doc, dict) else []
        for k in items:
            doc[k] = json_patch(doc[k], rest, value)
        return doc
    if isinstance(doc, list):
        k = int(head)
        if k < len(doc):
            if not rest and isinstance(value, dict) and value.get("$delete"):
                del doc[k]
            else:
                doc[k] = json_patch(doc[k], rest, value)
        return doc
    if not isinstance(doc, dict):
        return doc
    if not rest and isinstance(value, dict) and value.get("$delete"):
        doc.pop(head, None)
        return doc
    doc[head] = json_patch(doc.get(head, {} if rest else None), rest, value)
    return doc


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, state, tls):
        super().__init__(addr, handler)
        self.state = state
        self.tls = tls

    def finish_request(self, request, client_address):
        # runs in the connection's own thread: stall it, or do the TLS
        # handshake here (not in the accepting thread)
        if self.tls is not None:
            if self.state.take_stalled_connection():
                self.state.record({"t": time.time(), "method": "-", "path": "-",
                                   "fault": "stall-connection"})
                self.state.stop.wait()
                return
            try:
                request.settimeout(30)
                request = self.tls.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                return
        self.RequestHandlerClass(request, client_address, self)

    def handle_error(self, request, client_address):
        pass  # a client that hung up is no news


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"

    def log_message(self, fmt, *args):
        pass

    # -- helpers ----------------------------------------------------------

    @property
    def st(self):
        return self.server.state

    def base(self):
        return "https://127.0.0.1:%d" % self.st.conf["port"]

    def send_raw(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def problem(self, status, ptype, detail, headers=None):
        if ptype and ":" not in ptype:
            ptype = ERR + ptype
        body = json.dumps({"type": ptype or "about:blank", "detail": detail or "", "status": status}).encode()
        hs = [("Content-Type", "application/problem+json")]
        for k, v in (headers or {}).items():
            hs.append((k, str(v)))
        self.send_raw(status, hs, body)

    def rewrite(self, text):
        up = self.st.conf["upstream"]
        return text.replace(up, self.base())

    # -- the request ------------------------------------------------------

    def do_GET(self):
        self.handle_one()

    def do_HEAD(self):
        self.handle_one()

    def do_POST(self):
        self.handle_one()

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        entry = {"t": time.time(), "method": self.command, "path": self.path}
        payload_text = None
        if body:
            try:
                doc = json.loads(body)
                if isinstance(doc, dict) and "protected" in doc:
                    entry["protected"] = json.loads(b64d(doc["protected"]))
                    raw = b64d(doc.get("payload", ""))
                    payload_text = raw.decode("utf-8", "replace")
                    entry["payload_text"] = payload_text
                    if raw:
                        try:
                            entry["payload"] = json.loads(raw)
                        except ValueError:
                            pass
            except (ValueError, KeyError, TypeError):
                payload_text = body.decode("utf-8", "replace")
        entry = self.st.record(entry)
        if self.path.startswith("/renewal-info/") or self.path == "/renewal-info":
            if self.command == "GET":
                rule = self.st.match(self.command, self.path, payload_text)
                if rule is None:
                    return self.renewal_info(entry)
                return self.apply(rule, entry, body)
        rule = self.st.match(self.command, self.path, payload_text)
        if rule is None:
            status, headers, out = self.forward(body)
            entry["status"] = status
            return self.send_raw(status, headers, out)
        return self.apply(rule, entry, body)

    def renewal_info(self, entry):
        certid = self.path[len("/renewal-info/"):]
        with self.st.lock:
            ans = self.st.ari.get(certid) or self.st.ari.get("*")
        entry["status"] = 404 if ans is None else ans.get("status", 200)
        if ans is None:
            return self.problem(404, "malformed", "no renewal information for " + certid)
        if entry["status"] != 200:
            return self.problem(entry["status"], ans.get("type", "serverInternal"), ans.get("detail", "ARI error"),
                                {"Retry-After": ans["retry_after"]} if "retry_after" in ans else None)
        doc = {"suggestedWindow": {"start": ans["start"], "end": ans["end"]}}
        if ans.get("explanationURL"):
            doc["explanationURL"] = ans["explanationURL"]
        hs = [("Content-Type", "application/json")]
        if ans.get("retry_after") is not None:
            hs.append(("Retry-After", str(ans["retry_after"])))
        self.send_raw(200, hs, json.dumps(doc).encode())

    def forward(self, body):
        up = urllib.parse.urlsplit(self.st.conf["upstream"])
        ctx = ssl.create_default_context(cafile=self.st.conf["upstream_ca"])
        conn = http.client.HTTPSConnection(up.hostname, up.port, context=ctx, timeout=60)
        hs = {"Host": "127.0.0.1:%d" % self.st.conf["port"]}
        for k in ("Content-Type", "User-Agent", "Accept", "Accept-Language"):
            if self.headers.get(k):
                hs[k] = self.headers[k]
        try:
            conn.request(self.command, self.path, body=body if self.command == "POST" else None, headers=hs)
            resp = conn.getresponse()
            data = resp.read()
            headers = []
            for k, v in resp.getheaders():
                if k.lower() in ("content-length", "connection", "transfer-encoding", "date", "server"):
                    continue
                headers.append((k, self.rewrite(v)))
            status = resp.status
        finally:
            conn.close()
        ct = dict((k.lower(), v) for k, v in headers).get("content-type", "")
        if "json" in ct:
            data = self.rewrite(data.decode("utf-8")).encode()
            if self.path.rstrip("/") == "/dir" and status == 200:
                data = self.extend_directory(data)
        return status, headers, data

    def extend_directory(self, data):
        doc = json.loads(data)
        with self.st.lock:
            add, meta = dict(self.st.dir_add), dict(self.st.meta_add)
        for k, v in add.items():
            if k == "renewalInfo" and v is True:
                v = self.base() + "/renewal-info"
            if v is None:
                doc.pop(k, None)
            else:
                doc[k] = v
        if meta:
            m = doc.setdefault("meta", {})
            for k, v in meta.items():
                if v is None:
                    m.pop(k, None)
                else:
                    m[k] = v
        return json.dumps(doc, indent=2).encode()

    # -- faults -----------------------------------------------------------

    def apply(self, rule, entry, body):
        entry["fault"] = {k: v for k, v in rule.items() if k not in ("used",)}
        if rule.get("delay"):
            time.sleep(rule["delay"])
        stall = rule.get("stall")
        if stall == "request":
            self.st.stop.wait()
            self.close_connection = True
            return
        if stall == "body":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"status": ')
            self.wfile.flush()
            self.st.stop.wait()
            self.close_connection = True
            return
        if rule.get("huge"):
            return self.send_huge(int(rule["huge"]))
        if rule.get("endless"):
            return self.send_endless()
        if rule.get("big_header"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Filler", "a" * int(rule["big_header"]))
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            self.close_connection = True
            return
        r = rule.get("respond")
        if r is not None:
            entry["status"] = r.get("status", 500)
            if "body" in r:
                hs = [("Content-Type", r.get("content_type", "application/json"))]
                hs += [(k, str(v)) for k, v in (r.get("headers") or {}).items()]
                return self.send_raw(entry["status"], hs, r["body"].encode())
            return self.problem(entry["status"], r.get("type", "serverInternal"),
                                r.get("detail", "injected fault"), r.get("headers"))
        status, headers, data = self.forward(body)
        if "set_status" in rule:
            status = rule["set_status"]
        if rule.get("json"):
            try:
                doc = json.loads(data)
                for path, value in rule["json"]:
                    doc = json_patch(doc, path, copy.deepcopy(value))
                data = json.dumps(doc).encode()
            except ValueError:
                pass
        for pat, repl in rule.get("replace") or []:
            data = re.sub(pat, repl, data.decode("utf-8", "replace")).encode()
        if "body" in rule:
            data = rule["body"].encode()
        hmap = [(k, v) for k, v in headers]
        for name, value in (rule.get("headers") or {}).items():
            hmap = [(k, v) for k, v in hmap if k.lower() != name.lower()]
            if value is not None:
                hmap.append((name, str(value)))
        if "content_type" in rule:
            hmap = [(k, v) for k, v in hmap if k.lower() != "content-type"]
            hmap.append(("Content-Type", rule["content_type"]))
        entry["status"] = status
        if rule.get("truncate"):
            data = data[: len(data) // 2]
        if rule.get("short"):
            self.send_response(status)
            for k, v in hmap:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_raw(status, hmap, data)

    def send_huge(self, n):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        head = b'{"status": "pending", "filler": "'
        chunk = b"x" * 65536
        sent = 0
        try:
            self.wfile.write(head)
            sent = len(head)
            while sent < n - 2:
                part = chunk[: min(len(chunk), n - 2 - sent)]
                self.wfile.write(part)
                sent += len(part)
            self.wfile.write(b'"}')
        except OSError:
            pass
        self.close_connection = True

    def send_endless(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"x" * 65536
        try:
            self.wfile.write(b'%x\r\n{"filler": "\r\n' % len(b'{"filler": "'))
            while not self.st.stop.is_set():
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass
        self.close_connection = True


class Control(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, doc, status=200):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        st = self.server.state
        with st.lock:
            if self.path == "/log":
                return self.reply(st.log)
            if self.path == "/trap":
                return self.reply(st.trap)
            if self.path == "/rules":
                return self.reply(st.rules)
        self.reply({"error": "no such control path " + self.path}, 404)

    def do_POST(self):
        st = self.server.state
        n = int(self.headers.get("Content-Length") or 0)
        try:
            doc = json.loads(self.rfile.read(n) or b"null")
        except ValueError as e:
            return self.reply({"error": str(e)}, 400)
        if self.path == "/rules":
            st.add_rules(doc if isinstance(doc, list) else [doc])
        elif self.path == "/ari":
            with st.lock:
                for k, v in doc.items():
                    if v is None:
                        st.ari.pop(k, None)
                    else:
                        st.ari[k] = v
        elif self.path == "/directory":
            with st.lock:
                st.dir_add.update(doc.get("add") or {})
                st.meta_add.update(doc.get("meta") or {})
        elif self.path == "/reset":
            st.reset()
        elif self.path == "/clear-log":
            with st.lock:
                st.log, st.trap = [], []
        else:
            return self.reply({"error": "no such control path " + self.path}, 404)
        self.reply({"ok": True})


class Trap(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 0:
            self.rfile.read(n)
        with self.server.state.lock:
            self.server.state.trap.append({"t": time.time(), "method": self.command, "path": self.path})
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_HEAD = any


def main():
    with open(sys.argv[1]) as f:
        conf = json.load(f)
    state = State(conf)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(conf["cert"], conf["key"])
    servers = [
        ProxyServer(("127.0.0.1", conf["port"]), Proxy, state, tls),
        ProxyServer(("127.0.0.1", conf["control_port"]), Control, state, None),
        ProxyServer(("127.0.0.1", conf["trap_port"]), Trap, state, None),
    ]
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        servers[0].serve_forever()
    finally:
        state.stop.set()


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    main()
