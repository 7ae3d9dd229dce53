"""Landing CSV files (claims, CPT): a streaming reader that never loses a line silently.

Every record is either a row (all values as text, an empty field as null: CSV has no other
way to say null) or a reject with its line number, raw text and a reason naming the problem:
a wrong number of fields, broken quoting, bytes that are not UTF-8 (with the column they fall
in), a blank line (every field empty or spaces: ``,,,,``, an export's empty rows, which would
load as a row of nulls). An empty line is no record: it is skipped, and counted nowhere.
Empty fields after the header's last column are dropped, not refused (an Excel or SSIS
export ends every line with a comma; nothing is lost); a value there is refused. A record
that swallowed several physical lines and does not parse (e.g. a quote that is never
closed) rejects only its first line; the following lines are read again. Required columns
missing from the header fail the file; unknown extra columns are kept. Column names are
matched whatever their case and renamed to the required and known columns' spelling (a
lower-case `claimid` lands as `ClaimID`); two that differ only in case fail the file.

Speed: runs of plain lines (no quote character, the header's number of commas, or more when
the extra ones end the line, which are then cut; not blank) are parsed by Arrow in one call;
the csv module reads every other line, and any run Arrow would read differently, so both
paths give the same rows and rejects.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import BinaryIO, NamedTuple

import pyarrow as pa
import pyarrow.csv as pacsv

from ingestion.sources import SourceFormatError


class PhysicalLine(NamedTuple):
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
    """Rows column-wise (Arrow string arrays in header order), their line numbers, and the
    rejects among them."""

    columns: list[pa.Array]
    lines: list[int] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return len(self.lines) + len(self.rejects)


_BOM = b"\xef\xbb\xbf"
# what a blank line's fields may hold: ASCII white space (and, in a line's bytes, commas)
_SPACES = " \t\r\n\x0b\x0c"
_BLANK_BYTES = b", \t\r\n\x0b\x0c"


class _Lines:
    """Physical lines of a binary file, read in blocks and decoded when the csv module asks
    for them. The lines from the start of the record being read (``mark``) on stay in the
    buffer: ``consumed`` lists them, and a record which swallowed lines can give them back
    (``rewind``)."""

    def __init__(self, handle: BinaryIO, block_lines: int = 50_000) -> None:
        self._handle = handle
        self._block_lines = max(block_lines, 1)
        self._buf: list[bytes] = []
        self._base = 1  # the line number of _buf[0]
        self._pos = 0  # the next line to read
        self._mark = 0  # the first line of the record being read
        self._eof = False

    def _fill(self) -> bool:
        """Read the next block of lines; False at the end of the file."""
        if self._eof:
            return False
        block = list(islice(self._handle, self._block_lines))
        if not block:
            self._eof = True
            return False
        if self._base == 1 and not self._buf and block[0].startswith(_BOM):
            block[0] = block[0][3:]
        keep = self._buf[self._mark :]
        self._base += self._mark
        self._pos -= self._mark
        self._mark = 0
        self._buf = keep + block
        return True

    def mark(self) -> None:
        """A record starts at the next line."""
        self._mark = self._pos

    @property
    def next_number(self) -> int:
        """The number of the next line to read."""
        return self._base + self._pos

    @property
    def consumed(self) -> list[PhysicalLine]:
        """The lines read since the mark."""
        return [self._physical(i) for i in range(self._mark, self._pos)]

    def _physical(self, index: int) -> PhysicalLine:
        raw = self._buf[index]
        try:
            return PhysicalLine(self._base + index, raw.decode("utf-8"), raw, None)
        except UnicodeDecodeError as exc:
            return PhysicalLine(self._base + index, raw.decode("utf-8", "replace"), raw, exc)

    def rewind_to(self, number: int) -> None:
        """Read again from line ``number`` on (a line still in the buffer)."""
        self._pos = number - self._base

    def rewind(self) -> None:
        """Read again every line of the current record after its first one."""
        self._pos = self._mark + 1

    def plain_run(
        self, limit: int, commas: int, longest: int, header: bytes = b""
    ) -> tuple[int, list[bytes]]:
        """Up to ``limit`` lines from the next one on that the csv module would read as one
        record each with ``commas`` + 1 fields, after dropping empty fields past the last:
        no quote character, exactly ``commas`` commas (more commas only when the extra ones
        end the line: they are cut from the line returned), and at most ``longest`` bytes (so
        no field exceeds the csv module's field size limit, which it would reject), and not
        blank (only commas and white space: the csv module's path rejects it), nor the
        header's line again (``header``: the csv module's path names it). The first
        line must not start with a byte order mark, which Arrow drops at the start of its
        input. Returns the first one's number and the lines, which are consumed."""
        if self._pos >= len(self._buf):
            self.mark()
            if not self._fill():
                return 0, []
        buf, start = self._buf, self._pos
        if buf[start].startswith(_BOM):
            return self._base + start, []
        stop = min(len(buf), start + limit)
        end = start
        run: list[bytes] = []
        while end < stop:
            line = buf[end]
            if (
                b'"' in line
                or len(line) > longest
                or not line.strip(_BLANK_BYTES)
                or line.rstrip(b"\r\n") == header
            ):
                break
            extra = line.count(b",") - commas
            cut = _cut_trailing_commas(line, extra) if extra else line
            if cut is None:
                break
            run.append(cut)
            end += 1
        self._pos = end
        return self._base + start, run

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._pos >= len(self._buf) and not self._fill():
            raise StopIteration
        raw = self._buf[self._pos]
        self._pos += 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("utf-8", "replace")


def _cut_trailing_commas(line: bytes, extra: int) -> bytes | None:
    """``line`` without the ``extra`` commas that end it (before its line break), or None
    when it has fewer commas than that (``extra`` < 0) or they do not all end it."""
    if extra < 0:
        return None
    end = len(line) - (2 if line.endswith(b"\r\n") else 1 if line.endswith(b"\n") else 0)
    if line[end - extra : end] != b"," * extra:
        return None
    return line[: end - extra] + line[end:]


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


def _is_blank(record: Sequence[str]) -> bool:
    """Whether every field of ``record`` is empty or white space (a line of only commas and
    spaces): no value to load, and no key to tell it by."""
    return all(not value.strip(_SPACES) for value in record)


def _blank_reason(line: int) -> str:
    return (
        f"line {line}: a blank line (only commas or spaces): it holds no value, and would load "
        "as a row of nulls; remove it from the export, or fill in the record it stands for"
    )


def _count_reason(line: int, header: Sequence[str], found: int) -> str:
    expected = len(header)
    if found < expected:
        detail = f"values from column {header[found]!r} on are missing"
    else:
        detail = f"{found - expected} extra value(s) after the last column {header[-1]!r}"
    return f"line {line}: wrong number of fields: expected {expected}, found {found} ({detail})"


_OTHER_DELIMITERS = ((";", "';'"), ("\t", "tabs"), ("|", "'|'"))


def _other_delimiter(header: str, required: Sequence[str], missing: int) -> str | None:
    """The delimiter, other than a comma, that splits ``header`` into more of the required
    columns than commas did (``missing`` of them were not found), as said in a message."""
    found = len(required) - missing
    for delimiter, named in _OTHER_DELIMITERS:
        names = {name.strip().strip('"').casefold() for name in header.split(delimiter)}
        if len(names) > 1 and sum(c.casefold() in names for c in required) > found:
            return named
    return None


def _compressed(start: bytes) -> str | None:
    """The compression a file's first bytes show (gzip, zip), or None."""
    if start.startswith(b"\x1f\x8b"):
        return "gzip"
    if start.startswith(b"PK\x03\x04"):
        return "zip"
    return None


class CsvFile:
    """One landing CSV, used as a context manager: ``header`` is read on entering (and
    checked for required columns), then :meth:`chunks` streams the records.

    ``required`` and ``known`` (columns read downstream that a file may lack) give the
    spelling of the header's names: ``renamed`` lists the (as written, as kept) pairs."""

    def __init__(
        self,
        path: Path,
        required: Sequence[str],
        block_lines: int = 50_000,
        known: Sequence[str] = (),
    ) -> None:
        self.path = path
        self.block_lines = block_lines
        self.required = tuple(required)
        self.known = tuple(known)
        self.header: list[str] = []
        self.renamed: list[tuple[str, str]] = []
        self.blank_lines = 0  # lines of only commas or spaces, rejected
        self._header_line = b""
        self._header_names: list[str] = []
        self._named_width = 0
        self._handle: BinaryIO | None = None
        self._lines: _Lines | None = None

    def __enter__(self) -> CsvFile:
        self._handle = self.path.open("rb")
        try:
            packed = _compressed(self._handle.read(4))
            self._handle.seek(0)
            if packed is not None:
                # the csv module's own message asked about "universal-newline mode"
                raise SourceFormatError(
                    f"{self.path}: the file is {packed}-compressed, and landing files are read "
                    "as plain CSV: decompress it and land the .csv in its place"
                )
            self._lines = _Lines(self._handle, self.block_lines)
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
            raise SourceFormatError(
                f"{self.path}: the file is empty (no header line): export it again and land it "
                "in its place, or move it out of the landing folder so the later files load"
            ) from None
        except csv.Error as exc:
            # the first physical line alone: a CRLF file whose header opens a quote it never
            # closes has read several lines, each ending in CR LF
            first = lines.consumed[0].raw if lines.consumed else b""
            if b"\r" in first.rstrip(b"\r\n"):
                # the csv module's own message asked about "universal-newline mode"
                raise SourceFormatError(
                    f"{self.path}: its lines end in a carriage return alone (CR, the old Mac "
                    "OS line break), which is not read as a line break: export or save it "
                    "again with Windows (CRLF) or Unix (LF) line breaks and land it in its place"
                ) from exc
            raise SourceFormatError(
                f"{self.path}: line 1: the header does not parse: {exc}"
            ) from exc
        if any(line.decode_error for line in lines.consumed):
            raise SourceFormatError(f"{self.path}: line 1: the header is not valid UTF-8")
        if _is_blank(record):
            try:
                alone = next(reader, None) is None
            except csv.Error:
                alone = False
            if alone:
                # a byte-order mark, a line break or a line of commas, and nothing after it
                raise SourceFormatError(
                    f"{self.path}: the file is empty (no header line: only white space, commas "
                    "or a byte-order mark): export it again and land it in its place, or move "
                    "it out of the landing folder so the later files load"
                )
            raise SourceFormatError(
                f"{self.path}: line 1 is blank (empty, or only commas or spaces): the header "
                "must be the first line. Remove the lines above it and land the file again"
            )
        # the header's line as it is written, to tell it when it comes again (two exports
        # joined into one file)
        written = b"".join(line.raw for line in lines.consumed).rstrip(b"\r\n")
        self._header_line = written.removeprefix(_BOM)
        self._header_names = [name.strip().lstrip("\ufeff").casefold() for name in record]
        header = [name.strip() or f"column_{i + 1}" for i, name in enumerate(record)]
        # the header's names before any empty ones that end it (an export that ends its
        # header with commas): a data line may leave those unnamed columns out
        self._named_width = len(record)
        while self._named_width > 1 and not record[self._named_width - 1].strip(_SPACES):
            self._named_width -= 1
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise SourceFormatError(
                f"{self.path}: line 1: column(s) named twice: {', '.join(dupes)}; fix the export"
            )
        by_case: dict[str, list[str]] = {}
        for name in header:
            by_case.setdefault(name.casefold(), []).append(name)
        clashes = [" and ".join(map(repr, names)) for names in by_case.values() if len(names) > 1]
        if clashes:
            raise SourceFormatError(
                f"{self.path}: line 1: column(s) {'; '.join(clashes)} differ only in case, and "
                "Bronze and the warehouse match column names whatever their case, so they "
                "would be one column: fix the export to keep one"
            )
        spelling = {name.casefold(): name for name in (*self.known, *self.required)}
        self.renamed = [
            (name, spelling[name.casefold()])
            for name in header
            if spelling.get(name.casefold(), name) != name
        ]
        header = [spelling.get(name.casefold(), name) for name in header]
        missing = [c for c in self.required if c not in header]
        if missing:
            delimiter = _other_delimiter(_raw_text(lines.consumed), self.required, len(missing))
            fix = (
                f"the file seems delimited by {delimiter}, not by commas: export it again "
                "comma-separated and land it in its place"
                if delimiter
                else "fix the export, or the config's required_columns if the change is intended"
            )
            raise SourceFormatError(
                f"{self.path}: missing required column(s) {', '.join(missing)} "
                f"(the header has {', '.join(header)}); the file was not loaded and stays in "
                f"landing: {fix}"
            )
        return header

    def _records(self, lines: _Lines, batch_rows: int) -> Iterator[CsvChunk]:
        """Runs of plain lines (no quote character, the header's number of fields) are
        parsed by Arrow in one go; every other record goes through the csv module, which
        says what is wrong with it. A run that Arrow does not read exactly as the csv module
        would (bytes that are not UTF-8, a stray carriage return) is read by the csv module
        too."""
        header = self.header
        plain = _PlainRunParser(len(header)) if len(header) > 1 else None
        chunk = _ChunkBuilder(len(header))
        reader = csv.reader(lines, strict=True)
        careful_until = 0  # the lines up to this number go through the csv module
        longest = csv.field_size_limit()
        while True:
            if chunk.rows_read >= batch_rows:
                yield chunk.build()
                chunk = _ChunkBuilder(len(header))
            if plain is not None and lines.next_number > careful_until:
                first, run = lines.plain_run(
                    batch_rows - chunk.rows_read, len(header) - 1, longest, self._header_line
                )
                if run:
                    arrays = plain.parse(run)
                    if arrays is not None:
                        chunk.add_run(arrays, first)
                        continue
                    lines.rewind_to(first)
                    careful_until = first + len(run) - 1
            lines.mark()
            outcome = self._read_record(lines, reader, chunk)
            if outcome == "end":
                break
            if outcome == "reread":
                reader = csv.reader(lines, strict=True)
        if chunk.rows_read:
            yield chunk.build()

    def _read_record(self, lines: _Lines, reader: Iterator[list[str]], chunk: _ChunkBuilder) -> str:
        """Read one record with the csv module into ``chunk``, as a row or a reject.
        Returns "end" at the end of the file, "reread" when the lines after the record's
        first one are to be read again (with a new reader), else "next"."""
        header = self.header
        try:
            record = next(reader)
        except StopIteration:
            return "end"
        except csv.Error as exc:
            consumed = lines.consumed
            if not consumed:  # an error with nothing read: give up on the rest
                return "end"
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
            lines.rewind()
            return "reread"
        consumed = lines.consumed
        if not record and len(consumed) == 1:
            return "next"  # a blank line is not a record
        if len(record) > len(header) and not any(record[len(header) :]):
            del record[len(header) :]  # empty fields past the last column: nothing is lost
        first = consumed[0]
        bad = next((line for line in consumed if line.decode_error), None)
        if bad is not None:
            chunk.rejects.append(
                Reject(first.number, _decode_reason(bad, header), _raw_text(consumed))
            )
        elif _is_blank(record):
            self.blank_lines += 1
            chunk.rejects.append(
                Reject(first.number, _blank_reason(first.number), _raw_text(consumed))
            )
        elif [value.strip().casefold() for value in record] == self._header_names:
            reason = (
                f"line {first.number}: the header line again (two exports joined into one "
                "file?): it holds column names, not a record"
            )
            chunk.rejects.append(Reject(first.number, reason, _raw_text(consumed)))
        elif self._named_width <= len(record) < len(header) and len(consumed) == 1:
            # a line without the header's unnamed last columns: they are empty in it
            chunk.add_row(record + [""] * (len(header) - len(record)), first.number)
        elif len(record) != len(header):
            if len(consumed) > 1:
                reason = _count_reason(first.number, header, len(record))
                reason += "; the record spans several lines (an unclosed quote?)"
                chunk.rejects.append(Reject(first.number, reason, _raw_text([first])))
                lines.rewind()
                return "reread"
            chunk.rejects.append(
                Reject(
                    first.number,
                    _count_reason(first.number, header, len(record)),
                    _raw_text(consumed),
                )
            )
        else:
            chunk.add_row(record, first.number)
        return "next"


class _ChunkBuilder:
    """Collects one chunk: runs parsed by Arrow and single rows from the csv module, in
    line order."""

    def __init__(self, width: int) -> None:
        self._width = width
        self._pieces: list[list[pa.Array]] = []
        self._rows: list[list[str | None]] = [[] for _ in range(width)]
        self.lines: list[int] = []
        self.rejects: list[Reject] = []

    @property
    def rows_read(self) -> int:
        return len(self.lines) + len(self.rejects)

    def add_run(self, arrays: list[pa.Array], first_line: int) -> None:
        self._flush_rows()
        self._pieces.append(arrays)
        self.lines.extend(range(first_line, first_line + len(arrays[0])))

    def add_row(self, record: list[str], line: int) -> None:
        for column, value in zip(self._rows, record, strict=True):
            column.append(value if value != "" else None)
        self.lines.append(line)

    def _flush_rows(self) -> None:
        if self._rows[0]:
            self._pieces.append([pa.array(c, type=pa.string()) for c in self._rows])
            self._rows = [[] for _ in range(self._width)]

    def build(self) -> CsvChunk:
        self._flush_rows()
        if not self._pieces:
            columns = [pa.array([], type=pa.string()) for _ in range(self._width)]
        elif len(self._pieces) == 1:
            columns = self._pieces[0]
        else:
            columns = [
                pa.concat_arrays([piece[i] for piece in self._pieces]) for i in range(self._width)
            ]
        return CsvChunk(columns, self.lines, self.rejects)


class _PlainRunParser:
    """Arrow's CSV reader set up to read plain lines as the csv module does: no quoting,
    every value text, an empty value null."""

    def __init__(self, width: int) -> None:
        self._width = width
        names = [f"c{i}" for i in range(width)]
        self._read = pacsv.ReadOptions(column_names=names, use_threads=False)
        self._parse = pacsv.ParseOptions(
            quote_char=False, escape_char=False, newlines_in_values=False, ignore_empty_lines=False
        )
        self._convert = pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=True,
            null_values=[""],
            check_utf8=True,
        )

    def parse(self, run: list[bytes]) -> list[pa.Array] | None:
        """The run's columns, or None when Arrow does not read one row per line."""
        try:
            table = pacsv.read_csv(
                pa.py_buffer(b"".join(run)),
                read_options=self._read,
                parse_options=self._parse,
                convert_options=self._convert,
            )
        except pa.ArrowInvalid:
            return None
        if table.num_rows != len(run) or table.num_columns != self._width:
            return None
        return [column.combine_chunks() for column in table.columns]
