"""Typed configs: YAML (safe loader) -> dataclasses, with ``a.b.c=value`` overrides and strict validation.

Every problem is a :class:`ConfigError` whose message is one line naming the key, the bad value and what
would be valid (with a close-match suggestion for misspelt keys and choices).
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from stabn_bench.core import ConfigError, did_you_mean

T = TypeVar("T")

#: Folder of the packaged configs (``--preset NAME`` reads ``NAME.yaml`` from here).
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

#: yaml's safe loader, in C where libyaml is installed (the same documents, ~10x faster)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: A YAML file may name another packaged config (or a path) under this key; it is loaded first.
INHERIT_KEY = "inherit"


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin in (list, tuple):
        args = get_args(tp)
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (converting where lossless) or raise ConfigError."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}' must be a mapping of {sorted(f.name for f in dataclasses.fields(tp))}, got {value!r}")
        return _build(tp, value, prefix=key + ".")
    if origin is Literal:
        choices = get_args(tp)
        if value in choices:
            return value
        raise ConfigError(
            f"config key '{key}' has value {value!r}; valid choices: {', '.join(map(str, choices))}"
            + (did_you_mean(value, map(str, choices)) if isinstance(value, str) else "")
        )
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        if len(errors) == 1:
            raise ConfigError(errors[0])
        raise ConfigError(f"config key '{key}' has value {value!r}; expected {_type_name(tp)}")
    if origin in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' has value {value!r}; expected {_type_name(tp)}")
        args = get_args(tp)
        item_tp = args[0] if args else Any
        items = [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}' has value {value!r}; expected a mapping")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}' has value {value!r}; expected true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}' has value {value!r}; expected an integer")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(float(value)):
                raise ConfigError(f"config key '{key}' has value {value!r}; expected a finite number")
            return float(value)
        raise ConfigError(f"config key '{key}' has value {value!r}; expected a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"config key '{key}' has value {value!r}; expected a string")
    if isinstance(value, tp):
        return value
    raise ConfigError(f"config key '{key}' has value {value!r}; expected {_type_name(tp)}")


def _build(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]  # cls is a dataclass type
    for key in data:
        if key not in names:
            raise ConfigError(
                f"unknown config key '{prefix}{key}'; valid keys here: {', '.join(names)}"
                + did_you_mean(key, names)
            )
    kwargs = {name: _coerce(data[name], hints[name], prefix + name) for name in names if name in data}
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def _deep_merge(base: dict, update: Mapping) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A packaged preset name (``synthetic``, ``smoke``, ``ssv2``) or a path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in str(name_or_path):
        if path.is_dir():
            raise ConfigError(f"config file '{path}' is a folder; give a .yaml file")
        if not path.is_file():
            raise ConfigError(f"config file '{path}' does not exist")
        return path
    candidate = CONFIG_DIR / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    presets = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    raise ConfigError(
        f"unknown preset '{name_or_path}'; valid presets: {', '.join(presets)} (or a path to a .yaml file)"
        + did_you_mean(str(name_or_path), presets)
    )


def load_yaml_tree(name_or_path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """Read a config file with ``yaml.safe_load``, following ``inherit:`` chains, into one merged dict."""
    path = resolve_config_path(name_or_path)
    if path.resolve() in _seen:
        raise ConfigError(f"config file '{path}' inherits from itself")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file '{path}' is not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    except OSError as err:
        raise ConfigError(f"config file '{path}' cannot be read: {err.strerror or err}") from None
    try:
        data = yaml.load(text, Loader=SAFE_LOADER) or {}
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else "parse error"
        raise ConfigError(f"config file '{path}' is not valid YAML: {first}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping at the top level, got {type(data).__name__}")
    parent = data.pop(INHERIT_KEY, None)
    if parent is not None:
        parent_ref = parent if (CONFIG_DIR / f"{parent}.yaml").is_file() else (path.parent / str(parent))
        data = _deep_merge(load_yaml_tree(parent_ref, _seen + (path.resolve(),)), data)
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.epochs=3"`` -> (["train", "epochs"], 3). The value is read as YAML (safe)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key.path=value (e.g. train.epochs=3)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override '{text}' has an empty key")
    if any(not part for part in key.split(".")):
        raise ConfigError(f"override '{text}' has an empty part in its key (e.g. 'a..b'); use key.path=value")
    try:
        value = yaml.load(raw, Loader=SAFE_LOADER) if raw.strip() != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(tree: dict, overrides: typing.Iterable[str]) -> dict:
    """Return a copy of ``tree`` with each ``a.b.c=value`` override set."""
    out = _deep_merge({}, tree)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build and validate the dataclass ``cls`` from plain data (unknown keys and wrong types raise)."""
    return _build(cls, data)


def to_dict(obj: Any) -> Any:
    """Plain-data (YAML-safe) form of a config dataclass."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False, default_flow_style=False)
