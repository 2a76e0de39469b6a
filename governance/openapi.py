"""How the token authenticators appear in the OpenAPI document (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BasicOrTokenScheme(OpenApiAuthenticationExtension):
    target_class = "governance.authentication.BasicOrTokenAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "Username and password, or username and an API token.",
        }


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "governance.authentication.BearerTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token (create one at /accounts/tokens/)."}
