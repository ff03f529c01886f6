"""`python -m pytest_trinity.reference`: starts the cluster in the foreground, prints URLs and the
secrets file (never a secret), serves HTTPS /price through nginx, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.reference.test_lifecycle import _alive


def test_foreground_launcher_serves_and_stops_on_ctrl_c() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pytest_trinity.reference"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        text = "".join(lines)
        assert "reference cluster is up" in text, text
        api = re.search(r"balanced api\s+(https://\S+)", text).group(1)  # type: ignore[union-attr]
        admin = re.search(r"balanced admin\s+(https://\S+)", text).group(1)  # type: ignore[union-attr]
        ca = re.search(r"CA file (\S+)\)", text).group(1)  # type: ignore[union-attr]
        secrets_file = Path(re.search(r"admin token: (\S+) ", text).group(1))  # type: ignore[union-attr]
        assert oct(secrets_file.stat().st_mode & 0o777) == "0o600"
        secrets = json.loads(secrets_file.read_text())
        assert secrets["admin_token"] not in text and not any(k["key"] in text for k in secrets["keys"])
        public = next(k["key"] for k in secrets["keys"] if k["tier"] == "public")
        verify = ssl.create_default_context(cafile=ca)
        r = httpx.get(api + "/price", params={"symbol": "BTC-USD"}, headers={"X-API-Key": public}, verify=verify, timeout=30)
        assert r.status_code == 200
        stats = httpx.get(admin + "/admin/cluster-stats", headers={"X-Admin-Token": secrets["admin_token"]}, verify=verify, timeout=30)
        assert len(stats.json()["nodes"]) == 3
        pids = [int(p) for p in re.findall(r"\"pid\": (\d+)", json.dumps(stats.json()))]
        assert len(pids) == 3
    finally:
        os.kill(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground process
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "stopped" in out
    assert not any(_alive(p) for p in pids)
    assert not secrets_file.exists()
