"""The seed catalogue as plain literal data.

Everything here comes from Hikube's French GPU VM API reference (the seed document), adjusted
where it disagrees with the real upstream API: the Cozystack charts' own values schemas, copied
in `vms/render/upstream_schemas/`. The initial migration loads a frozen copy of the
admin-editable parts (GPU models, instance types, images, storage classes, presets) into the
database; tests/vms/test_migrations.py says when the two drift apart. This module stays literal
data: lists of dicts of str/int/bool/None, no behaviour.

Texts are marked with gettext_noop: they are stored as written (English) and translated where
they are displayed.
"""

from django.utils.translation import gettext_noop as N_

# Headline figures as the seed lists them. The seed says "80 GB HBM3" for the H100 while the
# cluster resource Hikube documents is the 94 GB part: the seed's figures are kept as written
# and admins correct them in the catalogue if the hardware says otherwise.
GPU_MODELS = [
    {
        "slug": "L40S",
        "name": "NVIDIA L40S",
        "architecture": "Ada Lovelace",
        "memory_gb": 48,
        "memory_description": N_("48 GB GDDR6 with ECC"),
        "performance": "362 TOPS (INT8), 91.6 TFLOPs (FP32)",
        "typical_use": N_("Generative AI, real-time rendering, simulation"),
        "resource_name": "nvidia.com/AD102GL_L40S",
        "capacity": 8,
        "needs_approval": False,
        "price_per_gpu_hour": None,
    },
    {
        "slug": "A100",
        "name": "NVIDIA A100",
        "architecture": "Ampere",
        "memory_gb": 80,
        "memory_description": N_("80 GB HBM2e with ECC"),
        "performance": "312 TOPS (INT8), 624 TFLOPs (Tensor)",
        "typical_use": N_("AI training, high-performance computing"),
        "resource_name": "nvidia.com/GA100_A100_PCIE_80GB",
        "capacity": 8,
        "needs_approval": False,
        "price_per_gpu_hour": None,
    },
    {
        "slug": "H100",
        "name": "NVIDIA H100",
        "architecture": "Hopper",
        "memory_gb": 80,
        "memory_description": N_("80 GB HBM3 with ECC"),
        "performance": "1979 TOPS (INT8), 989 TFLOPs (Tensor)",
        "typical_use": N_("LLMs, transformers, exascale computing"),
        "resource_name": "nvidia.com/H100_94GB",
        "capacity": 8,
        # The seed warns that H100s are few and must be booked ahead and released quickly.
        "needs_approval": True,
        "price_per_gpu_hour": None,
    },
]

GPU_SERIES = [
    {
        "prefix": "g1",
        "gpus": 1,
        "title": N_("G1 (single GPU)"),
        "description": N_("Single-GPU workloads with balanced CPU and memory."),
    },
    {
        "prefix": "g2",
        "gpus": 2,
        "title": N_("G2 (dual GPU)"),
        "description": N_("Multi-GPU workloads with parallelisation."),
    },
    {
        "prefix": "g4",
        "gpus": 4,
        "title": N_("G4 (quad GPU)"),
        "description": N_("Intensive computing and training of complex models."),
    },
    {
        "prefix": "g8",
        "gpus": 8,
        "title": N_("G8 (octo GPU)"),
        "description": N_("LLM training and distributed computing."),
    },
]

# RAM in GiB: the seed writes "GB" and "TB" for what the cluster allocates in Gi.
INSTANCE_TYPES = [
    {"name": "g1.medium", "vcpu": 8, "ram_gib": 32, "gpus": 1},
    {"name": "g1.large", "vcpu": 16, "ram_gib": 64, "gpus": 1},
    {"name": "g1.xlarge", "vcpu": 32, "ram_gib": 128, "gpus": 1},
    {"name": "g1.2xlarge", "vcpu": 64, "ram_gib": 256, "gpus": 1},
    {"name": "g1.4xlarge", "vcpu": 128, "ram_gib": 512, "gpus": 1},
    {"name": "g2.large", "vcpu": 32, "ram_gib": 128, "gpus": 2},
    {"name": "g2.xlarge", "vcpu": 64, "ram_gib": 256, "gpus": 2},
    {"name": "g2.2xlarge", "vcpu": 128, "ram_gib": 512, "gpus": 2},
    {"name": "g2.4xlarge", "vcpu": 256, "ram_gib": 1024, "gpus": 2},
    {"name": "g4.xlarge", "vcpu": 64, "ram_gib": 256, "gpus": 4},
    {"name": "g4.2xlarge", "vcpu": 128, "ram_gib": 512, "gpus": 4},
    {"name": "g4.4xlarge", "vcpu": 256, "ram_gib": 1024, "gpus": 4},
    {"name": "g4.8xlarge", "vcpu": 512, "ram_gib": 2048, "gpus": 4},
    {"name": "g8.2xlarge", "vcpu": 128, "ram_gib": 512, "gpus": 8},
    {"name": "g8.4xlarge", "vcpu": 256, "ram_gib": 1024, "gpus": 8},
    {"name": "g8.8xlarge", "vcpu": 512, "ram_gib": 2048, "gpus": 8},
]

