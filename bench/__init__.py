"""oddping's benchmark: generated captures, measurements side by side with a peer tool.

Run it with ``make bench`` or ``.venv/bin/python bench/run.py --help``; see bench/README.md.
"""
