"""Text exports as people really make them: encodings, delimiters, headers.

Excel on a European Windows machine writes CSV in Windows-1252 with ``;``
between fields; "Unicode text" is UTF-16 with tabs; old logs separate
columns with runs of spaces. :func:`inspect_text` finds out which, from the
file itself (a mapping may force ``encoding`` and ``delimiter``), reads the
header and refuses a header that names a column twice. :func:`normalized`
gives a UTF-8 file DuckDB can scan: the file itself when it already is one,
else a converted copy in a scratch folder (streamed, never whole in memory).

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
>>> _ = p.write_bytes("account_id;name\\nA1;Café €\\n".encode("cp1252"))
>>> d = inspect_text(p)
>>> d.encoding, d.delimiter, d.header
('cp1252', ';', ['account_id', 'name'])
>>> normalized(p, d, p.parent).read_text(encoding="utf-8").splitlines()[1]
'A1;Café €'
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from sikta.errors import InputError

#: bytes read to decide the delimiter (whole lines of it)
SNIFF_BYTES = 1 << 16
CANDIDATES = (",", ";", "\t", "|")
#: bytes that Windows-1252 leaves undefined; a file with them is read as Latin-1
_CP1252_HOLES = {0x81, 0x8D, 0x8F, 0x90, 0x9D}
_BLOCK = 1 << 20


@dataclass(frozen=True)
class TextDialect:
    """How a text export is written.

    Attributes
    ----------
    encoding
        ``utf-8``, ``utf-8-sig`` (with a byte order mark), ``utf-16``, ``cp1252`` or ``latin-1``.
    delimiter
        ``,``, ``;``, tab, ``|`` or ``whitespace`` (runs of spaces and tabs).
    header
        Column names, from the first line or from the mapping's ``column_names``.
    has_header
        Whether the first line is the header (skipped as data).
    """

    encoding: str
    delimiter: str
    header: list[str]
    has_header: bool = True
    leading_blank: int = 0

    @property
    def skip(self) -> int:
        """Lines before the first data row: blank lines above the header, and the header."""
        return self.leading_blank + (1 if self.has_header else 0)

    @property
    def needs_copy(self) -> bool:
        """DuckDB reads UTF-8 (with or without BOM) with one-character delimiters directly."""
        return self.encoding not in ("utf-8", "utf-8-sig") or self.delimiter == "whitespace"


def detect_encoding(path: Path) -> str:
    """The file's encoding: a BOM decides; else UTF-8 if every byte sequence is valid UTF-8,
    else Windows-1252 (or Latin-1 when it uses bytes 1252 leaves undefined).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = p.write_bytes("a\\nBär\\n".encode("latin-1"))
    >>> detect_encoding(p)
    'cp1252'
    """
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        bom = head.startswith(codecs.BOM_UTF8)
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        seen = bytearray(256)
        utf8 = True
        for block in iter(lambda: fh.read(_BLOCK), b""):
            if utf8:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    utf8 = False
            if not utf8:
                for b in set(block) & _CP1252_HOLES:
                    seen[b] = 1
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        return "utf-8-sig" if bom else "utf-8"
    return "latin-1" if any(seen) else "cp1252"


def _head_text(path: Path, encoding: str) -> str:
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        text = fh.read(SNIFF_BYTES)
    if encoding in ("utf-8", "utf-8-sig") and text.startswith("\ufeff"):
        text = text[1:]
    return text


def _fields(lines: list[str], delimiter: str) -> list[int]:
    if delimiter == "whitespace":
        return [len(line.split()) for line in lines]
    return [len(row) for row in csv.reader(lines, delimiter=delimiter, quotechar='"')]


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the header into the most columns and the lines alike.

    A candidate counts when the header has at least two fields and four in
    five of the following lines have as many; without one, runs of
    whitespace are tried, then ``,`` (a one-column file).

    Examples
    --------
    >>> sniff_delimiter("a;b;c\\n1;2,5;3\\n"), sniff_delimiter(" id  date  amount\\n 01 1997 9.5\\n")
    (';', 'whitespace')
    >>> sniff_delimiter("account_id\\nA1\\n")
    ','
    """
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(text) >= SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut in the middle
    if not lines:
        return ","
    best, best_n = None, 1
    for cand in (*CANDIDATES, "whitespace"):
        counts = _fields(lines, cand)
        n = counts[0]
        if n < 2:
            continue
        rest = counts[1:]
        alike = sum(c == n for c in rest) >= 0.8 * len(rest) if rest else True
        if alike and n > best_n:
            best, best_n = cand, n
        if best is not None and cand == "whitespace":
            break  # whitespace only when no real delimiter fits
    return best or ","


