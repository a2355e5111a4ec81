"""Excluded by [tool.bandit] exclude_dirs: its findings must not count."""

import subprocess


def run(command):
    return subprocess.Popen(command, shell=True)
