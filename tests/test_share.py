"""ui.share: the share link uses an address participants can reach, and its QR code."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ui import share


@pytest.fixture
def no_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MNIST_PUBLIC_URL", raising=False)


def test_localhost_becomes_the_lan_address(no_public_url, monkeypatch):
    monkeypatch.setattr(share, "lan_addresses", lambda: ["192.0.2.7"])
    base, problem = share.participant_base("http://localhost:8501/")
    assert base == "http://192.0.2.7:8501/" and problem is None


def test_an_address_others_can_reach_is_kept(no_public_url, monkeypatch):
    monkeypatch.setattr(share, "lan_addresses", lambda: ["192.0.2.7"])
    assert share.participant_base("http://studio.example:8501/") == (
        "http://studio.example:8501/", None)


def test_no_network_says_how_to_fix(no_public_url, monkeypatch):
    monkeypatch.setattr(share, "lan_addresses", list)
    base, problem = share.participant_base("http://127.0.0.1:8501/")
    assert base == "http://127.0.0.1:8501/"
    assert "only on this computer" in problem and "MNIST_PUBLIC_URL" in problem


@pytest.mark.parametrize(("value", "expected"), [
    ("https://mnist.example/room", ("https://mnist.example/room", None)),
])
def test_the_presenters_address_wins(monkeypatch, value, expected):
    monkeypatch.setenv("MNIST_PUBLIC_URL", value)
    assert share.participant_base("http://localhost:8501/") == expected


def test_a_bad_presenters_address_is_named(monkeypatch):
    monkeypatch.setenv("MNIST_PUBLIC_URL", "javascript:alert(1)")
    base, problem = share.participant_base("http://localhost:8501/")
    assert base == "http://localhost:8501/"
    assert "MNIST_PUBLIC_URL must be an http:// or https:// address" in problem


def test_lan_addresses_leave_out_loopback():
    assert all(not address.startswith("127.") for address in share.lan_addresses())


def test_qr_code_is_a_big_black_and_white_png():
    image = Image.open(io.BytesIO(share.qr_png("http://192.0.2.7:8501/?epochs=3")))
    assert image.format == "PNG" and image.width == image.height >= 300
    assert set(image.convert("L").getdata()) <= {0, 255}
