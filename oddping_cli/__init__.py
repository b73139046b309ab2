"""The top layer: the ``oddping`` command line (``main.py``), which wires the producer, the
processors and the core package together.  Nothing imports it but the entry points."""
