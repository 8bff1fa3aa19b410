"""config.wsgi with the test session's champion installed: the fault tests break databases,
brokers and processes, not the model registry, so the server loads the model from a file the
test wrote instead of from MLflow (seconds of imports per process saved)."""

import os
import pickle
from pathlib import Path

from config.wsgi import application  # noqa: F401  (what gunicorn serves)
from modeling.serving import set_scorer

set_scorer("personal-loan", pickle.loads(Path(os.environ["FAULTS_SCORER_FILE"]).read_bytes()))
