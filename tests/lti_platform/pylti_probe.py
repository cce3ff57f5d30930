"""A minimal Flask tool wired with pylti1p3's defaults, used to self-test the emulator against the
library the real tool uses.

It deliberately keeps the library's defaults (no nonce consumption, no exp/iat requirement, no
leeway, no azp check) so the emulator's tests can show what pylti1p3 alone lets through. It is
NOT how the Postwise tool should validate launches: see NOTES.md.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.contrib.flask.service_connector import FlaskServiceConnector
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.dynamic_registration import DynamicRegistration
from pylti1p3.grade import Grade
from pylti1p3.tool_config import ToolConfDict

from tests.lti_platform.keys import RsaKey
from tests.lti_platform.platform import Platform


def probe_connector() -> type[FlaskServiceConnector]:
    """A FlaskServiceConnector with its own token cache (the library's is one class-level dict)."""

    class ProbeConnector(FlaskServiceConnector):
        access_tokens = {}

    return ProbeConnector


class ProbeRegistration(DynamicRegistration):
    client_name = "Postwise probe"
    description = "Emulator self-test"

    def __init__(self, base_url: str, store: list[dict[str, Any]]) -> None:
        self.base_url = base_url
        self.store = store

    def get_initiate_login_uri(self) -> str:
        return f"{self.base_url}/lti/login"

    def get_jwks_uri(self) -> str:
        return f"{self.base_url}/lti/jwks"

    def get_redirect_uris(self) -> list[str]:
        return [f"{self.base_url}/lti/launch"]

    def get_domain(self) -> str:
        return self.base_url.split("//", 1)[1]

    def get_target_link_uri(self) -> str:
        return f"{self.base_url}/lti/launch"

    def get_logo_uri(self) -> str:
        return f"{self.base_url}/static/logo.png"

    def get_scopes(self) -> list[str]:
        return ["https://purl.imsglobal.org/spec/lti-ags/scope/score"]

    def get_claims(self) -> list[str]:
        return ["iss", "sub", "name", "email"]

    def get_messages(self) -> list[dict[str, str]]:
        return [{"type": "LtiDeepLinkingRequest", "target_link_uri": self.get_target_link_uri()}]

    def get_openid_configuration_endpoint(self) -> str:
        return request.args["openid_configuration"]

    def get_registration_token(self) -> str:
        return request.args["registration_token"]

    def complete_registration(
        self, openid_configuration: dict[str, Any], openid_registration: dict[str, Any]
    ) -> Any:
        self.store.append({"configuration": openid_configuration, "registration": openid_registration})
        return openid_registration


def make_probe_app(platform: Platform, tool_key: RsaKey, base_url: str = "http://localhost") -> Flask:
    app = Flask("pylti_probe")
    app.secret_key = "probe-secret"
    config = ToolConfDict(platform.tool_config())
    config.set_private_key(platform.issuer, tool_key.private_pem)
    config.set_public_key(platform.issuer, tool_key.public_pem)
    connector = probe_connector()
    registrations: list[dict[str, Any]] = []
    app.config.update(PROBE_REGISTRATIONS=registrations, PROBE_BASE_URL=base_url)

    def message_launch() -> FlaskMessageLaunch:
        return FlaskMessageLaunch(FlaskRequest(), config, service_connector_cls=connector)

    @app.route("/lti/login", methods=["GET", "POST"])
    def login() -> Any:
        return FlaskOIDCLogin(FlaskRequest(), config).redirect(request.values["target_link_uri"])

    @app.route("/lti/launch", methods=["POST"])
    def launch() -> Any:
        launch = message_launch()
        try:
            data = launch.get_launch_data()
        except Exception as error:
            return jsonify(error=type(error).__name__, message=str(error)), 400
        summary: dict[str, Any] = {"sub": data.get("sub"), "launch_id": launch.get_launch_id()}
        summary["deep_link"] = launch.is_deep_link_launch()
        if launch.is_deep_link_launch():
            resource = DeepLinkResource().set_url(f"{base_url}/lti/launch").set_title("Orientation")
            summary["deep_link_form"] = launch.get_deep_link().output_response_form([resource])
        return jsonify(summary)

    @app.route("/lti/grade/<launch_id>", methods=["POST"])
    def grade(launch_id: str) -> Any:
        launch = FlaskMessageLaunch.from_cache(
            launch_id, FlaskRequest(), config, service_connector_cls=connector
        )
        score = (
            Grade()
            .set_score_given(float(request.form["score"]))
            .set_score_maximum(100)
            .set_user_id(launch.get_launch_data()["sub"])
            .set_activity_progress("Completed")
            .set_grading_progress("FullyGraded")
            .set_timestamp(request.form["timestamp"])
        )
        try:
            result = launch.get_ags().put_grade(score)
        except Exception as error:
            return jsonify(error=type(error).__name__, message=str(error)), 502
        return jsonify(body=result["body"])

    @app.route("/lti/members/<launch_id>")
    def members(launch_id: str) -> Any:
        launch = FlaskMessageLaunch.from_cache(
            launch_id, FlaskRequest(), config, service_connector_cls=connector
        )
        return jsonify(members=launch.get_nrps().get_members())

    @app.route("/lti/jwks")
    def jwks() -> Any:
        return jsonify(config.get_jwks())

    @app.route("/lti/register")
    def register() -> Any:
        registration = ProbeRegistration(app.config["PROBE_BASE_URL"], registrations)
        try:
            registration.register()
        except Exception as error:
            return jsonify(error=type(error).__name__, message=str(error)), 400
        return registration.complete_html()

    return app
