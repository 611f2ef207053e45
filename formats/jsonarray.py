"""Elements of one top-level JSON array, streamed, each parsed by orjson whole where it can be.

ijson (the incremental parser) builds every value through Python callbacks: a JSON array
read that way took about twice as long as the same records as JSON lines. Most arrays
that people have are laid out in one of two ways, and in both an element's end can be
found without parsing:

- one element per line (``[``, then ``{...},`` lines, then ``]``): the end of its line,
  less a trailing comma;
- indented (``json.dump(..., indent=N)``, ``JSON.stringify(v, null, N)``, jq): the first
  line after its start that holds only its closing bracket at its own indentation (JSON
  strings cannot hold a raw newline, so no string can fake that line).

The bytes up to that guess go to ``orjson.loads``. JSON values are prefix-free, so a guess
that parses is exactly the element: no guess can split or merge elements. The first
element no guess fits (a compact one-line array, or an irregular layout) hands the rest of
the array to ijson, from that element on. Memory stays flat: one block of the file, plus
the element in hand (a guess looks at most MAX_GUESS bytes ahead).
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import orjson

from causal_agents.errors import InputError
from causal_agents.formats.exactjson import exact_ints, is_int_overflow, loads_record

BLOCK = 256 << 10  # bytes read at a time
# A guess looks ahead at most 4 times the longest element so far (at least half a block,
# at most MAX_GUESS): a compact one-line array goes to ijson after one block, not 8 MiB.
MAX_GUESS = 8 << 20
# The most bytes one record may take in a JSON text file: a longer line (or array element or
# object) is an error naming it, found while reading (a 14 MB gzip of one 3 GiB line was read
# whole before). Eight bytes per character of the per-record text limit of `cag stats`
# (causal_agents.transcripts.accounting.MAX_RECORD_CHARS, 16 Mi): room for \uXXXX escapes.
MAX_RECORD_BYTES = 128 << 20
# The deepest nesting of arrays and objects read: orjson's own limit (JSON lines), and the one
# the streaming readers keep (uncapped, ijson's memory grew with the square of the depth).
MAX_DEPTH = 1024
_KEEP = 256  # bytes kept before the read position when the buffer is refilled (an indent)
_WS = re.compile(rb"[ \t\r\n]*")
_CLOSER = {0x7B: b"}", 0x5B: b"]"}  # { -> }, [ -> ]


class Rejoined:
    """A byte stream with its first line (already read to sniff the layout) put back."""

    def __init__(self, head: bytes, f):
        self._head, self._f = head, f

    def read(self, n: int = -1) -> bytes:
        if n == 0:  # ijson probes with read(0) to tell bytes from str
            return b""
        if self._head:
            out, self._head = self._head, b""
            return out
        return self._f.read(n)


class ArrayReader:
    """Iterates the elements (any JSON values) of the JSON array that the binary stream
    ``f`` holds (leading whitespace allowed). Malformed JSON is one InputError naming
    ``name`` and the element's index."""

    def __init__(self, f, name: str, reopen=None):
        # reopen: a fresh stream of the same bytes (None for stdin), for an integer beyond 64
        # bits that ijson's C parser refuses: the array is read again by its Python parser
        self.f, self.name, self.reopen = f, name, reopen
        self.buf, self.pos, self.eof = b"", 0, False
        self.row = -1  # index of the element being read
        self.reach = BLOCK // 2  # how far ahead a guess may look (within the first block, at first)

    def __iter__(self) -> Iterator[Any]:
        if self._next_byte() != b"[":
            raise self._error("expected '['")
        self.pos += 1
        if self._next_byte() == b"]":
            self.pos += 1
            return self._check_end()
        while True:
            self.row += 1
            value = self._per_line()
            if value is _NO_GUESS:
                c = self._next_byte()
                if c in (b"", b"]", b","):
                    raise self._error("the array is not closed" if not c else f"expected an element before {c.decode()!r}")
                value = self._guessed()
                if value is _NO_GUESS:
                    yield from self._ijson_rest()
                    return
            yield value
            c = self._next_byte()
            self.pos += 1
            if c == b"]":
                return self._check_end()
            if c != b",":
                raise self._error("expected ',' or ']' after the element" if c else "the array is not closed")

    def _per_line(self) -> Any:
        """The common case first, in as few steps as can be: an object alone on its line
        (after optional indentation), with or without a trailing comma."""
        buf = self.buf
        start = _WS.match(buf, self.pos).end()
        nl = buf.find(b"\n", start, start + self.reach)
        if nl <= start or buf[start] != 0x7B:  # "{"
            return _NO_GUESS
        end = nl - (buf[nl - 1] == 0x0D)  # "\r"
        end -= buf[end - 1] == 0x2C  # ","
        if buf[end - 1] != 0x7D:  # "}"
            return _NO_GUESS
        try:
            value = loads_record(memoryview(buf)[start:end])
        except orjson.JSONDecodeError:
            return _NO_GUESS
        if end - start > MAX_RECORD_BYTES:
            raise self._too_long()
        self.pos = end
        return value

    def _too_long(self) -> InputError:
        return InputError(f"element {self.row} of the array: longer than {MAX_RECORD_BYTES:,} bytes, the limit "
                          "per record", file=self.name)

    # ------------------------------------------------------------------ buffer

    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes from ``pos`` available if the stream has them; False at EOF short of that."""
        while len(self.buf) - self.pos < need and not self.eof:
            more = self.f.read(max(BLOCK, need - (len(self.buf) - self.pos)))
            if not more:
                self.eof = True
            cut = max(0, self.pos - _KEEP)  # the consumed prefix is dropped: memory stays flat
            self.buf, self.pos = self.buf[cut:] + more, self.pos - cut
        return len(self.buf) - self.pos >= need

    def _next_byte(self) -> bytes:
        """The next non-whitespace byte, skipped to (b"" at the end of the stream)."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos:self.pos + 1]
            if not self._fill(1):
                return b""

    def _find(self, needle: bytes) -> int:
        """The index of ``needle`` after ``pos``, reading ahead up to MAX_GUESS bytes; -1 if
        none. (A refill may move ``pos``: callers read ``pos`` and ``buf`` again after.)"""
        searched = 0  # bytes after pos already searched
        while True:
            i = self.buf.find(needle, self.pos + searched)
            if i >= 0 or self.eof or len(self.buf) - self.pos >= self.reach:
                return i
            searched = max(0, len(self.buf) - self.pos - len(needle) + 1)
            self._fill(2 * (len(self.buf) - self.pos) + 1)

    def _check_end(self) -> None:
        if self._next_byte():
            raise self._error("unexpected content after the array")

    def _error(self, what: str) -> InputError:
        # the element's index, as a record's `row` counts them
        return InputError(f"malformed JSON in the array at element {max(self.row, 0)} ({what}); expected a JSON "
                          "array of objects", file=self.name)

    # ---------------------------------------------------------------- elements

    def _guessed(self) -> Any:
        """The element at ``pos`` through a guess of its end (see the module docstring), or _NO_GUESS."""
        start, buf = self.pos, self.buf
        opener = buf[start]
        indent = _indent(buf, start) if opener in _CLOSER and buf[start + 1:start + 2] in (b"\n", b"\r") else None
        if indent is not None:  # indented, its opening bracket alone on its line: its closing line
            at = self._find(b"\n" + indent + _CLOSER[opener])
            if at >= 0 and self._parse(self.pos, at + len(indent) + 2):
                return self._value
            start, buf = self.pos, self.buf
        nl = self._find(b"\n")
        start, buf = self.pos, self.buf
        if nl > start:  # its own line, less a trailing comma
            end = nl
            while buf[end - 1] in b" \t\r":
                end -= 1
            if buf[end - 1] == 0x2C:  # ","
                end -= 1
            if (opener not in _CLOSER or buf[end - 1] == _CLOSER[opener][0]) and self._parse(start, end):
                return self._value
        return _NO_GUESS

    def _parse(self, start: int, end: int) -> bool:
        try:
            self._value = loads_record(memoryview(self.buf)[start:end])
        except orjson.JSONDecodeError:
            return False  # not one whole value: the guess was wrong
        if end - start > MAX_RECORD_BYTES:  # (a guess looks at most MAX_GUESS ahead: only a lowered limit)
            raise self._too_long()
        self.reach = min(MAX_GUESS, max(self.reach, 4 * (end - start)))
        self.pos = end
        return True

    def _ijson_rest(self) -> Iterator[Any]:
        """The rest of the array, from the element at ``pos``, through ijson."""
        import ijson


        stream = Guarded(Rejoined(b"[" + self.buf[self.pos:], self.f), base=1)
        self.buf, first = b"", self.row
        try:
            # 1 MiB reads, not ijson's 64 KiB: yajl copies a value's unfinished token at each
            # read, so a long string cost its length squared over the read size (20 MB: 1 s)
            for value in ijson.items(stream, "item", use_float=True, buf_size=1 << 20):
                yield value
                self.row += 1
        except GuardError as e:
            raise InputError(f"element {first + e.index} of the array: {e}", file=self.name) from None
        except ijson.JSONError as e:
            if is_int_overflow(e) and self.reopen is not None:
                done = self.row  # elements already yielded, from 0
                g = self.reopen()
                try:
                    for n, value in enumerate(ijson.get_backend("python").items(g, "item", use_float=True)):
                        if n >= done:
                            yield exact_ints(value)
                            self.row = n + 1
                except ijson.JSONError as e2:
                    raise self._error((str(e2).strip().splitlines() or [type(e2).__name__])[0].rstrip(":")) from e2
                finally:
                    g.close()
                return
            raise self._error((str(e).strip().splitlines() or [type(e).__name__])[0].rstrip(":")) from e


