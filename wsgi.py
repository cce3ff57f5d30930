"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

import sys

from training_app import create_app
from training_app.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    sys.exit(f"Configuration error: {exc}")
