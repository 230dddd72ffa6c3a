"""A registry token server for tests: the Docker token-auth flow with RS256 JWTs.

Issues tokens for `user:password` given as basic auth (anyone else gets a token granting
nothing), signed with `openssl dgst` so that only the standard library is needed.
Usage: token_server.py PORT KEY.pem CERT.pem USER PASSWORD ISSUER
"""

import base64
import http.server
import json
import subprocess
import sys
import time
import urllib.parse
import uuid

port, key, cert, user, password, issuer = sys.argv[1:7]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


with open(cert) as f:
    pem = f.read()
der = base64.b64decode("".join(l for l in pem.splitlines() if "CERTIFICATE" not in l))


def sign(claims: dict) -> str:
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    sig = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", key],
        input=signing_input.encode(),
        capture_output=True,
        check=True,
    ).stdout
    return signing_input + "." + b64(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        authorized = False
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            given = base64.b64decode(auth[6:]).decode(errors="replace")
            authorized = given == f"{user}:{password}"
        if auth and not authorized:
            self.send_response(401)
            self.end_headers()
            return
        access = []
        for scope in query.get("scope", []):
            for part in scope.split(" "):
                kind, _, rest = part.partition(":")
                name, _, actions = rest.rpartition(":")
                if kind == "repository" and authorized:
                    access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        token = sign(
            {
                "iss": issuer,
                "sub": user if authorized else "",
                "aud": query.get("service", [""])[0],
                "exp": now + 300,
                "nbf": now - 10,
                "iat": now,
                "jti": str(uuid.uuid4()),
                "access": access,
            }
        )
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
