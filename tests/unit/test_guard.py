import asyncio

import pytest

from leadworker.scrape.guard import ForbiddenTarget, GuardedResolver, NetworkGuard


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/", "http://[::1]/",
     "http://192.168.0.1:8080/", "http://0.0.0.0/", "http://224.0.0.1/", "http://[::ffff:127.0.0.1]/",
     "file:///etc/passwd", "gopher://x/"],
)
def test_forbidden_urls(url: str) -> None:
    with pytest.raises(ForbiddenTarget):
        NetworkGuard(allow_private=False).check_url(url)


def test_public_and_allowed() -> None:
    NetworkGuard(allow_private=False).check_url("http://93.184.216.34/")
    NetworkGuard(allow_private=True).check_url("http://127.0.0.1:8080/")


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
    assert guard.chromium_host_rules() == "MAP acme.test 127.0.0.1, MAP pub.test 93.184.216.34"
