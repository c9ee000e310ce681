"""jwtguard's benchmark suite: ``python3 -m bench`` (``--quick`` for a smoke run).

Three parts, each a module with one ``run(settings)`` function returning plain,
JSON-serialisable results:

* :mod:`bench.micro` — µs per ``validate()`` against the crypto floor, minimal
  parsing and PyJWT, for fresh and repeated tokens;
* :mod:`bench.http_load` — requests per second behind uvicorn and gunicorn,
  with and without jwtguard;
* :mod:`bench.keyset` — key-set fetches under an unknown-``kid`` flood and a
  cold start.

:mod:`bench.report` turns the results into ``docs/performance.md`` and a chart.
"""
