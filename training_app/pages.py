from flask import Blueprint, current_app, render_template, send_from_directory

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico on every site whatever the page says: answer it, not a 404."""
    response = send_from_directory(
        current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon"
    )
    response.cache_control.max_age = 86400
    response.cache_control.public = True
    return response
