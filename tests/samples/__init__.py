"""Sample projects (data for the code health tests).

A package so that pytest imports ``samples/conftest.py`` as ``samples.conftest``: as a bare
``conftest`` it would replace ``tests/conftest.py`` in ``sys.modules`` for test modules that
import helpers from it.
"""
