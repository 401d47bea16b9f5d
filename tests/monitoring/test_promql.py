"""PromQL builders and the metric table: pure functions, exact strings."""

import re
from datetime import UTC, datetime
from fractions import Fraction

import pytest

from monitoring import promql
from monitoring.metrics import CHART_PANELS, PANELS, panel

CUSTOM = promql.LabelNames(namespace="kubernetes_namespace", vm="kubevirt_vm")

# The rows of NVIDIA/dcgm-exporter etc/default-counters.csv and etc/dcp-metrics-included.csv
# (4.5.3-4.8.2, copied verbatim in the project's shared reference data) for every field the
# table uses: name, Prometheus type, help text with its unit.
UPSTREAM_ROWS = """
DCGM_FI_DEV_SM_CLOCK,  gauge, SM clock frequency (in MHz).
DCGM_FI_DEV_GPU_TEMP,    gauge, GPU temperature (in C).
DCGM_FI_DEV_POWER_USAGE,              gauge, Power draw (in W).
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION, counter, Total energy consumption since boot (in mJ).
DCGM_FI_DEV_GPU_UTIL,      gauge, GPU utilization (in %).
DCGM_FI_DEV_FB_FREE, gauge, Framebuffer memory free (in MiB).
DCGM_FI_DEV_FB_USED, gauge, Framebuffer memory used (in MiB).
DCGM_FI_PROF_GR_ENGINE_ACTIVE,   gauge, Ratio of time the graphics engine is active.
DCGM_FI_PROF_PIPE_TENSOR_ACTIVE, gauge, Ratio of cycles the tensor (HMMA) pipe is active.
DCGM_FI_PROF_DRAM_ACTIVE,        gauge, Ratio of cycles the device memory interface is active sending or receiving data.
"""


def upstream() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in UPSTREAM_ROWS.strip().splitlines():
        name, kind, help_text = (part.strip() for part in line.split(",", 2))
        match = re.search(r"\(in (\S+)\)", help_text)
        rows[name] = (kind, match.group(1) if match else "ratio")
    return rows


@pytest.mark.parametrize("key", PANELS)
def test_table_matches_the_exporter_fields(key):
    spec = PANELS[key]
    fields = upstream()
    kind, unit = fields[spec.metric]
    assert spec.counter == (kind == "counter")
    assert spec.dcp == spec.metric.startswith("DCGM_FI_PROF_")
    if spec.share_of:
        assert fields[spec.share_of][1] == fields[spec.metric][1]
    else:
        assert spec.source_unit == {"C": "°C"}.get(unit, unit)
    assert spec.key == key and str(spec.title) and str(spec.unit)


def test_table_units_and_scales():
    assert (str(panel("gpu_util").unit), panel("gpu_util").scale, panel("gpu_util").valid_range) == ("%", 1, (0, 100))
    assert (str(panel("gr_engine_active").unit), panel("gr_engine_active").scale) == ("%", 100)
    assert (str(panel("fb_used").unit), panel("fb_used").scale) == ("GiB", Fraction(1, 1024))
    assert (str(panel("energy").unit), panel("energy").scale) == ("kWh", Fraction(1, 3_600_000_000))
    assert "energy" not in CHART_PANELS and "gpu_util" in CHART_PANELS
    with pytest.raises(ValueError, match="unknown GPU panel"):
        panel("nope")


@pytest.mark.parametrize(
    "raw, escaped",
    [
        ("tenant-alpha", "tenant-alpha"),
        ('a"b', 'a\\"b'),
        ("a\\b", "a\\\\b"),
        ("end\\", "end\\\\"),
        ("a\nb", "a\\nb"),
        ("a\rb\tc\x00", "a\\x0db\\x09c\\x00"),
        ('{vm=~".+"}', '{vm=~\\".+\\"}'),
        ("näme 🚀 名前", "näme 🚀 名前"),
    ],
)
def test_escape(raw, escaped):
    assert promql.escape(raw) == escaped


def test_crafted_names_stay_one_string_in_the_selector():
    selector = promql.vm_selector(namespace='x"} or up{namespace=~".+', vm='v\\"}\n')
    assert selector == '{namespace="x\\"} or up{namespace=~\\".+",vm="v\\\\\\"}\\n"}'
    # Unescaped quotes are exactly the four that delimit the two values.
    assert len(re.findall(r'(?<!\\)(?:\\\\)*"', selector)) == 4


def test_label_names_are_checked():
    for bad in ("", "1abc", "name-with-dash", 'a"b', "a b", "ns}"):
        with pytest.raises(ValueError):
            promql.LabelNames(namespace=bad)
    with pytest.raises(ValueError, match="differ"):
        promql.LabelNames(namespace="x", vm="x")


