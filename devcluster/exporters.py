"""Simulated in-guest DCGM exporters and the Prometheus file_sd target file that points at them.

Every running VM with GPUs gets `/metrics/<namespace>/<vm>` on the exporter listener, in
dcgm-exporter's exposition format (metric names, units, types and labels of its
default-counters.csv, 4.8.x). Values are smooth functions of the guest's uptime and workload
profile, so tests can assert ranges.
"""

import json
import math
import os
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from devcluster.catalogue import gpu_model
from devcluster.errors import bad_request

DRIVER_VERSION = "550.54.15"
# dcgm-exporter sometimes reports this for GPU utilisation; dashboards must filter it out.
GARBAGE_UTILISATION = 4294967295
PROFILES = ("training", "inference", "idle")

# (field, Prometheus type, help, is a floating point field) in default-counters.csv order.
COUNTERS = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", False),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz).", False),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C).", False),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", False),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", True),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ).", False),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries.", False),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", False),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %).", False),
    ("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %).", False),
    ("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %).", False),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered.", False),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).", False),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", False),
    ("DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB).", False),
    (
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        "counter",
        "Total number of NVLink bandwidth counters for all lanes.",
        False,
    ),
    ("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU License status", False),
    ("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for uncorrectable errors", False),
    ("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for correctable errors", False),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed", False),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active.", True),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "Ratio of cycles the tensor (HMMA) pipe is active.", True),
    (
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "gauge",
        "Ratio of cycles the device memory interface is active sending or receiving data.",
        True,
    ),
    (
        "DCGM_FI_PROF_PCIE_TX_BYTES",
        "gauge",
        "The rate of data transmitted over the PCIe bus - including both "
        "protocol headers and data payloads - in bytes per second.",
        False,
    ),
    (
        "DCGM_FI_PROF_PCIE_RX_BYTES",
        "gauge",
        "The rate of data received over the PCIe bus - including both "
        "protocol headers and data payloads - in bytes per second.",
        False,
    ),
)
RESERVED_MIB = 512


def workload(profile: str, uptime: float, seed: float) -> dict:
    """Activity shares (0 to 1) for one GPU: compute, memory footprint, tensor and DRAM activity."""
    wave = math.sin(uptime / 7 + seed)
    slow_wave = math.sin(uptime / 31 + seed)
    if profile == "training":
        compute = 0.92 + 0.06 * wave
        return {
            "compute": compute,
            "memory": 0.82 + 0.08 * slow_wave,
            "tensor": 0.65 + 0.1 * wave,
            "dram": 0.6 + 0.1 * slow_wave,
            "pcie": 0.3,
        }
    if profile == "inference":
        # Requests arrive in bursts: busy for 6 s out of every 20 s.
        busy = (uptime + seed * 3) % 20 < 6
        compute = 0.8 + 0.15 * wave if busy else 0.03 + 0.02 * wave
        return {
            "compute": compute,
            "memory": 0.55 + 0.02 * slow_wave,
            "tensor": compute * 0.6,
            "dram": compute * 0.5,
            "pcie": 0.15 if busy else 0.01,
        }
    return {"compute": 0.0, "memory": 0.0, "tensor": 0.0, "dram": 0.0, "pcie": 0.0}


class GuestFaults:
    def __init__(self):
        self.profile: str | None = None
        self.garbage_samples = 0
        self.drop_dcp = False
        self.down = False

    def as_dict(self) -> dict:
        return {
            "profile": self.profile,
            "garbage_util": self.garbage_samples,
            "drop_dcp": self.drop_dcp,
            "down": self.down,
        }


