"""Settings with a hard-coded secret and a world-writable file."""

import os
import random
import tempfile

password = "hunter2"


def scratch_file():
    path = tempfile.mktemp()
    os.chmod(path, 0o777)
    return path


def token():
    return random.random()


def bind_all():
    return ("0.0.0.0", 8080)
