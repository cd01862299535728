"""Drift monitoring: compare the data a model sees now with the data it was built on.

- :mod:`lockstep.monitor.sources` opens CSV and Parquet files, folders of them and
  fsspec URLs (the inference log of ``lockstep serve`` included) as a
  :class:`~lockstep.monitor.sources.TableSource` that reads one column at a time;
- :mod:`lockstep.monitor.stats` computes the statistics of one feature;
- :mod:`lockstep.monitor.thresholds` holds the limits a feature is judged by;
- :mod:`lockstep.monitor.drift` runs the comparison (:func:`~lockstep.monitor.drift.detect`)
  and gives each feature its verdict;
- :mod:`lockstep.monitor.distributed` spreads the features over a Dask cluster;
- :mod:`lockstep.monitor.report` writes the result as an HTML page or Markdown;
- :mod:`lockstep.monitor.performance` scores the model over time once ground truth
  arrives, from the same inference log.

Importing this package imports nothing heavy: numpy, pyarrow, pandas, scipy, Dask
and matplotlib are imported by the functions that need them.
"""
