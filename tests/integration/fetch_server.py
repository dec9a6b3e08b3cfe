#!/usr/bin/env python3
"""fetch_server.py ROOT PORTFILE LOG - a local HTTP server for the fetch tests
(127.0.0.1, port written to PORTFILE). Serves ROOT/NAME under a path prefix
that chooses the fault:
  /ok/NAME        normal, with Range support (206 + Content-Range)
  /cut/NAME       the first request for NAME sends half of what it promised and
                  drops the connection; later ones behave
  /norange/NAME   ignores Range (always 200, whole file); the first request is cut
  /flaky/NAME     500 on the first request, then normal
  /missing/NAME   404
  /bad/NAME       the file with one byte changed (wrong checksum)
  /slow/NAME      normal but 64 KiB every 50 ms (to kill a client mid-file)
  /drive?id=NAME  Google-Drive-like: an HTML confirmation page with a
                  download form, whose target /drive-dl?id=NAME&confirm=t&uuid=u
                  serves the file
Every request is logged to LOG as: path <TAB> Range header <TAB> status <TAB> bytes sent.
"""
import http.server
import os
import socketserver
import sys
import threading
import time
import urllib.parse

ROOT, PORTFILE, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
seen = {}
lock = threading.Lock()


def log(path, rng, status, n):
    with lock, open(LOG, "a") as f:
        f.write("%s\t%s\t%d\t%d\n" % (path, rng or "-", status, n))


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def first(self, key):
        with lock:
            n = seen.get(key, 0)
            seen[key] = n + 1
        return n == 0

    def send_file(self, data, honor_range=True, cut=False, slow=False):
        rng = self.headers.get("Range")
        start = 0
        if rng and honor_range and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
        if start > len(data):
            self.send_response(416)
            self.send_header("Content-Range", "bytes */%d" % len(data))
            self.send_header("Content-Length", "0")
            self.end_headers()
            log(self.path, rng, 416, 0)
            return
        body = data[start:]
        status = 206 if start > 0 else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if cut:
            half = body[: len(body) // 2]
            self.wfile.write(half)
            self.wfile.flush()
            log(self.path, rng, status, len(half))
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        sent = 0
        try:
            if slow:
                for i in range(0, len(body), 65536):
                    self.wfile.write(body[i:i + 65536])
                    self.wfile.flush()
                    sent += len(body[i:i + 65536])
                    time.sleep(0.05)
            else:
                self.wfile.write(body)
                sent = len(body)
        finally:
            log(self.path, rng, status, sent)

    def simple(self, code, text, ctype="text/plain"):
        b = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
        log(self.path, self.headers.get("Range"), code, len(b))

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        parts = u.path.strip("/").split("/", 1)
        mode = parts[0]
        name = parts[1] if len(parts) > 1 else (q.get("id", [""])[0])
        fpath = os.path.join(ROOT, os.path.basename(name))
        if mode == "drive":
            page = ('<!DOCTYPE html><html><body><p>Google Drive can\'t scan this file for viruses.</p>'
                    '<form id="download-form" action="/drive-dl" method="get">'
                    '<input type="submit" value="Download anyway"/>'
                    '<input type="hidden" name="id" value="%s">'
                    '<input type="hidden" name="export" value="download">'
                    '<input type="hidden" name="confirm" value="t">'
                    '<input type="hidden" name="uuid" value="0f1e2d3c"></form></body></html>' % name)
            return self.simple(200, page, "text/html; charset=utf-8")
        if mode == "drive-dl":
            if q.get("confirm") != ["t"] or q.get("uuid") != ["0f1e2d3c"]:
                return self.simple(403, "missing confirmation")
        if mode == "missing" or not os.path.isfile(fpath):
            return self.simple(404, "not found")
        data = open(fpath, "rb").read()
        if mode in ("ok", "drive-dl"):
            return self.send_file(data)
        if mode == "cut":
            return self.send_file(data, cut=self.first("cut" + name))
        if mode == "norange":
            return self.send_file(data, honor_range=False, cut=self.first("norange" + name))
        if mode == "flaky":
            if self.first("flaky" + name):
                return self.simple(500, "try again")
            return self.send_file(data)
        if mode == "bad":
            b = bytearray(data)
            b[len(b) // 3] ^= 0xFF
            return self.send_file(bytes(b))
        if mode == "slow":
            return self.send_file(data, slow=True)
        return self.simple(404, "unknown mode")


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # clients that drop connections on purpose


srv = S(("127.0.0.1", 0), H)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
