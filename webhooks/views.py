"""The console's webhook pages: endpoints, their deliveries, replays, the secret shown once. Thin:
parse, call one service, render. Any staff member may look; only HR administrators change."""

from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from training_app.auth.access import staff_required
from training_app.db import utcnow
from training_app.edge import page_number
from training_app.errors import DomainError, ValidationFailed
from training_app.extensions import db
from training_app.models import Tenant
from webhooks import queries, services, settings
from webhooks.events import EVENT_TYPES
from webhooks.models import DELIVERY_STATUSES, WebhookEndpoint

bp = Blueprint("webhooks", __name__, template_folder="templates", url_prefix="/console/webhooks")


def _tenant() -> Tenant:
    return db.session.get(Tenant, current_user.tenant_id)


def _actor() -> dict[str, object]:
    return {"staff_id": current_user.id, "ip_address": request.remote_addr}


@bp.get("/")
@staff_required()
def endpoints():
    return _endpoints_page()


def _endpoints_page(refused: ValidationFailed | None = None, status: int = 200):
    tenant = _tenant()
    return render_template(
        "webhooks/endpoints.html",
        endpoints=services.endpoints_of(tenant.id),
        summaries=queries.delivery_summaries(tenant.id),
        disable_after_days=settings.disable_after_days(tenant),
        event_types=EVENT_TYPES,
        refused=refused,
    ), status


@bp.post("/settings")
@staff_required(role="hr_admin")
def change_settings():
    raw = request.form.get("disable_after_days", "").strip()
    try:
        days = int(raw) if raw.isdigit() and len(raw) < 4 else 0
        services.change_settings(_tenant(), disable_after_days=days, **_actor())
    except ValidationFailed as refused:
        return _endpoints_page(refused, refused.status)
    flash(gettext("Saved: an endpoint failing for %(n)d day(s) is turned off.", n=days), "success")
    return redirect(url_for(".endpoints"), 303)


@bp.route("/new", methods=["GET", "POST"])
@staff_required(role="hr_admin")
def new_endpoint():
    if request.method == "GET":
        return _form_page(None, {"event_types": list(EVENT_TYPES)})
    try:
        endpoint, secret = services.create_endpoint(_tenant(), _fields(), **_actor())
    except DomainError as refused:
        return _form_page(None, request.form, refused)
    return _secret_page(endpoint, secret, created=True)


@bp.get("/<int:endpoint_id>")
@staff_required()
def endpoint(endpoint_id: int):
    found = services.tenant_endpoint(current_user.tenant_id, endpoint_id)
    chosen = request.args.get("status") or None
    if chosen is not None and chosen not in DELIVERY_STATUSES:
        raise ValidationFailed(gettext("There is no such delivery status."), status=400)
    page = queries.deliveries_page(found.id, chosen, page=page_number())
    return render_template(
        "webhooks/endpoint.html",
        endpoint=found,
        found=page,
        chosen=chosen,
        statuses=DELIVERY_STATUSES,
        event_types=EVENT_TYPES,
        default_grace_hours=services.DEFAULT_GRACE_HOURS,
        now=utcnow(),
    )


@bp.route("/<int:endpoint_id>/edit", methods=["GET", "POST"])
@staff_required(role="hr_admin")
def edit_endpoint(endpoint_id: int):
    found = services.tenant_endpoint(current_user.tenant_id, endpoint_id)
    if request.method == "GET":
        form = {"url": found.url, "description": found.description, "event_types": found.event_types}
        return _form_page(found, form)
    try:
        services.update_endpoint(found, _fields(), **_actor())
    except DomainError as refused:
        return _form_page(found, request.form, refused)
    flash(gettext("The endpoint is saved."), "success")
    return redirect(url_for(".endpoint", endpoint_id=found.id), 303)


