import os
import resource

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventstream_site.settings")

from django.core.asgi import get_asgi_application

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

application = get_asgi_application()
