"""Where `hikube-gpu login` keeps the portal's address and the token: a YAML file in the user's
config directory, readable by them alone. HIKUBE_GPU_URL and HIKUBE_GPU_TOKEN override it
(for CI jobs, which keep secrets in their own store)."""

import os
from dataclasses import dataclass
from pathlib import Path

import click
import yaml

APP = "hikube-gpu"


def config_path() -> Path:
    return Path(click.get_app_dir(APP)) / "config.yaml"


@dataclass(frozen=True)
class Login:
    url: str
    token: str


def save(login: Login) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created 0600 before the token is written: no moment where another user could read it.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        yaml.safe_dump({"url": login.url, "token": login.token}, handle)
    return path


def load() -> Login | None:
    url, token = os.environ.get("HIKUBE_GPU_URL"), os.environ.get("HIKUBE_GPU_TOKEN")
    if url and token:
        return Login(url=url, token=token)
    path = config_path()
    if not path.exists():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or not data.get("url") or not data.get("token"):
        return None
    return Login(url=url or data["url"], token=token or data["token"])
