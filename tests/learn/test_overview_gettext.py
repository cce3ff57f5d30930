"""The overview's gettext (translations looked up once per request) renders exactly what Jinja's
new-style gettext renders: the same translation, escaping and %-formatting, in every locale."""

from __future__ import annotations

import pytest

from courses.views import _gettext_of_this_request
from training_app.i18n import use_locale

TEMPLATE = (
    '{{ _("Skip to main content") }}|{{ _("Continue") }}|{{ _("Pass mark %(n)d%%", n=80) }}|'
    '{{ _("Due by %(date)s", date=due) }}|{{ _("%(done)d of %(total)d lessons done", done=1, total=6) }}|'
    '{{ _("Not a catalog string & <b>not markup</b>") }}|{{ _("About %(n)d minutes left", n=12) }}'
)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_overview_gettext_renders_what_jinja_renders(app, locale):
    with app.test_request_context("/"):
        use_locale(locale)
        template = app.jinja_env.from_string(TEMPLATE)
        context = {"due": "<script>2026-12-20</script>"}
        by_jinja = template.render(**context)
        ours = _gettext_of_this_request()
        by_ours = template.render(**context, gettext=ours, _=ours)
    assert by_ours == by_jinja
    assert "&lt;script&gt;" in by_ours  # variables are escaped; the template's own strings are markup
    assert "<b>not markup</b>" in by_ours
    if locale == "es":
        assert "Continuar" in by_ours
