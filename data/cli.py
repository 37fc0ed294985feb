"""Shared command-line plumbing (DESIGN §7)."""
from __future__ import annotations

import argparse


class Parser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr and exit 2, not argparse's usage block."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see --help)\n")
