"""Local replicas of the catalog Spaces, served by real Gradio, for tests and demos.

Importing this package does not import Gradio: :class:`ReplicaSet` starts the replicas in a
subprocess (any Python with Gradio installed), so the caller needs only the standard library.
"""

from .auto import REPLICA_ENV, Endpoints, spaces_or_replicas
from .process import ReplicaSet, ReplicaStartError

__all__ = ["REPLICA_ENV", "Endpoints", "ReplicaSet", "ReplicaStartError", "spaces_or_replicas"]