@bp.post("/<int:endpoint_id>/enable")
@staff_required(role="hr_admin")
def enable(endpoint_id: int):
    found = services.tenant_endpoint(current_user.tenant_id, endpoint_id)
    services.set_enabled(found, True, **_actor())
    flash(
        gettext("The endpoint is on: new events are sent to it. Replay the failed ones if they are needed."),
        "success",
    )
    return redirect(url_for(".endpoint", endpoint_id=found.id), 303)


@bp.post("/<int:endpoint_id>/disable")
@staff_required(role="hr_admin")
def disable(endpoint_id: int):
    found = services.tenant_endpoint(current_user.tenant_id, endpoint_id)
    services.set_enabled(found, False, **_actor())
    flash(gettext("The endpoint is off: no events are sent to it until you turn it on."), "success")
    return redirect(url_for(".endpoint", endpoint_id=found.id), 303)


@bp.post("/<int:endpoint_id>/delete")
@staff_required(role="hr_admin")
def delete(endpoint_id: int):
    found = services.tenant_endpoint(current_user.tenant_id, endpoint_id)
    if request.form.get("confirm") != "y":
        raise ValidationFailed(gettext("Tick the box to confirm that the endpoint and its deliveries go."))
    services.delete_endpoint(found, **_actor())
    flash(gettext("The endpoint and its deliveries are deleted."), "success")
    return redirect(url_for(".endpoints"), 303)


@bp.post("/<int:endpoint_id>/rotate")
@staff_required(role="hr_admin")
def rotate(endpoint_id: int):
    found = services.tenant_endpoint(current_user.tenant_id, endpoint_id)
    raw = request.form.get("grace_hours", "").strip()
    hours = int(raw) if raw.isdigit() and len(raw) < 5 else -1
    secret = services.rotate_secret(found, grace_hours=hours, **_actor())
    return _secret_page(found, secret, created=False)


@bp.post("/<int:endpoint_id>/replay-failed")
@staff_required(role="hr_admin")
def replay_failed(endpoint_id: int):
    found = services.tenant_endpoint(current_user.tenant_id, endpoint_id)
    count = services.replay_failed(found, **_actor())
    flash(gettext("%(n)d failed delivery(ies) will be sent again.", n=count), "success")
    return redirect(url_for(".endpoint", endpoint_id=found.id), 303)


@bp.get("/deliveries/<int:delivery_id>")
@staff_required()
def delivery(delivery_id: int):
    found = services.tenant_delivery(current_user.tenant_id, delivery_id)
    return render_template(
        "webhooks/delivery.html",
        delivery=found,
        endpoint=db.session.get(WebhookEndpoint, found.endpoint_id),
        body=queries.pretty_body(found.body),
    )


@bp.post("/deliveries/<int:delivery_id>/replay")
@staff_required(role="hr_admin")
def replay(delivery_id: int):
    found = services.tenant_delivery(current_user.tenant_id, delivery_id)
    services.replay(found, **_actor())
    flash(gettext("The delivery will be sent again, with the same webhook-id."), "success")
    return redirect(url_for(".endpoint", endpoint_id=found.endpoint_id), 303)


def _fields() -> services.EndpointFields:
    return services.EndpointFields(
        url=request.form.get("url", ""),
        description=request.form.get("description", ""),
        event_types=request.form.getlist("event_types"),
    )


def _form_page(endpoint: WebhookEndpoint | None, form, refused: DomainError | None = None):
    chosen = form.getlist("event_types") if hasattr(form, "getlist") else form.get("event_types", [])
    return render_template(
        "webhooks/endpoint_form.html",
        endpoint=endpoint,
        form=form,
        chosen=chosen,
        event_types=EVENT_TYPES,
        refused=refused,
    ), (refused.status if refused else 200)


def _secret_page(endpoint: WebhookEndpoint, secret: str, *, created: bool):
    response = make_response(
        render_template("webhooks/secret.html", endpoint=endpoint, secret=secret, created=created)
    )
    response.headers["Cache-Control"] = "no-store"
    return response
