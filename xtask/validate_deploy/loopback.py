"""The loopback peers of daprd's runs: free ports, and one HTTP server that is both the app and
Microsoft Entra ID's stand-in."""

from __future__ import annotations

import base64
import http.server
import json
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path


def stop_process(process: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM, and SIGKILL if it has not ended within `grace` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackServer:
    """One loopback HTTP server for daprd's runs: it is the app (200 and the path it was
    called with) and an OpenID provider's discovery document and key set, standing in for
    Microsoft Entra ID. Its RSA key (made with openssl) signs the tokens of the AKS entry
    check."""

    def __init__(self) -> None:
        server = self
        self.work = tempfile.TemporaryDirectory(prefix="validate-idp-")
        self.key = Path(self.work.name) / "key.pem"
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", str(self.key)], check=True, capture_output=True)
        modulus = subprocess.run(["openssl", "rsa", "-in", str(self.key), "-noout", "-modulus"], check=True,
                                 capture_output=True, text=True).stdout.strip().split("=", 1)[1]
        jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "stand-in", "e": "AQAB",
               "n": b64url(bytes.fromhex(modulus))}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.endswith("/.well-known/openid-configuration"):
                    issuer = server.base + self.path.removesuffix("/.well-known/openid-configuration")
                    body = {"issuer": issuer, "jwks_uri": server.base + "/keys"}
                elif self.path == "/keys":
                    body = {"keys": [jwk]}
                else:
                    body = {"path": self.path}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PUT = do_DELETE = do_GET

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, claims: dict) -> str:
        """An RS256 JWT with these claims, signed with the key the key set publishes."""
        signing_input = ".".join(b64url(json.dumps(part).encode()) for part in (
            {"alg": "RS256", "typ": "JWT", "kid": "stand-in"}, claims))
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                                   input=signing_input.encode(), check=True, capture_output=True).stdout
        return signing_input + "." + b64url(signature)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.work.cleanup()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
