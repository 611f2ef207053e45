"""Options shared by several commands, declared once as Annotated aliases."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

Inputs = Annotated[List[str], typer.Argument(
    help="Transcript files: .jsonl, .jsonl.gz, .parquet, a quoted glob ('logs/*.parquet'), or - for stdin.",
    show_default=False)]
Output = Annotated[Optional[str], typer.Option(
    "-o", "--output", help="Write to FILE (.jsonl, .jsonl.gz or .parquet, atomically) instead of stdout.")]
Format = Annotated[Optional[str], typer.Option(
    "--format", help="Force the input format: openai, sharegpt, text, stream or tagged (default: detect per record).")]
Selves = Annotated[List[str], typer.Option(
    "--self", help="Name of the agent being trained (repeatable). A message whose author/name is set "
    "and is not a self is world-written, whatever its role.")]
RoleMap = Annotated[List[str], typer.Option(
    "--role-map", help="ROLE=GATE (repeatable): gate a role as agent, world or context, e.g. --role-map critic=world.")]
TextRoles = Annotated[List[str], typer.Option(
    "--text-role", help="Role names that start a turn in the plain text format (repeatable; "
    "default: User, Agent, Assistant, Human, AI, System, Tool, Teacher, Verifier, Oracle).")]
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


def tag_options(selves, role_map, text_roles, fmt):
    from causal_agents.transcripts.provenance import TagOptions

    return TagOptions.build(selves=selves or (), role_map=role_map or (), text_roles=text_roles or (), format=fmt)


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
