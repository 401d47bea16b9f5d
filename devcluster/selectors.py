"""Label and field selectors with the syntax and error messages of the Kubernetes API server."""

import re
from collections.abc import Callable

from devcluster.errors import bad_request

_SET_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_COMPARISON_TERM = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|!=|=)\s*([A-Za-z0-9._-]*)\s*$")


def _split_terms(selector: str) -> list[str]:
    """Commas separate terms except inside the parentheses of `in (a,b)`."""
    terms, depth, current = [], 0, []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [term for term in terms if term.strip()]


def parse_label_selector(selector: str | None) -> Callable[[dict], bool]:
    if not selector:
        return lambda labels: True
    requirements = []
    for term in _split_terms(selector):
        comparison = _COMPARISON_TERM.match(term)
        if comparison:
            key, operator, value = comparison.groups()
            if operator == "!=":
                requirements.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                requirements.append(lambda labels, k=key, v=value: labels.get(k) == v)
            continue
        set_term = _SET_TERM.match(term)
        if not set_term:
            raise bad_request(f"unable to parse requirement: found '{term.strip()}', expected: identifier")
        negated, key, operator, values = set_term.groups()
        if negated and operator:
            raise bad_request(f"unable to parse requirement: found '{operator}', expected: ',' or 'end of string'")
        if operator:
            allowed = {value.strip() for value in values.split(",") if value.strip()}
            if operator == "in":
                requirements.append(lambda labels, k=key, a=allowed: labels.get(k) in a)
            else:
                requirements.append(lambda labels, k=key, a=allowed: labels.get(k) not in a)
        elif negated:
            requirements.append(lambda labels, k=key: k not in labels)
        else:
            requirements.append(lambda labels, k=key: k in labels)
    return lambda labels: all(requirement(labels) for requirement in requirements)


# Field selectors each kind supports on a real API server (the ones the portal can use).
SUPPORTED_FIELDS = {
    "events": {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "pods": {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    },
    "namespaces": {"status.phase"},
}


def _field_value(obj: dict, path: str) -> str:
    if path == "source":
        return (obj.get("source") or {}).get("component", "")
    value = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def parse_field_selector(plural: str, selector: str | None) -> Callable[[dict], bool]:
    if not selector:
        return lambda obj: True
    requirements = []
    supported = {"metadata.name", "metadata.namespace"} | SUPPORTED_FIELDS.get(plural, set())
    for term in _split_terms(selector):
        match = re.match(r"^\s*([A-Za-z0-9._]+)\s*(==|!=|=)\s*(.*?)\s*$", term)
        if not match:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
        field, operator, value = match.groups()
        if field not in supported:
            raise bad_request(f"field label not supported: {field}")
        if operator == "!=":
            requirements.append(lambda obj, f=field, v=value: _field_value(obj, f) != v)
        else:
            requirements.append(lambda obj, f=field, v=value: _field_value(obj, f) == v)
    return lambda obj: all(requirement(obj) for requirement in requirements)
