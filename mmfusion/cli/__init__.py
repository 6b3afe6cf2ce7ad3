"""The ``mmfusion`` command. Sub-commands import torch and plugins only when they run."""

from __future__ import annotations

import errno
import os
import sys
import traceback

import click

from .. import __version__
from ..errors import MMFusionError


class _Group(click.Group):
    """Turns user-facing errors into a clear message and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        import warnings

        # warnings from mmfusion (e.g. rows treated as absent) as one plain line, not a source excerpt; restored
        # afterwards so a caller in the same process (a notebook, CliRunner) keeps its own format
        previous_format = warnings.formatwarning
        warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"
        try:
            return super().invoke(ctx)
        except MMFusionError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)
        except BrokenPipeError:  # `mmfusion predict ... | head`: the reader left; not an error of ours
            _silence_stdout()
            sys.exit(1)
        except OSError as exc:
            if exc.errno not in _ENVIRONMENT_ERRNOS:
                _exit_if_a_plugins(exc)
                raise _bug(exc) from None
            from ..io import describe_os_error

            where = f" {exc.filename}" if exc.filename else ""
            click.secho(f"error: cannot access{where}: {describe_os_error(exc)}", fg="red", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.secho("interrupted", fg="yellow", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:  # a plugin's bug names the plugin; ours: say so briefly, the traceback on request
            _exit_if_a_plugins(exc)
            raise _bug(exc) from None
        finally:
            warnings.formatwarning = previous_format


# the machine's state, not a bug of ours: reported as a plain error (exit 2) even where no mmfusion code named it
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
                       errno.EMFILE, errno.ENFILE}


def _exit_if_a_plugins(exc: BaseException) -> None:
    """When an installed plugin's code raised ``exc``, say so, naming it (exit 2); otherwise return (it is ours)."""
    from ..blame import plugin_error
    from ..registry import get_registry

    try:
        named = plugin_error(exc, get_registry())
    except Exception:  # noqa: BLE001 - blaming must never hide the error itself
        return
    if named is None:
        return
    if os.environ.get("MMFUSION_DEBUG"):
        traceback.print_exception(exc)
    click.secho(f"error: {named}", fg="red", err=True)
    sys.exit(2)


def _bug(exc: BaseException) -> SystemExit:
    """Print an internal error (the traceback only with MMFUSION_DEBUG=1) and return the exit to raise."""
    if os.environ.get("MMFUSION_DEBUG"):
        traceback.print_exception(exc)
    click.secho(
        f"internal error: {type(exc).__name__}: {exc}\n"
        "  (set MMFUSION_DEBUG=1 to see the traceback, and please report it)",
        fg="red", err=True,
    )
    return SystemExit(1)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mmfusion")
@click.option("--offline", is_flag=True,
              help="Download nothing: weights come from local files and the library caches only "
                   "(same as MMFUSION_OFFLINE=1).")
def cli(offline: bool) -> None:
    """Multimodal classification with swappable encoder, fusion and head plugins.

    Write a spec (YAML), check it with `mmfusion build`, then train, evaluate, predict and
    compare fusions. Components come from plugins: `mmfusion plugins` lists them.
    """
    if offline:  # read wherever weights load (mmfusion.weights.offline), including in worker processes
        os.environ["MMFUSION_OFFLINE"] = "1"


def _register_commands() -> None:
    from .ablate import ablate
    from .build import build
    from .embed import embed
    from .evaluate import evaluate
    from .export import export
    from .new_plugin import new_plugin
    from .plugins import plugins
    from .predict import predict
    from .schema import schema
    from .train import train
    from .tune import tune

    for command in (build, train, evaluate, predict, embed, ablate, tune, export, plugins, schema, new_plugin):
        cli.add_command(command)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="mmfusion")
