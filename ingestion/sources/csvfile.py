"""Landing CSV files (claims, CPT): a streaming reader that never loses a line silently.

Every non-blank record is either a row (all values as text, an empty field as null: CSV has
no other way to say null) or a reject with its line number, raw text and a reason naming the
problem: a wrong number of fields, broken quoting, bytes that are not UTF-8 (with the column
they fall in). A record that swallowed several physical lines and does not parse (e.g. a quote
that is never closed) rejects only its first line; the following lines are read again.
Required columns missing from the header fail the file; unknown extra columns are kept.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ingestion.sources import SourceFormatError


@dataclass(frozen=True)
class PhysicalLine:
    number: int
    text: str
    raw: bytes
    decode_error: UnicodeDecodeError | None


@dataclass(frozen=True)
class Reject:
    line: int
    reason: str
    raw: str


@dataclass
class CsvChunk:
    """Rows column-wise (in header order), their line numbers, and the rejects among them."""

    columns: list[list[str | None]]
    lines: list[int] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return len(self.lines) + len(self.rejects)


class _Lines:
    """Physical lines of a binary file, decoded one by one; consumed lines are recorded and
    can be pushed back to be read again."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._number = 0
        self._pushed: deque[PhysicalLine] = deque()
        self.consumed: list[PhysicalLine] = []

    def next_line(self) -> PhysicalLine | None:
        if self._pushed:
            return self._pushed.popleft()
        raw = self._handle.readline()
        if not raw:
            return None
        self._number += 1
        if self._number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            return PhysicalLine(self._number, raw.decode("utf-8"), raw, None)
        except UnicodeDecodeError as exc:
            return PhysicalLine(self._number, raw.decode("utf-8", "replace"), raw, exc)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self.next_line()
        if line is None:
            raise StopIteration
        self.consumed.append(line)
        return line.text

    def push_back(self, lines: Sequence[PhysicalLine]) -> None:
        self._pushed.extendleft(reversed(lines))


def _raw_text(lines: Sequence[PhysicalLine]) -> str:
    return "".join(line.text for line in lines).rstrip("\r\n")


def _decode_reason(line: PhysicalLine, header: Sequence[str]) -> str:
    exc = line.decode_error
    assert exc is not None
    byte = line.raw[exc.start : exc.start + 1].hex()
    column_index = line.raw[: exc.start].count(b",")
    column = header[column_index] if column_index < len(header) else f"#{column_index + 1}"
    return (
        f"line {line.number}: not valid UTF-8 (byte 0x{byte} at position {exc.start}, "
        f"in column {column!r}); re-export the file as UTF-8"
    )


def _count_reason(line: int, header: Sequence[str], found: int) -> str:
    expected = len(header)
    if found < expected:
        detail = f"values from column {header[found]!r} on are missing"
    else:
        detail = f"{found - expected} extra value(s) after the last column {header[-1]!r}"
    return f"line {line}: wrong number of fields: expected {expected}, found {found} ({detail})"


class CsvFile:
    """One landing CSV, used as a context manager: ``header`` is read on entering (and
    checked for required columns), then :meth:`chunks` streams the records."""

    def __init__(self, path: Path, required: Sequence[str]) -> None:
        self.path = path
        self.required = tuple(required)
        self.header: list[str] = []
        self._handle: BinaryIO | None = None
        self._lines: _Lines | None = None

    def __enter__(self) -> CsvFile:
        self._handle = self.path.open("rb")
        try:
            self._lines = _Lines(self._handle)
            self.header = self._read_header(self._lines)
        except BaseException:
            self._handle.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._handle is not None:
            self._handle.close()

    def chunks(self, batch_rows: int) -> Iterator[CsvChunk]:
        if self._lines is None:
            raise RuntimeError("use CsvFile as a context manager: with CsvFile(...) as f")
        yield from self._records(self._lines, batch_rows)

    def _read_header(self, lines: _Lines) -> list[str]:
        reader = csv.reader(lines, strict=True)
        try:
            record = next(reader)
        except StopIteration:
            raise SourceFormatError(f"{self.path}: the file is empty (no header line)") from None
        except csv.Error as exc:
            raise SourceFormatError(
                f"{self.path}: line 1: the header does not parse: {exc}"
            ) from exc
        if any(line.decode_error for line in lines.consumed):
            raise SourceFormatError(f"{self.path}: line 1: the header is not valid UTF-8")
        header = [name.strip() or f"column_{i + 1}" for i, name in enumerate(record)]
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise SourceFormatError(
                f"{self.path}: line 1: column(s) named twice: {', '.join(dupes)}; fix the export"
            )
        missing = [c for c in self.required if c not in header]
        if missing:
            raise SourceFormatError(
                f"{self.path}: missing required column(s) {', '.join(missing)} "
                f"(the header has {', '.join(header)}); the file was not loaded and stays in "
                "landing: fix the export, or the config's required_columns if the change "
                "is intended"
            )
        return header

    def _records(self, lines: _Lines, batch_rows: int) -> Iterator[CsvChunk]:
        header = self.header
        width = len(header)
        chunk = CsvChunk(columns=[[] for _ in header])
        reader = csv.reader(lines, strict=True)
        while True:
            lines.consumed = []
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                consumed = lines.consumed
                if not consumed:  # an error with nothing read: give up on the rest
                    break
                first = consumed[0]
                detail = str(exc)
                if "unexpected end of data" in detail:
                    detail = "a quote opened on this line is never closed"
                elif "field larger than field limit" in detail:
                    detail = (
                        "a quote opened on this line is not closed before the field grows "
                        f"past {csv.field_size_limit():,} characters"
                    )
                reason = f"line {first.number}: broken quoting: {detail}"
                chunk.rejects.append(Reject(first.number, reason, _raw_text([first])))
                lines.push_back(consumed[1:])
                reader = csv.reader(lines, strict=True)
                continue
            consumed = lines.consumed
            if not record and len(consumed) == 1:
                continue  # a blank line is not a record
            first = consumed[0]
            bad = next((line for line in consumed if line.decode_error), None)
            if bad is not None:
                chunk.rejects.append(
                    Reject(first.number, _decode_reason(bad, header), _raw_text(consumed))
                )
            elif len(record) != width:
                if len(consumed) > 1:
                    reason = _count_reason(first.number, header, len(record))
                    reason += "; the record spans several lines (an unclosed quote?)"
                    chunk.rejects.append(Reject(first.number, reason, _raw_text([first])))
                    lines.push_back(consumed[1:])
                    reader = csv.reader(lines, strict=True)
                else:
                    chunk.rejects.append(
                        Reject(
                            first.number,
                            _count_reason(first.number, header, len(record)),
                            _raw_text(consumed),
                        )
                    )
            else:
                for column, value in zip(chunk.columns, record, strict=True):
                    column.append(value if value != "" else None)
                chunk.lines.append(first.number)
            if chunk.rows_read >= batch_rows:
                yield chunk
                chunk = CsvChunk(columns=[[] for _ in header])
        if chunk.rows_read:
            yield chunk
