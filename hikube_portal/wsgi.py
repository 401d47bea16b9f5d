import os

from django.core.wsgi import get_wsgi_application
from django.urls import resolve

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hikube_portal.settings")
application = get_wsgi_application()
# Import the URLconf, and with it every view and the clients they use, while the worker boots:
# left to a worker's first request, the imports made it wait 1.6 s, longer than the liveness
# probe allows, each time gunicorn started a worker.
resolve("/livez")
