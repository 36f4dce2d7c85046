"""The profile schema as data, and a checker that names the first violation in one line.

Profiles are read by ``compare``, ``dashboard`` and ``sweep`` (to decide what is already done), so a
truncated or hand-edited file must be refused with a message that says where it is wrong
(``p.json: model.k must be an integer or null, got "10"``), never a KeyError three stages later.

The schema fixes the shape the design contract promises and leaves room where other stages grow:
extra keys are allowed everywhere (a newer stage may add fields), metric names are free, and the
value sets that grow with the product (quantizations, cell kinds, families) are not enumerated here.
"""

from __future__ import annotations

import math
import re

from workbench.errors import WorkbenchError

TARGET_KINDS = ("qemu", "renode", "hardware", "micropython-unix", "host")
UTC_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class SchemaError(WorkbenchError):
    pass


# A type spec is a tuple of names: "str", "int", "float" (int accepted), "bool", "null", "dict",
# "list", "str-list", "int-list".
def _is(value, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "dict":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "str-list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "int-list":
        return isinstance(value, list) and all(_is(v, "int") for v in value)
    raise ValueError(kind)


_ARTICLE = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false", "null": "null",
            "dict": "an object", "list": "a list", "str-list": "a list of strings", "int-list": "a list of integers"}

# Field path -> accepted kinds. Paths of a nested object are listed after the object itself.
FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("schema", ("str",)),
    ("schema_version", ("int",)),
    ("created_utc", ("str",)),
    ("git", ("dict",)),
    ("git.commit", ("str", "null")),
    ("git.dirty", ("bool", "null")),
    ("versions", ("dict",)),
    ("board", ("str",)),
    ("target", ("dict",)),
    ("target.kind", ("str",)),
    ("backend", ("str",)),
    ("model", ("dict",)),
    ("model.family", ("str",)),
    ("model.cells", ("str-list",)),
    ("model.hidden", ("int-list",)),
    ("model.k", ("int", "null")),
    ("model.T", ("int",)),
    ("model.input_dim", ("int",)),
    ("model.num_classes", ("int",)),
    ("model.quantization", ("str",)),
    ("model.parameters", ("int",)),
    ("model.sha256", ("str",)),
    ("dataset", ("dict",)),
    ("dataset.name", ("str",)),
    ("dataset.split", ("str",)),
    ("dataset.count", ("int",)),
    ("metrics", ("dict",)),
)
OPTIONAL_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("windows", ("list",)),
    ("dataset.class_names", ("str-list",)),
    ("extra", ("dict",)),
)
_MISSING = object()


def _get(p: dict, path: str):
    node = p
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _show(value) -> str:
    import json

    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_type(where: str, path: str, value, kinds: tuple[str, ...]) -> None:
    if not any(_is(value, k) for k in kinds):
        want = " or ".join(_ARTICLE[k] for k in kinds)
        raise SchemaError(f"{where}: {path} must be {want}, got {_show(value)}")


def _metric_value_ok(v) -> bool:
    """A number, null (not measured), or a (nested) list of numbers such as a confusion matrix."""
    if v is None or _is(v, "float"):
        return True
    return isinstance(v, list) and all(_metric_value_ok(x) and not isinstance(x, dict) for x in v)


def check(p, where: str, *, schema: str, version: int, sources: tuple[str, ...]) -> None:
    """Raise SchemaError (one line, naming ``where`` and the field) at the first violation."""
    if not isinstance(p, dict) or p.get("schema") != schema:
        raise SchemaError(f"{where}: not a workbench profile")
    if p.get("schema_version") != version:
        raise SchemaError(f"{where}: profile schema version {_show(p.get('schema_version'))} "
                          f"(this workbench reads {version})")
    for path, kinds in FIELDS:
        value = _get(p, path)
        if value is _MISSING:
            raise SchemaError(f"{where}: profile is missing '{path}'")
        _check_type(where, path, value, kinds)
    for path, kinds in OPTIONAL_FIELDS:
        value = _get(p, path)
        if value is not _MISSING:
            _check_type(where, path, value, kinds)
    if not UTC_RE.match(p["created_utc"]):
        raise SchemaError(f"{where}: created_utc must be UTC as YYYY-MM-DDTHH:MM:SSZ, got {_show(p['created_utc'])}")
    if p["target"]["kind"] not in TARGET_KINDS:
        raise SchemaError(f"{where}: target.kind {_show(p['target']['kind'])} is not one of {', '.join(TARGET_KINDS)}")
    for name, value in p["versions"].items():
        if not isinstance(value, str):
            raise SchemaError(f"{where}: versions.{name} must be a string, got {_show(value)}")
    model = p["model"]
    if len(model["hidden"]) != len(model["cells"]):
        raise SchemaError(f"{where}: model has {len(model['cells'])} cells but {len(model['hidden'])} hidden sizes")
    if model["k"] is not None and (model["k"] <= 0 or model["T"] % model["k"]):
        raise SchemaError(f"{where}: model.k={model['k']} does not divide model.T={model['T']}")
    for name, m in p["metrics"].items():
        if not isinstance(m, dict) or not {"value", "unit", "source"} <= set(m):
            raise SchemaError(f"{where}: metric '{name}' needs value, unit and source")
        if m["source"] not in sources:
            raise SchemaError(f"{where}: metric '{name}' has unknown source {_show(m['source'])}")
        if not isinstance(m["unit"], str) or not m["unit"]:
            raise SchemaError(f"{where}: metric '{name}' needs a unit (a non-empty string)")
        if not _metric_value_ok(m["value"]):
            raise SchemaError(f"{where}: metric '{name}' value must be a number or a list of numbers, "
                              f"got {_show(m['value'])}")
    for i, w in enumerate(p.get("windows") or []):
        if not isinstance(w, dict):
            raise SchemaError(f"{where}: windows[{i}] must be an object")
