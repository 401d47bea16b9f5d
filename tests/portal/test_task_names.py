"""Celery task names are a contract with the messages already queued: each task declares its
name, the worker registers exactly the documented list (hikube_portal.task_names), and beat
schedules only those."""

import ast
from pathlib import Path

from django.conf import settings

from hikube_portal import task_names
from hikube_portal.celery import app

REPOSITORY = Path(__file__).resolve().parents[2]
SOURCES = ("hikube_portal", "vms", "monitoring")


def test_the_worker_registers_exactly_the_documented_task_names():
    app.loader.import_default_modules()
    registered = {name for name in app.tasks if not name.startswith("celery.")}
    assert registered == task_names.ALL


def test_every_task_declares_its_name_rather_than_taking_its_module_path():
    undeclared = []
    for package in SOURCES:
        for path in (REPOSITORY / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef):
                    for decorator in node.decorator_list:
                        target = decorator.func if isinstance(decorator, ast.Call) else decorator
                        if getattr(target, "id", getattr(target, "attr", None)) in ("shared_task", "task") and not (
                            isinstance(decorator, ast.Call) and any(k.arg == "name" for k in decorator.keywords)
                        ):
                            undeclared.append(f"{path.relative_to(REPOSITORY)}:{node.name}")
    assert undeclared == []


def test_beat_schedules_only_documented_tasks():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= task_names.ALL
    assert {task_names.SYNC_CLUSTER, task_names.CHECK_IDLE_GPUS, task_names.ADVANCE_WAITLIST} <= scheduled
