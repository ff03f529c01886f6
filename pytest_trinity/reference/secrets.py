"""API keys and the admin token of a reference cluster: generation, a hiding wrapper, the 0600 file.

Secrets never appear in a repr, a log line or a printed URL; the launcher writes them to a file
readable only by its owner and hands the path around instead.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TIERS = ("public", "partner")


@dataclass(frozen=True)
class Secret:
    """A secret string whose repr and str hide it; read it with `.value`."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    @classmethod
    def generate(cls, prefix: str) -> Secret:
        return cls(f"{prefix}_{secrets.token_urlsafe(24)}")


@dataclass(frozen=True)
class KeySpec:
    """One API key: a public id (safe to log and to report) and the secret itself.

    `monthly_cap` applies to public keys only (None: no cap); partner keys are never limited.
    """

    key_id: str
    tier: str
    key: Secret
    monthly_cap: int | None = None

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise ValueError(f"key {self.key_id}: tier must be one of {TIERS}, got {self.tier!r}")
        if self.monthly_cap is not None and self.monthly_cap < 0:
            raise ValueError(f"key {self.key_id}: monthly_cap must be >= 0, got {self.monthly_cap}")

    @classmethod
    def generate(cls, key_id: str, tier: str, monthly_cap: int | None = None) -> KeySpec:
        return cls(key_id, tier, Secret.generate("tb_" + tier[:4]), monthly_cap)

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "tier": self.tier, "key": self.key.value, "monthly_cap": self.monthly_cap}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeySpec:
        return cls(data["key_id"], data["tier"], Secret(data["key"]), data.get("monthly_cap"))


@dataclass(frozen=True)
class ClusterSecrets:
    """Everything secret a cluster knows: all its keys and the admin token."""

    admin_token: Secret
    keys: tuple[KeySpec, ...]

    def write(self, path: Path) -> None:
        """Write as JSON to a file created with mode 0600 (never world- or group-readable)."""
        data = {"admin_token": self.admin_token.value, "keys": [k.to_json() for k in self.keys]}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
        os.chmod(path, 0o600)

    @classmethod
    def read(cls, path: Path | str) -> ClusterSecrets:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(Secret(data["admin_token"]), tuple(KeySpec.from_json(k) for k in data["keys"]))
