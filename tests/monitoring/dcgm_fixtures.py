"""Synthetic DCGM exporter history for tests, as a Python model and as OpenMetrics text for
`promtool tsdb create-blocks-from openmetrics`.

Tests compute their expected figures from `Fleet.points()` in Python and compare them with
what the portal gets from a real Prometheus loaded with `Fleet.openmetrics_chunks()`.

Every sample sits 10 s after a multiple of 30 s (a scrape is never exactly on the minute) and
tests query at 15 s past a multiple of 30 s, so no sample lies on a window or lookback edge:
which edge is inclusive changed between Prometheus 2 and 3, and the figures must not depend
on it. Values are the same at every run; only the time shifts with the clock."""

import random
from dataclasses import dataclass, field

SCRAPE = 30
SAMPLE_OFFSET = 10
QUERY_OFFSET = 15
MINUTE, HOUR, DAY = 60, 3600, 86400
JOB = "dcgm-exporter"
DRIVER = "550.127.05"
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

    def labels(self) -> dict[str, str]:
        return {
            "gpu": str(self.index),
            "UUID": self.uuid,
            "pci_bus_id": f"00000000:{7 + self.index:02X}:00.0",
            "device": f"nvidia{self.index}",
            "modelName": self.model,
            "Hostname": self.vm[:63],
            "DCGM_FI_DRIVER_VERSION": DRIVER,
            "job": JOB,
            "instance": self.instance,
            "namespace": self.namespace,
            "vm": self.vm,
        }


def _key(labels: dict[str, str]) -> tuple:
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
        self.series[(metric, _key(labels))] = [(float(t + SAMPLE_OFFSET), float(v)) for t, v in points]

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


TRAINING = ("tenant-alpha", "llm-train")
INFERENCE = ("tenant-beta", "inference-api")
IDLE = ("tenant-beta", "notebook-idle")
EXPORTER_DOWN = ("tenant-gamma", "exporter-down")
NEVER_INSTALLED = ("tenant-gamma", "no-exporter")
# A name no DNS label allows, stored as a label value all the same: queries must find exactly it.
CRAFTED = ("tenant-beta", 'we"ird\\{vm}\nnäme 🚀')

TRAINING_GPUS = tuple(
    Gpu(*TRAINING, index=i, uuid=f"GPU-5f2c9a1e-7b3d-4c8e-9a61-0d2b3e4f5a6{i}", model="NVIDIA H100 80GB HBM3",
        total_mib=81559, dcp=True, instance="10.244.1.17:9400")
    for i in range(2)
)
INFERENCE_GPU = Gpu(*INFERENCE, index=0, uuid="GPU-0a1b2c3d-4e5f-6789-abcd-ef0123456789", model="NVIDIA L40S",
                    total_mib=46068, dcp=True, instance="10.244.2.5:9400")
# No DCP fields: the profiling module is unavailable for this GPU, so those series never exist.
IDLE_GPU = Gpu(*IDLE, index=0, uuid="GPU-9e8d7c6b-5a49-3827-1605-f4e3d2c1b0a9", model="NVIDIA A10",
               total_mib=23028, dcp=False, instance="10.244.3.9:9400")
EXPORTER_DOWN_GPU = Gpu(*EXPORTER_DOWN, index=0, uuid="GPU-11111111-2222-3333-4444-555555555555",
                        model="NVIDIA L40S", total_mib=46068, dcp=True, instance="10.244.4.2:9400")
CRAFTED_GPU = Gpu(*CRAFTED, index=0, uuid="GPU-abcdefab-cdef-abcd-efab-cdefabcdefab", model="NVIDIA L40S",
                  total_mib=46068, dcp=True, instance="10.244.5.3:9400")

WEEK_PLUS = 7 * DAY + 2 * HOUR
REBOOT_AGO = 5 * HOUR
REBOOT_GAP = 10 * MINUTE
GARBAGE_AGO = 20 * MINUTE
EXPORTER_DOWN_FOR = HOUR
DETAIL_SPAN = 6 * HOUR


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


def _energy(power: list[float], grid: list[int], boot_value: float) -> list[float]:
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


