import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hikube_portal.settings")
application = get_wsgi_application()
# Import the URLconf, and with it every view and the clients they use, while the worker boots:
# left to a worker's first request, the imports made it wait 1.6 s, longer than the liveness
# probe allows, each time gunicorn started a worker.
import_module(settings.ROOT_URLCONF)
