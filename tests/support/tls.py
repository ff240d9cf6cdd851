"""TLS for the tests' https servers: one throwaway certificate authority per test run (trustme), certificates
it issues for whatever names a test serves, and its certificate as the file a client is told to trust.
A pytest plugin (tests/conftest.py loads its fixtures).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from tests.support.services import LOOPBACK


@pytest.fixture(scope="session")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(certificate_authority: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The authority's certificate in PEM, for settings such as VIDEOJOBS_FETCH_CA_FILE."""
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(path))
    return path


def server_tls(authority: trustme.CA, *hostnames: str) -> ssl.SSLContext:
    """A server context with a certificate for `hostnames` and the loopback address."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert(*hostnames, LOOPBACK).configure_cert(context)
    return context
