"""4 CERTIFY: issue, render PDF, verify page, credentials."""

from flask import Flask


def init_app(app: Flask) -> None:
    from certificates import cli, demo, overview
    from certificates.services import issue_for
    from certificates.views import bp
    from courses import hooks
    from training_app import demo as demo_data

    app.register_blueprint(bp)
    cli.register(app)
    hooks.on_result(issue_for)
    hooks.add_overview_links(overview.certificate_links)
    demo_data.register_step(demo.align_with_completions, order=90)  # after every story is told
