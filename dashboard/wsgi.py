"""WSGI entry for gunicorn: `gunicorn dashboard.wsgi:server` (settings from the environment)."""
from dashboard import create_app

app = create_app()
server = app.server
