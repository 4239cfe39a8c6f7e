"""AES-128 encryption of single 16-byte blocks (FIPS-197), in pure Python, for Milenage.

Why pure Python: Milenage (TS 35.206, ``milenage.py``) is built on a 128-bit block
cipher, and an IMS registration needs about a dozen AES blocks per authentication, a
few authentications an hour. The standard library has no AES, and a compiled crypto
dependency (``cryptography``) for that handful of blocks is not worth its weight in
the daemon and its build. Nothing here protects confidentiality: the cipher is only
Milenage's kernel function, so only encryption of one block is provided (no modes, no
padding, no decryption).

Why T-tables: the usual 32-bit formulation (FIPS-197 §5.1 folded into four 256-entry
tables) does one round in sixteen lookups and xors, which keeps one block in the tens
of microseconds, even uncompiled. The tables are derived at import from the field
arithmetic of FIPS-197 §4 and §5.1.1 rather than typed in, so there is no 256-entry
literal to mistype; the tests compare the result with FIPS-197's examples and OpenSSL.

Not constant time: table lookups indexed by key-dependent bytes could in principle be
observed through a shared CPU cache. An attacker would need code running on the same
machine at the moments of the few authentications an hour, where it could as well read
the stored key; that is accepted here.
"""

from __future__ import annotations

from typing import Final

__all__ = ["BLOCK_SIZE", "KEY_SIZE", "Aes128"]

BLOCK_SIZE: Final = 16
KEY_SIZE: Final = 16
_ROUNDS: Final = 10  # FIPS-197 §5, Figure 4: Nr = 10 for a 128-bit key


def _xtime(b: int) -> int:
    """Multiplication by x (that is, by 2) in GF(2^8) modulo x^8+x^4+x^3+x+1 (§4.2.1)."""
    b <<= 1
    return b ^ 0x11B if b & 0x100 else b


def _sbox() -> bytes:
    """The S-box of §5.1.1: multiplicative inverse in GF(2^8), then the affine map.

    Inverses come from the exponential table of the generator 3 (3^i for i < 255):
    the inverse of 3^i is 3^(255-i), and 0 maps to 0 by definition.
    """
    exp = [0] * 255
    log = [0] * 256
    value = 1
    for i in range(255):
        exp[i] = value
        log[value] = i
        value ^= _xtime(value)  # value * 3 = value * 2 + value
    box = bytearray(256)
    for a in range(256):
        inv = 0 if a == 0 else exp[(255 - log[a]) % 255]
        out = inv
        rotated = inv
        for _ in range(4):  # b ^ rotl(b,1) ^ rotl(b,2) ^ rotl(b,3) ^ rotl(b,4) ^ 0x63
            rotated = ((rotated << 1) | (rotated >> 7)) & 0xFF
            out ^= rotated
        box[a] = out ^ 0x63
    return bytes(box)


def _rotr32(word: int, bits: int) -> int:
    return ((word >> bits) | (word << (32 - bits))) & 0xFFFFFFFF


_SBOX: Final = _sbox()
# TE0[a] is the MixColumns column (2s, s, s, 3s) of s = S(a), as one big-endian word;
# TE1..TE3 are its byte rotations, one per row of ShiftRows (§5.1.2, §5.1.3).
_TE0: Final = tuple((_xtime(s) << 24) | (s << 16) | (s << 8) | (_xtime(s) ^ s) for s in _SBOX)
_TE1: Final = tuple(_rotr32(w, 8) for w in _TE0)
_TE2: Final = tuple(_rotr32(w, 16) for w in _TE0)
_TE3: Final = tuple(_rotr32(w, 24) for w in _TE0)
# Round constants of the key expansion (§5.2): x^(i-1) in GF(2^8), in the top byte.
_RCON: Final = (0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1B, 0x36)