class ExporterRegistry:
    def __init__(self, *, host: str, port: int, file_sd_path: Path | None):
        self.address = f"{host}:{port}"
        self.file_sd_path = file_sd_path
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.guests = {}
            self.faults: dict[tuple[str, str], GuestFaults] = {}
            self.energy: dict[tuple[str, int], tuple[float, float]] = {}
        self._write_file_sd([])

    def set_guests(self, guests) -> None:
        with self.lock:
            self.guests = {(guest.namespace, guest.vm): guest for guest in guests}
            live = {guest.uid for guest in guests}
            self.energy = {key: value for key, value in self.energy.items() if key[0] in live}
        self._write_file_sd(guests)

    def set_faults(self, changes: dict) -> dict:
        namespace, vm = changes.get("namespace"), changes.get("vm")
        if not namespace or not vm:
            raise bad_request("exporter faults need namespace and vm")
        unknown = set(changes) - {"namespace", "vm", "profile", "garbage_util", "drop_dcp", "down"}
        if unknown:
            raise bad_request(f"unknown exporter fault(s): {', '.join(sorted(unknown))}")
        if changes.get("profile") not in (None, *PROFILES):
            raise bad_request(f"profile must be one of {', '.join(PROFILES)}")
        with self.lock:
            faults = self.faults.setdefault((namespace, vm), GuestFaults())
            if "profile" in changes:
                faults.profile = changes["profile"]
            if "garbage_util" in changes:
                value = changes["garbage_util"]
                # true means one garbage sample; a number means that many.
                faults.garbage_samples = int(value)
            for flag in ("drop_dcp", "down"):
                if flag in changes:
                    setattr(faults, flag, bool(changes[flag]))
            return faults.as_dict()

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "address": self.address,
                "file_sd": str(self.file_sd_path) if self.file_sd_path else None,
                "targets": [f"/metrics/{namespace}/{vm}" for namespace, vm in sorted(self.guests)],
                "faults": {f"{namespace}/{vm}": faults.as_dict() for (namespace, vm), faults in self.faults.items()},
            }

    def _write_file_sd(self, guests) -> None:
        if self.file_sd_path is None:
            return
        groups = [
            {
                "targets": [self.address],
                "labels": {
                    "__metrics_path__": f"/metrics/{guest.namespace}/{guest.vm}",
                    "namespace": guest.namespace,
                    "vm": guest.vm,
                },
            }
            for guest in sorted(guests, key=lambda g: (g.namespace, g.vm))
        ]
        self.file_sd_path.parent.mkdir(parents=True, exist_ok=True)
        # Prometheus watches the file: it must never see a half-written one.
        descriptor, temporary = tempfile.mkstemp(dir=self.file_sd_path.parent, suffix=".tmp")
        with os.fdopen(descriptor, "w") as handle:
            json.dump(groups, handle, indent=2)
        os.replace(temporary, self.file_sd_path)

    def render(self, namespace: str, vm: str) -> tuple[int, str]:
        with self.lock:
            guest = self.guests.get((namespace, vm))
            if guest is None:
                return 404, f"no running GPU guest {namespace}/{vm}\n"
            faults = self.faults.get((namespace, vm)) or GuestFaults()
            if faults.down:
                return 503, "dcgm-exporter is not answering\n"
            garbage = faults.garbage_samples > 0
            if garbage:
                faults.garbage_samples -= 1
            profile = faults.profile or guest.profile
            now = time.time()
            uptime = max(0.0, now - guest.started_at)
            samples = [
                self._sample(guest, index, resource, profile, uptime, now)
                for index, resource in enumerate(guest.gpu_resources)
            ]
        if garbage:
            samples[0]["DCGM_FI_DEV_GPU_UTIL"] = GARBAGE_UTILISATION
        lines = []
        for field, metric_type, help_text, is_float in COUNTERS:
            if faults.drop_dcp and field.startswith("DCGM_FI_PROF_"):
                continue
            lines.append(f"# HELP {field} {help_text}")
            lines.append(f"# TYPE {field} {metric_type}")
            for sample in samples:
                value = sample[field]
                lines.append(f"{field}{{{sample['labels']}}} {f'{value:f}' if is_float else int(value)}")
        return 200, "\n".join(lines) + "\n"

    def _sample(self, guest, index: int, resource: str, profile: str, uptime: float, now: float) -> dict:
        model = gpu_model(resource)
        seed = (zlib.crc32(f"{guest.uid}/{index}".encode()) % 1000) / 159.0
        activity = workload(profile, uptime, seed)
        compute = min(1.0, max(0.0, activity["compute"]))
        power = model.idle_power_w + (model.max_power_w - model.idle_power_w) * compute * 0.9
        last = self.energy.get((guest.uid, index))
        if last is None:
            energy = model.idle_power_w * uptime * 1000
        else:
            energy = last[1] + power * max(0.0, now - last[0]) * 1000
        self.energy[(guest.uid, index)] = (now, energy)
        used = 1 if profile == "idle" else int((model.memory_mib - RESERVED_MIB) * activity["memory"])
        temperature = 30 + 45 * compute + 2 * math.sin(uptime / 13 + seed)
        labels = (
            f'gpu="{index}",UUID="{gpu_uuid(guest.namespace, guest.vm, index)}",'
            f'pci_bus_id="{pci_bus_id(index)}",device="nvidia{index}",'
            f'modelName="{model.model_name}",Hostname="{guest.hostname}",'
            f'DCGM_FI_DRIVER_VERSION="{DRIVER_VERSION}"'
        )
        pcie_rate = 25e9 * activity["pcie"]
        return {
            "labels": labels,
            "DCGM_FI_DEV_SM_CLOCK": model.idle_sm_clock_mhz if compute < 0.05 else model.max_sm_clock_mhz,
            "DCGM_FI_DEV_MEM_CLOCK": model.memory_clock_mhz,
            "DCGM_FI_DEV_MEMORY_TEMP": temperature + 4,
            "DCGM_FI_DEV_GPU_TEMP": temperature,
            "DCGM_FI_DEV_POWER_USAGE": power,
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": energy,
            "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": 0,
            "DCGM_FI_DEV_GPU_UTIL": round(compute * 100),
            "DCGM_FI_DEV_MEM_COPY_UTIL": round(activity["dram"] * 100),
            "DCGM_FI_DEV_ENC_UTIL": 0,
            "DCGM_FI_DEV_DEC_UTIL": 0,
            "DCGM_FI_DEV_XID_ERRORS": 0,
            "DCGM_FI_DEV_FB_FREE": model.memory_mib - RESERVED_MIB - used,
            "DCGM_FI_DEV_FB_USED": used,
            "DCGM_FI_DEV_FB_RESERVED": RESERVED_MIB,
            "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL": 0,
            "DCGM_FI_DEV_VGPU_LICENSE_STATUS": 0,
            "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS": 0,
            "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS": 0,
            "DCGM_FI_DEV_ROW_REMAP_FAILURE": 0,
            "DCGM_FI_PROF_GR_ENGINE_ACTIVE": compute,
            "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": min(1.0, max(0.0, activity["tensor"])),
            "DCGM_FI_PROF_DRAM_ACTIVE": min(1.0, max(0.0, activity["dram"])),
            "DCGM_FI_PROF_PCIE_TX_BYTES": pcie_rate * 0.4,
            "DCGM_FI_PROF_PCIE_RX_BYTES": pcie_rate,
        }


