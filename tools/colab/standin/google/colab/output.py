"""Stand-in for ``google.colab.output``: the switch for third-party widgets' front ends."""
from __future__ import annotations

__all__ = ["enable_custom_widget_manager", "disable_custom_widget_manager"]

SUPPORTED_VERSIONS = ("5.0.0a",)  # Colab's only supported custom widget manager version
custom_widget_manager: str | None = None  # the version enabled, None when off (Colab's default)


def enable_custom_widget_manager(version: str = "5.0.0a") -> None:
    """Colab: let widgets other than the stock ones load their front end (from a CDN)."""
    global custom_widget_manager
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"Unknown widgets version: {version}")
    custom_widget_manager = version


def disable_custom_widget_manager() -> None:
    """Colab: back to the stock widgets only."""
    global custom_widget_manager
    custom_widget_manager = None
