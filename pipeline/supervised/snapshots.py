"""The supervised state inside the per-asset snapshots of :mod:`pipeline.partitions`.

With supervision on, an asset's snapshot is an :class:`AssetSnapshot`: the detector's
``AssetState`` and the asset's :class:`~pipeline.supervised.supervisor.AssetSupervision`
(features, label buffer, alert policy). A snapshot of the earlier format (a bare
``AssetState``) still restores: the asset keeps its detector and its supervision starts
afresh. Each machine type's models are snapshotted under the key ``"\\0type:<type>"`` (not a
valid asset id) to every owned partition; on restore the copy that learned most is taken.
Anything else under such a key is refused (an error log line), and so are models of
another mode than the settings' (``fleet_model``, ``hierarchical``, per type: a warning;
those models start afresh).

Examples
--------
>>> from pipeline.settings import Settings
>>> from pipeline.supervised.supervisor import Supervisor
>>> supervisor = Supervisor(Settings.load(None, supervised={"enabled": True}))
>>> snapshots = SupervisedSnapshots(supervisor)
>>> bundle = snapshots.bundle("a", "detector state")
>>> snapshots.unbundle("a", bundle), snapshots.unbundle("b", "an old snapshot")
('detector state', 'an old snapshot')
>>> SupervisedSnapshots(None).bundle("a", "detector state")  # supervision off: old format
'detector state'
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.supervised.models import TypeModels
from pipeline.supervised.supervisor import SHARED_PREFIX, AssetSupervision, Supervisor

__all__ = ["AssetSnapshot", "SupervisedSnapshots"]
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AssetSnapshot:
    """Version 2 of an asset's snapshot: its detector state and its supervision."""

    model: Any
    supervised: AssetSupervision | None


class SupervisedSnapshots:
    """Bundle and unbundle the supervisor's state in the snapshots (``None``: supervision off)."""

    def __init__(self, supervisor: Supervisor | None) -> None:
        self.supervisor = supervisor

    def bundle(self, asset: str, state: Any) -> Any:
        """What to snapshot for ``asset`` whose detector state is ``state``."""
        if self.supervisor is None:
            return state
        return AssetSnapshot(state, self.supervisor.assets.get(asset))

    def unbundle(self, key: str, value: Any) -> Any:
        """The detector state to restore under ``key`` (``None``: a machine type's models)."""
        if key.startswith(SHARED_PREFIX):
            if not isinstance(value, TypeModels):
                logger.error("refused state %r: a %s, not a machine type's models", key,
                             type(value).__name__)  # fmt: skip
            elif self.supervisor is not None:
                self.supervisor.restore_shared(key, value)
            return None
        if not isinstance(value, AssetSnapshot):
            return value  # the format before supervision: the supervision starts afresh
        if self.supervisor is not None and value.supervised is not None:
            self.supervisor.assets[key] = value.supervised
        return value.model

    def shared(self) -> Iterator[tuple[str, TypeModels]]:
        """The machine types' models that changed since the last commit."""
        if self.supervisor is not None:
            yield from self.supervisor.shared_states()

    def drop(self, asset: str) -> None:
        """Forget an asset's supervision (its partition went away)."""
        if self.supervisor is not None:
            self.supervisor.assets.pop(asset, None)

    def clear_shared(self) -> None:
        """Forget the machine types' models (no partition owned)."""
        if self.supervisor is not None:
            self.supervisor.clear_shared()

    def clear_changed(self) -> None:
        """The changed models were committed (or discarded)."""
        if self.supervisor is not None:
            self.supervisor.changed.clear()
