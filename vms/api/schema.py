"""The OpenAPI document's view of every operation: besides its own answer, the errors any call
may get, all in the shape of vms.api.errors."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text="Path of the value at fault, or null.")
    code = serializers.CharField()
    message = serializers.CharField(help_text="In the caller's language (Accept-Language).")


class ErrorsSerializer(serializers.Serializer):
    errors = ErrorSerializer(many=True)


ERRORS = {
    "400": "The request is not valid: each error names its field.",
    "401": "No credentials, or a token that is unknown, expired or revoked.",
    "403": "Not allowed: a role you do not have, or a read-only token.",
    "404": "No such object among those you may see.",
    "405": "This address does not take this method.",
    "406": "Only JSON is served.",
    "409": "The object's state does not allow this now.",
    "415": "Send JSON.",
    "429": "Too many calls: wait for the seconds Retry-After says.",
}


class ApiSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        bodies = super()._get_response_bodies(direction)
        for status_code, description in ERRORS.items():
            if status_code not in bodies:
                response = self._get_response_for_code(ErrorsSerializer, status_code, direction=direction)
                bodies[status_code] = {**response, "description": description}
        return bodies


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "vms.api.auth.TokenAuthentication"
    name = "token"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal access token, created on the portal's API tokens page.",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "vms.api.auth.SessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
