"""A real, certified OpenID provider for tests: node-oidc-provider (tests/support/oidc/), run with
the machine's Node.js on a free loopback port. It has its own login page (any password) and reads
its accounts and their groups from a JSON file at every sign-in.

    with OidcProvider(tmp_path, clients=[client(...)], accounts={"ada": account(groups=[...])}) as op:
        op.url                     # the issuer
        op.set_groups("ada", [...])  # takes effect at ada's next sign-in"""

import json
import shutil
import subprocess
from pathlib import Path

from tests.support.processes import Started, free_port, stop, wait_for_http

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc"
NODE = shutil.which("node") or "/usr/bin/node"


def client(client_id: str, secret: str, *, portal_url: str) -> dict:
    return {
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": [f"{portal_url}/oidc/callback/"],
        "post_logout_redirect_uris": [f"{portal_url}/accounts/login/"],
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }


def account(*, groups: list[str] | None, email: str = "", name: str = "") -> dict:
    """groups=None: the provider sends no groups claim at all."""
    return {"groups": groups, "email": email, "name": name}


class OidcProvider(Started):
    def __init__(
        self, workdir: Path, *, clients: list[dict], accounts: dict, id_token_ttl: int = 600, clock_offset: str = ""
    ):
        """clock_offset: run the provider's clock off by this much (faketime's syntax, "-2h")."""
        if not (PROVIDER_DIR / "node_modules").exists():
            raise RuntimeError("the test OpenID provider is not installed: run `make test` (it runs npm ci)")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.clients = clients
        self.accounts = dict(accounts)
        self.accounts_file = self.workdir / "accounts.json"
        self.id_token_ttl = id_token_ttl
        self.clock_offset = clock_offset
        self.process = None

    def _write_accounts(self):
        self.accounts_file.write_text(json.dumps(self.accounts))

    def set_groups(self, login: str, groups: list[str] | None):
        self.accounts[login] = {**self.accounts[login], "groups": groups}
        self._write_accounts()

    def start(self):
        self._write_accounts()
        env = {
            "PORT": str(self.port),
            "CLIENTS": json.dumps(self.clients),
            "ACCOUNTS_FILE": str(self.accounts_file),
            "ID_TOKEN_TTL": str(self.id_token_ttl),
            "PATH": "/usr/bin:/bin",
        }
        with (self.workdir / "provider.log").open("wb") as log:
            command = [NODE, "provider.mjs"]
            if self.clock_offset:
                command = [shutil.which("faketime") or "/usr/bin/faketime", "-f", self.clock_offset, *command]
            self.process = subprocess.Popen(
                command, cwd=PROVIDER_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for_http(f"{self.url}/.well-known/openid-configuration", timeout=30, process=self.process)

    def stop(self):
        if self.process is not None:
            stop(self.process, group=True)
            self.process = None
