"""The Celery app of config.celery for a worker started by a fault test, with the test session's
champion installed (see tests/faults/wsgi.py) and, when the test asks for them, short Redis
redelivery timings (FAULTS_VISIBILITY_TIMEOUT) so that a message of a killed worker comes back
in seconds rather than after production's hour."""

import os
import pickle
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from config.celery import app  # noqa: E402
from modeling.serving import set_scorer, set_scorer_version  # noqa: E402

if os.environ.get("FAULTS_VISIBILITY_TIMEOUT"):
    app.conf.broker_transport_options = {
        "visibility_timeout": int(os.environ["FAULTS_VISIBILITY_TIMEOUT"]),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
set_scorer("personal-loan", pickle.loads(Path(os.environ["FAULTS_SCORER_FILE"]).read_bytes()))
if os.environ.get("FAULTS_CHALLENGER_FILE"):
    challenger = pickle.loads(Path(os.environ["FAULTS_CHALLENGER_FILE"]).read_bytes())
    set_scorer_version("personal-loan", challenger.model_version, challenger)
