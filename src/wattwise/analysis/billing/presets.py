"""Published tariffs shipped with Wattwise, as TOML files beside this module."""

from __future__ import annotations

from importlib import resources

from wattwise.analysis.billing.tariff import Tariff, TariffError, parse_tariff


def preset_ids() -> list[str]:
    """The ids of the shipped presets, sorted."""
    folder = resources.files(__package__ or "wattwise.analysis.billing").joinpath("presets")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_preset(preset_id: str) -> Tariff:
    """A shipped preset by id (its file name without ``.toml``)."""
    ids = preset_ids()
    if preset_id not in ids:
        raise TariffError(preset_id, [f"no such preset; the presets are: {', '.join(ids)}"])
    folder = resources.files(__package__ or "wattwise.analysis.billing").joinpath("presets")
    text = folder.joinpath(f"{preset_id}.toml").read_text(encoding="utf-8")
    return parse_tariff(text, "toml", f"preset {preset_id}")


def load_presets() -> dict[str, Tariff]:
    return {pid: load_preset(pid) for pid in preset_ids()}
