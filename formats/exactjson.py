"""JSON numbers read exactly: orjson reads an integer beyond 64 bits as a float (two ids of 20
digits can become one) and ijson's C parser refuses one; here such integers are kept as their
exact digits, as text (orjson could not write them back as numbers)."""

from __future__ import annotations

from typing import Any

import orjson


# Integers orjson reads exactly (and writes back): outside this range it reads a float, so two
# ids of 20 digits could become one. Such numbers are kept as their exact digits, as text.
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1


def _exact_int(text: str) -> int | str:
    n = int(text)
    return n if _INT_MIN <= n <= _INT_MAX else text


def exact_ints(v: Any) -> Any:
    """``v`` with every integer orjson cannot hold as its exact digits (text)."""
    if type(v) is int:
        return v if _INT_MIN <= v <= _INT_MAX else str(v)
    if isinstance(v, dict):
        return {k: exact_ints(x) for k, x in v.items()}
    if isinstance(v, list):
        return [exact_ints(x) for x in v]
    return v


def loads_record(buf) -> Any:
    """``orjson.loads``, keeping a record's id exact: orjson reads an integer beyond 64 bits as
    a float, so a record whose ``id`` came back a float is read again by the standard library,
    every such integer kept as its exact digits (text). Checking the id alone costs nothing
    per record; any other field keeps orjson's reading unless the id triggered the re-read."""
    v = orjson.loads(buf)
    if type(v) is dict and type(v.get("id")) is float:
        import json

        v = json.loads(bytes(buf), parse_int=_exact_int)
    return v


def is_int_overflow(e: Exception) -> bool:
    """ijson's C parser refusing an integer beyond 64 bits."""
    return "integer overflow" in str(e)