@pytest.mark.parametrize(
    "seconds, text",
    [(30, "30s"), (90, "90s"), (60, "1m"), (5400, "90m"), (3600, "1h"), (86400, "1d"), (604800, "7d"), (90000, "25h")],
)
def test_duration(seconds, text):
    assert promql.duration(seconds) == text


@pytest.mark.parametrize("bad", [0, -30, 1.5, True])
def test_duration_rejects(bad):
    with pytest.raises(ValueError):
        promql.duration(bad)


@pytest.mark.parametrize(
    "range_seconds, width, scrape, step",
    [
        (3600, 1000, 30, 30),  # would be 3.6 s: floored at the scrape interval
        (3600, 60, 30, 60),
        (86400, 800, 30, 120),  # 108 s rounded up
        (6 * 3600, 1200, 30, 30),
        (7 * 86400, 1000, 30, 900),  # 605 s rounded up
        (30 * 86400, 1000, 30, 3600),
        (7 * 86400, 100_000, 1, 60),  # 11,000-point cap: at least 55 s
        (365 * 86400, 100_000, 30, 3600),
        (400 * 86400, 1, 30, 400 * 86400),
        (3600, 1000, 45, 60),  # an unusual scrape interval still gives a round step
    ],
)
def test_choose_step(range_seconds, width, scrape, step):
    assert promql.choose_step(range_seconds, width, scrape) == step


def test_choose_step_bounds_over_many_charts():
    for range_seconds in (60, 900, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400, 90 * 86400, 365 * 86400):
        for width in (1, 50, 320, 800, 1280, 1920, 3840, 20_000):
            for scrape in (1, 15, 30, 60):
                step = promql.choose_step(range_seconds, width, scrape)
                points = range_seconds // step + 1
                assert step >= scrape
                assert points <= promql.MAX_POINTS_PER_SERIES
                assert step in promql.NICE_STEPS or step % 86400 == 0
                floor = max(scrape, range_seconds / (promql.MAX_POINTS_PER_SERIES - 1))
                if range_seconds / width > floor:
                    # one point per 1 to 2 pixels when neither floor applies
                    assert width / 2 <= range_seconds / step <= width


@pytest.mark.parametrize("bad", [(0, 100), (3600, 0), (-1, 100)])
def test_choose_step_rejects(bad):
    with pytest.raises(ValueError):
        promql.choose_step(*bad)


VM = {"namespace": "tenant-alpha", "vm": "llm-train"}
SEL = '{namespace="tenant-alpha",vm="llm-train"}'
CSEL = '{kubernetes_namespace="tenant-alpha",kubevirt_vm="llm-train"}'
BY_GPU = "max by (UUID, gpu, modelName)"


@pytest.mark.parametrize(
    "key, expected",
    [
        ("gpu_util", f"{BY_GPU} (DCGM_FI_DEV_GPU_UTIL{SEL} >= 0 <= 100)"),
        ("gr_engine_active", f"{BY_GPU} (DCGM_FI_PROF_GR_ENGINE_ACTIVE{SEL}) * 100"),
        ("tensor_active", f"{BY_GPU} (DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{SEL}) * 100"),
        ("dram_active", f"{BY_GPU} (DCGM_FI_PROF_DRAM_ACTIVE{SEL}) * 100"),
        (
            "fb_used_percent",
            f"{BY_GPU} (DCGM_FI_DEV_FB_USED{SEL} / (DCGM_FI_DEV_FB_USED{SEL} + DCGM_FI_DEV_FB_FREE{SEL})) * 100",
        ),
        ("fb_used", f"{BY_GPU} (DCGM_FI_DEV_FB_USED{SEL}) / 1024"),
        ("power", f"{BY_GPU} (DCGM_FI_DEV_POWER_USAGE{SEL})"),
        ("temperature", f"{BY_GPU} (DCGM_FI_DEV_GPU_TEMP{SEL})"),
        ("sm_clock", f"{BY_GPU} (DCGM_FI_DEV_SM_CLOCK{SEL})"),
    ],
)
def test_panel_expr(key, expected):
    assert promql.panel_expr(key, **VM) == expected
    assert promql.panel_expr(key, **VM, labels=CUSTOM) == expected.replace(SEL, CSEL)


def test_every_chart_panel_has_a_query():
    for key in CHART_PANELS:
        assert promql.panel_expr(key, **VM).startswith(BY_GPU)
    with pytest.raises(ValueError, match="counter"):
        promql.panel_expr("energy", **VM)


def test_panel_query_aligns_to_the_step():
    start = datetime(2025, 3, 1, 10, 0, 7, tzinfo=UTC)
    end = datetime(2025, 3, 1, 16, 0, 7, tzinfo=UTC)
    query = promql.panel_query("power", **VM, start=start, end=end, width_px=600)
    assert query.step_seconds == 60
    assert query.start == datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)
    assert query.end == datetime(2025, 3, 1, 16, 1, 0, tzinfo=UTC)
    assert query.query == promql.panel_expr("power", **VM)
    with pytest.raises(ValueError):
        promql.panel_query("power", **VM, start=end, end=start, width_px=600)


