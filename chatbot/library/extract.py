"""A file (or pasted text) → an article body and what the file says about itself.

Maintained libraries read each format: trafilatura finds an HTML page's main text (navigation,
cookie banners, sidebars, comments and footers left out), pypdf reads a PDF's text layer (lines
repeated on most pages, such as running headers, footers and page numbers, left out),
python-docx a Word document's body (its headers and footers are not part of it). Markdown and
plain text are read as they are, Markdown's markup taken off.

The body is the text as a patient would read it: paragraphs separated by a blank line, list
items one a line, headings a line of their own. Every citation quotes it word for word, so
nothing is reworded here, only re-flowed.

Refused, with a message saying what to do, and nothing changed: an empty file, a file over
``MAX_FILE_BYTES``, a binary file, a type other than the five, a PDF without a text layer (a
scan), a damaged PDF or DOCX, a text too long for one article.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

from chatbot.errors import ChatbotError
from chatbot.text.normalise import strip_invisible

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_BODY_CHARS = 200_000
MIN_BODY_CHARS = 40
KINDS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}
SUPPORTED = "Markdown (.md), plain text (.txt), HTML (.html), PDF (.pdf) or Word (.docx)"


class ExtractionError(ChatbotError):
    """The file cannot become an article; the message says why and what to do."""


@dataclass
class Extracted:
    """What a file gave: the body and the metadata it carries (empty when it has none)."""

    body: str
    kind: str
    title: str = ""
    date: str = ""
    publisher: str = ""
    source_url: str = ""
    note: str = ""  # what was left out


def extract(data: bytes, filename: str) -> Extracted:
    """Read one uploaded file.

    Raises:
        ExtractionError: empty, too large, binary, unsupported, a scan, damaged, too long.
    """
    name = PurePath(filename or "").name or "the file"
    if not data or not data.strip():
        raise ExtractionError(f"{name} is empty: there is no text to make an article of")
    if len(data) > MAX_FILE_BYTES:
        raise ExtractionError(
            f"{name} is {len(data) / 1048576:.1f} MB, over the limit of "
            f"{MAX_FILE_BYTES // 1048576} MB for one article; split it or paste the text"
        )
    kind = _kind(data, name)
    if kind == "pdf":
        out = _pdf(data, name)
    elif kind == "docx":
        out = _docx(data, name)
    else:
        text = _decode(data, name)
        if kind == "html":
            out = _html(text, name)
        elif kind == "markdown":
            out = _markdown(text)
        else:
            out = Extracted(body=clean_text(text), kind="text")
    return _checked(out, name)


def from_pasted(text: str) -> Extracted:
    """Text pasted into the staff area (read as plain text)."""
    if "\x00" in text:
        raise ExtractionError("the pasted text holds binary data")
    return _checked(Extracted(body=clean_text(text), kind="text"), "the pasted text")


def _checked(out: Extracted, name: str) -> Extracted:
    if len(out.body.strip()) < MIN_BODY_CHARS:
        raise ExtractionError(
            f"{name} has no text to quote (fewer than {MIN_BODY_CHARS} characters found)"
        )
    if len(out.body) > MAX_BODY_CHARS:
        raise ExtractionError(
            f"{name} holds {len(out.body):,} characters, more than one article may "
            f"({MAX_BODY_CHARS:,}); split it into several articles"
        )
    return out


def _kind(data: bytes, name: str) -> str:
    suffix = PurePath(name).suffix.lower()
    if data[:5] == b"%PDF-":
        return "pdf"
    if data[:4] == b"PK\x03\x04":
        if suffix == ".docx" or _is_docx(data):
            return "docx"
        raise ExtractionError(f"{name} is a ZIP archive, not a document; give {SUPPORTED}")
    kind = KINDS.get(suffix)
    if kind in ("pdf", "docx"):
        raise ExtractionError(f"{name} is not a valid {suffix[1:].upper()} file (damaged?)")
    if kind is None:
        head = data[:512].lstrip().lower()
        if not suffix and (head.startswith(b"<!doctype html") or head.startswith(b"<html")):
            return "html"
        if suffix:
            raise ExtractionError(f"files of type {suffix} are not supported; give {SUPPORTED}")
        kind = "text"
    return kind


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "word/document.xml" in z.namelist()
    except zipfile.BadZipFile:
        return False


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data[:65536]:
        raise ExtractionError(f"{name} is a binary file, not text; give {SUPPORTED}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise ExtractionError(f"{name} is not text (a binary file?); give {SUPPORTED}") from exc
    controls = len(_CONTROL.findall(text[:65536]))
    if controls > max(3, len(text[:65536]) // 100):
        raise ExtractionError(f"{name} is a binary file, not text; give {SUPPORTED}")
    return text


def clean_text(text: str) -> str:
    """One way bodies look: Unix newlines, no invisible or control characters, no trailing
    spaces, at most one blank line in a row, one final newline; lines start at the margin."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = _CONTROL.sub("", strip_invisible(text)).replace("\t", " ")
    lines = [ln.strip() for ln in text.split("\n")]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return body + "\n" if body else ""


