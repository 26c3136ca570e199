"""The secret ballot against a copy of the database: keyed code tags and sealed choices.

Threat model and design: docs/voting.md, "The secret ballot". In short, whoever holds
copies of the database files (the SQLite file, its -wal and -shm, a backup, a replica),
taken at any moments, but not the key file kept outside the database directory, must not
learn which choice any one ballot carried:

- a ballot code is stored only as its HMAC under a key derived from the master key
  (:meth:`BallotSecrets.code_tag`): a copy cannot be searched for codes offline, where an
  unsalted SHA-256 of 50 bits could be brute-forced;
- a choice is stored only sealed (AES-256-GCM, :meth:`BallotSecrets.seal`) under a key
  derived for its round, with the round and assembly as associated data; every sealed
  ballot has the same length; it is opened only at the close, when the counts are added
  up and every sealed ballot is deleted;
- what a copy does show (which code was used, that some sealed ballot appeared at that
  commit) links a code to a ciphertext, never to a choice.

The commitment of a sealed ballot (:func:`commitment`) enters a per-assembly accumulator
as the ballot is accepted, and the accumulators enter the round's published anchors: a
ballot removed or added between two anchors changes what was published.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["BallotSecrets", "commitment", "accumulate", "KEY_BYTES", "SEALED_BYTES", "normalize_code"]

KEY_BYTES = 32
NONCE_BYTES = 12
SEALED_BYTES = NONCE_BYTES + 2 + 16  # nonce, the choice as a 16-bit index, the GCM tag
ACC_MOD = 1 << 256


def normalize_code(code: str) -> str:
    """A code as typed on a phone: case and dashes do not matter."""
    return code.strip().upper().replace("-", "")


def commitment(sealed: bytes) -> int:
    """The commitment of one sealed ballot: its SHA-256 as a 256-bit number."""
    return int.from_bytes(hashlib.sha256(sealed).digest(), "big")


def accumulate(acc: int, sealed: bytes) -> int:
    """Add one sealed ballot to an accumulator: a sum modulo 2**256, so the order does not matter
    (the accumulator keeps no order of the ballots) and a removed ballot changes it."""
    return (acc + commitment(sealed)) % ACC_MOD


class BallotSecrets:
    """Keys derived from one 32-byte master key (held in a file outside the database)."""

    def __init__(self, master: bytes):
        if len(master) != KEY_BYTES:
            raise ValueError(f"the ballot master key must be {KEY_BYTES} bytes")
        self._code_key = self._derive(master, b"councilcast code tags v1")
        self._seal_key = self._derive(master, b"councilcast sealed ballots v1")

    @staticmethod
    def _derive(key: bytes, label: bytes) -> bytes:
        return hmac.new(key, label, hashlib.sha256).digest()

    def code_tag(self, code: str) -> str:
        """What the database stores of a ballot code: HMAC-SHA256 under the code key, hex."""
        return hmac.new(self._code_key, normalize_code(code).encode(), hashlib.sha256).hexdigest()

    def _round_key(self, round_id: str) -> AESGCM:
        return AESGCM(self._derive(self._seal_key, b"round " + round_id.encode()))

    def seal(self, round_id: str, assembly_id: str, choice_index: int) -> bytes:
        """The choice (an option's index, -1 for abstain) sealed for its round and assembly."""
        nonce = os.urandom(NONCE_BYTES)
        aad = f"{round_id}|{assembly_id}".encode()
        return nonce + self._round_key(round_id).encrypt(nonce, struct.pack("!h", choice_index), aad)

    def unseal(self, round_id: str, assembly_id: str, sealed: bytes) -> int | None:
        """The choice index of a sealed ballot, or None when it does not open (altered, or moved
        to another round or assembly)."""
        if len(sealed) != SEALED_BYTES:
            return None
        aad = f"{round_id}|{assembly_id}".encode()
        try:
            plain = self._round_key(round_id).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag:
            return None
        return struct.unpack("!h", plain)[0]
