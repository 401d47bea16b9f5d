"""The portal's figures against a real Prometheus loaded with the fixture history, compared
with the same figures computed in Python from the fixture data.

How Prometheus reads the data, mirrored by the Python side:
- An instant selector at time t takes the latest sample at or before t, if it is less than
  5 minutes old (the lookback); a missing scrape therefore repeats the previous value for up
  to 5 minutes. Chart points and subquery points (filtered utilisation, memory share) are read
  this way, so the Python side samples the fixture the same way (`sampled`).
- Range functions without a subquery (avg_over_time of power) see exactly the samples in the
  window: the Python side averages those samples.
Samples sit 10 s past the 30 s grid and queries run 15 s past it, so no sample is on a window
edge and those figures match to floating-point rounding. increase() is the exception: see
test_energy_kwh_per_vm."""

import bisect
import itertools
from datetime import UTC, datetime

import pytest

from monitoring import promql
from monitoring.prometheus import BAD_QUERY, Config, PrometheusError, PrometheusGateway, capture_queries
from tests.monitoring import dcgm_fixtures as fx

pytestmark = pytest.mark.prometheus

LOOKBACK = 300
REL = 1e-9


def at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def sampled(points: list[tuple[float, float]], instants) -> list[float | None]:
    """The series as Prometheus reads it at each instant: the latest sample at or before it,
    unless older than the lookback."""
    times = [ts for ts, _ in points]
    values = []
    for t in instants:
        position = bisect.bisect_right(times, t) - 1
        values.append(points[position][1] if position >= 0 and t - times[position] < LOOKBACK else None)
    return values


