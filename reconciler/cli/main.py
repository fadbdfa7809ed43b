"""`misp-reconcile`: the root command group. Each command family lives in its own module under cli/."""

from __future__ import annotations

import importlib

import click

from reconciler import __version__

# One line per command module; each exposes `commands: list[click.Command]`.
COMMAND_MODULES = (
    "reconciler.cli.sandbox",
    "reconciler.cli.validate",
    "reconciler.cli.plan",
    "reconciler.cli.feeds",
    "reconciler.cli.state",
    "reconciler.cli.lifecycle",
    "reconciler.cli.sign",
    "reconciler.cli.ops",
    "reconciler.cli.fleet",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="misp-reconcile")
def cli() -> None:
    """Configuration-as-code for MISP: validate, plan and apply YAML manifests."""


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(_name).commands:
        cli.add_command(_command)


def main() -> None:
    cli(prog_name="misp-reconcile")
