"""``--redact secrets``: API keys, tokens, private keys and passwords out of transcripts before
anything is written, counted or trained.

Coding-agent logs hold secrets: a tool result that printed an environment, a config file the
agent read, a key the user pasted. The detectors are detect-secrets' (Yelp; a well-kept
library) that look for a secret of a known kind by its pattern; its entropy detectors are not
used, since they flag every git hash and UUID in a coding log, and its public-IP detector
finds addresses, not secrets. Three key formats it has no detector for are added here
(Anthropic, Hugging Face, Google API keys). Each finding is replaced by ``<secret:KIND>``,
in segment texts and in string values of ``meta``, and counted per kind in
``meta.cag_redacted``.
"""

from __future__ import annotations

import re
from typing import Callable

from causal_agents.errors import UsageError

REDACT_KINDS = ("secrets",)
COUNT_KEY = "cag_redacted"
# detect-secrets detectors left out, and why (see the module docstring).
_SKIPPED_DETECTORS = {"Base64 High Entropy String", "Hex High Entropy String", "Public IP (ipv4)"}
# Key formats detect-secrets 1.5 has no detector for (documented prefixes and lengths).
EXTRA_PATTERNS = {
    "Anthropic API Key": re.compile(r"\bsk-ant-[a-z0-9]{2,8}-[A-Za-z0-9_\-]{32,}"),
    "Hugging Face Token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "Google API Key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
}


PEM_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----",
                       re.DOTALL)


def check_redact(kinds) -> tuple[str, ...]:
    """The ``--redact`` values, checked (a usage error names the kinds); the detectors'
    library must be installed when any is asked for."""
    kinds = tuple(dict.fromkeys(kinds))
    bad = [k for k in kinds if k not in REDACT_KINDS]
    if bad:
        raise UsageError(f"--redact expects {', '.join(REDACT_KINDS)}, got {bad[0]!r}")
    if kinds:
        try:
            import detect_secrets  # noqa: F401
        except ImportError:
            raise UsageError("--redact secrets needs detect-secrets: pip install 'cag[secrets]'") from None
    return kinds


class SecretRedactor:
    """Finds secrets in a string and replaces them; one per tagging run (detectors built once)."""

    def __init__(self):
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
        from detect_secrets.plugins.base import RegexBasedDetector
        from detect_secrets.plugins.keyword import KeywordDetector

        self._detectors = []
        for kind, cls in sorted(get_mapping_from_secret_type_to_class().items()):
            if kind in _SKIPPED_DETECTORS:
                continue
            if issubclass(cls, RegexBasedDetector) or cls is KeywordDetector:
                self._detectors.append((kind, cls()))
        # A cheap gate first: a string with no digit is no key of any kind we detect, and
        # most transcript text is prose.
        self._maybe = re.compile(r"\d|PRIVATE KEY|password|passwd|secret|token|key", re.IGNORECASE)

    def __call__(self, text: str, counts: dict) -> str:
        if not text or not self._maybe.search(text):
            return text
        found: dict[str, str] = {}
        for m in PEM_BLOCK.finditer(text):  # the whole key, not only its BEGIN line
            found[m.group(0)] = "Private Key"
        for kind, pat in EXTRA_PATTERNS.items():
            for m in pat.finditer(text):
                found.setdefault(m.group(0), kind)
        lines = text.splitlines() if "\n" in text else (text,)
        for kind, det in self._detectors:
            for line in lines:
                for secret in self._secrets(det, line):
                    if len(secret) >= 6 and secret not in found and not any(secret in f for f in found):
                        found[secret] = kind
        # Longest first: a key that contains another finding is replaced whole.
        for secret in sorted(found, key=len, reverse=True):
            n = text.count(secret)
            if n:
                text = text.replace(secret, f"<secret:{found[secret]}>")
                counts[found[secret]] = counts.get(found[secret], 0) + n
        return text


    @staticmethod
    def _secrets(det, line: str):
        """The secret a detector's pattern matched: its longest group where that is the key
        (a Basic Auth password, an AWS secret in quotes), else the whole match (a GitHub
        token's pattern groups only its prefix). The keyword detector reports values itself."""
        if not hasattr(det, "denylist") or det.secret_type == "Secret Keyword":
            yield from (s for s in det.analyze_string(line) if isinstance(s, str))
            return
        for pat in det.denylist:
            for m in pat.finditer(line):
                groups = [g for g in m.groups() if g]
                best = max(groups, key=len) if groups else ""
                yield best if len(best) >= 8 else m.group(0)


def redact_record(rec: dict, redactor: Callable[[str, dict], str]) -> dict:
    """``rec`` (a tagged record) with secrets replaced in its segments' texts and in ``meta``'s
    strings; the counts per kind go to ``meta.cag_redacted`` (absent when nothing was found)."""
    counts: dict = dict(rec.get("meta", {}).get(COUNT_KEY) or {})
    before = sum(counts.values())
    for seg in rec["segments"]:
        seg["text"] = redactor(seg["text"], counts)
    meta = _walk(rec.get("meta") or {}, redactor, counts)
    if sum(counts.values()) > before:
        meta[COUNT_KEY] = counts
    rec["meta"] = meta
    return rec


def _walk(v, redactor, counts):
    """``v`` with every string redacted (``COUNT_KEY`` entries kept as they are), rebuilt with
    an explicit stack: meta may nest as deep as the readers allow (``formats.jsonarray.MAX_DEPTH``), past
    Python's recursion limit."""
    if isinstance(v, str):
        return redactor(v, counts)
    if not isinstance(v, (dict, list)):
        return v
    root = {} if isinstance(v, dict) else [None] * len(v)
    stack = [(v, root)]
    while stack:
        src, dst = stack.pop()
        items = src.items() if isinstance(src, dict) else enumerate(src)
        for k, x in items:
            if isinstance(src, dict) and k == COUNT_KEY:
                dst[k] = x
            elif isinstance(x, str):
                dst[k] = redactor(x, counts)
            elif isinstance(x, dict):
                dst[k] = {}
                stack.append((x, dst[k]))
            elif isinstance(x, list):
                dst[k] = [None] * len(x)
                stack.append((x, dst[k]))
            else:
                dst[k] = x
    return root