def _paragraphs(lines: list[str]) -> str:
    """Lines of extracted text → paragraphs split by blank lines, list items kept together."""
    out: list[str] = []
    for line in (ln.strip() for ln in lines):
        if not line:
            continue
        is_item = line.startswith(("- ", "* ", "• "))
        if is_item:
            line = "- " + line[2:].strip()
        if out and is_item and out[-1].startswith("- "):
            out.append(line)
        else:
            if out:
                out.append("")
            out.append(line)
    return clean_text("\n".join(out))


# -- HTML ------------------------------------------------------------------------------------


def _html(text: str, name: str) -> Extracted:
    import trafilatura

    doc = trafilatura.bare_extraction(
        text,
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        favor_precision=True,
        with_metadata=True,
        deduplicate=True,
    )
    main = (getattr(doc, "text", None) or "") if doc is not None else ""
    if not main.strip():
        raise ExtractionError(f"no article text was found in the page {name}")
    return Extracted(
        body=_paragraphs(main.split("\n")),
        kind="html",
        title=_one_line(getattr(doc, "title", "") or ""),
        date=_iso_date(getattr(doc, "date", "") or ""),
        publisher=_one_line(getattr(doc, "sitename", "") or ""),
        source_url=_one_line(getattr(doc, "url", "") or ""),
        note="Main text taken from the web page; navigation, banners, sidebars, comments and "
        "footer left out.",
    )


# -- Markdown --------------------------------------------------------------------------------

_MD_RULES = [
    (re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$"), r"\1"),  # headings
    (re.compile(r"^\s{0,3}>\s?"), ""),  # block quotes
    (re.compile(r"^(\s*)[*+]\s+"), r"\1- "),  # list bullets
]
_MD_INLINE = [
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"\1"),  # italics
    (re.compile(r"`([^`]+)`"), r"\1"),  # code
    (re.compile(r"<[^>\n]+>"), ""),  # inline HTML
]


def _markdown(text: str) -> Extracted:
    meta: dict[str, str] = {}
    text = text.replace("\r\n", "\n")
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end > 0:
            for line in text[4:end].split("\n"):
                key, sep, value = line.partition(":")
                if sep:
                    meta[key.strip().lower()] = value.strip()
            text = text[end + 5 :]
    lines = []
    for line in text.split("\n"):
        if re.match(r"^\s*(```|~~~|---+\s*$|\*\*\*+\s*$)", line):
            continue  # fences and rules
        for pattern, repl in _MD_RULES:
            line = pattern.sub(repl, line)
        for pattern, repl in _MD_INLINE:
            line = pattern.sub(repl, line)
        lines.append(line)
    body = clean_text("\n".join(lines))
    title = meta.get("title", "")
    if not title:  # a first line that is a heading names the article
        first = text.lstrip().split("\n", 1)[0]
        if first.startswith("#"):
            title = first.lstrip("#").strip()
    return Extracted(
        body=body,
        kind="markdown",
        title=_one_line(title),
        date=_iso_date(meta.get("date", "")),
        publisher=_one_line(meta.get("publisher", "")),
        source_url=_one_line(meta.get("source_url", meta.get("url", ""))),
    )