def gpu_uuid(namespace: str, vm: str, index: int) -> str:
    """The simulated UUID of a VM's GPU `index`: fixed by where it serves, not by which app object
    runs it, so a demo's backfilled history (vms.management.demo, which uses the same formula) and the live
    series are one series per GPU."""
    key = f"{namespace}/{vm}"
    uuid_hex = f"{zlib.crc32(f'{key}/{index}'.encode()):08x}{zlib.crc32(key.encode()):08x}"
    return f"GPU-{uuid_hex[:8]}-{uuid_hex[8:12]}-{uuid_hex[12:16]}-{uuid_hex[:4]}-{uuid_hex[4:16]}"


def pci_bus_id(index: int) -> str:
    return f"00000000:{index + 6:02X}:00.0"


class ExporterServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, registry: ExporterRegistry):
        super().__init__(address, ExporterHandler)
        self.registry = registry


class ExporterHandler(BaseHTTPRequestHandler):
    server: ExporterServer

    def log_message(self, format, *args):
        return

    def do_GET(self):
        parts = [part for part in self.path.split("?")[0].split("/") if part]
        if len(parts) == 3 and parts[0] == "metrics":
            code, text = self.server.registry.render(parts[1], parts[2])
        else:
            code, text = 404, "use /metrics/<namespace>/<vm>\n"
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
