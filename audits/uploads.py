"""Snapshot uploads go to a temporary file on disk and stop at the size limit while they are read.

Django's default handlers keep a file under FILE_UPLOAD_MAX_MEMORY_SIZE in memory and never limit a file's
size; the form then read the whole file into memory before it checked the limit (a 400 MB upload grew the web
process by 392 MB). Here the limit is checked chunk by chunk and the reading stops at the first byte over it.
A JSON body is read only up to its own, smaller limit before it is parsed (read_json_body).
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict

# An upload up to this size is checked in full before its run is created (a bad one gets a 400 here). A larger
# one is only screened here - UTF-8, a JSON object - and checked in full by the worker, which fails the run with
# the loader's message: parsing 40 MB takes 8 s and 300 MB, which a web process serving everyone cannot spend.
FULL_CHECK_BYTES = 4 * 1024 * 1024
# Room for the multipart headers and the form's other fields on top of the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024


def max_upload_bytes() -> int:
    return settings.AEGIS_MAX_UPLOAD_BYTES


def max_json_bytes() -> int:
    """The largest JSON body parsed in the web process (the API's inline snapshot).

    json.loads holds the whole document as objects (a 21 MB array of {} took 556 MB), so a JSON body is held to
    the size of an upload the portal checks in full in the web process; a larger snapshot goes as a multipart file,
    which is only screened here."""
    return FULL_CHECK_BYTES


def shown(limit: int) -> str:
    return f"{limit / 1024 / 1024:g} MB" if limit >= 1024 * 1024 else f"{limit / 1024:.0f} KB"


def too_large_message(limit: int | None = None) -> str:
    limit = max_upload_bytes() if limit is None else limit
    return f"The snapshot file is larger than the {shown(limit)} limit; upload a smaller export."


def json_too_large_message() -> str:
    return (f"A JSON body may be at most {shown(max_json_bytes())}; send a larger snapshot as a multipart file "
            "field named 'snapshot'.")  # fmt: skip


def read_json_body(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it is over max_json_bytes(): read from the spooled body up to one byte past the
    limit, so an oversized body is never read into memory whole, declared length or not."""
    limit = max_json_bytes()
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        return None
    raw = request.read(limit + 1)
    return None if len(raw) > limit else raw


class LimitedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """A TemporaryFileUploadHandler that gives up at the size limit and marks the request `upload_too_large`."""

    def __init__(self, request: HttpRequest | None = None, limit: int | None = None) -> None:
        super().__init__(request)
        self.limit = max_upload_bytes() if limit is None else limit

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):  # noqa: N803
        # A body far over the limit is refused before its first byte is parsed: no fields, no files.
        if content_length and content_length > self.limit + FORM_OVERHEAD_BYTES:
            self._mark()
            return QueryDict(encoding=encoding), MultiValueDict()
        return super().handle_raw_input(input_data, META, content_length, boundary, encoding)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > self.limit:
            self._refuse()
        return super().receive_data_chunk(raw_data, start)

    def _mark(self) -> None:
        if self.request is not None:
            self.request.upload_too_large = True

    def _refuse(self) -> None:
        self._mark()
        # connection_reset: the rest of the body is not read (under ASGI it is already spooled; nothing waits).
        raise StopUpload(connection_reset=True)


def read_limited(request: HttpRequest) -> bool:
    """Parse the request's form with the limited handler; True when the upload went over the limit.

    Must run before anything reads request.POST or request.FILES (hence csrf_exempt on the view, which then
    checks CSRF itself with csrf_protect), because the handlers cannot change once parsing has started."""
    request.upload_handlers = [LimitedTemporaryFileUploadHandler(request)]
    if request.method == "POST":
        request.POST  # noqa: B018 - parse now, with the handler above
    return bool(getattr(request, "upload_too_large", False))
