"""Synthetic DCGM exporter history, as a Python model and as OpenMetrics text that
`promtool tsdb create-blocks-from openmetrics` loads into a Prometheus data directory: the demo
of `make run` (vms.management.demo) gives its VMs a past with it, and the monitoring tests compare what the
portal reads from a real Prometheus with what they generated (tests/monitoring/dcgm_fixtures.py).

Every sample sits 10 s after a multiple of 30 s (a scrape is never exactly on the minute) and
tests query at 15 s past a multiple of 30 s, so no sample lies on a window or lookback edge:
which edge is inclusive changed between Prometheus 2 and 3, and the figures must not depend
on it. Values are the same at every run; only the time shifts with the clock."""

import math
import random
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SCRAPE = 30
SAMPLE_OFFSET = 10
QUERY_OFFSET = 15
MINUTE, HOUR, DAY = 60, 3600, 86400
JOB = "dcgm-exporter"
DRIVER = "550.54.15"
GARBAGE_UTIL = 4294967295.0
# promtool cuts 2 h blocks and re-reads its whole input for each one, so a week in one file
# costs 84 passes; files of a few blocks each keep the backfill to a few seconds.
CHUNK_SECONDS = 6 * HOUR


@dataclass(frozen=True)
class Gpu:
    namespace: str
    vm: str
    index: int
    uuid: str
    model: str
    total_mib: int
    dcp: bool
    instance: str
    # The guest's host name, as DCGM reports it (KubeVirt names the guest after its VMI).
    hostname: str = ""

    def labels(self) -> dict[str, str]:
        return {
            "gpu": str(self.index),
            "UUID": self.uuid,
            "pci_bus_id": f"00000000:{6 + self.index:02X}:00.0",
            "device": f"nvidia{self.index}",
            "modelName": self.model,
            "Hostname": (self.hostname or self.vm)[:63],
            "DCGM_FI_DRIVER_VERSION": DRIVER,
            "job": JOB,
            "instance": self.instance,
            "namespace": self.namespace,
            "vm": self.vm,
        }


def series_key(labels: dict[str, str]) -> tuple:
    return tuple(sorted(labels.items()))


