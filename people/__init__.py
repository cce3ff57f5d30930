"""0 WHO: the people who must train: employees from HR (CSV import), matched to LMS learners,
their managers, leavers; learner sign-in without an LMS; SCIM provisioning by identity providers."""

from flask import Flask


def init_app(app: Flask) -> None:
    from people import cli, models, scim  # noqa: F401  (models: tables known to the metadata)
    from people.views import bp

    app.register_blueprint(bp)
    scim.init_app(app)
    cli.register(app)
