"""Remotes: where objects go on push and come from on pull (file, S3, OCI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockstep.store.remotes.base import Remote

if TYPE_CHECKING:
    from lockstep.config import RemoteConfig

__all__ = ["Remote", "open_remote"]


def open_remote(name: str, config: RemoteConfig) -> Remote:
    """The remote for ``config.url``; backends import their libraries only when used."""
    remote = _open(name, config)
    remote.config = config
    return remote


def _open(name: str, config: RemoteConfig) -> Remote:
    scheme = config.url.split("://", 1)[0]
    if scheme == "file":
        from lockstep.store.remotes.local import LocalRemote

        return LocalRemote(name, config)
    if scheme == "s3":
        from lockstep.store.remotes.s3 import S3Remote

        return S3Remote(name, config)
    from lockstep.store.remotes.oci import OCIRemote

    return OCIRemote(name, config)