@dataclass
class Fleet:
    # Last scrape instant: a multiple of 30 s; samples are at SAMPLE_OFFSET after such instants.
    end_grid: int
    series: dict[tuple[str, tuple], list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def query_time(self) -> float:
        return self.end_grid + QUERY_OFFSET

    def grid(self, seconds: int) -> list[int]:
        """Scrape instants (multiples of 30 s) of the last `seconds` seconds, oldest first."""
        count = seconds // SCRAPE
        return [self.end_grid - (count - 1 - i) * SCRAPE for i in range(count)]

    def add(self, metric: str, labels: dict[str, str], points: list[tuple[int, float]]):
        if not points:
            return  # a VM that did not run in the span has no series there, not an empty one
        self.series[(metric, series_key(labels))] = [(float(t + SAMPLE_OFFSET), float(v)) for t, v in points]

    def points(self, metric: str, *, namespace: str, vm: str) -> dict[str, list[tuple[float, float]]]:
        """Samples of one VM's metric, keyed by GPU UUID (or by instance for `up`)."""
        found = {}
        for (name, key), points in self.series.items():
            labels = dict(key)
            if name == metric and labels.get("namespace") == namespace and labels.get("vm") == vm:
                found[labels.get("UUID", labels["instance"])] = points
        return found

    def openmetrics_chunks(self) -> list[str]:
        first = min(points[0][0] for points in self.series.values())
        last = max(points[-1][0] for points in self.series.values())
        start = int(first // CHUNK_SECONDS) * CHUNK_SECONDS
        chunks = []
        while start <= last:
            text = self._openmetrics(start, start + CHUNK_SECONDS)
            if text:
                chunks.append(text + "# EOF\n")
            start += CHUNK_SECONDS
        return chunks

    def _openmetrics(self, start: float, end: float) -> str:
        lines = []
        for metric in sorted({name for name, _ in self.series}):
            # Declared gauge even for the energy counter: an OpenMetrics counter's samples must
            # end in _total, and the TSDB keeps no type anyway.
            family = [f"# TYPE {metric} gauge"]
            for (name, key), points in self.series.items():
                if name != metric:
                    continue
                rendered = _render_labels(dict(key))
                family.extend(f"{metric}{rendered} {value!r} {t:.0f}" for t, value in points if start <= t < end)
            if len(family) > 1:
                lines.extend(family)
        return "\n".join(lines) + "\n" if lines else ""


def _render_labels(labels: dict[str, str]) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{name}="{escape(value)}"' for name, value in labels.items()) + "}"


def training_util(rng: random.Random, grid: list[int], end_grid: int) -> list[float]:
    """Steady training near full load, with a 3-minute checkpoint dip every 2 hours."""
    values = []
    for t in grid:
        if (end_grid - t) % (2 * HOUR) < 3 * MINUTE:
            values.append(round(rng.uniform(2, 8), 2))
        else:
            values.append(round(min(100.0, rng.gauss(93, 4)), 2))
    return values


def bursty_util(rng: random.Random, grid: list[int]) -> list[float]:
    """Inference: near idle, with request bursts of one to five minutes at high load."""
    values, burst = [], 0
    for _ in grid:
        if burst == 0 and rng.random() < 0.03:
            burst = rng.randint(2, 10)
        if burst:
            burst -= 1
            values.append(round(rng.uniform(80, 100), 2))
        else:
            values.append(round(rng.uniform(0, 4), 2))
    return values


def idle_util(rng: random.Random, grid: list[int]) -> list[float]:
    return [float(rng.randint(1, 3)) if rng.random() < 0.01 else 0.0 for _ in grid]


def energy_counter(power: list[float], grid: list[int], boot_value: float) -> list[float]:
    """Counter in mJ since boot: it restarts near zero after the gap of a reboot."""
    counter, values, previous = boot_value, [], None
    for t, watts in zip(grid, power, strict=True):
        if previous is not None and t - previous > SCRAPE:
            counter = watts * 20 * 1000  # booted about 20 s before this scrape
        elif previous is not None:
            counter += watts * SCRAPE * 1000
        values.append(counter)
        previous = t
    return values


def add_gpu(
    fleet: Fleet,
    rng: random.Random,
    gpu: Gpu,
    *,
    util_grid: list[int],
    util: list[float],
    idle_watts: float,
    watts_per_percent: float,
    fb_used_mib: float,
    power_grid: list[int],
    detail_span: int = 6 * HOUR,
):
    """A GPU's utilisation over `util_grid`, power and energy over `power_grid`, and memory,
    temperature, clock and (with DCP) profiling ratios over the last `detail_span` seconds."""
    labels = gpu.labels()
    fleet.add("DCGM_FI_DEV_GPU_UTIL", labels, list(zip(util_grid, util, strict=True)))
    util_at = dict(zip(util_grid, util, strict=True))
    power = [round(idle_watts + watts_per_percent * util_at[t] + rng.uniform(-2, 2), 2) for t in power_grid]
    fleet.add("DCGM_FI_DEV_POWER_USAGE", labels, list(zip(power_grid, power, strict=True)))
    energy = energy_counter(power, power_grid, boot_value=rng.uniform(1e9, 9e9) // 1)
    fleet.add("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", labels, list(zip(power_grid, energy, strict=True)))

    detail = [t for t in fleet.grid(detail_span) if t in util_at]
    reserved = 551
    used = [round(fb_used_mib + rng.uniform(-200, 200)) if util_at[t] > 10 else fb_used_mib for t in detail]
    fleet.add("DCGM_FI_DEV_FB_USED", labels, list(zip(detail, used, strict=True)))
    fleet.add(
        "DCGM_FI_DEV_FB_FREE", labels, [(t, gpu.total_mib - reserved - u) for t, u in zip(detail, used, strict=True)]
    )
    fleet.add("DCGM_FI_DEV_GPU_TEMP", labels, [(t, round(32 + 0.35 * util_at[t])) for t in detail])
    fleet.add("DCGM_FI_DEV_SM_CLOCK", labels, [(t, 1980 if util_at[t] > 10 else 345) for t in detail])
    if gpu.dcp:
        for metric, share in (
            ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", 0.97),
            ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", 0.61),
            ("DCGM_FI_PROF_DRAM_ACTIVE", 0.44),
        ):
            fleet.add(metric, labels, [(t, round(min(util_at[t], 100) / 100 * share, 4)) for t in detail])


def add_up(fleet: Fleet, gpu: Gpu, points: list[tuple[int, float]]):
    labels = {name: gpu.labels()[name] for name in ("job", "instance", "namespace", "vm")}
    fleet.add("up", labels, points)


def daily_util(rng: random.Random, grid: list[int], *, utc_offset_hours: int = 1) -> list[float]:
    """Inference serving office hours: a daily peak around 14:00 local time, quiet nights, and
    request bursts on top."""
    values = []
    for t in grid:
        hour = (t / HOUR + utc_offset_hours) % 24
        demand = max(0.0, math.cos((hour - 14) / 24 * 2 * math.pi)) ** 2
        burst = rng.uniform(0, 25) if rng.random() < 0.1 else 0.0
        values.append(
            round(min(100.0, 3 + 80 * demand + burst + rng.uniform(-2, 2)) if demand or burst else rng.uniform(0, 3), 2)
        )
    return values


def backfill(chunks: list[str], data_dir: Path, *, promtool: str) -> None:
    """Writes the chunks (Fleet.openmetrics_chunks()) as TSDB blocks into a Prometheus data
    directory; a running Prometheus picks new blocks up within a minute, a starting one at once."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dcgm-backfill-") as workdir:
        source = Path(workdir) / "backfill.om"
        for chunk in chunks:
            source.write_text(chunk if chunk.rstrip().endswith("# EOF") else chunk.rstrip("\n") + "\n# EOF\n")
            subprocess.run(
                [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data_dir)],
                check=True,
                capture_output=True,
            )
