from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length

from training_app.models import STAFF_ROLES


class StaffForm(FlaskForm):
    email = EmailField(
        _l("Work email"), validators=[DataRequired(), Email(check_deliverability=False), Length(max=320)]
    )
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    role = SelectField(_l("Role"), choices=[SelectChoice(r, r) for r in STAFF_ROLES], default="auditor")
