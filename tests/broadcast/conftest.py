"""The fan-out tests' shared fixture: ``link``, a DTLS-connected server and viewer pair over
in-memory transports (tests.broadcast.transports) wrapped in test_fanout's :class:`Link`."""

import pytest

from tests.broadcast.test_fanout import Link
from tests.broadcast.transports import dtls_pair


@pytest.fixture
async def link():
    async with dtls_pair() as (server, viewer):
        lk = Link(server, viewer)
        try:
            yield lk
        finally:
            lk.close()
