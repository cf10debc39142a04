"""Server-side pages of a long list: a configuration may hold 10,000 roles, and a page
rendering all of them is megabytes of HTML that no one reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Paged(Generic[T]):
    """One page of `total` items; `page` and `pages` count from 1."""

    items: Sequence[T]
    page: int
    pages: int
    total: int
    first: int  # 1-based position of items[0] among all (0 when there are none)

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.items else 0

    @property
    def previous(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    @property
    def next(self) -> int | None:
        return self.page + 1 if self.page < self.pages else None


def paginate(items: Sequence[T], requested: str | None, size: int) -> Paged[T]:
    """The page asked for in a query string; anything unusable is the nearest page
    (a bookmark past the end after deletions shows the last page, not an error)."""
    pages = max(1, -(-len(items) // size))
    try:
        page = int(requested or 1)
    except ValueError:
        page = 1
    page = min(max(page, 1), pages)
    start = (page - 1) * size
    chunk = items[start : start + size]
    return Paged(chunk, page, pages, len(items), start + 1 if chunk else 0)
