"""What remote catalog sources share: secrets from the environment, and keeping them secret.

A token reaches Callboard only through the environment, either named (``token_env: NAME``,
read at every sync so a rotated token needs no restart) or substituted into the config
(``token: ${NAME}``). A literal token in a config file is refused. Every message a remote
source produces (errors, problems, status, logs) goes through ``scrub``, which hides the
user-info part of any URL and every token value the process has handed out.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from bot.config import Section
from bot.errors import ConfigError, SourceError
from bot.hardening import secret as secret_env

_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s'\"]+)@")
_ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Every secret this process has read, so that messages quoting them (a server echoing the
# header, git printing a URL) are scrubbed too. Short values would blank out ordinary words.
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_MIN_SECRET_LENGTH = 6


def remember_secret(value: str) -> None:
    """Have ``scrub`` hide ``value`` from now on."""
    if len(value) >= _MIN_SECRET_LENGTH:
        with _SECRETS_LOCK:
            _SECRETS.add(value)


def _hide_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match.group("scheme"), match.group("userinfo")
    if ":" not in userinfo and not scheme.lower().startswith("http"):
        return match.group(0)  # ssh://git@host: a user name, not a secret
    return f"{scheme}***@"


def scrub(text: str) -> str:
    """``text`` with URL credentials and known secret values replaced by ``***``."""
    text = _URL_USERINFO.sub(_hide_userinfo, text)
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def url_has_password(url: str) -> bool:
    """True when ``url`` carries a password or token in its user-info part."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.password is not None or (
        # https://TOKEN@host/...: a bare user name on http(s) is how tokens are usually pasted
        parts.scheme in ("http", "https") and parts.username is not None
    )


def without_credentials(url: str) -> str:
    """``url`` with its user-info removed (for display and as a cache key)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class TokenSpec:
    """Where a source's token comes from: an environment variable read at each sync, or a
    value substituted from the environment when the config was loaded."""

    env: str | None = None
    value: str | None = None

    @property
    def configured(self) -> bool:
        return self.env is not None or self.value is not None

    def describe(self) -> str:
        if self.env:
            return f"the token from ${self.env}"
        return "the configured token" if self.value else "no token"

    def resolve(self) -> str | None:
        """The token now, or ``None`` when none is configured; ``SourceError`` when the variable
        is unset (the caller says which source)."""
        if self.value is not None:
            remember_secret(self.value)
            return self.value
        if self.env is None:
            return None
        value = secret_env(self.env)  # moved out of os.environ: no child inherits it
        if not value:
            raise SourceError(
                f"the environment variable {self.env} (token_env) is not set or empty"
            )
        remember_secret(value)
        return value


def read_token(sec: Section) -> TokenSpec:
    """Read ``token_env: NAME`` or ``token: ${NAME}`` from a section; refuse a literal token."""
    env = sec.str("token_env")
    raw = sec.raw("token")
    if env is not None and not _ENV_NAME.match(env):
        raise sec.error("token_env", f"must name an environment variable, found {env!r}")
    if raw is None:
        return TokenSpec(env=env)
    if env is not None:
        raise sec.error("token", "and token_env are both set; keep one")
    if not isinstance(raw, str) or not _ENV_REF.match(raw.strip()):
        raise ConfigError(
            f"{sec.file}: {sec.where}.token must come from the environment: write "
            "`token: ${YOUR_TOKEN_VARIABLE}` or `token_env: YOUR_TOKEN_VARIABLE` "
            "(the value written there is not shown)"
        )
    value = sec.str("token") or ""
    if not value:
        raise sec.error("token", f"comes from {raw.strip()}, which is empty")
    remember_secret(value)
    return TokenSpec(value=value)
