"""The console's API tokens page (/console/api-tokens), for HR administrators: create a token
(its secret shown once, on the answer to the form), list them with their last use, revoke one."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from training_app import api_tokens
from training_app.auth.access import staff_required
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import Tenant

bp = Blueprint("api_console", __name__, url_prefix="/console/api-tokens", template_folder="templates")

SCOPE_CHOICES = [
    SelectChoice("read", _l("Read: completions, employees, assignments, certificates, courses, audit log")),
    SelectChoice("write", _l("Write: read, and create or change employees, assignments and certificates")),
    SelectChoice("scim", _l("SCIM: an identity provider provisions employees")),
]
LIFETIME_CHOICES = [
    SelectChoice("30", _l("30 days")),
    SelectChoice("90", _l("90 days")),
    SelectChoice("180", _l("180 days")),
    SelectChoice("365", _l("1 year")),
]


class TokenForm(FlaskForm):
    name = StringField(
        _l("Name (what uses it, e.g. Workday)"), validators=[DataRequired(), Length(max=api_tokens.MAX_NAME)]
    )
    scope = SelectField(_l("Scope"), choices=SCOPE_CHOICES, default="read")
    lifetime = SelectField(_l("Expires after"), choices=LIFETIME_CHOICES, default="90")


def _page(form: TokenForm, issued: api_tokens.IssuedToken | None = None) -> str:
    return render_template(
        "api/tokens.html",
        tokens=api_tokens.tokens_of(current_user.tenant_id),
        form=form,
        issued=issued,
        now=utcnow(),
    )


@bp.get("")
@staff_required(role="hr_admin")
def tokens():
    return _page(TokenForm())


@bp.post("")
@staff_required(role="hr_admin")
def create_token():
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(form), 422
    issued = api_tokens.issue_token(
        db.session.get(Tenant, current_user.tenant_id),
        name=form.name.data,
        scope=form.scope.data,
        expires_in=timedelta(days=int(form.lifetime.data)),
        actor=f"staff:{current_user.id}",
        ip_address=request.remote_addr,
    )
    return _page(TokenForm(formdata=None), issued), 201


@bp.post("/<int:token_id>/revoke")
@staff_required(role="hr_admin")
def revoke_token(token_id: int):
    token = api_tokens.revoke_token(
        token_id,
        tenant_id=current_user.tenant_id,
        actor=f"staff:{current_user.id}",
        ip_address=request.remote_addr,
    )
    flash(gettext("The token “%(name)s” is revoked: it no longer works.", name=token.name), "success")
    return redirect(url_for(".tokens"), 303)
