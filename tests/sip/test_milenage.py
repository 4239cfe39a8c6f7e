"""Milenage against the published test data of 3GPP TS 35.207 and TS 35.208 §4.3.

The values are literal, copied from the specifications' tables as reproduced in public
conformance tests (hostap tests/test-milenage.c, srsRAN, and others, which agree), never
computed by the code under test. Numbering: TS 35.207 sets 1 and 2 differ; in TS 35.208
the data of 35.207's set 1 is listed as set 2 (hostap repeats it as set 1, srsRAN calls
it set 2); sets 3 to 6 are the same in both documents, and 7 and 8 are 35.208's.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from sipprofile.server.sip.milenage import Milenage, opc_from_op


class Vector(NamedTuple):
    name: str
    k: str
    rand: str
    sqn: str
    amf: str
    op: str
    opc: str
    f1: str
    f1star: str
    f2: str
    f3: str
    f4: str
    f5: str
    f5star: str


SETS = [
    Vector(
        "35.207 set 1, 35.208 set 2",
        k="465b5ce8b199b49faa5f0a2ee238a6bc",
        rand="23553cbe9637a89d218ae64dae47bf35",
        sqn="ff9bb4d0b607",
        amf="b9b9",
        op="cdc202d5123e20f62b6d676ac72cb318",
        opc="cd63cb71954a9f4e48a5994e37a02baf",
        f1="4a9ffac354dfafb3",
        f1star="01cfaf9ec4e871e9",
        f2="a54211d5e3ba50bf",
        f3="b40ba9a3c58b2a05bbf0d987b21bf8cb",
        f4="f769bcd751044604127672711c6d3441",
        f5="aa689c648370",
        f5star="451e8beca43b",
    ),
    Vector(
        "35.207 set 2",
        k="0396eb317b6d1c36f19c1c84cd6ffd16",
        rand="c00d603103dcee52c4478119494202e8",
        sqn="fd8eef40df7d",
        amf="af17",
        op="ff53bade17df5d4e793073ce9d7579fa",
        opc="53c15671c60a4b731c55b4a441c0bde2",
        f1="5df5b31807e258b0",
        f1star="a8c016e51ef4a343",
        f2="d3a628ed988620f0",
        f3="58c433ff7a7082acd424220f2b67c556",
        f4="21a8c1f929702adb3e738488b9f5c5da",
        f5="c47783995f72",
        f5star="30f1197061c1",
    ),
    Vector(
        "set 3",
        k="fec86ba6eb707ed08905757b1bb44b8f",
        rand="9f7c8d021accf4db213ccff0c7f71a6a",
        sqn="9d0277595ffc",
        amf="725c",
        op="dbc59adcb6f9a0ef735477b7fadf8374",
        opc="1006020f0a478bf6b699f15c062e42b3",
        f1="9cabc3e99baf7281",
        f1star="95814ba2b3044324",
        f2="8011c48c0c214ed2",
        f3="5dbdbb2954e8f3cde665b046179a5098",
        f4="59a92d3b476a0443487055cf88b2307b",
        f5="33484dc2136b",
        f5star="deacdd848cc6",
    ),
    Vector(
        "set 4",
        k="9e5944aea94b81165c82fbf9f32db751",
        rand="ce83dbc54ac0274a157c17f80d017bd6",
        sqn="0b604a81eca8",
        amf="9e09",
        op="223014c5806694c007ca1eeef57f004f",
        opc="a64a507ae1a2a98bb88eb4210135dc87",
        f1="74a58220cba84c49",
        f1star="ac2cc74a96871837",
        f2="f365cd683cd92e96",
        f3="e203edb3971574f5a94b0d61b816345d",
        f4="0c4524adeac041c4dd830d20854fc46b",
        f5="f0b9c08ad02e",
        f5star="6085a86c6f63",
    ),
    Vector(
        "set 5",
        k="4ab1deb05ca6ceb051fc98e77d026a84",
        rand="74b0cd6031a1c8339b2b6ce2b8c4a186",
        sqn="e880a1b580b6",
        amf="9f07",
        op="2d16c5cd1fdf6b22383584e3bef2a8d8",
        opc="dcf07cbd51855290b92a07a9891e523e",
        f1="49e785dd12626ef2",
        f1star="9e85790336bb3fa2",
        f2="5860fc1bce351e7e",
        f3="7657766b373d1c2138f307e3de9242f9",
        f4="1c42e960d89b8fa99f2744e0708ccb53",
        f5="31e11a609118",
        f5star="fe2555e54aa9",
    ),
    Vector(
        "set 6",
        k="6c38a116ac280c454f59332ee35c8c4f",
        rand="ee6466bc96202c5a557abbeff8babf63",
        sqn="414b98222181",
        amf="4464",
        op="1ba00a1a7c6700ac8c3ff3e96ad08725",
        opc="3803ef5363b947c6aaa225e58fae3934",
        f1="078adfb488241a57",
        f1star="80246b8d0186bcf1",
        f2="16c8233f05a0ac28",
        f3="3f8c7587fe8e4b233af676aede30ba3b",
        f4="a7466cc1e6b2a1337d49d3b66e95d7b4",
        f5="45b0f69ab06c",
        f5star="1f53cd2b1113",
    ),
    Vector(
        "35.208 set 7",
        k="2d609d4db0ac5bf0d2c0de267014de0d",
        rand="194aa756013896b74b4a2a3b0af4539e",
        sqn="6bf69438c2e4",
        amf="5f67",
        op="460a48385427aa39264aac8efc9e73e8",
        opc="c35a0ab0bcbfc9252caff15f24efbde0",
        f1="bd07d3003b9e5cc3",
        f1star="bcb6c2fcad152250",
        f2="8c25a16cd918a1df",
        f3="4cd0846020f8fa0731dd47cbdc6be411",
        f4="88ab80a415f15c73711254a1d388f696",
        f5="7e6455f34cf3",
        f5star="dc6dd01e8f15",
    ),
    Vector(
        "35.208 set 8",
        k="a530a7fe428fad1082c45eddfce13884",
        rand="3a4c2b3245c50eb5c71d08639395764d",
        sqn="f63f5d768784",
        amf="b90e",
        op="511c6c4e83e38c89b1c5d8dde62426fa",
        opc="27953e49bc8af6dcc6e730eb80286be3",
        f1="53761fbd679b0bad",
        f1star="21adfd334a10e7ce",
        f2="a63241e1ffc3e5ab",
        f3="10f05bab75a99a5fbb98a9c287679c3b",
        f4="f9ec0865eb32f22369cade40c59c3a44",
        f5="88196c47986f",
        f5star="c987a3d23115",
    ),
]

h = bytes.fromhex


@pytest.mark.parametrize("ts", SETS, ids=lambda ts: ts.name)
def test_opc_from_op(ts: Vector) -> None:
    assert opc_from_op(h(ts.k), h(ts.op)).hex() == ts.opc


@pytest.mark.parametrize("ts", SETS, ids=lambda ts: ts.name)
def test_functions(ts: Vector) -> None:
    m = Milenage(h(ts.k), h(ts.opc))
    rand, sqn, amf = h(ts.rand), h(ts.sqn), h(ts.amf)
    assert m.f1(rand, sqn, amf).hex() == ts.f1
    assert m.f1star(rand, sqn, amf).hex() == ts.f1star
    res, ck, ik, ak = m.f2345(rand)
    assert (res.hex(), ck.hex(), ik.hex(), ak.hex()) == (ts.f2, ts.f3, ts.f4, ts.f5)
    assert m.f5star(rand).hex() == ts.f5star


def test_an_object_answers_many_rands() -> None:
    # No per-RAND state: interleaved calls give each set's values.
    one, three = SETS[0], SETS[2]
    m = Milenage(h(one.k), h(one.opc))
    assert m.f2345(h(three.rand))[0].hex() != one.f2
    assert m.f5star(h(one.rand)).hex() == one.f5star
    assert m.f1(h(one.rand), h(one.sqn), h(one.amf)).hex() == one.f1


@pytest.mark.parametrize(
    ("k", "opc", "match"),
    [(bytes(15), bytes(16), "K must be 16"), (bytes(16), bytes(17), "OPc must be 16")],
)
def test_wrong_key_lengths(k: bytes, opc: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Milenage(k, opc)


def test_wrong_op_length() -> None:
    with pytest.raises(ValueError, match="OP must be 16"):
        opc_from_op(bytes(16), bytes(8))
    with pytest.raises(ValueError, match="K must be 16"):
        opc_from_op(bytes(32), bytes(16))


def test_wrong_input_lengths() -> None:
    m = Milenage(bytes(16), bytes(16))
    with pytest.raises(ValueError, match="RAND must be 16"):
        m.f2345(bytes(15))
    with pytest.raises(ValueError, match="RAND must be 16"):
        m.f5star(bytes(17))
    with pytest.raises(ValueError, match="SQN must be 6"):
        m.f1(bytes(16), bytes(5), bytes(2))
    with pytest.raises(ValueError, match="AMF must be 2"):
        m.f1star(bytes(16), bytes(6), bytes(3))
    with pytest.raises(ValueError, match="RAND must be 16"):
        m.f1(bytes(8), bytes(6), bytes(2))


def test_repr_shows_no_key() -> None:
    ts = SETS[0]
    text = repr(Milenage(h(ts.k), h(ts.opc))).lower()
    assert ts.k[:8] not in text
    assert ts.opc[:8] not in text
