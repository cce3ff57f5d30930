from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Email, Length, Optional

from reports.progress import STATUSES
from training_app.models import STAFF_ROLES


class StaffForm(FlaskForm):
    email = EmailField(
        _l("Work email"), validators=[DataRequired(), Email(check_deliverability=False), Length(max=320)]
    )
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    role = SelectField(_l("Role"), choices=[SelectChoice(r, r) for r in STAFF_ROLES], default="auditor")


class GrantAttemptForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason (kept in the audit log)"), validators=[DataRequired(), Length(min=3, max=500)]
    )


class LearnerFilter(FlaskForm):
    class Meta:
        csrf = False  # a GET filter form

    department = StringField(_l("Department"), validators=[Optional(), Length(max=120)])
    status = StringField(_l("Status"), validators=[Optional(), AnyOf(STATUSES)])
    course = StringField(_l("Course"), validators=[Optional(), Length(max=100)])