# -- PDF -------------------------------------------------------------------------------------

_PAGE_NUMBER = re.compile(r"^(page\s*)?\d{1,4}(\s*(/|of)\s*\d{1,4})?$", re.IGNORECASE)


def _pdf(data: bytes, name: str) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ExtractionError(f"{name} is password-protected; save it without a password")
        pages = [(p.extract_text() or "") for p in reader.pages]
        info = reader.metadata
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ExtractionError(f"{name} is not a readable PDF (damaged?): {exc}") from exc
    if not "".join(pages).strip():
        raise ExtractionError(
            f"{name} has no text layer (a scanned PDF?): the text cannot be quoted word for "
            "word. Run it through OCR first, or paste the text"
        )
    lines_of = [[clean_text(ln).strip() for ln in page.split("\n")] for page in pages]
    # Running headers, footers and page numbers: lines on most pages, or only a number.
    seen: dict[str, int] = {}
    for lines in lines_of:
        for ln in set(filter(None, lines)):
            seen[ln] = seen.get(ln, 0) + 1
    repeated = {ln for ln, n in seen.items() if len(pages) >= 2 and n >= max(2, len(pages) / 2)}
    kept: list[str] = []
    for lines in lines_of:
        for ln in lines:
            if ln in repeated or _PAGE_NUMBER.match(ln):
                continue
            kept.append(ln)
        kept.append("")
    title = _one_line(str(getattr(info, "title", "") or "")) if info else ""
    return Extracted(
        body=_reflow(kept),
        kind="pdf",
        title=title,
        note="Text layer of the PDF; running headers, footers and page numbers left out.",
    )


def _reflow(lines: list[str]) -> str:
    """A PDF's wrapped lines joined into paragraphs: a line joins the one before unless that
    one ended a sentence short of the full width, or either is a heading or a list item."""
    width = max((len(ln) for ln in lines), default=0)
    paras: list[str] = []
    current = ""
    for ln in lines:
        if not ln:
            if current:
                paras.append(current)
            current = ""
            continue
        item = ln.startswith(("- ", "• ", "* "))
        if item:
            ln = "- " + ln[2:].strip()
        ends = current.endswith((".", "!", "?", ":", '."', ".”"))
        short = len(current.split("\n")[-1]) < 0.8 * width
        heading = bool(current) and not current.endswith((".", ",", ";", ":")) and short
        if (
            current
            and not item
            and not (ends and short)
            and not heading
            and not (ln[:1].isupper() and _looks_heading(ln))
        ):
            current = (
                current[:-1] + ln
                if current.endswith("-") and ln[:1].islower()
                else (f"{current} {ln}")
            )
        else:
            if current:
                paras.append(current)
            current = ln
    if current:
        paras.append(current)
    return _paragraphs(paras)


def _looks_heading(line: str) -> bool:
    return len(line.split()) <= 8 and not line.endswith((".", ",", ";"))


# -- DOCX ------------------------------------------------------------------------------------


def _docx(data: bytes, name: str) -> Extracted:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several kinds for a damaged file
        raise ExtractionError(f"{name} is not a readable Word document (damaged?)") from exc
    lines: list[str] = []
    title = ""
    for para in document.paragraphs:
        text = " ".join(para.text.split())
        if not text:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        if style == "Title" and not title:
            title = text
            continue
        if style.startswith("List"):
            text = "- " + text.lstrip("-•* ")
        lines.append(text)
    props = document.core_properties
    return Extracted(
        body=_paragraphs(lines),
        kind="docx",
        # Not its creation date or author: python-docx's own template fills those in.
        title=_one_line(title or props.title or ""),
        note="Body of the Word document; its headers, footers and tables left out.",
    )


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:300]


def _iso_date(text: str) -> str:
    m = re.match(r"^\s*(\d{4}-\d{2}-\d{2})", text or "")
    return m.group(1) if m else ""
