"""PromQL built by pure functions: every query the portal sends is made here.

Label values come from the portal's own records (namespace and VM names) but are always
escaped, since prometheus-api-client does not: a name holding quotes, braces or backslashes
stays one literal string and cannot widen a selector to another tenant's VMs. Label names are
checked against the PromQL identifier syntax for the same reason."""

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

from monitoring.metrics import GPU_LABELS, UP_METRIC, Panel, panel

MAX_POINTS_PER_SERIES = 11_000
DEFAULT_SCRAPE_INTERVAL = 30

# Steps a chart may use, in seconds: round numbers a person reads on an axis. Consecutive
# values are at most about 2x apart, so rounding up keeps one point per 1-2 pixels.
NICE_STEPS = (
    1,
    2,
    3,
    5,
    10,
    15,
    20,
    30,
    60,
    120,
    180,
    300,
    600,
    900,
    1200,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
)
_DAY = 86400
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class LabelNames:
    """Labels the scrape configuration puts on every guest series (from Kubernetes metadata,
    never from the guest)."""

    namespace: str = "namespace"
    vm: str = "vm"

    def __post_init__(self):
        for name in (self.namespace, self.vm):
            if not _LABEL_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid Prometheus label name")
        if self.namespace == self.vm:
            raise ValueError("the namespace and VM labels must differ")


DEFAULT_LABELS = LabelNames()


@dataclass(frozen=True)
class PanelQuery:
    query: str
    start: datetime
    end: datetime
    step_seconds: int


def escape(value: str) -> str:
    """`value` as the body of a double-quoted PromQL string.

    Control characters become \\xNN escapes because a raw newline ends a PromQL string with a
    parse error, and other controls would be invisible in logs."""
    out = []
    for char in value:
        if char in ("\\", '"'):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def matcher(label: str, value: str) -> str:
    return f'{label}="{escape(value)}"'


def vm_selector(*, namespace: str, vm: str, labels: LabelNames = DEFAULT_LABELS) -> str:
    return "{" + matcher(labels.namespace, namespace) + "," + matcher(labels.vm, vm) + "}"


def fleet_selector(labels: LabelNames = DEFAULT_LABELS) -> str:
    # Series without both labels were not scraped through the portal's configuration and
    # cannot be attributed to a VM.
    return f'{{{labels.namespace}!="",{labels.vm}!=""}}'


def duration(seconds: int) -> str:
    """A PromQL duration in the largest unit that divides it: 604800 -> "7d"."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
        raise ValueError(f"a duration must be a positive whole number of seconds, not {seconds!r}")
    for unit, size in (("d", _DAY), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def choose_step(range_seconds: float, width_px: int, scrape_interval: int = DEFAULT_SCRAPE_INTERVAL) -> int:
    """Step of a range query drawn `width_px` wide: about one point per 1-2 pixels, never finer
    than the scrape interval (points in between would repeat samples), never more than the
    11,000 points per series Prometheus accepts, rounded up to a round number."""
    if range_seconds <= 0 or width_px <= 0 or scrape_interval <= 0:
        raise ValueError("range, width and scrape interval must be positive")
    # points = range // step + 1 must stay <= MAX_POINTS_PER_SERIES.
    floor_for_cap = range_seconds / (MAX_POINTS_PER_SERIES - 1)
    wanted = max(range_seconds / width_px, scrape_interval, floor_for_cap)
    for step in NICE_STEPS:
        if step >= wanted:
            return step
    return math.ceil(wanted / _DAY) * _DAY


def _scaled(expr: str, scale: Fraction) -> str:
    if scale.numerator != 1:
        expr = f"{expr} * {scale.numerator}"
    if scale.denominator != 1:
        expr = f"{expr} / {scale.denominator}"
    return expr


def _filtered(metric: str, selector: str, spec: Panel) -> str:
    expr = f"{metric}{selector}"
    if spec.valid_range is not None:
        low, high = spec.valid_range
        # Comparison without `bool` drops the sample; applied to the raw selector so no
        # average, maximum or chart ever sees a garbage value.
        expr = f"{expr} >= {low:g} <= {high:g}"
    return expr


def _per_gpu_value(spec: Panel, selector: str) -> str:
    """The panel's value per GPU series, in display units."""
    value = _filtered(spec.metric, selector, spec)
    if spec.share_of is not None:
        value = f"{value} / ({value} + {spec.share_of}{selector})"
    return value