def inspect_text(
    path: Path,
    *,
    encoding: str = "auto",
    delimiter: str = "auto",
    header: bool = True,
    column_names: list[str] | None = None,
) -> TextDialect:
    """Encoding, delimiter and column names of a text export.

    Raises
    ------
    InputError
        The file is empty, or its header names a column twice or has an
        empty name, or ``column_names`` does not match the number of columns.
    """
    enc = detect_encoding(path) if encoding == "auto" else encoding
    text = _head_text(path, enc)
    if not text.strip():
        raise InputError(f"{path}: the file is empty (not even a header line)")
    delim = sniff_delimiter(text) if delimiter == "auto" else delimiter
    lines = text.splitlines()
    leading = next((i for i, ln in enumerate(lines) if ln.strip()), len(lines))
    first = lines[leading] if leading < len(lines) else ""
    if delim == "whitespace":
        found = first.split()
    else:
        found = next(csv.reader([first], delimiter=delim, quotechar='"'), [])
    if column_names:
        if header and len(column_names) != len(found):
            raise InputError(f"{path}: column_names lists {len(column_names)} names, the file has {len(found)} columns")
        names = list(column_names)
    else:
        names = [n.strip() for n in found]
    _check_header(path, names)
    return TextDialect(enc, delim, names, header, leading)


def _check_header(path: Path, names: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if not name:
            continue  # unnamed columns are read as column_<n> and never mapped by accident
        key = name.lower()
        if key in seen:
            raise InputError(
                f"{path}: the header names column {name!r} twice (columns {seen[key]} and {i}); "
                "rename one so no column is lost"
            )
        seen[key] = i


def normalized(path: Path, dialect: TextDialect, scratch: Path) -> Path:
    """A UTF-8 file with a one-character delimiter that DuckDB can scan.

    The file itself when it already is one; else a copy in ``scratch``
    (named after the source's path, size and time, so a re-ingest of the
    same file reuses it). Whitespace-separated lines become comma-separated.
    """
    if not dialect.needs_copy:
        return path
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{dialect}".encode()).hexdigest()[:16]
    scratch.mkdir(parents=True, exist_ok=True)
    out = scratch / f"{path.stem}.{key}.csv"
    if out.exists():
        return out
    part = out.with_suffix(".part")
    with open(path, encoding=dialect.encoding, errors="strict", newline="") as src, \
            open(part, "w", encoding="utf-8", newline="") as dst:
        try:
            if dialect.delimiter == "whitespace":
                w = csv.writer(dst, lineterminator="\n")
                for line in src:
                    w.writerow(line.split())
            else:
                for block in iter(lambda: src.read(_BLOCK), ""):
                    dst.write(block)
        except UnicodeDecodeError as exc:
            part.unlink(missing_ok=True)
            raise InputError(f"{path}: not valid {dialect.encoding} text at byte {exc.start}; "
                             "set encoding: in the mapping (utf-8, cp1252, latin-1 or utf-16)") from None
    part.replace(out)
    return out


def peek(path: Path, lines: int = 3) -> str:
    """The first lines of a file, for error messages (decoded leniently)."""
    with open(path, "rb") as fh:
        raw = fh.read(4096)
    return "\n".join(io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="replace").read().splitlines()[:lines])
