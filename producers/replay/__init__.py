"""Replay recorded streams (NAB, SKAB, wide; CSV or Parquet) as readings and labels.

:mod:`~producers.replay.tables` reads raw rows, :mod:`~producers.replay.layouts` maps a row
to a reading (NAB, SKAB and wide layouts, column mapping), :mod:`~producers.replay.labels`
turns label columns and label files into :class:`~pipeline.messages.Label` records,
:mod:`~producers.replay.stream` puts it together (time range, looping) and
:mod:`~producers.replay.cli` is ``linewatch replay``.
"""
