"""The ``Aka`` setting: a write of the software USIM's keys, merged into what is stored.

An ``ims`` profile without a modem answers AKA digest challenges (RFC 3310) from keys
it stores: K, OP or OPc, AMF and the highest SQN the USIM accepted. Like passwords
they are write-only, and like a server dictionary a write merges, so a client can
change AMF without resending K (which it cannot read back).

Each key is a row of its own in the secrets table (``model.AKA_ROWS``). That is what
lets a merge be decided from the readable ``HasKeys`` flag alone: the keys a write
names become upserts of their rows, OP replaces OPc by removing its row and the
other way round, and the stored values are never read to merge them. Messages name
the key and what is wrong with it, never the value: a K pasted into the wrong field
must not reach a client's error dialog or a log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sipprofile.server.errors import InvalidArgument

from .model import AKA_AMF, AKA_K, AKA_OP, AKA_OPC, AKA_ROWS, AKA_SQN, AkaSettings

#: AMF when K is first written without one: only the separation bit set (TS 33.401
#: Annex H), what networks and test USIMs commonly use.
DEFAULT_AMF: Final = "8000"
#: SQN is a 48-bit counter (TS 33.102 §6.3.2): 0 <= SQN < SQN_LIMIT.
SQN_LIMIT: Final = 2**48

#: Written key -> (its secrets row, how many hex digits it has).
_HEX_KEYS: Final = {
    "K": (AKA_K, 32),
    "OP": (AKA_OP, 32),
    "OPc": (AKA_OPC, 32),
    "AMF": (AKA_AMF, 4),
}
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


def _hex(key: str, value: str, digits: int) -> str:
    """The key as stored (lower case), or ``InvalidArgument`` saying what is wrong."""
    if len(value) != digits:
        raise InvalidArgument(
            f"Aka.{key} must be {digits} hex digits ({digits // 2} bytes), "
            f"not {len(value)} characters"
        )
    if not all(c in _HEX_DIGITS for c in value):
        raise InvalidArgument(f"Aka.{key} must be hexadecimal: only the digits 0-9 and a-f")
    return value.lower()


def merge_aka(
    values: Mapping[str, Any], current: AkaSettings
) -> tuple[AkaSettings, dict[str, str]]:
    """Merge a written ``Aka`` dictionary (keys and types checked) into ``current``.

    Returns the new readable value and the secrets rows to write, ``""`` meaning
    "remove the row". ``K: ""`` removes every key; OP and OPc replace each other;
    a first K needs OP or OPc and gets AMF 8000 and SQN 0 unless given. Keys with no
    K stored and none given are refused, so a stored USIM is always complete.
    """
    if values.get("K") == "":
        others = [key for key in values if key != "K"]
        if others:
            raise InvalidArgument(
                f'Aka: K "" removes every AKA key, so it cannot be written with {", ".join(others)}'
            )
        return AkaSettings(has_keys=False), dict.fromkeys(AKA_ROWS, "")
    if not values:
        return current, {}
    if "OP" in values and "OPc" in values:
        raise InvalidArgument(
            "Aka: write OP or OPc, not both (OPc is derived from OP and K; "
            "the one written replaces the other)"
        )
    if not current.has_keys:
        if "K" not in values:
            raise InvalidArgument(
                "Aka: K is needed; this profile has no AKA keys, so "
                f"{', '.join(values)} cannot be written without K"
            )
        if "OP" not in values and "OPc" not in values:
            raise InvalidArgument("Aka: OP or OPc is needed with a new K")
    rows: dict[str, str] = {}
    for key, value in values.items():
        if key == "SQN":
            if value >= SQN_LIMIT:
                raise InvalidArgument("Aka.SQN must be below 2^48: it is a 48-bit counter")
            rows[AKA_SQN] = str(value)
        else:
            row, digits = _HEX_KEYS[key]
            rows[row] = _hex(key, value, digits)
    if "OP" in values:
        rows[AKA_OPC] = ""
    if "OPc" in values:
        rows[AKA_OP] = ""
    if not current.has_keys:
        rows.setdefault(AKA_AMF, DEFAULT_AMF)
        rows.setdefault(AKA_SQN, "0")
    return AkaSettings(has_keys=True), rows
