"""A stand-in for the parts of OpenAI's API that rotate-openai-key uses, on loopback only.

    GET    /v1/models                                           the live check (Bearer key)
    POST   /v1/organization/projects/{p}/service_accounts       mint: a service account + key
    GET    /v1/organization/projects/{p}/service_accounts       list (paged with limit/after)
    DELETE /v1/organization/projects/{p}/service_accounts/{id}  revoke
Test controls (never part of OpenAI's API):
    POST   /_stub/keys         {"key": "...", "status": 200|401|403|429|500}  how /v1/models answers
    POST   /_stub/admin-keys   {"key": "..."}                                  accept an admin key
    GET    /_stub/projects/{p}                                                 minted/deleted so far

Unknown keys get 401, as OpenAI answers. Keys never appear in this server's output.

    python scripts/openai_stub.py PORT
"""

import json
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Lock()
KEY_STATUS = {}          # key -> HTTP status of /v1/models
ADMIN_KEYS = set()
PROJECTS = {}            # project -> {"accounts": [..], "created": n, "deleted": [ids]}

SA_PATH = re.compile(r"^/v1/organization/projects/([^/]+)/service_accounts(?:/([^/]+))?$")


def project(p):
    return PROJECTS.setdefault(p, {"accounts": [], "created": 0, "deleted": []})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keys travel in headers; print nothing
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def bearer(self):
        auth = self.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else ""

    def error(self, status, message, code=None):
        self.reply(status, {"error": {"message": message, "type": "invalid_request_error",
                                      "code": code}})

    def admin_ok(self):
        if self.bearer() in ADMIN_KEYS:
            return True
        self.error(401, "Invalid admin key.", "invalid_api_key")
        return False

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/v1/models":
            with LOCK:
                status = KEY_STATUS.get(self.bearer(), 401)
            if status == 200:
                return self.reply(200, {"object": "list", "data": [
                    {"id": "gpt-4o-mini", "object": "model", "owned_by": "openai"}]})
            return self.error(status, "Incorrect API key provided." if status == 401 else "stub error")
        m = re.match(r"^/_stub/projects/([^/]+)$", url.path)
        if m:
            with LOCK:
                p = project(m.group(1))
                view = {"accounts": [{"id": a["id"], "name": a["name"]} for a in p["accounts"]],
                        "created": p["created"], "deleted": list(p["deleted"])}
            return self.reply(200, view)
        m = SA_PATH.match(url.path)
        if m and not m.group(2):
            if not self.admin_ok():
                return
            q = parse_qs(url.query)
            limit = int(q.get("limit", ["20"])[0])
            after = q.get("after", [None])[0]
            with LOCK:
                accounts = [{k: a[k] for k in ("object", "id", "name", "role", "created_at")}
                            for a in project(m.group(1))["accounts"]]
            if after:
                ids = [a["id"] for a in accounts]
                accounts = accounts[ids.index(after) + 1:] if after in ids else []
            page = accounts[:limit]
            return self.reply(200, {"object": "list", "data": page,
                                    "first_id": page[0]["id"] if page else None,
                                    "last_id": page[-1]["id"] if page else None,
                                    "has_more": len(accounts) > limit})
        self.error(404, "not found")

    def do_POST(self):
        url = urlparse(self.path)
        if url.path == "/_stub/keys":
            b = self.body()
            with LOCK:
                KEY_STATUS[b["key"]] = int(b.get("status", 200))
            return self.reply(200, {"ok": True})
        if url.path == "/_stub/admin-keys":
            with LOCK:
                ADMIN_KEYS.add(self.body()["key"])
            return self.reply(200, {"ok": True})
        m = SA_PATH.match(url.path)
        if m and not m.group(2):
            if not self.admin_ok():
                return
            name = self.body().get("name") or ""
            now = int(time.time())
            key = "sk-svcacct-" + secrets.token_urlsafe(36)
            account = {"object": "organization.project.service_account",
                       "id": "svc_acct_" + secrets.token_hex(8), "name": name, "role": "member",
                       "created_at": now, "key": key}
            with LOCK:
                p = project(m.group(1))
                p["accounts"].append(account)
                p["created"] += 1
                KEY_STATUS[key] = 200
            out = {k: account[k] for k in ("object", "id", "name", "role", "created_at")}
            out["api_key"] = {"object": "organization.project.service_account.api_key",
                              "value": key, "name": "Secret Key", "created_at": now,
                              "id": "key_" + secrets.token_hex(8)}
            return self.reply(200, out)
        self.error(404, "not found")

    def do_DELETE(self):
        m = SA_PATH.match(urlparse(self.path).path)
        if m and m.group(2):
            if not self.admin_ok():
                return
            with LOCK:
                p = project(m.group(1))
                found = [a for a in p["accounts"] if a["id"] == m.group(2)]
                if not found:
                    return self.error(404, "No such service account.")
                p["accounts"].remove(found[0])
                p["deleted"].append(found[0]["id"])
                KEY_STATUS.pop(found[0]["key"], None)
            return self.reply(200, {"object": "organization.project.service_account.deleted",
                                    "id": m.group(2), "deleted": True})
        self.error(404, "not found")


if __name__ == "__main__":
    port = int(sys.argv[1])
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
