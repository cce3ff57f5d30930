from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from training_app.auth.services import MAX_PASSWORD_LENGTH


class LoginForm(FlaskForm):
    email = EmailField(_l("Work email"), validators=[DataRequired(), Length(max=320)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)])
    # Shown only when the password opens accounts in two organisations.
    organisation = SelectField(_l("Organisation"), choices=[], validators=[Optional()], validate_choice=False)


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    new_password = PasswordField(
        _l("New password (at least 12 characters)"),
        validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)],
    )
    confirm_password = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two new passwords differ."))],
    )


class SsoConnectionForm(FlaskForm):
    provider_name = StringField(
        _l("Name of your identity provider (shown on the button)"),
        validators=[DataRequired(), Length(max=80)],
        description=_l("For example Okta or Microsoft Entra ID."),
    )
    issuer = StringField(
        _l("Issuer URL"),
        validators=[DataRequired(), Length(max=500)],
        description=_l(
            "Okta: https://your-org.okta.com/oauth2/default. "
            "Entra ID: https://login.microsoftonline.com/<directory (tenant) id>/v2.0."
        ),
    )
    client_id = StringField(_l("Client id"), validators=[DataRequired(), Length(max=255)])
    client_secret = PasswordField(_l("Client secret"), validators=[Optional(), Length(max=1000)])
    allowed_email_domain = StringField(
        _l("Allowed email domain (optional)"),
        validators=[Optional(), Length(max=255)],
        description=_l("Only staff whose email ends with @ and this domain may sign in, e.g. example.com."),
    )
    password_sign_in = BooleanField(_l("Staff may also sign in with an email and password"), default=True)


class SsoRemoveForm(FlaskForm):
    confirm = BooleanField(
        _l("Yes, turn single sign-on off: staff sign in with their email and password again"),
        validators=[DataRequired(message=_l("Tick the box to confirm."))],
    )
