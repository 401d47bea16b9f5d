"""The one table of GPU telemetry the portal reads from NVIDIA's DCGM exporter.

Metric names, source units and labels follow `etc/default-counters.csv` and
`etc/dcp-metrics-included.csv` of dcgm-exporter up to 4.8.x. Release 4.9 renames fields and
changes units (clock MHz to Hz, energy mJ to J, utilisation % to a 0-1 ratio, memory MiB to
bytes): that migration is made here, by changing `metric`, `source_unit` and `scale`, and
nowhere else."""

from dataclasses import dataclass
from fractions import Fraction

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# Labels the exporter puts on every GPU series. A chart keys its series by UUID (stable across
# reboots and PCI renumbering) and shows the index and model.
GPU_UUID_LABEL = "UUID"
GPU_INDEX_LABEL = "gpu"
GPU_MODEL_LABEL = "modelName"
GPU_LABELS = (GPU_UUID_LABEL, GPU_INDEX_LABEL, GPU_MODEL_LABEL)

# Prometheus' own per-target health series: 1 when the last scrape of the exporter worked.
UP_METRIC = "up"

MILLIJOULES_PER_KWH = 3_600_000_000


@dataclass(frozen=True)
class Panel:
    key: str
    title: Promise
    metric: str
    source_unit: str
    unit: Promise
    # display value = source value * scale; a Fraction so the PromQL text stays exact
    # ("/ 1024", not "* 0.0009765625").
    scale: Fraction = Fraction(1)
    # Datacenter-profiling field: some GPUs and drivers never report it, which yields no
    # series at all (not zero), and the page has to say so.
    dcp: bool = False
    # Counters (energy) are read through increase(), never charted raw.
    counter: bool = False
    # Values outside this range are exporter garbage and are dropped before any aggregation
    # (DCGM_FI_DEV_GPU_UTIL sometimes reports values in the billions).
    valid_range: tuple[float, float] | None = None
    # When set, the panel shows metric / (metric + share_of), e.g. framebuffer used / total.
    share_of: str | None = None


PANELS: dict[str, Panel] = {
    panel.key: panel
    for panel in (
        Panel(
            key="gpu_util",
            title=_("GPU utilisation"),
            metric="DCGM_FI_DEV_GPU_UTIL",
            source_unit="%",
            unit=_("%"),
            valid_range=(0, 100),
        ),
        Panel(
            key="gr_engine_active",
            title=_("Graphics engine active"),
            metric="DCGM_FI_PROF_GR_ENGINE_ACTIVE",
            source_unit="ratio",
            unit=_("%"),
            scale=Fraction(100),
            dcp=True,
        ),
        Panel(
            key="tensor_active",
            title=_("Tensor cores active"),
            metric="DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
            source_unit="ratio",
            unit=_("%"),
            scale=Fraction(100),
            dcp=True,
        ),
        Panel(
            key="dram_active",
            title=_("Memory bandwidth active"),
            metric="DCGM_FI_PROF_DRAM_ACTIVE",
            source_unit="ratio",
            unit=_("%"),
            scale=Fraction(100),
            dcp=True,
        ),
        Panel(
            key="fb_used_percent",
            title=_("GPU memory used"),
            metric="DCGM_FI_DEV_FB_USED",
            source_unit="ratio",
            unit=_("%"),
            scale=Fraction(100),
            share_of="DCGM_FI_DEV_FB_FREE",
        ),
        Panel(
            key="fb_used",
            title=_("GPU memory used"),
            metric="DCGM_FI_DEV_FB_USED",
            source_unit="MiB",
            unit=_("GiB"),
            scale=Fraction(1, 1024),
        ),
        Panel(
            key="power",
            title=_("Power draw"),
            metric="DCGM_FI_DEV_POWER_USAGE",
            source_unit="W",
            unit=_("W"),
        ),
        Panel(
            key="temperature",
            title=_("GPU temperature"),
            metric="DCGM_FI_DEV_GPU_TEMP",
            source_unit="°C",
            unit=_("°C"),
        ),
        Panel(
            key="sm_clock",
            title=_("SM clock"),
            metric="DCGM_FI_DEV_SM_CLOCK",
            source_unit="MHz",
            unit=_("MHz"),
        ),
        Panel(
            key="energy",
            title=_("Energy"),
            metric="DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
            source_unit="mJ",
            unit=_("kWh"),
            scale=Fraction(1, MILLIJOULES_PER_KWH),
            counter=True,
        ),
    )
}

# What a VM page charts, in page order.
CHART_PANELS = tuple(key for key, panel in PANELS.items() if not panel.counter)


def panel(key: str) -> Panel:
    try:
        return PANELS[key]
    except KeyError:
        raise ValueError(f"unknown GPU panel {key!r}") from None
