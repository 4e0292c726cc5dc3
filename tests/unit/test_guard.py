import asyncio
import ipaddress
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadworker.scrape.guard import ForbiddenTarget, GuardedResolver, NetworkGuard, is_public_address


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://[::1]/",
        "http://192.168.0.1:8080/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "file:///etc/passwd",
        "gopher://x/",
    ],
)
def test_forbidden_urls(url: str) -> None:
    with pytest.raises(ForbiddenTarget):
        NetworkGuard(allow_private=False).check_url(url)


def test_public_and_allowed() -> None:
    assert NetworkGuard(allow_private=False).check_url("http://93.184.216.34/") == "93.184.216.34"
    assert NetworkGuard(allow_private=True).check_url("http://127.0.0.1:8080/") == "127.0.0.1"
    guard = NetworkGuard(allow_private=False)
    assert guard.check_url("https://Example.COM./a") == "example.com"
    assert guard.check_url("http://münchen.de/") == "xn--mnchen-3ya.de"  # IDN names are names, not addresses
    assert guard.check_url("http://123.example.com/") == "123.example.com"  # a numeric label that is not last
    assert guard.check_url("http://[2606:4700::1111]/") == "2606:4700::1111"


def test_resolver_override_and_refusal() -> None:
    guard = NetworkGuard(allow_private=False, overrides={"acme.test": "127.0.0.1", "pub.test": "93.184.216.34"})

    async def go() -> None:
        resolver = GuardedResolver(guard)
        with pytest.raises(ForbiddenTarget, match="not a public address"):
            await resolver.resolve("acme.test", 80)
        (result,) = await resolver.resolve("pub.test", 80)
        assert result["host"] == "93.184.216.34"
        with pytest.raises(ForbiddenTarget):
            await resolver.resolve("localhost", 80)
        await resolver.close()

    asyncio.run(go())


# Spellings of 127.0.0.1 that HTTP clients or resolvers turn into the address itself (issue: the guard read the
# string, the client connected to the address).
LOOPBACK_SPELLINGS = [
    "http://１２７.０.０.１/",  # fullwidth digits: IDNA maps them to ASCII
    "http://127。0。0。1/",  # ideographic full stop
    "http://127．0．0．1/",  # fullwidth full stop
    "http://127｡0｡0｡1/",  # halfwidth ideographic full stop
    "http://⑫⑦.0.0.1/",  # enclosed numbers, NFKC-mapped
    "http://2130706433/",  # the address as one integer
    "http://127.1/",  # short forms
    "http://127.0.1/",
    "http://0177.0.0.1/",  # octal
    "http://0x7f.0.0.1/",  # hexadecimal
    "http://0x7f000001/",
    "http://0X7F.1/",
    "http://127.0.0.1./",  # trailing dot
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
    "http://[::1]/",
    "http://0/",  # 0.0.0.0 reaches the local host on Linux
]


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS)
def test_spellings_of_an_address_are_refused(url: str) -> None:
    with pytest.raises(ForbiddenTarget):
        NetworkGuard(allow_private=False).check_url(url)


@pytest.mark.parametrize("url", ["http://2130706433/", "http://0x7f.1/", "http://１２７.０.０.１/"])
def test_ambiguous_spellings_are_refused_even_where_private_networks_are_allowed(url: str) -> None:
    with pytest.raises(ForbiddenTarget, match=r"numeric spelling|read by HTTP clients"):
        NetworkGuard(allow_private=True).check_url(url)


def test_six_to_four_and_nat64_are_judged_by_the_address_they_carry() -> None:
    assert not is_public_address(ipaddress.ip_address("2002:7f00:1::"))  # 6to4 of 127.0.0.1
    assert not is_public_address(ipaddress.ip_address("2002:a00:1::"))  # 6to4 of 10.0.0.1
    assert is_public_address(ipaddress.ip_address("2002:5db8:d822::"))  # 6to4 of 93.184.216.34
    assert not is_public_address(ipaddress.ip_address("64:ff9b::a9fe:a9fe"))  # NAT64 of the metadata address
    assert is_public_address(ipaddress.ip_address("2606:4700::1111"))


def test_allowed_networks_open_only_what_they_name() -> None:
    guard = NetworkGuard(allow_private=False, allowed_networks=["127.0.0.2/32"])
    guard.check_url("http://127.0.0.2:8080/")
    with pytest.raises(ForbiddenTarget):
        guard.check_url("http://127.0.0.1:8080/")
    with pytest.raises(ForbiddenTarget):
        guard.check_connect("127.0.0.3")


