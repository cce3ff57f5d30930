"""SCIM 2.0 (RFC 7643, RFC 7644) at /scim/v2: identity providers (Okta, Microsoft Entra ID)
provision employees with an API token of scope `scim`, by the employee rules of people.employees.
scim2-server speaks the protocol; scim2-models declares what is served and parses the filters."""

from flask import Flask


def init_app(app: Flask) -> None:
    from people.scim import views

    views.init_app(app)
