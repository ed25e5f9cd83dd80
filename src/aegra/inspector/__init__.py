"""The inspector page: a static web app (source in `inspector/` at the repo root, built into `static/`)."""
