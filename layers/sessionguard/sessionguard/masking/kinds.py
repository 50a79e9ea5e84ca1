"""Every kind of secret a ``[MASKED:<kind>]`` marker can name, besides gitleaks' rule ids (masker.KINDS holds both)."""

from __future__ import annotations

from typing import Final

MARKER_PREFIX: Final = "[MASKED:"

# Every kind a marker can name. Markers are recognised (and protected) only for these, so text such as
# "[MASKED:hunter2]" typed by the user is not mistaken for a marker and still gets masked where it is a value.
KINDS: Final = frozenset(
    {
        # provider tokens with a known shape
        "aws-access-key-id",
        "aws-secret-access-key",
        "aws-session-token",
        "github-token",
        "gitlab-token",
        "slack-token",
        "slack-webhook",
        "discord-webhook",
        "stripe-key",
        "npm-token",
        "google-api-key",
        "openai-api-key",
        "anthropic-api-key",
        "vault-token",
        "vault-unseal-key",
        "docker-pat",
        "jwt",
        "private-key",
        # secret-named assignments, flags, JSON/YAML keys
        "password",
        "secret",
        "token",
        "api-key",
        "key",
        "auth",
        "ssm-secure-string",
        # command-line flags and piped secrets
        "mysql-password",
        "sshpass-password",
        "redis-password",
        "login-password",
        "htpasswd-password",
        "openssl-passphrase",
        "ldap-password",
        "mongo-password",
        "ssh-key-passphrase",
        "sudo-password",
        "chpasswd-password",
        "passwd-password",
        "stdin-password",
        "sql-password",
        "netrc-password",
        # password hashes and password-derived keys (hashes.py)
        "password-hash",
        # URLs and HTTP
        "url-password",
        "url-signature",
        "basic-auth",
        "authorization-header",
        "bearer-token",
        # a credential printed alone on a line, recognised by its shape (heuristics.bare_credential)
        "high-entropy-token",
        # fail-closed fallback: the masker hit an internal error and replaced the whole line
        "unparsed-line",
        # fail-closed at a cut the agent made in a line over 33,000 bytes: the words on each side (pieces.py)
        "cut-value",
    }
)
