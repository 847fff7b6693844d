"""Local replicas of the catalog Spaces, served by real Gradio, for tests and demos.

Importing this package does not import Gradio: :class:`ReplicaSet` starts the replicas in a
subprocess (any Python with Gradio installed), so the caller needs only the standard library.
"""

from .process import ReplicaSet, ReplicaStartError

__all__ = ["ReplicaSet", "ReplicaStartError"]
