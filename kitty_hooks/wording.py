"""How counts and ages are said to a person, the same in every report."""

from __future__ import annotations


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def age_text(seconds: float | None) -> str:
    """An age for a person: 45s, 12m, 3h 5m, 2d 4h."""
    if seconds is None:
        return "-"
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{int(seconds)}s"
