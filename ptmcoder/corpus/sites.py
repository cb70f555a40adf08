"""Stack Exchange sites: which site a question comes from, its unit id and its URL.

A question of Stack Overflow is ``so:<id>`` (as it always was); a question of any other
site is ``<site>:<id>``, where ``<site>`` is the site's short name, as the Stack
Exchange API spells its ``site`` parameter (``beer`` for beer.stackexchange.com,
``superuser`` for superuser.com, ``ru.stackoverflow`` for ru.stackoverflow.com). Its
URL is ``https://<host>/questions/<id>`` and its ``project`` is the host.

The site is given (``--site``), or read from a record's ``link``/``Link``, or from the
dump's file or folder name (``beer.stackexchange.com/Posts.xml``,
``beer.stackexchange.com-Posts.xml``), in that order; failing all three a file is taken
as Stack Overflow, with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ptmcoder.errors import PtmcoderError

#: hosts of the network that are not ``*.stackexchange.com``, by the API's short name
_OWN_DOMAINS = {
    "stackoverflow": "stackoverflow.com",
    "superuser": "superuser.com",
    "serverfault": "serverfault.com",
    "askubuntu": "askubuntu.com",
    "mathoverflow": "mathoverflow.net",
    "stackapps": "stackapps.com",
}
_DOMAINS = "|".join(re.escape(d) for d in ("stackexchange.com", *_OWN_DOMAINS.values()))
_HOST = re.compile(rf"(?<![a-z0-9.-])((?:[a-z0-9-]+\.)*(?:{_DOMAINS}))(?![a-z0-9])", re.I)
_SHORT = re.compile(r"^[a-z0-9-]+(\.meta)?$|^[a-z]{2}\.stackoverflow$|^meta\.stackoverflow$")


@dataclass(frozen=True)
class Site:
    """A Stack Exchange site: its host (``beer.stackexchange.com``) and the prefix of its
    unit ids (``beer``; ``so`` for Stack Overflow)."""

    host: str
    prefix: str

    def unit_id(self, question_id: str) -> str:
        return f"{self.prefix}:{question_id}"

    def url(self, question_id: str) -> str:
        return f"https://{self.host}/questions/{question_id}"


STACK_OVERFLOW = Site("stackoverflow.com", "so")


def site_of_host(host: str) -> Site | None:
    """The site of a host name (``beer.stackexchange.com``), None for a host outside
    the Stack Exchange network."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    if not _HOST.fullmatch(host):
        return None
    if host == STACK_OVERFLOW.host:
        return STACK_OVERFLOW
    if host == "stackexchange.com":
        return None  # the network's home, not a site
    if host.endswith(".stackexchange.com"):
        return Site(host, host.removesuffix(".stackexchange.com"))
    return Site(host, host.rsplit(".", 1)[0])


def site_of_link(link: object) -> Site | None:
    """The site of a question link (``https://beer.stackexchange.com/questions/5/...``)."""
    if not isinstance(link, str) or "://" not in link:
        return None
    try:
        host = urlsplit(link.strip()).hostname
    except ValueError:
        return None
    return site_of_host(host) if host else None


def site_of_path(path: Path) -> Site | None:
    """The site named by a dump's file name or one of its three nearest folders
    (``beer.stackexchange.com/Posts.xml``, ``stackoverflow.com-Posts/Posts.xml``)."""
    parts = [path.name, *(p.name for p in list(path.resolve().parents)[:3])]
    for part in parts:
        m = _HOST.search(part)
        if m:
            site = site_of_host(m.group(1))
            if site is not None:
                return site
    return None


def parse_site(value: str) -> Site:
    """``--site``: a host (``beer.stackexchange.com``), a URL on it, or the API's short
    name (``beer``, ``superuser``, ``stackoverflow`` or ``so``)."""
    text = value.strip().lower()
    site = site_of_link(text) if "://" in text else None
    if site is None and text in ("so", "stackoverflow"):
        site = STACK_OVERFLOW
    if site is None and "://" not in text:
        site = site_of_host(text)
        if site is None and _SHORT.match(text):
            host = _OWN_DOMAINS.get(text)
            if host is None and text.endswith(".stackoverflow"):
                host = f"{text}.com"
            site = site_of_host(host or f"{text}.stackexchange.com")
    if site is None:
        raise PtmcoderError(
            f"--site {value!r}: not a Stack Exchange site",
            hint="give its host or short name: --site beer.stackexchange.com, --site beer, "
            "--site superuser, --site stackoverflow",
        )
    return site


def assumed_warning(path: Path) -> str:
    """The warning for a file whose site nothing tells."""
    return (
        f"{path}: the Stack Exchange site is not given (--site), not in the file or folder "
        f"name and not in a link field: its questions are taken as Stack Overflow's "
        f"(ids so:N, https://stackoverflow.com/questions/N); pass --site for another site"
    )
