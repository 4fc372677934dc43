"""Runnable shim: ``python cli.py fit data.csv`` is ``autometa fit data.csv``."""

from autometa.cli import entry

if __name__ == "__main__":
    entry()
