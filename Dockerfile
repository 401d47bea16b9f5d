# One image for the web, worker and beat processes of the portal.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORTAL_VAR_DIR=/var/lib/portal
WORKDIR /app
# A fixed numeric user, so that Kubernetes can check runAsNonRoot (the chart runs as 10001).
RUN useradd --system --uid 10001 --user-group --create-home portal && mkdir -p /var/lib/portal \
    && chown portal /var/lib/portal

COPY pyproject.toml ./
RUN pip install --no-cache-dir .
COPY . .
RUN DEBUG=0 SECRET_KEY=build-only python manage.py collectstatic --no-input

USER 10001
EXPOSE 8000
CMD ["gunicorn", "hikube_portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
