"""Chorus's benchmarks: the real bot against the tests' loopback fakes. ``python -m bench`` runs them all
(each in its own process) and prints one table; ``python -m bench --json`` prints one JSON object;
``python -m bench <name>`` runs one. See bench/registry.py for the list and the targets."""
