"""A guardian's directory G: its identity, its secrets sealed under a passphrase, its state.

Layout (docs/record.md, "The guardian's directory"):

    guardian.json                 public: identity key, share key, fingerprint, KDF parameters
    keys.sealed                   SECRET, sealed: the Ed25519 identity seed and X25519 share key
    ceremony/<election>/list.sealed  the ceremony it confirmed in phase 0: election, L, F
    ceremony/<election>/attempt-<a>/polynomial.sealed, received.sealed
    ceremony/<election>/attempt-<a>/key-share.sealed  its key share and what it confirmed
    ceremony/<election>/attempt-<a>/confirmed.json   what it confirmed: joint key, transcript hash
    ceremony/<election>/attempt-<a>/answer.json      its signed answer to complaints, if accused

Every ``.sealed`` file is ChaCha20-Poly1305 under a key derived from the passphrase with scrypt
(crypto/sealing.py), with the file's purpose as associated data: without the passphrase nothing
secret in G can be read, and a sealed file moved to another name does not open. Files are
written atomically (temporary file, fsync, rename), so a crash leaves the old or the new one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from crypto.canonical import hex_decode
from crypto.ceremony import fingerprint_of
from crypto.sealing import (
    SCRYPT_N,
    SealingError,
    derive_key,
    open_sealed,
    seal,
    x25519_generate,
    x25519_public,
)
from crypto.signing import SigningKey

GUARDIAN_FORMAT = "kz-tally/guardian/v1"
PUBLIC_FILE = "guardian.json"
KEYS_FILE = "keys.sealed"


class GuardianDirError(Exception):
    """G is missing, already initialised, or the passphrase does not open it."""


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def read_passphrase(passphrase_file: Path | None, confirm: bool = False) -> bytes:
    """From the file (its first line), or a prompt on the terminal."""
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise GuardianDirError(f"cannot read the passphrase file: {exc.strerror}") from exc
        if not text or not text[0]:
            raise GuardianDirError(f"{passphrase_file} holds no passphrase on its first line")
        return text[0].encode("utf-8")
    import getpass

    first = getpass.getpass("guardian passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise GuardianDirError("the passphrases differ")
    if not first:
        raise GuardianDirError("the passphrase is empty")
    return first.encode("utf-8")


class GuardianDir:
    """An unlocked guardian directory: the identity key, the share key and sealed storage."""

    def __init__(self, path: Path, key: bytes, identity: SigningKey, share_private: bytes) -> None:
        self.path = path
        self._key = key
        self.identity = identity
        self.share_private = share_private
        self.public: dict[str, Any] = json.loads((path / PUBLIC_FILE).read_text(encoding="utf-8"))

    def __repr__(self) -> str:
        return f"GuardianDir({self.path}, identity={self.identity.public.hex()})"

    @classmethod
    def init(cls, path: Path, passphrase: bytes, scrypt_n: int = SCRYPT_N) -> GuardianDir:
        if (path / PUBLIC_FILE).exists() or (path / KEYS_FILE).exists():
            raise GuardianDirError(f"{path} holds a guardian already")
        salt = os.urandom(16)
        key = derive_key(passphrase, salt, scrypt_n)
        identity = SigningKey.generate()
        share_private = x25519_generate()
        public = {
            "format": GUARDIAN_FORMAT,
            "identity_key": identity.public.hex(),
            "share_key": x25519_public(share_private).hex(),
            "fingerprint": "",
            "kdf": {"name": "scrypt", "n": scrypt_n, "r": 8, "p": 1, "salt": salt.hex()},
        }
        public["fingerprint"] = fingerprint_of(identity.public.hex(), str(public["share_key"]))
        secret = json.dumps(
            {"identity_seed": identity.seed().hex(), "share_private": share_private.hex()}
        ).encode()
        write_atomic(path / KEYS_FILE, seal(key, secret, KEYS_FILE.encode()))
        write_atomic(path / PUBLIC_FILE, (json.dumps(public, indent=1) + "\n").encode(), 0o644)
        return cls(path, key, identity, share_private)

    @classmethod
    def open(cls, path: Path, passphrase: bytes) -> GuardianDir:
        try:
            public = json.loads((path / PUBLIC_FILE).read_text(encoding="utf-8"))
            sealed = (path / KEYS_FILE).read_bytes()
        except FileNotFoundError as exc:
            raise GuardianDirError(
                f"{path} is not a guardian directory (run `tally-service guardian init`)"
            ) from exc
        kdf = public["kdf"]
        key = derive_key(passphrase, hex_decode(kdf["salt"], 16), int(kdf["n"]))
        try:
            secret = json.loads(open_sealed(key, sealed, KEYS_FILE.encode()))
        except SealingError as exc:
            raise GuardianDirError(f"the passphrase does not open {path / KEYS_FILE}") from exc
        identity = SigningKey.from_seed(hex_decode(secret["identity_seed"], 32))
        share_private = hex_decode(secret["share_private"], 32)
        if identity.public.hex() != public["identity_key"] or (
            x25519_public(share_private).hex() != public["share_key"]
        ):
            raise GuardianDirError(f"{path / PUBLIC_FILE} does not match the sealed keys")
        return cls(path, key, identity, share_private)

    # sealed and public files, relative to G
    def write_sealed(self, relative: str, data: bytes) -> None:
        write_atomic(self.path / relative, seal(self._key, data, relative.encode()))

    def read_sealed(self, relative: str) -> bytes | None:
        path = self.path / relative
        if not path.exists():
            return None
        try:
            return open_sealed(self._key, path.read_bytes(), relative.encode())
        except SealingError as exc:
            raise GuardianDirError(
                f"{path} does not open: changed, or moved from elsewhere"
            ) from exc

    def write_json(self, relative: str, value: Any) -> None:
        write_atomic(self.path / relative, (json.dumps(value, indent=1) + "\n").encode(), 0o644)

    def read_json(self, relative: str) -> Any:
        path = self.path / relative
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
