"""A local stand-in for the four ElastiCache API actions rotate-redis calls, which moto lacks.

It speaks the AWS Query protocol the SDK uses (form-encoded POST, XML answers, errors in
<ErrorResponse>) and applies every change to a real Redis, so passwords are really checked:

    DescribeUsers              UserId                         -> the user, `modifying` or `active`
    ModifyUser                 UserId, Passwords.member.N     -> ACL SETUSER <name> resetpass >p..
    DescribeReplicationGroups  ReplicationGroupId             -> the group, `modifying`/`available`
    ModifyReplicationGroup     ReplicationGroupId, AuthToken, AuthTokenUpdateStrategy (ROTATE|SET)
                                                              -> the `default` user's passwords

Like ElastiCache, a change leaves the resource `modifying` for a while (`modifying_ms`, -1 for
ever), a change while modifying is refused, a user has at most two passwords, ROTATE is refused
while two tokens are in use, and tokens and passwords must be 16-128 letters, digits and the
punctuation AWS documents for AUTH tokens (! & # $ ^ < > -).

Test controls (JSON):
    POST /_stub/users               {"user_id", "user_name", "redis": {"host", "port", "admin_user",
                                     "admin_password"}, "modifying_ms"}
    POST /_stub/replication-groups  {"id", "tokens": [..], "redis": {...}, "modifying_ms"}
    GET  /_stub/calls               [{"action", "id"}] in order (never a password)

    python3 scripts/elasticache_stub.py PORT
Nothing it receives is ever printed.
"""

import json
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

NS = "http://elasticache.amazonaws.com/doc/2015-02-02/"
ACCOUNT = "123456789012"
REGION = "us-east-1"
LOCK = threading.Lock()
USERS = {}    # user_id -> {"name", "redis", "modifying_ms", "busy_until", "passwords"}
GROUPS = {}   # group id -> {"tokens", "redis", "modifying_ms", "busy_until"}
CALLS = []    # [{"action", "id"}]


class ApiError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def redis_command(redis, *args):
    """One command over a fresh admin connection (minimal RESP); returns the first reply line."""
    with socket.create_connection((redis["host"], int(redis["port"])), timeout=5) as s:
        def send(*parts):
            out = b"*%d\r\n" % len(parts)
            for p in parts:
                b = p.encode() if isinstance(p, str) else p
                out += b"$%d\r\n%s\r\n" % (len(b), b)
            s.sendall(out)
            line = b""
            while not line.endswith(b"\r\n"):
                chunk = s.recv(1)
                if not chunk:
                    raise ApiError("ServiceUnavailable", "Redis closed the connection", 503)
                line += chunk
            return line.decode(errors="replace").strip()
        reply = send("AUTH", redis["admin_user"], redis["admin_password"])
        if not reply.startswith("+"):
            raise ApiError("ServiceUnavailable", "the stand-in cannot log in to Redis", 503)
        reply = send(*args)
        if reply.startswith("-"):
            raise ApiError("InvalidParameterValue", "Redis refused the change", 400)
        send("ACL", "SAVE")  # best effort: a server without an ACL file answers an error
        return reply


ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!&#$^<>-")


def check_secret_rules(value, what):
    if not 16 <= len(value) <= 128 or any(c not in ALLOWED for c in value):
        raise ApiError("InvalidParameterValue",
                       f"{what} must be 16-128 letters, digits and ! & # $ ^ < > - only")


def status(resource, busy):
    """`busy` while a change is settling (for ever when modifying_ms was -1), else None."""
    until = resource["busy_until"]
    if until is not None and (until < 0 or time.monotonic() < until):
        return busy
    return None


def start_modifying(resource):
    ms = resource.get("modifying_ms", 300)
    resource["busy_until"] = -1 if ms < 0 else time.monotonic() + ms / 1000.0


def user_xml(user_id, u):
    state = status(u, "modifying") or "active"
    arn = f"arn:aws:elasticache:{REGION}:{ACCOUNT}:user:{user_id}"
    return (f"<UserId>{escape(user_id)}</UserId><UserName>{escape(u['name'])}</UserName>"
            f"<Status>{state}</Status><Engine>redis</Engine><AccessString>on ~* +@all</AccessString>"
            f"<Authentication><Type>password</Type><PasswordCount>{u['passwords']}</PasswordCount>"
            f"</Authentication><ARN>{arn}</ARN>")


def group_xml(group_id, g):
    state = status(g, "modifying") or "available"
    arn = f"arn:aws:elasticache:{REGION}:{ACCOUNT}:replicationgroup:{group_id}"
    return (f"<ReplicationGroupId>{escape(group_id)}</ReplicationGroupId><Status>{state}</Status>"
            f"<AuthTokenEnabled>true</AuthTokenEnabled><TransitEncryptionEnabled>true"
            f"</TransitEncryptionEnabled><ClusterEnabled>false</ClusterEnabled><ARN>{arn}</ARN>")


def members(form, name):
    out, i = [], 1
    while f"{name}.member.{i}" in form:
        out.append(form[f"{name}.member.{i}"])
        i += 1
    return out


