from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from training_app.audit import record_event
from training_app.auth import services, sso, sso_views
from training_app.auth.forms import LoginForm, PasswordChangeForm
from training_app.auth.signing_in import same_site_path, start_staff_session
from training_app.errors import ValidationFailed
from training_app.extensions import db, keep_writes_of_this_refusal, limiter
from training_app.models import StaffAccount, Tenant

bp = Blueprint("auth", __name__)
bp.register_blueprint(sso_views.bp)  # /login/sso/..., /console/sso and `flask --app wsgi sso ...`


def _failed_login(response) -> bool:
    return response.status_code == 401


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _ip_and_email() -> str:
    return f"{request.remote_addr}|{request.form.get('email', '').strip().lower()}"


TOO_MANY = "Too many failed sign-in attempts. Wait a minute, then try again."


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    _login_limit, key_func=_ip_and_email, methods=["POST"], deduct_when=_failed_login, error_message=TOO_MANY
)
@limiter.limit("30 per minute", methods=["POST"], deduct_when=_failed_login, error_message=TOO_MANY)
def login():
    form = LoginForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("auth/login.html", form=form, error=None), status
    accounts = services.authenticate(
        form.email.data, form.password.data, form.organisation.data or None, ip_address=request.remote_addr
    )
    accounts, single_sign_on_only = sso.split_by_password_sign_in(accounts, ip_address=request.remote_addr)
    if single_sign_on_only and not accounts:
        keep_writes_of_this_refusal()  # the refusal's audit event
        return render_template(
            "auth/login.html", form=form, error=sso_views.use_single_sign_on(single_sign_on_only[0])
        ), 403
    if not accounts:
        keep_writes_of_this_refusal()  # the failed sign-in's audit event
        return render_template(
            "auth/login.html",
            form=form,
            error=_("The email or password is not right. Check both and try again."),
        ), 401
    if len(accounts) > 1:  # the same person and password in two organisations: which one now?
        form.organisation.choices = _organisations_of(accounts)
        return render_template(
            "auth/login.html", form=form, error=_("Choose the organisation to sign in to."), choose=True
        ), 200
    return _sign_in(accounts[0])


def _organisations_of(accounts: list[StaffAccount]) -> list[tuple[str, str]]:
    ids = [account.tenant_id for account in accounts]
    tenants = {tenant.id: tenant for tenant in db.session.scalars(select(Tenant).where(Tenant.id.in_(ids)))}
    return [(tenants[a.tenant_id].slug, tenants[a.tenant_id].name) for a in accounts]


def _sign_in(account: StaffAccount):
    target = _safe_next() or url_for("reports.console")
    start_staff_session(account, method="password")
    return redirect(target)


@bp.post("/logout")
def logout():
    account = current_user._get_current_object() if current_user.is_authenticated else None
    if isinstance(account, StaffAccount):
        account.end_sessions()  # a copy of this session's cookie stops working too
        db.session.flush()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login", signed_out=1))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    account = current_user._get_current_object()
    if not isinstance(account, StaffAccount):
        return redirect(url_for("auth.login"))
    form = PasswordChangeForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            services.change_password(account, form.current_password.data, form.new_password.data)
        except ValidationFailed as exc:
            errors = {"message": exc.message}
        else:
            record_event(
                account.tenant_id,
                f"staff:{account.id}",
                "staff.password_changed",
                subject=("staff", account.id),
                ip_address=request.remote_addr,
            )
            login_user(account)  # this session carries the new session version; the others end
            flash(_("Your password is changed. Your other sessions are signed out."), "success")
            return redirect(url_for("reports.console"), 303)
    status = 422 if request.method == "POST" else 200
    return render_template("auth/password.html", form=form, errors=errors), status


def _safe_next() -> str | None:
    return same_site_path(request.args.get("next", ""))
