"""``voltlab serve | demo | token create``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from voltlab.settings import Settings

app = typer.Typer(help="voltlab: an open lab for EV-charging backends.", no_args_is_help=True)
token_app = typer.Typer(help="Mint JWTs for local use.", no_args_is_help=True)
app.add_typer(token_app, name="token")
console = Console()


def _settings(data_dir: Path | None) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


def _event_loop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover  (Windows)
        pass


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="SQLite file, JWT secret")] = None,
) -> None:
    """Run the REST API and the fleet in this process."""
    import uvicorn

    from voltlab.app import create_app
    from voltlab.auth.tokens import ensure_secret

    settings = _settings(data_dir)
    if host is not None:
        settings = settings.model_copy(update={"host": host})
    if port is not None:
        settings = settings.model_copy(update={"port": port})
    if settings.jwt_algorithm == "HS256":
        _, created = ensure_secret(settings)
        where = "generated" if created else "using"
        source = "VOLTLAB_JWT_SECRET" if settings.jwt_secret else settings.data_dir / "jwt_secret"
        console.print(f"[bold]voltlab[/] {where} the HS256 secret in {source}")
        dir_option = f" --data-dir {settings.data_dir}" if data_dir else ""
        console.print(
            f"Mint a token:  [cyan]voltlab token create --org ACME --role user{dir_option}[/]"
        )
    console.print(f"API docs:      http://{settings.host}:{settings.port}/docs")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        log_level=settings.log_level.lower(),
        lifespan="on",
        timeout_graceful_shutdown=10,
    )


@token_app.command("create")
def token_create(
    org: Annotated[str | None, typer.Option(help="tenant id (required for --role user)")] = None,
    role: Annotated[str, typer.Option(help="user | admin")] = "user",
    ttl: Annotated[int, typer.Option(help="lifetime in seconds", min=1)] = 86_400,
    sub: Annotated[str, typer.Option(help="subject claim")] = "voltlab-cli",
    data_dir: Annotated[Path | None, typer.Option(help="where the HS256 secret lives")] = None,
    private_key: Annotated[
        Path | None, typer.Option(help="PEM private key, for RS256/ES256 deployments")
    ] = None,
) -> None:
    """Print a bearer token signed with this installation's key."""
    from voltlab.auth.tokens import ensure_secret, mint_token

    settings = _settings(data_dir)
    if role not in ("user", "admin"):
        raise typer.BadParameter("must be 'user' or 'admin'", param_hint="--role")
    if role == "user" and not org:
        raise typer.BadParameter("a user token needs an organization", param_hint="--org")
    if settings.jwt_algorithm == "HS256":
        key: str = ensure_secret(settings)[0]
    elif private_key is not None:
        key = private_key.read_text()
    else:
        raise typer.BadParameter(
            f"VOLTLAB_JWT_ALGORITHM={settings.jwt_algorithm} needs --private-key",
            param_hint="--private-key",
        )
    token = mint_token(
        key=key, role=role, org=org, sub=sub, ttl_s=ttl, algorithm=settings.jwt_algorithm
    )
    typer.echo(token)


@app.command()
def demo(
    keep_data: Annotated[bool, typer.Option(help="keep the temporary data directory")] = False,
) -> None:
    """Play the OCPI token authorization flow end to end: a CPO bundle with simulated
    chargers and an eMSP bundle, on loopback, SQLite, no other server."""
    from voltlab.demo import run_demo

    _event_loop()
    raise typer.Exit(asyncio.run(run_demo(console, keep_data=keep_data)))


if __name__ == "__main__":  # pragma: no cover
    app()
