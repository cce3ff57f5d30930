"""3 QUIZ: question banks, attempts, grading."""

from flask import Flask


def init_app(app: Flask) -> None:
    from quizzes.views import bp

    app.register_blueprint(bp)