_NO_GUESS = object()


class GuardError(Exception):
    """A value over a reading limit (nesting depth, bytes per record), raised by ``Guarded``;
    ``index``: the value's place among those at the guarded depth (0 = the first read)."""

    def __init__(self, message: str, index: int):
        super().__init__(message)
        self.index = index


_OUTSIDE = re.compile(rb'[^"\[\]{}]*+')  # up to the next quote or bracket
_IN_STRING = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)  # up to the string's closing quote


_SURROGATE = re.compile(rb'(\\+)u[dD]([89a-fA-F])[0-9a-fA-F]{2}')
_HIGH = re.compile(rb'\\u[dD][89abAB][0-9a-fA-F]{2}')
_LOW = re.compile(rb'\\u[dD][c-fC-F][0-9a-fA-F]{2}')
LONE_SURROGATE = ("holds a lone UTF-16 surrogate escape (such as \\ud800: half of a character, not text); "
                  "expected a high and a low surrogate escape together, or the character itself in UTF-8")


def lone_surrogate(data: bytes, a: int, b: int, continued: bool = False) -> bool:
    """Whether the JSON string content ``data[a:b]`` holds a surrogate escape without its pair
    (yajl, under ijson, turns a lone high one into "?" and fails on a lone low one). A pair
    that a block boundary cuts is given the benefit of the doubt: valid text is never refused
    (``continued``: the string began in an earlier block)."""
    for m in _SURROGATE.finditer(data, a, b):
        if (m.end(1) - m.start(1)) % 2 == 0:  # an escaped backslash, then the letters "u d8.."
            continue
        if m.group(2) in b"89abAB":  # high: a low one must follow
            nxt = data[m.end():m.end() + 6]
            if len(nxt) == 6 and not _LOW.fullmatch(nxt):
                return True
        else:  # low: a high one must precede
            p = m.end(1) - 1
            if p - 6 >= a and not _HIGH.fullmatch(data, p - 6, p) or (p - a < 6 and not continued):
                return True
    return False


