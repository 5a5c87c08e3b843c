"""Detectors over recorded files: loaders, detect, NAB and SKAB scoring, tables, pictures."""

from __future__ import annotations
