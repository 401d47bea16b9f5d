"""Figures the monitoring tests expect, computed in Python from the fixture history the way
Prometheus reads it (see test_prometheus_live's module docstring)."""

from datetime import UTC, datetime

from tests.monitoring.test_prometheus_live import mean, subquery_instants, valid_util


def at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def expected_average(fleet, vm, window):
    per_gpu = [
        valid_util(points, subquery_instants(fleet, window))
        for points in fleet.points("DCGM_FI_DEV_GPU_UTIL", namespace=vm[0], vm=vm[1]).values()
    ]
    per_gpu = [values for values in per_gpu if values]
    return mean([mean(values) for values in per_gpu]) if per_gpu else None


def expected_maximum(fleet, vm, window):
    per_gpu = [
        valid_util(points, subquery_instants(fleet, window))
        for points in fleet.points("DCGM_FI_DEV_GPU_UTIL", namespace=vm[0], vm=vm[1]).values()
    ]
    return max(max(values) for values in per_gpu if values)
