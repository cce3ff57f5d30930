"""4 CERTIFY: issue, render PDF, verify page, credentials."""

from flask import Flask


def init_app(app: Flask) -> None:
    from certificates import cli, overview
    from certificates.services import issue_for
    from certificates.views import bp
    from courses import hooks

    app.register_blueprint(bp)
    cli.register(app)
    hooks.on_result(issue_for)
    hooks.add_overview_links(overview.certificate_links)
