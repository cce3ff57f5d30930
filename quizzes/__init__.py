"""3 QUIZ: question banks, attempts, grading."""

from flask import Flask


def init_app(app: Flask) -> None:
    from courses import content
    from quizzes import demo
    from quizzes.bank_loader import validate_course_quiz
    from quizzes.views import bp
    from training_app import demo as demo_data

    app.register_blueprint(bp)
    content.register_validator(validate_course_quiz)
    demo_data.register_step(demo.take_quizzes)
