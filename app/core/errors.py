"""Domain errors, translated to HTTP and CLI errors at the edges.

Each carries a stable English ``code`` and a message in Chinese for people.
"""

from __future__ import annotations


class ShegongError(Exception):
    """Base class: ``code`` is stable and English, ``str(err)`` is for people."""

    code = "error"


class ConfigError(ShegongError):
    """Settings that cannot work (bad path, unsafe bind address, unknown backend)."""

    code = "config_error"


class IngestError(ShegongError):
    """A file could not be ingested; the message says what was wrong with it."""

    code = "ingest_error"


class ModelFileError(ShegongError):
    """An embedding model file or directory is missing, corrupt or unrecognised."""

    code = "model_file_error"


class NotFoundError(ShegongError):
    """A document, chunk, user or run that does not exist."""

    code = "not_found"


class ValidationError(ShegongError):
    """Input that breaks a documented limit or format (front matter, question length)."""

    code = "validation_error"


class AuthError(ShegongError):
    """No valid credentials: missing or expired token, wrong password (HTTP 401)."""

    code = "unauthorized"


class ForbiddenError(ShegongError):
    """Signed in, but the role does not allow this (HTTP 403)."""

    code = "forbidden"


class UnavailableError(ShegongError):
    """A service this node depends on (the Chroma server, PostgreSQL, Redis) cannot be reached
    (HTTP 503); the message names it. Requests work again once it is back, without a restart."""

    code = "unavailable"


class RateLimitError(ShegongError):
    """Too many requests or failed logins; ``retry_after`` seconds until the next try (HTTP 429)."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after + 0.999))
