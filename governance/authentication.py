"""DRF authentication with API tokens, for /api/v1/ and the registry.

- `Authorization: Bearer <token>`;
- HTTP Basic `username:token`, which is what Confluent clients send (`basic.auth.user.info`), so a
  token works wherever a password does. A Basic password that does not look like a token is checked
  as a password, as before.

The authenticated request's `auth` is the ApiToken; `eventscope.roles.request_role` caps the user's
role by its scope.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, BasicAuthentication, get_authorization_header

from . import throttle, tokens
from .services import TokenRejected, token_authenticate


class BearerTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid Bearer header: send `Authorization: Bearer <token>`.")
        try:
            clear = parts[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Malformed API token.") from exc
        try:
            token = token_authenticate(clear)
        except TokenRejected as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return (token.user, token)

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class BasicOrTokenAuthentication(BasicAuthentication):
    """HTTP Basic where the password may be an API token of that user."""

    def authenticate_credentials(self, userid, password, request=None):
        if tokens.looks_like_token(password):
            try:
                token = token_authenticate(password, username=userid)
            except TokenRejected as exc:
                raise exceptions.AuthenticationFailed(str(exc)) from exc
            return (token.user, token)
        wait = throttle.login_blocked_for(userid, throttle.client_address(request))
        if wait:
            raise exceptions.Throttled(wait, "Too many failed logins for this user from this address.")
        return super().authenticate_credentials(userid, password, request)