def panel_expr(key: str, *, namespace: str, vm: str, labels: LabelNames = DEFAULT_LABELS) -> str:
    """All GPUs of one VM for one panel, one series per GPU keyed by UUID, in display units.

    Grouping by the GPU labels merges the series a GPU leaves behind when its VM restarts on
    another pod (different instance/pod labels) into one line."""
    spec = panel(key)
    if spec.counter:
        raise ValueError(f"{key!r} is a counter: use energy_kwh()")
    selector = vm_selector(namespace=namespace, vm=vm, labels=labels)
    grouped = f"max by ({', '.join(GPU_LABELS)}) ({_per_gpu_value(spec, selector)})"
    return _scaled(grouped, spec.scale)


def panel_query(
    key: str,
    *,
    namespace: str,
    vm: str,
    start: datetime,
    end: datetime,
    width_px: int,
    labels: LabelNames = DEFAULT_LABELS,
    scrape_interval: int = DEFAULT_SCRAPE_INTERVAL,
) -> PanelQuery:
    """What one chart panel asks Prometheus: one range query for all the VM's GPUs.

    Start and end are aligned to the step so a refreshed chart samples the same instants and
    its lines do not shift."""
    if end <= start:
        raise ValueError("the chart must end after it starts")
    step = choose_step((end - start).total_seconds(), width_px, scrape_interval)
    first = math.floor(start.timestamp() / step) * step
    last = math.ceil(end.timestamp() / step) * step
    # Alignment can add up to one step at each end; stay within Prometheus' point limit.
    if (last - first) // step + 1 > MAX_POINTS_PER_SERIES:
        last -= step
    return PanelQuery(
        query=panel_expr(key, namespace=namespace, vm=vm, labels=labels),
        start=datetime.fromtimestamp(first, tz=UTC),
        end=datetime.fromtimestamp(last, tz=UTC),
        step_seconds=step,
    )


def _over_window(function: str, spec: Panel, *, window_seconds: int, labels: LabelNames, scrape_interval: int) -> str:
    """`function` over the window of every GPU series of the fleet, in display units.

    A range selector takes only a plain series, so filtered or derived values go through a
    subquery sampled at the scrape interval; plain gauges use their raw samples."""
    if spec.counter:
        raise ValueError(f"{spec.key!r} is a counter: use fleet_energy_kwh()")
    window = duration(window_seconds)
    if spec.valid_range is None and spec.share_of is None:
        ranged = f"{spec.metric}{fleet_selector(labels)}[{window}]"
    else:
        ranged = f"({_per_gpu_value(spec, fleet_selector(labels))})[{window}:{duration(scrape_interval)}]"
    return _scaled(f"{function}({ranged})", spec.scale)


def _by_vm(labels: LabelNames) -> str:
    return f"by ({labels.namespace}, {labels.vm})"


def _per_gpu_mean(per_series: str, labels: LabelNames) -> str:
    """One value per GPU: a VM that restarted in the window left one series per virt-launcher
    pod for the same GPU, and adding or averaging those series as if they were GPUs would
    double its power or skew its average."""
    return f"avg by ({labels.namespace}, {labels.vm}, UUID) ({per_series})"


def fleet_average(
    key: str,
    *,
    window_seconds: int,
    labels: LabelNames = DEFAULT_LABELS,
    scrape_interval: int = DEFAULT_SCRAPE_INTERVAL,
) -> str:
    """Per VM: the mean over its GPUs of each GPU's mean over the window. One query for all VMs."""
    per_series = _over_window(
        "avg_over_time", panel(key), window_seconds=window_seconds, labels=labels, scrape_interval=scrape_interval
    )
    return f"avg {_by_vm(labels)} ({_per_gpu_mean(per_series, labels)})"


def fleet_maximum(
    key: str,
    *,
    window_seconds: int,
    labels: LabelNames = DEFAULT_LABELS,
    scrape_interval: int = DEFAULT_SCRAPE_INTERVAL,
) -> str:
    """Per VM: the highest value any of its GPUs reached in the window. One query for all VMs."""
    per_gpu = _over_window(
        "max_over_time", panel(key), window_seconds=window_seconds, labels=labels, scrape_interval=scrape_interval
    )
    return f"max {_by_vm(labels)} ({per_gpu})"


