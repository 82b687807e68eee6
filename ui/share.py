"""The address participants can open (not the presenter's localhost), as text and QR code."""

from __future__ import annotations

import io
import socket
from urllib.parse import urlsplit, urlunsplit

import streamlit as st

from mnist_core.errors import MnistStudioError
from mnist_core.settings import PUBLIC_URL_ENV_VAR, public_url

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0")
SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address


# Asked on every run of a page with the workshop panel: a socket per interface cost ~2 ms.
@st.cache_data(ttl=60, show_spinner=False)
def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses on its networks, loopback left out (sends nothing)."""
    found: list[str] = []
    try:
        import fcntl
        import struct

        for _, name in socket.if_nameindex():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    packed = fcntl.ioctl(probe.fileno(), SIOCGIFADDR,
                                         struct.pack("256s", name[:15].encode()))
                except OSError:
                    continue  # no IPv4 address on this interface
                found.append(socket.inet_ntoa(packed[20:24]))
    except (ImportError, OSError):
        pass  # not Linux: fall back on the host name
    if not found:
        try:
            found = [info[4][0] for info in
                     socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
        except OSError:
            found = []
    return [address for address in dict.fromkeys(found) if not address.startswith("127.")]


def participant_base(browser_url: str) -> tuple[str, str | None]:
    """The base address for links participants open, and a warning if there is none better
    than one that works only on this computer."""
    try:
        configured = public_url()
    except MnistStudioError as e:
        return browser_url, str(e)
    if configured:
        return configured, None
    parts = urlsplit(browser_url)
    if (parts.hostname or "localhost") not in LOOPBACK_HOSTS:
        return browser_url, None  # the presenter already uses an address others can reach
    bound = str(st.get_option("server.address") or "")
    addresses = lan_addresses()
    if not addresses or bound in LOOPBACK_HOSTS:
        return browser_url, (
            "This address works only on this computer. Start the app with "
            "`--server.address 0.0.0.0` on a network the room shares, or set "
            f"`{PUBLIC_URL_ENV_VAR}` to the address participants open.")
    netloc = addresses[0] + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme or "http", netloc, parts.path, "", "")), None


def qr_png(link: str, scale: int = 12) -> bytes:
    """The link as a QR code PNG, black on white with a quiet zone, big pixels."""
    import segno  # deferred: only the presenter's dialog needs it

    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


@st.dialog("Join from your phone or laptop", width="large")
def qr_dialog(link: str) -> None:
    """The share link, big, as a QR code for a room to scan from their seats."""
    with st.container(key="share_qr"):
        picture, words = st.columns([1, 1], vertical_alignment="center")
        picture.image(qr_png(link), width=300)  # 60% of a projector's height at 150% zoom
        with words:
            st.markdown("Point your camera at the code, or type the address:")
            st.code(link, language=None, wrap_lines=True)
