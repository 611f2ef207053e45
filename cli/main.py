"""Root of the `cag` CLI: wires the subcommand modules together and owns the one error
boundary that maps known exceptions to one line on stderr and an exit code."""

from __future__ import annotations

import os
import sys

import typer

from causal_agents.errors import CagError, printable

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


class Interrupted(BaseException):
    """SIGINT or SIGTERM, raised in the main thread so every ``with`` block unwinds (temp
    files removed, outputs never renamed into place). Not a KeyboardInterrupt: click would
    turn that into an Abort, and the run would report success."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def _install_signal_handlers() -> dict:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 bad input or failed run, 2 usage,
    130 interrupted by SIGINT, 143 by SIGTERM)."""
    import signal

    args = sys.argv[1:] if argv is None else list(argv)
    previous = _install_signal_handlers()
    closed = sys.stdout is None  # started with stdout closed (`cag ... >&-`)
    if closed:
        sys.stdout = _ClosedStdout()
    try:
        return _run(args)
    finally:
        if closed:
            sys.stdout = None
        for s, h in previous.items():
            signal.signal(s, h)


class _ClosedStdout:
    """``sys.stdout`` while cag runs with its standard output closed (Python leaves it None):
    a command that writes a file runs as usual; the first write of output meant for stdout
    is one clear error instead of ``'NoneType' object has no attribute 'buffer'`` (or, through
    Rich, output silently dropped with exit 0)."""

    encoding, errors = "utf-8", "strict"

    def write(self, data) -> int:
        raise CagError("stdout is closed, so the output has nowhere to go; redirect it (> FILE) or give an "
                       "output file where the command takes one")

    writelines = write

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        import io

        raise io.UnsupportedOperation("stdout is closed")

    @property
    def buffer(self):
        return self


def _run(args: list[str]) -> int:
    try:
        rv = app(args=args, prog_name="cag", standalone_mode=False)
        # typer returns (not raises) the code of a typer.Exit raised inside a command
        return rv if isinstance(rv, int) else 0
    except SystemExit:
        # typer turns a broken pipe on stdout into sys.exit(1) behind a flush-pacifying wrapper
        if type(sys.stdout).__name__ == "PacifyFlushWrapper":
            _quiet_stdout()
            _say("Error: stdout was closed before the output was written (broken pipe)")
            return 1
        raise
    except CagError as e:
        _say(f"Error: {_one_line(e)}")
        return e.exit_code
    except typer.Exit as e:
        return e.exit_code
    except (Interrupted, KeyboardInterrupt) as e:
        _say("Error: interrupted")
        return 128 + getattr(e, "signum", 2)
    except BrokenPipeError:
        _quiet_stdout()
        _say("Error: stdout was closed before the output was written (broken pipe)")
        return 1
    except OSError as e:
        _say(f"Error: cannot write or read {e.filename or 'output'}: {e.strerror or e}")
        return 1
    except Exception as e:  # noqa: BLE001 - the boundary: usage errors and crashes
        code = _usage_exit(e)
        if code is not None:
            return code
        if os.environ.get("CAG_DEBUG"):
            raise
        _say(f"Error: {type(e).__name__}: {_one_line(e)} (set CAG_DEBUG=1 for a traceback)")
        return 1


def _say(line: str) -> None:
    """The boundary's one line on stderr, its control characters escaped (it quotes file
    names, keys and values from the data)."""
    print(printable(line), file=sys.stderr)


def _one_line(e: BaseException) -> str:
    """Library messages quote third-party errors, some of which span lines."""
    return " ".join(str(e).split())


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush of
    the dead pipe does not print a second, raw error."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError):
        pass


def _usage_exit(e: Exception) -> int | None:
    """typer vendors click; its usage errors carry `exit_code` and know how to show themselves."""
    show = getattr(e, "show", None)
    code = getattr(e, "exit_code", None)
    if show is not None and isinstance(code, int):
        from causal_agents.cli.output import SafeText

        show(file=SafeText(sys.stderr))  # the message quotes what was typed (a file name, a flag)
        return code
    if type(e).__name__ == "Abort":
        _say("Aborted!")
        return 1
    return None


if __name__ == "__main__":
    sys.exit(main())
