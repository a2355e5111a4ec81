"""Request handlers with deliberate security problems (sample data for bandit)."""

import hashlib
import pickle
import subprocess


def run(command):
    return subprocess.call(command, shell=True)


def run_reviewed(command):
    # Reviewed: the command is a constant chosen by the caller.
    return subprocess.call(command, shell=True)  # nosec B602


def load(blob):
    assert blob, "empty blob"
    return pickle.loads(blob)


def evaluate(expression):
    return eval(expression)


def evaluate_trusted(expression):
    return eval(expression)  # nosec


def fingerprint(data):
    return hashlib.md5(data).hexdigest()
