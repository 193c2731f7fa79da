"""Private key files: PEM (PKCS#8), written with mode 0600, never logged."""

from __future__ import annotations

import os
from pathlib import Path

from crypto.canonical import EncodingError
from crypto.signing import SigningKey


class KeyFileError(Exception):
    pass


def write_private_key(path: Path, key: SigningKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.to_pem())


def read_private_key(path: Path) -> SigningKey:
    try:
        return SigningKey.from_pem(path.read_bytes())
    except FileNotFoundError as exc:
        raise KeyFileError(f"no key file at {path}") from exc
    except EncodingError as exc:
        raise KeyFileError(f"{path}: {exc}") from exc


def commission_key_path(data_dir: Path) -> Path:
    return data_dir / "keys" / "commission.pem"


def log_key_path(data_dir: Path, unit: str) -> Path:
    return data_dir / "keys" / f"log-{unit}.pem"


