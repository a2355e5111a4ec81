import pytest


@pytest.fixture
def broken_resource():
    raise RuntimeError("the resource could not be set up")
