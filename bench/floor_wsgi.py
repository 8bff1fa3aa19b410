"""The floor served (issue 11): `bench.floor_wsgi:application` for granian or gunicorn.

Each worker sets Django up on the bench database and warms the floor (bench/floor.py: its
connection, the model, the statement) before it takes traffic; every POST is then one floor
operation, answered as the HTTP floor answers (bench/http_floor_app.py). The floor's table must
exist first: `python -m bench.floor create` (bench/load.py does it, and drops it after).
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from bench.floor import Floor  # noqa: E402  (after django.setup())
from bench.http_floor_app import make_app  # noqa: E402

_floor = Floor()
_floor()  # warm
application = make_app(_floor)