def _sub_word(word: int) -> int:
    box = _SBOX
    return (
        (box[word >> 24] << 24)
        | (box[(word >> 16) & 0xFF] << 16)
        | (box[(word >> 8) & 0xFF] << 8)
        | box[word & 0xFF]
    )


def _expand_key(key: bytes) -> tuple[int, ...]:
    """The 44 round-key words of §5.2 (KeyExpansion with Nk = 4)."""
    words = [int.from_bytes(key[i : i + 4], "big") for i in range(0, KEY_SIZE, 4)]
    for i in range(4, 4 * (_ROUNDS + 1)):
        temp = words[i - 1]
        if i % 4 == 0:
            temp = _sub_word(((temp << 8) & 0xFFFFFFFF) | (temp >> 24)) ^ (_RCON[i // 4 - 1] << 24)
        words.append(words[i - 4] ^ temp)
    return tuple(words)


class Aes128:
    """One AES-128 key, expanded once, that encrypts 16-byte blocks.

    Milenage encrypts several blocks under the same K per authentication, so the key
    schedule is kept with the key instead of being redone for every block.
    """

    def __init__(self, key: bytes) -> None:
        """Expand ``key`` (16 bytes); ``ValueError`` for any other length."""
        if len(key) != KEY_SIZE:
            raise ValueError(f"an AES-128 key is {KEY_SIZE} bytes, got {len(key)}")
        self._round_keys = _expand_key(bytes(key))

    def __repr__(self) -> str:
        """No key material: the object may end up in a log or a traceback."""
        return "Aes128(<key>)"

    def encrypt(self, block: bytes) -> bytes:
        """The ciphertext of one 16-byte ``block`` (§5.1); ``ValueError`` otherwise."""
        if len(block) != BLOCK_SIZE:
            raise ValueError(f"an AES block is {BLOCK_SIZE} bytes, got {len(block)}")
        rk = self._round_keys
        te0, te1, te2, te3 = _TE0, _TE1, _TE2, _TE3
        s0 = int.from_bytes(block[0:4], "big") ^ rk[0]
        s1 = int.from_bytes(block[4:8], "big") ^ rk[1]
        s2 = int.from_bytes(block[8:12], "big") ^ rk[2]
        s3 = int.from_bytes(block[12:16], "big") ^ rk[3]
        for r in range(4, 4 * _ROUNDS, 4):  # rounds 1..9: SubBytes, ShiftRows, MixColumns
            t0 = te0[s0 >> 24] ^ te1[(s1 >> 16) & 0xFF] ^ te2[(s2 >> 8) & 0xFF] ^ te3[s3 & 0xFF]
            t1 = te0[s1 >> 24] ^ te1[(s2 >> 16) & 0xFF] ^ te2[(s3 >> 8) & 0xFF] ^ te3[s0 & 0xFF]
            t2 = te0[s2 >> 24] ^ te1[(s3 >> 16) & 0xFF] ^ te2[(s0 >> 8) & 0xFF] ^ te3[s1 & 0xFF]
            t3 = te0[s3 >> 24] ^ te1[(s0 >> 16) & 0xFF] ^ te2[(s1 >> 8) & 0xFF] ^ te3[s2 & 0xFF]
            s0, s1, s2, s3 = t0 ^ rk[r], t1 ^ rk[r + 1], t2 ^ rk[r + 2], t3 ^ rk[r + 3]
        box = _SBOX
        last = 4 * _ROUNDS  # final round: no MixColumns
        out = bytearray(BLOCK_SIZE)
        for col, (a, b, c, d) in enumerate(
            ((s0, s1, s2, s3), (s1, s2, s3, s0), (s2, s3, s0, s1), (s3, s0, s1, s2))
        ):
            word = (
                (box[a >> 24] << 24)
                | (box[(b >> 16) & 0xFF] << 16)
                | (box[(c >> 8) & 0xFF] << 8)
                | box[d & 0xFF]
            ) ^ rk[last + col]
            out[4 * col : 4 * col + 4] = word.to_bytes(4, "big")
        return bytes(out)
