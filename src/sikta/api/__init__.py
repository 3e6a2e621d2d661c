"""The REST API (FastAPI): a thin adapter over :mod:`sikta.service`.

``create_app(workspace_path)`` builds the app; ``sikta serve`` runs it under
uvicorn. Auth and the workspace lock are in :mod:`sikta.api.deps`, the error
mapping in :mod:`sikta.api.errors`.
"""

from sikta.api.app import create_app

__all__ = ["create_app"]
