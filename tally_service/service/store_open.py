"""Opening the election's store: a ``postgresql://`` URL (store_pg.py), else a SQLite file
(store.py). Above both back ends, so that neither imports the other."""

from __future__ import annotations

from pathlib import Path

from tally_service.service.store import BaseStore, Store, StoreError, is_database_url


def open_store(location: str | Path, read_only: bool = False, create: bool = True) -> BaseStore:
    """The store at ``location``: a ``postgresql://`` URL, or the path of a SQLite file."""
    if is_database_url(location):
        # psycopg is the `postgresql` extra's: imported only for a PostgreSQL store
        from tally_service.service.store_pg import PgStore

        return PgStore(str(location), read_only=read_only)
    path = Path(location)
    if not create and not path.exists():
        raise StoreError(f"no database at {path}")
    return Store(path, read_only=read_only)
