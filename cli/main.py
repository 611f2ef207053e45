"""Root of the `cag` CLI: wires the subcommand modules together and owns the one error
boundary that maps known exceptions to one line on stderr and an exit code."""

from __future__ import annotations

import os
import sys

import typer

from causal_agents.errors import CagError

app = typer.Typer(
    name="cag",
    help=(
        "Train LLM agents the causal way. Tokens the agent wrote are interventions: they stay "
        "in context but get no loss under --mask do; tokens the world wrote are supervised."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from causal_agents import __version__

        print(f"cag {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.",
                                       callback=_version, is_eager=True)) -> None:
    """A callback keeps `cag` a command group even while it has a single command."""


# The root registers every command module; command modules never import the root (their
# heavy imports live inside the commands, so `cag --help` starts instantly). Keep sorted.
from causal_agents.cli import bayes, data, eval, export, probe, reproduce, scm, show, stats, stream, tag, train  # noqa: E402

app.command()(bayes.bayes)
app.add_typer(data.data_app, name="data")
app.add_typer(eval.eval_app, name="eval")
app.command()(export.export)
app.command()(probe.probe)
app.add_typer(reproduce.reproduce_app, name="reproduce")
app.add_typer(scm.scm_app, name="scm")
app.command()(show.show)
app.command()(stats.stats)
app.command()(stream.stream)
app.command()(tag.tag)
app.command()(train.train)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 bad input or failed run, 2 usage)."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        app(args=args, prog_name="cag", standalone_mode=False)
        return 0
    except CagError as e:
        print(f"Error: {e}", file=sys.stderr)
        return e.exit_code
    except typer.Exit as e:
        return e.exit_code
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the boundary: usage errors and crashes
        code = _usage_exit(e)
        if code is not None:
            return code
        if os.environ.get("CAG_DEBUG"):
            raise
        print(f"Error: {type(e).__name__}: {e} (set CAG_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1


def _usage_exit(e: Exception) -> int | None:
    """typer vendors click; its usage errors carry `exit_code` and know how to show themselves."""
    show = getattr(e, "show", None)
    code = getattr(e, "exit_code", None)
    if show is not None and isinstance(code, int):
        show(file=sys.stderr)
        return code
    if type(e).__name__ == "Abort":
        print("Aborted!", file=sys.stderr)
        return 1
    return None


if __name__ == "__main__":
    sys.exit(main())
