"""`cag show`: transcripts token by token, coloured by class and marked supervised or not."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from causal_agents.cli import options as o
from causal_agents.cli.output import info

HTML_EXTENSIONS = (".html", ".htm")


def show(inputs: o.Inputs,
         mask: Annotated[str, typer.Option("--mask", help="obs or do: the mask whose supervised tokens are marked.")] = "do",
         n: Annotated[int, typer.Option("-n", help="Show the first N transcripts.", min=1)] = 3,
         id_: Annotated[Optional[str], typer.Option("--id", help="Show only the transcript with this id.")] = None,
         html: Annotated[Optional[str], typer.Option(
             "--html", help="Write one self-contained HTML page (legend, per-transcript counts) to this file (.html or .htm).")] = None,
         tokenizer: o.Tokenizer = None, renderer: o.Renderer = "plain", format: o.Format = None,
         self_: o.Selves = [], role_map: o.RoleMap = [], text_role: o.TextRoles = [],
         messages_key: o.MessagesKey = None, group_by_file: o.GroupByFile = False,
         demonstrations: o.Demonstrations = False, text_key: o.TextKey = None, branches: o.Branches = "last", redact: o.Redact = []) -> None:
    """Render transcripts token by token through the label builder: each token coloured by class
    (context, protocol, world, agent), bold and underlined where --mask supervises it.

    Takes tagged or untagged transcripts (tagged on the fly with the options of `cag tag`).

    Example: cag show data.json --mask do --id conv-7 --html conv-7.html
    """
    from causal_agents.transcripts.labels import MODES
    from causal_agents.transcripts.render import get_renderer
    from causal_agents.transcripts.show import legend, views
    from causal_agents.transcripts.tagging import iter_tagged
    from causal_agents.transcripts.tokenizer import load_tokenizer

    if mask not in MODES:
        raise typer.BadParameter(f"expected obs or do, got {mask!r}", param_hint="--mask")
    get_renderer(renderer)
    if html is not None:  # before any work: a page never replaces an input or a non-HTML file
        from causal_agents.formats.io import check_outputs
        from causal_agents.formats.outputs import input_files

        check_outputs({"--html": html}, inputs=input_files(inputs), extensions=HTML_EXTENSIONS)
    opts = o.tag_options(self_, role_map, text_role, format, messages_key, group_by_file, demonstrations, text_key,
                         branches, redact)
    tok = load_tokenizer(tokenizer)
    vs = views(iter_tagged(inputs, opts), tok, renderer, mask, limit=None if id_ else n, record_id=id_)
    if html is not None:
        from causal_agents.formats.io import atomic_path
        from causal_agents.transcripts.show import html_parts

        # written as it is made: memory holds one block of tokens, not the page
        with atomic_path(html) as tmp, open(tmp, "w", encoding="utf-8") as f:
            for part in html_parts(vs, mask, ", ".join(inputs)):
                f.write(part)
        info(f"wrote {html}")
        return
    from causal_agents.cli.output import console
    from causal_agents.transcripts.show import rich_parts

    # The view is the output: stdout, so `cag show f | less -R` works; soft wrap keeps tokens
    # whole. Printed a block of tokens at a time; control characters in the data are escaped.
    con = console(stderr=False, soft_wrap=True, highlight=False)
    con.print(legend(mask))
    for v in vs:
        for part in rich_parts(v, mask):
            con.print(part, end="")
        con.print()