# The images of Cozystack's default collection (the legacy `systemDisk.image` enum, also listed
# in the vm-disk schema), each with the instance profile (preferences) it boots with and the
# user its cloud image creates. The software blocks install Ubuntu packages, hence the flag.
IMAGES = [
    {
        "slug": "ubuntu",
        "label": "Ubuntu",
        "profile": "ubuntu",
        "default_user": "ubuntu",
        "runs_software_blocks": True,
    },
    {
        "slug": "fedora",
        "label": "Fedora",
        "profile": "fedora",
        "default_user": "fedora",
        "runs_software_blocks": False,
    },
    {
        "slug": "alpine",
        "label": "Alpine Linux",
        "profile": "alpine",
        "default_user": "alpine",
        "runs_software_blocks": False,
    },
    {
        "slug": "cirros",
        "label": N_("CirrOS (test image)"),
        "profile": "cirros",
        "default_user": "cirros",
        "runs_software_blocks": False,
    },
    # Talos is configured through its own API, not cloud-init users; "" means no profile.
    {
        "slug": "talos",
        "label": "Talos Linux",
        "profile": "",
        "default_user": "talos",
        "runs_software_blocks": False,
    },
]

STORAGE_CLASSES = [
    {
        "name": "replicated",
        "label": N_("Replicated"),
        "guidance": N_(
            "Durable: replicated across nodes, survives the loss of a node. Use it for the system "
            "disk, datasets, models and checkpoints."
        ),
    },
    {
        "name": "local",
        "label": N_("Local NVMe"),
        "guidance": N_(
            "Very fast local NVMe, but lost with the node. Use it for scratch space, caches and "
            "temporary data you can rebuild."
        ),
    },
]

