"""Study-log web tier; `from app.app import create_app` works from the repo root."""