def test_panel_query_alignment_never_exceeds_the_point_limit():
    start = datetime(2025, 1, 1, 0, 0, 7, tzinfo=UTC)
    # 10,999 steps minus 2 s: rounding both ends outwards would make 11,001 points.
    end = datetime.fromtimestamp(start.timestamp() + 10_999 * 60 - 2, tz=UTC)
    query = promql.panel_query("power", **VM, start=start, end=end, width_px=100_000, scrape_interval=60)
    points = (query.end - query.start).total_seconds() // query.step_seconds + 1
    assert query.step_seconds == 60 and points == promql.MAX_POINTS_PER_SERIES


FLEET = '{namespace!="",vm!=""}'
CFLEET = '{kubernetes_namespace!="",kubevirt_vm!=""}'
BY_VM = "by (namespace, vm)"
CBY_VM = "by (kubernetes_namespace, kubevirt_vm)"
PER_GPU = "avg by (namespace, vm, UUID)"
CPER_GPU = "avg by (kubernetes_namespace, kubevirt_vm, UUID)"


@pytest.mark.parametrize(
    "builder, expected",
    [
        (
            promql.fleet_utilisation_average,
            f"avg {BY_VM} ({PER_GPU} (avg_over_time((DCGM_FI_DEV_GPU_UTIL{FLEET} >= 0 <= 100)[7d:30s])))",
        ),
        (
            promql.fleet_utilisation_maximum,
            f"max {BY_VM} (max_over_time((DCGM_FI_DEV_GPU_UTIL{FLEET} >= 0 <= 100)[7d:30s]))",
        ),
        (
            promql.fleet_memory_used_percent,
            f"avg {BY_VM} ({PER_GPU} (avg_over_time((DCGM_FI_DEV_FB_USED{FLEET} / (DCGM_FI_DEV_FB_USED{FLEET}"
            f" + DCGM_FI_DEV_FB_FREE{FLEET}))[7d:30s]) * 100))",
        ),
        (promql.fleet_power_watts, f"sum {BY_VM} ({PER_GPU} (avg_over_time(DCGM_FI_DEV_POWER_USAGE{FLEET}[7d])))"),
        (
            promql.fleet_energy_kwh,
            f"sum {BY_VM} (increase(DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{FLEET}[7d]) / 3600000000)",
        ),
    ],
)
def test_fleet_builders(builder, expected):
    assert builder(window_seconds=7 * 86400) == expected
    custom = expected.replace(FLEET, CFLEET).replace(PER_GPU, CPER_GPU).replace(BY_VM, CBY_VM)
    assert builder(window_seconds=7 * 86400, labels=CUSTOM) == custom


def test_fleet_builders_follow_the_scrape_interval():
    assert promql.fleet_utilisation_average(window_seconds=3600, scrape_interval=15) == (
        f"avg {BY_VM} ({PER_GPU} (avg_over_time((DCGM_FI_DEV_GPU_UTIL{FLEET} >= 0 <= 100)[1h:15s])))"
    )
    assert promql.fleet_average("temperature", window_seconds=3600) == (
        f"avg {BY_VM} ({PER_GPU} (avg_over_time(DCGM_FI_DEV_GPU_TEMP{FLEET}[1h])))"
    )
    assert promql.fleet_maximum("tensor_active", window_seconds=3600) == (
        f"max {BY_VM} (max_over_time(DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{FLEET}[1h]) * 100)"
    )
    with pytest.raises(ValueError, match="counter"):
        promql.fleet_average("energy", window_seconds=3600)


def test_energy_of_one_vm():
    assert promql.energy_kwh(**VM, window_seconds=86400) == (
        f"sum (increase(DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{SEL}[1d]) / 3600000000)"
    )
    assert promql.energy_kwh(**VM, window_seconds=86400, labels=CUSTOM) == (
        f"sum (increase(DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{CSEL}[1d]) / 3600000000)"
    )


def test_exporter_up():
    assert promql.fleet_exporter_up(job="dcgm-exporter") == (
        f'max {BY_VM} (up{{namespace!="",vm!="",job="dcgm-exporter"}})'
    )
    assert promql.fleet_exporter_up(job="", labels=CUSTOM) == (
        f'max {CBY_VM} (up{{kubernetes_namespace!="",kubevirt_vm!=""}})'
    )
    assert promql.exporter_up(**VM, job="dcgm-exporter") == (
        'max (up{namespace="tenant-alpha",vm="llm-train",job="dcgm-exporter"})'
    )
    assert promql.exporter_up(namespace='a"', vm="b", job='j"', labels=CUSTOM) == (
        'max (up{kubernetes_namespace="a\\"",kubevirt_vm="b",job="j\\""})'
    )
