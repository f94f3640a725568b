"""Styled error pages: the site's own layout and navigation instead of Django's bare text."""

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader
from django.views import defaults

log = logging.getLogger(__name__)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return defaults.permission_denied(request, exception, template_name="403.html")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return defaults.page_not_found(request, exception, template_name="404.html")


def server_error(request: HttpRequest) -> HttpResponse:
    # Rendered without the request's context processors: whatever failed may be among them.
    try:
        body = loader.get_template("500.html").render({"error_page": True})
    except Exception:
        log.exception("the 500 page itself failed to render")
        return defaults.server_error(request)
    return HttpResponseServerError(body)
