"""One settings loader: Flask's ``JWTGUARD_*`` config, Django's ``JWTGUARD`` dict, environment variables.

Each framework spells settings its own way; all of them end here. Names are
matched without regard to case (``AUDIENCE``, ``audience``); every
:class:`~jwtguard.Validator` option is reachable, plus the adapters' own
settings (:data:`ADAPTER_KEYS`: ``REALM``, ``EXCLUDE_PATHS`` …). An unknown
name is a :class:`~jwtguard.ConfigurationError` naming the nearest known one,
so a typo (``AUDIANCE``) fails at start-up instead of being ignored.

Values from text (environment variables, ``from_text=True``) are parsed by
the option's kind::

    JWTGUARD_ISSUER=https://tenant.example.com/
    JWTGUARD_AUDIENCE=https://api.example.com,https://api2.example.com   # lists: commas or spaces, or JSON
    JWTGUARD_LEEWAY=10                                                   # numbers
    JWTGUARD_ALLOW_INSECURE_HTTP=false                                   # true/false, 1/0, yes/no, on/off
    JWTGUARD_JWKS={"keys": [...]}                                        # JSON documents
    JWTGUARD_HOOKS=myapp.metrics:hooks                                   # objects: "module:attribute"
    JWTGUARD_STORE=myapp.state:store                                     # (a class is instantiated)
    JWTGUARD_CLAIM_CHECKS={"tid": "myapp.auth:tenant_allowed"}          # JSON, values "module:attribute"

>>> options, adapter = read_settings({"issuer": "https://i.example/", "AUDIENCE": "api", "REALM": "x"}, where="demo")
>>> options["audience"], adapter["REALM"]
('api', 'x')
"""

from __future__ import annotations

import difflib
import importlib
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._config import OPTION_NAMES
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .validator import Validator

__all__ = ["ADAPTER_KEYS", "read_settings", "validator_from_settings"]

#: Settings the adapters read (not Validator options), with their kind of value.
ADAPTER_KEYS: Mapping[str, str] = {
    "REALM": "text",
    "RESOURCE_METADATA": "json",
    "EXCLUDE_PATHS": "list",
    "OPTIONAL_PATHS": "list",
    "PROTECT_PREFLIGHT": "bool",
    "TOKEN_REQUIRED": "bool",
    "USER_FACTORY": "object",
    "VALIDATOR": "object",
    "PUBLIC_URL": "text",
    "TRUSTED_PROXIES": "list",
    "CLIENT_CERT_HEADER": "text",
}

_OPTION_KINDS: Mapping[str, str] = {
    "issuer": "list",
    "audience": "list",
    "algorithms": "list",
    "authorized_parties": "list",
    "required_scopes": "list",
    "required_claims": "list",
    "token_types": "list",
    "jwks": "json",
    "jwks_uri": "url_or_json",
    "claim_checks": "checks",
    "leeway": "float",
    "max_token_age": "float",
    "cache_max_age": "float",
    "unknown_kid_cooldown": "float",
    "max_stale": "float",
    "timeout": "float",
    "max_token_size": "int",
    "token_cache_size": "int",
    "max_response_size": "int",
    "allow_insecure_http": "bool",
    "cache_max_age_bounds": "list",
    "max_keys": "int",
    "proxy": "text",
    "trust_env_proxies": "bool",
    "ca_bundle": "text",
    "fetch_headers": "json",
    "fetch": "object",
    "clock": "object",
    "timer": "object",
    "hooks": "instance",
    "dpop": "text",
    "dpop_algorithms": "list",
    "dpop_max_age": "float",
    "dpop_nonce": "bool",
    "dpop_nonce_secret": "text",
    "dpop_replay_cache_size": "int",
    "role_claims": "list",
    "introspection": "text",
    "introspection_endpoint": "text",
    "introspection_client": "list",
    "introspection_auth_method": "text",
    "introspection_cache_size": "int",
    "introspection_cache_ttl": "float",
    "store": "instance",
    "store_sync_interval": "float",
    "issuer_cache_size": "int",
    "refuse_id_tokens": "bool",
}
assert set(_OPTION_KINDS) == set(OPTION_NAMES), "every Validator option has a kind"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def import_object(path: str, what: str) -> Any:
    """The object at ``"package.module:attribute"`` (or ``"package.module.attribute"``).

    Raises:
        ConfigurationError: it cannot be imported.
    """
    module, _, attribute = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        found: Any = importlib.import_module(module)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"{what}: cannot import {path!r}") from exc
    return found


def _parse(kind: str, value: Any, what: str, from_text: bool) -> Any:
    if kind in ("object", "instance") and isinstance(value, str):
        value = import_object(value, what)
        if kind == "instance" and isinstance(value, type):
            value = value()  # a class named by its path (a Hooks subclass, MemoryStore …): one instance
        return value
    if kind == "checks":
        if from_text and isinstance(value, str):
            value = _json(value, what)
        if isinstance(value, Mapping):
            return {k: import_object(v, f"{what}[{k!r}]") if isinstance(v, str) else v for k, v in value.items()}
        return value
    if not from_text or not isinstance(value, str):
        return value
    text = value.strip()
    if kind == "list":
        return _json(text, what) if text.startswith("[") else [part for part in text.replace(",", " ").split()]
    if kind == "json" or (kind == "url_or_json" and text.startswith("{")):
        return _json(text, what)
    if kind in ("float", "int"):
        try:
            return float(text) if kind == "float" else int(text)
        except ValueError:
            raise ConfigurationError(f"{what} must be a number, not {text!r}") from None
    if kind == "bool":
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ConfigurationError(f"{what} must be true or false, not {text!r}")
    return text


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ConfigurationError(f"{what} must be JSON") from None


def read_settings(
    values: Mapping[str, Any],
    *,
    where: str,
    from_text: bool = False,
    adapter_keys: Mapping[str, str] = ADAPTER_KEYS,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``values`` into Validator keyword arguments and adapter settings (upper-case names).

    ``where`` names the source in error messages (``"JWTGUARD"``, ``"app.config"`` …).

    Raises:
        ConfigurationError: an unknown name (with the nearest known one), a name given
            twice in different case, or a value that cannot be parsed.
    """
    options: dict[str, Any] = {}
    adapter: dict[str, Any] = {}
    known = [name.upper() for name in OPTION_NAMES] + list(adapter_keys)
    for raw, value in values.items():
        name = str(raw).upper().replace("-", "_")
        option = name.lower()
        if option in _OPTION_KINDS:
            target, key, kind = options, option, _OPTION_KINDS[option]
        elif name in adapter_keys:
            target, key, kind = adapter, name, adapter_keys[name]
        else:
            near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ConfigurationError(f"{where}: unknown setting {raw!r}{hint}")
        if key in target:
            raise ConfigurationError(f"{where}: {name} is given twice")
        target[key] = _parse(kind, value, f"{where} {name}", from_text)
    return options, adapter


def validator_from_settings(
    values: Mapping[str, Any],
    *,
    where: str,
    from_text: bool = False,
    overrides: Mapping[str, Any] | None = None,
    build: Callable[..., Validator] | None = None,
) -> Validator:
    """Build a :class:`~jwtguard.Validator` from settings (adapter settings are read and ignored).

    Raises:
        ConfigurationError: see :func:`read_settings`; ``ISSUER`` missing; any invalid option.
    """
    from .validator import Validator

    options, _ = read_settings(values, where=where, from_text=from_text)
    options.update(overrides or {})
    if not options.get("issuer"):
        raise ConfigurationError(f"{where}: ISSUER is required")
    return (build or Validator)(**options)
