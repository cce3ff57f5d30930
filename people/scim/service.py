"""The SCIM protocol, from scim2-server, with this service's reading of request bodies: each body
is first checked against the RFC 7643 User and enterprise schemas (an attribute no SCIM schema
defines, or a value of the wrong type, is a 400 naming it), then read with the models of what
is kept (people.scim.resources), which leave out the RFC attributes this service ignores."""

from __future__ import annotations

from typing import Any

from scim2_models import Context, PatchOp, Resource, ResourceType
from scim2_server.service import ScimService

from people.scim.resources import PROVIDER, RFC_EMPLOYEE, STRICT


class EmployeeScimService(ScimService):
    def read_creation(
        self, resource_type: ResourceType, body: bytes, content_type: str | None
    ) -> Resource[Any]:
        self._check_against_rfc(RFC_EMPLOYEE, body, content_type, Context.RESOURCE_CREATION_REQUEST)
        return super().read_creation(resource_type, body, content_type)

    def read_replacement(
        self, resource_type: ResourceType, body: bytes, content_type: str | None
    ) -> Resource[Any]:
        self._check_against_rfc(RFC_EMPLOYEE, body, content_type, Context.RESOURCE_REPLACEMENT_REQUEST)
        return super().read_replacement(resource_type, body, content_type)

    def read_patch(self, resource_type: ResourceType, body: bytes, content_type: str | None) -> PatchOp[Any]:
        self.ensure_patch_supported()
        self._check_against_rfc(PatchOp[RFC_EMPLOYEE], body, content_type, Context.RESOURCE_PATCH_REQUEST)
        return super().read_patch(resource_type, body, content_type)

    def _check_against_rfc(
        self, model: type, body: bytes, content_type: str | None, context: Context
    ) -> None:
        with STRICT:
            self.read_body(model, body, content_type, context)


SERVICE = EmployeeScimService(PROVIDER)
