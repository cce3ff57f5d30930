"""What each course audience is called on the pages that show it (overview, content picker, console)."""

from flask_babel import gettext

from training_app.errors import N_

LABELS = {
    "orientation": N_("Orientation"),
    "refresher": N_("Refresher"),
    "leaders": N_("For people leaders"),
}


def audience_label(audience: str) -> str:
    return gettext(LABELS[audience]) if audience in LABELS else audience
