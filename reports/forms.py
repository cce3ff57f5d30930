from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)

from training_app.models import ROLE_LABELS, STAFF_ROLES

# The labels are in the catalog (training_app.models.ROLE_LABELS); the value stays the role's name.
ROLE_CHOICES = [SelectChoice(role, _l(ROLE_LABELS[role])) for role in STAFF_ROLES]


class StaffForm(FlaskForm):
    email = EmailField(
        _l("Work email"), validators=[DataRequired(), Email(check_deliverability=False), Length(max=320)]
    )
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="auditor")


class StaffChangeForm(FlaskForm):
    action = SelectField(
        choices=[SelectChoice(a, a) for a in ("role", "activate", "deactivate")], validators=[DataRequired()]
    )
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, validators=[Optional()])


class GrantAttemptForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason (kept in the audit log)"), validators=[DataRequired(), Length(min=3, max=500)]
    )


class CertificateFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter form

    course = StringField(_l("Course"), validators=[Optional(), Length(max=100)])
    department = StringField(_l("Department"), validators=[Optional(), Length(max=120)])
    status = StringField(_l("Status"), validators=[Optional(), AnyOf(["valid", "expired", "revoked"])])


class RevokeForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason (kept in the audit log, never shown publicly)"),
        validators=[DataRequired(), Length(min=3, max=1000)],
    )
    confirm = BooleanField(
        _l("Yes, revoke it: its verification page will say it is no longer valid. This cannot be undone."),
        validators=[DataRequired(message=_l("Tick the box to confirm the revocation."))],
    )


HEX = Regexp(r"^#[0-9a-fA-F]{6}$", message=_l("Write the colour as #rrggbb, e.g. #1f3a5f."))


class BrandingForm(FlaskForm):
    primary_colour = StringField(_l("Main colour"), validators=[DataRequired(), HEX])
    accent_colour = StringField(_l("Accent colour"), validators=[DataRequired(), HEX])
    signatory_name = StringField(_l("Signatory name"), validators=[Optional(), Length(max=200)])
    signatory_title = StringField(_l("Signatory title"), validators=[Optional(), Length(max=200)])
    initials_only = BooleanField(_l("Show only the holder's initials on the public verification page"))
    logo = FileField(_l("Logo (PNG, JPEG, SVG or WebP, up to 1 MiB)"))
    remove_logo = BooleanField(_l("Remove the current logo"))

    def load(self, row) -> None:
        if row is None:
            self.primary_colour.data, self.accent_colour.data = "#1f3a5f", "#b8860b"
            return
        self.primary_colour.data, self.accent_colour.data = row.primary_colour, row.accent_colour
        self.signatory_name.data, self.signatory_title.data = row.signatory_name, row.signatory_title
        self.initials_only.data = row.initials_only


class PlatformForm(FlaskForm):
    """An LMS registered by hand: the same values as `flask --app wsgi lti add-platform`."""

    name = StringField(_l("Label (optional)"), validators=[Optional(), Length(max=200)])
    issuer = StringField(_l("Issuer (iss)"), validators=[DataRequired(), Length(max=500)])
    client_id = StringField(_l("Client id"), validators=[DataRequired(), Length(max=255)])
    deployment_ids = TextAreaField(
        _l("Deployment ids (one per line)"), validators=[DataRequired(), Length(max=5000)]
    )
    auth_login_url = StringField(
        _l("OIDC authorization (login) URL"), validators=[DataRequired(), Length(max=1000)]
    )
    auth_token_url = StringField(_l("Access token URL"), validators=[DataRequired(), Length(max=1000)])
    key_set_url = StringField(_l("Public keyset (JWKS) URL"), validators=[DataRequired(), Length(max=1000)])
    token_audience = StringField(
        _l("Token audience (only if it differs from the token URL, e.g. Brightspace)"),
        validators=[Optional(), Length(max=1000)],
    )

    def deployment_id_list(self) -> list[str]:
        return [line.strip() for line in (self.deployment_ids.data or "").splitlines() if line.strip()]


class DeploymentForm(FlaskForm):
    deployment_id = StringField(_l("Deployment id"), validators=[DataRequired(), Length(max=255)])


class DispatchPackageForm(FlaskForm):
    """A SCORM / cmi5 package for an LMS (the course choices are the published courses)."""

    lms_name = StringField(
        _l("Which LMS it is for"),
        validators=[DataRequired(), Length(max=100)],
        description=_l("For example Cornerstone or SuccessFactors. Its learners share one identity space."),
    )
    course = SelectField(_l("Course"), choices=[], validators=[DataRequired()])
    format = SelectField(
        _l("Package format"),
        choices=[
            SelectChoice("scorm12", _l("SCORM 1.2 (most LMSs)")),
            SelectChoice("scorm2004", _l("SCORM 2004 4th edition")),
            SelectChoice("cmi5", _l("cmi5")),
        ],
        default="scorm12",
    )
    learner_id_is = SelectField(
        _l("The LMS's learner id is"),
        choices=[
            SelectChoice("employee_id", _l("the employee id (as in your HR file)")),
            SelectChoice("email", _l("the work email")),
            SelectChoice("lms_user", _l("an LMS user name (matched to no HR record)")),
        ],
        default="employee_id",
    )
    opens_in = SelectField(
        _l("The training opens"),
        choices=[
            SelectChoice("frame", _l("inside the LMS page")),
            SelectChoice("window", _l("in a new window")),
        ],
        default="frame",
    )


class RotateSecretForm(FlaskForm):
    grace_days = IntegerField(
        _l("Days the current package keeps working"),
        default=14,
        validators=[InputRequired(message=_l("Say how many days (0 to 90).")), NumberRange(min=0, max=90)],
    )