def subquery_instants(fleet, window: int) -> list[int]:
    """Where a `[window:30s]` subquery evaluated at the query time samples its inner query."""
    end = fleet.query_time
    return [t for t in range(int(end - window) // 30 * 30, int(end) + 1, 30) if end - window < t <= end]


def valid_util(points, instants) -> list[float]:
    return [v for v in sampled(points, instants) if v is not None and 0 <= v <= 100]


def mean(values):
    return sum(values) / len(values)


def by_vm(series) -> dict[tuple[str, str], float]:
    return {(s.labels["namespace"], s.labels["vm"]): s.points[0][1] for s in series}


def test_gpu_util_panel_is_one_query_for_all_gpus_with_garbage_dropped(fleet, gateway):
    end = fleet.query_time
    with capture_queries() as queries:
        chart = gateway.panel(
            "gpu_util", namespace=fx.TRAINING[0], vm=fx.TRAINING[1], start=at(end - 3600), end=at(end), width_px=120
        )
    assert len(queries) == 1
    assert gateway.attempts == 1
    assert chart["panel"] == "gpu_util" and chart["unit"] == "%"
    assert [(g["index"], g["uuid"], g["model"]) for g in chart["gpus"]] == [
        (str(gpu.index), gpu.uuid, gpu.model) for gpu in fx.TRAINING_GPUS
    ]
    points = fleet.points("DCGM_FI_DEV_GPU_UTIL", namespace=fx.TRAINING[0], vm=fx.TRAINING[1])
    for gpu, drawn in zip(fx.TRAINING_GPUS, chart["gpus"], strict=True):
        expected = [v if v is not None and v <= 100 else None for v in sampled(points[gpu.uuid], chart["timestamps"])]
        assert drawn["values"] == expected
        present = [v for v in expected if v is not None]
        assert drawn["avg"] == pytest.approx(mean(present), rel=REL)
        assert drawn["max"] == max(present)
        assert drawn["current"] == expected[-1]
    # The garbage sample leaves a gap rather than a spike or the previous value.
    garbage_step = chart["timestamps"].index(fleet.end_grid - fx.GARBAGE_AGO + 30)
    assert chart["gpus"][1]["values"][garbage_step] is None
    assert chart["gpus"][0]["values"][garbage_step] is not None


def test_chart_shows_a_reboot_gap_as_missing_points(fleet, gateway):
    reboot = fleet.end_grid - fx.REBOOT_AGO
    chart = gateway.panel(
        "power",
        namespace=fx.TRAINING[0],
        vm=fx.TRAINING[1],
        start=at(reboot - 1800),
        end=at(reboot + 1800),
        width_px=60,
    )
    assert chart["timestamps"][1] - chart["timestamps"][0] == 60
    points = fleet.points("DCGM_FI_DEV_POWER_USAGE", namespace=fx.TRAINING[0], vm=fx.TRAINING[1])
    for gpu, drawn in zip(fx.TRAINING_GPUS, chart["gpus"], strict=True):
        # 10 minutes without scrapes, 5 of which the lookback bridges.
        assert None in drawn["values"]
        assert drawn["values"] == sampled(points[gpu.uuid], chart["timestamps"])


def test_ratio_and_memory_panels_are_in_display_units(fleet, gateway):
    end = fleet.query_time
    window = dict(namespace=fx.INFERENCE[0], vm=fx.INFERENCE[1], start=at(end - 1800), end=at(end), width_px=60)
    gpu = fx.INFERENCE_GPU
    tensor = gateway.panel("tensor_active", **window)
    ratio = fleet.points("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", **fx_vm(fx.INFERENCE))[gpu.uuid]
    assert tensor["gpus"][0]["values"] == pytest.approx(
        [v * 100 for v in sampled(ratio, tensor["timestamps"])], rel=REL
    )

    memory = gateway.panel("fb_used_percent", **window)
    used = fleet.points("DCGM_FI_DEV_FB_USED", **fx_vm(fx.INFERENCE))[gpu.uuid]
    free = fleet.points("DCGM_FI_DEV_FB_FREE", **fx_vm(fx.INFERENCE))[gpu.uuid]
    assert memory["gpus"][0]["values"] == pytest.approx(
        [
            100 * u / (u + f)
            for u, f in zip(sampled(used, memory["timestamps"]), sampled(free, memory["timestamps"]), strict=True)
        ],
        rel=REL,
    )

    gib = gateway.panel("fb_used", **window)
    assert gib["unit"] == "GiB"
    assert gib["gpus"][0]["values"] == pytest.approx([u / 1024 for u in sampled(used, gib["timestamps"])], rel=REL)


def fx_vm(vm: tuple[str, str]) -> dict:
    return {"namespace": vm[0], "vm": vm[1]}


def test_gpu_without_dcp_fields_has_no_series(fleet, gateway):
    end = fleet.query_time
    window = dict(namespace=fx.IDLE[0], vm=fx.IDLE[1], start=at(end - 3600), end=at(end), width_px=120)
    assert gateway.panel("gr_engine_active", **window)["gpus"] == []
    assert [g["uuid"] for g in gateway.panel("gpu_util", **window)["gpus"]] == [fx.IDLE_GPU.uuid]


def test_week_chart_step_respects_the_point_limit(fleet, prometheus):
    # A one-second scrape interval and a very wide chart would ask for 600,000 points.
    gateway = PrometheusGateway(Config(url=prometheus.url, timeout_seconds=20, scrape_interval_seconds=1))
    end = fleet.query_time
    chart = gateway.panel(
        "gpu_util", namespace=fx.IDLE[0], vm=fx.IDLE[1], start=at(end - 7 * 86400), end=at(end), width_px=100_000
    )
    assert len(chart["timestamps"]) <= promql.MAX_POINTS_PER_SERIES
    assert len(chart["gpus"][0]["values"]) == len(chart["timestamps"])
    with pytest.raises(PrometheusError) as raised:
        gateway.range("DCGM_FI_DEV_GPU_UTIL", start=at(end - 7 * 86400), end=at(end), step_seconds=30)
    assert raised.value.kind == BAD_QUERY and not raised.value.retryable


@pytest.mark.parametrize("window", [3600, 86400, 7 * 86400])
def test_fleet_utilisation_average_and_maximum(fleet, gateway, window):
    with capture_queries() as queries:
        averages = by_vm(
            gateway.instant(promql.fleet_utilisation_average(window_seconds=window), at=at(fleet.query_time))
        )
        maxima = by_vm(
            gateway.instant(promql.fleet_utilisation_maximum(window_seconds=window), at=at(fleet.query_time))
        )
    assert len(queries) == 2  # whatever the number of VMs
    instants = subquery_instants(fleet, window)
    for vm in (fx.TRAINING, fx.INFERENCE, fx.IDLE):
        per_gpu = [
            valid_util(points, instants) for points in fleet.points("DCGM_FI_DEV_GPU_UTIL", **fx_vm(vm)).values()
        ]
        per_gpu = [values for values in per_gpu if values]
        assert averages[vm] == pytest.approx(mean([mean(values) for values in per_gpu]), rel=REL), vm
        assert maxima[vm] == max(max(values) for values in per_gpu), vm
    assert maxima[fx.TRAINING] <= 100


def test_fleet_memory_and_power(fleet, gateway):
    window = 3600
    memory = by_vm(gateway.instant(promql.fleet_memory_used_percent(window_seconds=window), at=at(fleet.query_time)))
    power = by_vm(gateway.instant(promql.fleet_power_watts(window_seconds=window), at=at(fleet.query_time)))
    instants = subquery_instants(fleet, window)
    for vm in (fx.TRAINING, fx.INFERENCE, fx.IDLE):
        used = fleet.points("DCGM_FI_DEV_FB_USED", **fx_vm(vm))
        free = fleet.points("DCGM_FI_DEV_FB_FREE", **fx_vm(vm))
        shares = [
            mean(
                [
                    100 * u / (u + f)
                    for u, f in zip(sampled(used[uuid], instants), sampled(free[uuid], instants), strict=True)
                ]
            )
            for uuid in used
        ]
        assert memory[vm] == pytest.approx(mean(shares), rel=REL), vm
        draws = fleet.points("DCGM_FI_DEV_POWER_USAGE", **fx_vm(vm)).values()
        expected = sum(
            mean([v for t, v in points if fleet.query_time - window <= t <= fleet.query_time]) for points in draws
        )
        assert power[vm] == pytest.approx(expected, rel=REL), vm


def counter_increase(points: list[tuple[float, float]]) -> float:
    """Counter semantics: a drop means the counter restarted from zero (a reboot)."""
    total = 0.0
    for (_, before), (_, after) in itertools.pairwise(points):
        total += after - before if after >= before else after
    return total


@pytest.mark.parametrize("window", [3600, 86400])
def test_energy_kwh_per_vm(fleet, gateway, window):
    """The expected energy is the counter's increase from the last sample before the window to
    the last one in it, reset at the reboot included (1-day window). increase() sees only the
    samples inside the window and extrapolates the ~30 s before the first one at the
    window's average rate, so it may differ by at most one scrape interval's energy."""
    end = fleet.query_time
    energy = by_vm(gateway.instant(promql.fleet_energy_kwh(window_seconds=window), at=at(end)))
    single = gateway.instant(promql.energy_kwh(**fx_vm(fx.TRAINING), window_seconds=window), at=at(end))
    assert single[0].points[0][1] == pytest.approx(energy[fx.TRAINING], rel=REL)
    for vm in (fx.TRAINING, fx.INFERENCE, fx.IDLE):
        expected = tolerance = 0.0
        for points in fleet.points("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", **fx_vm(vm)).values():
            first = bisect.bisect_right([t for t, _ in points], end - window) - 1
            span = [p for p in points[max(first, 0) :] if p[0] <= end]
            expected += counter_increase(span) / 3.6e9
            steps = [b - a for (_, a), (_, b) in itertools.pairwise(span) if b >= a]
            tolerance += max(steps) / 3.6e9
        assert energy[vm] == pytest.approx(expected, abs=tolerance), vm
        assert expected > 0


def test_exporter_up_tells_down_from_never_installed(fleet, gateway):
    up = by_vm(gateway.instant(promql.fleet_exporter_up(job=fx.JOB), at=at(fleet.query_time)))
    assert up[fx.TRAINING] == 1
    assert up[fx.EXPORTER_DOWN] == 0
    assert fx.NEVER_INSTALLED not in up
    single = gateway.instant(promql.exporter_up(**fx_vm(fx.EXPORTER_DOWN), job=fx.JOB), at=at(fleet.query_time))
    assert [s.points[0][1] for s in single] == [0]
    assert gateway.instant(promql.exporter_up(**fx_vm(fx.NEVER_INSTALLED), job=fx.JOB)) == []


def test_crafted_names_match_exactly_themselves(fleet, gateway):
    end = fleet.query_time
    window = dict(start=at(end - 600), end=at(end), width_px=20)
    chart = gateway.panel("gpu_util", **fx_vm(fx.CRAFTED), **window)
    assert [g["uuid"] for g in chart["gpus"]] == [fx.CRAFTED_GPU.uuid]
    assert set(chart["gpus"][0]["values"]) == {42.0}


# Names that, pasted into a selector without escaping, select other VMs' series.
ATTACKS = [
    ("tenant-beta", 'x"} or DCGM_FI_DEV_GPU_UTIL{vm=~".+'),
    ('x"} or DCGM_FI_DEV_GPU_UTIL{namespace=~"tenant-.*', "llm-train"),
]


@pytest.mark.parametrize(
    "namespace, vm",
    [
        *ATTACKS,
        ("tenant-beta", "inference-api\\"),
        ("tenant-beta", "inference-api\n"),
        ("tenant-beta", "inference-api.*"),
        ("tenant-beta", 'inference-api,vm!=""'),
    ],
)
def test_crafted_names_return_nothing_rather_than_other_vms(fleet, gateway, namespace, vm):
    end = fleet.query_time
    chart = gateway.panel("gpu_util", namespace=namespace, vm=vm, start=at(end - 600), end=at(end), width_px=20)
    assert chart["gpus"] == []


@pytest.mark.parametrize("namespace, vm", ATTACKS)
def test_unescaped_interpolation_would_leak_other_vms(fleet, gateway, namespace, vm):
    """Proof that the attacks above are real: interpolated raw, they return other VMs' data."""
    raw = f'DCGM_FI_DEV_GPU_UTIL{{namespace="{namespace}",vm="{vm}"}}'
    assert gateway.instant(raw, at=at(fleet.query_time)) != []


def test_bad_query_is_not_retried(gateway):
    with pytest.raises(PrometheusError) as raised:
        gateway.instant("sum(")
    assert raised.value.kind == BAD_QUERY and not raised.value.retryable
    assert "parse error" in raised.value.message
    assert gateway.attempts == 1


def test_reachable(gateway):
    assert gateway.reachable() == (True, "ok")
