"""The local load balancer: a throw-away CA and server certificate, and the nginx config that
terminates TLS for the API and admin (the ALB path) and proxies UDP to every node (the NLB path).

With `access_log`, the API server logs one `ALB_LOG_FORMAT` line per request (buffered, flushed
every second): what the CloudWatch publisher (cloudwatch.py) reads an ALB's request metrics from.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from pytest_trinity.services import ServiceError, require_binary

LOOPBACK = "127.0.0.1"
# Written time (s since epoch), connection serial, requests on it so far, status, and the
# upstream's status and response time (each "a, b" when nginx tried more than one node, "-" none).
ALB_LOG_FORMAT = '$msec $connection $connection_requests $status "$upstream_status" "$upstream_response_time"'


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_certificates(folder: Path, days: int = 2) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it (openssl CLI, EC keys)."""
    openssl = require_binary("openssl", "openssl")
    ca_key, ca, key, csr, cert = (folder / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = folder / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        [openssl, "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca), "-days", str(days),
         "-subj", "/CN=pytest-trinity reference CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        [openssl, "req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1"],
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
         "-out", str(cert), "-days", str(days), "-extfile", str(ext)],
    ]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, cwd=folder, timeout=60)
        if done.returncode != 0:
            raise ServiceError(f"openssl failed making the load balancer's certificate: {done.stderr.strip()}")
    for f in (ca_key, key):
        f.chmod(0o600)
    return TlsFiles(ca, cert, key)


def http_block(tls: TlsFiles, api_port: int, admin_port: int, api: list[int], admin: list[int],
               access_log: Path | None = None) -> str:
    """The `http {}` body: TLS servers for the API and admin; `access_log`: the API's request log."""
    def upstream(name: str, ports: list[int], keepalive: int) -> str:
        servers = "\n".join(f"        server {LOOPBACK}:{p} max_fails=0;" for p in ports)
        return f"    upstream {name} {{\n{servers}\n        keepalive {keepalive};\n    }}"

    def server(port: int, upstream_name: str, log: str = "") -> str:
        return f"""    server {{{log}
        listen {LOOPBACK}:{port} ssl;
        ssl_certificate {tls.cert_file};
        ssl_certificate_key {tls.key_file};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:trinity_{upstream_name}:1m;
        keepalive_requests 1000000;
        location / {{
            proxy_pass http://{upstream_name};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 5s;
            proxy_read_timeout 60s;
        }}
    }}"""

    log_format, api_log = "", ""
    if access_log is not None:
        log_format = f"    log_format trinity_alb '{ALB_LOG_FORMAT}';\n"
        api_log = f"\n        access_log {access_log} trinity_alb buffer=64k flush=1s;"
    return log_format + "\n".join([
        upstream("trinity_api", api, 256), upstream("trinity_admin", admin, 16),
        server(api_port, "trinity_api", api_log), server(admin_port, "trinity_admin"),
    ])


def stream_block(udp_port: int, udp: list[int]) -> str:
    """UDP to the nodes' UDP ports. Like an NLB's flow hash, nginx keeps each client address
    (a "session") on one node until it has been idle for proxy_timeout; new sessions rotate."""
    servers = "\n".join(f"        server {LOOPBACK}:{p};" for p in udp)
    return f"""    upstream trinity_udp {{
{servers}
    }}
    server {{
        listen {LOOPBACK}:{udp_port} udp rcvbuf=4m sndbuf=4m;
        proxy_pass trinity_udp;
        proxy_timeout 10s;
    }}"""
