"""The dashboard's page at ``/dashboard`` and its files under ``/dashboard/assets/``.

Both are open (the page asks for a key and sends it with each ``/v1/stats``
request); neither is in ``/docs.json``.  The page runs only its own files,
which its Content-Security-Policy enforces.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

#: The pages' files (index.html and app.js, follow_up.html and follow_up.js, key.js they share,
#: app.css, the vendored chart library).
STATIC = Path(__file__).resolve().parent / "static" / "dashboard"
PAGE_PATHS = ("/dashboard", "/dashboard/")
ASSETS_PREFIX = "/dashboard/assets/"

# The page runs only its own files: no inline script or style, nothing from elsewhere.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

page_router = APIRouter()


@page_router.get("/dashboard", include_in_schema=False)
@page_router.get("/dashboard/", include_in_schema=False)
def page() -> Response:
    """The page itself, with the headers that confine it (404 when its files are missing)."""
    return page_file("index.html")


def page_file(name: str) -> Response:
    """One of the dashboard's HTML pages, with the headers that confine it (404 when missing)."""
    path = STATIC / name
    if not path.is_file():
        raise HTTPException(404, "the dashboard's files are not installed")
    return FileResponse(path, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


def assets() -> StaticFiles:
    """The page's files, to mount at :data:`ASSETS_PREFIX` (a missing folder is a 404, not an error)."""
    return StaticFiles(directory=STATIC, check_dir=False)