def act(action, form):
    if action == "DescribeUsers":
        user_id = form.get("UserId", "")
        with LOCK:
            CALLS.append({"action": action, "id": user_id})
            u = USERS.get(user_id)
            if u is None:
                raise ApiError("UserNotFound", f"User {user_id} not found.", 404)
            return f"<Users><member>{user_xml(user_id, u)}</member></Users>"
    if action == "ModifyUser":
        user_id = form.get("UserId", "")
        passwords = members(form, "Passwords")
        with LOCK:
            CALLS.append({"action": action, "id": user_id})
            u = USERS.get(user_id)
            if u is None:
                raise ApiError("UserNotFound", f"User {user_id} not found.", 404)
            if status(u, "modifying"):
                raise ApiError("InvalidUserState", "The user is not in active state.")
            if not 1 <= len(passwords) <= 2:
                raise ApiError("InvalidParameterValue", "A user has one or two passwords.")
            for p in passwords:
                check_secret_rules(p, "Passwords")
            redis_command(u["redis"], "ACL", "SETUSER", u["name"], "resetpass",
                          *[">" + p for p in passwords])
            u["passwords"] = len(passwords)
            start_modifying(u)
            return user_xml(user_id, u)
    if action == "DescribeReplicationGroups":
        group_id = form.get("ReplicationGroupId", "")
        with LOCK:
            CALLS.append({"action": action, "id": group_id})
            g = GROUPS.get(group_id)
            if g is None:
                raise ApiError("ReplicationGroupNotFoundFault",
                               f"Replication group {group_id} not found.", 404)
            return f"<ReplicationGroups><ReplicationGroup>{group_xml(group_id, g)}</ReplicationGroup></ReplicationGroups>"
    if action == "ModifyReplicationGroup":
        group_id = form.get("ReplicationGroupId", "")
        token, strategy = form.get("AuthToken"), form.get("AuthTokenUpdateStrategy", "ROTATE")
        with LOCK:
            CALLS.append({"action": action, "id": group_id, "strategy": strategy})
            g = GROUPS.get(group_id)
            if g is None:
                raise ApiError("ReplicationGroupNotFoundFault",
                               f"Replication group {group_id} not found.", 404)
            if status(g, "modifying"):
                raise ApiError("InvalidReplicationGroupState",
                               "Replication group must be in available state to modify.")
            if token is None:
                raise ApiError("InvalidParameterValue", "AuthToken is required.")
            check_secret_rules(token, "AuthToken")
            if strategy == "ROTATE":
                if len(g["tokens"]) >= 2:
                    raise ApiError("InvalidParameterCombination",
                                   "Two auth tokens are in use; SET one before you ROTATE.")
                tokens = g["tokens"][-1:] + [token]
            elif strategy == "SET":
                if len(g["tokens"]) < 2:
                    raise ApiError("InvalidParameterCombination",
                                   "SET is allowed only after ROTATE (two tokens in use).")
                tokens = [token]
            else:
                raise ApiError("InvalidParameterValue", f"Unknown strategy {strategy}.")
            redis_command(g["redis"], "ACL", "SETUSER", "default", "on", "resetpass",
                          *[">" + t for t in tokens], "~*", "&*", "+@all")
            g["tokens"] = tokens
            start_modifying(g)
            return f"<ReplicationGroup>{group_xml(group_id, g)}</ReplicationGroup>"
    raise ApiError("InvalidAction", f"The stand-in does not implement {action}.")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass  # nothing received is ever printed

    def send(self, status, body, content_type="text/xml"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):
        if urlparse(self.path).path == "/_stub/calls":
            with LOCK:
                return self.send(200, json.dumps(CALLS), "application/json")
        self.send(404, "{}", "application/json")

    def do_POST(self):
        path = urlparse(self.path).path
        if path == "/_stub/users":
            spec = json.loads(self.body())
            with LOCK:
                USERS[spec["user_id"]] = {"name": spec["user_name"], "redis": spec["redis"],
                                          "modifying_ms": spec.get("modifying_ms", 300),
                                          "busy_until": None, "passwords": 1}
            return self.send(200, "{}", "application/json")
        if path == "/_stub/replication-groups":
            spec = json.loads(self.body())
            with LOCK:
                g = {"tokens": spec["tokens"], "redis": spec["redis"],
                     "modifying_ms": spec.get("modifying_ms", 300), "busy_until": None}
                GROUPS[spec["id"]] = g
                try:
                    redis_command(g["redis"], "ACL", "SETUSER", "default", "on", "resetpass",
                                  *[">" + t for t in g["tokens"]], "~*", "&*", "+@all")
                except ApiError as e:
                    return self.send(500, json.dumps({"error": e.message}), "application/json")
            return self.send(200, "{}", "application/json")
        form = {k: v[0] for k, v in parse_qs(self.body().decode(), keep_blank_values=True).items()}
        action = form.get("Action", "")
        request_id = str(uuid.uuid4())
        try:
            result = act(action, form)
            self.send(200, f'<{action}Response xmlns="{NS}"><{action}Result>{result}</{action}Result>'
                           f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
                           f"</{action}Response>")
        except ApiError as e:
            kind = "Receiver" if e.status >= 500 else "Sender"
            self.send(e.status, f'<ErrorResponse xmlns="{NS}"><Error><Type>{kind}</Type>'
                                f"<Code>{e.code}</Code><Message>{escape(e.message)}</Message></Error>"
                                f"<RequestId>{request_id}</RequestId></ErrorResponse>")


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
