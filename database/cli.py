"""`bladecell db ...`: migrations, the API server, users and keys, demo data.

The lead's top-level CLI mounts `app`; it also runs standalone: `python -m database.cli --help`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from .orm import Role

P = ParamSpec("P")
R = TypeVar("R")
app = typer.Typer(
    name="db",
    help="BladeCell records: database migrations, the records API and web page, users and API keys.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(soft_wrap=True)  # one message, one line, whatever the terminal width
UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="SQLAlchemy URL; default $BLADECELL_DATABASE_URL, else the SQLite file"),
]


def _settings(url: str | None):
    from .settings import load_settings

    return load_settings(database_url=url)


def _factory(url: str | None):
    from .engine import create_db_engine, make_session_factory

    settings = _settings(url)
    return settings, make_session_factory(create_db_engine(settings.url))


def _fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(code=1)


def _database_reachable(command: Callable[P, R]) -> Callable[P, R]:
    """An unreachable database ends the command with one line naming it, not a 481-line traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        from sqlalchemy.exc import InterfaceError, OperationalError

        from .errors import DatabaseUnavailableError

        try:
            return command(*args, **kwargs)
        except (OperationalError, InterfaceError, DatabaseUnavailableError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            _fail(
                f"cannot reach the database {_redact(_settings(kwargs.get('url')).url)}: "
                f"{reason[0] if reason else type(exc).__name__}"
            )

    return run


@app.command()
@_database_reachable
def upgrade(revision: Annotated[str, typer.Argument()] = "head", url: UrlOption = None) -> None:
    """Migrate the database up (creates it from empty)."""
    from . import migrate

    settings = _settings(url)
    migrate.upgrade(settings.url, revision)
    console.print(
        f"database at revision [bold]{migrate.current_revision(settings.url)}[/] ({_redact(settings.url)})"
    )


@app.command()
@_database_reachable
def downgrade(
    revision: Annotated[
        str, typer.Argument(help="target revision: an id, '-1', or 'base' (drops every table)")
    ],
    url: UrlOption = None,
) -> None:
    """Migrate the database down."""
    from . import migrate

    settings = _settings(url)
    migrate.downgrade(settings.url, revision)
    console.print(f"database at revision [bold]{migrate.current_revision(settings.url)}[/]")


@app.command()
@_database_reachable
def current(url: UrlOption = None) -> None:
    """Show the database's schema revision and the newest one this version ships."""
    from . import migrate

    settings = _settings(url)
    console.print(f"database: {migrate.current_revision(settings.url)}  newest: {migrate.head_revision()}")


@app.command()
@_database_reachable
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="upgrade the schema first")
    ] = True,
    url: UrlOption = None,
) -> None:
    """Run the records API and the web page (http://HOST:PORT/ui/)."""
    import uvicorn

    from . import migrate
    from .api import create_app

    settings = _settings(url)
    if migrate_first:
        migrate.upgrade(settings.url)
    elif not migrate.is_up_to_date(settings.url):
        _fail("the database schema is not current; run `bladecell db upgrade` or pass --migrate")
    console.print(f"records API on http://{host}:{port}/docs, web page on http://{host}:{port}/ui/")
    api = create_app(settings)
    _attach_retrainer(api, settings)
    uvicorn.run(api, host=host, port=port, log_level="info")


def _attach_retrainer(api, settings) -> None:
    """Where the cell's package is installed, the admin route `POST /models/retrain` runs its
    retrainer; without it the route answers 503 (the records package never imports the cell's)."""
    import importlib

    try:
        retrainer = importlib.import_module("bladecell_ros.services.retrainer")
    except ImportError:
        return
    api.state.retrain_runner = retrainer.api_runner(settings.home, api.state.session_factory)


@app.command("create-user")
@_database_reachable
def create_user(
    username: str,
    role: Annotated[Role, typer.Option(help="technician, engineer or admin")],
    full_name: str = "",
    url: UrlOption = None,
) -> None:
    """Add a user (then give them a key with create-key)."""
    from .errors import RecordsError
    from .services import accounts

    _, factory = _factory(url)
    with factory() as session:
        try:
            user = accounts.create_user(session, username, role, full_name)
        except RecordsError as exc:
            _fail(str(exc))
        session.commit()
        console.print(f"user [bold]{user.username}[/] ({user.role.value}) id {user.id}")


@app.command("create-key")
@_database_reachable
def create_key(username: str, name: str = "", url: UrlOption = None) -> None:
    """Issue an API key for a user and print it (it is shown only this once)."""
    from .errors import RecordsError
    from .services import accounts

    _, factory = _factory(url)
    with factory() as session:
        try:
            _, key = accounts.create_api_key(session, accounts.get_user_by_name(session, username), name)
        except RecordsError as exc:
            _fail(str(exc))
        session.commit()
    console.print("API key (store it now; it is not shown again):", style="bold")
    print(key)


@app.command("seed-demo")
@_database_reachable
def seed_demo(
    blades_per_family: int = 5,
    cycles_per_blade: int = 2,
    weeks: int = 8,
    seed: int = 0,
    url: UrlOption = None,
) -> None:
    """Fill the database with synthetic demo cycles (images included) to try the web page."""
    from . import migrate
    from .services.demo import seed_demo as run_seed
    from .storage import ContentStore

    settings, factory = _factory(url)
    migrate.upgrade(settings.url)
    summary = run_seed(
        factory,
        ContentStore(settings.home),
        blades_per_family=blades_per_family,
        cycles_per_blade=cycles_per_blade,
        weeks=weeks,
        seed=seed,
        progress=True,
    )
    console.print(
        f"demo data: {summary.families} part families, {summary.blades} blades, "
        f"{summary.cycles} cycles, {summary.defects} defects"
    )


@app.command("gc-files")
@_database_reachable
def gc_files(
    grace_hours: Annotated[
        float, typer.Option(help="spare files written this recently (their writer may not have committed)")
    ] = 1.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would go, delete nothing")] = False,
    url: UrlOption = None,
) -> None:
    """Delete stored image files that no database row references (left by failed imports)."""
    from .services.file_gc import collect_garbage
    from .storage import ContentStore

    settings, factory = _factory(url)
    with factory() as session:
        result = collect_garbage(
            session, ContentStore(settings.home), grace_s=grace_hours * 3600.0, dry_run=dry_run
        )
    verb = "would remove" if dry_run else "removed"
    for path in result.removed:
        console.print(f"{verb} {path}")
    console.print(f"{verb} {len(result.removed)} unreferenced files; {result.kept} kept")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    app()
