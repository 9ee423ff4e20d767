"""The client's address: forwarding headers count only from trusted proxies, walked from the right."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from ems.api.edge import client_address, forwarded_for, networks, parse_address
from ems.settings import Settings

PROXIES = ["10.0.0.0/8", "2001:db8:ffff::/48"]


def scope(peer: str | None, *headers: tuple[str, str]) -> dict:
    return {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": None if peer is None else (peer, 51234),
    }


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() -> None:
    spoofed = scope("203.0.113.5", ("X-Forwarded-For", "1.2.3.4"), ("Forwarded", "for=5.6.7.8"))
    assert client_address(spoofed, []) == "203.0.113.5"
    assert client_address(spoofed, PROXIES) == "203.0.113.5"  # the peer is no proxy of ours


def test_loopback_is_not_trusted_unless_configured() -> None:
    local = scope("127.0.0.1", ("X-Forwarded-For", "198.51.100.7"))
    assert client_address(local, []) == "127.0.0.1"
    assert client_address(local, ["127.0.0.1"]) == "198.51.100.7"


def test_behind_a_trusted_proxy_the_rightmost_untrusted_entry_is_the_client() -> None:
    # The client wrote "1.2.3.4" itself; our proxy appended the address it saw.
    request = scope("10.0.0.2", ("X-Forwarded-For", "1.2.3.4, 198.51.100.7"))
    assert client_address(request, PROXIES) == "198.51.100.7"


def test_trusted_hops_are_skipped_from_the_right() -> None:
    chain = scope("10.0.0.2", ("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.1.1.1, 10.2.2.2"))
    assert client_address(chain, PROXIES) == "198.51.100.7"
    two_lines = scope(
        "10.0.0.2", ("X-Forwarded-For", "6.6.6.6, 198.51.100.7"), ("X-Forwarded-For", "10.9.9.9")
    )
    assert client_address(two_lines, PROXIES) == "198.51.100.7"


def test_a_chain_of_only_proxies_gives_the_leftmost_and_no_header_gives_the_proxy() -> None:
    assert client_address(scope("10.0.0.2", ("X-Forwarded-For", "10.3.3.3, 10.4.4.4")), PROXIES) == "10.3.3.3"
    assert client_address(scope("10.0.0.2"), PROXIES) == "10.0.0.2"


def test_an_entry_that_is_no_address_stops_at_the_proxy_that_wrote_it() -> None:
    request = scope("10.0.0.2", ("X-Forwarded-For", "1.2.3.4, unknown, 10.5.5.5"))
    assert client_address(request, PROXIES) == "10.5.5.5"
    assert client_address(scope("10.0.0.2", ("X-Forwarded-For", "garbage")), PROXIES) == "10.0.0.2"


def test_only_the_configured_header_is_read() -> None:
    # A proxy appending to X-Forwarded-For passes a forged Forwarded header through, and vice versa.
    both = scope("10.0.0.2", ("X-Forwarded-For", "198.51.100.7"), ("Forwarded", "for=6.6.6.6"))
    assert client_address(both, PROXIES, "x-forwarded-for") == "198.51.100.7"
    rfc = scope(
        "10.0.0.2", ("X-Forwarded-For", "6.6.6.6"), ("Forwarded", 'for=6.6.6.6, for="198.51.100.7:4711"')
    )
    assert client_address(rfc, PROXIES, "forwarded") == "198.51.100.7"


def test_forwarded_elements_are_parsed_with_quotes_ports_and_other_parameters() -> None:
    header = (
        'for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711", by=10.0.0.1, for=_hidden'
    )
    assert forwarded_for([header]) == ["192.0.2.60", '"[2001:db8:cafe::17]:4711"', "", "_hidden"]
    via = scope("2001:db8:ffff::1", ("Forwarded", 'for="[2001:db8:cafe::17]:4711"'))
    assert client_address(via, PROXIES, "forwarded") == "2001:db8:cafe::17"
    hidden = scope("10.0.0.2", ("Forwarded", "for=198.51.100.7, for=_hidden"))
    assert client_address(hidden, PROXIES, "forwarded") == "10.0.0.2"


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1:8080 ", "192.0.2.1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ('"[2001:db8::1]"', "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("fe80::1%eth0", "fe80::1"),
        ("unknown", None),
        ("_obfuscated", None),
        ("[2001:db8::1", None),
        ("", None),
    ],
)
def test_addresses_are_normalised(text: str, address: str | None) -> None:
    parsed = parse_address(text)
    assert (None if parsed is None else str(parsed)) == address


def test_an_ipv4_mapped_peer_matches_ipv4_networks_and_requests_work_too() -> None:
    request = Request(scope("::ffff:10.0.0.2", ("X-Forwarded-For", "198.51.100.7")))
    assert client_address(request, networks(PROXIES)) == "198.51.100.7"
    assert client_address(scope(None, ("X-Forwarded-For", "198.51.100.7")), PROXIES) == ""


def test_trusted_proxies_come_from_the_settings_and_bad_networks_are_refused() -> None:
    settings = Settings(trusted_proxies=["10.0.0.0/8", " 192.0.2.10 "])
    assert [str(n) for n in networks(settings.trusted_proxies)] == ["10.0.0.0/8", "192.0.2.10/32"]
    with pytest.raises(ValueError, match=r"trusted proxy '10.0.0.1/8' is not a network"):
        Settings(trusted_proxies=["10.0.0.1/8"])
    with pytest.raises(ValueError, match="is not a network"):
        Settings(trusted_proxies=["localhost"])
