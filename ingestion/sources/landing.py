"""Landing files: find the files of an entity, hash them, move them to ``processed/``."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ingestion.config import EntityConfig
from ingestion.sources import SourceUnavailableError

PROCESSED = "processed"


def landing_folder(sources: Path, entity: EntityConfig) -> Path:
    assert entity.landing_dir is not None
    return sources / entity.landing_dir


def find_files(sources: Path, entity: EntityConfig) -> list[Path]:
    """The entity's files waiting in its landing folder, oldest name first."""
    folder = landing_folder(sources, entity)
    if not folder.is_dir():
        raise SourceUnavailableError(
            f"landing folder {folder} does not exist; run `rcm generate` or check --sources "
            f"({entity.config_line('landing_dir')})"
        )
    return sorted(p for p in folder.iterdir() if p.is_file() and entity.matches(p.name))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def move_to_processed(path: Path, tag: str) -> Path:
    """Move a loaded file to ``<folder>/processed/`` (never deleted).

    The name is kept when it is free; otherwise ``<stem>__<tag><suffix>``.
    """
    target_dir = path.parent / PROCESSED
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        target = target_dir / f"{path.stem}__{tag}{path.suffix}"
    n = 1
    while target.exists():
        target = target_dir / f"{path.stem}__{tag}_{n}{path.suffix}"
        n += 1
    path.rename(target)
    return target
