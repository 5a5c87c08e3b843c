"""Speed bench (issue 7): readings/s per core of linewatch against a naive loop and Quix Streams.

Run it with ``scripts/bench`` (see the README); ``python -m bench.speed --help`` lists the flags.
Every arm drains the same preloaded readings topic on the same broker into its own scores
topic, one score per reading, in a child process whose CPU seconds (user + system, from
``/proc``) are the cost. A hand-written batch loop (:mod:`bench.speed.handloop`) gives the
pass-through arm a yardstick measured in the same run. Results are appended to
``bench/RESULTS.md`` (:mod:`bench.speed.results`).
"""