def test_the_socket_factory_refuses_before_a_socket_exists() -> None:
    guard = NetworkGuard(allow_private=False)
    with pytest.raises(ForbiddenTarget, match=r"refusing to connect to 127\.0\.0\.1"):
        guard.open_socket((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)))
    with pytest.raises(ForbiddenTarget):
        guard.open_socket((socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::ffff:10.0.0.1", 80, 0, 0)))
    sock = guard.open_socket((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80)))
    sock.close()


# --- fuzzing: any spelling of a private address is refused ---------------------------------------------------

PRIVATE_V4 = st.one_of(
    st.ip_addresses(v=4, network="127.0.0.0/8"),
    st.ip_addresses(v=4, network="10.0.0.0/8"),
    st.ip_addresses(v=4, network="172.16.0.0/12"),
    st.ip_addresses(v=4, network="192.168.0.0/16"),
    st.ip_addresses(v=4, network="169.254.0.0/16"),
    st.ip_addresses(v=4, network="100.64.0.0/10"),
    st.ip_addresses(v=4, network="0.0.0.0/8"),
)
FULLWIDTH = str.maketrans("0123456789abcdefxABCDEFX.", "０１２３４５６７８９ａｂｃｄｅｆｘＡＢＣＤＥＦＸ．")
DOTS = ["。", "．", "｡"]


def _label(value: int, style: str) -> str:
    if style == "oct":
        return "0" + format(value, "o")
    if style == "hex":
        return "0x" + format(value, "x")
    if style == "HEX":
        return "0X" + format(value, "X")
    return str(value)


@st.composite
def ipv4_spellings(draw: st.DrawFn) -> str:
    """A private IPv4 address written in one of the ways a URL parser, resolver or IDNA reads as that address."""
    address = int(draw(PRIVATE_V4))
    octets = [(address >> shift) & 0xFF for shift in (24, 16, 8, 0)]
    parts = draw(st.sampled_from([4, 3, 2, 1]))
    # a.b.c.d, a.b.(c.d as 16 bits), a.(b.c.d as 24 bits), one 32-bit number
    values = [*octets[: parts - 1], address & ((1 << (8 * (5 - parts))) - 1)]
    styles = draw(st.lists(st.sampled_from(["dec", "oct", "hex", "HEX"]), min_size=parts, max_size=parts))
    host = ".".join(_label(v, s) for v, s in zip(values, styles, strict=True))
    if draw(st.booleans()):
        host = host.translate(FULLWIDTH)
    if draw(st.booleans()):
        host = host.replace(".", draw(st.sampled_from(DOTS)))
    if draw(st.booleans()):
        host += "."
    return host


@st.composite
def ipv6_spellings(draw: st.DrawFn) -> str:
    """A private IPv4 address carried in IPv6 (mapped, 6to4, NAT64), or a private IPv6 address."""
    v4 = int(draw(PRIVATE_V4))
    form = draw(st.sampled_from(["mapped", "mapped-dotted", "6to4", "nat64", "v6"]))
    if form == "mapped-dotted":
        return f"[::ffff:{ipaddress.IPv4Address(v4)}]"
    if form == "v6":
        address = draw(
            st.one_of(
                st.ip_addresses(v=6, network="fc00::/7"),
                st.ip_addresses(v=6, network="fe80::/10"),
                st.just(ipaddress.IPv6Address("::1")),
            )
        )
    else:
        base = {"mapped": 0xFFFF << 32, "6to4": 0x2002 << 112 | v4 << 80, "nat64": 0x64FF9B << 96}[form]
        address = ipaddress.IPv6Address(base | (v4 if form != "6to4" else 0))
    text = address.exploded if draw(st.booleans()) else address.compressed
    return f"[{text.upper() if draw(st.booleans()) else text}]"


@given(
    host=st.one_of(ipv4_spellings(), ipv6_spellings()),
    port=st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
    scheme=st.sampled_from(["http", "https", "HTTP"]),
)
@settings(max_examples=600, deadline=None)
def test_fuzz_no_spelling_of_a_private_address_passes(host: str, port: str, scheme: str) -> None:
    url = f"{scheme}://{host}{port}/path"
    try:
        seen = NetworkGuard(allow_private=False).check_url(url)
    except ForbiddenTarget:
        return
    # What passed must be a name the resolver will be asked about, never an address in disguise.
    raise AssertionError(f"{url!r} passed the guard as {seen!r}")
