import pytest

from wat_core import Driver


@pytest.fixture
def driver():
    made = []

    def make(*names, **opts):
        d = Driver(*names, **opts)
        made.append(d)
        return d
    yield make
    for d in made:
        d.close()
