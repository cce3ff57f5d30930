"""Read what a browser would act on in an HTML page: an auto-submitted form or a JS redirect."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_JS_REDIRECT = re.compile(r"""window\.location(?:\.href)?\s*=\s*(["'])(?P<url>.+?)\1""")


@dataclass
class Form:
    action: str
    method: str = "POST"
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value or "" for name, value in attrs}
        if tag == "form":
            method = (values.get("method") or "GET").upper()
            self.forms.append(Form(action=values.get("action", ""), method=method))
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1].fields[values["name"]] = values.get("value", "")


def parse_forms(page: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(page)
    parser.close()
    return parser.forms


def parse_form(page: str) -> Form | None:
    forms = parse_forms(page)
    return forms[0] if forms else None


def parse_js_redirect(page: str) -> str | None:
    match = _JS_REDIRECT.search(page)
    return html.unescape(match.group("url")) if match else None


def auto_submit_page(form: Form, *, title: str = "Redirecting") -> str:
    """The auto-submitting page a platform answers with (as Moodle's auth.php does)."""
    inputs = "\n".join(
        f'  <input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}"/>'
        for name, value in form.fields.items()
    )
    return (
        f"<!DOCTYPE html>\n<html><head><title>{html.escape(title)}</title></head><body>\n"
        f'<form action="{html.escape(form.action)}" name="ltiAuthForm" id="ltiAuthForm" '
        f'method="{form.method.lower()}" enctype="application/x-www-form-urlencoded">\n'
        f"{inputs}\n</form>\n"
        '<script type="text/javascript">document.ltiAuthForm.submit();</script>\n'
        "</body></html>\n"
    )
