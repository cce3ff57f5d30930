from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import Length


class AttestationForm(FlaskForm):
    confirm = BooleanField(_l("I confirm the statement above."))
    typed_name = StringField(_l("Type your full name to sign"), validators=[Length(max=200)])