def fleet_utilisation_average(
    *, window_seconds: int, labels: LabelNames = DEFAULT_LABELS, scrape_interval: int = DEFAULT_SCRAPE_INTERVAL
) -> str:
    return fleet_average("gpu_util", window_seconds=window_seconds, labels=labels, scrape_interval=scrape_interval)


def fleet_utilisation_maximum(
    *, window_seconds: int, labels: LabelNames = DEFAULT_LABELS, scrape_interval: int = DEFAULT_SCRAPE_INTERVAL
) -> str:
    return fleet_maximum("gpu_util", window_seconds=window_seconds, labels=labels, scrape_interval=scrape_interval)


def fleet_memory_used_percent(
    *, window_seconds: int, labels: LabelNames = DEFAULT_LABELS, scrape_interval: int = DEFAULT_SCRAPE_INTERVAL
) -> str:
    return fleet_average(
        "fb_used_percent", window_seconds=window_seconds, labels=labels, scrape_interval=scrape_interval
    )


def fleet_power_watts(
    *, window_seconds: int, labels: LabelNames = DEFAULT_LABELS, scrape_interval: int = DEFAULT_SCRAPE_INTERVAL
) -> str:
    """Per VM: its mean total draw over the window (the sum over its GPUs, since the VM draws
    all of them at once)."""
    per_series = _over_window(
        "avg_over_time", panel("power"), window_seconds=window_seconds, labels=labels, scrape_interval=scrape_interval
    )
    return f"sum {_by_vm(labels)} ({_per_gpu_mean(per_series, labels)})"


def _energy(selector: str, window_seconds: int) -> str:
    spec = panel("energy")
    # increase() follows the counter across reboots (it restarts from zero at boot).
    increase = f"increase({spec.metric}{selector}[{duration(window_seconds)}])"
    return _scaled(increase, spec.scale)


def fleet_energy_kwh(*, window_seconds: int, labels: LabelNames = DEFAULT_LABELS) -> str:
    """Per VM: the energy its GPUs consumed over the window, in kWh."""
    return f"sum {_by_vm(labels)} ({_energy(fleet_selector(labels), window_seconds)})"


def energy_kwh(*, namespace: str, vm: str, window_seconds: int, labels: LabelNames = DEFAULT_LABELS) -> str:
    """Energy one VM's GPUs consumed over the window, in kWh (one value for the VM)."""
    selector = vm_selector(namespace=namespace, vm=vm, labels=labels)
    return f"sum ({_energy(selector, window_seconds)})"


def _up(job: str, *matchers: str) -> str:
    if job:
        matchers = (*matchers, matcher("job", job))
    return f"{UP_METRIC}{{{','.join(matchers)}}}"


def fleet_exporter_up(*, job: str, labels: LabelNames = DEFAULT_LABELS) -> str:
    """Per VM: 1 when its exporter answered the last scrape, 0 when it is down. A VM with no
    series at all was never scraped (exporter not installed or scrape not configured)."""
    up = _up(job, f'{labels.namespace}!=""', f'{labels.vm}!=""')
    return f"max {_by_vm(labels)} ({up})"


def exporter_up(*, namespace: str, vm: str, job: str, labels: LabelNames = DEFAULT_LABELS) -> str:
    """1, 0 or no value for one VM; see fleet_exporter_up()."""
    return f"max ({_up(job, matcher(labels.namespace, namespace), matcher(labels.vm, vm))})"


def fleet_gpu_hours_used(
    *, window_seconds: int, labels: LabelNames = DEFAULT_LABELS, scrape_interval: int = DEFAULT_SCRAPE_INTERVAL
) -> str:
    """Per VM: GPU-hours weighted by measured utilisation over the window. Each GPU's filtered
    utilisation is sampled once per scrape interval and counts as that share of one GPU for the
    interval (100 % for 30 s = 30 GPU-seconds), so a VM's figure is comparable with the
    GPU-hours it held. One query for all VMs."""
    inner = _per_gpu_value(panel("gpu_util"), fleet_selector(labels))
    window, step = duration(window_seconds), duration(scrape_interval)
    per_gpu = f"sum_over_time(({inner})[{window}:{step}])"
    # percent -> share (/ 100) and seconds -> hours (/ 3600)
    return f"sum {_by_vm(labels)} ({per_gpu}) * {scrape_interval} / 360000"