class Guarded:
    """A byte stream for ijson that keeps the reading limits while ijson reads it: the depth
    of arrays and objects (``MAX_DEPTH``; ijson keeps a path whose memory grows with the
    square of the depth: 1 GB at 20,000) and the bytes of each value at depth ``base`` (a
    record: ``MAX_RECORD_BYTES``; ijson builds a value whole). The bytes are scanned as
    they are read (strings skipped by one regex match each), so nothing is held."""

    def __init__(self, f, base: int):
        self._f, self.base, self.max_depth, self.max_bytes = f, base, MAX_DEPTH, MAX_RECORD_BYTES
        self.depth, self.in_string, self.escape = 0, False, False
        self.offset = 0  # bytes scanned before the current block
        self.start = None  # where the record being read began (None between records)
        self.done = 0  # records read whole
    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        if data:
            self._scan(data)
            self.offset += len(data)
            if self.start is not None and self.offset - self.start > self.max_bytes:
                raise GuardError(f"longer than {self.max_bytes:,} bytes, the limit per record", self.done)
        return data

    def _ended(self, pos: int) -> None:
        """The record at the guarded depth ended at ``pos`` of the block being scanned."""
        if self.start is not None and self.offset + pos - self.start > self.max_bytes:
            raise GuardError(f"longer than {self.max_bytes:,} bytes, the limit per record", self.done)
        self.start = None
        self.done += 1

    def _scan(self, data: bytes) -> None:
        pos, n = 0, len(data)
        surrogates = _SURROGATE.search(data) is not None
        continued = self.in_string  # a string the block before left open
        if self.escape:  # the block before ended inside an escape: its character is this one
            pos, self.escape = 1, False
        while pos < n:
            if self.in_string:
                a, pos = pos, _IN_STRING.match(data, pos).end()
                if surrogates and lone_surrogate(data, a, pos, continued):
                    raise GuardError(LONE_SURROGATE, self.done)
                continued = False
                if pos >= n:
                    return
                if data[pos] == 0x5C:  # a backslash that ends the block
                    self.escape = True
                    return
                self.in_string = False  # the closing quote
                pos += 1
                if self.depth == self.base:
                    self._ended(pos)
                continue
            pos = _OUTSIDE.match(data, pos).end()
            if pos >= n:
                return
            c = data[pos]
            pos += 1
            if c == 0x22:  # a string starts
                self.in_string = True
                if self.depth == self.base:
                    self.start = self.offset + pos - 1
            elif c in (0x5B, 0x7B):  # [ {
                if self.depth == self.base:
                    self.start = self.offset + pos - 1
                self.depth += 1
                if self.depth > self.max_depth:
                    raise GuardError(f"nested deeper than {self.max_depth:,} levels of arrays and objects (the limit)",
                                     self.done)
            else:  # ] }
                self.depth -= 1
                if self.depth == self.base:
                    self._ended(pos)


def _indent(buf: bytes, start: int) -> bytes | None:
    """The spaces and tabs before ``start`` on its line, if nothing else precedes it there."""
    i = start
    while i > 0 and buf[i - 1] in b" \t":
        i -= 1
    return buf[i:start] if i > 0 and buf[i - 1] == 0x0A else None
