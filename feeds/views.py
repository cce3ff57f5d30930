"""The console's completion feeds: the learning record store (settings, health, send the failed
again) and the SFTP feeds (settings, runs, run now). Thin: parse, call one service, render. Any
staff member may look; only HR administrators change."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from feeds import lrs_settings, sftp_settings
from feeds.models import ACTOR_KINDS, FILE_CONTENTS, FILE_FORMATS, LRS_AUTHS, XAPI_VERSIONS, SftpFeed
from training_app.auth.access import staff_required
from training_app.errors import DomainError, ValidationFailed
from training_app.extensions import db
from training_app.models import Tenant
from training_app.urls import base_url

bp = Blueprint("feeds", __name__, template_folder="templates", url_prefix="/console/feeds")


def _tenant() -> Tenant:
    return db.session.get(Tenant, current_user.tenant_id)


def _actor() -> dict[str, object]:
    return {"staff_id": current_user.id, "ip_address": request.remote_addr}


@bp.get("/")
@staff_required()
def overview():
    tenant_id = current_user.tenant_id
    return render_template(
        "feeds/overview.html",
        health=lrs_settings.health(tenant_id),
        feeds=sftp_settings.feeds_of(tenant_id),
        last_runs=sftp_settings.last_runs(tenant_id),
    )


# --- the learning record store ------------------------------------------------------------------


@bp.get("/lrs")
@staff_required()
def lrs():
    connection = lrs_settings.connection_of(current_user.tenant_id)
    return _lrs_page(connection, _lrs_form(connection))


@bp.post("/lrs")
@staff_required(role="hr_admin")
def save_lrs():
    tenant = _tenant()
    connection = lrs_settings.connection_of(tenant.id)
    try:
        lrs_settings.save_connection(tenant, _lrs_fields(), **_actor())
    except ValidationFailed as refused:
        return _lrs_page(connection, request.form, refused)
    flash(gettext("The learning record store is saved: statements are sent to it from now on."), "success")
    return redirect(url_for(".lrs"), 303)


@bp.post("/lrs/enable")
@staff_required(role="hr_admin")
def lrs_enable():
    lrs_settings.set_enabled(_tenant(), True, **_actor())
    flash(gettext("Statements are sent to the learning record store again."), "success")
    return redirect(url_for(".lrs"), 303)


@bp.post("/lrs/disable")
@staff_required(role="hr_admin")
def lrs_disable():
    lrs_settings.set_enabled(_tenant(), False, **_actor())
    flash(gettext("No statements are sent to the learning record store until you turn it on."), "success")
    return redirect(url_for(".lrs"), 303)


@bp.post("/lrs/remove")
@staff_required(role="hr_admin")
def lrs_remove():
    if request.form.get("confirm") != "y":
        raise ValidationFailed(gettext("Tick the box to confirm that the connection goes."))
    lrs_settings.remove_connection(_tenant(), **_actor())
    flash(gettext("The learning record store connection is removed."), "success")
    return redirect(url_for(".overview"), 303)


@bp.post("/lrs/resend")
@staff_required(role="hr_admin")
def lrs_resend():
    count = lrs_settings.resend_failed(_tenant(), **_actor())
    flash(gettext("%(n)d statement(s) will be sent again, with the same ids.", n=count), "success")
    return redirect(url_for(".lrs"), 303)


@bp.post("/lrs/backfill")
@staff_required(role="hr_admin")
def lrs_backfill():
    lrs_settings.send_earlier_records(_tenant(), **_actor())
    flash(
        gettext(
            "Earlier records are being sent in the background; any already sent are skipped. "
            "The counts below grow as they are queued."
        ),
        "success",
    )
    return redirect(url_for(".lrs"), 303)


def _lrs_form(connection) -> dict[str, str]:
    if connection is None:
        return {"xapi_version": "1.0.3", "auth": "basic", "actor": "mbox"}
    return {
        "statements_url": connection.statements_url,
        "xapi_version": connection.xapi_version,
        "auth": connection.auth,
        "username": connection.username,
        "token_url": connection.token_url or "",
        "scope": connection.scope,
        "actor": connection.actor,
        "account_home_page": connection.account_home_page or "",
    }


def _lrs_fields() -> lrs_settings.LrsFields:
    form = request.form
    return lrs_settings.LrsFields(
        statements_url=form.get("statements_url", ""),
        xapi_version=form.get("xapi_version", ""),
        auth=form.get("auth", ""),
        username=form.get("username", ""),
        secret=form.get("secret", ""),
        token_url=form.get("token_url", ""),
        scope=form.get("scope", ""),
        actor=form.get("actor", ""),
        account_home_page=form.get("account_home_page", ""),
    )


def _lrs_page(connection, form, refused: DomainError | None = None):
    tenant_id = current_user.tenant_id
    return render_template(
        "feeds/lrs.html",
        connection=connection,
        form=form,
        refused=refused,
        health=lrs_settings.health(tenant_id),
        problems=lrs_settings.recent_problems(tenant_id),
        versions=XAPI_VERSIONS,
        auths=LRS_AUTHS,
        actors=ACTOR_KINDS,
        public_url=base_url(),
    ), (refused.status if refused else 200)


# --- SFTP feeds -------------------------------------------------------------------------------------


@bp.route("/sftp/new", methods=["GET", "POST"])
@staff_required(role="hr_admin")
def new_feed():
    if request.method == "GET":
        return _feed_form(None, NEW_FEED)
    try:
        feed = sftp_settings.create_feed(_tenant(), _feed_fields(), **_actor())
    except DomainError as refused:
        return _feed_form(None, request.form, refused)
    flash(
        gettext("The feed is saved: its first file goes at its next time, or now with “Run now”."), "success"
    )
    return redirect(url_for(".feed", feed_id=feed.id), 303)


@bp.get("/sftp/<int:feed_id>")
@staff_required()
def feed(feed_id: int):
    found = sftp_settings.tenant_feed(current_user.tenant_id, feed_id)
    runs = sftp_settings.runs_of(found.id)
    return render_template(
        "feeds/feed.html", feed=found, runs=runs, next_tries=sftp_settings.next_tries(runs)
    )


@bp.route("/sftp/<int:feed_id>/edit", methods=["GET", "POST"])
@staff_required(role="hr_admin")
def edit_feed(feed_id: int):
    found = sftp_settings.tenant_feed(current_user.tenant_id, feed_id)
    if request.method == "GET":
        return _feed_form(found, _feed_values(found))
    try:
        sftp_settings.update_feed(found, _feed_fields(), **_actor())
    except DomainError as refused:
        return _feed_form(found, request.form, refused)
    flash(gettext("The feed is saved."), "success")
    return redirect(url_for(".feed", feed_id=found.id), 303)


@bp.post("/sftp/<int:feed_id>/run")
@staff_required(role="hr_admin")
def run_feed(feed_id: int):
    found = sftp_settings.tenant_feed(current_user.tenant_id, feed_id)
    run = sftp_settings.run_now(
        found, actor=f"staff:{current_user.id}", trigger="console", ip_address=request.remote_addr
    )
    flash(gettext("The file %(name)s is queued: it is sent within a minute.", name=run.file_name), "success")
    return redirect(url_for(".feed", feed_id=found.id), 303)


@bp.post("/sftp/<int:feed_id>/enable")
@staff_required(role="hr_admin")
def enable_feed(feed_id: int):
    found = sftp_settings.tenant_feed(current_user.tenant_id, feed_id)
    sftp_settings.set_enabled(found, True, **_actor())
    flash(gettext("The feed is on: it sends a file every day at its time."), "success")
    return redirect(url_for(".feed", feed_id=found.id), 303)


@bp.post("/sftp/<int:feed_id>/disable")
@staff_required(role="hr_admin")
def disable_feed(feed_id: int):
    found = sftp_settings.tenant_feed(current_user.tenant_id, feed_id)
    sftp_settings.set_enabled(found, False, **_actor())
    flash(gettext("The feed is off: no file is sent until you turn it on."), "success")
    return redirect(url_for(".feed", feed_id=found.id), 303)


@bp.post("/sftp/<int:feed_id>/delete")
@staff_required(role="hr_admin")
def delete_feed(feed_id: int):
    found = sftp_settings.tenant_feed(current_user.tenant_id, feed_id)
    if request.form.get("confirm") != "y":
        raise ValidationFailed(gettext("Tick the box to confirm that the feed and its runs go."))
    sftp_settings.delete_feed(found, **_actor())
    flash(gettext("The feed and its runs are deleted."), "success")
    return redirect(url_for(".overview"), 303)


NEW_FEED = {
    "port": "22",
    "auth": "key",
    "remote_dir": ".",
    "time_of_day": "02:00",
    "time_zone": "UTC",
    "file_format": "csv",
    "content": "changes",
}
FEED_FIELDS = ("name", "host", "port", "username", "auth", "secret", "host_key_fingerprint", "remote_dir",
               "time_of_day", "time_zone", "file_format", "content")  # fmt: skip


def _feed_fields() -> sftp_settings.FeedFields:
    return sftp_settings.FeedFields(**{name: request.form.get(name, "") for name in FEED_FIELDS})


def _feed_values(feed: SftpFeed) -> dict[str, str]:
    return {name: str(getattr(feed, name)) for name in FEED_FIELDS if name != "secret"}


def _feed_form(feed: SftpFeed | None, form, refused: DomainError | None = None):
    return render_template(
        "feeds/feed_form.html",
        feed=feed,
        form=form,
        refused=refused,
        formats=FILE_FORMATS,
        contents=FILE_CONTENTS,
    ), (refused.status if refused else 200)
