"""Styled error pages: the site's own layout and navigation instead of Django's bare text."""

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotFound, HttpResponseServerError
from django.template import loader
from django.views import defaults

log = logging.getLogger(__name__)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    try:
        return defaults.permission_denied(request, exception, template_name="403.html")
    except Exception:
        # A 403 must stay a 403: if the styled page cannot render (its layout reads the database), say so plainly.
        log.exception("the 403 page failed to render")
        return HttpResponseForbidden(PLAIN.format(title="Forbidden"), content_type="text/html")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    try:
        return defaults.page_not_found(request, exception, template_name="404.html")
    except Exception:
        log.exception("the 404 page failed to render")
        return HttpResponseNotFound(PLAIN.format(title="Not found"), content_type="text/html")


PLAIN = '<!doctype html><title>{title} · Aegis IAM</title><h1>{title}</h1><p><a href="/audits/">Audits</a></p>'


def server_error(request: HttpRequest) -> HttpResponse:
    # Rendered without the request's context processors: whatever failed may be among them.
    try:
        body = loader.get_template("500.html").render({"error_page": True})
    except Exception:
        log.exception("the 500 page itself failed to render")
        return defaults.server_error(request)
    return HttpResponseServerError(body)
