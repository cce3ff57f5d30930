"""LTI Dynamic Registration 1.0 as Moodle 4.x and Canvas implement it.

Flow: the admin pastes the tool's registration URL into the LMS; the LMS opens
`<tool>/lti/register?openid_configuration=<url>&registration_token=<jwt>`; the tool GETs the
openid-configuration, POSTs its registration (Authorization: Bearer <registration_token>) to
`registration_endpoint`, stores the returned client_id (and deployment_id when present), then
answers a page that posts {subject: 'org.imsglobal.lti.close'} to window.opener || window.parent.

Sources read:
- Moodle: public/mod/lti/openid-configuration.php, mod/lti/openid-registration.php,
  mod/lti/classes/local/ltiopenid/registration_helper.php (+ tests/local/ltiopenid/registration_test.php).
- Canvas: app/controllers/lti/ims/dynamic_registration_controller.rb (create, render_registration),
  app/models/lti/ims/registration.rb (validations), doc/api/registration.md,
  lib/.../lti_platform_configuration (openid configuration).
"""

from __future__ import annotations

import hashlib
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import jwt

from tests.lti_platform.constants import (
    AGS_SCOPES,
    PLATFORM_CONFIGURATION,
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_NRPS,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
    TOOL_CONFIGURATION,
)
from tests.lti_platform.httpio import HttpRequest, HttpResponse, json_response, text_response
from tests.lti_platform.tokens import sign_jwt

if TYPE_CHECKING:
    from tests.lti_platform.platform import Platform

SCOPE_TOOL_SETTING = "https://purl.imsglobal.org/spec/lti-ts/scope/toolsetting"
SCOPE_BASIC_OUTCOME = "https://purl.imsglobal.org/spec/lti-bo/scope/basicoutcome"
CANVAS_EXTRA_SCOPES = (
    "https://canvas.instructure.com/lti/public_jwk/scope/update",
    "https://canvas.instructure.com/lti/account_lookup/scope/show",
    "https://canvas.instructure.com/lti-ags/progress/scope/show",
)
MOODLE_VARIABLES = ("basic-lti-launch-request", "ContentItemSelectionRequest", "ResourceLink.id", "User.id")
MOODLE_VARIABLES += ("Person.name.full", "Person.email.primary", "Context.id", "CourseSection.sourcedId")
CANVAS_PLACEMENTS = {
    "LtiResourceLinkRequest": [
        "account_navigation",
        "assignment_selection",
        "course_navigation",
        "link_selection",
    ],
    "LtiDeepLinkingRequest": ["assignment_selection", "editor_button", "link_selection", "module_menu_modal"],
}


@dataclass
class RegistrationRecord:
    """One POST to the registration endpoint."""

    body: Any
    bearer: str | None
    status: int
    response: Any = None
    client_id: str | None = None
    deployment_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


class RegistrationError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _domain(url_or_domain: str) -> str:
    """Moodle's lti_get_domain_from_url: host[:port] without scheme and a leading www."""
    value = url_or_domain if "//" in url_or_domain else "//" + url_or_domain
    host = urlsplit(value).netloc.lower()
    return host[4:] if host.startswith("www.") else host


