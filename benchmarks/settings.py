"""The portal's settings plus the bare view of benchmarks/pages.py (benchmarks/urls.py)."""

from hikube_portal.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