def _add_gpu(fleet: Fleet, rng: random.Random, gpu: Gpu, *, util_grid: list[int], util: list[float],
             idle_watts: float, watts_per_percent: float, fb_used_mib: float, power_grid: list[int]):
    labels = gpu.labels()
    fleet.add("DCGM_FI_DEV_GPU_UTIL", labels, list(zip(util_grid, util, strict=True)))
    util_at = dict(zip(util_grid, util, strict=True))
    power = [round(idle_watts + watts_per_percent * util_at[t] + rng.uniform(-2, 2), 2) for t in power_grid]
    fleet.add("DCGM_FI_DEV_POWER_USAGE", labels, list(zip(power_grid, power, strict=True)))
    energy = _energy(power, power_grid, boot_value=rng.uniform(1e9, 9e9) // 1)
    fleet.add("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", labels, list(zip(power_grid, energy, strict=True)))

    detail = [t for t in fleet.grid(DETAIL_SPAN) if t in util_at]
    reserved = 551
    used = [round(fb_used_mib + rng.uniform(-200, 200)) if util_at[t] > 10 else fb_used_mib for t in detail]
    fleet.add("DCGM_FI_DEV_FB_USED", labels, list(zip(detail, used, strict=True)))
    fleet.add("DCGM_FI_DEV_FB_FREE", labels,
              [(t, gpu.total_mib - reserved - u) for t, u in zip(detail, used, strict=True)])
    fleet.add("DCGM_FI_DEV_GPU_TEMP", labels, [(t, round(32 + 0.35 * util_at[t])) for t in detail])
    fleet.add("DCGM_FI_DEV_SM_CLOCK", labels, [(t, 1980 if util_at[t] > 10 else 345) for t in detail])
    if gpu.dcp:
        for metric, share in (("DCGM_FI_PROF_GR_ENGINE_ACTIVE", 0.97), ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", 0.61),
                              ("DCGM_FI_PROF_DRAM_ACTIVE", 0.44)):
            fleet.add(metric, labels, [(t, round(min(util_at[t], 100) / 100 * share, 4)) for t in detail])


def _add_up(fleet: Fleet, gpu: Gpu, points: list[tuple[int, float]]):
    labels = {name: gpu.labels()[name] for name in ("job", "instance", "namespace", "vm")}
    fleet.add("up", labels, points)


def build_fleet(now: float) -> Fleet:
    # Ends two minutes before now: recent enough for instant queries at "now" to see the last
    # samples within Prometheus' 5-minute lookback, old enough to be complete.
    fleet = Fleet(end_grid=int(now // SCRAPE) * SCRAPE - 2 * MINUTE)
    rng = random.Random(20240607)

    week = fleet.grid(WEEK_PLUS)
    reboot_start = fleet.end_grid - REBOOT_AGO
    training_grid = [t for t in week if not reboot_start <= t < reboot_start + REBOOT_GAP]
    for gpu in TRAINING_GPUS:
        util = training_util(rng, training_grid, fleet.end_grid)
        _add_gpu(fleet, rng, gpu, util_grid=training_grid, util=util, idle_watts=70, watts_per_percent=6.2,
                 fb_used_mib=61440, power_grid=[t for t in training_grid if t > fleet.end_grid - DAY])
        _add_up(fleet, gpu, [(t, 1.0) for t in fleet.grid(DETAIL_SPAN)])
    # One garbage utilisation sample, as DCGM sometimes reports, set after the other fields
    # were derived from the real load.
    garbled = fleet.series[("DCGM_FI_DEV_GPU_UTIL", _key(TRAINING_GPUS[1].labels()))]
    position = training_grid.index(fleet.end_grid - GARBAGE_AGO)
    garbled[position] = (garbled[position][0], GARBAGE_UTIL)

    # A week of utilisation for the idle policy; power and energy for a day keep the backfill short.
    day = fleet.grid(DAY)
    _add_gpu(fleet, rng, INFERENCE_GPU, util_grid=day, util=bursty_util(rng, day), idle_watts=35,
             watts_per_percent=2.8, fb_used_mib=18432, power_grid=day)
    _add_up(fleet, INFERENCE_GPU, [(t, 1.0) for t in fleet.grid(DETAIL_SPAN)])

    _add_gpu(fleet, rng, IDLE_GPU, util_grid=week, util=idle_util(rng, week), idle_watts=16,
             watts_per_percent=1.2, fb_used_mib=3, power_grid=day)
    _add_up(fleet, IDLE_GPU, [(t, 1.0) for t in fleet.grid(DETAIL_SPAN)])

    stopped_at = fleet.end_grid - EXPORTER_DOWN_FOR
    before = [t for t in fleet.grid(DETAIL_SPAN) if t <= stopped_at]
    fleet.add("DCGM_FI_DEV_GPU_UTIL", EXPORTER_DOWN_GPU.labels(), [(t, 50.0) for t in before])
    _add_up(fleet, EXPORTER_DOWN_GPU, [(t, 1.0 if t <= stopped_at else 0.0) for t in fleet.grid(DETAIL_SPAN)])

    fleet.add("DCGM_FI_DEV_GPU_UTIL", CRAFTED_GPU.labels(), [(t, 42.0) for t in fleet.grid(HOUR)])
    return fleet
