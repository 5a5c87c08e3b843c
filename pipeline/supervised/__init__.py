"""Failure prediction learned online from delayed labels (``[supervised]`` settings).

The label join runs in the processor after the detector, one stage per module, in the order
the data flows:

====================  ===================================================================
module                job
====================  ===================================================================
``features.py``       per-asset features: channels against the asset's healthy level
``models.py``         river classifier (failure within H) and regressor per type (or pooled)
``buffer.py``         an asset's bounded buffer of scored vectors waiting for targets
``targets.py``        the targets a failure (or its absence) gives a buffered reading
``prequential.py``    test-then-train metrics: ROC AUC, precision, recall, F1, MAE, RMSE
``supervisor.py``     the join: predict, buffer, resolve, learn; fault-probability alerts
``snapshots.py``      the supervised state inside the signed per-asset snapshots
``metrics.py``        ``linewatch_supervised_*`` Prometheus metrics
====================  ===================================================================

See docs/supervised.md.
"""
