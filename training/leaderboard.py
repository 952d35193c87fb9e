"""The leaderboard: registered versions, their metrics and which one is champion."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient

from houseprice import registry


@dataclass(frozen=True)
class Row:
    folder: str
    version: str
    dataset_version: str
    mdape: str
    mae: str
    rmse: str
    r2: str
    eval_mdape: str  # on the evaluation set of the last promotion that scored it
    eval_dataset_version: str
    champion: bool


def leaderboard_rows(client: MlflowClient, registered_model: str, every: bool = False) -> list[Row]:
    """Newest version of each folder (every version with `every`), plus the champion."""
    versions = registry.model_versions(client, registered_model)
    champion = registry.champion_version(client, registered_model)
    champion_id = str(champion.version) if champion else None
    shown = []
    seen_folders: set[str] = set()
    for mv in versions:
        folder = mv.tags.get(registry.TAG_FOLDER, "?")
        is_champion = str(mv.version) == champion_id
        if every or is_champion or folder not in seen_folders:
            shown.append(_row(mv, is_champion))
        seen_folders.add(folder)
    return sorted(shown, key=lambda r: (_rank(r.eval_mdape or r.mdape), -int(r.version)))


def _row(mv, is_champion: bool) -> Row:
    tags = mv.tags
    return Row(
        folder=tags.get(registry.TAG_FOLDER, "?"),
        version=str(mv.version),
        dataset_version=tags.get(registry.TAG_DATASET, "?"),
        mdape=tags.get("mdape", ""),
        mae=tags.get("mae", ""),
        rmse=tags.get("rmse", ""),
        r2=tags.get("r2", ""),
        eval_mdape=tags.get("eval_mdape", ""),
        eval_dataset_version=tags.get("eval_dataset_version", ""),
        champion=is_champion,
    )


def _rank(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return float("inf")


HEADERS = ("folder", "version", "data", "mdape", "mae", "rmse", "r2", "eval_mdape", "eval_on", "")


def render(rows: list[Row]) -> str:
    """A plain-text table; MdAPE as a percentage, money rounded to dollars."""
    body = [
        (
            r.folder,
            r.version,
            r.dataset_version,
            _pct(r.mdape),
            _money(r.mae),
            _money(r.rmse),
            _num(r.r2),
            _pct(r.eval_mdape),
            r.eval_dataset_version,
            "champion" if r.champion else "",
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(HEADERS, *body, strict=True)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in (HEADERS, *body)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


def _pct(value: str) -> str:
    return f"{float(value):.2%}" if _rank(value) != float("inf") else ""


def _money(value: str) -> str:
    return f"{float(value):,.0f}" if _rank(value) != float("inf") else ""


def _num(value: str) -> str:
    return f"{float(value):.3f}" if _rank(value) != float("inf") else ""
