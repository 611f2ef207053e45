"""Options shared by several commands, declared once as Annotated aliases, and the one way
a command reads its defaults from the library's config dataclasses (a default is written
once, in the library; the CLI and its help read it from there)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, List, Optional

import typer


def seed(help: str):
    """``--seed``: every command seeds something different, so each says what."""
    return Annotated[int, typer.Option("--seed", help=help)]


def run_dir(help: str):
    """``--out/-o`` for commands that write a directory."""
    return Annotated[Optional[str], typer.Option("--out", "-o", help=help)]


Device = Annotated[str, typer.Option("--device", help="auto (cuda, then mps, then cpu), or a torch device.")]
Progress = Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars on stderr.")]

Inputs = Annotated[List[str], typer.Argument(
    help="Transcript files: JSON lines, a JSON array or pretty-printed JSON objects (plain or gzip, told apart "
    "by content, not extension), .parquet, a quoted glob ('logs/*.parquet'), or - for stdin.",
    show_default=False)]
Output = Annotated[Optional[str], typer.Option(
    "-o", "--output", help="Write to FILE (.jsonl, .jsonl.gz or .parquet, atomically) instead of stdout.")]
def _format_help() -> str:
    from causal_agents.formats.adapters import FORMATS

    return f"Force the input format: {', '.join(FORMATS)} (default: detect per file and record, by shape)."


Format = Annotated[Optional[str], typer.Option("--format", help=_format_help())]
TextKey = Annotated[Optional[str], typer.Option(
    "--text-key", help="Read a 'Role: text' transcript from this field (e.g. tau-bench's messages_display); "
    "implies --format text.")]
Branches = Annotated[str, typer.Option(
    "--branches", help="Branching session logs (Claude Code: edits and retries fork the conversation): last = the "
    "chain to the last leaf, what the model last saw (abandoned branches dropped and counted in meta); all = "
    "every leaf's chain, one transcript each.")]
Redact = Annotated[List[str], typer.Option(
    "--redact", help="secrets: replace API keys, tokens, private keys and passwords that detect-secrets finds "
    "(plus Anthropic, Hugging Face and Google key patterns) with <secret:KIND> before anything is written or "
    "counted; counts in meta.cag_redacted and in cag stats. Needs the detect-secrets package (cag's secrets extra).")]
MessagesKey = Annotated[Optional[str], typer.Option(
    "--messages-key", help="Read OpenAI-style messages from this field of each record (e.g. --messages-key "
    "dialog), whatever its name.")]
GroupByFile = Annotated[bool, typer.Option(
    "--group-by-file", help="The file holds one message per line ({role, text|content} rows): read each "
    "file as one transcript.")]
Demonstrations = Annotated[bool, typer.Option(
    "--demonstrations", help="The assistant turns are demonstrations that another model or a human wrote: "
    "gate them world (evidence, supervised under --mask do), not this model's own actions.")]
Selves = Annotated[List[str], typer.Option(
    "--self", help="Name of the agent being trained (repeatable). A message whose author/name is set "
    "and is not a self is world-written, whatever its role.")]
RoleMap = Annotated[List[str], typer.Option(
    "--role-map", help="ROLE=GATE (repeatable): gate a role as agent, world or context, e.g. --role-map critic=world.")]
TextRoles = Annotated[List[str], typer.Option(
    "--text-role", help="A role name that starts a turn in the plain text format, added to the defaults "
    "(User, Agent, Assistant, Human, AI, System, Tool, Teacher, Verifier, Oracle) (repeatable).")]
OnError = Annotated[str, typer.Option(
    "--on-error", help="fail: stop at the first bad record, write nothing, exit 1. "
    "skip: write bad records to --rejects and go on.")]
Rejects = Annotated[Optional[str], typer.Option(
    "--rejects", help="Where --on-error skip writes rejected records (JSONL) (default: rejects.jsonl, "
    "or OUTPUT.rejects.jsonl with -o).")]
Tokenizer = Annotated[Optional[str], typer.Option(
    "--tokenizer", help="Hugging Face tokenizer name or path (fast tokenizers only). Default: cag's "
    "offline byte-level tokenizer.")]
Renderer = Annotated[str, typer.Option(
    "--renderer", help="plain: 'Role: text' lines (role prefixes supervised in both modes); "
    "chat-template: the tokenizer's own template; stream: the verifier-loop prompt format.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of a table.")]
def _variant(value: str) -> str:
    from causal_agents.stem.variants import VARIANTS

    if value not in VARIANTS:
        raise typer.BadParameter(f"expected one of {', '.join(VARIANTS)}, got {value!r}")
    return value


Variant = Annotated[str, typer.Option(
    "--variant", callback=_variant, help="STEM stream variant: plain (the paper's: one-line attempts, arithmetic by the model) or "
    "calculator (an attempt may write 'calc: EXPRESSION'; the calculator's result, written by the world, comes "
    "back on a 'Tool:' line before the final answer). Teacher demonstrations and oracle corrections use the "
    "same format.")]


def tag_options(selves, role_map, text_roles, fmt, messages_key=None, group_by_file=False, demonstrations=False,
                text_key=None, branches="last", redact=()):
    """The TagOptions of the shared reading flags (--self, --role-map, --text-role, --format, --messages-key,
    --group-by-file, --demonstrations, --text-key, --branches, --redact)."""
    from causal_agents.transcripts.provenance import TagOptions

    # TagOptions.build refuses an unknown --format, --branches or --redact as a usage error (exit 2)
    return TagOptions.build(selves=selves or (), role_map=role_map or (), text_roles=text_roles or (), format=fmt,
                            messages_key=messages_key, group_by_file=group_by_file, demonstrations=demonstrations,
                            text_key=text_key, branches=branches, redact=redact or ())


def default(owner, name: str):
    """The library's default for ``name``: a field of the dataclass ``owner`` (its default or
    ``default_factory()``) or a parameter of the function ``owner``. Commands read option
    defaults and the numbers in their help texts from here, so each is written once."""
    import inspect

    if dataclasses.is_dataclass(owner):
        for f in dataclasses.fields(owner):
            if f.name == name:
                if f.default_factory is not dataclasses.MISSING:
                    return f.default_factory()
                if f.default is not dataclasses.MISSING:
                    return f.default
        raise KeyError(f"{owner.__name__} has no field {name!r} with a default")
    p = inspect.signature(owner).parameters.get(name)
    if p is None or p.default is inspect.Parameter.empty:
        raise KeyError(f"{owner.__name__} has no parameter {name!r} with a default")
    return p.default


GgufFile = Annotated[Optional[str], typer.Option(
    "--gguf-file", help="With --model DIR: load the GGUF file NAME inside DIR, dequantized (needs the "
    "gguf package: pip install gguf). --model FILE.gguf does the same.")]


def with_gguf(model, gguf_file: str | None):
    """``--model DIR --gguf-file NAME`` as the one path ``DIR/NAME`` the loader takes. With a
    repeatable --model (a list, entries possibly ``NAME=PATH``), every directory that holds
    NAME gets it; at least one must."""
    import os

    if not gguf_file:
        return model
    if not gguf_file.lower().endswith(".gguf"):
        raise typer.BadParameter(f"expected a .gguf file name, got {gguf_file!r}", param_hint="--gguf-file")
    if model is None:
        raise typer.BadParameter("needs --model DIR (the directory holding the file)", param_hint="--gguf-file")
    many = isinstance(model, (list, tuple))
    out, hits = [], 0
    for spec in (model if many else [model]):
        name, sep, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        if os.path.isdir(path) and os.path.isfile(os.path.join(path, gguf_file)):
            path, hits = os.path.join(path, gguf_file), hits + 1
        out.append(f"{name}{sep}{path}")
    if not hits:
        raise typer.BadParameter(f"no --model directory holds {gguf_file!r}", param_hint="--gguf-file")
    return out if many else out[0]