# Software blocks are cloud-config fragments merged by vms.spec.cloud_config. `requires` lists blocks
# that must run before; the order of this list is the order fragments are merged in, so every
# block comes after the blocks it requires. `default_user_groups` adds the VM's login user to
# groups the block creates (the user's name depends on the image, so it cannot be in the data).
SOFTWARE_BLOCKS = [
    {
        "slug": "nvidia-driver",
        "title": N_("NVIDIA driver and CUDA"),
        "description": N_(
            "NVIDIA's CUDA repository, the datacenter driver and the CUDA toolkit, with persistence "
            "mode on. Needed by every other GPU block."
        ),
        "requires": [],
        "default_user_groups": [],
        "cloud_config": {
            "package_update": True,
            "packages": ["curl", "wget", "build-essential", "dkms"],
            "runcmd": [
                # The seed pins ubuntu2204; the repository path follows the image's release instead.
                'distro=ubuntu$(. /etc/os-release; echo "$VERSION_ID" | tr -d .)',
                "wget -q https://developer.download.nvidia.com/compute/cuda/repos/${distro}/x86_64/"
                "cuda-keyring_1.1-1_all.deb -O /tmp/cuda-keyring.deb",
                "dpkg -i /tmp/cuda-keyring.deb",
                "apt-get update",
                "apt-get install -y cuda-toolkit cuda-drivers",
                "systemctl enable --now nvidia-persistenced",
                "nvidia-smi -pm 1",
            ],
        },
    },
    {
        "slug": "docker-nvidia",
        "title": N_("Docker with the NVIDIA container toolkit"),
        "description": N_("Docker Engine and the NVIDIA container toolkit, so containers can use the GPUs."),
        "requires": ["nvidia-driver"],
        "default_user_groups": ["docker"],
        "cloud_config": {
            "runcmd": [
                "curl -fsSL https://get.docker.com | sh",
                "curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey"
                " | gpg --dearmor -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg",
                # The seed's per-distribution list URL is retired upstream; "stable/deb" replaced it.
                "curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list"
                " | sed 's#deb https://#deb"
                " [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#g'"
                " | tee /etc/apt/sources.list.d/nvidia-container-toolkit.list",
                "apt-get update",
                "apt-get install -y nvidia-container-toolkit",
                "nvidia-ctk runtime configure --runtime=docker",
                "systemctl restart docker",
            ],
        },
    },
    {
        "slug": "python",
        "title": N_("Python virtual environment"),
        "description": N_(
            "A system-wide virtual environment in /opt/venv, first on everyone's PATH (recent Ubuntu "
            "refuses pip installs into the system Python)."
        ),
        "requires": [],
        "default_user_groups": [],
        "cloud_config": {
            "packages": ["python3-pip", "python3-venv"],
            "write_files": [
                {
                    "path": "/etc/profile.d/venv.sh",
                    "permissions": "0644",
                    "content": 'export PATH="/opt/venv/bin:$PATH"\n',
                },
            ],
            "runcmd": ["python3 -m venv /opt/venv", "/opt/venv/bin/pip install --upgrade pip"],
        },
    },
    {
        "slug": "deep-learning",
        "title": N_("Deep-learning stack (PyTorch, TensorFlow)"),
        "description": N_("PyTorch and TensorFlow with CUDA support, with the seed's GPU tuning variables."),
        "requires": ["nvidia-driver", "python"],
        "default_user_groups": [],
        "cloud_config": {
            "write_files": [
                {
                    "path": "/etc/environment",
                    "append": True,
                    "content": "CUDA_CACHE_PATH=/tmp\nPYTORCH_CUDA_ALLOC_CONF=max_split_size_mb:128\n",
                },
            ],
            "runcmd": [
                "/opt/venv/bin/pip install torch torchvision torchaudio"
                " --index-url https://download.pytorch.org/whl/cu126",
                "/opt/venv/bin/pip install 'tensorflow[and-cuda]'",
            ],
        },
    },
    {
        "slug": "jupyterlab",
        "title": N_("JupyterLab"),
        "description": N_(
            "JupyterLab in the Python environment. Reach it through an SSH tunnel rather than a public "
            "port: ssh -L 8888:localhost:8888."
        ),
        "requires": ["python"],
        "default_user_groups": [],
        "cloud_config": {"runcmd": ["/opt/venv/bin/pip install jupyterlab"]},
    },
    {
        "slug": "dcgm-exporter",
        "title": N_("GPU metrics (DCGM exporter)"),
        "description": N_(
            "NVIDIA's DCGM exporter on port 9400, which the portal's GPU charts read. Leave it on "
            "unless you run your own."
        ),
        "requires": ["docker-nvidia"],
        "default_user_groups": [],
        "cloud_config": {
            "runcmd": [
                # Pinned to the release whose metric names the portal's monitoring maps (4.9
                # renames them); restarts with Docker so charts survive a reboot.
                "docker run -d --name dcgm-exporter --restart unless-stopped --gpus all -p 9400:9400"
                " nvcr.io/nvidia/k8s/dcgm-exporter:4.5.3-4.8.2-ubuntu22.04",
            ],
        },
    },
]

# What a blank request form starts with (and what an omitted key means in a spec document).
FORM_DEFAULTS = {
    "instance_type": "g1.large",
    "gpu_model": "L40S",
    "image": "ubuntu",
    "system_disk_gib": 100,
    "system_disk_class": "replicated",
    "disk_class": "replicated",
    "public_ports": [22],
    "software": ["nvidia-driver", "dcgm-exporter"],
}

# The seed's storage layouts per use case (sizes in GiB).
STORAGE_LAYOUTS = [
    {
        "slug": "training",
        "title": N_("AI training"),
        "system_disk_gib": 200,
        "system_disk_class": "replicated",
        "disks": [
            {"name": "datasets", "size_gib": 5000, "storage_class": "replicated"},
            {"name": "checkpoints", "size_gib": 1000, "storage_class": "replicated"},
            {"name": "temp-data", "size_gib": 2000, "storage_class": "local"},
        ],
    },
    {
        "slug": "inference",
        "title": N_("Production inference"),
        "system_disk_gib": 100,
        "system_disk_class": "replicated",
        "disks": [{"name": "models", "size_gib": 500, "storage_class": "replicated"}],
    },
    {
        "slug": "rendering",
        "title": N_("3D rendering"),
        "system_disk_gib": 200,
        "system_disk_class": "replicated",
        "disks": [
            {"name": "scenes", "size_gib": 2000, "storage_class": "replicated"},
            {"name": "cache", "size_gib": 1000, "storage_class": "local"},
        ],
    },
]