@dataclass
class RegistrationService:
    platform: Platform
    issued_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    used_tokens: set[str] = field(default_factory=set)
    records: list[RegistrationRecord] = field(default_factory=list)
    adopt: bool = True
    lock: threading.RLock = field(default_factory=threading.RLock)

    # --- the start of the flow (what the LMS sends the tool's browser to) ---
    def new_token(self) -> str:
        now = int(time.time())
        if self.platform.flavour == "moodle":
            # mod/lti/startltiadvregistration.php: sub is the client id the tool will get.
            alphabet = string.ascii_letters + string.digits
            sub = "".join(secrets.choice(alphabet) for _ in range(15))
            claims: dict[str, Any] = {"sub": sub, "scope": "reg", "iat": now, "exp": now + 3600}
        else:
            claims = {
                "uuid": secrets.token_hex(16),
                "initiated_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now)),
                "user_id": 1,
                "root_account_global_id": 10000000000001,
                "exp": now + 3600,
            }
        token = sign_jwt(claims, self.platform.signing_key)
        with self.lock:
            self.issued_tokens[token] = claims
        return token

    def openid_configuration_url(self, token: str) -> str:
        url = self.platform.url("/.well-known/openid-configuration")
        # Canvas puts the registration token in the configuration URL's query string too.
        return (
            f"{url}?{urlencode({'registration_token': token})}" if self.platform.flavour == "canvas" else url
        )

    def start_url(self, register_url: str | None = None, *, token: str | None = None) -> str:
        target = register_url or self.platform.require_tool().register_url
        token = token or self.new_token()
        query = urlencode(
            {"openid_configuration": self.openid_configuration_url(token), "registration_token": token}
        )
        return f"{target}{'&' if '?' in target else '?'}{query}"

    def _token_claims(self, token: str | None) -> dict[str, Any] | None:
        if not token:
            return None
        with self.lock:
            known = token in self.issued_tokens
        if not known:
            return None
        keys = {key.kid: key for key in self.platform.keys}
        kid = jwt.get_unverified_header(token).get("kid")
        if kid not in keys:
            return None
        try:
            return jwt.decode(token, keys[kid].private_key.public_key(), algorithms=["RS256"])
        except jwt.InvalidTokenError:
            return None

    # --- GET openid-configuration ---
    def handle_configuration(self, request: HttpRequest) -> HttpResponse:
        if self.platform.flavour == "canvas":
            token = request.bearer_token() or request.query.get("registration_token")
            if self._token_claims(token) is None:
                return json_response(
                    401, {"errorMessage": "registration token is missing, invalid or expired"}
                )
        return json_response(200, self.configuration())

    def configuration(self) -> dict[str, Any]:
        if self.platform.flavour == "canvas":
            return self._canvas_configuration()
        return self._moodle_configuration()

    def _common_configuration(self, scopes: list[str]) -> dict[str, Any]:
        return {
            "issuer": self.platform.issuer,
            "token_endpoint": self.platform.token_url,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "jwks_uri": self.platform.jwks_url,
            "authorization_endpoint": self.platform.auth_url,
            "registration_endpoint": self.platform.registration_url,
            "scopes_supported": scopes,
            "response_types_supported": ["id_token"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def _moodle_configuration(self) -> dict[str, Any]:
        scopes = [SCOPE_BASIC_OUTCOME, *_moodle_ags_order(), SCOPE_NRPS, SCOPE_TOOL_SETTING, "openid"]
        configuration = self._common_configuration(scopes)
        configuration["subject_types_supported"] = ["public", "pairwise"]
        configuration["claims_supported"] = ["sub", "iss", "name", "given_name", "family_name", "email"]
        configuration[PLATFORM_CONFIGURATION] = {
            "product_family_code": "moodle",
            "version": "4.5 (Build: 20241007)",
            "messages_supported": [
                {"type": "LtiResourceLinkRequest"},
                {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]},
            ],
            "variables": list(MOODLE_VARIABLES),
        }
        return configuration

    def _canvas_configuration(self) -> dict[str, Any]:
        scopes = [*AGS_SCOPES, SCOPE_NRPS, *CANVAS_EXTRA_SCOPES]
        configuration = self._common_configuration(scopes)
        configuration["claims_supported"] = [
            "sub",
            "picture",
            "email",
            "name",
            "given_name",
            "family_name",
            "locale",
        ]
        configuration["subject_types_supported"] = ["public"]
        configuration["authorization_server"] = self.platform.host
        configuration[PLATFORM_CONFIGURATION] = {
            "product_family_code": "canvas",
            "version": "OpenSource",
            "messages_supported": [
                {"type": message_type, "placements": placements}
                for message_type, placements in CANVAS_PLACEMENTS.items()
            ],
            "variables": ["ResourceLink.id", "Canvas.course.id", "Canvas.user.id", "Person.email.primary"],
            "https://canvas.instructure.com/lti/account_name": "Emulated University",
            "https://canvas.instructure.com/lti/account_lti_guid": f"{secrets.token_hex(20)}:canvas-lms",
        }
        return configuration

    # --- POST registration ---
    def handle_registration(self, request: HttpRequest) -> HttpResponse:
        bearer = request.bearer_token()
        try:
            body = request.json()
        except ValueError:
            body = request.body.decode(errors="replace")
        record = RegistrationRecord(body=body, bearer=bearer, status=200)
        try:
            response_body = self._register(bearer, body, record)
        except RegistrationError as error:
            record.status, record.response = error.status, error.message
            with self.lock:
                self.records.append(record)
            if self.platform.flavour == "canvas":
                return json_response(error.status, {"errorMessage": error.message})
            return text_response(error.status, error.message)
        record.response = response_body
        with self.lock:
            self.records.append(record)
        if self.adopt:
            self.platform.adopt_registration(record)
        return json_response(200, response_body)

    def _register(self, bearer: str | None, body: Any, record: RegistrationRecord) -> dict[str, Any]:
        if not bearer:
            raise RegistrationError(401, "missing_registration_token")
        claims = self._token_claims(bearer)
        if claims is None:
            raise RegistrationError(401, "invalid registration token")
        with self.lock:
            if bearer in self.used_tokens:
                raise RegistrationError(401, "token_already_used")
        if not isinstance(body, dict):
            raise RegistrationError(400, "the registration body must be a JSON object")
        if self.platform.flavour == "canvas":
            _validate_canvas(body)
            response = self._canvas_response(body)
        else:
            _validate_moodle(body)
            response = self._moodle_response(body, claims["sub"])
        with self.lock:
            self.used_tokens.add(bearer)
        record.client_id = response["client_id"]
        record.deployment_id = response[TOOL_CONFIGURATION].get("deployment_id")
        return response

    def _moodle_response(self, body: dict[str, Any], client_id: str) -> dict[str, Any]:
        """registration_helper::config_to_registration (Moodle 4.x)."""
        tool = body[TOOL_CONFIGURATION]
        requested = set(str(body.get("scope") or "").split())
        type_id = str(len(self.records) + 2)
        configuration: dict[str, Any] = {
            "version": "1.3.0",
            "deployment_id": type_id,
            "target_link_uri": tool.get("target_link_uri") or f"https://{tool['domain']}",
            "domain": _domain(tool["domain"]),
            "description": tool.get("description", ""),
            "claims": ["sub", "iss", "name", "family_name", "given_name", "email"],
        }
        deep_linking = [m for m in tool.get("messages", []) if m.get("type") == "LtiDeepLinkingRequest"]
        if deep_linking:
            message = {"type": "LtiDeepLinkingRequest"}
            if deep_linking[0].get("target_link_uri"):
                message["target_link_uri"] = deep_linking[0]["target_link_uri"]
            configuration["messages"] = [message]
        if tool.get("custom_parameters"):
            configuration["custom_parameters"] = dict(tool["custom_parameters"])
        return {
            "client_id": client_id,
            "response_types": ["id_token"],
            "jwks_uri": body["jwks_uri"],
            "initiate_login_uri": body["initiate_login_uri"],
            "grant_types": ["client_credentials", "implicit"],
            "redirect_uris": list(body["redirect_uris"]),
            "application_type": "web",
            "token_endpoint_auth_method": "private_key_jwt",
            "client_name": body["client_name"],
            "logo_uri": body.get("logo_uri", ""),
            "scope": " ".join(_moodle_granted_scopes(requested)),
            TOOL_CONFIGURATION: configuration,
        }

    def _canvas_response(self, body: dict[str, Any]) -> dict[str, Any]:
        """DynamicRegistrationController#render_registration: no deployment_id (made on install)."""
        client_id = str(10000000000001 + len(self.records))
        tool = dict(body[TOOL_CONFIGURATION])
        tool["https://canvas.instructure.com/lti/registration_config_url"] = self.platform.url(
            f"/api/lti/registrations/{client_id}/view"
        )
        return {
            "client_id": client_id,
            "application_type": body["application_type"],
            "grant_types": body["grant_types"],
            "initiate_login_uri": body["initiate_login_uri"],
            "redirect_uris": body["redirect_uris"],
            "response_types": body["response_types"],
            "client_name": body["client_name"],
            "jwks_uri": body["jwks_uri"],
            "logo_uri": body.get("logo_uri"),
            "token_endpoint_auth_method": body["token_endpoint_auth_method"],
            "scope": body["scope"],
            TOOL_CONFIGURATION: tool,
        }


def canvas_deployment_id(number: int) -> str:
    """Canvas deployment ids look like `12:8865aa05b4b79b64a91a86042e43af5ea8ae79eb`."""
    return f"{number}:{hashlib.sha1(secrets.token_bytes(16)).hexdigest()}"


def _moodle_ags_order() -> list[str]:
    return [SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE, SCOPE_LINEITEM]


def _moodle_granted_scopes(requested: set[str]) -> list[str]:
    """Moodle maps requested scopes to its settings and back: any AGS scope grants score,
    result.readonly and lineitem.readonly; lineitem only when asked."""
    granted: list[str] = []
    if requested & set(AGS_SCOPES):
        granted += [SCOPE_SCORE, SCOPE_RESULT_READONLY, SCOPE_LINEITEM_READONLY]
    if SCOPE_LINEITEM in requested:
        granted.append(SCOPE_LINEITEM)
    if SCOPE_NRPS in requested:
        granted.append(SCOPE_NRPS)
    if SCOPE_TOOL_SETTING in requested:
        granted.append(SCOPE_TOOL_SETTING)
    return granted


def _require(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if not body.get(name):
            raise RegistrationError(400, f"missing required attribute {name}")


def _validate_moodle(body: dict[str, Any]) -> None:
    """registration_helper::registration_to_config checks, in Moodle's order and wording."""
    _require(body, "response_types", "initiate_login_uri", "redirect_uris", "client_name", "jwks_uri")
    _require(body, "token_endpoint_auth_method", TOOL_CONFIGURATION)
    tool = body[TOOL_CONFIGURATION]
    if not isinstance(tool, dict) or not tool.get("domain"):
        raise RegistrationError(400, "missing_domain")
    target = tool.get("target_link_uri") or f"https://{tool['domain']}"
    if _domain(tool["domain"]) != _domain(target):
        raise RegistrationError(400, "domain_targetlinkuri_mismatch")
    if "id_token" not in body["response_types"]:
        raise RegistrationError(400, "invalid_response_types")
    if not isinstance(body["redirect_uris"], list):
        raise RegistrationError(400, "invalid_redirect_uris")
    if body["token_endpoint_auth_method"] != "private_key_jwt":
        raise RegistrationError(400, "invalid_token_endpoint_auth_method")
    if body.get("application_type") and body["application_type"] != "web":
        raise RegistrationError(400, "invalid_application_type")


def _validate_canvas(body: dict[str, Any]) -> None:
    """Lti::IMS::Registration validations and the LtiToolConfiguration schema (status 422)."""
    required = ("application_type", "grant_types", "response_types", "redirect_uris", "initiate_login_uri")
    required += ("client_name", "jwks_uri", "token_endpoint_auth_method", "scope", TOOL_CONFIGURATION)
    missing = [name for name in required if not body.get(name)]
    if missing:
        raise RegistrationError(422, f"missing {', '.join(missing)}")
    if {"client_credentials", "implicit"} - set(body["grant_types"]):
        raise RegistrationError(422, "grant_types must include client_credentials, implicit")
    if "id_token" not in body["response_types"]:
        raise RegistrationError(422, "response_types must include id_token")
    if body["token_endpoint_auth_method"] != "private_key_jwt":
        raise RegistrationError(422, "token_endpoint_auth_method must be 'private_key_jwt'")
    if body["application_type"] != "web":
        raise RegistrationError(422, "application_type must be 'web'")
    if not all(str(uri).startswith(("http://", "https://")) for uri in body["redirect_uris"]):
        raise RegistrationError(422, "redirect_uris must only contain valid URIs")
    allowed = {*AGS_SCOPES, SCOPE_NRPS, *CANVAS_EXTRA_SCOPES}
    invalid = set(str(body["scope"]).split()) - allowed
    if invalid:
        raise RegistrationError(422, f"Invalid scopes: {', '.join(sorted(invalid))}")
    tool = body[TOOL_CONFIGURATION]
    for name in ("domain", "target_link_uri", "claims", "messages"):
        if name not in tool:
            raise RegistrationError(422, f"{TOOL_CONFIGURATION} is missing {name}")
    for message in tool["messages"]:
        if message.get("type") not in CANVAS_PLACEMENTS:
            raise RegistrationError(422, f"unsupported message type {message.get('type')!r}")
