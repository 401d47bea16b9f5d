"""Cloud-init user data composed as data: parsed, merged, then dumped by PyYAML.

Nothing is ever joined as text, so what a user types can only become values inside the
document, never new keys or structure.

Merge rules, applied first for each selected software block (with the blocks it requires, in
catalogue order) and then for the user's cloud-config:
- mapping into mapping: merged key by key with these same rules;
- list into list: appended (so `packages`, `runcmd`, `write_files` run blocks first, in order,
  then the user's entries); `packages` then drops repeated entries;
- anything else: the later value wins, so the user's scalars override the blocks'.
A user value whose type would replace a block's list or mapping is refused by validation
(`conflicting_user_keys`), since it would silently drop the blocks' commands.

The document always starts with the `users` list holding the image's login user with the SSH
keys, passwordless sudo and the groups the blocks create (`docker`); a `users` list in the user's
cloud-config is appended after it.
"""

import copy

import yaml
from django.utils.translation import gettext as _

from vms.catalogue import seed

CLOUD_CONFIG_HEADER = "#cloud-config\n"
MAX_NESTING_DEPTH = 32
_BLOCKS_BY_SLUG = {block["slug"]: block for block in seed.SOFTWARE_BLOCKS}
_BLOCK_ORDER = [block["slug"] for block in seed.SOFTWARE_BLOCKS]


class ReadableDumper(yaml.SafeDumper):
    """Writes shared objects out in full (readers should not have to follow aliases) and
    multi-line strings as literal blocks, so scripts and files read as they will run."""

    def ignore_aliases(self, data):
        return True


def _represent_string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


ReadableDumper.add_representer(str, _represent_string)


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is None:
        return _("This is not valid YAML: %(problem)s.") % {"problem": problem}
    return _("This is not valid YAML (line %(line)s): %(problem)s.") % {
        "line": mark.line + 1,
        "problem": problem,
    }


def parse_user_cloud_config(text: str, *, max_bytes: int | None = None) -> tuple[dict | None, str | None]:
    """The user's cloud-config as a mapping, or None and the reason it is refused.

    Only plain YAML is accepted: one document, no tags beyond the standard ones, no aliases
    (a few lines of them can expand into gigabytes), a mapping at the top, at most `max_bytes`
    long when given (validation passes the catalogue's limit).
    """
    size = len(text.encode())
    if max_bytes is not None and size > max_bytes:
        return None, _("The cloud-config has %(size)s bytes; at most %(max)s are allowed.") % {
            "size": size,
            "max": max_bytes,
        }
    if not text.strip():
        return {}, None
    try:
        documents = 0
        depth = 0
        # Events come lazily, so stopping at the first excess also stops PyYAML's scanner, whose
        # cost grows with the square of the nesting depth.
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                return None, _("YAML aliases (*name) are not allowed; write the values out.")
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
            elif isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_NESTING_DEPTH:
                    return None, _("The cloud-config is nested too deeply.")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        if documents > 1:
            return None, _("Write a single YAML document (no “---” separators).")
        data = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as error:
        if "tag" not in (error.problem or ""):
            return None, _yaml_problem(error)
        return None, _("Tags such as !!python/object are not allowed (%(problem)s).") % {"problem": error.problem}
    except yaml.YAMLError as error:
        return None, _yaml_problem(error)
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        return None, _(
            "The cloud-config must be a mapping of keys to values, such as “packages: [htop]”. Shell "
            "scripts are not supported: put commands under runcmd."
        )
    if not all(isinstance(key, str) for key in data):
        return None, _("Every top-level key must be a name, such as packages or runcmd.")
    return data, None


def resolve_software(slugs: list[str] | tuple[str, ...]) -> list[dict]:
    """The blocks to apply for a selection: the selected ones plus what they require, in catalogue order."""
    wanted: set[str] = set()
    pending = list(slugs)
    while pending:
        slug = pending.pop()
        if slug not in _BLOCKS_BY_SLUG:
            raise ValueError(f"unknown software block {slug!r}")
        if slug not in wanted:
            wanted.add(slug)
            pending.extend(_BLOCKS_BY_SLUG[slug]["requires"])
    return [_BLOCKS_BY_SLUG[slug] for slug in _BLOCK_ORDER if slug in wanted]


def _merge_value(base: object, addition: object) -> object:
    if isinstance(base, dict) and isinstance(addition, dict):
        return merge_cloud_config(base, addition)
    if isinstance(base, list) and isinstance(addition, list):
        return copy.deepcopy(base) + copy.deepcopy(addition)
    return copy.deepcopy(addition)


def merge_cloud_config(base: dict, addition: dict) -> dict:
    """`addition` merged into a copy of `base` (rules in the module docstring)."""
    merged = copy.deepcopy(base)
    for key, value in addition.items():
        merged[key] = _merge_value(merged[key], value) if key in merged else copy.deepcopy(value)
    return merged


def _default_user(name: str, ssh_keys: list[str] | tuple[str, ...], groups: list[str]) -> dict:
    user = {"name": name, "sudo": "ALL=(ALL) NOPASSWD:ALL", "shell": "/bin/bash", "lock_passwd": True}
    if groups:
        user["groups"] = groups
    user["ssh_authorized_keys"] = [key.strip() for key in ssh_keys]
    return user


def _blocks_config(software: list[str] | tuple[str, ...], default_user: str, ssh_keys) -> dict:
    blocks = resolve_software(software)
    groups = [group for block in blocks for group in block["default_user_groups"]]
    config = {"users": [_default_user(default_user, ssh_keys, groups)]}
    for block in blocks:
        config = merge_cloud_config(config, block["cloud_config"])
    return config


def conflicting_user_keys(user_config: dict, *, software: list[str] | tuple[str, ...]) -> list[tuple[str, type]]:
    """Top-level keys where the user's value would replace the blocks' list or mapping.

    Returns (key, the type the value must have) pairs.
    """
    blocks_config = _blocks_config(software, "user", [])
    conflicts = []
    for key, value in user_config.items():
        expected = type(blocks_config.get(key))
        if expected in (list, dict) and not isinstance(value, expected):
            conflicts.append((key, expected))
    return conflicts


def _without_repeats(items: list) -> list:
    unique = []
    for item in items:
        if item not in unique:
            unique.append(item)
    return unique


def compose_cloud_config(
    *,
    software: list[str] | tuple[str, ...],
    user_cloud_config: str,
    ssh_keys: list[str] | tuple[str, ...],
    default_user: str = "ubuntu",
) -> str:
    """The `#cloud-config` user data for a VM. Validate the inputs first: invalid ones raise ValueError."""
    user_config, problem = parse_user_cloud_config(user_cloud_config)
    if problem:
        raise ValueError(problem)
    config = merge_cloud_config(_blocks_config(software, default_user, ssh_keys), user_config)
    if isinstance(config.get("packages"), list):
        config["packages"] = _without_repeats(config["packages"])
    body = yaml.dump(
        config,
        Dumper=ReadableDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,
    )
    return CLOUD_CONFIG_HEADER + body
