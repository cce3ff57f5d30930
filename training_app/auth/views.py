from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from training_app.audit import record_event
from training_app.auth import services
from training_app.auth.forms import LoginForm
from training_app.extensions import limiter

bp = Blueprint("auth", __name__)


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
    if form.validate_on_submit():
        account = services.authenticate(form.email.data, form.password.data)
        if account is not None:
            login_user(account)
            record_event(
                account.tenant_id,
                f"staff:{account.id}",
                "staff.login",
                subject=("staff", account.id),
                ip_address=request.remote_addr,
            )
            return redirect(_safe_next() or url_for("reports.console"))
        return render_template(
            "auth/login.html",
            form=form,
            error=_("The email or password is not right. Check both and try again."),
        ), 401
    status = 422 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form, error=None), status


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        logout_user()
    return redirect(url_for("auth.login", signed_out=1))


def _safe_next() -> str | None:
    target = request.args.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return None
