"""Print the Procfile `make run` starts: web, Celery worker and beat, and the development
cluster and Prometheus once they exist in this checkout."""

import sys

PROCESSES = {
    "web": "python manage.py runserver 127.0.0.1:8000 --noreload",
    "worker": "celery -A hikube_portal worker --loglevel=INFO --concurrency=2",
    "beat": "celery -A hikube_portal beat --loglevel=INFO --schedule var/celerybeat-schedule",
}


def main():
    python_bin = sys.executable.rsplit("/", 1)[0]
    for name, command in PROCESSES.items():
        print(f"{name}: {python_bin}/{command}")


if __name__ == "__main__":
    main()
