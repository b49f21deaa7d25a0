"""Names a person knows for the kinds of file: "PDF document", not ``application/pdf``.

Pages and emails show these; the API, the CLI and the upload form's ``accept`` keep the
media types themselves.
"""

from __future__ import annotations

from chalicelib.domain.delivery import media_type

KINDS: dict[str, str] = {
    "application/pdf": "PDF document",
    "application/zip": "ZIP archive",
    "application/x-zip-compressed": "ZIP archive",
    "application/gzip": "GZIP archive",
    "application/x-gzip": "GZIP archive",
    "application/x-tar": "TAR archive",
    "application/epub+zip": "EPUB e-book",
    "application/json": "JSON file",
    "application/msword": "Word document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word document",
    "application/vnd.ms-excel": "Excel spreadsheet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel spreadsheet",
    "application/vnd.ms-powerpoint": "PowerPoint presentation",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (
        "PowerPoint presentation"
    ),
    "application/vnd.oasis.opendocument.text": "OpenDocument text",
    "application/vnd.oasis.opendocument.spreadsheet": "OpenDocument spreadsheet",
    "application/octet-stream": "file of any kind",
    "binary/octet-stream": "file of any kind",
    "text/plain": "plain text file",
    "text/csv": "CSV spreadsheet",
    "text/html": "web page",
    "image/jpeg": "JPEG image",
    "image/jpg": "JPEG image",
    "image/png": "PNG image",
    "image/gif": "GIF image",
    "image/webp": "WebP image",
    "image/heic": "HEIC photo",
    "image/svg+xml": "SVG image",
    "image/tiff": "TIFF image",
    "audio/mpeg": "MP3 audio",
    "audio/mp4": "M4A audio",
    "audio/wav": "WAV audio",
    "audio/ogg": "Ogg audio",
    "video/mp4": "MP4 video",
    "video/quicktime": "QuickTime video",
    "video/webm": "WebM video",
}


def file_kind(content_type: str) -> str:
    """The kind's name, or the media type itself when it has none here (still exact)."""
    found = media_type(content_type)
    return KINDS.get(found, found)


def file_kinds(content_types: tuple[str, ...] | list[str]) -> str:
    """``PDF document, PNG image``: several kinds, each named once, in the given order."""
    return ", ".join(dict.fromkeys(file_kind(t) for t in content_types))
