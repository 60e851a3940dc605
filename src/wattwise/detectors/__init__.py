"""Live detectors: per-meter NILM, anomaly, grid events, theft and energy balance on the bus.

``attach(services)`` starts them and returns a callable that detaches them; see
``wattwise.detectors.service`` for how work is split between the event loop, a worker
thread and a model-fitting thread, and ``docs/detectors.md`` for the whole picture.
"""

from wattwise.detectors.config import DetectorSettings
from wattwise.detectors.service import Detectors, attach

__all__ = ["DetectorSettings", "Detectors", "attach"]
