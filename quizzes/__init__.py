"""3 QUIZ: question banks, attempts, grading."""

from flask import Flask


def init_app(app: Flask) -> None:
    from courses import content
    from quizzes.bank import validate_course_quiz
    from quizzes.views import bp

    app.register_blueprint(bp)
    content.register_validator(validate_course_quiz)