# The seed's examples. Their instance types follow the seed's own best practices ("Bonnes
# Pratiques": "Utilisez 8-16 vCPU par GPU"; "Minimum 32GB RAM par GPU, 64-128GB pour
# entraînement"), which the request summary checks, rather than its YAML examples, whose
# g2.xlarge and g4.2xlarge (and g8.4xlarge) give 32 vCPUs per GPU: each preset keeps its GPUs
# with 16 vCPUs and 64 GiB of RAM per GPU. Migration 0011 moves existing installations' presets.
# Ports always include 22: with PortList forwarding, a port that is not listed is closed, and the
# seed's inference and rendering examples would be unreachable by SSH.
# The seed's `nvidia-cuda-toolkit` package (HPC example) is left out: the nvidia-driver block
# installs NVIDIA's own CUDA toolkit, and two toolkits on one PATH confuse builds.
PRESETS = [
    {
        "slug": "dual-a100",
        "title": N_("Dual A100"),
        "description": N_("Two A100s for multi-GPU work; checks the GPU topology at first boot."),
        "suggested_name": "dual-gpu-vm",
        "instance_type": "g2.large",
        "gpu_model": "A100",
        "system_disk_gib": 200,
        "system_disk_class": "replicated",
        "disks": [],
        "public_ports": [22],
        "software": ["nvidia-driver", "dcgm-exporter"],
        "cloud_config": {"runcmd": ["nvidia-smi", "nvidia-smi topo -m"]},
    },
    {
        "slug": "hpc-quad-h100",
        "title": N_("Quad H100 for HPC"),
        "description": N_("Four H100s with Open MPI for high-performance computing."),
        "suggested_name": "hpc-quad-gpu",
        "instance_type": "g4.xlarge",
        "gpu_model": "H100",
        "system_disk_gib": 500,
        "system_disk_class": "replicated",
        "disks": [],
        "public_ports": [22],
        "software": ["nvidia-driver", "dcgm-exporter"],
        "cloud_config": {
            "packages": ["openmpi-bin", "openmpi-common"],
            "runcmd": ["nvidia-smi", "mpirun --version"],
        },
    },
    {
        "slug": "llm-training",
        "title": N_("LLM training (8× H100)"),
        "description": N_(
            "Eight H100s with the deep-learning stack, and replicated disks for datasets and checkpoints."
        ),
        "suggested_name": "llm-training",
        "instance_type": "g8.2xlarge",
        "gpu_model": "H100",
        "system_disk_gib": 500,
        "system_disk_class": "replicated",
        "disks": [
            {"name": "datasets", "size_gib": 10000, "storage_class": "replicated"},
            {"name": "checkpoints", "size_gib": 5000, "storage_class": "replicated"},
        ],
        "public_ports": [22],
        "software": ["nvidia-driver", "docker-nvidia", "deep-learning", "dcgm-exporter"],
        "cloud_config": {},
    },
    {
        "slug": "inference-api",
        "title": N_("Inference API (L40S)"),
        "description": N_("One L40S serving a model over HTTP on port 8000, with TensorRT and FastAPI."),
        "suggested_name": "inference-api",
        "instance_type": "g1.large",
        "gpu_model": "L40S",
        "system_disk_gib": 200,
        "system_disk_class": "replicated",
        "disks": [],
        "public_ports": [22, 8000],
        "software": ["nvidia-driver", "python", "dcgm-exporter"],
        "cloud_config": {
            "runcmd": [
                "apt-get install -y tensorrt",
                "/opt/venv/bin/pip install fastapi uvicorn transformers",
            ],
        },
    },
    {
        "slug": "render-farm",
        "title": N_("Render farm (2× L40S)"),
        "description": N_("Two L40S with a minimal desktop, Blender and VNC on port 5900."),
        "suggested_name": "render-farm",
        "instance_type": "g2.large",
        "gpu_model": "L40S",
        "system_disk_gib": 500,
        "system_disk_class": "replicated",
        "disks": [],
        "public_ports": [22, 5900],
        "software": ["nvidia-driver", "dcgm-exporter"],
        "cloud_config": {
            "packages": ["ubuntu-desktop-minimal", "blender", "x11vnc"],
            "runcmd": ["systemctl set-default graphical.target"],
        },
    },
]

# The preset a newcomer's first page offers: one L40S, which needs no approver and is the most
# common request, so a first VM boots without waiting for anyone.
STARTER_PRESET = "inference-api"

# Bounds the portal enforces on requests; admins may later move them to settings.
LIMITS = {
    "min_system_disk_gib": 20,
    "min_disk_gib": 1,
    # The seed's LLM example asks for a 10000Gi datasets disk.
    "max_disk_gib": 16384,
    "max_disks": 8,
    "max_ports": 16,
    "max_ssh_keys": 16,
    "max_cloud_config_bytes": 16384,
    "max_justification_chars": 2000,
}
