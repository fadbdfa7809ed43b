"""`misp-reconcile sandbox serve`: the embedded MISP twin on a loopback port, optionally with injected faults."""

from __future__ import annotations

import ipaddress

import click

from reconciler.sandbox import DEFAULT_ADMIN_KEY, Faults, create_app
from reconciler.sandbox.faults import rule_from_options


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _db_url(db_path: str | None) -> str:
    if db_path is None:
        return "sqlite://"
    return db_path if "://" in db_path else f"sqlite:///{db_path}"


@click.group()
def sandbox() -> None:
    """The embedded MISP 2.5 admin-API twin."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="0 picks a free port.")
@click.option("--db", "db_path", default=None, help="SQLite file or SQLAlchemy URL (default: in memory).")
@click.option("--admin-key", default=DEFAULT_ADMIN_KEY, show_default=True, help="The site admin's API key (40 chars).")
@click.option("--latency", default=None, help="Added latency per request: 20ms or 10ms-50ms.")
@click.option("--fail-rate", default=0.0, type=float, help="Share (0-1) of requests answered with an error.")
@click.option("--fail-status", "fail_statuses", multiple=True, type=int,
              help="Status of injected errors (repeatable; default 503).")
@click.option("--drop-rate", default=0.0, type=float, help="Share (0-1) of connections dropped.")
@click.option("--drop-after", is_flag=True, help="Drop after the request was handled (the answer is lost).")
@click.option("--fault-path", default=".*", show_default=True, help="Faults only for paths matching this regex.")
@click.option("--fault-method", "fault_methods", multiple=True, help="Faults only for this method (repeatable).")
@click.option("--fault-seed", default=None, type=int, help="Seed for reproducible fault decisions.")
@click.option("--force-public", is_flag=True, help="Allow a non-loopback host (exposes a test MISP).")
def serve(host: str, port: int, db_path: str | None, admin_key: str, latency: str | None, fail_rate: float,
          fail_statuses: tuple[int, ...], drop_rate: float, drop_after: bool, fault_path: str,
          fault_methods: tuple[str, ...], fault_seed: int | None, force_public: bool) -> None:
    """Serve the sandbox over HTTP on HOST:PORT."""
    import socket

    import uvicorn

    if not _is_loopback(host) and not force_public:
        raise click.UsageError(f"refusing to serve the sandbox on non-loopback host {host!r}: anyone who can "
                               "reach it gets a MISP with a published admin key; pass --force-public if you mean it")
    try:
        rule = rule_from_options(latency=latency, fail_rate=fail_rate, fail_statuses=fail_statuses,
                                 drop_rate=drop_rate, drop_after=drop_after, path=fault_path, methods=fault_methods)
    except ValueError as exc:  # bad rates, statuses or latency, and a bad --fault-path regex (re.error)
        raise click.UsageError(str(exc)) from None
    # Bind first so that --port 0 can print the port it got.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    url = f"http://{host}:{sock.getsockname()[1]}"
    try:
        app = create_app(_db_url(db_path), admin_key=admin_key, base_url=url,
                         faults=Faults([rule] if rule else [], seed=fault_seed))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"MISP sandbox at {url}", err=False)
    click.echo(f"admin key: {admin_key}")
    if rule is not None:
        click.echo(f"faults: {rule}")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    server.run(sockets=[sock])


commands = [sandbox]
