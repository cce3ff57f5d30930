"""What the SCIM endpoint serves, declared with scim2-models: the User resource with the
attributes an employee record keeps, the enterprise extension's employeeNumber, department and
manager, and the capabilities published on /ServiceProviderConfig.

The published schemas name only what is stored and returned, so a client (and scim2-tester) can
trust them. Identity providers send more (Okta: name.givenName, locale, phoneNumbers; Entra ID:
title, addresses...): a body is first checked against the full RFC 7643 User and enterprise
schemas, which refuses what no SCIM schema defines and values of the wrong type, then read with
these models, which drop the RFC attributes this service does not keep (see service.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import EmailStr, Field, model_validator
from scim2_models import (
    URI,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    ETag,
    Extension,
    External,
    Filter,
    Mutability,
    Pagination,
    Patch,
    Reference,
    Required,
    Resource,
    ResourceType,
    Returned,
    SchemaExtension,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)
from scim2_models import EnterpriseUser as RfcEnterpriseUser
from scim2_models import User as RfcUser
from scim2_models.resources.enterprise_user import Manager as RfcManager
from scim2_models.urn import URN

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MAX_RESULTS = 200  # a page of Users, at most
LANGUAGES = ["en", "es", "en-US", "es-MX"]  # examples of preferredLanguage (any language tag is kept)


def _id_alone_as_value(data: Any) -> Any:
    """Entra ID sends the manager as the manager's id alone ("value": "<id>"), not {"value": ...}."""
    return {"value": data} if isinstance(data, str) else data


class Name(ComplexAttribute):
    """Read when displayName is missing; never returned (the person has one name, displayName)."""

    formatted: str | None = None
    given_name: str | None = None
    family_name: str | None = None


class Email(ComplexAttribute):
    """The person's one email address, returned as their work email."""

    value: Annotated[EmailStr | None, Required.true] = None
    type: str | None = Field(None, examples=["work"])


class User(Resource[Any]):
    __schema__ = URN(USER_SCHEMA)

    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    """The sign-in name at the identity provider (Okta's login, Entra ID's userPrincipalName).
    Before a provider sets one, a person's userName is their email."""

    name: Annotated[Name | None, Mutability.write_only, Returned.never] = None
    """Read only to make displayName when it is missing: formatted, else givenName familyName."""

    display_name: Annotated[str | None, Required.true] = None
    """The person's name, as certificates and the HR console print it."""

    preferred_language: str | None = Field(None, examples=LANGUAGES)
    """The language of the training and its emails (the first tag of an Accept-Language list)."""

    active: Annotated[bool | None, Required.true] = None
    """False for a leaver: their end date has come. Setting it to false ends their employment
    today (their assignments end and stay in their history); true again re-activates them.
    Required: a person is always active or not."""

    emails: Annotated[list[Email] | None, Required.true] = None
    """The person's email (one: the work one when several are sent)."""

    @model_validator(mode="before")
    @classmethod
    def _display_name_from_name(cls, data: Any) -> Any:
        """Okta sends name.givenName and name.familyName, and displayName only when it is mapped."""
        if not isinstance(data, dict) or data.get("displayName") or not isinstance(data.get("name"), dict):
            return data
        parts = {key.lower(): value for key, value in data["name"].items() if isinstance(value, str)}
        made = parts.get("formatted") or " ".join(
            part for part in (parts.get("givenname"), parts.get("familyname")) if part
        )
        return {**data, "displayName": made} if made.strip() else data


class Manager(ComplexAttribute):
    value: Annotated[str | None, CaseExact.true] = None
    """The id of the manager's User."""

    ref: Annotated[Reference["User"] | None, Required.false] = Field(  # noqa: UP037 (a resource type name, not a class)
        None, serialization_alias="$ref", validation_alias="$ref"
    )

    _id_alone = model_validator(mode="before")(_id_alone_as_value)


class EnterpriseUser(Extension):
    __schema__ = URN(ENTERPRISE_SCHEMA)

    employee_number: Annotated[
        str | None, Required.true, Mutability.immutable, Uniqueness.server, CaseExact.true
    ] = None
    """The employee id HR uses, the one the CSV import and the REST API key a person by. It
    cannot change once set (people.employees)."""

    department: str | None = None

    manager: Manager | None = None


class LenientRfcManager(RfcManager):
    """The RFC's manager, with the shapes identity providers send: no $ref, or the id alone."""

    ref: Annotated[Reference["User"] | None, Required.false] = Field(  # noqa: UP037 (a resource type name, not a class)
        None, serialization_alias="$ref", validation_alias="$ref"
    )

    _id_alone = model_validator(mode="before")(_id_alone_as_value)


class LenientRfcEnterpriseUser(RfcEnterpriseUser):
    manager: LenientRfcManager | None = None


EMPLOYEE = User[EnterpriseUser]
RFC_EMPLOYEE = RfcUser[LenientRfcEnterpriseUser]

# Entra ID's PATCH habits: a `remove` whose value says which entry, and an `add` to
# emails[type eq "work"].value when there is no such entry yet.
_TOLERANCES = {
    "remove_value_as_filter": ScimPolicy.RemoveValue.apply,
    "unmatched_path_filter": ScimPolicy.UnmatchedPathFilter.create,
}
STRICT = ScimPolicy(unknown=ScimPolicy.Unknown.forbid, **_TOLERANCES)
KEPT_ATTRIBUTES_ONLY = ScimPolicy(unknown=ScimPolicy.Unknown.ignore, **_TOLERANCES)

BEARER = AuthenticationScheme(
    type=AuthenticationScheme.Type.oauthbearertoken,
    name="API token",
    description="An API token of scope 'scim' that an HR administrator creates: Authorization: Bearer pw_...",
    spec_uri=Reference[External]("https://www.rfc-editor.org/rfc/rfc6750"),
    primary=True,
)

CONFIG = ServiceProviderConfig(
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=False),
    etag=ETag(supported=False),
    authentication_schemes=[BEARER],
    pagination=Pagination(
        index=True,
        cursor=False,
        default_pagination_method=Pagination.DefaultPaginationMethod.index,
        default_page_size=100,
        max_page_size=MAX_RESULTS,
    ),
)

USER_TYPE = ResourceType(
    id="User",
    name="User",
    description="An employee",
    endpoint=Reference[URI]("/Users"),
    schema_=Reference[URI](USER_SCHEMA),
    schema_extensions=[SchemaExtension(schema_=Reference[URI](ENTERPRISE_SCHEMA), required=True)],
)

PROVIDER = ScimProvider(
    models=[User, EnterpriseUser], resource_types=[USER_TYPE], config=CONFIG, policy=KEPT_ATTRIBUTES_ONLY
)
