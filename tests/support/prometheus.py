"""A real Prometheus server (Debian's `prometheus` package) for tests.

    with PrometheusServer(tmp_path, scrape_configs=[...], openmetrics=text) as prom:
        prom.url  # http://127.0.0.1:<port>

`openmetrics` is backfilled with `promtool tsdb create-blocks-from openmetrics` before the
server starts, so tests can query history they generated themselves."""

import shutil
import subprocess
from pathlib import Path

import yaml

from monitoring.dcgm_history import backfill
from tests.support.processes import Started, free_port, stop, wait_for_http

PROMETHEUS_BINARY = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL_BINARY = shutil.which("promtool") or "/usr/bin/promtool"


class PrometheusServer(Started):
    def __init__(
        self,
        workdir: Path,
        *,
        scrape_configs: list[dict] | None = None,
        openmetrics: str | None = None,
        scrape_interval: str = "1s",
        retention: str = "3650d",
    ):
        if not Path(PROMETHEUS_BINARY).exists():
            raise RuntimeError("prometheus is not installed: run `make test` (it installs Debian's package)")
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "prometheus-data"
        self.config_path = self.workdir / "prometheus.yml"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.scrape_configs = scrape_configs or []
        self.openmetrics = openmetrics
        self.scrape_interval = scrape_interval
        self.retention = retention
        self.process = None

    def start(self):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval},
            "scrape_configs": self.scrape_configs,
        }
        self.config_path.write_text(yaml.safe_dump(config))
        if self.openmetrics is not None:
            self.backfill(self.openmetrics)
        with (self.workdir / "prometheus.log").open("wb") as log:
            self.process = subprocess.Popen(
                [
                    PROMETHEUS_BINARY,
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self.data_dir}",
                    f"--storage.tsdb.retention.time={self.retention}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                    "--log.level=warn",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        wait_for_http(f"{self.url}/-/ready", timeout=60, process=self.process)

    def backfill(self, text: str):
        backfill([text], self.data_dir, promtool=PROMTOOL_BINARY)

    def stop(self):
        if self.process is not None:
            stop(self.process)
            self.process = None
